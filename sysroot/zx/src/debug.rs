//! `debug_write`, `debug_link_read`, `debug_link_write`.

use crate::sys::{call, ptr, ptr_mut, status};
use crate::{HandleValue, Status, Syscall, reg};

/// `debug_write(buffer, buffer_size)`: bytes to the kernel console.
pub fn debug_write(bytes: &[u8]) -> Result<(), Status> {
    status(call(Syscall::DebugWrite, &[ptr(bytes), bytes.len() as u64]))
}

/// `debug_link_read(link, buffer, buffer_size)`: the bytes waiting on the
/// debugger link (0 when none), or a status.
pub fn debug_link_read(link: HandleValue, buffer: &mut [u8]) -> Result<usize, Status> {
    let size = buffer.len() as u64;
    let value = call(Syscall::DebugLinkRead, &[reg(link), ptr_mut(buffer), size]);
    if value < 0 {
        Err(Status(value as i32))
    } else {
        Ok(value as usize)
    }
}

/// `debug_link_write(link, buffer, buffer_size)`.
pub fn debug_link_write(link: HandleValue, bytes: &[u8]) -> Result<(), Status> {
    status(call(
        Syscall::DebugLinkWrite,
        &[reg(link), ptr(bytes), bytes.len() as u64],
    ))
}
