//! The one ELF64 reader of Spinel: the kernel's loader (`spinel_vm::elf`,
//! which starts `init`) and userspace's launcher (`spinel_rt::launch`, which
//! starts everything else) both learn from it where a program's `PT_LOAD`
//! segments go and with which permissions; each then copies the bytes its
//! own way (kernel VMOs, or `vmo_write` through system calls).
//!
//! Rules this crate keeps:
//! - **Everything is checked before it is believed.** A malformed file is an
//!   [`Error`] naming what is wrong, never a panic and never arithmetic
//!   that wraps: truncated headers, segments outside the file, segments
//!   whose pages overlap, writable-and-executable segments, an entry point
//!   outside the executable segments.
//! - **Pieces, not the whole file.** A reader that reaches the file through
//!   a VMO reads the first [`HEADER_LEN`] bytes ([`Header::parse`]), then
//!   the program-header table ([`Header::program_headers`]) and hands that
//!   table to [`Program::parse`]; one that holds the whole file calls
//!   [`Program::from_file`]. Both apply the same checks.
//! - Only what Spinel runs: 64-bit little-endian fixed-address executables
//!   (`ET_EXEC`). Empty `PT_LOAD` segments (no bytes in memory) are skipped.
//! - `no_std`, no allocation, no `unsafe`, no dependencies: it builds for
//!   the bare-metal targets and the host alike.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::ops::Range;

/// `e_machine` values.
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
/// Bytes of the ELF64 file header.
pub const HEADER_LEN: usize = 64;
/// Bytes of one ELF64 program header (`e_phentsize` may be larger).
pub const PROGRAM_HEADER_LEN: usize = 56;

/// More program headers than this is refused: checking that segments do
/// not overlap compares them pairwise.
pub const MAX_PROGRAM_HEADERS: u16 = 256;

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const ET_EXEC: u16 = 2;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;

/// What is wrong with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    NotElf,
    /// Valid ELF that Spinel does not run (32-bit, big-endian, not
    /// `ET_EXEC`, another machine, a writable and executable segment).
    Unsupported(&'static str),
    /// A header or segment that contradicts itself or the file.
    Malformed(&'static str),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NotElf => write!(f, "not an ELF file"),
            Error::Unsupported(what) => write!(f, "unsupported ELF: {what}"),
            Error::Malformed(what) => write!(f, "malformed ELF: {what}"),
        }
    }
}

const TRUNCATED: Error = Error::Malformed("header runs past the end of the file");

fn field<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], Error> {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|b| b.try_into().ok())
        .ok_or(TRUNCATED)
}
fn u16_at(bytes: &[u8], at: usize) -> Result<u16, Error> {
    field::<2>(bytes, at).map(u16::from_le_bytes)
}
fn u32_at(bytes: &[u8], at: usize) -> Result<u32, Error> {
    field::<4>(bytes, at).map(u32::from_le_bytes)
}
fn u64_at(bytes: &[u8], at: usize) -> Result<u64, Error> {
    field::<8>(bytes, at).map(u64::from_le_bytes)
}

/// The ELF file header, as far as loading needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `e_type`.
    pub kind: u16,
    /// `e_machine`.
    pub machine: u16,
    /// `e_entry`.
    pub entry: u64,
    phoff: u64,
    phentsize: u16,
    phnum: u16,
}

impl Header {
    /// Read the file header from the file's first [`HEADER_LEN`] bytes (or
    /// more): a 64-bit little-endian ELF file.
    pub fn parse(bytes: &[u8]) -> Result<Header, Error> {
        if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
            return Err(Error::NotElf);
        }
        if bytes.get(4) != Some(&ELFCLASS64) || bytes.get(5) != Some(&ELFDATA2LSB) {
            return Err(Error::Unsupported("not 64-bit little-endian"));
        }
        Ok(Header {
            kind: u16_at(bytes, 16)?,
            machine: u16_at(bytes, 18)?,
            entry: u64_at(bytes, 24)?,
            phoff: u64_at(bytes, 32)?,
            phentsize: u16_at(bytes, 54)?,
            phnum: u16_at(bytes, 56)?,
        })
    }

    /// A fixed-address executable (`ET_EXEC`) for `machine`?
    pub fn check_executable(&self, machine: u16) -> Result<(), Error> {
        if self.kind != ET_EXEC {
            return Err(Error::Unsupported(
                "not a fixed-address executable (ET_EXEC)",
            ));
        }
        if self.machine != machine {
            return Err(Error::Unsupported("built for another machine"));
        }
        Ok(())
    }

    /// Where the program-header table lies in the file (a range of file
    /// offsets; its length fits in memory).
    pub fn program_headers(&self) -> Result<Range<u64>, Error> {
        if self.phnum > MAX_PROGRAM_HEADERS {
            return Err(Error::Unsupported("too many program headers"));
        }
        if usize::from(self.phentsize) < PROGRAM_HEADER_LEN {
            return Err(Error::Malformed("program header entries too small"));
        }
        let len = u64::from(self.phentsize) * u64::from(self.phnum);
        let end = self
            .phoff
            .checked_add(len)
            .ok_or(Error::Malformed("program headers out of range"))?;
        Ok(self.phoff..end)
    }
}

/// One `PT_LOAD` segment, checked: its bytes lie inside the file, it fits
/// in the address space, and it is not both writable and executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Offset of the segment's bytes in the file.
    pub offset: u64,
    /// Address of its first byte.
    pub vaddr: u64,
    /// Bytes taken from the file (the rest, up to `memsz`, is zero).
    pub filesz: u64,
    /// Bytes in memory (never 0).
    pub memsz: u64,
    pub writable: bool,
    pub executable: bool,
    /// The first of the whole pages the segment touches.
    pub page_start: u64,
    /// The end of the last of them.
    pub page_end: u64,
}

impl Segment {
    /// The segment's bytes in the file (a range of file offsets).
    pub fn file_range(&self) -> Range<u64> {
        // Checked by `Program::parse`.
        self.offset..self.offset + self.filesz
    }

    /// The whole pages the segment touches.
    pub fn pages(&self) -> Range<u64> {
        self.page_start..self.page_end
    }

    /// Bytes of memory to map: the whole pages.
    pub fn pages_len(&self) -> u64 {
        self.page_end - self.page_start
    }

    /// Where the file's bytes go, relative to the first page.
    pub fn offset_in_pages(&self) -> u64 {
        self.vaddr - self.page_start
    }
}

/// A program's loadable segments, every one checked, together with the
/// entry point.
#[derive(Clone, Copy, Debug)]
pub struct Program<'t> {
    pub entry: u64,
    table: &'t [u8],
    phentsize: usize,
    count: usize,
    page_size: u64,
}

impl<'t> Program<'t> {
    /// Check the program described by `header` and its program-header
    /// `table` (the bytes of [`Header::program_headers`]) for a file of
    /// `file_len` bytes, mapped in pages of `page_size` (a power of two).
    pub fn parse(
        header: &Header,
        table: &'t [u8],
        file_len: u64,
        page_size: u64,
    ) -> Result<Self, Error> {
        let range = header.program_headers()?;
        if range.end > file_len || (table.len() as u64) < range.end - range.start {
            return Err(Error::Malformed("program headers out of range"));
        }
        let program = Program {
            entry: header.entry,
            table,
            phentsize: usize::from(header.phentsize),
            count: usize::from(header.phnum),
            page_size,
        };
        let mut entry_found = false;
        for index in 0..program.count {
            let Some(segment) = program.segment(index, file_len)? else {
                continue;
            };
            for other in 0..index {
                if let Some(earlier) = program.segment(other, file_len)?
                    && earlier.page_start < segment.page_end
                    && segment.page_start < earlier.page_end
                {
                    return Err(Error::Malformed("segments overlap"));
                }
            }
            entry_found |= segment.executable && segment.pages().contains(&header.entry);
        }
        if !entry_found {
            return Err(Error::Malformed(
                "entry point is not in an executable segment",
            ));
        }
        Ok(program)
    }

    /// Check the whole file held in memory: [`Header::parse`], then
    /// [`Program::parse`] over its program-header table.
    pub fn from_file(file: &'t [u8], page_size: u64) -> Result<(Header, Self), Error> {
        let header = Header::parse(file)?;
        let range = header.program_headers()?;
        let table = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| file.get(start..end))
            .ok_or(Error::Malformed("program headers out of range"))?;
        let program = Program::parse(&header, table, file.len() as u64, page_size)?;
        Ok((header, program))
    }

    /// The `index`th program header, if it is a non-empty `PT_LOAD`.
    fn segment(&self, index: usize, file_len: u64) -> Result<Option<Segment>, Error> {
        let at = index * self.phentsize;
        if u32_at(self.table, at)? != PT_LOAD {
            return Ok(None);
        }
        let flags = u32_at(self.table, at + 4)?;
        let offset = u64_at(self.table, at + 8)?;
        let vaddr = u64_at(self.table, at + 16)?;
        let filesz = u64_at(self.table, at + 32)?;
        let memsz = u64_at(self.table, at + 40)?;
        if memsz == 0 {
            return Ok(None);
        }
        if filesz > memsz {
            return Err(Error::Malformed(
                "segment file size exceeds its memory size",
            ));
        }
        if offset.checked_add(filesz).is_none_or(|end| end > file_len) {
            return Err(Error::Malformed("segment data outside the file"));
        }
        let end = vaddr
            .checked_add(memsz)
            .and_then(|end| end.checked_next_multiple_of(self.page_size))
            .ok_or(Error::Malformed("segment wraps around"))?;
        let (writable, executable) = (flags & PF_W != 0, flags & PF_X != 0);
        if writable && executable {
            return Err(Error::Unsupported("writable and executable segment"));
        }
        Ok(Some(Segment {
            offset,
            vaddr,
            filesz,
            memsz,
            writable,
            executable,
            page_start: vaddr & !(self.page_size - 1),
            page_end: end,
        }))
    }

    /// The loadable segments, in file order.
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        // Every segment was checked by `parse`; the file's length only
        // matters there.
        (0..self.count).filter_map(|i| self.segment(i, u64::MAX).ok().flatten())
    }
}

#[cfg(test)]
mod tests;
