//! The ELF core itself: layout first, then headers and notes, then each
//! mapping's bytes.
//!
//! ```text
//! ELF header            ET_CORE, OS ABI 0 (as Linux), EM_X86_64 / EM_AARCH64
//! program headers       PT_NOTE (vaddr 0, memsz 0), then one PT_LOAD per
//!                       mapping, sorted by address (filesz 0 when left out)
//! notes                 4-byte aligned (see `notes`)
//! mapping bytes         each PT_LOAD's data page-aligned, in address order
//! ```
//!
//! [`CoreLayout::new`] computes every offset and encodes the headers and
//! notes (a few KiB); [`CoreLayout::write`] then emits the file front to
//! back through a sink, asking a reader for each mapping's memory in chunks
//! of [`CHUNK`] bytes. The ELF header and program headers are written with
//! `object`'s ELF writer.

use alloc::string::ToString;
use alloc::vec::Vec;

use object::Endianness;
use object::elf;
use object::write::WritableBuffer;
use object::write::elf::{FileHeader, ProgramHeader, Writer};

use crate::notes::{self, PAGE_SIZE};
use crate::{Arch, Contents, Error, Mapping, Snapshot};

/// How many bytes of a mapping [`CoreLayout::write`] asks its reader for at
/// once.
pub const CHUNK: usize = 4096;

/// Where one mapping's bytes sit in the core.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Segment {
    /// Index in [`Snapshot::mappings`].
    pub mapping: usize,
    /// File offset of its data (page-aligned when it has any).
    pub offset: u64,
    /// Bytes of it in the file (0: left out).
    pub file_size: u64,
}

/// What [`CoreLayout::write`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct WriteSummary {
    /// The core's size: every byte given to the sink.
    pub bytes: u64,
    /// Bytes of streamed mappings the reader could not supply (written as
    /// zeros: a mapping that vanished while being dumped).
    pub unreadable: u64,
}

/// A core's layout, with its headers and notes already encoded.
#[derive(Clone, Debug)]
pub struct CoreLayout {
    head: Vec<u8>,
    segments: Vec<Segment>,
    total: u64,
}

/// The writer's buffer for the head: it ignores the writer's request to
/// reserve the whole file (which would allocate the dump's size), since
/// only headers and notes are ever written into it.
struct HeadBuffer(Vec<u8>);

impl WritableBuffer for HeadBuffer {
    fn reserve(&mut self, _size: u64) -> Result<(), ()> {
        Ok(())
    }

    fn write_bytes(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

fn program_flags(mapping: &Mapping) -> elf::ProgramFlags {
    let p = mapping.permissions;
    let mut flags = 0;
    if p.read {
        flags |= elf::PF_R.0;
    }
    if p.write {
        flags |= elf::PF_W.0;
    }
    if p.execute {
        flags |= elf::PF_X.0;
    }
    elf::ProgramFlags(flags)
}

impl CoreLayout {
    /// Checks the snapshot, lays the core out and encodes its head.
    pub fn new(snapshot: &Snapshot) -> Result<CoreLayout, Error> {
        if snapshot.threads.is_empty() {
            return Err(Error::NoThreads);
        }
        for thread in &snapshot.threads {
            notes::check_thread(snapshot.arch, thread)?;
        }
        let mut order: Vec<usize> = (0..snapshot.mappings.len()).collect();
        order.sort_by_key(|&i| snapshot.mappings[i].base);
        let mut end_of_previous = 0u64;
        for &i in &order {
            let m = &snapshot.mappings[i];
            let end = m.base.checked_add(m.size);
            match end {
                Some(end) if m.base >= end_of_previous => end_of_previous = end,
                _ => {
                    return Err(Error::BadMapping {
                        base: m.base,
                        size: m.size,
                    });
                }
            }
        }
        // PT_NOTE plus one PT_LOAD each; beyond 0xfffe the count needs a
        // section header (PN_XNUM), which this writer does not emit.
        let phnum = u32::try_from(order.len() + 1)
            .ok()
            .filter(|&n| n < u32::from(elf::PN_XNUM))
            .ok_or_else(|| Error::Writer("more than 65534 mappings".to_string()))?;
        let sorted: Vec<&Mapping> = order.iter().map(|&i| &snapshot.mappings[i]).collect();
        let note_bytes = notes::all_notes(snapshot, &sorted);

        let mut head = HeadBuffer(Vec::new());
        let mut writer = Writer::new(Endianness::Little, true, &mut head);
        // Phase one: reserve every range.
        writer.reserve_file_header();
        writer.reserve_program_headers(phnum);
        let notes_offset = writer.reserve(note_bytes.len() as u64, 4);
        let mut segments = Vec::with_capacity(order.len());
        for &i in &order {
            let file_size = snapshot.mappings[i].file_size();
            let offset = if file_size == 0 {
                writer.reserved_len()
            } else {
                writer.reserve(file_size, PAGE_SIZE)
            };
            segments.push(Segment {
                mapping: i,
                offset,
                file_size,
            });
        }
        let total = writer.reserved_len();

        // Phase two: the head only.
        let machine = match snapshot.arch {
            Arch::X86_64 => elf::EM_X86_64,
            Arch::Aarch64 => elf::EM_AARCH64,
        };
        writer
            .write_file_header(&FileHeader {
                os_abi: elf::ELFOSABI_NONE,
                abi_version: 0,
                e_type: elf::ET_CORE,
                e_machine: machine,
                e_entry: 0,
                e_flags: elf::FileFlags(0),
            })
            .map_err(|e| Error::Writer(e.to_string()))?;
        writer.write_align_program_headers();
        writer.write_program_header(&ProgramHeader {
            p_type: elf::PT_NOTE,
            p_flags: elf::ProgramFlags(0),
            p_offset: notes_offset,
            p_vaddr: 0,
            p_paddr: 0,
            p_filesz: note_bytes.len() as u64,
            p_memsz: 0,
            p_align: 4,
        });
        for segment in &segments {
            let mapping = &snapshot.mappings[segment.mapping];
            writer.write_program_header(&ProgramHeader {
                p_type: elf::PT_LOAD,
                p_flags: program_flags(mapping),
                p_offset: segment.offset,
                p_vaddr: mapping.base,
                p_paddr: 0,
                p_filesz: segment.file_size,
                p_memsz: mapping.size,
                p_align: PAGE_SIZE,
            });
        }
        writer.write_align(4);
        debug_assert_eq!(writer.offset(), notes_offset);
        writer.write(&note_bytes);
        drop(writer);
        Ok(CoreLayout {
            head: head.0,
            segments,
            total,
        })
    }

    /// The ELF header, program headers and notes: the file's first bytes.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Each mapping's place in the file, in file (and address) order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The core's size in bytes.
    pub fn total_size(&self) -> u64 {
        self.total
    }

    /// Emits the whole core, front to back, through `out`. `snapshot` must
    /// be the one the layout was made from. `read(address, buffer)` fills
    /// `buffer` with the target's memory at `address` for
    /// [`Contents::Streamed`] mappings, at most [`CHUNK`] bytes at a time,
    /// and returns false when it cannot (those bytes are written as zeros
    /// and counted in [`WriteSummary::unreadable`]).
    pub fn write<E>(
        &self,
        snapshot: &Snapshot,
        out: &mut dyn FnMut(&[u8]) -> Result<(), E>,
        read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
    ) -> Result<WriteSummary, E> {
        let zeros = [0u8; CHUNK];
        let mut summary = WriteSummary::default();
        let mut emit = |bytes: &[u8], summary: &mut WriteSummary| -> Result<(), E> {
            out(bytes)?;
            summary.bytes += bytes.len() as u64;
            Ok(())
        };
        emit(&self.head, &mut summary)?;
        let mut chunk = [0u8; CHUNK];
        for segment in &self.segments {
            if segment.file_size == 0 {
                continue;
            }
            while summary.bytes < segment.offset {
                let gap = (segment.offset - summary.bytes).min(CHUNK as u64) as usize;
                emit(&zeros[..gap], &mut summary)?;
            }
            let mapping = &snapshot.mappings[segment.mapping];
            match &mapping.contents {
                Contents::Bytes(bytes) => {
                    emit(&bytes[..segment.file_size as usize], &mut summary)?;
                }
                Contents::Streamed => {
                    let mut done = 0u64;
                    while done < segment.file_size {
                        let len = (segment.file_size - done).min(CHUNK as u64) as usize;
                        let buffer = &mut chunk[..len];
                        if !read(mapping.base + done, buffer) {
                            buffer.fill(0);
                            summary.unreadable += len as u64;
                        }
                        emit(buffer, &mut summary)?;
                        done += len as u64;
                    }
                }
                Contents::LeftOut => {}
            }
        }
        while summary.bytes < self.total {
            let gap = (self.total - summary.bytes).min(CHUNK as u64) as usize;
            emit(&zeros[..gap], &mut summary)?;
        }
        Ok(summary)
    }
}

/// The whole core in memory, for snapshots whose mappings are
/// [`Contents::Bytes`] or [`Contents::LeftOut`] (streamed mappings come out
/// as zeros: use [`CoreLayout::write`] for those).
pub fn write_core(snapshot: &Snapshot) -> Result<Vec<u8>, Error> {
    let layout = CoreLayout::new(snapshot)?;
    let mut core = Vec::with_capacity(layout.total_size() as usize);
    let written = layout.write::<core::convert::Infallible>(
        snapshot,
        &mut |bytes| {
            core.extend_from_slice(bytes);
            Ok(())
        },
        &mut |_, _| false,
    );
    match written {
        Ok(_) => Ok(core),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Permissions, Thread};
    use alloc::vec;
    use object::read::elf::{ElfFile64, ProgramHeader as _};

    fn snapshot() -> Snapshot {
        let thread = |koid| Thread {
            koid,
            registers: vec![0; Arch::Aarch64.general_register_count()],
            fp: None,
            signal: 5,
            fault_address: None,
        };
        let mapping = |base, size, contents| Mapping {
            base,
            size,
            permissions: Permissions::RW,
            name: "m".into(),
            file: None,
            contents,
        };
        Snapshot {
            arch: Arch::Aarch64,
            program: "a-program-with-a-long-name".into(),
            arguments: String::new(),
            process_koid: 9,
            entry: 0x200000,
            threads: vec![thread(10), thread(11)],
            mappings: vec![
                mapping(0x5000, 0x2000, Contents::Bytes(vec![0xab; 0x100])),
                mapping(0x1000, 0x1000, Contents::LeftOut),
                mapping(0x9000, 0x1000, Contents::Bytes(vec![0xcd; 0x1000])),
            ],
        }
    }

    #[test]
    fn program_headers_note_first_then_loads_sorted_and_aligned() {
        let core = write_core(&snapshot()).unwrap();
        let file = ElfFile64::<Endianness>::parse(core.as_slice()).unwrap();
        let endian = file.endian();
        assert_eq!(file.elf_header().e_type.get(endian), elf::ET_CORE);
        let headers = file.elf_program_headers();
        assert_eq!(headers.len(), 4);
        assert_eq!(headers[0].p_type(endian), elf::PT_NOTE);
        assert_eq!(headers[0].p_offset(endian) % 4, 0);
        assert_eq!(headers[0].p_memsz(endian), 0);
        let loads: Vec<(u64, u64, u64, u64)> = headers[1..]
            .iter()
            .map(|h| {
                (
                    h.p_vaddr(endian),
                    h.p_offset(endian),
                    h.p_filesz(endian),
                    h.p_memsz(endian),
                )
            })
            .collect();
        assert_eq!(loads[0].0, 0x1000);
        assert_eq!((loads[0].2, loads[0].3), (0, 0x1000), "left out");
        assert_eq!(
            (loads[1].0, loads[1].2, loads[1].3),
            (0x5000, 0x100, 0x2000)
        );
        assert_eq!(loads[2].0, 0x9000);
        for &(_, offset, size, _) in &loads[1..] {
            assert_eq!(offset % PAGE_SIZE, 0);
            assert!(
                core[offset as usize..][..size as usize]
                    .iter()
                    .all(|&b| b == 0xab || b == 0xcd)
            );
        }
        assert_eq!(core.len() as u64, loads[2].1 + 0x1000);
        // The program name is cut to pr_fname's 15 bytes.
        let name = b"a-program-with-\0";
        assert!(core.windows(name.len()).any(|w| w == name));
    }

    #[test]
    fn bad_snapshots_are_refused() {
        let mut overlapping = snapshot();
        overlapping.mappings[1].size = 0x4001;
        assert_eq!(
            CoreLayout::new(&overlapping).unwrap_err(),
            Error::BadMapping {
                base: 0x5000,
                size: 0x2000
            }
        );
        let mut no_threads = snapshot();
        no_threads.threads.clear();
        assert_eq!(CoreLayout::new(&no_threads).unwrap_err(), Error::NoThreads);
        let mut short = snapshot();
        short.threads[1].registers.pop();
        assert_eq!(
            CoreLayout::new(&short).unwrap_err(),
            Error::RegisterCount {
                koid: 11,
                count: 34
            }
        );
        let mut wrong_fp = snapshot();
        wrong_fp.threads[0].fp = Some(crate::FpRegisters::X86_64 { fxsave: [0; 512] });
        assert_eq!(
            CoreLayout::new(&wrong_fp).unwrap_err(),
            Error::FpArch { koid: 10 }
        );
    }
}
