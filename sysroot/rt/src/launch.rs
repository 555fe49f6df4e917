//! Starting a program of the boot image in a new process, from userspace:
//! find the file in the boot image VMO, create the process, copy each ELF
//! `PT_LOAD` segment into a VMO mapped at its address, map a stack, and
//! start the first thread with a bootstrap channel (`spinel_abi::bootstrap`)
//! carrying the arguments and tagged handles.
//!
//! [`prepare`] stops short of starting, so that a caller can attach
//! handlers (a debugger channel, say) to the new process first.
//!
//! Rules this module keeps:
//! - **No format parsed by hand.** The boot image's directory is checked by
//!   `spinel_bootfs` (the kernel's reader of the same image) and the ELF
//!   headers by `spinel_elf` (the kernel's loader's reader); this module
//!   only moves bytes between VMOs, after the same checks the kernel's
//!   loader makes (a fixed-address executable for this machine, every
//!   segment sound). Whatever they refuse is INVALID_ARGS.
//! - **Read what is needed, from the VMO**: the directory, the ELF header
//!   and program headers, then each segment in `COPY_CHUNK` pieces; never
//!   the whole image, and no allocation sized by an unchecked field.
//! - No `unsafe`: everything goes through `spinel_zx`'s safe wrappers.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use spinel_elf::Program;

use crate::zx::abi::bootstrap::{
    self, TAG_BOOT_IMAGE, TAG_JOB, TAG_PROCESS_SELF, TAG_THREAD_SELF, TAG_VMAR_ROOT,
};
use crate::zx::abi::vm::{VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE, VM_SPECIFIC};
use crate::zx::channel::channel_write;
use crate::zx::{
    Channel, Handle, HandleBased, HandleValue, Job, Process, Rights, Status, Thread, Vmar, Vmo,
};

/// Stack size of a launched program's first thread.
pub const STACK_SIZE: u64 = 256 * 1024;
const PAGE: u64 = 4096;
/// Bytes moved per `vmo_read` / `vmo_write` while loading.
const COPY_CHUNK: usize = 16 * 1024;

/// The boot image, as the VMO init hands out (`TAG_BOOT_IMAGE`).
#[derive(Debug)]
pub struct BootImage {
    pub vmo: Vmo,
}

/// Where one file lies in the boot image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRange {
    pub offset: u64,
    pub len: u64,
}

impl BootImage {
    pub fn new(vmo: Vmo) -> Self {
        BootImage { vmo }
    }

    /// Every file's name and place, in image order (INVALID_ARGS if the
    /// directory is malformed). Reads only the directory (header, entries,
    /// names), never the files, and checks it with `spinel_bootfs`, the
    /// format's one reader.
    pub fn entries(&self) -> Result<Vec<(String, FileRange)>, Status> {
        let bad = |_| Status::INVALID_ARGS;
        let mut directory = vec![0u8; spinel_bootfs::HEADER_LEN];
        self.vmo.read(&mut directory, 0)?;
        // Header, then header and entry table, then all of it with names.
        for next_len in [spinel_bootfs::table_len, spinel_bootfs::directory_len] {
            let len = next_len(&directory).map_err(bad)?;
            // A length the VMO does not hold is refused before any
            // allocation of that size.
            let last = u64::try_from(len - 1).map_err(|_| Status::INVALID_ARGS)?;
            self.vmo.read(&mut [0u8], last)?;
            directory.resize(len, 0);
            self.vmo.read(&mut directory, 0)?;
        }
        let parsed = spinel_bootfs::Directory::parse(&directory, None).map_err(bad)?;
        Ok(parsed
            .entries()
            .map(|entry| {
                let range = FileRange {
                    offset: entry.offset,
                    len: entry.len,
                };
                (String::from(entry.name), range)
            })
            .collect())
    }

    /// The names of the files, in image order.
    pub fn names(&self) -> Result<Vec<String>, Status> {
        Ok(self.entries()?.into_iter().map(|(name, _)| name).collect())
    }

    /// The file called `name` (NOT_FOUND if absent, INVALID_ARGS if the
    /// directory is malformed).
    pub fn find(&self, name: &str) -> Result<FileRange, Status> {
        self.entries()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, range)| range)
            .ok_or(Status::NOT_FOUND)
    }

    fn read(&self, file: FileRange, offset: u64, out: &mut [u8]) -> Result<(), Status> {
        let end = offset
            .checked_add(out.len() as u64)
            .ok_or(Status::INVALID_ARGS)?;
        if end > file.len {
            return Err(Status::INVALID_ARGS);
        }
        let at = file
            .offset
            .checked_add(offset)
            .ok_or(Status::INVALID_ARGS)?;
        self.vmo.read(out, at)
    }
}

/// A process created and loaded, its first thread not yet started.
#[derive(Debug)]
pub struct Prepared {
    pub process: Process,
    pub thread: Thread,
    pub entry: u64,
    pub stack_top: u64,
    /// The child's end of the bootstrap channel (the message is queued).
    bootstrap: Channel,
}

impl Prepared {
    /// Start the first thread (`process_start`, with the bootstrap channel
    /// as its first argument).
    pub fn start(self) -> Result<(Process, Thread), Status> {
        self.process.start(
            &self.thread,
            self.entry,
            self.stack_top,
            self.bootstrap.into_handle(),
            0,
        )?;
        Ok((self.process, self.thread))
    }
}

/// What a launched program receives besides its own process, thread and
/// VMAR handles.
#[derive(Debug, Default)]
pub struct Inherit<'a> {
    /// Given as `TAG_JOB` (a duplicate), for the program's own children.
    pub job: Option<&'a Job>,
    /// Given as `TAG_BOOT_IMAGE` (a duplicate).
    pub boot_image: Option<&'a BootImage>,
    /// More handles, with their tags (moved).
    pub handles: Vec<(u32, Handle)>,
}

/// Create a process for `program` in `job`, load it from `image`, and
/// prepare its bootstrap message (`args`, then the process's own process,
/// thread and root VMAR handles, then what `inherit` names).
pub fn prepare(
    job: &Job,
    image: &BootImage,
    program: &str,
    args: &str,
    inherit: Inherit<'_>,
) -> Result<Prepared, Status> {
    let file = image.find(program)?;
    let (process, vmar) = job.create_process(program.as_bytes())?;
    let entry = load_elf(image, file, &vmar)?;

    let stack = Vmo::create(STACK_SIZE)?;
    let stack_base = vmar.map(VM_PERM_READ | VM_PERM_WRITE, 0, &stack, 0, STACK_SIZE)?;
    let thread = process.create_thread(program.as_bytes())?;

    let mut tagged: Vec<(u32, Handle)> = vec![
        (
            TAG_PROCESS_SELF,
            process.duplicate(Rights::SAME_RIGHTS)?.into_handle(),
        ),
        (
            TAG_THREAD_SELF,
            thread.duplicate(Rights::SAME_RIGHTS)?.into_handle(),
        ),
        (TAG_VMAR_ROOT, vmar.into_handle()),
    ];
    if let Some(job) = inherit.job {
        tagged.push((TAG_JOB, job.duplicate(Rights::SAME_RIGHTS)?.into_handle()));
    }
    if let Some(image) = inherit.boot_image {
        tagged.push((
            TAG_BOOT_IMAGE,
            image.vmo.duplicate(Rights::SAME_RIGHTS)?.into_handle(),
        ));
    }
    tagged.extend(inherit.handles);

    let tags: Vec<u32> = tagged.iter().map(|(tag, _)| *tag).collect();
    let mut message = vec![0u8; bootstrap::HEADER_SIZE + tags.len() * 4 + args.len()];
    let size = bootstrap::encode(&tags, args, &mut message).ok_or(Status::INTERNAL)?;
    let values: Vec<HandleValue> = tagged.into_iter().map(|(_, h)| h.into_raw()).collect();
    let (ours, theirs) = Channel::create()?;
    channel_write(ours.raw(), 0, &message[..size], &values)?;
    Ok(Prepared {
        process,
        thread,
        entry,
        stack_top: stack_base + STACK_SIZE,
        bootstrap: theirs,
    })
}

/// [`prepare`], then start.
pub fn launch(
    job: &Job,
    image: &BootImage,
    program: &str,
    args: &str,
    inherit: Inherit<'_>,
) -> Result<(Process, Thread), Status> {
    prepare(job, image, program, args, inherit)?.start()
}

/// The `e_machine` of the programs this CPU runs.
fn machine() -> u16 {
    match crate::zx::arch::ARCH {
        "aarch64" => spinel_elf::EM_AARCH64,
        _ => spinel_elf::EM_X86_64,
    }
}

/// Map each `PT_LOAD` segment of the ELF64 file at its address, as
/// `spinel_elf` (the one ELF reader, the kernel's loader's too) describes
/// it; returns the entry point.
fn load_elf(image: &BootImage, file: FileRange, vmar: &Vmar) -> Result<u64, Status> {
    let bad = |_| Status::INVALID_ARGS;
    let mut header = [0u8; spinel_elf::HEADER_LEN];
    image.read(file, 0, &mut header)?;
    let header = spinel_elf::Header::parse(&header).map_err(bad)?;
    header.check_executable(machine()).map_err(bad)?;
    let table_range = header.program_headers().map_err(bad)?;
    let table_len =
        usize::try_from(table_range.end - table_range.start).map_err(|_| Status::INVALID_ARGS)?;
    if table_len > 0 {
        // The table's last byte must be in the file and the VMO before a
        // buffer of its length is allocated.
        image.read(file, table_range.end - 1, &mut [0u8])?;
    }
    let mut table = vec![0u8; table_len];
    image.read(file, table_range.start, &mut table)?;
    let program = Program::parse(&header, &table, file.len, PAGE).map_err(bad)?;

    let mut buffer = vec![0u8; COPY_CHUNK];
    for segment in program.segments() {
        let vmo = Vmo::create(segment.pages_len())?;
        let (offset, filesz) = (segment.offset, segment.filesz);
        let mut done = 0u64;
        while done < filesz {
            let n = ((filesz - done) as usize).min(COPY_CHUNK);
            image.read(file, offset + done, &mut buffer[..n])?;
            vmo.write(&buffer[..n], segment.offset_in_pages() + done)?;
            done += n as u64;
        }
        let mut options = VM_SPECIFIC | VM_PERM_READ;
        if segment.writable {
            options |= VM_PERM_WRITE;
        }
        if segment.executable {
            options |= VM_PERM_EXECUTE;
        }
        vmar.map(options, segment.page_start, &vmo, 0, segment.pages_len())?;
    }
    Ok(program.entry)
}
