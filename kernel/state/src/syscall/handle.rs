//! handle_close, handle_duplicate, handle_replace: no user memory but the
//! new handle's value, written to an output checked before the rule runs.

use super::{Caller, OK, args};
use crate::{KernelState, Outcome};
use spinel_abi::{Rights, Status};
use spinel_hal_api::AddressSpace;

impl<A: AddressSpace> KernelState<A> {
    #[inline]
    pub(super) fn handle_close(
        &mut self,
        caller: Caller,
        args: args::HandleClose,
    ) -> Result<Outcome, Status> {
        self.objects.sys_handle_close(caller.thread, args.handle)?;
        OK
    }

    pub(super) fn handle_duplicate(
        &mut self,
        caller: Caller,
        args: args::HandleDuplicate,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.out, |s| {
            s.objects
                .sys_handle_duplicate(caller.thread, args.handle, Rights(args.rights))
        })
    }

    pub(super) fn handle_replace(
        &mut self,
        caller: Caller,
        args: args::HandleReplace,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.out, |s| {
            s.objects
                .sys_handle_replace(caller.thread, args.handle, Rights(args.rights))
        })
    }
}
