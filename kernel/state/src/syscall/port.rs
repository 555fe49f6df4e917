//! port_create, port_queue, port_wait: a packet in (48 bytes), a packet out
//! (checked writable before waiting, written now or when the wait ends).

use super::{Caller, OK, args, deadline};
use crate::{KernelState, Outcome};
use spinel_abi::Status;
use spinel_hal_api::AddressSpace;
use spinel_object::Blocking;

impl<A: AddressSpace> KernelState<A> {
    pub(super) fn port_create(
        &mut self,
        caller: Caller,
        args: args::PortCreate,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.out, |s| {
            s.objects.sys_port_create(caller.thread, args.options)
        })
    }

    #[inline]
    pub(super) fn port_queue(
        &mut self,
        caller: Caller,
        args: args::PortQueue,
    ) -> Result<Outcome, Status> {
        let packet = args.packet.read(self.user(caller))?;
        self.objects
            .sys_port_queue(caller.thread, args.handle, &packet)?;
        OK
    }

    #[inline]
    pub(super) fn port_wait(
        &mut self,
        caller: Caller,
        args: args::PortWait,
    ) -> Result<Outcome, Status> {
        args.packet.check(self.user(caller))?;
        self.advance_time();
        match self
            .objects
            .sys_port_wait(caller.thread, args.handle, deadline(args.deadline))?
        {
            Blocking::Done(packet) => {
                args.packet.write(self.user(caller), packet)?;
                OK
            }
            Blocking::Blocked => Ok(Outcome::Blocked),
        }
    }
}
