//! The message set.
//!
//! Every change here must be reflected in `schema.txt` (the `schema` test
//! prints the new text when they differ), which changes [`crate::SCHEMA_HASH`]
//! so that old peers refuse new ones. The first variant of [`HostMessage`]
//! and the first two of [`AgentMessage`] are frozen: never reorder or change
//! them.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub use spinel_abi::Koid;

use crate::hello::Hello;

/// Chosen by the host, echoed in the response. Ids need not be sequential;
/// the client uses a counter.
pub type RequestId = u32;

/// Host → agent.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum HostMessage {
    /// First message of a session (frozen: variant 0).
    Hello(Hello),
    Request(Request),
}

/// Agent → host.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum AgentMessage {
    /// The agent's answer to the host's `Hello` (frozen: variant 0).
    Hello(Hello),
    /// The agent will not serve this host (frozen: variant 1); sent after
    /// its `Hello` on a version or schema mismatch and in answer to every
    /// later frame.
    Refused(Refusal),
    Response(Response),
    Event(Event),
    /// A frame from the host could not be read.
    MalformedFrame(MalformedFrame),
}

/// Why the agent refuses the host (frozen shape).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Refusal {
    pub reason: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Request {
    pub id: RequestId,
    pub command: Command,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Response {
    pub id: RequestId,
    pub reply: Reply,
}

/// What the host asks of the agent.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Command {
    /// Every job the agent can see.
    ListJobs,
    /// Processes of one job, or of every job.
    ListProcesses {
        job: Option<Koid>,
    },
    ListThreads {
        process: Koid,
    },
    /// Become the process's debugger. The reply lists threads already
    /// stopped (for instance by an earlier `Detach { leave_stopped: true }`).
    Attach {
        process: Koid,
    },
    /// Stop being its debugger. With `leave_stopped`, threads stopped in an
    /// exception stay stopped for a later `Attach`; otherwise they are
    /// resumed with TRY_NEXT and breakpoints are removed.
    Detach {
        process: Koid,
        leave_stopped: bool,
    },
    ReadRegisters {
        thread: Koid,
    },
    WriteRegisters {
        thread: Koid,
        registers: Registers,
    },
    /// At most [`crate::MAX_MEMORY_TRANSFER`] bytes.
    ReadMemory {
        process: Koid,
        address: u64,
        length: u32,
    },
    WriteMemory {
        process: Koid,
        address: u64,
        bytes: Vec<u8>,
    },
    SetBreakpoint {
        process: Koid,
        location: BreakpointLocation,
    },
    ClearBreakpoint {
        process: Koid,
        breakpoint: BreakpointId,
    },
    ListBreakpoints {
        process: Koid,
    },
    /// Execute one instruction of a stopped thread, then stop again
    /// (reported as an `Event::Stopped`).
    Step {
        thread: Koid,
    },
    /// Resume a stopped thread: the exception is handled (HANDLED).
    Continue {
        thread: Koid,
    },
    /// Resume by passing the exception to the next handler (TRY_NEXT).
    PassOn {
        thread: Koid,
    },
    /// Kill a thread or a process.
    Kill {
        task: Koid,
    },
    /// The symbolized backtrace of a stopped thread.
    Backtrace {
        thread: Koid,
    },
    /// Symbolize addresses in a process's address space.
    Symbolize {
        process: Koid,
        addresses: Vec<u64>,
    },
}

/// The agent's answer to one [`Command`].
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Reply {
    /// The command was carried out and has nothing to report.
    Done,
    Jobs(Vec<JobInfo>),
    Processes(Vec<ProcessInfo>),
    Threads(Vec<ThreadInfo>),
    Attached(Attached),
    Registers(Registers),
    Memory(Vec<u8>),
    Breakpoint(Breakpoint),
    Breakpoints(Vec<Breakpoint>),
    Backtrace(Vec<StackFrame>),
    /// One entry per requested address, in order.
    Symbols(Vec<StackFrame>),
    Error(Error),
}

/// Something that happened without being asked.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// A thread of an attached process stopped in an exception (a fault, a
    /// breakpoint, a completed single step).
    Stopped(Stop),
    ThreadStarted {
        process: Koid,
        thread: Koid,
    },
    ThreadExited {
        process: Koid,
        thread: Koid,
    },
    ProcessExited {
        process: Koid,
        return_code: i64,
    },
    /// A line of the agent's own log.
    Log(String),
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct JobInfo {
    pub koid: Koid,
    pub parent: Option<Koid>,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct ProcessInfo {
    pub koid: Koid,
    pub job: Koid,
    pub name: String,
    /// This agent is the process's debugger.
    pub attached: bool,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct ThreadInfo {
    pub koid: Koid,
    pub name: String,
    pub state: ThreadState,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ThreadState {
    New,
    Running,
    Suspended,
    Blocked,
    /// Stopped in an exception of this type (`spinel_abi::exception::EXCP_*`).
    InException {
        exception_type: u32,
    },
    Dying,
    Dead,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Attached {
    pub process: Koid,
    /// Threads already stopped in an exception when the attach happened.
    pub stops: Vec<Stop>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The general-register layout of `spinel_abi::thread` for this arch.
    pub fn layout(self) -> spinel_abi::thread::RegisterLayout {
        match self {
            Arch::X86_64 => spinel_abi::thread::x86_64::LAYOUT,
            Arch::Aarch64 => spinel_abi::thread::aarch64::LAYOUT,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// General registers in the slot order of `spinel_abi::thread`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Registers {
    pub arch: Arch,
    pub values: Vec<u64>,
}

impl Registers {
    /// The value of a register by its name in the arch's layout.
    pub fn get(&self, name: &str) -> Option<u64> {
        let index = self.arch.layout().names.iter().position(|n| *n == name)?;
        self.values.get(index).copied()
    }

    pub fn pc(&self) -> Option<u64> {
        self.values.get(self.arch.layout().pc).copied()
    }

    pub fn sp(&self) -> Option<u64> {
        self.values.get(self.arch.layout().sp).copied()
    }
}

pub type BreakpointId = u32;

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum BreakpointLocation {
    Address(u64),
    /// A function's name, demangled, with or without the Rust hash suffix.
    Function(String),
    /// A source line; `file` may be a suffix of the path in the debug info.
    Line {
        file: String,
        line: u32,
    },
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Breakpoint {
    pub id: BreakpointId,
    pub location: BreakpointLocation,
    /// Where software breakpoints were written (a function inlined in
    /// several places, or a line with several code ranges, has several).
    pub addresses: Vec<u64>,
}

/// A stopped thread.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Stop {
    pub process: Koid,
    pub thread: Koid,
    pub exception: ExceptionFacts,
    /// The breakpoint hit, when the stop is one.
    pub breakpoint: Option<BreakpointId>,
    /// Innermost frame first; frame 0 is the stop's pc.
    pub backtrace: Vec<StackFrame>,
}

/// The exception report, as the kernel gave it.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExceptionFacts {
    /// `spinel_abi::exception::EXCP_*`.
    pub exception_type: u32,
    pub arch: ArchFacts,
    pub synth_code: u32,
    pub synth_data: u32,
}

/// The arch context of an exception report.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArchFacts {
    X86_64 {
        vector: u64,
        error_code: u64,
        cr2: u64,
    },
    Aarch64 {
        esr: u32,
        far: u64,
    },
}

/// One frame of a backtrace, or one symbolized address.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct StackFrame {
    pub pc: u64,
    /// Source locations at `pc`, innermost inlined function first; empty
    /// when nothing is known.
    pub locations: Vec<SourceLocation>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct SourceLocation {
    /// Demangled function name.
    pub function: Option<String>,
    pub file: Option<String>,
    /// 0 when unknown.
    pub line: u32,
    /// 0 when unknown.
    pub column: u32,
}

/// Why a command failed.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorCode {
    /// No such job, process, thread, breakpoint or symbol.
    NotFound,
    /// The command needs an attached process.
    NotAttached,
    /// The command needs a thread stopped in an exception.
    NotStopped,
    InvalidArgument,
    Unsupported,
    /// A kernel call failed with this status (`spinel_abi::Status`).
    Status(i32),
    Internal,
}

/// The agent's report of a frame it could not read.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct MalformedFrame {
    /// The request's id, when enough of the frame could be read to find it.
    pub id: Option<RequestId>,
    pub kind: FrameFault,
    pub detail: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum FrameFault {
    /// Longer than [`crate::MAX_FRAME_LEN`]; its bytes were skipped.
    Oversized,
    /// Not valid COBS.
    BadCobs,
    /// Valid COBS, but not a message (bad variant, truncated, trailing bytes).
    BadMessage,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.code {
            ErrorCode::Status(raw) => {
                write!(f, "{} ({}): {}", spinel_abi::Status(raw), raw, self.message)
            }
            code => write!(f, "{code:?}: {}", self.message),
        }
    }
}

/// A readable name for an exception type (`FATAL_PAGE_FAULT`, ...).
pub fn exception_name(exception_type: u32) -> &'static str {
    use spinel_abi::exception::*;
    match exception_type {
        EXCP_GENERAL => "GENERAL",
        EXCP_FATAL_PAGE_FAULT => "FATAL_PAGE_FAULT",
        EXCP_UNDEFINED_INSTRUCTION => "UNDEFINED_INSTRUCTION",
        EXCP_SW_BREAKPOINT => "SW_BREAKPOINT",
        EXCP_HW_BREAKPOINT => "HW_BREAKPOINT",
        EXCP_UNALIGNED_ACCESS => "UNALIGNED_ACCESS",
        EXCP_THREAD_STARTING => "THREAD_STARTING",
        EXCP_THREAD_EXITING => "THREAD_EXITING",
        EXCP_POLICY_ERROR => "POLICY_ERROR",
        EXCP_PROCESS_STARTING => "PROCESS_STARTING",
        _ => "UNKNOWN",
    }
}
