//! The boot image: a flat archive of named files (the userspace ELFs, with
//! their DWARF) that the kernel carries and hands to `init`.
//!
//! Layout (all integers little-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `SPNLBOOT` |
//! | 8 | 4 | version (1) |
//! | 12 | 4 | entry count |
//! | 16 | 24 x count | entries: name offset u32, name length u32, data offset u64, data length u64 |
//! | ... | | names (UTF-8), then each file's data at a page-aligned offset |
//!
//! This crate is the one reader (and, with the `std` feature, the one
//! writer) of the format. Rules it keeps:
//! - **Reading never panics**: every offset and length is checked, and a
//!   malformed image gives an [`Error`] saying what is wrong.
//! - **The directory can be read apart from the data**: the header, the
//!   entry table and the names ([`Directory`]) come first, so a reader that
//!   reaches the image piece by piece (userspace, through a VMO) reads
//!   [`HEADER_LEN`] bytes, then [`table_len`], then [`directory_len`]
//!   bytes, and parses them with the very checks [`BootImage`] applies to an
//!   image in memory (the kernel's).
//! - No `unsafe`, no allocation in the reader; `no_std` except for tests and
//!   the writer.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

pub const MAGIC: [u8; 8] = *b"SPNLBOOT";
pub const VERSION: u32 = 1;
/// Bytes of the header (magic, version, entry count).
pub const HEADER_LEN: usize = 16;
/// Bytes of one entry of the table.
pub const ENTRY_LEN: usize = 24;
/// File data starts at multiples of this, so it can be mapped page by page.
pub const DATA_ALIGN: usize = 4096;
/// Longest accepted file name.
pub const MAX_NAME_LEN: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its header or entry table.
    Truncated,
    BadMagic,
    UnsupportedVersion(u32),
    /// Entry `index` points outside the image.
    EntryOutOfBounds(u32),
    /// Entry `index` has an empty, over-long or non-UTF-8 name.
    BadName(u32),
    /// Entry `index`'s data is not aligned to [`DATA_ALIGN`].
    Misaligned(u32),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated => write!(f, "boot image truncated"),
            Error::BadMagic => write!(f, "not a boot image (bad magic)"),
            Error::UnsupportedVersion(v) => write!(f, "boot image version {v} is not supported"),
            Error::EntryOutOfBounds(i) => {
                write!(f, "boot image entry {i} points outside the image")
            }
            Error::BadName(i) => write!(f, "boot image entry {i} has a bad name"),
            Error::Misaligned(i) => write!(f, "boot image entry {i} is not page aligned"),
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Check the header at the start of `bytes`; the number of entries.
fn entry_count(bytes: &[u8]) -> Result<u32, Error> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    if bytes[..8] != MAGIC {
        return Err(Error::BadMagic);
    }
    let version = u32_at(bytes, 8).ok_or(Error::Truncated)?;
    if version != VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    u32_at(bytes, 12).ok_or(Error::Truncated)
}

/// From the image's first [`HEADER_LEN`] bytes (or more): how many bytes
/// the header and the entry table take together.
pub fn table_len(header: &[u8]) -> Result<usize, Error> {
    let count = entry_count(header)?;
    (count as usize)
        .checked_mul(ENTRY_LEN)
        .and_then(|table| table.checked_add(HEADER_LEN))
        .ok_or(Error::Truncated)
}

/// From the header and the entry table ([`table_len`] bytes, or more): how
/// many bytes the whole directory takes, names included.
pub fn directory_len(table: &[u8]) -> Result<usize, Error> {
    let end = table_len(table)?;
    if table.len() < end {
        return Err(Error::Truncated);
    }
    let count = entry_count(table)?;
    let mut len = end;
    for index in 0..count {
        let raw = RawEntry::read(table, index)?;
        let name_end = raw
            .name_offset
            .checked_add(raw.name_len)
            .ok_or(Error::EntryOutOfBounds(index))?;
        len = len.max(name_end);
    }
    Ok(len)
}

/// One entry of the table as stored, before any check.
struct RawEntry {
    name_offset: usize,
    name_len: usize,
    data_offset: u64,
    data_len: u64,
}

impl RawEntry {
    fn read(bytes: &[u8], index: u32) -> Result<RawEntry, Error> {
        let at = (index as usize)
            .checked_mul(ENTRY_LEN)
            .and_then(|o| o.checked_add(HEADER_LEN))
            .ok_or(Error::Truncated)?;
        let field = |o| u32_at(bytes, at + o).ok_or(Error::Truncated);
        Ok(RawEntry {
            name_offset: field(0)? as usize,
            name_len: field(4)? as usize,
            data_offset: u64_at(bytes, at + 8).ok_or(Error::Truncated)?,
            data_len: u64_at(bytes, at + 16).ok_or(Error::Truncated)?,
        })
    }
}

/// The directory of a boot image: header, entry table and names, each
/// checked. The files' data need not be at hand.
#[derive(Clone, Copy, Debug)]
pub struct Directory<'a> {
    bytes: &'a [u8],
    count: u32,
    image_len: Option<u64>,
}

/// One file of the directory: its name and where its data lies in the
/// image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    /// Offset of the data within the image (page aligned).
    pub offset: u64,
    pub len: u64,
}

impl<'a> Directory<'a> {
    /// Check the directory at the start of `bytes` ([`directory_len`] bytes
    /// or more): header, every entry, every name, data alignment, and, when
    /// the image's length is known, that each file's data lies inside it.
    pub fn parse(bytes: &'a [u8], image_len: Option<u64>) -> Result<Self, Error> {
        let count = entry_count(bytes)?;
        if table_len(bytes)? > bytes.len() {
            return Err(Error::Truncated);
        }
        let directory = Directory {
            bytes,
            count,
            image_len,
        };
        for index in 0..count {
            directory.entry(index)?;
        }
        Ok(directory)
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn entry(&self, index: u32) -> Result<Entry<'a>, Error> {
        let raw = RawEntry::read(self.bytes, index)?;
        let name_bytes = raw
            .name_offset
            .checked_add(raw.name_len)
            .and_then(|end| self.bytes.get(raw.name_offset..end))
            .ok_or(Error::EntryOutOfBounds(index))?;
        let name = core::str::from_utf8(name_bytes).map_err(|_| Error::BadName(index))?;
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(Error::BadName(index));
        }
        if raw.data_offset % DATA_ALIGN as u64 != 0 {
            return Err(Error::Misaligned(index));
        }
        let end = raw.data_offset.checked_add(raw.data_len);
        if end.is_none_or(|end| self.image_len.is_some_and(|len| end > len)) {
            return Err(Error::EntryOutOfBounds(index));
        }
        Ok(Entry {
            name,
            offset: raw.data_offset,
            len: raw.data_len,
        })
    }

    /// All entries, in image order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        // Every entry was validated by `parse`.
        (0..self.count).filter_map(|i| self.entry(i).ok())
    }

    /// The entry called `name`.
    pub fn find(&self, name: &str) -> Option<Entry<'a>> {
        self.entries().find(|e| e.name == name)
    }
}

/// A validated boot image, whole in memory.
#[derive(Clone, Copy, Debug)]
pub struct BootImage<'a> {
    bytes: &'a [u8],
    directory: Directory<'a>,
}

/// One file of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File<'a> {
    pub name: &'a str,
    /// Offset of the data within the image (page aligned).
    pub offset: usize,
    pub data: &'a [u8],
}

impl<'a> BootImage<'a> {
    /// Check the whole image: header, every entry, every name.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let directory = Directory::parse(bytes, Some(bytes.len() as u64))?;
        Ok(BootImage { bytes, directory })
    }

    pub fn len(&self) -> usize {
        self.directory.len()
    }

    pub fn is_empty(&self) -> bool {
        self.directory.is_empty()
    }

    /// The directory alone.
    pub fn directory(&self) -> Directory<'a> {
        self.directory
    }

    fn file(&self, entry: Entry<'a>) -> Option<File<'a>> {
        // `Directory::parse` checked the data against the image's length.
        let offset = usize::try_from(entry.offset).ok()?;
        let end = offset.checked_add(usize::try_from(entry.len).ok()?)?;
        Some(File {
            name: entry.name,
            offset,
            data: self.bytes.get(offset..end)?,
        })
    }

    /// All files, in image order.
    pub fn files(&self) -> impl Iterator<Item = File<'a>> + '_ {
        self.directory.entries().filter_map(|e| self.file(e))
    }

    /// The file called `name`.
    pub fn find(&self, name: &str) -> Option<File<'a>> {
        self.files().find(|f| f.name == name)
    }
}

/// Pack `files` (name, contents) into an image.
#[cfg(any(test, feature = "std"))]
pub fn pack(files: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    let mut names = Vec::new();
    let table_end = HEADER_LEN + files.len() * ENTRY_LEN;
    let mut name_offsets = Vec::new();
    for (name, _) in files {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(format!("bad boot image file name {name:?}"));
        }
        name_offsets.push(table_end + names.len());
        names.extend_from_slice(name.as_bytes());
    }
    let mut data_offsets = Vec::new();
    let mut cursor = (table_end + names.len()).next_multiple_of(DATA_ALIGN);
    for (_, data) in files {
        data_offsets.push(cursor);
        cursor = (cursor + data.len()).next_multiple_of(DATA_ALIGN);
    }
    let mut image = Vec::with_capacity(cursor);
    image.extend_from_slice(&MAGIC);
    image.extend_from_slice(&VERSION.to_le_bytes());
    image.extend_from_slice(&(files.len() as u32).to_le_bytes());
    for (i, (name, data)) in files.iter().enumerate() {
        image.extend_from_slice(&(name_offsets[i] as u32).to_le_bytes());
        image.extend_from_slice(&(name.len() as u32).to_le_bytes());
        image.extend_from_slice(&(data_offsets[i] as u64).to_le_bytes());
        image.extend_from_slice(&(data.len() as u64).to_le_bytes());
    }
    image.extend_from_slice(&names);
    for (i, (_, data)) in files.iter().enumerate() {
        image.resize(data_offsets[i], 0);
        image.extend_from_slice(data);
    }
    image.resize(cursor.max(image.len()), 0);
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let image = pack(&[("init", b"\x7fELF-init"), ("hello", b"hi")]).unwrap();
        let parsed = BootImage::parse(&image).unwrap();
        assert_eq!(parsed.len(), 2);
        let init = parsed.find("init").unwrap();
        assert_eq!(init.data, b"\x7fELF-init");
        assert_eq!(init.offset % DATA_ALIGN, 0);
        assert_eq!(parsed.find("hello").unwrap().data, b"hi");
        assert!(parsed.find("missing").is_none());
    }

    #[test]
    fn empty_image() {
        let image = pack(&[]).unwrap();
        assert!(BootImage::parse(&image).unwrap().is_empty());
    }

    #[test]
    fn malformed_images_are_errors() {
        let good = pack(&[("init", b"abc")]).unwrap();
        assert_eq!(BootImage::parse(&good[..10]).unwrap_err(), Error::Truncated);
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(BootImage::parse(&bad).unwrap_err(), Error::BadMagic);
        let mut bad = good.clone();
        bad[8] = 9;
        assert_eq!(
            BootImage::parse(&bad).unwrap_err(),
            Error::UnsupportedVersion(9)
        );
        let mut bad = good.clone();
        bad[15] = 1; // 16M entries: more than the image holds
        assert_eq!(BootImage::parse(&bad).unwrap_err(), Error::Truncated);
        let mut bad = good.clone();
        bad[16 + 16..16 + 24].copy_from_slice(&u64::MAX.to_le_bytes()); // data length
        assert_eq!(
            BootImage::parse(&bad).unwrap_err(),
            Error::EntryOutOfBounds(0)
        );
        let mut bad = good.clone();
        bad[16 + 8] = 1; // data offset off alignment
        assert_eq!(BootImage::parse(&bad).unwrap_err(), Error::Misaligned(0));
        let mut bad = good.clone();
        bad[16 + 4..16 + 8].copy_from_slice(&0u32.to_le_bytes()); // empty name
        assert_eq!(BootImage::parse(&bad).unwrap_err(), Error::BadName(0));
        let mut bad = good;
        bad[40] = 0xff; // name byte: not UTF-8
        assert_eq!(BootImage::parse(&bad).unwrap_err(), Error::BadName(0));
    }

    #[test]
    fn bad_names_are_refused_when_packing() {
        assert!(pack(&[("", b"x")]).is_err());
        let long = "n".repeat(MAX_NAME_LEN + 1);
        assert!(pack(&[(long.as_str(), b"x")]).is_err());
    }

    #[test]
    fn the_directory_reads_in_pieces_like_the_whole_image() {
        let image = pack(&[("init", b"\x7fELF-init"), ("hello", b"hi")]).unwrap();
        let table = table_len(&image[..HEADER_LEN]).unwrap();
        assert_eq!(table, HEADER_LEN + 2 * ENTRY_LEN);
        let directory = directory_len(&image[..table]).unwrap();
        assert_eq!(directory, table + "inithello".len());
        let parsed = Directory::parse(&image[..directory], None).unwrap();
        let whole = BootImage::parse(&image).unwrap();
        let names: Vec<_> = parsed.entries().map(|e| e.name).collect();
        assert_eq!(names, ["init", "hello"]);
        let hello = parsed.find("hello").unwrap();
        let file = whole.find("hello").unwrap();
        assert_eq!(
            (hello.offset as usize, hello.len as usize),
            (file.offset, 2)
        );
        assert_eq!(whole.directory().find("init"), parsed.find("init"));
        // Too few bytes for what the header promises.
        assert_eq!(directory_len(&image[..table - 1]), Err(Error::Truncated));
        assert_eq!(
            Directory::parse(&image[..table], None).unwrap_err(),
            Error::EntryOutOfBounds(0)
        );
        // Knowing the image's length, data past it is refused.
        assert_eq!(
            Directory::parse(&image[..directory], Some(4096)).unwrap_err(),
            Error::EntryOutOfBounds(0)
        );
    }

    #[test]
    fn a_huge_entry_count_is_truncated_not_an_overflow() {
        let mut image = pack(&[]).unwrap();
        image[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(BootImage::parse(&image).unwrap_err(), Error::Truncated);
        assert_eq!(
            table_len(&image).unwrap(),
            HEADER_LEN + u32::MAX as usize * ENTRY_LEN
        );
        assert_eq!(directory_len(&image), Err(Error::Truncated));
    }

    #[test]
    fn every_prefix_and_every_corrupted_byte_is_an_answer_not_a_panic() {
        let good = pack(&[("init", b"abc"), ("two", b"defg")]).unwrap();
        let directory = directory_len(&good).unwrap();
        for len in 0..directory + 8 {
            let _ = BootImage::parse(&good[..len]);
            let _ = table_len(&good[..len]);
            let _ = directory_len(&good[..len]);
            let _ = Directory::parse(&good[..len], None);
        }
        for at in 0..directory {
            for value in [0u8, 1, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[at] = value;
                if let Ok(image) = BootImage::parse(&bad) {
                    assert_eq!(image.files().count(), image.len());
                }
                let _ = directory_len(&bad);
            }
        }
    }
}
