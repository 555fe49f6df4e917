//! vmo_create, vmo_read, vmo_write, vmar_map, vmar_unmap, vmar_protect: the
//! object layer decides (options, handles, rights: `kernel/object`'s
//! `syscall/vm.rs`); here the decision is carried out in the target
//! process's `VmSpace` (created on its first mapping).
//!
//! Copies between user memory and a VMO go a page at a time through one
//! buffer on the stack, so no call allocates for them however long it is;
//! a copy that fails part way leaves the pages before it copied, as
//! Zircon's does.

use super::{Caller, OK, args};
use crate::{KernelState, Outcome};
use spinel_abi::Status;
use spinel_hal_api::AddressSpace;

/// The chunk a VMO copy moves at a time.
const CHUNK: usize = 4096;

/// Walk `len` bytes from VMO `offset` in chunks of at most [`CHUNK`]:
/// `step(bytes done, VMO offset, chunk)`. An offset past the top of the
/// VMO's range is OUT_OF_RANGE.
#[inline]
fn in_chunks(
    offset: u64,
    len: usize,
    mut step: impl FnMut(usize, u64, &mut [u8]) -> Result<(), Status>,
) -> Result<(), Status> {
    let mut buffer = [0u8; CHUNK];
    let mut done = 0usize;
    while done < len {
        let n = (len - done).min(CHUNK);
        let at = offset
            .checked_add(done as u64)
            .ok_or(Status::OUT_OF_RANGE)?;
        step(done, at, &mut buffer[..n])?;
        done += n;
    }
    Ok(())
}

impl<A: AddressSpace> KernelState<A> {
    pub(super) fn vmo_create(
        &mut self,
        caller: Caller,
        args: args::VmoCreate,
    ) -> Result<Outcome, Status> {
        let memory = self.memory;
        self.new_handle(caller, args.out, |s| {
            s.objects
                .sys_vmo_create(caller.thread, args.size, args.options, memory)
        })
    }

    pub(super) fn vmo_read(
        &mut self,
        caller: Caller,
        args: args::VmoRead,
    ) -> Result<Outcome, Status> {
        let vmo = self.objects.sys_vmo_read(caller.thread, args.vmo)?;
        let user = self.user(caller);
        let out = args.buffer.slice(args.buffer_size);
        in_chunks(args.offset, args.buffer_size, |done, offset, chunk| {
            let part = out.part(done, chunk.len())?;
            vmo.read(offset, chunk)?;
            part.write(user, chunk)
        })?;
        OK
    }

    pub(super) fn vmo_write(
        &mut self,
        caller: Caller,
        args: args::VmoWrite,
    ) -> Result<Outcome, Status> {
        let vmo = self.objects.sys_vmo_write(caller.thread, args.vmo)?;
        let user = self.user(caller);
        let from = args.buffer.slice(args.buffer_size);
        in_chunks(args.offset, args.buffer_size, |done, offset, chunk| {
            from.part(done, chunk.len())?.read_into(user, chunk)?;
            vmo.write(offset, chunk)
        })?;
        OK
    }

    /// The address chosen is written to `mapped_addr`, checked writable
    /// before anything is mapped.
    pub(super) fn vmar_map(
        &mut self,
        caller: Caller,
        args: args::VmarMap,
    ) -> Result<Outcome, Status> {
        let map = self.objects.sys_vmar_map(
            caller.thread,
            args.vmar,
            args.options,
            args.vmar_offset,
            args.vmo,
        )?;
        args.mapped_addr.check(self.user(caller))?;
        let address = self.space_for(map.process)?.map_with_max(
            map.at,
            map.vmo,
            args.vmo_offset,
            args.len,
            map.flags,
            map.max,
        )?;
        args.mapped_addr.write(self.user(caller), address)?;
        OK
    }

    pub(super) fn vmar_unmap(
        &mut self,
        caller: Caller,
        args: args::VmarUnmap,
    ) -> Result<Outcome, Status> {
        let process = self.objects.sys_vmar_unmap(caller.thread, args.vmar)?;
        self.space_for(process)?.unmap(args.addr, args.len)?;
        OK
    }

    pub(super) fn vmar_protect(
        &mut self,
        caller: Caller,
        args: args::VmarProtect,
    ) -> Result<Outcome, Status> {
        let protect = self
            .objects
            .sys_vmar_protect(caller.thread, args.vmar, args.options)?;
        self.space_for(protect.process)?
            .protect(args.addr, args.len, protect.flags)?;
        OK
    }
}
