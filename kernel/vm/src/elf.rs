//! Loading a user program: an ELF64 executable's `PT_LOAD` segments become
//! VMOs mapped with the segment's permissions.
//!
//! The file is read by `spinel_elf`, the one ELF reader (userspace's
//! launcher uses it too), which checks everything before it is used; this
//! module only copies the checked segments into VMOs and maps them. A
//! malformed program is an [`ElfError`] naming what is wrong, never a panic.

use crate::{PhysicalMemory, VmSpace, Vmo};
use alloc::sync::Arc;
use alloc::vec::Vec;
use spinel_abi::Status;
use spinel_elf::Program;
use spinel_hal_api::{AddressSpace, PAGE_SIZE, PageFlags};

/// `e_machine` values.
pub use spinel_elf::{EM_AARCH64, EM_X86_64};

const PAGE: u64 = PAGE_SIZE as u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    /// Not a 64-bit little-endian executable (ET_EXEC) for this machine.
    Unsupported(&'static str),
    /// A header or segment points outside the file or the user range.
    Malformed(&'static str),
    /// Mapping the segments failed (no memory ...).
    Map(Status),
}

impl From<spinel_elf::Error> for ElfError {
    fn from(error: spinel_elf::Error) -> Self {
        match error {
            spinel_elf::Error::NotElf => ElfError::NotElf,
            spinel_elf::Error::Unsupported(what) => ElfError::Unsupported(what),
            spinel_elf::Error::Malformed(what) => ElfError::Malformed(what),
        }
    }
}

impl core::fmt::Display for ElfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ElfError::NotElf => write!(f, "not an ELF file"),
            ElfError::Unsupported(what) => write!(f, "unsupported ELF: {what}"),
            ElfError::Malformed(what) => write!(f, "malformed ELF: {what}"),
            ElfError::Map(status) => write!(f, "mapping the program failed: {status:?}"),
        }
    }
}

/// A loaded segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: u64,
    pub len: u64,
    pub flags: PageFlags,
}

/// What the loader did: where to start and what it mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    pub entry: u64,
    pub segments: Vec<Segment>,
}

/// Load `file` into `space`; `machine` is the `e_machine` this CPU runs.
pub fn load<A: AddressSpace>(
    space: &mut VmSpace<A>,
    memory: &'static dyn PhysicalMemory,
    file: &[u8],
    machine: u16,
) -> Result<LoadedImage, ElfError> {
    let header = spinel_elf::Header::parse(file)?;
    header.check_executable(machine)?;
    let (_, program) = Program::from_file(file, PAGE)?;
    let mut segments = Vec::new();
    for segment in program.segments() {
        let range = segment.file_range();
        // `Program` checked the range against the file's length.
        let data = &file[range.start as usize..range.end as usize];
        let page_flags = match (segment.writable, segment.executable) {
            (true, _) => PageFlags::USER_RW,
            (false, true) => PageFlags::USER_RX,
            (false, false) => PageFlags::USER_RO,
        };
        let (start, len) = (segment.page_start, segment.pages_len());
        let vmo = Arc::new(Vmo::new(memory, len).map_err(ElfError::Map)?);
        vmo.write(segment.offset_in_pages(), data)
            .map_err(ElfError::Map)?;
        space
            .map(Some(start), vmo, 0, len, page_flags)
            .map_err(|status| match status {
                Status::INVALID_ARGS => {
                    ElfError::Malformed("segment outside the user address range")
                }
                other => ElfError::Map(other),
            })?;
        segments.push(Segment {
            start,
            len,
            flags: page_flags,
        });
    }
    Ok(LoadedImage {
        entry: program.entry,
        segments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeMemory, FakeSpace, build_elf as build};

    fn load_into(file: &[u8]) -> (Result<LoadedImage, ElfError>, VmSpace<FakeSpace>) {
        let memory = FakeMemory::leaked();
        let mut space = VmSpace::new(memory).unwrap();
        (load(&mut space, memory, file, EM_X86_64), space)
    }

    #[test]
    fn loads_segments_with_their_permissions_and_zero_bss() {
        let file = build(
            EM_X86_64,
            0x20_0010,
            &[
                (0x20_0000, 5, b"\x90\x90\xcc", 3),
                (0x20_1008, 6, b"data", 0x2000),
            ],
        );
        let (image, space) = load_into(&file);
        let image = image.unwrap();
        assert_eq!(image.entry, 0x20_0010);
        assert_eq!(
            image.segments[0],
            Segment {
                start: 0x20_0000,
                len: PAGE,
                flags: PageFlags::USER_RX
            }
        );
        assert_eq!(
            image.segments[1],
            Segment {
                start: 0x20_1000,
                len: 3 * PAGE,
                flags: PageFlags::USER_RW
            }
        );
        let mut code = [0u8; 3];
        space.read(0x20_0000, &mut code).unwrap();
        assert_eq!(&code, b"\x90\x90\xcc");
        let mut data = [0xffu8; 12];
        space.read(0x20_1004, &mut data).unwrap();
        assert_eq!(&data, b"\0\0\0\0data\0\0\0\0");
        assert_eq!(
            space.write(0x20_0000, b"x", crate::Access::Write),
            Err(Status::INVALID_ARGS),
            "text is read-only"
        );
    }

    #[test]
    fn malformed_programs_are_refused() {
        let ok = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
        assert_eq!(load_into(b"hello").0, Err(ElfError::NotElf));
        assert_eq!(
            load_into(&ok[..20]).0.unwrap_err(),
            ElfError::Malformed("header runs past the end of the file")
        );
        let arm = build(EM_AARCH64, 0x20_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
        assert!(matches!(load_into(&arm).0, Err(ElfError::Unsupported(_))));
        let no_entry = build(EM_X86_64, 0x30_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
        assert!(matches!(
            load_into(&no_entry).0,
            Err(ElfError::Malformed(_))
        ));
        let wx = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 7, b"\xcc", 1)]);
        assert!(matches!(load_into(&wx).0, Err(ElfError::Unsupported(_))));
        let kernel = build(
            EM_X86_64,
            0xffff_8000_0000_0000,
            &[(0xffff_8000_0000_0000, 5, b"\xcc", 1)],
        );
        assert!(matches!(load_into(&kernel).0, Err(ElfError::Malformed(_))));
        let overlap = build(
            EM_X86_64,
            0x20_0000,
            &[(0x20_0000, 5, b"\xcc", 1), (0x20_0800, 4, b"x", 1)],
        );
        assert_eq!(
            load_into(&overlap).0,
            Err(ElfError::Malformed("segments overlap"))
        );
        let mut truncated = ok.clone();
        truncated[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes()); // filesz
        truncated[64 + 40..64 + 48].copy_from_slice(&u64::MAX.to_le_bytes()); // memsz
        assert!(matches!(
            load_into(&truncated).0,
            Err(ElfError::Malformed(_))
        ));
    }
}
