//! Spinel's system-call layer, portable and tested on the host.
//!
//! Principles:
//! - **A thin decoder.** [`KernelState::syscall`] turns a call number and eight
//!   argument registers into a call of the object layer (`Kernel::sys_*`),
//!   following the signatures of the one syscall table
//!   (`spinel_abi::Syscall::signature`). Rules about handles, rights and
//!   states live in the object layer, not here.
//! - **All user memory through the VM.** Arguments that are pointers are
//!   read and written only through [`spinel_vm::VmSpace`] copies, which
//!   check every byte against the caller's mappings: a bad pointer is
//!   `INVALID_ARGS`, never a kernel fault. Output pointers are checked
//!   *before* the operation, so a call never half-succeeds.
//! - **Bounded work per call.** Kernel-side buffers are capped (message,
//!   info, memory sizes), so no argument makes the kernel allocate without
//!   limit.
//! - **No hardware, no unsafe.** Page tables come in as the HAL's
//!   `AddressSpace` type parameter, devices through [`Devices`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod bootstrap;
mod syscall;
mod user;

pub use bootstrap::{BootError, Bootstrap, INIT_STACK_SIZE};

use spinel_abi::{Koid, Status, Syscall};
use spinel_hal_api::AddressSpace;
use spinel_object::{Completion, Config, IntMap, Kernel};
use spinel_vm::{Access, PhysicalMemory, VmSpace};

/// Devices the system calls reach, implemented by the kernel glue.
pub trait Devices: Sync {
    /// `debug_write`: the kernel console.
    fn console_write(&self, bytes: &[u8]);
    /// `debug_link_write`: the debugger's serial line.
    fn debug_link_write(&self, bytes: &[u8]);
    /// `debug_link_read`: bytes waiting on the debugger's line (never blocks).
    fn debug_link_read(&self, buffer: &mut [u8]) -> usize;
    /// Monotonic nanoseconds since boot.
    fn now_ns(&self) -> u64;
}

/// What became of a system call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Return this value in the result register (a status, or a value for
    /// the calls whose signature says so).
    Return(u64),
    /// The caller is parked; its result arrives later through
    /// [`KernelState::finish_blocked`].
    Blocked,
}

/// A call that blocked, remembered until it finishes: its output pointers
/// are written then.
#[derive(Clone, Copy, Debug)]
struct Pending {
    call: Syscall,
    args: [u64; 8],
}

/// The object layer, every process's address space, and the devices: all a
/// system call can touch. The glue keeps one, behind one lock.
pub struct KernelState<A: AddressSpace> {
    pub objects: Kernel,
    spaces: IntMap<VmSpace<A>>,
    pending: IntMap<Pending>,
    memory: &'static dyn PhysicalMemory,
    devices: &'static dyn Devices,
    /// The debug-link resource given to init.
    debug_link: Option<Koid>,
}

impl<A: AddressSpace> core::fmt::Debug for KernelState<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KernelState")
            .field("objects", &self.objects)
            .field("spaces", &self.spaces.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl<A: AddressSpace> KernelState<A> {
    pub fn new(
        config: Config,
        memory: &'static dyn PhysicalMemory,
        devices: &'static dyn Devices,
    ) -> Self {
        KernelState {
            objects: Kernel::new(config),
            spaces: IntMap::new(),
            pending: IntMap::new(),
            memory,
            devices,
            debug_link: None,
        }
    }

    /// The address space of a live process.
    pub fn space(&self, process: Koid) -> Option<&VmSpace<A>> {
        self.spaces.get(&process)
    }

    /// Number of address spaces alive (for leak checks).
    pub fn space_count(&self) -> usize {
        self.spaces.len()
    }

    /// Make sure `process` has an address space (created on first need).
    fn space_for(&mut self, process: Koid) -> Result<&mut VmSpace<A>, Status> {
        if !self.spaces.contains_key(&process) {
            let space = VmSpace::new(self.memory)?;
            self.spaces.insert(process, space);
        }
        Ok(self.spaces.get_mut(&process).expect("inserted above"))
    }

    /// Tell the object layer the time.
    pub fn advance_time(&mut self) {
        self.objects.advance_time(self.devices.now_ns());
    }

    /// Bytes arrived on the debug link (its UART interrupted): its resource
    /// becomes READABLE until a `debug_link_read` drains the line.
    pub fn debug_link_ready(&mut self) {
        if let Some(link) = self.debug_link {
            self.objects.set_resource_readable(link, true);
        }
    }

    /// A user-mode page fault of `thread` at `address`: map the page if the
    /// thread's process may make that access. An error is the status the
    /// exception report carries (`synth_code`) when the fault becomes a
    /// FATAL_PAGE_FAULT exception.
    pub fn page_fault(&mut self, thread: Koid, address: u64, access: Access) -> Result<(), Status> {
        let process = self
            .objects
            .thread_process(thread)
            .ok_or(Status::BAD_STATE)?;
        self.spaces
            .get_mut(&process)
            .ok_or(Status::NOT_FOUND)?
            .fault(address, access)
    }

    /// A blocked call finished with `status` and `completion`: write its
    /// outputs and return the value for the result register.
    pub fn finish_blocked(&mut self, thread: Koid, status: Status, completion: Completion) -> u64 {
        let Some(pending) = self.pending.remove(&thread) else {
            return status.into_raw() as i64 as u64;
        };
        let status = if status.is_ok() {
            self.write_completion(thread, &pending, completion)
        } else {
            status
        };
        status.into_raw() as i64 as u64
    }

    /// The glue's note that a thread is gone: forget its pending call.
    pub fn thread_exited(&mut self, thread: Koid) {
        self.pending.remove(&thread);
    }

    /// The glue's note that a process is gone: free its address space.
    /// The caller must not have that space active any more.
    pub fn process_exited(&mut self, process: Koid) {
        self.spaces.remove(&process);
    }

    fn write_completion(
        &mut self,
        thread: Koid,
        pending: &Pending,
        completion: Completion,
    ) -> Status {
        let Some(process) = self.objects.thread_process(thread) else {
            return Status::BAD_STATE;
        };
        let result = match (pending.call, completion) {
            (Syscall::ObjectWaitOne, Completion::Signals(signals)) if pending.args[3] != 0 => {
                self.copy_out(process, pending.args[3], &signals.bits().to_le_bytes())
            }
            (Syscall::PortWait, Completion::Packet(packet)) => {
                self.copy_out(process, pending.args[2], &packet.to_bytes())
            }
            _ => Ok(()),
        };
        result.err().unwrap_or(Status::OK)
    }
}
