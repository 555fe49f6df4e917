//! DWARF sections out of an ELF: compressed ones (`SHF_COMPRESSED` with
//! zlib or zstd, and the older `.zdebug_*` zlib sections) inflated, and the
//! side files of split DWARF (`.dwo`, `.dwp`) read the same way.
//!
//! Every section is held in an [`Arc`] so that sections inflated here and
//! sections of the caller's image can share one reader type.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use object::read::elf::ElfFile64;
use object::{CompressionFormat, Object, ObjectSection};

/// The reader of all DWARF parsing (line tables, units, split DWARF).
pub type DwarfReader = gimli::EndianArcSlice<gimli::RunTimeEndian>;

/// The largest section this will inflate (a corrupt header must not make
/// it allocate without bound).
const MAX_INFLATED: u64 = 1 << 32;

/// The bytes of section `name` of `file`, inflated if compressed; empty
/// when the file has no such section. `Err` says why a section present in
/// the file cannot be read.
pub fn section_data(file: &ElfFile64<'_>, name: &str) -> Result<Vec<u8>, String> {
    let Some(section) = file.section_by_name(name) else {
        return Ok(Vec::new());
    };
    let compressed = section
        .compressed_data()
        .map_err(|e| alloc::format!("{name}: {e}"))?;
    match compressed.format {
        CompressionFormat::None => Ok(compressed.data.to_vec()),
        format => inflate(format, compressed.data, compressed.uncompressed_size)
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
/// `Dwarf`, the line walks use the other). The first section that cannot
/// be read is an error.
pub fn load_dwarf_twice(
    file: &ElfFile64<'_>,
    endian: gimli::RunTimeEndian,
    dwo: bool,
) -> Result<[gimli::Dwarf<DwarfReader>; 2], String> {
    let mut loaded: Vec<(gimli::SectionId, DwarfReader)> = Vec::new();
    let first = gimli::Dwarf::load(|id| -> Result<DwarfReader, String> {
        let name = if dwo { id.dwo_name() } else { Some(id.name()) };
        let data = match name {
            Some(name) => section_data(file, name)?,
            None => Vec::new(),
        };
        let section = reader(data, endian);
        loaded.push((id, section.clone()));
        Ok(section)
    })?;
    let second = gimli::Dwarf::load(|id| -> Result<DwarfReader, String> {
        Ok(loaded
            .iter()
            .find(|(loaded, _)| *loaded == id)
            .map(|(_, section)| section.clone())
            .unwrap_or_else(|| reader(Vec::new(), endian)))
    })?;
    Ok([first, second])
}

pub fn reader(data: Vec<u8>, endian: gimli::RunTimeEndian) -> DwarfReader {
    gimli::EndianArcSlice::new(Arc::from(data), endian)
}

/// A DWARF package (`.dwp`), parsed.
pub fn load_package(bytes: &[u8]) -> Result<gimli::DwarfPackage<DwarfReader>, String> {
    let file = ElfFile64::<object::Endianness>::parse(bytes).map_err(|e| e.to_string())?;
    let endian = endian_of(&file);
    let mut problem = None;
    let package = gimli::DwarfPackage::load(
        |id| -> Result<DwarfReader, gimli::Error> {
            let data = match id.dwo_name().map(|name| section_data(&file, name)) {
                Some(Ok(data)) => data,
                Some(Err(e)) => {
                    problem.get_or_insert(e);
                    Vec::new()
                }
                None => Vec::new(),
            };
            Ok(reader(data, endian))
        },
        reader(Vec::new(), endian),
    )
    .map_err(|e| e.to_string())?;
    match problem {
        Some(problem) => Err(problem),
        None => Ok(package),
    }
}

/// The DWARF of one `.dwo` file.
pub fn load_dwo(bytes: &[u8]) -> Result<gimli::Dwarf<DwarfReader>, String> {
    let file = ElfFile64::<object::Endianness>::parse(bytes).map_err(|e| e.to_string())?;
    let [dwarf, _] = load_dwarf_twice(&file, endian_of(&file), true)?;
    Ok(dwarf)
}

pub fn endian_of(file: &ElfFile64<'_>) -> gimli::RunTimeEndian {
    if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    }
}
