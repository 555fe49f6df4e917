//! The child side: this program started as `child <step> <step> ...` runs
//! its steps in order on its first thread, then exits with
//! [`RECOVERED`](crate::env::RECOVERED). Steps:
//!
//! | step | does |
//! | --- | --- |
//! | `gate` | wait for USER_SIGNAL_0 on the gate event, then clear it |
//! | `fault:<kind>` | provoke a fault (`zx::arch::Fault`, see [`fault_named`]) |
//! | `exit:<code>` | `process_exit(code)` |
//! | `thread-exit` | `thread_exit()` |
//! | `spawn:sleep`, `spawn:fault-<kind>` | start a second thread that sleeps or faults (then exits); report its handle |
//! | `try-channel` | `channel_create`; report the status |
//! | `try-exception-channel` | `task_create_exception_channel` on itself; report the status |
//! | `own-handlers` | handlers on itself: debugger and job channels, a port on process and thread |
//! | `bind-system`, `unbind-system` | Magenta's system port (the `TAG_PORT` port); report the status |
//! | `sleep` | sleep forever |
//! | `spin` | wake every millisecond, forever |

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::env::{RECOVERED, TAG_GATE, TAG_PORT, TAG_REPORT};
use spinel_rt::startup::Startup;
use spinel_rt::zx::abi::bootstrap::{TAG_JOB, TAG_PROCESS_SELF, TAG_THREAD_SELF};
use spinel_rt::zx::abi::exception::EXCEPTION_CHANNEL_DEBUGGER;
use spinel_rt::zx::{
    self, Channel, Event, Fault, Handle, HandleBased, HandleValue, Job, ObjectCalls, Port, Process,
    Rights, Signals, Status, Task, Thread,
};

/// Fault kinds by name, as steps spell them.
pub const FAULTS: &[(&str, Fault)] = &[
    ("undefined", Fault::UndefinedInstruction),
    ("breakpoint", Fault::SoftwareBreakpoint),
    ("privileged", Fault::PrivilegedInstruction),
    ("divide", Fault::DivideByZero),
    ("wait", Fault::TrappedWait),
    ("page", Fault::PageFault),
    ("unaligned", Fault::UnalignedAccess),
];

/// The unmapped address `fault:page` reads (below every user mapping).
pub const PAGE_FAULT_ADDRESS: u64 = 0x1008;

pub fn fault_named(name: &str) -> Option<Fault> {
    FAULTS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

pub fn name_of(fault: Fault) -> &'static str {
    FAULTS
        .iter()
        .find(|(_, f)| *f == fault)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

/// A mapped word to load from unaligned.
static UNALIGNED_TARGET: [u64; 2] = [0x1122_3344_5566_7788, 0];

/// The address `fault` loads from.
pub fn fault_address(fault: Fault) -> u64 {
    match fault {
        Fault::PageFault => PAGE_FAULT_ADDRESS,
        Fault::UnalignedAccess => UNALIGNED_TARGET.as_ptr() as u64 + 1,
        _ => 0,
    }
}

struct Handles {
    process: Option<Process>,
    thread: Option<Thread>,
    job: Option<Job>,
    gate: Option<Event>,
    report: Option<Channel>,
    port: Option<Port>,
    /// What `own-handlers` made: kept until the process ends.
    keep: Vec<Handle>,
}

impl Handles {
    fn report_status(&self, status: Status) {
        if let Some(report) = &self.report {
            let _ = report.write(&status.0.to_le_bytes(), []);
        }
    }

    fn report_handle(&self, handle: Handle) {
        if let Some(report) = &self.report {
            let _ = report.write(&[0; 4], [handle]);
        }
    }
}

/// Run the steps; never returns.
pub fn run(mut startup: Startup) -> i64 {
    let mut handles = Handles {
        process: startup.take_typed(TAG_PROCESS_SELF),
        thread: startup.take_typed(TAG_THREAD_SELF),
        job: startup.take_typed(TAG_JOB),
        gate: startup.take_typed(TAG_GATE),
        report: startup.take_typed(TAG_REPORT),
        port: startup.take_typed(TAG_PORT),
        keep: Vec::new(),
    };
    let steps: Vec<&str> = startup.words().skip(1).collect();
    for step in steps {
        run_step(step, &mut handles);
    }
    RECOVERED
}

fn run_step(step: &str, h: &mut Handles) {
    let (verb, argument) = step.split_once(':').unwrap_or((step, ""));
    match verb {
        "gate" => {
            if let Some(gate) = &h.gate {
                let _ = gate.wait_one(Signals::USER_SIGNAL_0, zx::TIME_INFINITE);
                let _ = gate.signal(Signals::USER_SIGNAL_0, Signals::NONE);
            }
        }
        "fault" => {
            if let Some(fault) = fault_named(argument) {
                fault.trigger(fault_address(fault));
            }
        }
        "exit" => zx::process_exit(argument.parse().unwrap_or(0)),
        "thread-exit" => zx::thread_exit(),
        "spawn" => spawn_thread(argument, h),
        "try-channel" => {
            let status = Status::from_result(&Channel::create());
            h.report_status(status);
        }
        "try-exception-channel" => {
            let status = match &h.process {
                Some(process) => Status::from_result(&process.create_exception_channel(0)),
                None => Status::BAD_HANDLE,
            };
            h.report_status(status);
        }
        "own-handlers" => own_handlers(h),
        "bind-system" => {
            let status = match &h.port {
                Some(port) => Status::from_result(&zx::exception::task_bind_exception_port(
                    HandleValue::INVALID,
                    port.raw(),
                    0x5e5,
                    0,
                )),
                None => Status::BAD_HANDLE,
            };
            h.report_status(status);
        }
        "unbind-system" => {
            let status = Status::from_result(&zx::exception::task_bind_exception_port(
                HandleValue::INVALID,
                HandleValue::INVALID,
                0,
                0,
            ));
            h.report_status(status);
        }
        "sleep" => sleep_forever(),
        "spin" => loop {
            let _ = zx::nanosleep(zx::deadline_after(1_000_000));
        },
        _ => {
            spinel_rt::println!("exception-tests child: unknown step {step:?}");
            zx::process_exit(-2)
        }
    }
}

fn sleep_forever() -> ! {
    loop {
        let _ = zx::nanosleep(zx::TIME_INFINITE);
    }
}

/// Behaviours of a second thread: 0 sleeps, `1 + i` provokes `FAULTS[i]`.
extern "C" fn second_thread(behaviour: u64, _unused: u64) -> ! {
    if behaviour > 0
        && let Some((_, fault)) = FAULTS.get(behaviour as usize - 1)
    {
        fault.trigger(fault_address(*fault));
        zx::thread_exit()
    }
    sleep_forever()
}

/// Start a second thread (`sleep` or `fault-<kind>`) and report its handle.
fn spawn_thread(behaviour: &str, h: &Handles) {
    let code = match behaviour.strip_prefix("fault-") {
        Some(name) => FAULTS
            .iter()
            .position(|(n, _)| *n == name)
            .map_or(0, |i| i as u64 + 1),
        None => 0,
    };
    let Some(process) = &h.process else {
        zx::process_exit(-3)
    };
    let Ok(thread) = process.create_thread(b"second") else {
        zx::process_exit(-4)
    };
    let stack: &'static mut [u8] = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
    let top = stack.as_ptr() as u64 + stack.len() as u64;
    let entry = second_thread as extern "C" fn(u64, u64) -> ! as usize as u64;
    if thread
        .start(entry, zx::arch::initial_stack_pointer(top), code, 0)
        .is_err()
    {
        zx::process_exit(-5)
    }
    if let Ok(copy) = thread.duplicate(Rights::SAME_RIGHTS) {
        h.report_handle(copy.into_handle());
    }
}

/// Item 36: handlers on itself (its debugger channel, its job's channel,
/// one port on its process and thread slots), a second thread stopped in
/// an exception held by its own debugger channel.
fn own_handlers(h: &mut Handles) {
    if let Some(process) = &h.process
        && let Ok(channel) = process.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER)
    {
        h.keep.push(channel.into_handle());
    }
    if let Some(job) = &h.job
        && let Ok(channel) = job.create_exception_channel(0)
    {
        h.keep.push(channel.into_handle());
    }
    if let Ok(port) = Port::create() {
        if let Some(process) = &h.process {
            let _ = process.bind_exception_port(&port, 1, 0);
        }
        if let Some(thread) = &h.thread {
            let _ = thread.bind_exception_port(&port, 2, 0);
        }
        h.keep.push(port.into_handle());
    }
    spawn_thread("fault-privileged", h);
    // Wait until the second thread is stopped in its exception.
    let _ = zx::nanosleep(zx::deadline_after(20_000_000));
    h.report_status(Status::OK);
}
