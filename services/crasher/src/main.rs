//! crasher: crashes on purpose, for the crash service's tests.
//!
//! `crasher VARIANT` starts two worker threads (they wait forever, each a
//! few calls deep), then crashes its main thread through a recognizable
//! call chain, `crasher::run` → `crasher::prepare` → `crasher::descend` →
//! `crasher::fault` → `spinel_zx_crash_<kind>`, with the marker
//! [`MARKER`] in a callee-saved register (x86_64 `rbx`, aarch64 `x19`) and
//! in `xmm0` / `v0`. Variants: `page-fault` (a load from [`FAULT_ADDRESS`]),
//! `undefined`, `breakpoint`, `divide` (x86 `div` by zero; aarch64 has no
//! divide trap: a privileged register read, also EXCP_GENERAL). Nothing
//! handles the exception: the crash service dumps the process and it dies
//! with -1028. An unknown variant exits with 2.
//!
//! Rules: every function of the chain is `#[inline(never)]` so backtraces
//! name each; the end-to-end tests (`ci/xtask/src/crash.rs`) rely on these
//! names and on the marker.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use spinel_rt::println;
use spinel_rt::startup::Startup;
use spinel_rt::zx::abi::bootstrap::{TAG_PROCESS_SELF, TAG_VMAR_ROOT};
use spinel_rt::zx::abi::vm::{VM_PERM_READ, VM_PERM_WRITE};
use spinel_rt::zx::crash::{Crash, crash_with_marker};
use spinel_rt::zx::{self, Port, Process, Vmar, Vmo};

spinel_rt::entry!(main);

/// The marker value the crash routines put in registers.
pub const MARKER: u64 = 0x5afe_c0de_1234_5678;
/// Where the page-fault variant loads from: nothing is mapped there.
pub const FAULT_ADDRESS: u64 = 0x10;
/// Worker threads' stacks.
const WORKER_STACK: u64 = 64 * 1024;

fn main(args: spinel_rt::StartArgs) -> i64 {
    let mut startup = Startup::from_start(args.bootstrap);
    let variant = String::from(startup.words().next().unwrap_or("page-fault"));
    let crash = match variant.as_str() {
        "page-fault" => Crash::PageFault,
        "undefined" => Crash::Undefined,
        "breakpoint" => Crash::Breakpoint,
        "divide" => Crash::Divide,
        other => {
            println!(
                "crasher: unknown variant {other:?} (page-fault, undefined, breakpoint, divide)"
            );
            return 2;
        }
    };
    if let (Some(process), Some(vmar)) = (
        startup.take_typed::<Process>(TAG_PROCESS_SELF),
        startup.take_typed::<Vmar>(TAG_VMAR_ROOT),
    ) {
        for index in 0..2 {
            if let Err(status) = start_worker(&process, &vmar, index) {
                println!("crasher: worker {index} did not start: {status:?}");
            }
        }
    }
    println!("crasher: crashing with {variant}");
    run(crash);
    println!("crasher: still alive after {variant}?");
    1
}

fn start_worker(process: &Process, vmar: &Vmar, index: u64) -> Result<(), zx::Status> {
    let stack = Vmo::create(WORKER_STACK)?;
    let base = vmar.map(VM_PERM_READ | VM_PERM_WRITE, 0, &stack, 0, WORKER_STACK)?;
    let thread = process.create_thread(b"crasher-worker")?;
    thread.start(
        worker as *const () as u64,
        zx::arch::initial_stack_pointer(base + WORKER_STACK),
        index,
        0,
    )?;
    Ok(())
}

/// A worker: waits forever on a port nothing sends to.
extern "C" fn worker(index: u64, _: u64) -> ! {
    wait_forever(index);
    zx::thread_exit()
}

#[inline(never)]
fn wait_forever(index: u64) {
    if let Ok(port) = Port::create() {
        loop {
            let _ = port.wait(zx::TIME_INFINITE);
            core::hint::black_box(index);
        }
    }
}

#[inline(never)]
fn run(crash: Crash) {
    prepare(crash, core::hint::black_box(3));
}

#[inline(never)]
fn prepare(crash: Crash, depth: u64) {
    descend(crash, depth);
    core::hint::black_box(depth);
}

#[inline(never)]
fn descend(crash: Crash, depth: u64) {
    if core::hint::black_box(depth) > 1 {
        descend(crash, depth - 1);
    } else {
        fault(crash);
    }
    core::hint::black_box(depth);
}

#[inline(never)]
fn fault(crash: Crash) {
    crash_with_marker(crash, core::hint::black_box(FAULT_ADDRESS), MARKER);
    core::hint::black_box(crash);
}
