//! Port packets (`zx_port_packet_t`, 48 bytes).

use crate::bytes::{Reader, Writer};
use crate::object::{Koid, Signals};
use crate::status::Status;

/// Packet types (`ZX_PKT_TYPE_*`); exception packets use the exception type.
pub const PKT_TYPE_USER: u32 = 0;
pub const PKT_TYPE_SIGNAL_ONE: u32 = 1;

/// `port_create` options.
pub const PORT_BIND_TO_INTERRUPT: u32 = 1;

/// One packet: key, type, status and a 32-byte payload whose layout depends
/// on the type.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct PortPacket {
    pub key: u64,
    pub packet_type: u32,
    pub status: i32,
    pub payload: [u64; 4],
}

/// Payload of a Zircon-era exception packet (`zx_packet_exception_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct PacketException {
    pub pid: Koid,
    pub tid: Koid,
    pub reserved0: u64,
    pub reserved1: u64,
}

/// Payload of a signal packet (`zx_packet_signal_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct PacketSignal {
    pub trigger: u32,
    pub observed: u32,
    pub count: u64,
    pub timestamp: u64,
    pub reserved1: u64,
}

impl PortPacket {
    pub const SIZE: usize = 48;

    pub fn user(key: u64, payload: [u64; 4]) -> Self {
        PortPacket {
            key,
            packet_type: PKT_TYPE_USER,
            status: 0,
            payload,
        }
    }

    pub fn exception(key: u64, exception_type: u32, pid: Koid, tid: Koid) -> Self {
        PortPacket {
            key,
            packet_type: exception_type,
            status: Status::OK.0,
            payload: [pid, tid, 0, 0],
        }
    }

    pub fn signal(
        key: u64,
        trigger: Signals,
        observed: Signals,
        count: u64,
        timestamp: u64,
    ) -> Self {
        PortPacket {
            key,
            packet_type: PKT_TYPE_SIGNAL_ONE,
            status: Status::OK.0,
            payload: [
                u64::from(trigger.0) | (u64::from(observed.0) << 32),
                count,
                timestamp,
                0,
            ],
        }
    }

    pub fn as_exception(&self) -> PacketException {
        PacketException {
            pid: self.payload[0],
            tid: self.payload[1],
            reserved0: self.payload[2],
            reserved1: self.payload[3],
        }
    }

    pub fn as_signal(&self) -> PacketSignal {
        PacketSignal {
            trigger: self.payload[0] as u32,
            observed: (self.payload[0] >> 32) as u32,
            count: self.payload[1],
            timestamp: self.payload[2],
            reserved1: self.payload[3],
        }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.u64(self.key);
        w.u32(self.packet_type);
        w.i32(self.status);
        for word in self.payload {
            w.u64(word);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        PortPacket {
            key: r.u64(),
            packet_type: r.u32(),
            status: r.i32(),
            payload: [r.u64(), r.u64(), r.u64(), r.u64()],
        }
    }
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<PortPacket>() == PortPacket::SIZE);
    assert!(offset_of!(PortPacket, packet_type) == 8);
    assert!(offset_of!(PortPacket, status) == 12);
    assert!(offset_of!(PortPacket, payload) == 16);
    assert!(size_of::<PacketException>() == 32);
    assert!(size_of::<PacketSignal>() == 32);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_packet_layout() {
        let p = PortPacket::exception(0x55, crate::exception::EXCP_SW_BREAKPOINT, 10, 11);
        let b = p.to_bytes();
        assert_eq!(&b[0..8], &0x55u64.to_le_bytes());
        assert_eq!(&b[8..12], &0x308u32.to_le_bytes());
        assert_eq!(&b[12..16], &0i32.to_le_bytes());
        assert_eq!(&b[16..24], &10u64.to_le_bytes());
        assert_eq!(&b[24..32], &11u64.to_le_bytes());
        assert_eq!(PortPacket::from_bytes(&b), p);
        assert_eq!(p.as_exception().tid, 11);
    }

    #[test]
    fn signal_packet_views() {
        let p = PortPacket::signal(1, Signals(4), Signals(6), 1, 99);
        let s = p.as_signal();
        assert_eq!((s.trigger, s.observed, s.count, s.timestamp), (4, 6, 1, 99));
    }
}
