//! init: the first user process.
//!
//! The kernel starts it with the root job, the boot image and the debug
//! link. With the argument `test [FILTER]` it runs every test suite of the
//! boot image (the programs whose name ends in `-tests`), each in a job of
//! its own, one after the other, and exits 0 only if every suite did.
//! With `bench [NAME [COUNT]]` it runs the benchmarks (and the debugger's).
//! With `run-program NAME [ARGS...]` (`cargo xtask check`) it runs the
//! boot image's program NAME with ARGS in a job of its own and reports it
//! in lines `cargo xtask check` parses: `init: run-program NAME started`,
//! then `init: run-program NAME exited with CODE` (or `cannot start: STATUS`),
//! and last `init: guest clock NS` (under `-icount shift=0`, guest
//! instructions since reset); it exits 0 only when the program did.
//!
//! With `crash PROGRAM [ARGS]` it runs a program meant to crash (the
//! crash service's end-to-end tests) and exits 0 if it died of an
//! exception. In every mode the crash service starts first.
//!
//! With no argument (`cargo xtask run`) it starts the debugger agent on the
//! debug link, watching a job `apps`, and then the `demo` program in that
//! job: the agent catches it from its first instruction and stops it where
//! it crashes, for the host client to show. init then waits for the agent,
//! which serves the host until the machine is switched off.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use spinel_rt::launch::{self, BootImage, Inherit};
use spinel_rt::println;
use spinel_rt::startup::Startup;
use spinel_rt::zx::abi::bootstrap::{
    TAG_BOOT_IMAGE, TAG_DEBUG_LINK, TAG_JOB, TAG_ROOT_JOB, TAG_USER,
};
use spinel_rt::zx::{
    self, Event, Handle, HandleBased, Job, ObjectCalls, Process, Resource, Rights, Signals, Status,
    Vmo,
};

spinel_rt::entry!(main);

/// Guest time a suite may take before init kills it.
const SUITE_TIMEOUT_NS: i64 = 120_000_000_000;
/// Guest time the debugger agent may take to watch its job.
const AGENT_READY_NS: i64 = 60_000_000_000;
/// Stops of the debugger benchmark.
const DEBUGGER_BENCH_STOPS: u64 = 200;

fn main(args: spinel_rt::StartArgs) -> i64 {
    let mut startup = Startup::from_start(args.bootstrap);
    let (Some(job), Some(image)) = (
        startup.take_typed::<Job>(TAG_JOB),
        startup.take_typed::<Vmo>(TAG_BOOT_IMAGE),
    ) else {
        println!("init: the bootstrap message lacks the root job or the boot image");
        return 1;
    };
    let image = BootImage::new(image);
    let link = startup.take_typed::<Resource>(TAG_DEBUG_LINK);
    let words: Vec<String> = startup.words().map(String::from).collect();
    let mode = words.first().map(String::as_str);
    if mode == Some("bench") {
        // Under `-icount shift=0` the clock counts guest instructions
        // since reset: this is the cost of booting to init (before the
        // crash service starts, so the figure stays comparable).
        println!("bench boot_to_init {} (1)", zx::clock_get_monotonic());
    }
    // The crash service first, in every mode: it must hold the root job's
    // exception channel before anything can crash. It dumps the suites'
    // deliberate crashes too (about 16 small dumps on x86_64: +5 s).
    let _crash_service = match start_crash_service(&job, &image) {
        Ok(service) => service,
        Err(status) => {
            println!("init: cannot start the crash service: {status:?}");
            return 1;
        }
    };
    match mode {
        Some("test") => run_suites(&job, &image, words.get(1).map(String::as_str)),
        Some("run-program") => run_user_program(&job, &image, &words[1..]),
        Some("crash") => run_crash(&job, &image, &words[1..]),
        Some("bench") => {
            let only = words.get(1).map(String::as_str);
            let mut code = 0;
            if only != Some("debugger") {
                // `bench NAME [COUNT]` runs only that benchmark (for profiling).
                let args = words[1..]
                    .iter()
                    .fold(String::from("only"), |args, word| args + " " + word);
                code = match run_program(&job, &image, "benchmarks", &args, Vec::new(), None) {
                    Ok(code) => code,
                    Err(status) => {
                        println!("init: benchmarks could not run: {status:?}");
                        1
                    }
                };
            }
            if code == 0 && only.is_none_or(|name| name == "debugger") {
                let stops = words.get(2).and_then(|n| n.parse().ok());
                code = debugger_bench(&job, &image, link, stops.unwrap_or(DEBUGGER_BENCH_STOPS));
            }
            code
        }
        _ => run_demo(&job, &image, link),
    }
}

/// Guest time the crash service may take to hold the root job's channel.
const CRASH_SERVICE_READY_NS: i64 = 30_000_000_000;
/// Guest time a crashing program and its dump may take.
const CRASH_TIMEOUT_NS: i64 = 300_000_000_000;

/// Start the crash service (`services/crash-service`) in a job of its own
/// with the root job, and wait until it holds the root job's exception
/// channel. The returned job keeps it alive.
fn start_crash_service(root: &Job, image: &BootImage) -> Result<Job, Status> {
    let service_job = root.create_child()?;
    let _ = service_job.set_name(b"crash-service");
    let ready = Event::create()?;
    let handles = vec![(
        TAG_USER,
        ready.duplicate(Rights::SAME_RIGHTS)?.into_handle(),
    )];
    let inherit = Inherit {
        job: Some(root),
        boot_image: Some(image),
        handles,
    };
    launch::launch(&service_job, image, "crash-service", "", inherit)?;
    ready.wait_one(
        Signals::USER_SIGNAL_0,
        zx::deadline_after(CRASH_SERVICE_READY_NS),
    )?;
    Ok(service_job)
}

/// `crash PROGRAM [ARGS]`: run a program that is meant to crash, with no
/// debugger (the crash service dumps it), and wait for it to die. Exits 0
/// when it died of an exception (-1028): its dump was sent by then, since
/// the crash service lets it die only after.
fn run_crash(root: &Job, image: &BootImage, words: &[String]) -> i64 {
    let Some(program) = words.first() else {
        println!("init: crash needs a program name");
        return 1;
    };
    let args = words[1..].join(" ");
    println!("init: running {program} {args} for the crash service");
    match run_program(
        root,
        image,
        program,
        &args,
        Vec::new(),
        Some(CRASH_TIMEOUT_NS),
    ) {
        Ok(code) => {
            println!("init: {program} exited with {code}");
            if code == spinel_rt::zx::abi::object::TASK_RETCODE_EXCEPTION_KILL {
                0
            } else {
                1
            }
        }
        Err(status) => {
            println!("init: {program} could not run: {status:?}");
            1
        }
    }
}

/// The processes of a debugging session: the agent, and the program it
/// watches in the job `apps`.
struct Debugged {
    agent: Process,
    program: Process,
    _apps: Job,
}

/// Start the debugger agent (`agent_args`) watching a new job `apps`, wait
/// until it watches, then start `program` (`program_args`) in `apps`.
fn start_debugged(
    root: &Job,
    image: &BootImage,
    link: Resource,
    agent_args: &str,
    program: &str,
    program_args: &str,
) -> Result<Debugged, Status> {
    let apps = root.create_child()?;
    let _ = apps.set_name(b"apps");
    let debugger_job = root.create_child()?;
    let _ = debugger_job.set_name(b"debugger");
    let ready = Event::create()?;
    let handles = vec![
        (TAG_DEBUG_LINK, link.into_handle()),
        (
            TAG_USER,
            ready.duplicate(Rights::SAME_RIGHTS)?.into_handle(),
        ),
    ];
    let inherit = Inherit {
        job: Some(&apps),
        boot_image: Some(image),
        handles,
    };
    let (agent, _) = launch::launch(&debugger_job, image, "debug-agent", agent_args, inherit)?;
    ready.wait_one(Signals::USER_SIGNAL_0, zx::deadline_after(AGENT_READY_NS))?;
    let (process, _) = launch::launch(&apps, image, program, program_args, Inherit::default())?;
    Ok(Debugged {
        agent,
        program: process,
        _apps: apps,
    })
}

/// Run mode: the demo under the debugger agent, until the machine stops.
fn run_demo(root: &Job, image: &BootImage, link: Option<Resource>) -> i64 {
    let Some(link) = link else {
        println!("init: no debug link: the debugger cannot run");
        return 1;
    };
    let session = match start_debugged(root, image, link, "", "demo", "") {
        Ok(session) => session,
        Err(status) => {
            println!("init: cannot start the debugger and the demo: {status:?}");
            return 1;
        }
    };
    println!(
        "init: demo started under the debugger agent; connect spinel-debug to the second serial line"
    );
    let _ = session
        .agent
        .wait_one(Signals::PROCESS_TERMINATED, zx::TIME_INFINITE);
    let code = session.agent.info().map_or(1, |info| info.return_code);
    println!("init: the debugger agent exited with {code}");
    code
}

/// The debugger benchmark: the agent stops `demo bench N` at each call of
/// `tick` and continues it; it prints its figures when the demo ends.
fn debugger_bench(root: &Job, image: &BootImage, link: Option<Resource>, stops: u64) -> i64 {
    let Some(link) = link else {
        println!("init: no debug link: no debugger benchmark");
        return 1;
    };
    let args = alloc::format!("bench {stops}");
    let session = match start_debugged(root, image, link, "bench", "demo", &args) {
        Ok(session) => session,
        Err(status) => {
            println!("init: cannot start the debugger benchmark: {status:?}");
            return 1;
        }
    };
    let deadline = zx::deadline_after(SUITE_TIMEOUT_NS);
    if session
        .agent
        .wait_one(Signals::PROCESS_TERMINATED, deadline)
        .is_err()
    {
        println!("init: the debugger benchmark timed out");
        let _ = session.program.kill();
        let _ = session.agent.kill();
        return 1;
    }
    session.agent.info().map_or(1, |info| info.return_code)
}

/// Run each `*-tests` program (the benchmarks are not tests); returns 0 when
/// all of them exited with 0.
fn run_suites(job: &Job, image: &BootImage, filter: Option<&str>) -> i64 {
    let suites = match image.names() {
        Ok(names) => names
            .into_iter()
            .filter(|n| n.ends_with("-tests"))
            .collect::<Vec<_>>(),
        Err(status) => {
            println!("init: cannot list the boot image: {status:?}");
            return 1;
        }
    };
    let mut args = String::from("test");
    if let Some(filter) = filter {
        args.push(' ');
        args.push_str(filter);
    }
    // Each suite, then the benchmarks a few iterations each (the measured
    // paths must keep working).
    let runs = suites
        .iter()
        .map(|suite| (suite.as_str(), args.as_str(), true))
        .chain([("benchmarks", "smoke", false)]);
    let mut failed = Vec::new();
    for (program, args, with_root_job) in runs {
        // Which program the following lines come from (the xtask's reports
        // have one test suite per program).
        println!("init: running {program}");
        // Suites get the root job too: some check rules that need its authority.
        let extra = match with_root_job.then(|| job.duplicate(Rights::SAME_RIGHTS)) {
            Some(Ok(root)) => vec![(TAG_ROOT_JOB, root.into_handle())],
            Some(Err(status)) => {
                println!("init: cannot duplicate the root job: {status:?}");
                return 1;
            }
            None => Vec::new(),
        };
        match run_program(job, image, program, args, extra, Some(SUITE_TIMEOUT_NS)) {
            Ok(0) => {}
            Ok(code) => {
                println!("init: {program} exited with {code}");
                failed.push(program);
            }
            Err(status) => {
                println!("init: {program} could not run: {status:?}");
                failed.push(program);
            }
        }
    }
    println!(
        "init: {} suite(s) run, {} failed {:?}",
        suites.len(),
        failed.len(),
        failed
    );
    if failed.is_empty() { 0 } else { 1 }
}

/// Run `program` with `args` in a job of its own (given to it, with the
/// boot image and `handles`, for its own children) and wait for it, at most `timeout` ns;
/// returns its exit code.
fn run_program(
    job: &Job,
    image: &BootImage,
    program: &str,
    args: &str,
    handles: Vec<(u32, Handle)>,
    timeout: Option<i64>,
) -> Result<i64, Status> {
    let child_job = job.create_child()?;
    let inherit = Inherit {
        job: Some(&child_job),
        boot_image: Some(image),
        handles,
    };
    let (process, _thread) = launch::launch(&child_job, image, program, args, inherit)?;
    let deadline = timeout.map_or(zx::TIME_INFINITE, zx::deadline_after);
    match process.wait_one(Signals::PROCESS_TERMINATED, deadline) {
        Ok(_) => {}
        Err(Status::TIMED_OUT) => {
            println!("init: {program} timed out; killing it");
            child_job.kill()?;
            return Ok(-1);
        }
        Err(status) => return Err(status),
    }
    let code = process.info()?.return_code;
    // Anything the suite left behind goes with its job.
    let _ = child_job.kill();
    Ok(code)
}

/// `run-program NAME [ARGS...]`: run one program of the boot image (a
/// user's program under `cargo xtask check`) and report how it ended and
/// the guest clock; 0 only when the program exited with 0.
fn run_user_program(job: &Job, image: &BootImage, words: &[String]) -> i64 {
    let Some((name, args)) = words.split_first() else {
        println!("init: run-program needs the program's name");
        return 1;
    };
    let args = args.join(" ");
    println!("init: run-program {name} started");
    // Hook for the crash service: once it exists, it watches the program's
    // job here and its reports (and cores) are printed before `exited`.
    let code = match run_program(job, image, name, &args, Vec::new(), None) {
        Ok(code) => {
            println!("init: run-program {name} exited with {code}");
            code
        }
        Err(status) => {
            println!("init: run-program {name} cannot start: {status:?}");
            1
        }
    };
    println!("init: guest clock {}", zx::clock_get_monotonic());
    if code == 0 { 0 } else { 1 }
}
