//! The agent's state and what it does: the watched job, the processes it
//! caught, the threads it holds stopped, the breakpoints it planted, and
//! the session with the host client.
//!
//! Everything arrives on one port: `object_wait_async` packets for the
//! job-debugger channel (PROCESS_STARTING), each process-debugger channel
//! (architectural exceptions, THREAD_STARTING / THREAD_EXITING) and each
//! process's termination. The link is polled between waits. Each wait is
//! one-shot and re-armed after its packet; its key names the object and,
//! for debugger channels, the attachment generation, so a packet left over
//! from a closed channel is recognised and dropped.
//!
//! A stopped thread is held by its exception handle (channel era): the
//! agent answers HANDLED to continue, TRY_NEXT to pass the exception on, or
//! keeps the handle across a detach that leaves threads stopped, so a
//! later attach finds the same stop.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use spinel_debug_protocol::{
    AgentMessage, Arch, ArchFacts, Attached, Breakpoint, BreakpointId, BreakpointLocation, Command,
    Error, ErrorCode, Event, ExceptionFacts, HandshakeError, Hello, HostMessage, JobInfo,
    MAX_MEMORY_TRANSFER, ProcessInfo, Registers, Reply, Request, Response, StackFrame, Stop,
    ThreadInfo, ThreadState, decode_host_message,
};
use spinel_rt::println;
use spinel_rt::zx::abi::exception::{
    EXCEPTION_CHANNEL_DEBUGGER, EXCEPTION_STATE_HANDLED, EXCEPTION_STATE_TRY_NEXT,
    EXCP_HW_BREAKPOINT, EXCP_PROCESS_STARTING, EXCP_SW_BREAKPOINT, EXCP_THREAD_EXITING,
    EXCP_THREAD_STARTING,
};
use spinel_rt::zx::abi::info;
use spinel_rt::zx::abi::port::PKT_TYPE_SIGNAL_ONE;
use spinel_rt::zx::{
    self, Channel, Exception, ExceptionReport, GeneralRegisters, HandleBased, Job, Koid,
    ObjectCalls, Port, PortPacket, Signals, Status, Task,
};

use crate::bench::Bench;
use crate::link::Link;
use crate::programs::{Program, Programs};

/// The agent's software name in its `Hello`.
pub const SOFTWARE: &str = concat!("spinel-debug-agent ", env!("CARGO_PKG_VERSION"));

/// Port key of the job-debugger channel.
const KEY_JOB: u64 = 1;
/// Port key of the debug link (bytes arrived).
const KEY_LINK: u64 = 2;
/// How long the agent waits before looking at the link anyway: short when
/// the kernel does not tell it about arriving bytes, long when it does.
const POLL_NS: i64 = 2_000_000;
const WATCHED_POLL_NS: i64 = 50_000_000;
/// Port key kinds (low two bits).
const KIND_DEBUGGER: u64 = 1;
const KIND_TERMINATED: u64 = 2;

fn key(koid: Koid, generation: u64, kind: u64) -> u64 {
    (koid << 16) | ((generation & 0x3fff) << 2) | kind
}

fn unkey(key: u64) -> (Koid, u64, u64) {
    (key >> 16, (key >> 2) & 0x3fff, key & 3)
}

/// What the session with the host is.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Session {
    /// No `Hello` yet: requests are refused, events are not sent.
    Waiting,
    Greeted,
    /// The host's `Hello` did not match: every frame gets this answer
    /// until a new `Hello`.
    Refused(String),
}

/// A planted software breakpoint.
struct Planted {
    info: Breakpoint,
    /// The original bytes under each breakpoint instruction.
    saved: Vec<(u64, Vec<u8>)>,
}

/// A thread the agent holds stopped.
struct Held {
    exception: Exception,
    stop: Stop,
}

/// What a resumed thread is doing for the agent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Pending {
    /// Put the breakpoint at this address back after the step.
    replant: Option<u64>,
    /// Report the step's stop (a `Step`); otherwise resume at once (a
    /// `Continue` stepping off a breakpoint).
    report: bool,
}

struct TargetThread {
    name: String,
    handle: zx::Thread,
    held: Option<Held>,
    pending: Option<Pending>,
}

struct Target {
    name: String,
    job: Koid,
    handle: zx::Process,
    /// The process-debugger channel while attached.
    debugger: Option<Channel>,
    /// Bumped at each attach; part of the channel's port key.
    generation: u64,
    threads: BTreeMap<Koid, TargetThread>,
    breakpoints: Vec<Planted>,
}

type Outcome = Result<Reply, Error>;

fn status_error(what: &str, status: Status) -> Error {
    Error::new(ErrorCode::Status(status.0), format!("{what}: {status:?}"))
}

fn not_found(what: String) -> Error {
    Error::new(ErrorCode::NotFound, what)
}

fn name_of<T: HandleBased>(handle: &T) -> String {
    match handle.get_name() {
        Ok(name) => {
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            String::from_utf8_lossy(&name[..end]).into_owned()
        }
        Err(_) => String::new(),
    }
}

pub struct Agent {
    pub link: Link,
    port: Port,
    job: Job,
    job_koid: Koid,
    job_channel: Option<Channel>,
    programs: Programs,
    targets: BTreeMap<Koid, Target>,
    next_breakpoint: BreakpointId,
    session: Session,
    arch: Arch,
    pub bench: Option<Bench>,
    /// When the frame being handled was taken off the link (guest clock).
    request_arrived: i64,
    /// The kernel signals arriving bytes (the wait on the link works).
    link_watched: bool,
    /// A wait on the link is pending on the port.
    link_armed: bool,
}

impl Agent {
    pub fn new(link: Link, job: Job, programs: Programs) -> Result<Agent, Status> {
        let port = Port::create()?;
        let job_koid = job.koid()?;
        let arch = if zx::arch::ARCH == "x86_64" {
            Arch::X86_64
        } else {
            Arch::Aarch64
        };
        Ok(Agent {
            link,
            port,
            job,
            job_koid,
            job_channel: None,
            programs,
            targets: BTreeMap::new(),
            next_breakpoint: 1,
            session: Session::Waiting,
            arch,
            bench: None,
            request_arrived: 0,
            link_watched: true,
            link_armed: false,
        })
    }

    /// Become the watched job's debugger: every process started in it (or
    /// below it) stops at PROCESS_STARTING until the agent has attached.
    pub fn watch_job(&mut self) -> Result<(), Status> {
        let channel = self
            .job
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER)?;
        channel.wait_async(
            &self.port,
            KEY_JOB,
            Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED,
            0,
        )?;
        self.job_channel = Some(channel);
        Ok(())
    }

    /// Send events without waiting for a host (the benchmark, whose
    /// events go out to whatever listens).
    pub fn assume_greeted(&mut self) {
        self.session = Session::Greeted;
    }

    /// One round: take what the link has, answer it, then wait on the port
    /// (for the link's next bytes or a kernel event; not at all if the link
    /// was busy) and handle what arrives.
    pub fn turn(&mut self) {
        let busy = match self.link.poll() {
            Ok(any) => any,
            Err(status) => {
                println!("debug-agent: reading the link failed: {status:?}");
                false
            }
        };
        self.handle_frames();
        if self.link_watched && !self.link_armed {
            match self.link.notify(&self.port, KEY_LINK) {
                Ok(()) => self.link_armed = true,
                Err(status) => {
                    println!("debug-agent: cannot wait on the link ({status:?}); polling it");
                    self.link_watched = false;
                }
            }
        }
        let poll_ns = if self.link_watched {
            WATCHED_POLL_NS
        } else {
            POLL_NS
        };
        let deadline = if busy { 0 } else { zx::deadline_after(poll_ns) };
        let mut wait = deadline;
        loop {
            match self.port.wait(wait) {
                Ok(packet) => self.on_packet(packet),
                Err(Status::TIMED_OUT) => return,
                Err(status) => {
                    println!("debug-agent: port_wait failed: {status:?}");
                    let _ = zx::nanosleep(zx::deadline_after(POLL_NS));
                    return;
                }
            }
            // Take whatever else is queued, without waiting.
            wait = 0;
        }
    }

    // ---- the link ----

    fn send(&mut self, message: &AgentMessage) {
        if let Err(status) = self.link.send(message) {
            println!("debug-agent: writing the link failed: {status:?}");
        }
    }

    /// An unsolicited event, if a host is listening.
    fn emit(&mut self, event: Event) {
        if self.session == Session::Greeted {
            self.send(&AgentMessage::Event(event));
        }
    }

    pub fn handle_frames(&mut self) {
        while let Some(frame) = self.link.next_frame() {
            self.request_arrived = zx::clock_get_monotonic();
            let message = frame
                .map_err(|error| error.to_decode_error())
                .and_then(|frame| decode_host_message(&frame));
            match message {
                Err(error) => self.send(&error.to_agent_message()),
                Ok(HostMessage::Hello(theirs)) => self.hello(&theirs),
                Ok(HostMessage::Request(request)) => self.request(request),
            }
        }
    }

    fn hello(&mut self, theirs: &Hello) {
        let ours = Hello::ours(&format!("{SOFTWARE} ({})", self.arch.name()));
        self.send(&AgentMessage::Hello(ours.clone()));
        match ours.check(theirs) {
            Ok(()) => {
                self.session = Session::Greeted;
                // A new host learns at once of the threads already stopped.
                let stops: Vec<Stop> = self
                    .targets
                    .values()
                    .filter(|target| target.debugger.is_some())
                    .flat_map(|target| target.threads.values())
                    .filter_map(|thread| thread.held.as_ref().map(|held| held.stop.clone()))
                    .collect();
                for stop in stops {
                    self.emit(Event::Stopped(stop));
                }
            }
            Err(error) => {
                let refusal = HandshakeError::refusal(&error);
                self.session = Session::Refused(refusal.reason.clone());
                self.send(&AgentMessage::Refused(refusal));
            }
        }
    }

    fn request(&mut self, request: Request) {
        let reply = match &self.session {
            Session::Refused(reason) => {
                let refusal = spinel_debug_protocol::Refusal {
                    reason: reason.clone(),
                };
                self.send(&AgentMessage::Refused(refusal));
                return;
            }
            Session::Waiting => {
                Reply::Error(Error::new(ErrorCode::InvalidArgument, "send Hello first"))
            }
            Session::Greeted => match self.command(request.command.clone()) {
                Ok(reply) => reply,
                Err(error) => Reply::Error(error),
            },
        };
        let response = AgentMessage::Response(Response {
            id: request.id,
            reply,
        });
        self.send(&response);
        if let (Some(bench), Command::Continue { .. }) = (&mut self.bench, &request.command) {
            bench.continue_requested = Some(self.request_arrived);
        }
    }

    // ---- packets ----

    fn on_packet(&mut self, packet: PortPacket) {
        if packet.packet_type != PKT_TYPE_SIGNAL_ONE {
            return;
        }
        let observed = Signals(packet.as_signal().observed);
        if packet.key == KEY_LINK {
            // The next turn reads the line, then waits again.
            self.link_armed = false;
            return;
        }
        if packet.key == KEY_JOB {
            self.on_job_channel(observed);
            return;
        }
        let (pid, generation, kind) = unkey(packet.key);
        match kind {
            KIND_DEBUGGER => self.on_debugger_channel(pid, generation),
            KIND_TERMINATED => self.on_terminated(pid),
            _ => {}
        }
    }

    fn on_job_channel(&mut self, observed: Signals) {
        loop {
            let Some(channel) = &self.job_channel else {
                return;
            };
            match channel.read_exception() {
                Ok((info, exception)) if info.exception_type == EXCP_PROCESS_STARTING => {
                    if let Err(status) = self.on_process_starting(&exception) {
                        println!(
                            "debug-agent: cannot attach to process {}: {status:?}",
                            info.pid
                        );
                    }
                    let _ = exception.handled();
                }
                Ok((_, exception)) => drop(exception),
                Err(error) if error.status == Status::SHOULD_WAIT => break,
                Err(error) => {
                    println!("debug-agent: the job channel failed: {:?}", error.status);
                    self.job_channel = None;
                    return;
                }
            }
        }
        if observed.contains(Signals::CHANNEL_PEER_CLOSED)
            && !observed.contains(Signals::CHANNEL_READABLE)
        {
            println!("debug-agent: the watched job is gone");
            self.job_channel = None;
            return;
        }
        if let Some(channel) = &self.job_channel {
            let signals = Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED;
            if let Err(status) = channel.wait_async(&self.port, KEY_JOB, signals, 0) {
                println!("debug-agent: cannot wait on the job channel: {status:?}");
            }
        }
    }

    /// A process of the watched job is starting: keep it, attach, let it go.
    fn on_process_starting(&mut self, exception: &Exception) -> Result<(), Status> {
        let process = exception.process()?;
        let thread = exception.thread()?;
        let pid = process.koid()?;
        let tid = thread.koid()?;
        let job = process.basic_info()?.related_koid;
        let mut threads = BTreeMap::new();
        threads.insert(
            tid,
            TargetThread {
                name: name_of(&thread),
                handle: thread,
                held: None,
                pending: None,
            },
        );
        let target = Target {
            name: name_of(&process),
            job,
            handle: process,
            debugger: None,
            generation: 0,
            threads,
            breakpoints: Vec::new(),
        };
        target.handle.wait_async(
            &self.port,
            key(pid, 0, KIND_TERMINATED),
            Signals::PROCESS_TERMINATED,
            0,
        )?;
        let name = target.name.clone();
        self.targets.insert(pid, target);
        self.attach(pid).map_err(|_| Status::INTERNAL)?;
        self.emit(Event::Log(format!(
            "process {pid} ({name}) started; attached"
        )));
        if let Some(bench) = &self.bench {
            let location = BreakpointLocation::Function(bench.function.to_string());
            if let Err(error) = self.set_breakpoint(pid, location) {
                println!("debug-agent: bench breakpoint: {error}");
            }
        }
        Ok(())
    }

    fn on_debugger_channel(&mut self, pid: Koid, generation: u64) {
        let mut peer_closed = false;
        loop {
            let Some(target) = self.targets.get(&pid) else {
                return;
            };
            if target.generation & 0x3fff != generation {
                return; // A packet of an earlier attachment.
            }
            let Some(channel) = &target.debugger else {
                return;
            };
            match channel.read_exception() {
                Ok((info, exception)) => {
                    self.on_exception(pid, info.tid, info.exception_type, exception)
                }
                Err(error) if error.status == Status::SHOULD_WAIT => break,
                Err(_) => {
                    peer_closed = true;
                    break;
                }
            }
        }
        if peer_closed {
            return;
        }
        if let Some(target) = self.targets.get(&pid)
            && let Some(channel) = &target.debugger
        {
            let signals = Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED;
            let key = key(pid, target.generation, KIND_DEBUGGER);
            if let Err(status) = channel.wait_async(&self.port, key, signals, 0) {
                println!(
                    "debug-agent: cannot wait on process {pid}'s debugger channel: {status:?}"
                );
            }
        }
    }

    fn on_exception(&mut self, pid: Koid, tid: Koid, exception_type: u32, exception: Exception) {
        match exception_type {
            EXCP_THREAD_STARTING => {
                if let (Ok(thread), Some(target)) = (exception.thread(), self.targets.get_mut(&pid))
                {
                    target.threads.insert(
                        tid,
                        TargetThread {
                            name: name_of(&thread),
                            handle: thread,
                            held: None,
                            pending: None,
                        },
                    );
                }
                let _ = exception.handled();
                self.emit(Event::ThreadStarted {
                    process: pid,
                    thread: tid,
                });
            }
            EXCP_THREAD_EXITING => {
                if let Some(target) = self.targets.get_mut(&pid) {
                    target.threads.remove(&tid);
                }
                let _ = exception.handled();
                self.emit(Event::ThreadExited {
                    process: pid,
                    thread: tid,
                });
            }
            _ => self.on_stop(pid, tid, exception_type, exception),
        }
    }

    /// An architectural exception of an attached process: finish a step
    /// the agent started, or hold the thread and report the stop.
    fn on_stop(&mut self, pid: Koid, tid: Koid, exception_type: u32, exception: Exception) {
        let arch = self.arch;
        let Some(target) = self.targets.get_mut(&pid) else {
            let _ = exception.try_next();
            return;
        };
        if let alloc::collections::btree_map::Entry::Vacant(entry) = target.threads.entry(tid) {
            // A thread started while the agent was detached.
            let Ok(handle) = exception.thread() else {
                let _ = exception.try_next();
                return;
            };
            entry.insert(TargetThread {
                name: name_of(&handle),
                handle,
                held: None,
                pending: None,
            });
        }
        let Some(thread) = target.threads.get_mut(&tid) else {
            return;
        };
        if let Some(pending) = thread.pending.take() {
            let _ = thread.handle.set_single_step(false);
            if let Some(address) = pending.replant {
                replant(target, address, arch);
            }
            if exception_type == EXCP_HW_BREAKPOINT && !pending.report {
                // Stepped off a breakpoint on the way to a Continue.
                let _ = exception.handled();
                return;
            }
        }
        let Some(thread) = target.threads.get_mut(&tid) else {
            return;
        };
        let report = thread.handle.exception_report().unwrap_or_default();
        let mut registers = match thread.handle.read_registers() {
            Ok(registers) => registers,
            Err(_) => {
                // Killed meanwhile: nothing to report.
                return;
            }
        };
        let mut breakpoint = None;
        if exception_type == EXCP_SW_BREAKPOINT {
            let pc = registers.pc();
            let address = match arch {
                // `int3` reports the instruction after itself.
                Arch::X86_64 => pc.wrapping_sub(1),
                Arch::Aarch64 => pc,
            };
            if let Some(planted) = target
                .breakpoints
                .iter()
                .find(|b| b.info.addresses.contains(&address))
            {
                breakpoint = Some(planted.info.id);
                if address != pc {
                    registers.set_pc(address);
                    let _ = thread.handle.write_registers(&registers);
                }
            }
        }
        let facts = facts_of(arch, &report, exception_type);
        let target_handle = target.handle.duplicate(zx::Rights::SAME_RIGHTS).ok();
        let name = target.name.clone();
        let backtrace = match (self.programs.get(&name), &target_handle) {
            (Ok(program), Some(process)) => program.backtrace(process, &registers),
            _ => vec![StackFrame {
                pc: registers.pc(),
                locations: Vec::new(),
            }],
        };
        let stop = Stop {
            process: pid,
            thread: tid,
            exception: facts,
            breakpoint,
            backtrace,
        };
        if let Some(thread) = self
            .targets
            .get_mut(&pid)
            .and_then(|target| target.threads.get_mut(&tid))
        {
            thread.held = Some(Held {
                exception,
                stop: stop.clone(),
            });
        }
        self.emit(Event::Stopped(stop));
        if breakpoint.is_some() && self.bench.is_some() {
            self.bench_stop(tid, &registers);
        }
    }

    /// The benchmark's side of a breakpoint stop: record, then continue as
    /// a host would, with a real request frame through the link decoder.
    fn bench_stop(&mut self, tid: Koid, registers: &GeneralRegisters) {
        let sent = zx::clock_get_monotonic();
        let Some(bench) = &mut self.bench else {
            return;
        };
        // The target passes the guest clock it read just before the call.
        let before = registers.arg0() as i64;
        bench.record(before, sent);
        let request = HostMessage::Request(Request {
            id: bench.next_id(),
            command: Command::Continue { thread: tid },
        });
        if let Ok(frame) = spinel_debug_protocol::encode(&request) {
            self.link.inject(&frame);
        }
    }

    fn on_terminated(&mut self, pid: Koid) {
        // THREAD_EXITING messages still queued come first.
        if let Some(generation) = self.targets.get(&pid).map(|t| t.generation & 0x3fff) {
            self.on_debugger_channel(pid, generation);
        }
        let Some(target) = self.targets.remove(&pid) else {
            return;
        };
        for (&tid, _) in target.threads.iter() {
            self.emit(Event::ThreadExited {
                process: pid,
                thread: tid,
            });
        }
        let return_code = target
            .handle
            .info()
            .map(|info| info.return_code)
            .unwrap_or(0);
        self.emit(Event::ProcessExited {
            process: pid,
            return_code,
        });
        if let Some(bench) = &mut self.bench {
            bench.target_exited = true;
        }
    }

    // ---- requests ----

    fn command(&mut self, command: Command) -> Outcome {
        match command {
            Command::ListJobs => self.list_jobs(),
            Command::ListProcesses { job } => self.list_processes(job),
            Command::ListThreads { process } => self.list_threads(process),
            Command::Attach { process } => self.attach(process),
            Command::Detach {
                process,
                leave_stopped,
            } => self.detach(process, leave_stopped),
            Command::ReadRegisters { thread } => self.read_registers(thread),
            Command::WriteRegisters { thread, registers } => {
                self.write_registers(thread, &registers)
            }
            Command::ReadMemory {
                process,
                address,
                length,
            } => self.read_memory(process, address, length),
            Command::WriteMemory {
                process,
                address,
                bytes,
            } => self.write_memory(process, address, &bytes),
            Command::SetBreakpoint { process, location } => self
                .set_breakpoint(process, location)
                .map(Reply::Breakpoint),
            Command::ClearBreakpoint {
                process,
                breakpoint,
            } => self.clear_breakpoint(process, breakpoint),
            Command::ListBreakpoints { process } => {
                let target = self.attached(process)?;
                Ok(Reply::Breakpoints(
                    target.breakpoints.iter().map(|b| b.info.clone()).collect(),
                ))
            }
            Command::Step { thread } => self.resume(thread, Resume::Step),
            Command::Continue { thread } => self.resume(thread, Resume::Continue),
            Command::PassOn { thread } => self.resume(thread, Resume::PassOn),
            Command::Kill { task } => self.kill(task),
            Command::Backtrace { thread } => self.backtrace(thread),
            Command::Symbolize { process, addresses } => self.symbolize(process, &addresses),
        }
    }

    fn list_jobs(&mut self) -> Outcome {
        let parent = self
            .job
            .basic_info()
            .map(|info| info.related_koid)
            .ok()
            .filter(|&koid| koid != 0);
        let mut jobs = vec![JobInfo {
            koid: self.job_koid,
            parent,
            name: name_of(&self.job),
        }];
        for target in self.targets.values() {
            if target.job != self.job_koid && !jobs.iter().any(|j| j.koid == target.job) {
                jobs.push(JobInfo {
                    koid: target.job,
                    parent: None,
                    name: String::new(),
                });
            }
        }
        Ok(Reply::Jobs(jobs))
    }

    fn list_processes(&mut self, job: Option<Koid>) -> Outcome {
        if let Some(job) = job
            && job != self.job_koid
            && !self.targets.values().any(|t| t.job == job)
        {
            return Err(not_found(format!("no job {job}")));
        }
        let processes = self
            .targets
            .iter()
            .filter(|(_, target)| match job {
                Some(job) => job == self.job_koid || target.job == job,
                None => true,
            })
            .map(|(&koid, target)| ProcessInfo {
                koid,
                job: target.job,
                name: target.name.clone(),
                attached: target.debugger.is_some(),
            })
            .collect();
        Ok(Reply::Processes(processes))
    }

    fn target(&self, pid: Koid) -> Result<&Target, Error> {
        self.targets
            .get(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))
    }

    fn attached(&self, pid: Koid) -> Result<&Target, Error> {
        let target = self.target(pid)?;
        if target.debugger.is_none() {
            return Err(Error::new(
                ErrorCode::NotAttached,
                format!("attach to process {pid} first"),
            ));
        }
        Ok(target)
    }

    fn attached_mut(&mut self, pid: Koid) -> Result<&mut Target, Error> {
        self.attached(pid)?;
        self.targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))
    }

    /// The process holding thread `tid`.
    fn process_of(&self, tid: Koid) -> Result<Koid, Error> {
        self.targets
            .iter()
            .find(|(_, target)| target.threads.contains_key(&tid))
            .map(|(&pid, _)| pid)
            .ok_or_else(|| not_found(format!("no thread {tid}")))
    }

    fn list_threads(&mut self, pid: Koid) -> Outcome {
        let target = self.target(pid)?;
        let threads = target
            .threads
            .iter()
            .map(|(&koid, thread)| {
                let state = match thread.handle.info() {
                    Ok(info) => thread_state(info.state, thread),
                    Err(_) => ThreadState::Dead,
                };
                ThreadInfo {
                    koid,
                    name: thread.name.clone(),
                    state,
                }
            })
            .collect();
        Ok(Reply::Threads(threads))
    }

    fn attach(&mut self, pid: Koid) -> Outcome {
        let port = &self.port;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))?;
        if target.debugger.is_none() {
            let channel = target
                .handle
                .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER)
                .map_err(|status| status_error("task_create_exception_channel", status))?;
            target.generation += 1;
            let signals = Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED;
            channel
                .wait_async(port, key(pid, target.generation, KIND_DEBUGGER), signals, 0)
                .map_err(|status| status_error("object_wait_async", status))?;
            target.debugger = Some(channel);
        }
        let stops = target
            .threads
            .values()
            .filter_map(|thread| thread.held.as_ref().map(|held| held.stop.clone()))
            .collect();
        Ok(Reply::Attached(Attached {
            process: pid,
            stops,
        }))
    }

    fn detach(&mut self, pid: Koid, leave_stopped: bool) -> Outcome {
        // Exceptions already queued (a step that just finished) are taken
        // first: closing the channel over them would pass them on.
        let generation = self.attached(pid)?.generation & 0x3fff;
        self.on_debugger_channel(pid, generation);
        let target = self.attached_mut(pid)?;
        // Breakpoints go: with no debugger, a hit would kill the process.
        for planted in core::mem::take(&mut target.breakpoints) {
            restore(target, &planted);
        }
        for thread in target.threads.values_mut() {
            if thread.pending.take().is_some() {
                let _ = thread.handle.set_single_step(false);
            }
            if leave_stopped {
                continue;
            }
            if let Some(held) = thread.held.take() {
                // The agent's own stops resume where they were; faults go
                // on to the next handler.
                let ours = held.stop.breakpoint.is_some()
                    || held.stop.exception.exception_type == EXCP_HW_BREAKPOINT;
                let state = if ours {
                    EXCEPTION_STATE_HANDLED
                } else {
                    EXCEPTION_STATE_TRY_NEXT
                };
                let _ = held.exception.set_state(state);
            }
        }
        target.debugger = None;
        Ok(Reply::Done)
    }

    /// The held thread `tid` and its process.
    fn held(&mut self, tid: Koid) -> Result<(&mut Target, Koid), Error> {
        let pid = self.process_of(tid)?;
        let target = self.attached_mut(pid)?;
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
        Ok((target, tid))
    }

    fn read_registers(&mut self, tid: Koid) -> Outcome {
        let arch = self.arch;
        let (target, tid) = self.held(tid)?;
        let registers = target.threads[&tid]
            .handle
            .read_registers()
            .map_err(|status| status_error("thread_read_state", status))?;
        Ok(Reply::Registers(Registers {
            arch,
            values: registers.slots[..registers.layout.count].to_vec(),
        }))
    }

    fn write_registers(&mut self, tid: Koid, registers: &Registers) -> Outcome {
        let arch = self.arch;
        let (target, tid) = self.held(tid)?;
        let thread = &target.threads[&tid];
        let mut current = thread
            .handle
            .read_registers()
            .map_err(|status| status_error("thread_read_state", status))?;
        let count = current.layout.count;
        if registers.arch != arch || registers.values.len() != count {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("expected {count} {} registers", arch.name()),
            ));
        }
        current.slots[..count].copy_from_slice(&registers.values);
        thread
            .handle
            .write_registers(&current)
            .map_err(|status| status_error("thread_write_state", status))?;
        Ok(Reply::Done)
    }

    fn read_memory(&mut self, pid: Koid, address: u64, length: u32) -> Outcome {
        if length > MAX_MEMORY_TRANSFER {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("at most {MAX_MEMORY_TRANSFER} bytes per read"),
            ));
        }
        let target = self.target(pid)?;
        let mut bytes = vec![0u8; length as usize];
        if length > 0 {
            let count = target
                .handle
                .read_memory(address, &mut bytes)
                .map_err(|status| status_error(&format!("reading {address:#x}"), status))?;
            bytes.truncate(count);
        }
        // Show the program's own bytes under the agent's breakpoints.
        for planted in &target.breakpoints {
            for (at, original) in &planted.saved {
                for (i, &byte) in original.iter().enumerate() {
                    let at = at + i as u64;
                    if at >= address && at < address + bytes.len() as u64 {
                        bytes[(at - address) as usize] = byte;
                    }
                }
            }
        }
        Ok(Reply::Memory(bytes))
    }

    fn write_memory(&mut self, pid: Koid, address: u64, data: &[u8]) -> Outcome {
        let arch = self.arch;
        let target = self.attached_mut(pid)?;
        if data.is_empty() {
            return Ok(Reply::Done);
        }
        let written = target
            .handle
            .write_memory(address, data)
            .map_err(|status| status_error(&format!("writing {address:#x}"), status))?;
        if written != data.len() {
            return Err(Error::new(
                ErrorCode::Status(Status::NO_MEMORY.0),
                format!("wrote {written} of {} bytes at {address:#x}", data.len()),
            ));
        }
        // Written over a breakpoint: that is the new original; the
        // breakpoint stays.
        let end = address + data.len() as u64;
        let mut replants = Vec::new();
        for planted in &mut target.breakpoints {
            for (at, original) in &mut planted.saved {
                let mut touched = false;
                for (i, byte) in original.iter_mut().enumerate() {
                    let at = *at + i as u64;
                    if at >= address && at < end {
                        *byte = data[(at - address) as usize];
                        touched = true;
                    }
                }
                if touched {
                    replants.push(*at);
                }
            }
        }
        for at in replants {
            let _ = target.handle.write_memory(at, breakpoint_instruction(arch));
        }
        Ok(Reply::Done)
    }

    fn program_of(&mut self, pid: Koid) -> Result<Rc<Program>, Error> {
        let name = self.target(pid)?.name.clone();
        self.programs
            .get(&name)
            .map_err(|reason| Error::new(ErrorCode::NotFound, format!("{name}: {reason}")))
    }

    fn set_breakpoint(
        &mut self,
        pid: Koid,
        location: BreakpointLocation,
    ) -> Result<Breakpoint, Error> {
        self.attached(pid)?;
        let mut addresses = match &location {
            BreakpointLocation::Address(address) => vec![*address],
            BreakpointLocation::Function(name) => {
                self.program_of(pid)?.symbolizer.find_function(name)
            }
            BreakpointLocation::Line { file, line } => {
                self.program_of(pid)?.symbolizer.find_line(file, *line)
            }
        };
        addresses.sort_unstable();
        addresses.dedup();
        if addresses.is_empty() {
            return Err(not_found(format!("no code for {}", describe(&location))));
        }
        let arch = self.arch;
        let id = self.next_breakpoint;
        let target = self.attached_mut(pid)?;
        let instruction = breakpoint_instruction(arch);
        let mut planted = Planted {
            info: Breakpoint {
                id,
                location,
                addresses: addresses.clone(),
            },
            saved: Vec::new(),
        };
        for &address in &addresses {
            // An address another breakpoint already holds keeps its
            // original bytes there.
            if let Some(original) = original_at(target, address) {
                planted.saved.push((address, original));
                continue;
            }
            let mut original = vec![0u8; instruction.len()];
            let result = target
                .handle
                .read_memory(address, &mut original)
                .and_then(|n| {
                    if n == original.len() {
                        target.handle.write_memory(address, instruction)
                    } else {
                        Err(Status::NO_MEMORY)
                    }
                });
            if let Err(status) = result {
                restore(target, &planted);
                return Err(status_error(
                    &format!("planting a breakpoint at {address:#x}"),
                    status,
                ));
            }
            planted.saved.push((address, original));
        }
        let info = planted.info.clone();
        target.breakpoints.push(planted);
        self.next_breakpoint += 1;
        Ok(info)
    }

    fn clear_breakpoint(&mut self, pid: Koid, id: BreakpointId) -> Outcome {
        let target = self.attached_mut(pid)?;
        let index = target
            .breakpoints
            .iter()
            .position(|b| b.info.id == id)
            .ok_or_else(|| not_found(format!("no breakpoint {id}")))?;
        let planted = target.breakpoints.remove(index);
        restore(target, &planted);
        Ok(Reply::Done)
    }

    fn resume(&mut self, tid: Koid, how: Resume) -> Outcome {
        let arch = self.arch;
        let (target, tid) = self.held(tid)?;
        let thread = &target.threads[&tid];
        let pc = thread
            .handle
            .read_registers()
            .map_err(|status| status_error("thread_read_state", status))?
            .pc();
        let on_breakpoint = target
            .breakpoints
            .iter()
            .any(|b| b.info.addresses.contains(&pc));
        let pending = match how {
            Resume::PassOn => None,
            Resume::Step => Some(Pending {
                replant: on_breakpoint.then_some(pc),
                report: true,
            }),
            Resume::Continue if on_breakpoint => Some(Pending {
                replant: Some(pc),
                report: false,
            }),
            Resume::Continue => None,
        };
        if let Some(pending) = pending {
            if let Some(address) = pending.replant {
                // Lift the breakpoint for one instruction.
                if let Some(original) = original_at(target, address) {
                    target
                        .handle
                        .write_memory(address, &original)
                        .map_err(|status| status_error("lifting the breakpoint", status))?;
                }
            }
            let thread = &target.threads[&tid];
            if let Err(status) = thread.handle.set_single_step(true) {
                if let Some(address) = pending.replant {
                    replant(target, address, arch);
                }
                return Err(status_error("setting SINGLE_STEP", status));
            }
        }
        let Some(thread) = target.threads.get_mut(&tid) else {
            return Err(not_found(format!("no thread {tid}")));
        };
        let Some(held) = thread.held.take() else {
            return Err(Error::new(ErrorCode::NotStopped, "not stopped"));
        };
        thread.pending = pending;
        let state = match how {
            Resume::PassOn => EXCEPTION_STATE_TRY_NEXT,
            _ => EXCEPTION_STATE_HANDLED,
        };
        held.exception
            .set_state(state)
            .map_err(|status| status_error("setting EXCEPTION_STATE", status))?;
        drop(held);
        Ok(Reply::Done)
    }

    fn kill(&mut self, task: Koid) -> Outcome {
        if let Some(target) = self.targets.get_mut(&task) {
            target
                .handle
                .kill()
                .map_err(|status| status_error("task_kill", status))?;
            for thread in target.threads.values_mut() {
                thread.held = None;
                thread.pending = None;
            }
            return Ok(Reply::Done);
        }
        let pid = self
            .process_of(task)
            .map_err(|_| not_found(format!("no task {task}")))?;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no task {task}")))?;
        let thread = target
            .threads
            .get_mut(&task)
            .ok_or_else(|| not_found(format!("no task {task}")))?;
        thread
            .handle
            .kill()
            .map_err(|status| status_error("task_kill", status))?;
        thread.held = None;
        thread.pending = None;
        Ok(Reply::Done)
    }

    fn backtrace(&mut self, tid: Koid) -> Outcome {
        let pid = self.process_of(tid)?;
        let (target, tid) = self.held(tid)?;
        let registers = target.threads[&tid]
            .handle
            .read_registers()
            .map_err(|status| status_error("thread_read_state", status))?;
        let process = target
            .handle
            .duplicate(zx::Rights::SAME_RIGHTS)
            .map_err(|status| status_error("handle_duplicate", status))?;
        let program = self.program_of(pid)?;
        Ok(Reply::Backtrace(program.backtrace(&process, &registers)))
    }

    fn symbolize(&mut self, pid: Koid, addresses: &[u64]) -> Outcome {
        let program = self.program_of(pid)?;
        Ok(Reply::Symbols(
            addresses
                .iter()
                .map(|&pc| StackFrame {
                    pc,
                    locations: program.locations(pc),
                })
                .collect(),
        ))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Resume {
    Step,
    Continue,
    PassOn,
}

fn describe(location: &BreakpointLocation) -> String {
    match location {
        BreakpointLocation::Address(address) => format!("{address:#x}"),
        BreakpointLocation::Function(name) => format!("function {name}"),
        BreakpointLocation::Line { file, line } => format!("{file}:{line}"),
    }
}

fn breakpoint_instruction(arch: Arch) -> &'static [u8] {
    match arch {
        Arch::X86_64 => &[0xcc],                    // int3
        Arch::Aarch64 => &[0x00, 0x00, 0x20, 0xd4], // brk #0
    }
}

/// The original bytes a planted breakpoint keeps for `address`.
fn original_at(target: &Target, address: u64) -> Option<Vec<u8>> {
    target.breakpoints.iter().find_map(|planted| {
        planted
            .saved
            .iter()
            .find(|(at, _)| *at == address)
            .map(|(_, original)| original.clone())
    })
}

/// Put the original bytes back where `planted` (already out of the list)
/// was the only breakpoint.
fn restore(target: &Target, planted: &Planted) {
    for (address, original) in &planted.saved {
        if original_at(target, *address).is_none() {
            let _ = target.handle.write_memory(*address, original);
        }
    }
}

/// Write the breakpoint instruction back at `address`, if a breakpoint
/// still wants it.
fn replant(target: &Target, address: u64, arch: Arch) {
    if original_at(target, address).is_some() {
        let _ = target
            .handle
            .write_memory(address, breakpoint_instruction(arch));
    }
}

fn facts_of(arch: Arch, report: &ExceptionReport, exception_type: u32) -> ExceptionFacts {
    let context = &report.context;
    let facts = match arch {
        Arch::X86_64 => {
            let x86 = context.arch.as_x86_64();
            ArchFacts::X86_64 {
                vector: x86.vector,
                error_code: x86.err_code,
                cr2: x86.cr2,
            }
        }
        Arch::Aarch64 => {
            let arm = context.arch.as_arm64();
            ArchFacts::Aarch64 {
                esr: arm.esr,
                far: arm.far,
            }
        }
    };
    ExceptionFacts {
        exception_type,
        arch: facts,
        synth_code: context.synth_code,
        synth_data: context.synth_data,
    }
}

fn thread_state(state: u32, thread: &TargetThread) -> ThreadState {
    match state {
        info::THREAD_STATE_NEW => ThreadState::New,
        info::THREAD_STATE_RUNNING => ThreadState::Running,
        info::THREAD_STATE_SUSPENDED => ThreadState::Suspended,
        info::THREAD_STATE_BLOCKED_EXCEPTION => ThreadState::InException {
            exception_type: thread
                .held
                .as_ref()
                .map_or(0, |held| held.stop.exception.exception_type),
        },
        info::THREAD_STATE_DYING => ThreadState::Dying,
        info::THREAD_STATE_DEAD => ThreadState::Dead,
        _ => ThreadState::Blocked,
    }
}
