//! Ports: a bounded packet queue, threads waiting on it, and the exception
//! bindings that name it.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use spinel_abi::{Koid, PortPacket, Status};

use crate::Kernel;
use crate::effect::Completion;

#[derive(Debug, Default)]
pub(crate) struct Port {
    pub packets: VecDeque<PortPacket>,
    /// Threads blocked in `port_wait`, first come first served.
    pub waiters: VecDeque<Koid>,
}

impl Kernel {
    /// Queue a packet, or hand it straight to a waiting thread. `bounded`
    /// packets (user and exception packets) are refused with SHOULD_WAIT
    /// when the queue is full; signal packets never are.
    pub(crate) fn port_enqueue(
        &mut self,
        port: Koid,
        packet: PortPacket,
        bounded: bool,
    ) -> Result<(), Status> {
        let capacity = self.config.port_capacity;
        let p = self.port_mut(port);
        if let Some(waiter) = p.waiters.pop_front() {
            self.finish_wait(waiter, Status::OK, Completion::Packet(packet));
            return Ok(());
        }
        if bounded && p.packets.len() >= capacity {
            return Err(Status::SHOULD_WAIT);
        }
        p.packets.push_back(packet);
        Ok(())
    }

    /// The port's last handle closed: its packets are dropped, waiters and
    /// async waits canceled, and every exception binding to it unbinds,
    /// passing waiting exceptions on as if the port had never been bound.
    pub(crate) fn port_closed(&mut self, port: Koid) {
        let waiters: Vec<Koid> = self.port_mut(port).waiters.drain(..).collect();
        for w in waiters {
            self.finish_wait(w, Status::CANCELED, Completion::None);
        }
        self.remove_observers_to_port(port);
        self.unbind_port_everywhere(port);
        self.objects.remove(&port);
    }

    /// Number of queued packets (tests, debugging).
    pub fn port_queued(&self, port: Koid) -> usize {
        match self.objects.get(&port).map(|e| &e.body) {
            Some(crate::object::Body::Port(p)) => p.packets.len(),
            _ => 0,
        }
    }
}
