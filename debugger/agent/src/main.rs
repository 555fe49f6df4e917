//! debug-agent: the Spinel debugger's agent, a userspace service.
//!
//! init starts it with the job to watch (`TAG_JOB`), the boot image
//! (`TAG_BOOT_IMAGE`), the debug link (`TAG_DEBUG_LINK`) and an event
//! (`TAG_USER`) it signals once it watches the job. It then:
//! - is the job's debugger (job-debugger channel): each process started in
//!   the job stops at PROCESS_STARTING until the agent has attached to it
//!   (its process-debugger channel), so nothing runs unwatched;
//! - on a stop (a fault, a breakpoint, a finished step) holds the thread,
//!   reads its registers and stack, unwinds and symbolizes with the
//!   program's own DWARF (`spinel-symbolize`, over the ELF mapped from the
//!   boot image), and sends a stop event to the host client;
//! - serves the host's requests (`spinel-debug-protocol`: postcard in COBS
//!   frames) on the second serial line: jobs, processes, threads, attach,
//!   detach, registers, memory, breakpoints by address / function /
//!   `file:line`, single step, continue, pass on, kill, backtrace,
//!   symbolize.
//!
//! Targets that die mid-request get an error reply; a host that vanishes
//! leaves the stops held for the next one, which learns of them right
//! after its `Hello`.
//!
//! The decisions (sessions, stops, requests, breakpoints) are the portable
//! `spinel-debug-agent-core`, which the host client's fake agent runs too;
//! this binary is its bindings: [`zircon::Zircon`] (the system calls),
//! [`link::SerialLink`] (the debug link) and the port loop
//! ([`service::turn`]).
//!
//! `debug-agent bench N` is the benchmark (`spinel_debug_agent_core::bench`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod link;
mod service;
mod zircon;

use alloc::string::String;
use alloc::vec::Vec;

use spinel_rt::launch::BootImage;
use spinel_rt::println;
use spinel_rt::startup::Startup;
use spinel_rt::zx::abi::bootstrap::{
    TAG_BOOT_IMAGE, TAG_DEBUG_LINK, TAG_JOB, TAG_USER, TAG_VMAR_ROOT,
};
use spinel_rt::zx::{self, HandleBased, Job, ObjectCalls, Resource, Rights, Signals, Vmar, Vmo};

use spinel_debug_agent_core::{Agent, Bench};

use link::SerialLink;
use zircon::Zircon;

/// The agent's software name in its `Hello`.
const SOFTWARE: &str = concat!("spinel-debug-agent ", env!("CARGO_PKG_VERSION"));

spinel_rt::entry!(main);

fn main(args: spinel_rt::StartArgs) -> i64 {
    let mut startup = Startup::from_start(args.bootstrap);
    let words: Vec<String> = startup.words().map(String::from).collect();
    let (Some(job), Some(image), Some(link), Some(vmar)) = (
        startup.take_typed::<Job>(TAG_JOB),
        startup.take_typed::<Vmo>(TAG_BOOT_IMAGE),
        startup.take_typed::<Resource>(TAG_DEBUG_LINK),
        startup.take_typed::<Vmar>(TAG_VMAR_ROOT),
    ) else {
        println!("debug-agent: needs a job, the boot image, the debug link and its VMAR");
        return 1;
    };
    // DWARF work needs more than the 256 KiB every program starts with.
    match vmar.duplicate(Rights::SAME_RIGHTS) {
        Ok(copy) => spinel_rt::heap::grow_on_demand(copy),
        Err(status) => println!("debug-agent: the heap cannot grow: {status:?}"),
    }
    let system = match Zircon::new(job, BootImage::new(image), vmar) {
        Ok(system) => system,
        Err(status) => {
            println!("debug-agent: cannot start: {status:?}");
            return 1;
        }
    };
    let mut agent = Agent::new(system, SerialLink::new(link), SOFTWARE);
    // `bench`: the demo (started by init with `bench N`) decides how many
    // stops there are.
    if words.first().map(String::as_str) == Some("bench") {
        agent.bench = Some(Bench::new());
        agent.assume_greeted();
    }
    if let Err(status) = agent.system.watch_job() {
        println!("debug-agent: cannot become the job's debugger: {status:?}");
        return 1;
    }
    if let Some(ready) = startup.take_typed::<zx::Event>(TAG_USER) {
        let _ = ready.signal(Signals::NONE, Signals::USER_SIGNAL_0);
    }
    if agent.bench.is_none() {
        println!("debug-agent: watching the job; serving the debugger on the second serial line");
    }
    loop {
        service::turn(&mut agent);
        if let Some(bench) = &agent.bench
            && bench.target_exited
        {
            return if bench.report(|line| println!("{line}")) {
                0
            } else {
                1
            };
        }
    }
}
