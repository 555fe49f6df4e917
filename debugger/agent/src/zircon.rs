//! The agent's [`System`] over Spinel's system calls (`spinel_rt::zx`).
//!
//! Only kernel calls here, no decisions: the logic is in
//! `spinel-debug-agent-core`. Everything the kernel reports arrives on one
//! port (see `service.rs`); the keys this file arms name the object and,
//! for debugger channels, the attachment's generation.

use alloc::string::String;
use core::fmt;

use spinel_debug_agent_core::{NextException, System, ThreadRegisters};
use spinel_debug_protocol::Arch;
use spinel_rt::launch::BootImage;
use spinel_rt::println;
use spinel_rt::zx::abi::exception::EXCEPTION_CHANNEL_DEBUGGER;
use spinel_rt::zx::{
    self, Channel, Exception, ExceptionReport, GeneralRegisters, HandleBased, Job, Koid,
    ObjectCalls, Port, Process, Signals, Status, Task, Thread, Vmar,
};

/// Port key of the job-debugger channel.
pub const KEY_JOB: u64 = 1;
/// Port key of the debug link (bytes arrived).
pub const KEY_LINK: u64 = 2;
/// Port key kinds (low two bits).
pub const KIND_DEBUGGER: u64 = 1;
pub const KIND_TERMINATED: u64 = 2;

pub fn key(koid: Koid, generation: u64, kind: u64) -> u64 {
    (koid << 16) | ((generation & 0x3fff) << 2) | kind
}

pub fn unkey(key: u64) -> (Koid, u64, u64) {
    (key >> 16, (key >> 2) & 0x3fff, key & 3)
}

pub fn name_of<T: HandleBased>(handle: &T) -> String {
    match handle.get_name() {
        Ok(name) => {
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            String::from_utf8_lossy(&name[..end]).into_owned()
        }
        Err(_) => String::new(),
    }
}

/// The kernel, as the agent sees it: its port, the watched job, the boot
/// image its targets' programs come from.
pub struct Zircon {
    pub port: Port,
    job: Job,
    job_koid: Koid,
    /// The job-debugger channel, once the agent watches the job.
    pub job_channel: Option<Channel>,
    image: BootImage,
    vmar: Vmar,
    arch: Arch,
}

impl Zircon {
    pub fn new(job: Job, image: BootImage, vmar: Vmar) -> Result<Zircon, Status> {
        let arch = if zx::arch::ARCH == "x86_64" {
            Arch::X86_64
        } else {
            Arch::Aarch64
        };
        Ok(Zircon {
            port: Port::create()?,
            job_koid: job.koid()?,
            job,
            job_channel: None,
            image,
            vmar,
            arch,
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
}

impl System<'static> for Zircon {
    type Process = Process;
    type Thread = Thread;
    type Exception = Exception;
    type Attachment = Channel;

    fn arch(&self) -> Arch {
        self.arch
    }
    fn clock(&self) -> i64 {
        zx::clock_get_monotonic()
    }
    fn log(&self, message: fmt::Arguments<'_>) {
        println!("{message}");
    }

    fn job_koid(&self) -> Koid {
        self.job_koid
    }
    fn job_parent(&self) -> Option<Koid> {
        self.job
            .basic_info()
            .map(|info| info.related_koid)
            .ok()
            .filter(|&koid| koid != 0)
    }
    fn job_name(&self) -> String {
        name_of(&self.job)
    }

    fn program(&mut self, name: &str) -> Result<&'static [u8], String> {
        let file = self
            .image
            .find(name)
            .map_err(|status| alloc::format!("not in the boot image ({status:?})"))?;
        spinel_rt::heap::map_read_only(&self.vmar, &self.image.vmo, file.offset, file.len as usize)
            .map_err(|status| alloc::format!("cannot map it ({status:?})"))
    }

    fn process_name(&self, process: &Process) -> String {
        name_of(process)
    }
    fn process_job(&self, process: &Process) -> Result<Koid, Status> {
        Ok(process.basic_info()?.related_koid)
    }
    fn return_code(&self, process: &Process) -> i64 {
        process.info().map(|info| info.return_code).unwrap_or(0)
    }
    fn watch_termination(&mut self, process: &Process, pid: Koid) -> Result<(), Status> {
        process.wait_async(
            &self.port,
            key(pid, 0, KIND_TERMINATED),
            Signals::PROCESS_TERMINATED,
            0,
        )
    }
    fn read_memory(
        &self,
        process: &Process,
        address: u64,
        bytes: &mut [u8],
    ) -> Result<usize, Status> {
        process.read_memory(address, bytes)
    }
    fn write_memory(&self, process: &Process, address: u64, bytes: &[u8]) -> Result<usize, Status> {
        process.write_memory(address, bytes)
    }
    fn kill_process(&self, process: &Process) -> Result<(), Status> {
        process.kill()
    }

    fn create_debugger_channel(&mut self, process: &Process) -> Result<Channel, Status> {
        process.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER)
    }
    fn arm(&mut self, channel: &Channel, pid: Koid, generation: u64) -> Result<(), Status> {
        let signals = Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED;
        channel.wait_async(&self.port, key(pid, generation, KIND_DEBUGGER), signals, 0)
    }
    fn next_exception(&mut self, channel: &Channel) -> NextException<Exception> {
        match channel.read_exception() {
            Ok((info, exception)) => {
                NextException::Exception(info.tid, info.exception_type, exception)
            }
            Err(error) if error.status == Status::SHOULD_WAIT => NextException::Empty,
            Err(_) => NextException::Closed,
        }
    }

    fn exception_thread(&self, exception: &Exception) -> Result<Thread, Status> {
        exception.thread()
    }
    fn resolve(&mut self, exception: Exception, state: u32) -> Result<(), Status> {
        // Closing the handle (dropping it) lets the thread go.
        exception.set_state(state)
    }

    fn thread_name(&self, thread: &Thread) -> String {
        name_of(thread)
    }
    fn thread_state(&self, thread: &Thread) -> Result<u32, Status> {
        thread.info().map(|info| info.state)
    }
    fn exception_report(&self, thread: &Thread) -> Result<ExceptionReport, Status> {
        thread.exception_report()
    }
    fn read_registers(&self, thread: &Thread) -> Result<ThreadRegisters, Status> {
        let registers = thread.read_registers()?;
        Ok(ThreadRegisters {
            slots: registers.slots,
            layout: registers.layout,
        })
    }
    fn read_pc(&self, thread: &Thread) -> Result<u64, Status> {
        thread.read_registers().map(|registers| registers.pc())
    }
    fn write_registers(&self, thread: &Thread, registers: &ThreadRegisters) -> Result<(), Status> {
        thread.write_registers(&GeneralRegisters {
            slots: registers.slots,
            layout: registers.layout,
        })
    }
    fn set_single_step(&self, thread: &Thread, on: bool) -> Result<(), Status> {
        thread.set_single_step(on)
    }
    fn kill_thread(&self, thread: &Thread) -> Result<(), Status> {
        thread.kill()
    }
}
