//! Files on the console: the `@spinel-file` lines `cargo xtask` takes out
//! of the console text and writes as files (`ci/xtask/src/crash_files.rs`).
//!
//! ```text
//! @spinel-file begin <id> <name> <size>
//! @spinel-file data <id> <offset> <base64>     (at most DATA_BYTES raw bytes)
//! @spinel-file zero <id> <offset> <count>      (a run of zero bytes)
//! @spinel-file end <id> <crc32 hex8>           (CRC-32/IEEE of the whole file)
//! ```
//!
//! Rules: one `debug_write` per line (the kernel writes one call's bytes
//! whole, so other programs' lines never split one of ours), every line
//! under 4,096 bytes; buffers are fixed (no allocation per byte); a file
//! whose bytes run short of its announced size is padded with zeros so the
//! host always gets the size it was told.

use core::fmt::Write as _;

use alloc::string::String;
use spinel_rt::zx;

/// Raw bytes per `data` line: 3,968 base64 characters plus the prefix fit
/// one 4,096-byte `debug_write`.
pub const DATA_BYTES: usize = 2976;
/// Zero runs are found in pieces of this many bytes.
const ZERO_GRAIN: usize = 256;

/// One file being sent.
pub struct FileSender {
    id: u64,
    size: u64,
    offset: u64,
    crc: crc32fast::Hasher,
    /// Pending non-zero data (up to DATA_BYTES).
    buffer: [u8; DATA_BYTES],
    filled: usize,
    /// A run of zeros not yet announced: (start, count).
    zeros: Option<(u64, u64)>,
    line: String,
}

impl FileSender {
    /// Announce `name` of `size` bytes.
    pub fn begin(id: u64, name: &str, size: u64) -> FileSender {
        let mut line = String::with_capacity(4096);
        let _ = writeln!(line, "@spinel-file begin {id} {name} {size}");
        let _ = zx::debug_write(line.as_bytes());
        FileSender {
            id,
            size,
            offset: 0,
            crc: crc32fast::Hasher::new(),
            buffer: [0; DATA_BYTES],
            filled: 0,
            zeros: None,
            line,
        }
    }

    /// The next bytes of the file (bytes past the announced size are dropped).
    pub fn write(&mut self, mut bytes: &[u8]) {
        let room = self.size - self.offset;
        if bytes.len() as u64 > room {
            bytes = &bytes[..room as usize];
        }
        self.crc.update(bytes);
        // Zero pieces become runs; the rest is gathered into data lines.
        for piece in bytes.chunks(ZERO_GRAIN) {
            if piece.iter().all(|&b| b == 0) {
                self.flush_data();
                let start = self.offset;
                self.zeros = Some(match self.zeros {
                    Some((from, count)) => (from, count + piece.len() as u64),
                    None => (start, piece.len() as u64),
                });
                self.offset += piece.len() as u64;
                continue;
            }
            self.flush_zeros();
            let mut rest = piece;
            while !rest.is_empty() {
                let take = rest.len().min(DATA_BYTES - self.filled);
                self.buffer[self.filled..self.filled + take].copy_from_slice(&rest[..take]);
                self.filled += take;
                self.offset += take as u64;
                rest = &rest[take..];
                if self.filled == DATA_BYTES {
                    self.flush_data();
                }
            }
        }
    }

    fn flush_zeros(&mut self) {
        if let Some((start, count)) = self.zeros.take() {
            self.line.clear();
            let _ = writeln!(self.line, "@spinel-file zero {} {start} {count}", self.id);
            let _ = zx::debug_write(self.line.as_bytes());
        }
    }

    fn flush_data(&mut self) {
        if self.filled == 0 {
            return;
        }
        let start = self.offset - self.filled as u64;
        self.line.clear();
        let _ = write!(self.line, "@spinel-file data {} {start} ", self.id);
        base64(&self.buffer[..self.filled], &mut self.line);
        self.line.push('\n');
        let _ = zx::debug_write(self.line.as_bytes());
        self.filled = 0;
    }

    /// Pad to the announced size, flush, and send the CRC.
    pub fn end(mut self) {
        const ZEROS: [u8; 512] = [0; 512];
        while self.offset < self.size {
            let n = (self.size - self.offset).min(ZEROS.len() as u64) as usize;
            self.write(&ZEROS[..n]);
        }
        self.flush_data();
        self.flush_zeros();
        let crc = self.crc.clone().finalize();
        self.line.clear();
        let _ = writeln!(self.line, "@spinel-file end {} {crc:08x}", self.id);
        let _ = zx::debug_write(self.line.as_bytes());
    }
}

/// A whole small file in one go.
pub fn send(id: u64, name: &str, bytes: &[u8]) {
    let mut file = FileSender::begin(id, name, bytes.len() as u64);
    file.write(bytes);
    file.end();
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, appended to `out`.
fn base64(bytes: &[u8], out: &mut String) {
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}
