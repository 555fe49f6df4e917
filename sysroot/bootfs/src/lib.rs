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
//! Reading never panics: every offset and length is checked, and a malformed
//! image gives a [`Error`] saying what is wrong.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

pub const MAGIC: [u8; 8] = *b"SPNLBOOT";
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
const ENTRY_LEN: usize = 24;
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

/// A validated boot image.
#[derive(Clone, Copy, Debug)]
pub struct BootImage<'a> {
    bytes: &'a [u8],
    count: u32,
}

/// One file of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File<'a> {
    pub name: &'a str,
    /// Offset of the data within the image (page aligned).
    pub offset: usize,
    pub data: &'a [u8],
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

impl<'a> BootImage<'a> {
    /// Check the whole image: header, every entry, every name.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
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
        let count = u32_at(bytes, 12).ok_or(Error::Truncated)?;
        let table_end = (count as usize)
            .checked_mul(ENTRY_LEN)
            .and_then(|t| t.checked_add(HEADER_LEN));
        if table_end.is_none_or(|end| end > bytes.len()) {
            return Err(Error::Truncated);
        }
        let image = BootImage { bytes, count };
        for index in 0..count {
            image.entry(index)?;
        }
        Ok(image)
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn entry(&self, index: u32) -> Result<File<'a>, Error> {
        let at = HEADER_LEN + index as usize * ENTRY_LEN;
        let field = |o| u32_at(self.bytes, at + o).ok_or(Error::Truncated);
        let (name_offset, name_len) = (field(0)? as usize, field(4)? as usize);
        let data_offset = u64_at(self.bytes, at + 8).ok_or(Error::Truncated)?;
        let data_len = u64_at(self.bytes, at + 16).ok_or(Error::Truncated)?;
        let name_bytes = name_offset
            .checked_add(name_len)
            .and_then(|end| self.bytes.get(name_offset..end))
            .ok_or(Error::EntryOutOfBounds(index))?;
        let name = core::str::from_utf8(name_bytes).map_err(|_| Error::BadName(index))?;
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(Error::BadName(index));
        }
        let offset = usize::try_from(data_offset).map_err(|_| Error::EntryOutOfBounds(index))?;
        let len = usize::try_from(data_len).map_err(|_| Error::EntryOutOfBounds(index))?;
        if offset % DATA_ALIGN != 0 {
            return Err(Error::Misaligned(index));
        }
        let data = offset
            .checked_add(len)
            .and_then(|end| self.bytes.get(offset..end))
            .ok_or(Error::EntryOutOfBounds(index))?;
        Ok(File { name, offset, data })
    }

    /// All files, in image order.
    pub fn files(&self) -> impl Iterator<Item = File<'a>> + '_ {
        // Every entry was validated by `parse`.
        (0..self.count).filter_map(|i| self.entry(i).ok())
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
}
