//! DWARF sections out of an ELF: compressed ones (`SHF_COMPRESSED` with
//! zlib or zstd, and the older `.zdebug_*` zlib sections) inflated, and the
//! side files of split DWARF (`.dwo`, `.dwp`) read the same way.
//!
//! Sections of the caller's image are read where they are; sections
//! inflated here (and those of `.dwo` files, which the symbolizer owns) are
//! held in an [`Arc`]. [`DwarfReader`] reads either.

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use gimli::{EndianArcSlice, EndianSlice, ReaderOffsetId, RunTimeEndian};
use object::read::elf::ElfFile64;
use object::{CompressionFormat, Object, ObjectSection};

/// The reader of all DWARF parsing (line tables, units, split DWARF): a
/// section borrowed from the image, or one held by the symbolizer.
#[derive(Clone, Debug)]
pub enum DwarfReader<'data> {
    Borrowed(EndianSlice<'data, RunTimeEndian>),
    Shared(EndianArcSlice<RunTimeEndian>),
}

macro_rules! each {
    ($self:expr, $reader:ident => $body:expr) => {
        match $self {
            DwarfReader::Borrowed($reader) => $body,
            DwarfReader::Shared($reader) => $body,
        }
    };
}

impl DwarfReader<'_> {
    /// The bytes not read yet.
    pub fn bytes(&self) -> &[u8] {
        match self {
            DwarfReader::Borrowed(reader) => reader.slice(),
            DwarfReader::Shared(reader) => reader.bytes(),
        }
    }
}

impl gimli::Reader for DwarfReader<'_> {
    type Endian = RunTimeEndian;
    type Offset = usize;

    fn endian(&self) -> RunTimeEndian {
        each!(self, reader => gimli::Reader::endian(reader))
    }

    fn len(&self) -> usize {
        each!(self, reader => gimli::Reader::len(reader))
    }

    fn empty(&mut self) {
        each!(self, reader => gimli::Reader::empty(reader))
    }

    fn truncate(&mut self, len: usize) -> gimli::Result<()> {
        each!(self, reader => gimli::Reader::truncate(reader, len))
    }

    fn offset_from(&self, base: &Self) -> usize {
        (self.bytes().as_ptr() as usize).wrapping_sub(base.bytes().as_ptr() as usize)
    }

    fn offset_id(&self) -> ReaderOffsetId {
        ReaderOffsetId(self.bytes().as_ptr() as u64)
    }

    fn lookup_offset_id(&self, id: ReaderOffsetId) -> Option<usize> {
        let start = self.bytes().as_ptr() as u64;
        let offset = id.0.checked_sub(start)?;
        (offset <= self.bytes().len() as u64).then_some(offset as usize)
    }

    fn find(&self, byte: u8) -> gimli::Result<usize> {
        each!(self, reader => gimli::Reader::find(reader, byte))
    }

    fn skip(&mut self, len: usize) -> gimli::Result<()> {
        each!(self, reader => gimli::Reader::skip(reader, len))
    }

    fn split(&mut self, len: usize) -> gimli::Result<Self> {
        match self {
            DwarfReader::Borrowed(reader) => {
                gimli::Reader::split(reader, len).map(DwarfReader::Borrowed)
            }
            DwarfReader::Shared(reader) => {
                gimli::Reader::split(reader, len).map(DwarfReader::Shared)
            }
        }
    }

    fn to_slice(&self) -> gimli::Result<Cow<'_, [u8]>> {
        Ok(Cow::Borrowed(self.bytes()))
    }

    fn to_string(&self) -> gimli::Result<Cow<'_, str>> {
        core::str::from_utf8(self.bytes())
            .map(Cow::Borrowed)
            .map_err(|_| gimli::Error::BadUtf8)
    }

    fn to_string_lossy(&self) -> gimli::Result<Cow<'_, str>> {
        Ok(String::from_utf8_lossy(self.bytes()))
    }

    fn read_slice(&mut self, buf: &mut [u8]) -> gimli::Result<()> {
        each!(self, reader => gimli::Reader::read_slice(reader, buf))
    }

    fn read_u8(&mut self) -> gimli::Result<u8> {
        each!(self, reader => gimli::Reader::read_u8(reader))
    }

    fn read_uleb128(&mut self) -> gimli::Result<u64> {
        each!(self, reader => gimli::Reader::read_uleb128(reader))
    }

    fn read_sleb128(&mut self) -> gimli::Result<i64> {
        each!(self, reader => gimli::Reader::read_sleb128(reader))
    }

    fn read_null_terminated_slice(&mut self) -> gimli::Result<Self> {
        match self {
            DwarfReader::Borrowed(reader) => {
                gimli::Reader::read_null_terminated_slice(reader).map(DwarfReader::Borrowed)
            }
            DwarfReader::Shared(reader) => {
                gimli::Reader::read_null_terminated_slice(reader).map(DwarfReader::Shared)
            }
        }
    }
}

/// The largest section this will inflate (a corrupt header must not make
/// it allocate without bound).
const MAX_INFLATED: u64 = 1 << 32;

/// The bytes of section `name` of `file`, inflated if compressed; empty
/// when the file has no such section. `Err` says why a section present in
/// the file cannot be read.
pub fn section_data<'data>(
    file: &ElfFile64<'data>,
    name: &str,
) -> Result<Cow<'data, [u8]>, String> {
    let Some(section) = file.section_by_name(name) else {
        return Ok(Cow::Borrowed(&[]));
    };
    let compressed = section
        .compressed_data()
        .map_err(|e| alloc::format!("{name}: {e}"))?;
    match compressed.format {
        CompressionFormat::None => Ok(Cow::Borrowed(compressed.data)),
        format => inflate(format, compressed.data, compressed.uncompressed_size)
            .map(Cow::Owned)
            .map_err(|e| alloc::format!("{name}: {e}")),
    }
}

fn inflate(format: CompressionFormat, data: &[u8], size: u64) -> Result<Vec<u8>, String> {
    if size > MAX_INFLATED {
        return Err(alloc::format!("claims {size} bytes uncompressed"));
    }
    let size = size as usize;
    let inflated = match format {
        CompressionFormat::Zlib => {
            miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, size)
                .map_err(|e| alloc::format!("zlib: {e:?}"))?
        }
        CompressionFormat::Zstandard => {
            let mut out = Vec::with_capacity(size);
            ruzstd::decoding::FrameDecoder::new()
                .decode_all_to_vec(data, &mut out)
                .map_err(|e| alloc::format!("zstd: {e}"))?;
            out
        }
        other => return Err(alloc::format!("unsupported compression {other:?}")),
    };
    if inflated.len() != size {
        return Err(alloc::format!(
            "inflates to {} bytes, not {size}",
            inflated.len()
        ));
    }
    Ok(inflated)
}

/// Loads every DWARF section gimli asks for from `file` (by the `.dwo`
/// names when `dwo`), twice over the same bytes (addr2line keeps one
/// `Dwarf`, the line walks use the other). Sections are borrowed from
/// `file` unless inflated. The first section that cannot be read is an
/// error.
pub fn load_dwarf_twice<'data>(
    file: &ElfFile64<'data>,
    endian: RunTimeEndian,
    dwo: bool,
) -> Result<[gimli::Dwarf<DwarfReader<'data>>; 2], String> {
    let mut loaded: Vec<(gimli::SectionId, DwarfReader<'data>)> = Vec::new();
    let first = gimli::Dwarf::load(|id| -> Result<DwarfReader<'data>, String> {
        let name = if dwo { id.dwo_name() } else { Some(id.name()) };
        let data = match name {
            Some(name) => section_data(file, name)?,
            None => Cow::Borrowed(&[][..]),
        };
        let section = reader(data, endian);
        loaded.push((id, section.clone()));
        Ok(section)
    })?;
    let second = gimli::Dwarf::load(|id| -> Result<DwarfReader<'data>, String> {
        Ok(loaded
            .iter()
            .find(|(loaded, _)| *loaded == id)
            .map(|(_, section)| section.clone())
            .unwrap_or_else(|| reader(Cow::Borrowed(&[]), endian)))
    })?;
    Ok([first, second])
}

/// A reader of `data`: borrowed where it is borrowed, else shared.
pub fn reader(data: Cow<'_, [u8]>, endian: RunTimeEndian) -> DwarfReader<'_> {
    match data {
        Cow::Borrowed(data) => DwarfReader::Borrowed(EndianSlice::new(data, endian)),
        Cow::Owned(data) => DwarfReader::Shared(EndianArcSlice::new(Arc::from(data), endian)),
    }
}

/// A DWARF package (`.dwp`), parsed; its sections are borrowed unless
/// compressed.
pub fn load_package(bytes: &[u8]) -> Result<gimli::DwarfPackage<DwarfReader<'_>>, String> {
    let file = ElfFile64::<object::Endianness>::parse(bytes).map_err(|e| e.to_string())?;
    let endian = endian_of(&file);
    let mut problem = None;
    let package = gimli::DwarfPackage::load(
        |id| -> Result<DwarfReader<'_>, gimli::Error> {
            let data = match id.dwo_name().map(|name| section_data(&file, name)) {
                Some(Ok(data)) => data,
                Some(Err(e)) => {
                    problem.get_or_insert(e);
                    Cow::Borrowed(&[][..])
                }
                None => Cow::Borrowed(&[][..]),
            };
            Ok(reader(data, endian))
        },
        reader(Cow::Borrowed(&[]), endian),
    )
    .map_err(|e| e.to_string())?;
    match problem {
        Some(problem) => Err(problem),
        None => Ok(package),
    }
}

/// The DWARF of one `.dwo` file (its sections copied: the symbolizer
/// keeps them, not the caller).
pub fn load_dwo(bytes: &[u8]) -> Result<gimli::Dwarf<DwarfReader<'static>>, String> {
    let file = ElfFile64::<object::Endianness>::parse(bytes).map_err(|e| e.to_string())?;
    let endian = endian_of(&file);
    gimli::Dwarf::load(|id| -> Result<DwarfReader<'static>, String> {
        let data = match id.dwo_name() {
            Some(name) => section_data(&file, name)?.into_owned(),
            None => Vec::new(),
        };
        Ok(reader(Cow::Owned(data), endian))
    })
}

pub fn endian_of(file: &ElfFile64<'_>) -> gimli::RunTimeEndian {
    if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    }
}
