//! debug_write, debug_link_read, debug_link_write: bytes between user
//! memory and the devices, at most [`MAX_DEBUG_BYTES`] a call (a longer
//! request moves that many; the callers loop).

use super::{Caller, OK, args, buffer};
use crate::{KernelState, Outcome};
use spinel_abi::Status;
use spinel_hal_api::AddressSpace;

/// Largest chunk `debug_write` / the debug link move in one call.
const MAX_DEBUG_BYTES: usize = 4096;

impl<A: AddressSpace> KernelState<A> {
    pub(super) fn debug_write(
        &mut self,
        caller: Caller,
        args: args::DebugWrite,
    ) -> Result<Outcome, Status> {
        let len = args.buffer_size.min(MAX_DEBUG_BYTES);
        let data = args.buffer.slice(len).read_to_vec(self.user(caller))?;
        self.devices.console_write(&data);
        OK
    }

    /// Returns the count of bytes read (none waiting is 0, not a status).
    pub(super) fn debug_link_read(
        &mut self,
        caller: Caller,
        args: args::DebugLinkRead,
    ) -> Result<Outcome, Status> {
        let link = self.objects.sys_debug_link_read(caller.thread, args.link)?;
        let out = args.buffer.slice(args.buffer_size.min(MAX_DEBUG_BYTES));
        let mut buffer = buffer(out.len(), MAX_DEBUG_BYTES)?;
        out.check(self.user(caller))?;
        let count = self.devices.debug_link_read(&mut buffer);
        if count < buffer.len() {
            // Drained: READABLE again at the line's next interrupt.
            self.objects.set_resource_readable(link, false);
        }
        out.write(self.user(caller), &buffer[..count])?;
        Ok(Outcome::Return(count as u64))
    }

    pub(super) fn debug_link_write(
        &mut self,
        caller: Caller,
        args: args::DebugLinkWrite,
    ) -> Result<Outcome, Status> {
        self.objects
            .sys_debug_link_write(caller.thread, args.link)?;
        let len = args.buffer_size.min(MAX_DEBUG_BYTES);
        let data = args.buffer.slice(len).read_to_vec(self.user(caller))?;
        self.devices.debug_link_write(&data);
        OK
    }
}
