//! `port_create`, `port_queue`, `port_wait`.

use crate::handle::handle_type;
use crate::sys::{call, status};
use crate::{HandleBased, HandleValue, PortPacket, Status, Syscall, reg};

handle_type!(
    /// A port: a queue of packets (user packets, signal packets, and the
    /// port era's exception packets).
    Port,
    PORT
);

/// `port_create(options, out)`.
pub fn port_create(options: u32) -> Result<Port, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::PortCreate,
        &[u64::from(options), out_ptr as u64],
    ))?;
    Ok(Port::from_raw(HandleValue(out)))
}

/// `port_queue(handle, packet)`: a user packet (the kernel sets its type
/// and status).
pub fn port_queue(port: HandleValue, packet: &PortPacket) -> Result<(), Status> {
    let bytes = packet.to_bytes();
    status(call(
        Syscall::PortQueue,
        &[reg(port), bytes.as_ptr() as u64],
    ))
}

/// `port_wait(handle, deadline, packet)`: the oldest packet, waiting until
/// `deadline` (TIMED_OUT).
pub fn port_wait(port: HandleValue, deadline: i64) -> Result<PortPacket, Status> {
    let mut bytes = [0u8; PortPacket::SIZE];
    status(call(
        Syscall::PortWait,
        &[reg(port), deadline as u64, bytes.as_mut_ptr() as u64],
    ))?;
    Ok(PortPacket::from_bytes(&bytes))
}

impl Port {
    pub fn create() -> Result<Port, Status> {
        port_create(0)
    }
    pub fn queue(&self, packet: &PortPacket) -> Result<(), Status> {
        port_queue(self.raw(), packet)
    }
    pub fn wait(&self, deadline: i64) -> Result<PortPacket, Status> {
        port_wait(self.raw(), deadline)
    }
}
