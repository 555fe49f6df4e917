//! User page faults: the VM's first, before anything is an exception.
//!
//! Rules kept here: a fault is resolved only in the faulting thread's own
//! process's `VmSpace` (committing the VMO page and mapping it if the
//! mapping allows the access); a thread the object layer does not know is
//! BAD_STATE and a process with no address space is NOT_FOUND. Any error is
//! the status the exception report carries (`synth_code`) when the glue
//! turns the fault into a FATAL_PAGE_FAULT exception: nothing here blocks,
//! kills or delivers.

use crate::KernelState;
use spinel_abi::{Koid, Status};
use spinel_hal_api::AddressSpace;
use spinel_vm::Access;

impl<A: AddressSpace> KernelState<A> {
    /// A user-mode page fault of `thread` at `address`: map the page if the
    /// thread's process may make that access.
    pub fn page_fault(&mut self, thread: Koid, address: u64, access: Access) -> Result<(), Status> {
        let process = self
            .objects
            .thread_process(thread)
            .ok_or(Status::BAD_STATE)?;
        self.spaces
            .get_mut(&process)
            .ok_or(Status::NOT_FOUND)?
            .fault(address, access)
    }
}
