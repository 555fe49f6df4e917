//! The real agent's logic (`spinel-debug-agent-core`) over a fake kernel,
//! speaking the real protocol on an in-process socket.
//!
//! The client's tests drive it exactly as the end-to-end tests drive the
//! guest's agent through QEMU's serial line, and every request is answered
//! by the same code; only the kernel is simulated: [`FakeSystem`] holds one
//! process (an ELF image, the symbolizer's fixture, loaded into a fake
//! memory, plus a stack) with one thread.
//!
//! The rules the fake keeps:
//! - **It only simulates the kernel.** Breakpoints, held stops, sessions
//!   and replies are the agent's; the fake moves memory, registers and the
//!   thread, and delivers exceptions as the kernel's channel would (one
//!   notification per arming, a generation in each).
//! - **The scene**: the agent catches the process as it starts (attaching,
//!   as in the guest), the thread faults in `pick` (a page fault at
//!   [`FAULT_ADDRESS`]), and the agent detaches leaving it stopped, as a
//!   host that went away would: a new host finds the process unattached
//!   with the fault held.
//! - **How the thread runs**: resumed, it single-steps one instruction if
//!   asked, or else runs to the first planted breakpoint other than the
//!   one it last stopped at, or to its end (return code 0). An exception
//!   passed on with nobody else to take it kills the process
//!   (`TASK_RETCODE_EXCEPTION_KILL`), as the kernel does.
//! - Each stop's stack is laid out so that it unwinds to `_start`, the
//!   fake caller, through the program's own CFI.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::thread::JoinHandle;

use object::{Object, ObjectSegment};
use spinel_abi::exception::{
    Arm64ExceptionContext, EXCEPTION_STATE_TRY_NEXT, EXCP_FATAL_PAGE_FAULT, EXCP_HW_BREAKPOINT,
    EXCP_SW_BREAKPOINT, ExceptionArchContext, ExceptionReport, X86_64ExceptionContext,
};
use spinel_abi::thread::aarch64;
use spinel_abi::{Koid, Status, info};
use spinel_debug_agent_core::breakpoints::breakpoint_instruction;
use spinel_debug_agent_core::{Agent, Link, NextException, System, ThreadRegisters};
use spinel_debug_protocol::{AgentMessage, Arch, Command, FrameDecoder, FrameError, Hello, encode};
use spinel_symbolize::{Memory, Symbolizer};

pub const ROOT_JOB: u64 = 1025;
pub const JOB: u64 = 1026;
pub const PROCESS: u64 = 1030;
pub const THREAD: u64 = 1031;
/// The program the fake process runs (its name, as in the guest).
pub const PROGRAM: &str = "shapes";
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

type FakeAgent<'elf> = Agent<'elf, FakeSystem<'elf>, FakeLink>;

/// Serves one client until it hangs up.
pub fn serve(elf: &[u8], hello: Option<Hello>, stream: UnixStream) -> io::Result<()> {
    let system = FakeSystem::new(elf).map_err(|e| io::Error::other(e.to_string()))?;
    let link = FakeLink {
        stream,
        decoder: FrameDecoder::new(),
        taken: false,
    };
    let mut agent = Agent::new(system, link, "spinel-fake-agent");
    if let Some(hello) = hello {
        agent = agent.with_hello(hello);
    }
    set_the_scene(&mut agent);
    let mut buffer = [0u8; 4096];
    loop {
        // One frame at a time, then the world moves: a reply is followed
        // by the events it causes, before the next request is read.
        agent.link.taken = false;
        agent.handle_frames();
        run_the_world(&mut agent);
        if agent.link.taken {
            continue;
        }
        let count = agent.link.stream.read(&mut buffer)?;
        if count == 0 {
            return Ok(());
        }
        agent.link.decoder.push(&buffer[..count]);
    }
}

/// The process starts, the agent attaches, the thread faults and is held,
/// and the agent detaches leaving it stopped.
fn set_the_scene(agent: &mut FakeAgent<'_>) {
    if let Err(status) = agent.process_starting(PROCESS, FakeTask, THREAD, FakeTask) {
        agent
            .system
            .log(format_args!("fake agent: cannot start: {status:?}"));
    }
    let fault_pc = agent
        .system
        .symbolizer
        .find_function("pick")
        .first()
        .map(|start| start + 4)
        .unwrap_or(0);
    agent.system.world.borrow_mut().registers.set_pc(fault_pc);
    let facts = match agent.system.arch {
        Arch::X86_64 => ExceptionArchContext::x86_64(X86_64ExceptionContext {
            vector: 14,
            err_code: 4,
            cr2: FAULT_ADDRESS,
        }),
        Arch::Aarch64 => ExceptionArchContext::arm64(Arm64ExceptionContext {
            esr: 0x9200_0006,
            far: FAULT_ADDRESS,
            ..Default::default()
        }),
    };
    agent.system.raise(EXCP_FATAL_PAGE_FAULT, facts);
    run_the_world(agent);
    let _ = agent.command(Command::Detach {
        process: PROCESS,
        leave_stopped: true,
    });
}

/// Deliver what the kernel would: the thread's progress, exceptions to an
/// armed channel, the process's end to its watcher.
fn run_the_world(agent: &mut FakeAgent<'_>) {
    loop {
        let resolved = agent.system.world.borrow_mut().resolved.take();
        if let Some(state) = resolved {
            agent.system.advance(state);
            continue;
        }
        let mut world = agent.system.world.borrow_mut();
        if !world.queued.is_empty()
            && let Some((pid, generation)) = world.armed.take()
        {
            drop(world);
            agent.debugger_channel_readable(pid, generation);
            continue;
        }
        if world.return_code.is_some() && world.watched.take().is_some() {
            drop(world);
            agent.process_terminated(PROCESS);
            continue;
        }
        return;
    }
}

/// The link: a Unix socket, one frame taken per round.
pub struct FakeLink {
    stream: UnixStream,
    decoder: FrameDecoder,
    /// A frame was taken this round.
    taken: bool,
}

impl Link for FakeLink {
    fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        if self.taken {
            return None;
        }
        let frame = self.decoder.next_frame();
        self.taken = frame.is_some();
        frame
    }

    fn send(&mut self, message: &AgentMessage) -> Result<(), Status> {
        let frame = encode(message).map_err(|_| Status::INTERNAL)?;
        self.stream.write_all(&frame).map_err(|_| Status::IO)
    }

    fn inject(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
    }
}

/// The fake's process and thread handles (there is one of each).
pub struct FakeTask;

/// A held exception of the one thread.
pub struct FakeException;

/// The process-debugger channel; closed when dropped.
pub struct FakeChannel(Rc<Cell<bool>>);

impl Drop for FakeChannel {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

struct Segment {
    base: u64,
    bytes: Vec<u8>,
}

/// The thread's life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Run {
    Running,
    InException,
    Dead,
}

/// What the fake kernel knows.
struct World {
    memory: Vec<Segment>,
    registers: ThreadRegisters,
    report: ExceptionReport,
    run: Run,
    single_step: bool,
    /// Addresses holding the breakpoint instruction, in planting order.
    planted: Vec<u64>,
    /// The breakpoint the thread last stopped at.
    at: Option<u64>,
    /// Whether a debugger channel is open.
    channel: Rc<Cell<bool>>,
    /// Exception types queued on the channel.
    queued: VecDeque<u32>,
    /// The channel's notification, armed (pid, generation).
    armed: Option<(Koid, u64)>,
    /// The process's end is watched.
    watched: Option<()>,
    /// How the last exception was resolved, not yet acted on.
    resolved: Option<u32>,
    return_code: Option<i64>,
}

/// The fake kernel: one process running the ELF, one thread.
pub struct FakeSystem<'elf> {
    elf: &'elf [u8],
    arch: Arch,
    symbolizer: Symbolizer<'elf>,
    /// `_start` plus a little: the fake caller of every stop.
    return_address: u64,
    world: RefCell<World>,
}

impl<'elf> FakeSystem<'elf> {
    fn new(elf: &'elf [u8]) -> Result<Self, spinel_symbolize::Error> {
        let symbolizer = Symbolizer::new(elf)?;
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
        let return_address = symbolizer
            .find_function("_start")
            .first()
            .map(|start| start + 0x20)
            .unwrap_or(0);
        let mut registers = ThreadRegisters::new(arch.layout());
        registers.slots[registers.layout.sp] = STACK_TOP - 0x100;
        let world = World {
            memory,
            registers,
            report: ExceptionReport::default(),
            run: Run::Running,
            single_step: false,
            planted: Vec::new(),
            at: None,
            channel: Rc::new(Cell::new(false)),
            queued: VecDeque::new(),
            armed: None,
            watched: None,
            resolved: None,
            return_code: None,
        };
        Ok(FakeSystem {
            elf,
            arch,
            symbolizer,
            return_address,
            world: RefCell::new(world),
        })
    }

    /// The thread takes an exception at its pc: to the debugger if one is
    /// attached, else nobody handles it and the process dies.
    fn raise(&self, exception_type: u32, facts: ExceptionArchContext) {
        self.lay_out_stack();
        let mut world = self.world.borrow_mut();
        if !world.channel.get() {
            drop(world);
            self.end(EXCEPTION_KILLED);
            return;
        }
        let mut report = ExceptionReport::new(exception_type);
        report.context.arch = facts;
        world.report = report;
        world.run = Run::InException;
        world.queued.push_back(exception_type);
    }

    /// The thread goes on after its exception was resolved with `state`.
    fn advance(&self, state: u32) {
        if state == EXCEPTION_STATE_TRY_NEXT {
            // Nobody after the debugger takes it.
            self.end(EXCEPTION_KILLED);
            return;
        }
        let mut world = self.world.borrow_mut();
        world.run = Run::Running;
        if world.single_step {
            let (advance, facts) = match self.arch {
                Arch::X86_64 => (
                    1,
                    ExceptionArchContext::x86_64(X86_64ExceptionContext {
                        vector: 1,
                        ..Default::default()
                    }),
                ),
                Arch::Aarch64 => (
                    4,
                    ExceptionArchContext::arm64(Arm64ExceptionContext {
                        esr: 0x32 << 26,
                        ..Default::default()
                    }),
                ),
            };
            let pc = world.registers.pc() + advance;
            world.registers.set_pc(pc);
            drop(world);
            self.raise(EXCP_HW_BREAKPOINT, facts);
            return;
        }
        let at = world.at;
        let Some(&address) = world.planted.iter().find(|&&address| Some(address) != at) else {
            drop(world);
            self.end(0);
            return;
        };
        world.at = Some(address);
        let (pc, facts) = match self.arch {
            // `int3` reports the instruction after itself.
            Arch::X86_64 => (
                address + 1,
                ExceptionArchContext::x86_64(X86_64ExceptionContext {
                    vector: 3,
                    ..Default::default()
                }),
            ),
            Arch::Aarch64 => (
                address,
                ExceptionArchContext::arm64(Arm64ExceptionContext {
                    esr: 0xf200_0000,
                    ..Default::default()
                }),
            ),
        };
        world.registers.set_pc(pc);
        drop(world);
        self.raise(EXCP_SW_BREAKPOINT, facts);
    }

    /// The process ends with `return_code`.
    fn end(&self, return_code: i64) {
        let mut world = self.world.borrow_mut();
        if world.return_code.is_none() {
            world.return_code = Some(return_code);
        }
        world.run = Run::Dead;
        world.queued.clear();
    }

    /// Zero the stack and put the return address where the program's CFI
    /// looks for it at the current pc (or in the link register), so the
    /// thread unwinds to `_start`. Where that is comes from unwinding once
    /// over a memory in which every word holds its own address.
    fn lay_out_stack(&self) {
        struct Addresses;
        impl Memory for Addresses {
            fn read_u64(&mut self, address: u64) -> Option<u64> {
                Some(address)
            }
        }
        let mut world = self.world.borrow_mut();
        if self.arch == Arch::Aarch64 {
            world.registers.slots[aarch64::LR] = self.return_address;
        }
        let registers = world.registers;
        if let Some(stack) = world.memory.last_mut() {
            stack.bytes.fill(0);
        }
        let frames = self
            .symbolizer
            .unwind(registers.values(), &mut Addresses, 2);
        if let Some(caller) = frames.get(1)
            && caller.pc != self.return_address
        {
            drop(world);
            let _ = self.poke(caller.pc, &self.return_address.to_le_bytes());
        }
    }

    /// The bytes at `address` up to the end of their segment.
    fn with_segment<T>(&self, address: u64, f: impl FnOnce(&mut [u8]) -> T) -> Result<T, Status> {
        let mut world = self.world.borrow_mut();
        let segment = world
            .memory
            .iter_mut()
            .find(|segment| {
                address >= segment.base && address < segment.base + segment.bytes.len() as u64
            })
            .ok_or(Status::NO_MEMORY)?;
        let offset = (address - segment.base) as usize;
        Ok(f(&mut segment.bytes[offset..]))
    }

    fn poke(&self, address: u64, bytes: &[u8]) -> Result<usize, Status> {
        self.with_segment(address, |memory| {
            let count = bytes.len().min(memory.len());
            memory[..count].copy_from_slice(&bytes[..count]);
            count
        })
    }
}

impl<'elf> System<'elf> for FakeSystem<'elf> {
    type Process = FakeTask;
    type Thread = FakeTask;
    type Exception = FakeException;
    type Attachment = FakeChannel;

    fn arch(&self) -> Arch {
        self.arch
    }
    fn clock(&self) -> i64 {
        0
    }
    fn log(&self, message: fmt::Arguments<'_>) {
        eprintln!("{message}");
    }

    fn job_koid(&self) -> Koid {
        JOB
    }
    fn job_parent(&self) -> Option<Koid> {
        Some(ROOT_JOB)
    }
    fn job_name(&self) -> String {
        "apps".into()
    }

    fn program(&mut self, name: &str) -> Result<&'elf [u8], String> {
        if name == PROGRAM {
            Ok(self.elf)
        } else {
            Err("not the fake's program".into())
        }
    }

    fn process_name(&self, _: &FakeTask) -> String {
        PROGRAM.into()
    }
    fn process_job(&self, _: &FakeTask) -> Result<Koid, Status> {
        Ok(JOB)
    }
    fn return_code(&self, _: &FakeTask) -> i64 {
        self.world.borrow().return_code.unwrap_or(0)
    }
    fn watch_termination(&mut self, _: &FakeTask, _: Koid) -> Result<(), Status> {
        self.world.borrow_mut().watched = Some(());
        Ok(())
    }
    fn read_memory(&self, _: &FakeTask, address: u64, bytes: &mut [u8]) -> Result<usize, Status> {
        self.with_segment(address, |memory| {
            let count = bytes.len().min(memory.len());
            bytes[..count].copy_from_slice(&memory[..count]);
            count
        })
    }
    fn write_memory(&self, _: &FakeTask, address: u64, bytes: &[u8]) -> Result<usize, Status> {
        let count = self.poke(address, bytes)?;
        let end = address + count as u64;
        let mut world = self.world.borrow_mut();
        world
            .planted
            .retain(|&planted| planted < address || planted >= end);
        if bytes == breakpoint_instruction(self.arch) {
            world.planted.push(address);
        }
        Ok(count)
    }
    fn kill_process(&self, _: &FakeTask) -> Result<(), Status> {
        self.end(KILLED);
        Ok(())
    }

    fn create_debugger_channel(&mut self, _: &FakeTask) -> Result<FakeChannel, Status> {
        let world = self.world.borrow();
        if world.channel.get() {
            return Err(Status::ALREADY_BOUND);
        }
        world.channel.set(true);
        Ok(FakeChannel(world.channel.clone()))
    }
    fn arm(&mut self, _: &FakeChannel, pid: Koid, generation: u64) -> Result<(), Status> {
        self.world.borrow_mut().armed = Some((pid, generation));
        Ok(())
    }
    fn next_exception(&mut self, _: &FakeChannel) -> NextException<FakeException> {
        match self.world.borrow_mut().queued.pop_front() {
            Some(exception_type) => NextException::Exception(THREAD, exception_type, FakeException),
            None => NextException::Empty,
        }
    }

    fn exception_thread(&self, _: &FakeException) -> Result<FakeTask, Status> {
        Ok(FakeTask)
    }
    fn resolve(&mut self, _: FakeException, state: u32) -> Result<(), Status> {
        let mut world = self.world.borrow_mut();
        if world.run == Run::Dead {
            return Err(Status::BAD_STATE);
        }
        world.resolved = Some(state);
        Ok(())
    }

    fn thread_name(&self, _: &FakeTask) -> String {
        "main".into()
    }
    fn thread_state(&self, _: &FakeTask) -> Result<u32, Status> {
        Ok(match self.world.borrow().run {
            Run::Running => info::THREAD_STATE_RUNNING,
            Run::InException => info::THREAD_STATE_BLOCKED_EXCEPTION,
            Run::Dead => info::THREAD_STATE_DEAD,
        })
    }
    fn exception_report(&self, _: &FakeTask) -> Result<ExceptionReport, Status> {
        Ok(self.world.borrow().report)
    }
    fn read_registers(&self, _: &FakeTask) -> Result<ThreadRegisters, Status> {
        Ok(self.world.borrow().registers)
    }
    fn write_registers(&self, _: &FakeTask, registers: &ThreadRegisters) -> Result<(), Status> {
        self.world.borrow_mut().registers = *registers;
        Ok(())
    }
    fn set_single_step(&self, _: &FakeTask, on: bool) -> Result<(), Status> {
        self.world.borrow_mut().single_step = on;
        Ok(())
    }
    fn kill_thread(&self, _: &FakeTask) -> Result<(), Status> {
        self.end(KILLED);
        Ok(())
    }
}
