//! The bootstrap message a process reads first: its arguments and tagged
//! handles (`spinel_abi::bootstrap`).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::zx::abi::bootstrap;
use crate::zx::abi::object::CHANNEL_MAX_MSG_HANDLES;
use crate::zx::{Channel, Handle, HandleBased, HandleValue, Status};

/// A decoded bootstrap message.
#[derive(Debug, Default)]
pub struct Startup {
    /// The arguments (words separated by spaces).
    pub args: String,
    /// The handles, each with its tag, in message order.
    pub handles: Vec<(u32, Handle)>,
}

impl Startup {
    /// Read and decode the message waiting on `channel` (the handle `_start`
    /// received). NOT_FOUND if none is waiting, INVALID_ARGS if malformed.
    pub fn read(channel: &Channel) -> Result<Startup, Status> {
        let mut bytes = vec![0u8; 4096];
        let mut values = [HandleValue::INVALID; CHANNEL_MAX_MSG_HANDLES as usize];
        let sizes = match channel.read_raw(&mut bytes, &mut values) {
            Ok(sizes) => sizes,
            Err(e) if e.status == Status::BUFFER_TOO_SMALL => {
                bytes = vec![0u8; e.needed.bytes as usize];
                channel
                    .read_raw(&mut bytes, &mut values)
                    .map_err(|e| e.status)?
            }
            Err(e) if e.status == Status::SHOULD_WAIT || e.status == Status::PEER_CLOSED => {
                return Err(Status::NOT_FOUND);
            }
            Err(e) => return Err(e.status),
        };
        let handles: Vec<Handle> = values[..sizes.handles as usize]
            .iter()
            .map(|&v| Handle::from_raw(v))
            .collect();
        let (header, tags, args) =
            bootstrap::decode(&bytes[..sizes.bytes as usize]).ok_or(Status::INVALID_ARGS)?;
        if header.handle_count != sizes.handles {
            return Err(Status::INVALID_ARGS);
        }
        let handles = handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| (bootstrap::tag(tags, i).unwrap_or(0), h))
            .collect();
        Ok(Startup {
            args: String::from(args),
            handles,
        })
    }

    /// Read the bootstrap message from the handle `_start` received; an empty
    /// startup when there is none (a process started without one).
    pub fn from_start(bootstrap: Handle) -> Startup {
        let channel = Channel::from_handle(bootstrap);
        Startup::read(&channel).unwrap_or_default()
    }

    /// Take the first handle with `tag`.
    pub fn take(&mut self, tag: u32) -> Option<Handle> {
        let at = self.handles.iter().position(|(t, _)| *t == tag)?;
        Some(self.handles.remove(at).1)
    }

    /// Take the first handle with `tag`, typed.
    pub fn take_typed<T: HandleBased>(&mut self, tag: u32) -> Option<T> {
        self.take(tag).map(T::from_handle)
    }

    /// The argument words.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.args.split(' ').filter(|w| !w.is_empty())
    }
}
