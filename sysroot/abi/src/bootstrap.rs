//! The bootstrap message: the first message a new process reads from the
//! channel handle it receives as its first start argument. It carries the
//! program's arguments and tagged handles (which job to create children in,
//! the process's own handles, the boot image ...).
//!
//! Layout (little-endian): `magic u32, version u32, args_len u32,
//! handle_count u32`, then `handle_count` tags (u32 each), then the argument
//! bytes (UTF-8, words separated by spaces). The handles travel in the
//! message's handle array, in tag order.

use crate::bytes::{Reader, Writer};

pub const MAGIC: u32 = 0x5342_5053; // "SPBS"
pub const VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 16;

/// The job the process should create its children in.
pub const TAG_JOB: u32 = 1;
/// The process itself.
pub const TAG_PROCESS_SELF: u32 = 2;
/// The process's first thread.
pub const TAG_THREAD_SELF: u32 = 3;
/// The process's root VMAR.
pub const TAG_VMAR_ROOT: u32 = 4;
/// A VMO holding the boot image (the programs the system can start).
pub const TAG_BOOT_IMAGE: u32 = 5;
/// The debug link resource (the debugger's serial line).
pub const TAG_DEBUG_LINK: u32 = 6;
/// The root job: the authority to bind Magenta's system exception port
/// (init hands it to the test suites, which check that rule).
pub const TAG_ROOT_JOB: u32 = 7;
/// Tags from here on are the program's own.
pub const TAG_USER: u32 = 0x100;

/// The decoded fixed part of a bootstrap message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub args_len: u32,
    pub handle_count: u32,
}

impl Header {
    /// Bytes of the whole message.
    pub const fn message_size(&self) -> usize {
        HEADER_SIZE + self.handle_count as usize * 4 + self.args_len as usize
    }
}

/// Write a message with `tags` and `args` into `out`; returns its length,
/// or `None` when `out` is too small.
pub fn encode(tags: &[u32], args: &str, out: &mut [u8]) -> Option<usize> {
    let size = HEADER_SIZE + tags.len() * 4 + args.len();
    if out.len() < size {
        return None;
    }
    let mut w = Writer::new(&mut out[..size]);
    w.u32(MAGIC);
    w.u32(VERSION);
    w.u32(args.len() as u32);
    w.u32(tags.len() as u32);
    for &tag in tags {
        w.u32(tag);
    }
    w.bytes(args.as_bytes());
    Some(size)
}

/// Parse a message: its header, the tag of handle `i` through `tag`, and the
/// arguments. `None` for anything malformed.
pub fn decode(message: &[u8]) -> Option<(Header, &[u8], &str)> {
    if message.len() < HEADER_SIZE {
        return None;
    }
    let mut r = Reader::new(&message[..HEADER_SIZE]);
    if r.u32() != MAGIC || r.u32() != VERSION {
        return None;
    }
    let header = Header {
        args_len: r.u32(),
        handle_count: r.u32(),
    };
    if message.len() != header.message_size() {
        return None;
    }
    let tags_end = HEADER_SIZE + header.handle_count as usize * 4;
    let args = core::str::from_utf8(&message[tags_end..]).ok()?;
    Some((header, &message[HEADER_SIZE..tags_end], args))
}

/// Tag `index` of the raw tag bytes returned by [`decode`].
pub fn tag(tags: &[u8], index: usize) -> Option<u32> {
    let bytes = tags.get(index * 4..index * 4 + 4)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed() {
        let mut buf = [0u8; 64];
        let n = encode(&[TAG_JOB, TAG_BOOT_IMAGE], "test fast", &mut buf).unwrap();
        let (header, tags, args) = decode(&buf[..n]).unwrap();
        assert_eq!(header.handle_count, 2);
        assert_eq!(tag(tags, 1), Some(TAG_BOOT_IMAGE));
        assert_eq!(tag(tags, 2), None);
        assert_eq!(args, "test fast");
        assert!(decode(&buf[..n - 1]).is_none());
        assert!(decode(&buf[..4]).is_none());
        let mut bad = buf;
        bad[0] ^= 1;
        assert!(decode(&bad[..n]).is_none());
        assert!(encode(&[1, 2, 3], "x", &mut [0u8; 8]).is_none());
    }
}
