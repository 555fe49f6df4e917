//! port_create, port_queue, port_wait.

use spinel_abi::policy::POL_NEW_PORT;
use spinel_abi::port::PKT_TYPE_USER;
use spinel_abi::{HandleValue, Koid, ObjectType, PortPacket, Rights, Signals, Status, Time};

use super::Blocking;
use crate::Kernel;
use crate::object::Body;
use crate::port::Port;
use crate::thread::Block;

impl Kernel {
    /// `port_create` (checks the NEW_PORT policy).
    pub fn sys_port_create(&mut self, caller: Koid, options: u32) -> Result<HandleValue, Status> {
        if options != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let verdict = self.policy_check(caller, POL_NEW_PORT)?;
        let process = self.caller_process(caller)?;
        let koid = self.insert(Body::Port(Port::default()), Signals::NONE);
        let handle = self.new_handle(koid, Rights::DEFAULT_PORT);
        let result = Ok(self.install(process, handle));
        self.policy_finish(caller, verdict, &result);
        result
    }

    /// `port_queue`: a user packet; SHOULD_WAIT when the port is full.
    pub fn sys_port_queue(
        &mut self,
        caller: Koid,
        value: HandleValue,
        packet: &PortPacket,
    ) -> Result<(), Status> {
        let (port, _) = self.object_of(caller, value, Rights::WRITE, ObjectType::PORT)?;
        let mut packet = *packet;
        packet.packet_type = PKT_TYPE_USER;
        packet.status = Status::OK.0;
        self.port_enqueue(port, packet, true)
    }

    /// `port_wait`: the oldest packet, or block until one comes or the
    /// deadline passes (TIMED_OUT).
    pub fn sys_port_wait(
        &mut self,
        caller: Koid,
        value: HandleValue,
        deadline: Time,
    ) -> Result<Blocking<PortPacket>, Status> {
        let (port, _) = self.object_of(caller, value, Rights::READ, ObjectType::PORT)?;
        if let Some(packet) = self.port_mut(port).packets.pop_front() {
            return Ok(Blocking::Done(packet));
        }
        if deadline <= self.now {
            return Err(Status::TIMED_OUT);
        }
        if !self.caller_can_block(caller) {
            return Err(Status::BAD_STATE);
        }
        self.port_mut(port).waiters.push_back(caller);
        self.block_caller(caller, Block::Port { port }, deadline);
        Ok(Blocking::Blocked)
    }
}
