//! Memory: `vmo_create`, `vmo_read`, `vmo_write`, `vmar_map`, `vmar_unmap`,
//! `vmar_protect`; and the [`Resource`] handle (the debugger link).
//!
//! Mapping never replaces memory (a `VM_SPECIFIC` request over an existing
//! mapping is ALREADY_EXISTS), but unmapping or protecting memory the
//! program is using makes its later accesses fault: these calls are safe in
//! the sense that the kernel checks them, not in the sense that the program
//! survives every use of them.

use crate::handle::handle_type;
use crate::sys::{call, ptr, ptr_mut, status};
use crate::{HandleBased, HandleValue, Status, Syscall, reg};

handle_type!(
    /// A virtual memory object: pages that can be read, written and mapped.
    Vmo,
    VMO
);
handle_type!(
    /// A process's root address region.
    Vmar,
    VMAR
);
handle_type!(
    /// A kernel resource (Spinel's debug link).
    Resource,
    RESOURCE
);

/// `vmo_create(size, options, out)`.
pub fn vmo_create(size: u64, options: u32) -> Result<Vmo, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::VmoCreate,
        &[size, u64::from(options), out_ptr as u64],
    ))?;
    Ok(Vmo::from_raw(HandleValue(out)))
}

/// `vmo_read(vmo, buffer, offset, buffer_size)`.
pub fn vmo_read(vmo: HandleValue, buffer: &mut [u8], offset: u64) -> Result<(), Status> {
    let size = buffer.len() as u64;
    status(call(
        Syscall::VmoRead,
        &[reg(vmo), ptr_mut(buffer), offset, size],
    ))
}

/// `vmo_write(vmo, buffer, offset, buffer_size)`.
pub fn vmo_write(vmo: HandleValue, data: &[u8], offset: u64) -> Result<(), Status> {
    status(call(
        Syscall::VmoWrite,
        &[reg(vmo), ptr(data), offset, data.len() as u64],
    ))
}

/// `vmar_map(vmar, options, vmar_offset, vmo, vmo_offset, len, mapped_addr)`:
/// the address of the new mapping.
pub fn vmar_map(
    vmar: HandleValue,
    options: u32,
    vmar_offset: u64,
    vmo: HandleValue,
    vmo_offset: u64,
    len: u64,
) -> Result<u64, Status> {
    let mut mapped = 0u64;
    let mapped_ptr = &raw mut mapped;
    status(call(
        Syscall::VmarMap,
        &[
            reg(vmar),
            u64::from(options),
            vmar_offset,
            reg(vmo),
            vmo_offset,
            len,
            mapped_ptr as u64,
        ],
    ))?;
    Ok(mapped)
}

/// `vmar_unmap(vmar, addr, len)`.
pub fn vmar_unmap(vmar: HandleValue, address: u64, len: u64) -> Result<(), Status> {
    status(call(Syscall::VmarUnmap, &[reg(vmar), address, len]))
}

/// `vmar_protect(vmar, options, addr, len)`.
pub fn vmar_protect(vmar: HandleValue, options: u32, address: u64, len: u64) -> Result<(), Status> {
    status(call(
        Syscall::VmarProtect,
        &[reg(vmar), u64::from(options), address, len],
    ))
}

impl Vmo {
    pub fn create(size: u64) -> Result<Vmo, Status> {
        vmo_create(size, 0)
    }
    pub fn read(&self, buffer: &mut [u8], offset: u64) -> Result<(), Status> {
        vmo_read(self.raw(), buffer, offset)
    }
    pub fn write(&self, data: &[u8], offset: u64) -> Result<(), Status> {
        vmo_write(self.raw(), data, offset)
    }
}

impl Vmar {
    pub fn map(
        &self,
        options: u32,
        vmar_offset: u64,
        vmo: &Vmo,
        vmo_offset: u64,
        len: u64,
    ) -> Result<u64, Status> {
        vmar_map(self.raw(), options, vmar_offset, vmo.raw(), vmo_offset, len)
    }
    pub fn unmap(&self, address: u64, len: u64) -> Result<(), Status> {
        vmar_unmap(self.raw(), address, len)
    }
    pub fn protect(&self, options: u32, address: u64, len: u64) -> Result<(), Status> {
        vmar_protect(self.raw(), options, address, len)
    }
}

impl Resource {
    /// Bytes waiting on the debugger link (0 when none).
    pub fn link_read(&self, buffer: &mut [u8]) -> Result<usize, Status> {
        crate::debug::debug_link_read(self.raw(), buffer)
    }
    pub fn link_write(&self, data: &[u8]) -> Result<(), Status> {
        crate::debug::debug_link_write(self.raw(), data)
    }
}
