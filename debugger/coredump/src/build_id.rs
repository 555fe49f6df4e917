//! GNU build ids: the `NT_GNU_BUILD_ID` note (owner "GNU") that the linker
//! writes into `.note.gnu.build-id` when given `--build-id`. Symbolizer
//! markup names each module by it, and `llvm-symbolizer` finds the ELF by
//! it (`--debug-file-directory`, `.build-id/xx/rest.debug`).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use object::read::elf::{ElfFile64, ProgramHeader as _};
use object::{Endianness, Object, elf};

use crate::{Arch, Permissions};

/// Why an ELF's build id could not be read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BuildIdError {
    /// Not a 64-bit ELF image `object` can read, or a note is malformed.
    NotElf(String),
}

impl fmt::Display for BuildIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildIdError::NotElf(detail) => write!(f, "not a readable ELF image: {detail}"),
        }
    }
}

fn parse(elf: &[u8]) -> Result<ElfFile64<'_, Endianness>, BuildIdError> {
    ElfFile64::<Endianness>::parse(elf).map_err(|e| BuildIdError::NotElf(e.to_string()))
}

/// The build id of an ELF image: from its note sections, or, in an image
/// without section headers, its `PT_NOTE` segments. `None` when it has none.
pub fn build_id(elf: &[u8]) -> Result<Option<&[u8]>, BuildIdError> {
    let file = parse(elf)?;
    if let Some(id) = file
        .build_id()
        .map_err(|e| BuildIdError::NotElf(e.to_string()))?
    {
        return Ok(Some(id));
    }
    let endian = file.endian();
    for segment in file.elf_program_headers() {
        let notes = segment
            .notes(endian, elf)
            .map_err(|e| BuildIdError::NotElf(e.to_string()))?;
        if let Some(mut notes) = notes {
            while let Some(note) = notes
                .next()
                .map_err(|e| BuildIdError::NotElf(e.to_string()))?
            {
                if note.name() == elf::ELF_NOTE_GNU && note.n_type(endian) == elf::NT_GNU_BUILD_ID {
                    return Ok(Some(note.desc()));
                }
            }
        }
    }
    Ok(None)
}

/// Bytes as lowercase hex, as markup and `.build-id` paths write them.
#[derive(Clone, Copy, Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// One `PT_LOAD` segment of an ELF image, as markup's `mmap` describes it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LoadSegment {
    /// The segment's address in the ELF (`p_vaddr`).
    pub vaddr: u64,
    pub size: u64,
    /// The segment's file offset (`p_offset`), for `NT_FILE`.
    pub file_offset: u64,
    /// Bytes of it present in the file (`p_filesz`).
    pub file_size: u64,
    pub permissions: Permissions,
}

/// What a crash dump needs of an ELF image: arch, build id, load segments.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ElfFacts {
    /// `None` for a machine other than x86_64 and aarch64.
    pub arch: Option<Arch>,
    pub build_id: Option<Vec<u8>>,
    pub segments: Vec<LoadSegment>,
}

/// Reads an ELF image's arch, build id and `PT_LOAD` segments.
pub fn elf_facts(elf: &[u8]) -> Result<ElfFacts, BuildIdError> {
    let file = parse(elf)?;
    let endian = file.endian();
    let arch = match file.architecture() {
        object::Architecture::X86_64 => Some(Arch::X86_64),
        object::Architecture::Aarch64 => Some(Arch::Aarch64),
        _ => None,
    };
    let segments = file
        .elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .map(|ph| {
            let flags = ph.p_flags(endian).0;
            LoadSegment {
                vaddr: ph.p_vaddr(endian),
                size: ph.p_memsz(endian),
                file_offset: ph.p_offset(endian),
                file_size: ph.p_filesz(endian),
                permissions: Permissions {
                    read: flags & elf::PF_R.0 != 0,
                    write: flags & elf::PF_W.0 != 0,
                    execute: flags & elf::PF_X.0 != 0,
                },
            }
        })
        .collect();
    Ok(ElfFacts {
        arch,
        build_id: build_id(elf)?.map(<[u8]>::to_vec),
        segments,
    })
}
