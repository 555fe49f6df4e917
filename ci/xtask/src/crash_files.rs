//! Files the guest sends on its console (the crash service's cores and
//! reports), taken out of the console text and written to a directory.
//!
//! The guest writes each file as lines (`services/crash-service/src/transport.rs`):
//!
//! ```text
//! @spinel-file begin <id> <name> <size>
//! @spinel-file data <id> <offset> <base64>
//! @spinel-file zero <id> <offset> <count>
//! @spinel-file end <id> <crc32 hex8>
//! ```
//!
//! Rules this module keeps: [`Extractor::feed`] is streaming (bytes in any
//! pieces; it returns the bytes to show, every `@spinel-file` line taken
//! out); a file is written only when its size and CRC-32 match, else it is
//! kept as `<name>.bad`; a file still open when the guest stops is kept as
//! `<name>.partial` and reported; names are reduced to one plain path
//! component, so a guest cannot write outside the directory; a file's size
//! is capped ([`MAX_FILE`]). One line per file written (`crash: <path>`)
//! goes to the report this returns, for the caller to print.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Largest file accepted.
pub const MAX_FILE: u64 = 1 << 30;
const PREFIX: &[u8] = b"@spinel-file ";

/// A file being received.
struct Incoming {
    name: String,
    size: u64,
    bytes: Vec<u8>,
    received: u64,
}

/// The console-stream filter.
pub struct Extractor {
    dir: PathBuf,
    pending: Vec<u8>,
    open: HashMap<u64, Incoming>,
    /// What happened, one line per file (`crash: <path>`, or why not).
    pub report: Vec<String>,
    /// The files written whole, in order.
    pub written: Vec<PathBuf>,
}

impl Extractor {
    pub fn new(dir: &Path) -> Extractor {
        Extractor {
            dir: dir.to_path_buf(),
            pending: Vec::new(),
            open: HashMap::new(),
            report: Vec::new(),
            written: Vec::new(),
        }
    }

    /// Console bytes in; the bytes to show out (file lines removed).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let mut show = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = trim_line(&line);
            if text.starts_with(PREFIX) {
                let text = String::from_utf8_lossy(text).into_owned();
                self.line(&text);
            } else {
                show.extend_from_slice(&line);
            }
        }
        // A partial line that cannot be a file line is shown at once
        // (prompts, a guest's last words).
        let n = self.pending.len().min(PREFIX.len());
        if !self.pending.is_empty() && self.pending[..n] != PREFIX[..n] {
            show.append(&mut self.pending);
        }
        show
    }

    /// The guest stopped: keep what is still open as `.partial`.
    pub fn finish(&mut self) {
        let open: Vec<Incoming> = self.open.drain().map(|(_, file)| file).collect();
        for file in open {
            let path = self.dir.join(format!("{}.partial", file.name));
            match write_file(&path, &file.bytes) {
                Ok(()) => self.report.push(format!(
                    "crash: {} (incomplete: {} of {} bytes arrived)",
                    path.display(),
                    file.received,
                    file.size
                )),
                Err(e) => self
                    .report
                    .push(format!("crash: cannot write {}: {e}", path.display())),
            }
        }
    }

    fn line(&mut self, text: &str) {
        let words: Vec<&str> = text.split_whitespace().collect();
        let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        match (words.get(1).copied(), number(2)) {
            (Some("begin"), Some(id)) => {
                let (Some(name), Some(size)) = (words.get(3), number(4)) else {
                    return;
                };
                if size > MAX_FILE {
                    self.report
                        .push(format!("crash: {name} refused: {size} bytes is too large"));
                    return;
                }
                self.open.insert(
                    id,
                    Incoming {
                        name: plain_name(name),
                        size,
                        bytes: vec![0; size as usize],
                        received: 0,
                    },
                );
            }
            (Some("data"), Some(id)) => {
                let (Some(offset), Some(data)) = (number(3), words.get(4)) else {
                    return;
                };
                if let (Some(file), Some(bytes)) = (self.open.get_mut(&id), base64(data)) {
                    file.put(offset, &bytes);
                }
            }
            (Some("zero"), Some(id)) => {
                if let (Some(file), Some(offset), Some(count)) =
                    (self.open.get_mut(&id), number(3), number(4))
                {
                    // The buffer starts zeroed: only count them.
                    if offset
                        .checked_add(count)
                        .is_some_and(|end| end <= file.size)
                    {
                        file.received += count;
                    }
                }
            }
            (Some("end"), Some(id)) => {
                if let Some(file) = self.open.remove(&id) {
                    let crc = words.get(3).and_then(|w| u32::from_str_radix(w, 16).ok());
                    self.close(file, crc);
                }
            }
            _ => {}
        }
    }

    fn close(&mut self, file: Incoming, crc: Option<u32>) {
        let good = file.received == file.size && crc == Some(crc32(&file.bytes));
        let path = if good {
            self.dir.join(&file.name)
        } else {
            self.dir.join(format!("{}.bad", file.name))
        };
        match write_file(&path, &file.bytes) {
            Ok(()) if good => {
                self.report.push(format!("crash: {}", path.display()));
                self.written.push(path);
            }
            Ok(()) => self.report.push(format!(
                "crash: {} (damaged: {} of {} bytes, CRC {})",
                path.display(),
                file.received,
                file.size,
                if crc == Some(crc32(&file.bytes)) {
                    "matches"
                } else {
                    "differs"
                }
            )),
            Err(e) => self
                .report
                .push(format!("crash: cannot write {}: {e}", path.display())),
        }
    }
}

impl Incoming {
    fn put(&mut self, offset: u64, bytes: &[u8]) {
        let Some(end) = offset.checked_add(bytes.len() as u64) else {
            return;
        };
        if end <= self.size {
            self.bytes[offset as usize..end as usize].copy_from_slice(bytes);
            self.received += bytes.len() as u64;
        }
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    let start = line
        .iter()
        .position(|&b| b != b'\r')
        .unwrap_or(end)
        .min(end);
    &line[start..end]
}

/// One plain path component (no separators, no `..`).
fn plain_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.trim_start_matches('.') {
        "" => "unnamed".into(),
        rest => rest.into(),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, bytes).map_err(|e| e.to_string())
}

/// Standard base64 (with or without padding); `None` if malformed.
fn base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for group in text.chunks(4) {
        if group.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in group.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    Some(out)
}

/// CRC-32/IEEE (reflected, polynomial 0xedb88320).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("spinel-crash-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn crc_and_base64_match_the_standards() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64("a"), None);
    }

    #[test]
    fn a_file_is_taken_out_of_the_console_and_written() {
        let dir = dir("whole");
        let mut x = Extractor::new(&dir);
        let mut shown = x.feed(b"hello\n@spinel-file begin 1 demo-1.core 8\r\n@spinel-fi");
        shown.extend(x.feed(b"le data 1 0 AQI=\n@spinel-file zero 1 2 6\nmid"));
        let crc = crc32(&[1, 2, 0, 0, 0, 0, 0, 0]);
        shown.extend(x.feed(format!("dle\n@spinel-file end 1 {crc:08x}\nbye\n").as_bytes()));
        assert_eq!(String::from_utf8(shown).unwrap(), "hello\nmiddle\nbye\n");
        assert_eq!(
            std::fs::read(dir.join("demo-1.core")).unwrap(),
            [1, 2, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(x.written.len(), 1);
    }

    #[test]
    fn bad_and_unfinished_files_are_kept_apart() {
        let dir = dir("bad");
        let mut x = Extractor::new(&dir);
        x.feed(b"@spinel-file begin 1 a.core 2\n@spinel-file data 1 0 AQI=\n@spinel-file end 1 00000000\n");
        x.feed(b"@spinel-file begin 2 ../../b.json 4\n@spinel-file data 2 0 AQI=\n");
        x.finish();
        assert!(dir.join("a.core.bad").exists());
        assert!(dir.join("_.._b.json.partial").exists());
        assert!(x.written.is_empty());
        assert_eq!(x.report.len(), 2);
    }
}
