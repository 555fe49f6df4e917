//! The test environment: where this program gets its job and the boot
//! image, how it starts children, and the waiting helpers every test uses.
//! This is the one module that knows the launch mechanism (`spinel_rt::launch`
//! over the bootstrap handles init gives: `TAG_JOB`, `TAG_BOOT_IMAGE`).
//!
//! Children are this same program, started with the argument words
//! `child <step> <step> ...` (see `child.rs`): the same binary at the same
//! fixed address, so the fault sites and resume addresses of
//! `zx::arch::Fault` are the same in parent and child.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;

use spinel_rt::launch::{self, BootImage, Inherit, Prepared};
use spinel_rt::startup::Startup;
use spinel_rt::zx::abi::bootstrap::{TAG_BOOT_IMAGE, TAG_JOB, TAG_ROOT_JOB, TAG_USER};
use spinel_rt::zx::abi::exception::EXCEPTION_STATE_HANDLED;
use spinel_rt::zx::{
    self, Channel, Event, Exception, ExceptionInfo, Handle, HandleBased, Job, Koid, ObjectCalls,
    ObjectType, Port, PortPacket, Process, Rights, Signals, Status, Thread, ThreadInfo,
};

/// This program's name in the boot image.
pub const PROGRAM: &str = "exception-tests";
/// Tags of the handles a child gets besides the standard ones.
pub const TAG_GATE: u32 = TAG_USER;
pub const TAG_REPORT: u32 = TAG_USER + 1;
pub const TAG_PORT: u32 = TAG_USER + 2;
/// The exit code of a child that ran all its steps.
pub const RECOVERED: i64 = 22;
/// How long to wait for something that must happen (QEMU emulates the CPU,
/// and starting a child copies its whole image).
pub const LONG: i64 = 20_000_000_000;
/// How long to wait for something that must not happen. Exception delivery
/// is synchronous in the kernel, so this is only a margin.
pub const SHORT: i64 = 50_000_000;

type R<T> = Result<T, String>;

/// What the program was given.
pub struct Env {
    /// The job test jobs are created in.
    pub job: Job,
    pub image: BootImage,
    /// The root job, if the bootstrap gave it (`TAG_ROOT_JOB`, or any job
    /// handle whose job has no parent). Binding Magenta's system port needs
    /// its authority.
    pub root_job: Option<Job>,
}

static ENV: spin::Once<Env> = spin::Once::new();

/// Take the bootstrap handles the environment needs.
pub fn init(startup: &mut Startup) -> R<()> {
    let job: Job = startup
        .take_typed(TAG_JOB)
        .ok_or("no job handle (TAG_JOB) in the bootstrap message")?;
    let image = startup
        .take_typed(TAG_BOOT_IMAGE)
        .ok_or("no boot image (TAG_BOOT_IMAGE) in the bootstrap message")?;
    let is_root = |value| {
        zx::object::handle_basic_info(value)
            .is_ok_and(|i| i.object_type == ObjectType::JOB.0 && i.related_koid == 0)
    };
    let root_job = if let Some(root) = startup.take_typed::<Job>(TAG_ROOT_JOB) {
        Some(root)
    } else if is_root(job.raw()) {
        job.duplicate(Rights::SAME_RIGHTS).ok()
    } else {
        let at = startup.handles.iter().position(|(_, h)| is_root(h.raw()));
        at.map(|at| Job::from_handle(startup.handles.remove(at).1))
    };
    ENV.call_once(|| Env {
        job,
        image: BootImage::new(image),
        root_job,
    });
    Ok(())
}

pub fn env() -> &'static Env {
    ENV.get().expect("env::init ran")
}

/// A job for one test, killed (with everything in it) when dropped.
pub struct TestJob(pub Job);

impl core::ops::Deref for TestJob {
    type Target = Job;
    fn deref(&self) -> &Job {
        &self.0
    }
}

impl Drop for TestJob {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// A new job under the environment's job.
pub fn new_job() -> R<TestJob> {
    check(env().job.create_child(), "job_create").map(TestJob)
}

/// A new job under `parent`.
pub fn child_job(parent: &Job) -> R<TestJob> {
    check(parent.create_child(), "job_create").map(TestJob)
}

/// `Result<T, Status>` to the test's error, naming the call.
pub fn check<T>(result: Result<T, Status>, what: &str) -> R<T> {
    result.map_err(|status| format!("{what}: {status:?}"))
}

/// A child process running this program with `child <steps>`.
pub struct Child {
    prepared: Option<Prepared>,
    started: Option<(Process, Thread)>,
    /// Signal `USER_SIGNAL_0` to let a `gate` step pass.
    pub gate: Event,
    /// What the child reports (statuses, handles).
    pub report: Channel,
}

/// Options of a child beyond its steps.
#[derive(Default)]
pub struct Options<'a> {
    /// Give the child this job as `TAG_JOB`.
    pub job: Option<&'a Job>,
    /// Give the child this port as `TAG_PORT`.
    pub port: Option<Port>,
}

/// Create and load a child in `job`, not started.
pub fn prepare(job: &Job, steps: &str) -> R<Child> {
    prepare_with(job, steps, Options::default())
}

pub fn prepare_with(job: &Job, steps: &str, options: Options<'_>) -> R<Child> {
    let gate = check(Event::create(), "event_create")?;
    let (report, theirs) = check(Channel::create(), "channel_create")?;
    let mut handles = vec![
        (
            TAG_GATE,
            check(gate.duplicate(Rights::SAME_RIGHTS), "duplicate gate")?.into_handle(),
        ),
        (TAG_REPORT, theirs.into_handle()),
    ];
    if let Some(port) = options.port {
        handles.push((TAG_PORT, port.into_handle()));
    }
    let args = format!("child {steps}");
    let prepared = launch::prepare(
        job,
        &env().image,
        PROGRAM,
        &args,
        Inherit {
            job: options.job,
            boot_image: None,
            handles,
        },
    )
    .map_err(|status| format!("launching a child ({steps}): {status:?}"))?;
    Ok(Child {
        prepared: Some(prepared),
        started: None,
        gate,
        report,
    })
}

/// Create, load and start a child in `job`.
pub fn spawn(job: &Job, steps: &str) -> R<Child> {
    let mut child = prepare(job, steps)?;
    child.start()?;
    Ok(child)
}

pub fn spawn_with(job: &Job, steps: &str, options: Options<'_>) -> R<Child> {
    let mut child = prepare_with(job, steps, options)?;
    child.start()?;
    Ok(child)
}

impl Child {
    pub fn process(&self) -> &Process {
        match (&self.prepared, &self.started) {
            (Some(p), _) => &p.process,
            (None, Some((process, _))) => process,
            (None, None) => unreachable!("a child is prepared or started"),
        }
    }

    pub fn thread(&self) -> &Thread {
        match (&self.prepared, &self.started) {
            (Some(p), _) => &p.thread,
            (None, Some((_, thread))) => thread,
            (None, None) => unreachable!("a child is prepared or started"),
        }
    }

    /// Where the first thread starts and its initial stack pointer.
    pub fn entry_and_stack(&self) -> Option<(u64, u64)> {
        self.prepared.as_ref().map(|p| (p.entry, p.stack_top))
    }

    pub fn start(&mut self) -> R<()> {
        let prepared = self.prepared.take().ok_or("child already started")?;
        let started = check(prepared.start(), "process_start")?;
        self.started = Some(started);
        Ok(())
    }

    pub fn pid(&self) -> Koid {
        self.process().koid().unwrap_or(0)
    }

    pub fn tid(&self) -> Koid {
        self.thread().koid().unwrap_or(0)
    }

    /// Let the child's next `gate` step pass.
    pub fn open_gate(&self) -> R<()> {
        check(
            self.gate.signal(Signals::NONE, Signals::USER_SIGNAL_0),
            "opening the gate",
        )
    }

    /// Wait for the process to end; its return code.
    pub fn wait_exit(&self) -> R<i64> {
        wait_signal(self.process(), Signals::PROCESS_TERMINATED, "process end")?;
        Ok(check(self.process().info(), "INFO_PROCESS")?.return_code)
    }

    /// Whether the process has ended.
    pub fn exited(&self) -> bool {
        self.process()
            .wait_one(Signals::PROCESS_TERMINATED, 0)
            .is_ok()
    }

    /// The next status the child reported (4 bytes).
    pub fn read_status(&self) -> R<Status> {
        let (bytes, _) = self.read_report()?;
        let raw: [u8; 4] = bytes[..4]
            .try_into()
            .map_err(|_| "short status report".to_string())?;
        Ok(Status(i32::from_le_bytes(raw)))
    }

    /// The next handle the child reported.
    pub fn read_handle(&self) -> R<Handle> {
        let (_, handle) = self.read_report()?;
        if handle.is_valid() {
            Ok(handle)
        } else {
            Err("the child's report carried no handle".into())
        }
    }

    fn read_report(&self) -> R<([u8; 8], Handle)> {
        wait_signal(&self.report, Signals::CHANNEL_READABLE, "child report")?;
        let mut bytes = [0u8; 8];
        let mut handles = [Handle::invalid()];
        self.report
            .read(&mut bytes, &mut handles)
            .map_err(|e| format!("reading the child's report: {:?}", e.status))?;
        let [handle] = handles;
        Ok((bytes, handle))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process().kill();
    }
}

/// Wait until `object` has one of `signals` (LONG); the signals observed.
pub fn wait_signal<T: ObjectCalls>(object: &T, signals: Signals, what: &str) -> R<Signals> {
    object
        .wait_one(signals, zx::deadline_after(LONG))
        .map_err(|status| format!("waiting for {what}: {status:?}"))
}

/// Wait for an exception on `channel` (LONG).
pub fn wait_exception(channel: &Channel, what: &str) -> R<(ExceptionInfo, Exception)> {
    channel
        .wait_exception(zx::deadline_after(LONG))
        .map_err(|status| format!("waiting for an exception at the {what}: {status:?}"))
}

/// Nothing must be waiting (or arrive within SHORT) on `channel`.
pub fn expect_nothing(channel: &Channel, what: &str) -> R<()> {
    match channel.wait_one(Signals::CHANNEL_READABLE, zx::deadline_after(SHORT)) {
        Err(Status::TIMED_OUT) => Ok(()),
        Ok(_) => match channel.read_exception() {
            Ok((info, _)) => Err(format!(
                "the {what} got an exception it should not have: type {:#x} tid {}",
                info.exception_type, info.tid
            )),
            Err(e) => Err(format!(
                "the {what} has a message it should not have: {:?}",
                e.status
            )),
        },
        Err(status) => Err(format!("waiting on the {what}: {status:?}")),
    }
}

/// Wait for a packet on `port` (LONG).
pub fn wait_packet(port: &Port, what: &str) -> R<PortPacket> {
    port.wait(zx::deadline_after(LONG))
        .map_err(|status| format!("waiting for a packet at the {what}: {status:?}"))
}

/// No packet must be queued on `port` (or arrive within SHORT).
pub fn expect_no_packet(port: &Port, what: &str) -> R<()> {
    match port.wait(zx::deadline_after(SHORT)) {
        Err(Status::TIMED_OUT) => Ok(()),
        Ok(packet) => Err(format!(
            "the {what} got a packet it should not have: type {:#x} key {:#x}",
            packet.packet_type, packet.key
        )),
        Err(status) => Err(format!("waiting on the {what}: {status:?}")),
    }
}

/// Poll `thread` until its state is `state` (LONG); its info.
pub fn wait_state(thread: &Thread, state: u32) -> R<ThreadInfo> {
    let deadline = zx::deadline_after(LONG);
    loop {
        let info = check(thread.info(), "INFO_THREAD")?;
        if info.state == state {
            return Ok(info);
        }
        if zx::clock_get_monotonic() > deadline {
            return Err(format!(
                "thread state stayed {:#x}, expected {state:#x}",
                info.state
            ));
        }
        let _ = zx::nanosleep(zx::deadline_after(1_000_000));
    }
}

/// Move the thread (stopped in an exception) to `pc`.
pub fn set_pc(thread: &Thread, pc: u64) -> R<()> {
    let mut registers = check(thread.read_registers(), "thread_read_state")?;
    registers.set_pc(pc);
    check(thread.write_registers(&registers), "thread_write_state")
}

/// Answer HANDLED after moving the faulting thread to `pc` (so a fault
/// routine returns instead of faulting again).
pub fn handled_at(exception: Exception, pc: u64) -> R<()> {
    let thread = check(exception.thread(), "exception_get_thread")?;
    set_pc(&thread, pc)?;
    check(exception.set_state(EXCEPTION_STATE_HANDLED), "set HANDLED")?;
    drop(exception);
    Ok(())
}

/// Answer with `state` (closing the handle).
pub fn answer(exception: Exception, state: u32) -> R<()> {
    check(exception.set_state(state), "set EXCEPTION_STATE")?;
    drop(exception);
    Ok(())
}

/// The rights of a handle.
pub fn rights_of<T: HandleBased>(handle: &T) -> R<Rights> {
    check(handle.rights(), "INFO_HANDLE_BASIC")
}
