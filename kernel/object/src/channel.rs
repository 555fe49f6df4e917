//! Channels: two endpoints, each with a queue of messages (bytes plus
//! handles) written by its peer.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use spinel_abi::{Koid, Signals};

use crate::Kernel;
use crate::handle::Handle;
use crate::object::Body;

#[derive(Debug)]
pub(crate) struct Message {
    pub bytes: Vec<u8>,
    pub handles: Vec<Handle>,
}

#[derive(Debug)]
pub(crate) struct Channel {
    /// The other endpoint, until it closes.
    pub peer: Option<Koid>,
    /// Messages waiting to be read from this endpoint.
    pub messages: VecDeque<Message>,
}

impl Kernel {
    /// A new pair of endpoints, both writable.
    pub(crate) fn channel_create_pair(&mut self) -> (Koid, Koid) {
        let a = self.insert(
            Body::Channel(Channel {
                peer: None,
                messages: VecDeque::new(),
            }),
            Signals::CHANNEL_WRITABLE,
        );
        let b = self.insert(
            Body::Channel(Channel {
                peer: Some(a),
                messages: VecDeque::new(),
            }),
            Signals::CHANNEL_WRITABLE,
        );
        self.channel_mut(a).peer = Some(b);
        (a, b)
    }

    /// Put a message in an endpoint's queue (written through its peer).
    pub(crate) fn channel_enqueue(&mut self, endpoint: Koid, message: Message) {
        self.channel_mut(endpoint).messages.push_back(message);
        self.update_signals(endpoint, Signals::NONE, Signals::CHANNEL_READABLE);
    }

    /// The endpoint's last handle closed: unread messages (and the handles in
    /// them) are destroyed, and the peer sees PEER_CLOSED.
    pub(crate) fn channel_endpoint_closed(&mut self, endpoint: Koid) {
        let entry = self.objects.remove(&endpoint).expect("endpoint is live");
        let Body::Channel(channel) = entry.body else {
            unreachable!()
        };
        if let Some(peer) = channel.peer
            && self.is_live(peer)
        {
            self.channel_mut(peer).peer = None;
            self.update_signals(
                peer,
                Signals::CHANNEL_WRITABLE,
                Signals::CHANNEL_PEER_CLOSED,
            );
        }
        for message in channel.messages {
            for handle in message.handles {
                self.release_handle(handle);
            }
        }
    }

    /// Messages waiting in an endpoint (tests, debugging).
    pub fn channel_queued(&self, endpoint: Koid) -> usize {
        match self.objects.get(&endpoint).map(|e| &e.body) {
            Some(Body::Channel(c)) => c.messages.len(),
            _ => 0,
        }
    }
}
