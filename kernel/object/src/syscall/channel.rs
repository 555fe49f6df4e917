//! channel_create, channel_write, channel_read.

use alloc::vec::Vec;
use spinel_abi::object::{
    CHANNEL_MAX_MSG_BYTES, CHANNEL_MAX_MSG_HANDLES, CHANNEL_READ_MAY_DISCARD,
};
use spinel_abi::policy::POL_NEW_CHANNEL;
use spinel_abi::{HandleValue, Koid, ObjectType, Rights, Status};

use crate::Kernel;
use crate::channel::{Message, MessageBytes};

/// Sizes of a message read (or, with BUFFER_TOO_SMALL, of the one waiting).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReadSizes {
    pub bytes: usize,
    pub handles: usize,
}

/// A failed `channel_read`: the status, and for BUFFER_TOO_SMALL the sizes
/// the caller needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadError {
    pub status: Status,
    pub needed: ReadSizes,
}

impl From<Status> for ReadError {
    fn from(status: Status) -> Self {
        ReadError {
            status,
            needed: ReadSizes::default(),
        }
    }
}

impl Kernel {
    /// `channel_create` (checks the NEW_CHANNEL policy).
    pub fn sys_channel_create(
        &mut self,
        caller: Koid,
        options: u32,
    ) -> Result<(HandleValue, HandleValue), Status> {
        if options != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let verdict = self.policy_check(caller, POL_NEW_CHANNEL)?;
        let process = self.caller_process(caller)?;
        let (a, b) = self.channel_create_pair();
        let ha = self.new_handle(a, Rights::DEFAULT_CHANNEL);
        let hb = self.new_handle(b, Rights::DEFAULT_CHANNEL);
        let result = Ok((self.install(process, ha), self.install(process, hb)));
        self.policy_finish(caller, verdict, &result);
        result
    }

    /// `channel_write`: the handles are always consumed, even on failure.
    /// Writing the channel's own handle (or its peer's) is NOT_SUPPORTED.
    pub fn sys_channel_write(
        &mut self,
        caller: Koid,
        value: HandleValue,
        options: u32,
        bytes: &[u8],
        handles: &[HandleValue],
    ) -> Result<(), Status> {
        let target = self.object_of(caller, value, Rights::WRITE, ObjectType::CHANNEL);
        let mut taken = Vec::with_capacity(handles.len());
        let mut error = None;
        if options != 0 {
            error = Some(Status::INVALID_ARGS);
        } else if bytes.len() > CHANNEL_MAX_MSG_BYTES as usize
            || handles.len() > CHANNEL_MAX_MSG_HANDLES as usize
        {
            error = Some(Status::OUT_OF_RANGE);
        }
        let (own, peer) = match target {
            Ok((koid, _)) => (koid, self.channel(koid).peer),
            Err(_) => (0, None),
        };
        for &h in handles {
            match self.take_handle(caller, h) {
                Ok(handle) => {
                    if handle.koid == own || Some(handle.koid) == peer {
                        error.get_or_insert(Status::NOT_SUPPORTED);
                    } else if !handle.rights.contains(Rights::TRANSFER) {
                        error.get_or_insert(Status::ACCESS_DENIED);
                    }
                    taken.push(handle);
                }
                Err(status) => {
                    error.get_or_insert(status);
                }
            }
        }
        let error = match target {
            Err(status) => Some(status),
            Ok(_) => error.or(if peer.is_none() {
                Some(Status::PEER_CLOSED)
            } else {
                None
            }),
        };
        if let Some(status) = error {
            for handle in taken {
                self.release_handle(handle);
            }
            return Err(status);
        }
        let peer = peer.expect("checked");
        self.channel_enqueue(
            peer,
            Message {
                bytes: MessageBytes::from(bytes),
                handles: taken,
            },
        );
        Ok(())
    }

    /// `channel_read`: SHOULD_WAIT when empty, PEER_CLOSED when empty and
    /// the peer is gone, BUFFER_TOO_SMALL (with the sizes needed) when the
    /// first message does not fit; it then stays, unless MAY_DISCARD.
    pub fn sys_channel_read(
        &mut self,
        caller: Koid,
        value: HandleValue,
        options: u32,
        bytes: &mut [u8],
        handles: &mut [HandleValue],
    ) -> Result<ReadSizes, ReadError> {
        if options & !CHANNEL_READ_MAY_DISCARD != 0 {
            return Err(Status::INVALID_ARGS.into());
        }
        let (koid, _) = self.object_of(caller, value, Rights::READ, ObjectType::CHANNEL)?;
        let process = self.caller_process(caller)?;
        let channel = self.channel(koid);
        let Some(first) = channel.messages.front() else {
            let status = if channel.peer.is_none() {
                Status::PEER_CLOSED
            } else {
                Status::SHOULD_WAIT
            };
            return Err(status.into());
        };
        let needed = ReadSizes {
            bytes: first.bytes.len(),
            handles: first.handles.len(),
        };
        if needed.bytes > bytes.len() || needed.handles > handles.len() {
            if options & CHANNEL_READ_MAY_DISCARD != 0 {
                let message = self
                    .channel_mut(koid)
                    .messages
                    .pop_front()
                    .expect("non-empty");
                for handle in message.handles {
                    self.release_handle(handle);
                }
                self.channel_update_readable(koid);
            }
            return Err(ReadError {
                status: Status::BUFFER_TOO_SMALL,
                needed,
            });
        }
        let message = self
            .channel_mut(koid)
            .messages
            .pop_front()
            .expect("non-empty");
        bytes[..needed.bytes].copy_from_slice(&message.bytes);
        for (slot, handle) in handles.iter_mut().zip(message.handles) {
            *slot = self.install(process, handle);
        }
        self.channel_update_readable(koid);
        Ok(needed)
    }

    fn channel_update_readable(&mut self, koid: Koid) {
        if self.channel(koid).messages.is_empty() {
            self.update_signals(
                koid,
                spinel_abi::Signals::CHANNEL_READABLE,
                spinel_abi::Signals::NONE,
            );
        }
    }
}
