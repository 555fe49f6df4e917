//! Copies between the kernel and a calling process's memory. Every helper
//! goes through the process's `VmSpace`, which checks the whole range.

use crate::KernelState;
use alloc::vec;
use alloc::vec::Vec;
use spinel_abi::{HandleValue, Koid, Status};
use spinel_hal_api::AddressSpace;
use spinel_vm::Access;

impl<A: AddressSpace> KernelState<A> {
    /// `len` bytes from user address `ptr` (nothing for `len == 0`).
    pub(crate) fn copy_in(&self, process: Koid, ptr: u64, len: usize) -> Result<Vec<u8>, Status> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let space = self.spaces.get(&process).ok_or(Status::INVALID_ARGS)?;
        let mut buffer = Vec::new();
        buffer
            .try_reserve_exact(len)
            .map_err(|_| Status::NO_MEMORY)?;
        buffer.resize(len, 0);
        space.read(ptr, &mut buffer)?;
        Ok(buffer)
    }

    /// `len` bytes from user address `ptr`, given to `use_them` from a
    /// buffer on the stack when they are few (a register set, a property):
    /// [`KernelState::copy_in`] without the allocation.
    pub(crate) fn with_copy_in<R>(
        &mut self,
        process: Koid,
        ptr: u64,
        len: usize,
        use_them: impl FnOnce(&mut Self, &[u8]) -> Result<R, Status>,
    ) -> Result<R, Status> {
        const TINY: usize = 32;
        const SMALL: usize = 288;
        if len == 0 {
            return use_them(self, &[]);
        }
        let space = self.spaces.get(&process).ok_or(Status::INVALID_ARGS)?;
        if len <= TINY {
            let mut buffer = [0u8; TINY];
            space.read(ptr, &mut buffer[..len])?;
            use_them(self, &buffer[..len])
        } else if len <= SMALL {
            let mut buffer = [0u8; SMALL];
            space.read(ptr, &mut buffer[..len])?;
            use_them(self, &buffer[..len])
        } else {
            let data = self.copy_in(process, ptr, len)?;
            use_them(self, &data)
        }
    }

    /// A fixed-size record from user memory.
    pub(crate) fn copy_in_array<const N: usize>(
        &self,
        process: Koid,
        ptr: u64,
    ) -> Result<[u8; N], Status> {
        let space = self.spaces.get(&process).ok_or(Status::INVALID_ARGS)?;
        let mut record = [0u8; N];
        space.read(ptr, &mut record)?;
        Ok(record)
    }

    /// `count` handle values (u32 each) from user memory.
    pub(crate) fn copy_in_handles(
        &self,
        process: Koid,
        ptr: u64,
        count: usize,
    ) -> Result<Vec<HandleValue>, Status> {
        let bytes = self.copy_in(process, ptr, count * 4)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| HandleValue(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect())
    }

    /// Write `bytes` to user address `ptr`, which must be writable.
    pub(crate) fn copy_out(&self, process: Koid, ptr: u64, bytes: &[u8]) -> Result<(), Status> {
        if bytes.is_empty() {
            return Ok(());
        }
        let space = self.spaces.get(&process).ok_or(Status::INVALID_ARGS)?;
        space.write(ptr, bytes, Access::Write)
    }

    /// Check, before acting, that `len` bytes at `ptr` can be written.
    pub(crate) fn check_out(&self, process: Koid, ptr: u64, len: usize) -> Result<(), Status> {
        if len == 0 {
            return Ok(());
        }
        let space = self.spaces.get(&process).ok_or(Status::INVALID_ARGS)?;
        space.check(ptr, len, Access::Write)
    }

    /// A zeroed kernel buffer of `len` bytes, refusing more than `cap`,
    /// given to `fill`: on the stack when it is small (a register set, a
    /// record), on the heap otherwise.
    pub(crate) fn with_buffer<R>(
        len: usize,
        cap: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<R, Status>,
    ) -> Result<R, Status> {
        const SMALL: usize = 288;
        if len <= SMALL {
            let mut buffer = [0u8; SMALL];
            fill(&mut buffer[..len])
        } else {
            fill(&mut Self::buffer(len, cap)?)
        }
    }

    /// A zeroed kernel buffer of `len` bytes, refusing more than `cap`.
    pub(crate) fn buffer(len: usize, cap: usize) -> Result<Vec<u8>, Status> {
        if len > cap {
            return Err(Status::OUT_OF_RANGE);
        }
        Ok(vec![0u8; len])
    }
}

/// The process memory the object layer's `process_read_memory` /
/// `process_write_memory` reach: any process's space, debugger-style (writes
/// go through read-only mappings so breakpoints can be planted).
pub(crate) struct Memories<'a, A: AddressSpace>(
    pub &'a spinel_object::IntMap<spinel_vm::VmSpace<A>>,
);

impl<A: AddressSpace> spinel_object::ProcessMemory for Memories<'_, A> {
    fn read(&mut self, process: Koid, address: u64, buffer: &mut [u8]) -> Result<usize, Status> {
        // A process that never mapped anything has no space yet: nothing
        // is mapped, as for any unmapped address.
        let space = self.0.get(&process).ok_or(Status::NO_MEMORY)?;
        // Read as much as is mapped from `address` on, like Zircon: a short
        // read reports the bytes copied; nothing mapped is NO_MEMORY.
        let mut done = 0;
        while done < buffer.len() {
            let at = address
                .checked_add(done as u64)
                .ok_or(Status::INVALID_ARGS)?;
            let Some(mapping) = space.find(at) else { break };
            let chunk = ((mapping.start + mapping.len - at) as usize).min(buffer.len() - done);
            space.read(at, &mut buffer[done..done + chunk])?;
            done += chunk;
        }
        if done == 0 {
            Err(Status::NO_MEMORY)
        } else {
            Ok(done)
        }
    }

    fn write(&mut self, process: Koid, address: u64, data: &[u8]) -> Result<usize, Status> {
        // A process that never mapped anything has no space yet: nothing
        // is mapped, as for any unmapped address.
        let space = self.0.get(&process).ok_or(Status::NO_MEMORY)?;
        let mut done = 0;
        while done < data.len() {
            let at = address
                .checked_add(done as u64)
                .ok_or(Status::INVALID_ARGS)?;
            let Some(mapping) = space.find(at) else { break };
            let chunk = ((mapping.start + mapping.len - at) as usize).min(data.len() - done);
            space.write(at, &data[done..done + chunk], Access::ForceWrite)?;
            done += chunk;
        }
        if done == 0 {
            Err(Status::NO_MEMORY)
        } else {
            Ok(done)
        }
    }
}
