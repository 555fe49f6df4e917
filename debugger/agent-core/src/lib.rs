//! The Spinel debugger agent's logic, written once over two traits: the
//! kernel ([`System`]) and the debug link ([`Link`]). The in-guest agent
//! (`debugger/agent`) implements them with system calls; the host client's
//! fake agent (`debugger/client`) with an in-memory process. Both run this
//! code, so what the client's tests see is what the guest does.
//!
//! The rules it keeps:
//! - **No policy in the bindings.** Everything the agent decides (which
//!   stop is reported, when a breakpoint is lifted and planted again, what
//!   a detach leaves behind) is here; an implementation of [`System`] only
//!   performs kernel calls and reports their status.
//! - **Static dispatch.** [`Agent`] is generic over its system and link:
//!   the guest's hot paths (a stop, a continue) are monomorphised, with no
//!   vtables and no extra copies.
//! - **A stop is held by its exception handle**, owned by the agent's state
//!   ([`Held`]); resuming gives the handle back to the kernel with
//!   HANDLED or TRY_NEXT, and a detach that leaves threads stopped keeps
//!   it, so a later attach reports the same stop.
//! - **Every kernel failure is an error reply**, never a panic: a target
//!   may die in the middle of any request.
//! - `no_std` + `alloc`, `#![forbid(unsafe_code)]`.
//!
//! Rooms: [`session`] (the handshake, frames in, replies and events out),
//! [`events`] (what the kernel reports: processes starting, exceptions,
//! ends), [`commands`] (the host's requests), [`breakpoints`] (planting,
//! lifting, and memory as the program sees it), [`programs`] (symbolizers
//! and backtraces), [`bench`] (the agent's own benchmark).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bench;
pub mod breakpoints;
pub mod commands;
pub mod events;
pub mod programs;
pub mod session;
mod system;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

use spinel_abi::{Koid, Status};
use spinel_debug_protocol::{Arch, BreakpointId, Error, ErrorCode, Hello, Stop};

pub use bench::Bench;
pub use breakpoints::Planted;
pub use programs::{MAX_FRAMES, Program, Programs};
pub use session::Session;
pub use system::{Link, NextException, System, ThreadRegisters};

/// A thread the agent holds stopped.
pub struct Held<E> {
    pub exception: E,
    pub stop: Stop,
}

/// What a resumed thread is doing for the agent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Pending {
    /// Put the breakpoint at this address back after the step.
    pub replant: Option<u64>,
    /// Report the step's stop (a `Step`); otherwise resume at once (a
    /// `Continue` stepping off a breakpoint).
    pub report: bool,
}

/// A thread of a caught process.
pub struct TargetThread<T, E> {
    pub name: String,
    pub handle: T,
    pub held: Option<Held<E>>,
    pub pending: Option<Pending>,
}

/// A caught process.
pub struct Target<'elf, S: System<'elf>> {
    pub name: String,
    pub job: Koid,
    pub handle: S::Process,
    /// The process-debugger channel while attached.
    pub debugger: Option<S::Attachment>,
    /// Bumped at each attach; names the channel's notifications, so one
    /// left over from a closed channel is recognised and dropped.
    pub generation: u64,
    pub threads: BTreeMap<Koid, TargetThread<S::Thread, S::Exception>>,
    pub breakpoints: alloc::vec::Vec<Planted>,
}

/// Generations are carried in 14 bits of the guest's port keys.
pub const GENERATION_MASK: u64 = 0x3fff;

/// The agent: the processes it caught, the threads it holds, the
/// breakpoints it planted, and the session with the host.
pub struct Agent<'elf, S: System<'elf>, L: Link> {
    pub system: S,
    pub link: L,
    programs: Programs<'elf>,
    targets: BTreeMap<Koid, Target<'elf, S>>,
    next_breakpoint: BreakpointId,
    session: Session,
    arch: Arch,
    hello: Hello,
    /// The benchmark's bookkeeping, when the agent runs it.
    pub bench: Option<Bench>,
    /// When the frame being handled was taken off the link.
    request_arrived: i64,
}

impl<'elf, S: System<'elf>, L: Link> Agent<'elf, S, L> {
    /// An agent with no targets yet; it answers the host's `Hello` with
    /// `software` and its architecture.
    pub fn new(system: S, link: L, software: &str) -> Self {
        let arch = system.arch();
        let hello = Hello::ours(&format!("{software} ({})", arch.name()));
        Agent {
            system,
            link,
            programs: Programs::new(),
            targets: BTreeMap::new(),
            next_breakpoint: 1,
            session: Session::Waiting,
            arch,
            hello,
            bench: None,
            request_arrived: 0,
        }
    }

    /// Answer the host's `Hello` with this one instead (the fake agent's
    /// tests of mismatched peers).
    pub fn with_hello(mut self, hello: Hello) -> Self {
        self.hello = hello;
        self
    }

    /// Send events without waiting for a host (the benchmark, whose
    /// events go out to whatever listens).
    pub fn assume_greeted(&mut self) {
        self.session = Session::Greeted;
    }

    // ---- lookups shared by the rooms ----

    fn target(&self, pid: Koid) -> Result<&Target<'elf, S>, Error> {
        self.targets
            .get(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))
    }

    fn attached(&self, pid: Koid) -> Result<&Target<'elf, S>, Error> {
        let target = self.target(pid)?;
        if target.debugger.is_none() {
            return Err(Error::new(
                ErrorCode::NotAttached,
                format!("attach to process {pid} first"),
            ));
        }
        Ok(target)
    }

    /// The process holding thread `tid`.
    fn process_of(&self, tid: Koid) -> Result<Koid, Error> {
        self.targets
            .iter()
            .find(|(_, target)| target.threads.contains_key(&tid))
            .map(|(&pid, _)| pid)
            .ok_or_else(|| not_found(format!("no thread {tid}")))
    }

    /// The process of the held thread `tid` (attached).
    fn held(&self, tid: Koid) -> Result<Koid, Error> {
        let pid = self.process_of(tid)?;
        let target = self.attached(pid)?;
        let thread = target
            .threads
            .get(&tid)
            .ok_or_else(|| not_found(format!("no thread {tid}")))?;
        if thread.held.is_none() {
            return Err(Error::new(
                ErrorCode::NotStopped,
                format!("thread {tid} is not stopped"),
            ));
        }
        Ok(pid)
    }
}

/// A kernel call's failure as a protocol error.
pub fn status_error(what: &str, status: Status) -> Error {
    Error::new(ErrorCode::Status(status.0), format!("{what}: {status:?}"))
}

fn not_found(what: String) -> Error {
    Error::new(ErrorCode::NotFound, what)
}
