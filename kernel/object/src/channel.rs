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
    pub bytes: MessageBytes,
    pub handles: Vec<Handle>,
}

/// A message's bytes: inline when few (exception reports, small requests,
/// the usual one-byte pings), so that most messages allocate nothing for
/// them.
#[derive(Debug)]
pub(crate) enum MessageBytes {
    Inline { len: u8, data: [u8; INLINE_BYTES] },
    Heap(Vec<u8>),
}

const INLINE_BYTES: usize = 24;

impl From<&[u8]> for MessageBytes {
    fn from(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_BYTES {
            let mut data = [0; INLINE_BYTES];
            data[..bytes.len()].copy_from_slice(bytes);
            MessageBytes::Inline {
                len: bytes.len() as u8,
                data,
            }
        } else {
            MessageBytes::Heap(bytes.to_vec())
        }
    }
}

impl core::ops::Deref for MessageBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            MessageBytes::Inline { len, data } => &data[..usize::from(*len)],
            MessageBytes::Heap(bytes) => bytes,
        }
    }
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

impl Kernel {
    /// The glue's way to hand a new process its first handles: a channel
    /// whose one end goes to `process` (its handle value is returned) and
    /// whose other end is closed after one message, `bytes` plus new handles
    /// to `grants` (object, rights), has been written into it. Every object
    /// in `grants` must be live.
    pub fn bootstrap_channel(
        &mut self,
        process: Koid,
        bytes: &[u8],
        grants: &[(Koid, spinel_abi::Rights)],
    ) -> Result<spinel_abi::HandleValue, spinel_abi::Status> {
        if self.object_type(process) != Some(spinel_abi::ObjectType::PROCESS) {
            return Err(spinel_abi::Status::NOT_FOUND);
        }
        if grants.iter().any(|&(koid, _)| !self.is_live(koid)) {
            return Err(spinel_abi::Status::NOT_FOUND);
        }
        let (ours, theirs) = self.channel_create_pair();
        let handles = grants
            .iter()
            .map(|&(koid, rights)| self.new_handle(koid, rights))
            .collect();
        self.channel_enqueue(
            theirs,
            Message {
                bytes: MessageBytes::from(bytes),
                handles,
            },
        );
        let theirs_handle = self.new_handle(theirs, spinel_abi::Rights::DEFAULT_CHANNEL);
        let value = self.install(process, theirs_handle);
        // Close our end: the process sees the message, then PEER_CLOSED.
        let ours_handle = self.new_handle(ours, spinel_abi::Rights::DEFAULT_CHANNEL);
        self.release_handle(ours_handle);
        Ok(value)
    }
}
