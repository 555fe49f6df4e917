//! An in-process agent over a fake process, speaking the real protocol.
//!
//! It stands in for the in-guest agent until the kernel runs user
//! processes: the client's tests drive it through a socket pair exactly as
//! they will drive the real one through QEMU's serial line. Its process is
//! an ELF image (the symbolizer's fixture), loaded into a fake memory, with
//! one thread stopped by a page fault; breakpoints, stepping, continuing,
//! passing on and killing change that state as the kernel would, and every
//! stop carries a backtrace symbolized from the ELF's DWARF.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;

use object::{Object, ObjectSegment};
use spinel_abi::exception::{EXCP_FATAL_PAGE_FAULT, EXCP_HW_BREAKPOINT, EXCP_SW_BREAKPOINT};
use spinel_abi::thread::{aarch64, x86_64};
use spinel_debug_protocol::{
    AgentMessage, Arch, ArchFacts, Attached, Breakpoint, BreakpointLocation, Command, Error,
    ErrorCode, Event, ExceptionFacts, FrameDecoder, Hello, HostMessage, JobInfo, ProcessInfo,
    Registers, Reply, Response, SourceLocation, StackFrame, Stop, ThreadInfo, ThreadState,
    decode_host_message, encode,
};
use spinel_symbolize::{NameStyle, Symbolizer};

pub const ROOT_JOB: u64 = 1025;
pub const JOB: u64 = 1026;
pub const PROCESS: u64 = 1030;
pub const THREAD: u64 = 1031;
/// `ZX_TASK_RETCODE_SYSCALL_KILL`.
const KILLED: i64 = -1024;
/// `ZX_TASK_RETCODE_EXCEPTION_KILL`.
const EXCEPTION_KILLED: i64 = -1028;
const STACK_TOP: u64 = 0x7fff_0000;
const STACK_SIZE: u64 = 0x1_0000;
/// The address the fake fault reports.
pub const FAULT_ADDRESS: u64 = 0x10;

/// Starts a fake agent on a thread; returns the client's end of the link.
/// `hello` is what the agent answers the handshake with (`None`: this
/// build's own).
pub fn spawn(elf: Vec<u8>, hello: Option<Hello>) -> io::Result<(UnixStream, JoinHandle<()>)> {
    let (client, agent) = UnixStream::pair()?;
    let handle = std::thread::spawn(move || {
        // The link closing ends the agent; errors just end it sooner.
        let _ = serve(&elf, hello, agent);
    });
    Ok((client, handle))
}

/// Serves one client until it hangs up.
pub fn serve(elf: &[u8], hello: Option<Hello>, mut link: UnixStream) -> io::Result<()> {
    let ours = hello.unwrap_or_else(|| Hello::ours("spinel-fake-agent"));
    let mut agent = FakeProcess::new(elf).map_err(|e| io::Error::other(e.to_string()))?;
    let mut decoder = FrameDecoder::new();
    let mut refused: Option<String> = None;
    let mut greeted = false;
    let mut buffer = [0u8; 4096];
    loop {
        let count = link.read(&mut buffer)?;
        if count == 0 {
            return Ok(());
        }
        decoder.push(&buffer[..count]);
        while let Some(frame) = decoder.next_frame() {
            let message = frame
                .map_err(|error| error.to_decode_error())
                .and_then(|frame| decode_host_message(&frame));
            let mut replies = Vec::new();
            match message {
                Err(error) => replies.push(error.to_agent_message()),
                Ok(_) if refused.is_some() => {
                    replies.push(AgentMessage::Refused(spinel_debug_protocol::Refusal {
                        reason: refused.clone().unwrap_or_default(),
                    }))
                }
                Ok(HostMessage::Hello(theirs)) => {
                    replies.push(AgentMessage::Hello(ours.clone()));
                    if let Err(error) = ours.check(&theirs) {
                        refused = Some(error.to_string());
                        replies.push(AgentMessage::Refused(error.refusal()));
                    }
                    greeted = true;
                }
                Ok(HostMessage::Request(request)) if !greeted => {
                    replies.push(AgentMessage::Response(Response {
                        id: request.id,
                        reply: Reply::Error(Error::new(
                            ErrorCode::InvalidArgument,
                            "send Hello first",
                        )),
                    }));
                }
                Ok(HostMessage::Request(request)) => {
                    let reply = agent.handle(request.command);
                    replies.push(AgentMessage::Response(Response {
                        id: request.id,
                        reply,
                    }));
                    replies.extend(agent.events.drain(..).map(AgentMessage::Event));
                }
            }
            for reply in replies {
                let frame = encode(&reply).map_err(|e| io::Error::other(e.to_string()))?;
                link.write_all(&frame)?;
            }
        }
    }
}

struct Segment {
    base: u64,
    bytes: Vec<u8>,
}

struct FakeBreakpoint {
    info: Breakpoint,
    /// Original bytes under each breakpoint instruction.
    saved: Vec<(u64, Vec<u8>)>,
}

/// The fake process and its one thread.
struct FakeProcess<'elf> {
    symbolizer: Symbolizer<'elf>,
    arch: Arch,
    memory: Vec<Segment>,
    registers: Vec<u64>,
    attached: bool,
    stop: Option<Stop>,
    /// The return address the fake stack holds (in `_start`).
    return_address: u64,
    exited: bool,
    breakpoints: Vec<FakeBreakpoint>,
    next_breakpoint: u32,
    events: Vec<Event>,
}

fn not_found(what: impl Into<String>) -> Reply {
    Reply::Error(Error::new(ErrorCode::NotFound, what))
}

impl<'elf> FakeProcess<'elf> {
    fn new(elf: &'elf [u8]) -> Result<Self, spinel_symbolize::Error> {
        let symbolizer = Symbolizer::new(elf)?.with_style(NameStyle::Readable);
        let arch = match symbolizer.arch() {
            spinel_symbolize::Arch::X86_64 => Arch::X86_64,
            spinel_symbolize::Arch::Aarch64 => Arch::Aarch64,
        };
        let mut memory = Vec::new();
        if let Ok(file) = object::File::parse(elf) {
            for segment in file.segments() {
                let mut bytes = segment.data().unwrap_or(&[]).to_vec();
                bytes.resize(segment.size() as usize, 0);
                memory.push(Segment {
                    base: segment.address(),
                    bytes,
                });
            }
        }
        memory.push(Segment {
            base: STACK_TOP - STACK_SIZE,
            bytes: vec![0; STACK_SIZE as usize],
        });
        // The thread faults in `pick` and was called from `_start`.
        let fault_pc = symbolizer
            .find_function("pick")
            .first()
            .map(|start| start + 4)
            .unwrap_or(0);
        let return_address = symbolizer
            .find_function("_start")
            .first()
            .map(|start| start + 0x20)
            .unwrap_or(0);
        let layout = arch.layout();
        let mut registers = vec![0; layout.count];
        registers[layout.pc] = fault_pc;
        registers[layout.sp] = STACK_TOP - 0x100;
        let mut process = FakeProcess {
            symbolizer,
            arch,
            memory,
            registers,
            attached: false,
            stop: None,
            return_address,
            exited: false,
            breakpoints: Vec::new(),
            next_breakpoint: 1,
            events: Vec::new(),
        };
        let facts = match arch {
            Arch::X86_64 => ArchFacts::X86_64 {
                vector: 14,
                error_code: 4,
                cr2: FAULT_ADDRESS,
            },
            Arch::Aarch64 => ArchFacts::Aarch64 {
                esr: 0x9200_0006,
                far: FAULT_ADDRESS,
            },
        };
        process.stop = Some(process.make_stop(EXCP_FATAL_PAGE_FAULT, facts, None));
        Ok(process)
    }

    fn pc(&self) -> u64 {
        self.registers[self.arch.layout().pc]
    }

    fn locations(&self, address: u64) -> Vec<SourceLocation> {
        self.symbolizer
            .symbolize(address)
            .into_iter()
            .filter(|frame| frame.function.is_some() || frame.file.is_some())
            .map(|frame| SourceLocation {
                function: frame.function,
                file: frame.file,
                line: frame.line,
                column: frame.column,
            })
            .collect()
    }

    /// The fake stack: the pc, then the return address into `_start`.
    fn backtrace(&self) -> Vec<StackFrame> {
        vec![
            StackFrame {
                pc: self.pc(),
                locations: self.locations(self.pc()),
            },
            StackFrame {
                pc: self.return_address,
                locations: self.locations(self.return_address - 1),
            },
        ]
    }

    fn make_stop(&self, exception_type: u32, arch: ArchFacts, breakpoint: Option<u32>) -> Stop {
        Stop {
            process: PROCESS,
            thread: THREAD,
            exception: ExceptionFacts {
                exception_type,
                arch,
                synth_code: 0,
                synth_data: 0,
            },
            breakpoint,
            backtrace: self.backtrace(),
        }
    }

    fn segment(&mut self, address: u64, length: usize) -> Option<&mut [u8]> {
        let segment = self.memory.iter_mut().find(|segment| {
            address >= segment.base
                && address
                    .checked_add(length as u64)
                    .is_some_and(|end| end <= segment.base + segment.bytes.len() as u64)
        })?;
        let offset = (address - segment.base) as usize;
        Some(&mut segment.bytes[offset..offset + length])
    }

    fn check_process(&self, process: u64) -> Result<(), Reply> {
        if process != PROCESS || self.exited {
            return Err(not_found(format!("no process {process}")));
        }
        Ok(())
    }

    fn check_attached(&self, process: u64) -> Result<(), Reply> {
        self.check_process(process)?;
        if !self.attached {
            return Err(Reply::Error(Error::new(
                ErrorCode::NotAttached,
                format!("attach to process {process} first"),
            )));
        }
        Ok(())
    }

    fn check_stopped(&self, thread: u64) -> Result<(), Reply> {
        if thread != THREAD || self.exited {
            return Err(not_found(format!("no thread {thread}")));
        }
        self.check_attached(PROCESS)?;
        if self.stop.is_none() {
            return Err(Reply::Error(Error::new(
                ErrorCode::NotStopped,
                format!("thread {thread} is running"),
            )));
        }
        Ok(())
    }

    fn exit(&mut self, return_code: i64) {
        self.exited = true;
        self.stop = None;
        self.events.push(Event::ThreadExited {
            process: PROCESS,
            thread: THREAD,
        });
        self.events.push(Event::ProcessExited {
            process: PROCESS,
            return_code,
        });
    }

    fn handle(&mut self, command: Command) -> Reply {
        match self.dispatch(command) {
            Ok(reply) | Err(reply) => reply,
        }
    }

    fn dispatch(&mut self, command: Command) -> Result<Reply, Reply> {
        Ok(match command {
            Command::ListJobs => Reply::Jobs(vec![
                JobInfo {
                    koid: ROOT_JOB,
                    parent: None,
                    name: "root".into(),
                },
                JobInfo {
                    koid: JOB,
                    parent: Some(ROOT_JOB),
                    name: "apps".into(),
                },
            ]),
            Command::ListProcesses { job } => {
                if job.is_some_and(|job| job != JOB && job != ROOT_JOB) {
                    return Err(not_found(format!("no job {}", job.unwrap_or(0))));
                }
                let mut processes = Vec::new();
                if !self.exited && job != Some(ROOT_JOB) {
                    processes.push(ProcessInfo {
                        koid: PROCESS,
                        job: JOB,
                        name: "shapes".into(),
                        attached: self.attached,
                    });
                }
                Reply::Processes(processes)
            }
            Command::ListThreads { process } => {
                self.check_process(process)?;
                let state = match &self.stop {
                    Some(stop) => ThreadState::InException {
                        exception_type: stop.exception.exception_type,
                    },
                    None => ThreadState::Running,
                };
                Reply::Threads(vec![ThreadInfo {
                    koid: THREAD,
                    name: "main".into(),
                    state,
                }])
            }
            Command::Attach { process } => {
                self.check_process(process)?;
                self.attached = true;
                Reply::Attached(Attached {
                    process,
                    stops: self.stop.iter().cloned().collect(),
                })
            }
            Command::Detach {
                process,
                leave_stopped,
            } => {
                self.check_attached(process)?;
                for breakpoint in std::mem::take(&mut self.breakpoints) {
                    self.restore(&breakpoint);
                }
                self.attached = false;
                if !leave_stopped && self.stop.is_some() {
                    // TRY_NEXT with nobody else to handle a fatal fault.
                    self.exit(EXCEPTION_KILLED);
                    self.events.clear();
                }
                Reply::Done
            }
            Command::ReadRegisters { thread } => {
                self.check_stopped(thread)?;
                Reply::Registers(Registers {
                    arch: self.arch,
                    values: self.registers.clone(),
                })
            }
            Command::WriteRegisters { thread, registers } => {
                self.check_stopped(thread)?;
                if registers.arch != self.arch || registers.values.len() != self.registers.len() {
                    return Err(Reply::Error(Error::new(
                        ErrorCode::InvalidArgument,
                        format!(
                            "expected {} {} registers",
                            self.registers.len(),
                            self.arch.name()
                        ),
                    )));
                }
                self.registers = registers.values;
                Reply::Done
            }
            Command::ReadMemory {
                process,
                address,
                length,
            } => {
                self.check_process(process)?;
                match self.segment(address, length as usize) {
                    Some(bytes) => Reply::Memory(bytes.to_vec()),
                    None => return Err(unmapped(address)),
                }
            }
            Command::WriteMemory {
                process,
                address,
                bytes,
            } => {
                self.check_attached(process)?;
                match self.segment(address, bytes.len()) {
                    Some(target) => target.copy_from_slice(&bytes),
                    None => return Err(unmapped(address)),
                }
                Reply::Done
            }
            Command::SetBreakpoint { process, location } => {
                self.check_attached(process)?;
                let addresses = match &location {
                    BreakpointLocation::Address(address) => vec![*address],
                    BreakpointLocation::Function(name) => self.symbolizer.find_function(name),
                    BreakpointLocation::Line { file, line } => {
                        self.symbolizer.find_line(file, *line)
                    }
                };
                if addresses.is_empty() {
                    return Err(not_found(format!("no code for {location:?}")));
                }
                let instruction: &[u8] = match self.arch {
                    Arch::X86_64 => &[0xcc],
                    Arch::Aarch64 => &[0x00, 0x00, 0x20, 0xd4],
                };
                let mut saved = Vec::new();
                for &address in &addresses {
                    let Some(target) = self.segment(address, instruction.len()) else {
                        return Err(unmapped(address));
                    };
                    saved.push((address, target.to_vec()));
                    target.copy_from_slice(instruction);
                }
                let info = Breakpoint {
                    id: self.next_breakpoint,
                    location,
                    addresses,
                };
                self.next_breakpoint += 1;
                self.breakpoints.push(FakeBreakpoint {
                    info: info.clone(),
                    saved,
                });
                Reply::Breakpoint(info)
            }
            Command::ClearBreakpoint {
                process,
                breakpoint,
            } => {
                self.check_attached(process)?;
                let index = self
                    .breakpoints
                    .iter()
                    .position(|b| b.info.id == breakpoint)
                    .ok_or_else(|| not_found(format!("no breakpoint {breakpoint}")))?;
                let removed = self.breakpoints.remove(index);
                self.restore(&removed);
                Reply::Done
            }
            Command::ListBreakpoints { process } => {
                self.check_attached(process)?;
                Reply::Breakpoints(self.breakpoints.iter().map(|b| b.info.clone()).collect())
            }
            Command::Step { thread } => {
                self.check_stopped(thread)?;
                let layout = self.arch.layout();
                let (advance, facts) = match self.arch {
                    Arch::X86_64 => (
                        1,
                        ArchFacts::X86_64 {
                            vector: 1,
                            error_code: 0,
                            cr2: 0,
                        },
                    ),
                    Arch::Aarch64 => (
                        4,
                        ArchFacts::Aarch64 {
                            esr: 0x32 << 26,
                            far: 0,
                        },
                    ),
                };
                self.registers[layout.pc] += advance;
                let stop = self.make_stop(EXCP_HW_BREAKPOINT, facts, None);
                self.stop = Some(stop.clone());
                self.events.push(Event::Stopped(stop));
                Reply::Done
            }
            Command::Continue { thread } => {
                self.check_stopped(thread)?;
                let next = self.breakpoints.iter().find_map(|b| {
                    b.info
                        .addresses
                        .iter()
                        .find(|&&address| address != self.pc())
                        .map(|&address| (b.info.id, address))
                });
                match next {
                    Some((id, address)) => {
                        self.registers[self.arch.layout().pc] = address;
                        let facts = match self.arch {
                            Arch::X86_64 => ArchFacts::X86_64 {
                                vector: 3,
                                error_code: 0,
                                cr2: 0,
                            },
                            Arch::Aarch64 => ArchFacts::Aarch64 {
                                esr: 0xf200_0000,
                                far: 0,
                            },
                        };
                        let stop = self.make_stop(EXCP_SW_BREAKPOINT, facts, Some(id));
                        self.stop = Some(stop.clone());
                        self.events.push(Event::Stopped(stop));
                    }
                    None => self.exit(0),
                }
                Reply::Done
            }
            Command::PassOn { thread } => {
                self.check_stopped(thread)?;
                self.exit(EXCEPTION_KILLED);
                Reply::Done
            }
            Command::Kill { task } => {
                if task != PROCESS && task != THREAD || self.exited {
                    return Err(not_found(format!("no task {task}")));
                }
                self.exit(KILLED);
                Reply::Done
            }
            Command::Backtrace { thread } => {
                self.check_stopped(thread)?;
                Reply::Backtrace(self.backtrace())
            }
            Command::Symbolize { process, addresses } => {
                self.check_process(process)?;
                Reply::Symbols(
                    addresses
                        .into_iter()
                        .map(|pc| StackFrame {
                            pc,
                            locations: self.locations(pc),
                        })
                        .collect(),
                )
            }
        })
    }

    fn restore(&mut self, breakpoint: &FakeBreakpoint) {
        for (address, bytes) in &breakpoint.saved {
            if let Some(target) = self.segment(*address, bytes.len()) {
                target.copy_from_slice(bytes);
            }
        }
    }
}

fn unmapped(address: u64) -> Reply {
    Reply::Error(Error::new(
        ErrorCode::Status(spinel_abi::Status::NO_MEMORY.into_raw()),
        format!("nothing mapped at {address:#x}"),
    ))
}

// The register slots the fake relies on exist in both layouts.
const _: () = assert!(x86_64::RIP < x86_64::COUNT && aarch64::PC < aarch64::COUNT);
