//! Starting the first user process: the kernel loads `init` from the boot
//! image itself, gives it a stack and a bootstrap message, and starts it.
//! Everything after that (more programs, jobs) is userspace's doing, through
//! system calls.

use crate::KernelState;
use alloc::sync::Arc;
use spinel_abi::bootstrap::{
    self, TAG_BOOT_IMAGE, TAG_DEBUG_LINK, TAG_JOB, TAG_PROCESS_SELF, TAG_THREAD_SELF, TAG_VMAR_ROOT,
};
use spinel_abi::{Koid, Rights, Status};
use spinel_bootfs::BootImage;
use spinel_hal_api::{AddressSpace, PageFlags};
use spinel_object::ResourceKind;
use spinel_vm::Vmo;
use spinel_vm::elf::{self, ElfError};

/// Size of the first thread's stack.
pub const INIT_STACK_SIZE: u64 = 256 * 1024;

/// Why the first process could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// The kernel carries no boot image (built without `cargo xtask`).
    NoBootImage,
    BadBootImage(spinel_bootfs::Error),
    /// The boot image has no program of that name.
    MissingProgram,
    BadProgram(ElfError),
    Object(Status),
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootError::NoBootImage => write!(
                f,
                "the kernel carries no boot image (build it with `cargo xtask`)"
            ),
            BootError::BadBootImage(e) => write!(f, "{e}"),
            BootError::MissingProgram => write!(f, "the boot image has no such program"),
            BootError::BadProgram(e) => write!(f, "{e}"),
            BootError::Object(status) => write!(f, "creating the process failed: {status:?}"),
        }
    }
}

impl From<Status> for BootError {
    fn from(status: Status) -> Self {
        BootError::Object(status)
    }
}

/// The started first process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bootstrap {
    pub process: Koid,
    pub thread: Koid,
    pub entry: u64,
}

impl<A: AddressSpace> KernelState<A> {
    /// Load `program` from `image` into a new process of the root job and
    /// start its first thread with a bootstrap channel carrying `args` and
    /// handles to the root job, itself, its thread and VMAR, the boot image
    /// (`image_vmo`, the same bytes as a VMO, handed out read-only) and the
    /// debug link. `machine` is the ELF machine of this CPU.
    pub fn start_first_process(
        &mut self,
        image: &'static [u8],
        image_vmo: Arc<Vmo>,
        program: &str,
        args: &str,
        machine: u16,
    ) -> Result<Bootstrap, BootError> {
        if image.is_empty() {
            return Err(BootError::NoBootImage);
        }
        let boot = BootImage::parse(image).map_err(BootError::BadBootImage)?;
        let file = boot.find(program).ok_or(BootError::MissingProgram)?;

        let root = self.objects.root_job();
        let process = self.objects.create_process(root, program.as_bytes())?;
        let vmar = self.objects.create_vmar(process);
        let memory = self.memory;
        let space = self.space_for(process)?;
        let loaded = elf::load(space, memory, file.data, machine).map_err(BootError::BadProgram)?;
        let stack = Arc::new(Vmo::new(memory, INIT_STACK_SIZE)?);
        let stack_base = space.map(None, stack, 0, INIT_STACK_SIZE, PageFlags::USER_RW)?;
        let stack_top = stack_base + INIT_STACK_SIZE;

        // The boot image as a VMO, for init to start the other programs from.
        let image_koid = self.objects.create_vmo_object(image_vmo);
        let link = self.objects.create_resource(ResourceKind::DebugLink);
        self.debug_link = Some(link);
        let thread = self.objects.create_thread(process, program.as_bytes())?;

        let tags = [
            TAG_JOB,
            TAG_PROCESS_SELF,
            TAG_THREAD_SELF,
            TAG_VMAR_ROOT,
            TAG_BOOT_IMAGE,
            TAG_DEBUG_LINK,
        ];
        let grants = [
            (root, Rights::DEFAULT_JOB),
            (process, Rights::DEFAULT_PROCESS),
            (thread, Rights::DEFAULT_THREAD),
            (vmar, Rights::DEFAULT_VMAR),
            (
                image_koid,
                Rights::DEFAULT_VMO
                    .union(Rights::EXECUTE)
                    .difference(Rights::WRITE),
            ),
            // WAIT: its holder can wait for READABLE (bytes on the line).
            (link, Rights::DEFAULT_RESOURCE.union(Rights::WAIT)),
        ];
        let mut message = alloc::vec![0u8; bootstrap::HEADER_SIZE + tags.len() * 4 + args.len()];
        bootstrap::encode(&tags, args, &mut message).ok_or(BootError::Object(Status::INTERNAL))?;
        let channel = self.objects.bootstrap_channel(process, &message, &grants)?;
        // The grants hold the objects now; these were only ever kernel-made.
        self.objects.start_process(
            process,
            thread,
            loaded.entry,
            stack_top,
            u64::from(channel.raw()),
            0,
        )?;
        Ok(Bootstrap {
            process,
            thread,
            entry: loaded.entry,
        })
    }
}
