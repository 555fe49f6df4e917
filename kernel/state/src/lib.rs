//! Spinel's kernel state: every kernel object, every process's address
//! space, the system calls in flight and the devices they reach, in one
//! value ([`KernelState`]) that the bootable kernel keeps behind its one
//! lock. Portable and tested on the host.
//!
//! Three ways in, one module each:
//! - [`syscall`]: the decoder, from a call number and eight registers to a
//!   rule of the object layer, one file per family;
//! - `page_fault`: a user page fault, handed to the faulting process's
//!   `VmSpace`;
//! - `bootstrap`: the first process, loaded from the boot image.
//!
//! Principles:
//! - **Rules live in the object layer.** Handles, rights, types, options
//!   and states are checked by `Kernel::sys_*` (`spinel-object`), in
//!   Zircon's order; this crate only moves bytes and carries out what the
//!   rules decide (mapping pages, moving bytes to devices).
//! - **All user memory through one typed module** ([`user`]): pointer
//!   arguments can only be read or written through the caller's
//!   [`spinel_vm::VmSpace`], which checks every byte against its mappings:
//!   a bad pointer is `INVALID_ARGS`, never a kernel fault.
//! - **No hardware, no unsafe.** Page tables come in as the HAL's
//!   `AddressSpace` type parameter, physical pages as
//!   [`spinel_vm::PhysicalMemory`], devices through [`Devices`]; time is
//!   read from the devices and handed to the object layer.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod bootstrap;
mod page_fault;
pub mod syscall;
pub mod user;

pub use bootstrap::{BootError, Bootstrap, INIT_STACK_SIZE};

use spinel_abi::{Koid, Status};
use spinel_hal_api::AddressSpace;
use spinel_object::{Config, IntMap, Kernel};
use spinel_vm::{PhysicalMemory, VmSpace};

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
    /// `thread_read_state(THREAD_STATE_FP_REGS)`: the FP/SIMD state of a
    /// user thread the object layer has found stopped (it lives in the
    /// thread's HAL context, which the glue owns; the object layer keeps
    /// only general registers), in the arch's `NT_FPREGSET` layout, into
    /// `out`. Returns the bytes written; BUFFER_TOO_SMALL when `out` is
    /// short, BAD_STATE if the glue cannot reach the context now.
    fn read_fp_registers(&self, thread: Koid, out: &mut [u8]) -> Result<usize, Status>;
    /// `thread_write_state(THREAD_STATE_FP_REGS)`: replace that state,
    /// used when the thread next runs. INVALID_ARGS for a wrong size or
    /// reserved control bits (checked by the HAL; nothing is changed).
    fn write_fp_registers(&self, thread: Koid, data: &[u8]) -> Result<(), Status>;
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

/// The whole kernel state: the object layer, every process's address
/// space, the calls in flight, and the devices: all a system call or a
/// fault can touch. The glue keeps one, behind one lock.
pub struct KernelState<A: AddressSpace> {
    pub objects: Kernel,
    spaces: IntMap<VmSpace<A>>,
    pending: IntMap<syscall::Pending>,
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

    /// The glue's note that a process is gone: free its address space.
    /// The caller must not have that space active any more.
    pub fn process_exited(&mut self, process: Koid) {
        self.spaces.remove(&process);
    }
}
