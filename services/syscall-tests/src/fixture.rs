//! What the tests need: this program's bootstrap handles, and a fixture of
//! one object of each kind (a job of its own, an empty process with an
//! unstarted thread and its VMAR, a port, an event, a channel pair, a VMO).

use alloc::format;
use alloc::string::String;

use spinel_rt::startup::Startup;
use spinel_rt::zx::abi::bootstrap::{TAG_JOB, TAG_VMAR_ROOT};
use spinel_rt::zx::{
    Channel, Event, HandleBased, Job, ObjectCalls, Port, Process, Signals, Status, Thread, Vmar,
    Vmo,
};

type R<T> = Result<T, String>;

pub struct Env {
    /// The job to create test jobs in.
    pub job: Job,
    /// This process's own root VMAR, if the bootstrap gave it.
    pub vmar: Option<Vmar>,
}

static ENV: spin::Once<Env> = spin::Once::new();

pub fn init(startup: &mut Startup) -> R<()> {
    let job = startup
        .take_typed(TAG_JOB)
        .ok_or("no job handle (TAG_JOB) in the bootstrap message")?;
    let vmar = startup.take_typed(TAG_VMAR_ROOT);
    ENV.call_once(|| Env { job, vmar });
    Ok(())
}

pub fn env() -> &'static Env {
    ENV.get().expect("fixture::init ran")
}

pub fn check<T>(result: Result<T, Status>, what: &str) -> R<T> {
    result.map_err(|status| format!("{what}: {status:?}"))
}

/// A job killed (with its processes) when dropped.
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

pub fn new_job() -> R<TestJob> {
    check(env().job.create_child(), "job_create").map(TestJob)
}

pub struct Fixture {
    pub job: TestJob,
    pub process: Process,
    pub vmar: Vmar,
    pub thread: Thread,
    pub port: Port,
    pub event: Event,
    pub a: Channel,
    pub b: Channel,
    pub vmo: Vmo,
}

impl Fixture {
    pub fn new() -> R<Fixture> {
        let job = new_job()?;
        let (process, vmar) = check(job.create_process(b"empty"), "process_create")?;
        let thread = check(process.create_thread(b"unstarted"), "thread_create")?;
        let (a, b) = check(Channel::create(), "channel_create")?;
        Ok(Fixture {
            job,
            process,
            vmar,
            thread,
            port: check(Port::create(), "port_create")?,
            event: check(Event::create(), "event_create")?,
            a,
            b,
            vmo: check(Vmo::create(2 * 4096), "vmo_create")?,
        })
    }

    /// The objects still work after whatever was tried on them.
    pub fn check_alive(&self) -> R<()> {
        check(
            self.event.signal(Signals::NONE, Signals::EVENT_SIGNALED),
            "object_signal",
        )?;
        check(
            self.event.wait_one(Signals::EVENT_SIGNALED, 0),
            "object_wait_one",
        )?;
        check(self.a.write(b"ping", []), "channel_write")?;
        let mut bytes = [0u8; 16];
        let mut drained = 0;
        // Drain what the sweep wrote, then the ping.
        loop {
            match self.b.read_raw(&mut bytes, &mut []) {
                Ok(sizes) if sizes.bytes == 4 && &bytes[..4] == b"ping" => break,
                Ok(_) => drained += 1,
                Err(e) if e.status == Status::BUFFER_TOO_SMALL => {
                    let mut big = [0u8; 64];
                    let mut handles = [spinel_rt::zx::HandleValue::INVALID; 64];
                    let _ = self.b.read_raw(&mut big, &mut handles);
                    drained += 1;
                }
                Err(e) => return Err(format!("channel_read: {:?}", e.status)),
            }
            if drained > 1000 {
                return Err("the channel never gave the ping back".into());
            }
        }
        check(self.vmo.write(b"abcd", 0), "vmo_write")?;
        let mut back = [0u8; 4];
        check(self.vmo.read(&mut back, 0), "vmo_read")?;
        if &back != b"abcd" {
            return Err(format!("vmo read back {back:?}"));
        }
        check(self.thread.info(), "INFO_THREAD")?;
        check(self.process.info(), "INFO_PROCESS")?;
        let _ = self.job.raw();
        Ok(())
    }
}
