//! debug_link_read, debug_link_write: the debugger's serial line, reached
//! through a resource handle (init gets it at boot). The bytes themselves
//! move in the kernel state, which owns the devices.
//!
//! Rule kept here: the handle must name the debug-link resource, with READ
//! to read and WRITE to write (BAD_HANDLE, ACCESS_DENIED, WRONG_TYPE).
//! `debug_write` (the console) needs no handle and has no rule.

use spinel_abi::{HandleValue, Koid, Rights, Status};

use crate::Kernel;
use crate::memory::ResourceKind;

impl Kernel {
    /// `debug_link_read`: the link's koid (its READABLE signal is cleared
    /// when a read drains the line).
    #[inline]
    pub fn sys_debug_link_read(&self, caller: Koid, link: HandleValue) -> Result<Koid, Status> {
        self.resource_of(caller, link, ResourceKind::DebugLink, Rights::READ)
    }

    /// `debug_link_write`.
    #[inline]
    pub fn sys_debug_link_write(&self, caller: Koid, link: HandleValue) -> Result<(), Status> {
        self.resource_of(caller, link, ResourceKind::DebugLink, Rights::WRITE)
            .map(|_| ())
    }
}
