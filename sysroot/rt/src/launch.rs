//! Starting a program of the boot image in a new process, from userspace:
//! find the file in the boot image VMO, create the process, copy each ELF
//! `PT_LOAD` segment into a VMO mapped at its address, map a stack, and
//! start the first thread with a bootstrap channel (`spinel_abi::bootstrap`)
//! carrying the arguments and tagged handles.
//!
//! [`prepare`] stops short of starting, so that a caller can attach
//! handlers (a debugger channel, say) to the new process first.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

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

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

impl BootImage {
    pub fn new(vmo: Vmo) -> Self {
        BootImage { vmo }
    }

    /// Every file's name and place, in image order (INVALID_ARGS if the
    /// directory is malformed). Reads only the directory (header, entries,
    /// names), never the files.
    pub fn entries(&self) -> Result<Vec<(String, FileRange)>, Status> {
        const HEADER: usize = 16;
        const ENTRY: usize = 24;
        let bad = Status::INVALID_ARGS;
        let mut header = [0u8; HEADER];
        self.vmo.read(&mut header, 0)?;
        if &header[..8] != b"SPNLBOOT" || u32_at(&header, 8) != Some(1) {
            return Err(bad);
        }
        let count = u32_at(&header, 12).ok_or(bad)? as usize;
        let mut entries = vec![0u8; count.checked_mul(ENTRY).ok_or(bad)?];
        self.vmo.read(&mut entries, HEADER as u64)?;
        let mut files = Vec::with_capacity(count);
        for entry in entries.chunks_exact(ENTRY) {
            let name_offset = u32_at(entry, 0).ok_or(bad)?;
            let name_len = u32_at(entry, 4).ok_or(bad)? as usize;
            if name_len > 255 {
                return Err(bad);
            }
            let mut name = vec![0u8; name_len];
            self.vmo.read(&mut name, u64::from(name_offset))?;
            let name = String::from_utf8(name).map_err(|_| bad)?;
            let range = FileRange {
                offset: u64_at(entry, 8).ok_or(bad)?,
                len: u64_at(entry, 16).ok_or(bad)?,
            };
            files.push((name, range));
        }
        Ok(files)
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
        self.vmo.read(out, file.offset + offset)
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

/// Map each `PT_LOAD` segment of the ELF64 file at its address; returns the
/// entry point.
fn load_elf(image: &BootImage, file: FileRange, vmar: &Vmar) -> Result<u64, Status> {
    const PT_LOAD: u32 = 1;
    const PF_X: u32 = 1;
    const PF_W: u32 = 2;
    const PHDR_SIZE: usize = 56;
    let bad = Status::INVALID_ARGS;

    let mut header = [0u8; 64];
    image.read(file, 0, &mut header)?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err(bad);
    }
    let entry = u64_at(&header, 24).ok_or(bad)?;
    let phoff = u64_at(&header, 32).ok_or(bad)?;
    let phentsize = u16_at(&header, 54).ok_or(bad)? as usize;
    let phnum = u16_at(&header, 56).ok_or(bad)? as usize;
    if phentsize < PHDR_SIZE {
        return Err(bad);
    }
    let mut headers = vec![0u8; phentsize * phnum];
    image.read(file, phoff, &mut headers)?;

    let mut buffer = vec![0u8; COPY_CHUNK];
    for index in 0..phnum {
        let ph = &headers[index * phentsize..][..PHDR_SIZE];
        if u32_at(ph, 0) != Some(PT_LOAD) {
            continue;
        }
        let flags = u32_at(ph, 4).ok_or(bad)?;
        let offset = u64_at(ph, 8).ok_or(bad)?;
        let vaddr = u64_at(ph, 16).ok_or(bad)?;
        let filesz = u64_at(ph, 32).ok_or(bad)?;
        let memsz = u64_at(ph, 40).ok_or(bad)?;
        if memsz == 0 {
            continue;
        }
        if filesz > memsz {
            return Err(bad);
        }
        let start = vaddr & !(PAGE - 1);
        let end = vaddr
            .checked_add(memsz)
            .and_then(|e| e.checked_next_multiple_of(PAGE))
            .ok_or(bad)?;
        let vmo = Vmo::create(end - start)?;
        let mut done = 0u64;
        while done < filesz {
            let n = ((filesz - done) as usize).min(COPY_CHUNK);
            image.read(file, offset + done, &mut buffer[..n])?;
            vmo.write(&buffer[..n], vaddr - start + done)?;
            done += n as u64;
        }
        let mut options = VM_SPECIFIC | VM_PERM_READ;
        if flags & PF_W != 0 {
            options |= VM_PERM_WRITE;
        }
        if flags & PF_X != 0 {
            options |= VM_PERM_EXECUTE;
        }
        vmar.map(options, start, &vmo, 0, end - start)?;
    }
    Ok(entry)
}
