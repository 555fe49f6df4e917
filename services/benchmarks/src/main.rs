//! benchmarks: what the kernel's hot paths cost, in guest time.
//!
//! Run by `cargo xtask bench`, which boots QEMU with `-icount shift=0`: one
//! guest instruction is one nanosecond of guest time, so the monotonic clock
//! counts instructions and every figure below is guest instructions per
//! operation, repeatable from run to run. Each line reads
//! `bench <name> <instructions per op> (<iterations>)`.
//!
//! The same binary plays the partner roles (echo a channel, echo a port,
//! take breakpoints) when started with those arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spinel_rt::launch::{self, BootImage, Inherit};
use spinel_rt::println;
use spinel_rt::startup::Startup;
use spinel_rt::zx::abi::bootstrap::{
    TAG_BOOT_IMAGE, TAG_JOB, TAG_PROCESS_SELF, TAG_USER, TAG_VMAR_ROOT,
};
use spinel_rt::zx::abi::exception::EXCEPTION_STATE_HANDLED;
use spinel_rt::zx::abi::vm::{VM_PERM_READ, VM_PERM_WRITE};
use spinel_rt::zx::arch::Fault;
use spinel_rt::zx::{
    self, Channel, Handle, HandleBased, HandleValue, Job, ObjectCalls, Port, PortPacket, Process,
    Signals, Status, TIME_INFINITE, Task, Thread, Vmar, Vmo,
};

spinel_rt::entry!(main);

const SYSCALL_ITERATIONS: u64 = 20_000;
const ROUND_TRIPS: u64 = 2_000;
const EXCEPTIONS: u64 = 1_000;

fn main(args: spinel_rt::StartArgs) -> i64 {
    let mut startup = Startup::from_start(args.bootstrap);
    let words: Vec<String> = startup.words().map(String::from).collect();
    let result = match words.first().map(String::as_str) {
        Some("echo-channel") => echo_channel(&mut startup),
        Some("echo-port") => echo_port(&mut startup),
        Some("breakpoints") => breakpoints(),
        Some("only") => {
            if let Some(name) = words.get(1) {
                ONLY.call_once(|| name.clone());
            }
            if let Some(count) = words.get(2).and_then(|c| c.parse().ok()) {
                ITERATIONS.store(count, Ordering::Relaxed);
            }
            run_all(&mut startup)
        }
        Some("smoke") => {
            SMOKE.store(true, Ordering::Relaxed);
            run_all(&mut startup)
        }
        _ => run_all(&mut startup),
    };
    match result {
        Ok(()) => 0,
        Err(status) => {
            println!("benchmarks: {words:?} failed: {status:?}");
            1
        }
    }
}

/// Smoke mode (`cargo xtask test`): every benchmark a few times, reported
/// as a test, so that the measured paths keep working.
static SMOKE: AtomicBool = AtomicBool::new(false);
/// `only NAME`: measure that benchmark alone (the others are skipped).
static ONLY: spin::Once<String> = spin::Once::new();
/// `only NAME COUNT`: that many iterations instead of the default.
static ITERATIONS: AtomicU64 = AtomicU64::new(0);

/// Time `iterations` runs of `op`; print and return instructions per op.
fn measure(
    name: &str,
    iterations: u64,
    mut op: impl FnMut() -> Result<(), Status>,
) -> Result<u64, Status> {
    if ONLY.get().is_some_and(|only| only != name) {
        return Ok(0);
    }
    let smoke = SMOKE.load(Ordering::Relaxed);
    let iterations = match ITERATIONS.load(Ordering::Relaxed) {
        _ if smoke => 3,
        0 => iterations,
        count => count,
    };
    let start = zx::clock_get_monotonic();
    for _ in 0..iterations {
        if let Err(status) = op() {
            if smoke {
                println!("test bench_{name} ... FAILED: {status:?}");
            }
            return Err(status);
        }
    }
    let per_op = (zx::clock_get_monotonic() - start) as u64 / iterations;
    if smoke {
        println!("test bench_{name} ... ok");
    } else {
        println!("bench {name} {per_op} ({iterations})");
    }
    Ok(per_op)
}

struct Context {
    job: Job,
    image: BootImage,
    process: Process,
    vmar: Vmar,
}

fn run_all(startup: &mut Startup) -> Result<(), Status> {
    let job: Job = startup.take_typed(TAG_JOB).ok_or(Status::NOT_FOUND)?;
    let image = BootImage::new(
        startup
            .take_typed::<Vmo>(TAG_BOOT_IMAGE)
            .ok_or(Status::NOT_FOUND)?,
    );
    let process: Process = startup
        .take_typed(TAG_PROCESS_SELF)
        .ok_or(Status::NOT_FOUND)?;
    let vmar: Vmar = startup.take_typed(TAG_VMAR_ROOT).ok_or(Status::NOT_FOUND)?;
    let cx = Context {
        job,
        image,
        process,
        vmar,
    };

    measure("null_syscall", SYSCALL_ITERATIONS, || {
        zx::handle_close(HandleValue::INVALID)
    })?;
    channel_round_trip(&cx)?;
    port_round_trip(&cx)?;
    exception_round_trip_process(&cx)?;
    exception_round_trip_thread(&cx)?;
    println!("bench done");
    Ok(())
}

/// Start this program again in a child process with `role` and handles.
fn partner(cx: &Context, role: &str, handles: Vec<(u32, Handle)>) -> Result<Process, Status> {
    let inherit = Inherit {
        job: None,
        boot_image: None,
        handles,
    };
    let (process, _thread) = launch::launch(&cx.job, &cx.image, "benchmarks", role, inherit)?;
    Ok(process)
}

fn channel_round_trip(cx: &Context) -> Result<(), Status> {
    let (ours, theirs) = Channel::create()?;
    let child = partner(cx, "echo-channel", vec![(TAG_USER, theirs.into_handle())])?;
    let mut byte = [0u8; 1];
    measure("channel_round_trip", ROUND_TRIPS, || {
        ours.write(&[7], [])?;
        ours.wait_one(Signals::CHANNEL_READABLE, TIME_INFINITE)?;
        ours.read(&mut byte, &mut []).map_err(|e| e.status)?;
        Ok(())
    })?;
    drop(ours); // The partner sees PEER_CLOSED and exits.
    child.wait_one(Signals::PROCESS_TERMINATED, TIME_INFINITE)?;
    Ok(())
}

fn echo_channel(startup: &mut Startup) -> Result<(), Status> {
    let channel: Channel = startup.take_typed(TAG_USER).ok_or(Status::NOT_FOUND)?;
    let mut byte = [0u8; 1];
    loop {
        let observed = channel.wait_one(
            Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED,
            TIME_INFINITE,
        )?;
        if !observed.contains(Signals::CHANNEL_READABLE) {
            return Ok(());
        }
        channel.read(&mut byte, &mut []).map_err(|e| e.status)?;
        channel.write(&byte, [])?;
    }
}

fn port_round_trip(cx: &Context) -> Result<(), Status> {
    let (ping, pong) = (Port::create()?, Port::create()?);
    let handles = vec![
        (
            TAG_USER,
            ping.duplicate(zx::Rights::SAME_RIGHTS)?.into_handle(),
        ),
        (
            TAG_USER + 1,
            pong.duplicate(zx::Rights::SAME_RIGHTS)?.into_handle(),
        ),
    ];
    let child = partner(cx, "echo-port", handles)?;
    let packet = PortPacket::user(1, [0; 4]);
    measure("port_round_trip", ROUND_TRIPS, || {
        ping.queue(&packet)?;
        pong.wait(TIME_INFINITE)?;
        Ok(())
    })?;
    ping.queue(&PortPacket::user(0, [0; 4]))?; // key 0: stop
    child.wait_one(Signals::PROCESS_TERMINATED, TIME_INFINITE)?;
    Ok(())
}

fn echo_port(startup: &mut Startup) -> Result<(), Status> {
    let ping: Port = startup.take_typed(TAG_USER).ok_or(Status::NOT_FOUND)?;
    let pong: Port = startup.take_typed(TAG_USER + 1).ok_or(Status::NOT_FOUND)?;
    loop {
        let packet = ping.wait(TIME_INFINITE)?;
        if packet.key == 0 {
            return Ok(());
        }
        pong.queue(&packet)?;
    }
}

/// Answer one breakpoint exception: read the report, move the PC past the
/// breakpoint, HANDLED.
fn answer_breakpoint(channel: &Channel) -> Result<(), Status> {
    let (_info, exception) = channel.wait_exception(TIME_INFINITE)?;
    let thread = exception.thread()?;
    thread.exception_report()?;
    let mut regs = thread.read_registers()?;
    regs.set_pc(Fault::SoftwareBreakpoint.resume());
    thread.write_registers(&regs)?;
    exception.set_state(EXCEPTION_STATE_HANDLED)?;
    Ok(()) // Dropping the exception handle resumes the thread.
}

fn exception_round_trip_process(cx: &Context) -> Result<(), Status> {
    let prepared = launch::prepare(
        &cx.job,
        &cx.image,
        "benchmarks",
        "breakpoints",
        Inherit::default(),
    )?;
    let channel = prepared.process.create_exception_channel(0)?;
    let (child, _thread) = prepared.start()?;
    measure("exception_round_trip_process", EXCEPTIONS, || {
        answer_breakpoint(&channel)
    })?;
    child.kill()?;
    child.wait_one(Signals::PROCESS_TERMINATED, TIME_INFINITE)?;
    Ok(())
}

fn breakpoints() -> Result<(), Status> {
    loop {
        Fault::SoftwareBreakpoint.trigger(0);
    }
}

/// The in-process case: a second thread of this process takes breakpoints;
/// this thread handles them through that thread's exception channel.
fn exception_round_trip_thread(cx: &Context) -> Result<(), Status> {
    const STACK: u64 = 64 * 1024;
    let stack = Vmo::create(STACK)?;
    let base = cx
        .vmar
        .map(VM_PERM_READ | VM_PERM_WRITE, 0, &stack, 0, STACK)?;
    let thread: Thread = cx.process.create_thread(b"breakpoints")?;
    let channel = thread.create_exception_channel(0)?;
    thread.start(
        breakpoint_thread as *const () as u64,
        zx::arch::initial_stack_pointer(base + STACK),
        0,
        0,
    )?;
    measure("exception_round_trip_thread", EXCEPTIONS, || {
        answer_breakpoint(&channel)
    })?;
    thread.kill()?;
    thread.wait_one(Signals::THREAD_TERMINATED, TIME_INFINITE)?;
    cx.vmar.unmap(base, STACK)?;
    Ok(())
}

extern "C" fn breakpoint_thread(_arg1: u64, _arg2: u64) -> ! {
    loop {
        Fault::SoftwareBreakpoint.trigger(0);
    }
}
