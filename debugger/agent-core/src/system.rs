//! What the agent needs from the world: the kernel ([`System`]) and the
//! debug link ([`Link`]).
//!
//! Both are traits taken as generic parameters (static dispatch: the guest
//! binary has one implementation of each, the client's fake agent another),
//! so the agent's logic is written once and tested on the host. Handles are
//! associated types owned by the agent's state; every kernel call answers
//! `Result<_, Status>` with the kernel's own status, which the agent turns
//! into the protocol's errors.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use spinel_abi::Koid;
use spinel_abi::Status;
use spinel_abi::exception::ExceptionReport;
use spinel_abi::thread::{MAX_GENERAL_REGS, RegisterLayout};
use spinel_debug_protocol::{AgentMessage, Arch, FrameError};

/// A thread's general registers: the slots of one architecture's
/// [`RegisterLayout`] (`spinel_abi::thread` order).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ThreadRegisters {
    pub slots: [u64; MAX_GENERAL_REGS],
    pub layout: RegisterLayout,
}

impl ThreadRegisters {
    /// All zero.
    pub fn new(layout: RegisterLayout) -> Self {
        ThreadRegisters {
            slots: [0; MAX_GENERAL_REGS],
            layout,
        }
    }
    /// The slots this architecture uses.
    #[inline]
    pub fn values(&self) -> &[u64] {
        &self.slots[..self.layout.count]
    }
    #[inline]
    pub fn pc(&self) -> u64 {
        self.slots[self.layout.pc]
    }
    #[inline]
    pub fn set_pc(&mut self, pc: u64) {
        self.slots[self.layout.pc] = pc;
    }
    #[inline]
    pub fn arg0(&self) -> u64 {
        self.slots[self.layout.arg0]
    }
}

/// What a process-debugger channel holds next.
pub enum NextException<E> {
    /// An exception: the thread's koid, the exception type, its handle.
    Exception(Koid, u32, E),
    /// Nothing queued now.
    Empty,
    /// The channel failed or its peer is gone.
    Closed,
}

/// The kernel as the agent uses it: the watched job, the processes and
/// threads it caught, their exceptions, memory and registers.
///
/// `'elf` is how long the programs' ELF images live (the guest maps them
/// for good: `'static`).
pub trait System<'elf> {
    /// A process handle.
    type Process;
    /// A thread handle.
    type Thread;
    /// An exception handle: the thread stays stopped while it is held.
    type Exception;
    /// A process-debugger channel: dropping it detaches.
    type Attachment;

    /// The architecture the agent and its targets run on.
    fn arch(&self) -> Arch;
    /// The monotonic clock, in nanoseconds (guest instructions under the
    /// benchmark's `-icount`).
    fn clock(&self) -> i64;
    /// One line on the agent's console.
    fn log(&self, message: fmt::Arguments<'_>);

    /// The watched job's koid, its parent's (if any) and its name.
    fn job_koid(&self) -> Koid;
    fn job_parent(&self) -> Option<Koid>;
    fn job_name(&self) -> String;

    /// The ELF image of the program called `name`, or why there is none.
    fn program(&mut self, name: &str) -> Result<&'elf [u8], String>;

    // ---- processes ----
    fn process_name(&self, process: &Self::Process) -> String;
    /// The koid of the job holding `process`.
    fn process_job(&self, process: &Self::Process) -> Result<Koid, Status>;
    /// The process's return code once it has ended (0 if unknown).
    fn return_code(&self, process: &Self::Process) -> i64;
    /// Be told (through [`crate::Agent::process_terminated`]) when the
    /// process ends.
    fn watch_termination(&mut self, process: &Self::Process, pid: Koid) -> Result<(), Status>;
    /// Bytes read at `address`: how many (fewer at the end of a mapping).
    fn read_memory(
        &self,
        process: &Self::Process,
        address: u64,
        bytes: &mut [u8],
    ) -> Result<usize, Status>;
    /// Bytes written at `address` (read-only text included).
    fn write_memory(
        &self,
        process: &Self::Process,
        address: u64,
        bytes: &[u8],
    ) -> Result<usize, Status>;
    fn kill_process(&self, process: &Self::Process) -> Result<(), Status>;

    // ---- the process-debugger channel ----
    /// Become the process's debugger.
    fn create_debugger_channel(
        &mut self,
        process: &Self::Process,
    ) -> Result<Self::Attachment, Status>;
    /// Be told once (through [`crate::Agent::debugger_channel_readable`]
    /// with this `generation`) when the channel has something to read.
    fn arm(&mut self, channel: &Self::Attachment, pid: Koid, generation: u64)
    -> Result<(), Status>;
    /// Take the next exception off the channel.
    fn next_exception(&mut self, channel: &Self::Attachment) -> NextException<Self::Exception>;

    // ---- exceptions ----
    fn exception_thread(&self, exception: &Self::Exception) -> Result<Self::Thread, Status>;
    /// Set the exception's state (`EXCEPTION_STATE_HANDLED` / `_TRY_NEXT`)
    /// and close it: the thread goes on.
    fn resolve(&mut self, exception: Self::Exception, state: u32) -> Result<(), Status>;

    // ---- threads ----
    fn thread_name(&self, thread: &Self::Thread) -> String;
    /// `INFO_THREAD`'s state (`spinel_abi::info::THREAD_STATE_*`).
    fn thread_state(&self, thread: &Self::Thread) -> Result<u32, Status>;
    /// The report of the exception the thread is stopped in.
    fn exception_report(&self, thread: &Self::Thread) -> Result<ExceptionReport, Status>;
    fn read_registers(&self, thread: &Self::Thread) -> Result<ThreadRegisters, Status>;
    /// The thread's pc alone (resuming needs only that: a binding may
    /// spare the copy of every register).
    fn read_pc(&self, thread: &Self::Thread) -> Result<u64, Status> {
        self.read_registers(thread).map(|registers| registers.pc())
    }
    fn write_registers(
        &self,
        thread: &Self::Thread,
        registers: &ThreadRegisters,
    ) -> Result<(), Status>;
    fn set_single_step(&self, thread: &Self::Thread, on: bool) -> Result<(), Status>;
    fn kill_thread(&self, thread: &Self::Thread) -> Result<(), Status>;
}

/// The debug link to the host: frames in, messages out.
pub trait Link {
    /// The next complete frame, or an oversized one that was dropped;
    /// `None` when no whole frame waits.
    fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>>;
    /// Encode and write one message.
    fn send(&mut self, message: &AgentMessage) -> Result<(), Status>;
    /// Feed bytes as if they had arrived from the host (the benchmark
    /// drives the agent with real request frames this way).
    fn inject(&mut self, bytes: &[u8]);
}
