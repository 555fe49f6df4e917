//! Loading a user program: an ELF64 executable's `PT_LOAD` segments become
//! VMOs mapped with the segment's permissions.
//!
//! Everything in the file is checked before use; a malformed program is an
//! [`ElfError`] naming what is wrong, never a panic.

use crate::{PhysicalMemory, VmSpace, Vmo};
use alloc::sync::Arc;
use alloc::vec::Vec;
use spinel_abi::Status;
use spinel_hal_api::{AddressSpace, PAGE_SIZE, PageFlags};

/// `e_machine` values.
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const ET_EXEC: u16 = 2;
const PAGE: u64 = PAGE_SIZE as u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    /// Not a 64-bit little-endian executable (ET_EXEC) for this machine.
    Unsupported(&'static str),
    /// A header or segment points outside the file or the user range.
    Malformed(&'static str),
    /// Mapping the segments failed (overlap, no memory ...).
    Map(Status),
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

fn field<const N: usize>(file: &[u8], at: usize) -> Result<[u8; N], ElfError> {
    file.get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or(ElfError::Malformed("header runs past the end of the file"))
}
fn u16_at(file: &[u8], at: usize) -> Result<u16, ElfError> {
    field::<2>(file, at).map(u16::from_le_bytes)
}
fn u32_at(file: &[u8], at: usize) -> Result<u32, ElfError> {
    field::<4>(file, at).map(u32::from_le_bytes)
}
fn u64_at(file: &[u8], at: usize) -> Result<u64, ElfError> {
    field::<8>(file, at).map(u64::from_le_bytes)
}

/// Load `file` into `space`; `machine` is the `e_machine` this CPU runs.
pub fn load<A: AddressSpace>(
    space: &mut VmSpace<A>,
    memory: &'static dyn PhysicalMemory,
    file: &[u8],
    machine: u16,
) -> Result<LoadedImage, ElfError> {
    if file.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ElfError::NotElf);
    }
    if file.get(4) != Some(&2) || file.get(5) != Some(&1) {
        return Err(ElfError::Unsupported("not 64-bit little-endian"));
    }
    if u16_at(file, 16)? != ET_EXEC {
        return Err(ElfError::Unsupported(
            "not a fixed-address executable (ET_EXEC)",
        ));
    }
    if u16_at(file, 18)? != machine {
        return Err(ElfError::Unsupported("built for another machine"));
    }
    let entry = u64_at(file, 24)?;
    let phoff = u64_at(file, 32)? as usize;
    let phentsize = u16_at(file, 54)? as usize;
    let phnum = u16_at(file, 56)? as usize;
    if phentsize < 56 {
        return Err(ElfError::Malformed("program header entries too small"));
    }
    let mut segments = Vec::new();
    for index in 0..phnum {
        let at = index
            .checked_mul(phentsize)
            .and_then(|o| o.checked_add(phoff));
        let at = at.ok_or(ElfError::Malformed("program headers out of range"))?;
        if u32_at(file, at)? != PT_LOAD {
            continue;
        }
        let flags = u32_at(file, at + 4)?;
        let offset = u64_at(file, at + 8)?;
        let vaddr = u64_at(file, at + 16)?;
        let filesz = u64_at(file, at + 32)?;
        let memsz = u64_at(file, at + 40)?;
        if filesz > memsz || memsz == 0 {
            return Err(ElfError::Malformed(
                "segment file size exceeds its memory size",
            ));
        }
        let data = offset
            .checked_add(filesz)
            .and_then(|end| file.get(offset as usize..end as usize))
            .ok_or(ElfError::Malformed("segment data outside the file"))?;
        let start = vaddr & !(PAGE - 1);
        let end = vaddr
            .checked_add(memsz)
            .ok_or(ElfError::Malformed("segment wraps around"))?;
        let len = end.next_multiple_of(PAGE) - start;
        let page_flags = match (flags & PF_W != 0, flags & PF_X != 0) {
            (true, true) => return Err(ElfError::Unsupported("writable and executable segment")),
            (true, false) => PageFlags::USER_RW,
            (false, true) => PageFlags::USER_RX,
            (false, false) => PageFlags::USER_RO,
        };
        let vmo = Arc::new(Vmo::new(memory, len).map_err(ElfError::Map)?);
        vmo.write(vaddr - start, data).map_err(ElfError::Map)?;
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
    if !segments
        .iter()
        .any(|s| s.flags.execute && (s.start..s.start + s.len).contains(&entry))
    {
        return Err(ElfError::Malformed(
            "entry point is not in an executable segment",
        ));
    }
    Ok(LoadedImage { entry, segments })
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
            Err(ElfError::Map(Status::ALREADY_EXISTS))
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
