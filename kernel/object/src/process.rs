//! Processes: a handle table, threads, two exceptionates (debugger and
//! process), and a return code once dead.

use alloc::vec::Vec;
use spinel_abi::{Koid, Signals};

use crate::Kernel;
use crate::effect::Effect;
use crate::exception::Exceptionate;
use crate::handle::HandleTable;
use crate::object::Body;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ProcessState {
    Initial,
    Running,
    Dying,
    Dead,
}

#[derive(Debug)]
pub(crate) struct Process {
    pub job: Koid,
    pub state: ProcessState,
    pub started: bool,
    pub return_code: i64,
    pub threads: Vec<Koid>,
    pub handles: HandleTable,
    pub debugger: Exceptionate,
    pub exceptionate: Exceptionate,
    /// Suspensions of the whole process (new threads inherit them).
    pub suspend_count: u32,
    pub start_time: i64,
}

impl Process {
    pub(crate) fn is_dead(&self) -> bool {
        self.state == ProcessState::Dead
    }
    pub(crate) fn is_alive(&self) -> bool {
        matches!(self.state, ProcessState::Initial | ProcessState::Running)
    }
}

/// Where the glue keeps user memory: `process_read_memory` and
/// `process_write_memory` check handles, rights and state here, then ask this.
pub trait ProcessMemory {
    /// Copy from `process`'s address space at `address`; bytes copied.
    fn read(
        &mut self,
        process: Koid,
        address: u64,
        buffer: &mut [u8],
    ) -> Result<usize, spinel_abi::Status>;
    /// Copy into `process`'s address space at `address`; bytes copied.
    fn write(
        &mut self,
        process: Koid,
        address: u64,
        data: &[u8],
    ) -> Result<usize, spinel_abi::Status>;
}

impl Kernel {
    pub(crate) fn process_create_in(&mut self, job: Koid, name: &[u8]) -> Koid {
        let secret = self.config.seed ^ self.next_serial.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let koid = self.insert(
            Body::Process(Process {
                job,
                state: ProcessState::Initial,
                started: false,
                return_code: 0,
                threads: Vec::new(),
                handles: HandleTable::new(splitmix(secret)),
                debugger: Exceptionate::default(),
                exceptionate: Exceptionate::default(),
                suspend_count: 0,
                start_time: 0,
            }),
            Signals::NONE,
        );
        self.serial();
        self.set_name(koid, name);
        self.job_mut(job).processes.push(koid);
        self.job_update_signals(job);
        koid
    }

    /// Create a process in a job without a system call: the glue's bootstrap
    /// path (and the tests'). Give it handles with [`Kernel::grant_handle`].
    pub fn create_process(&mut self, job: Koid, name: &[u8]) -> Result<Koid, spinel_abi::Status> {
        if self.object_type(job) != Some(spinel_abi::ObjectType::JOB) {
            return Err(spinel_abi::Status::NOT_FOUND);
        }
        if self.job(job).dead {
            return Err(spinel_abi::Status::BAD_STATE);
        }
        Ok(self.process_create_in(job, name))
    }

    /// Create a thread in a process without a system call (bootstrap, tests).
    pub fn create_thread(
        &mut self,
        process: Koid,
        name: &[u8],
    ) -> Result<Koid, spinel_abi::Status> {
        if self.object_type(process) != Some(spinel_abi::ObjectType::PROCESS) {
            return Err(spinel_abi::Status::NOT_FOUND);
        }
        if !self.process(process).is_alive() {
            return Err(spinel_abi::Status::BAD_STATE);
        }
        Ok(self.thread_create(process, name))
    }

    /// Start a process's first thread without a system call (bootstrap, tests):
    /// what `process_start` does once its arguments are checked.
    pub fn start_process(
        &mut self,
        process: Koid,
        thread: Koid,
        pc: u64,
        sp: u64,
        arg0: u64,
        arg1: u64,
    ) -> Result<(), spinel_abi::Status> {
        if self.object_type(thread) != Some(spinel_abi::ObjectType::THREAD)
            || self.object_type(process) != Some(spinel_abi::ObjectType::PROCESS)
            || self.thread(thread).process != process
        {
            return Err(spinel_abi::Status::NOT_FOUND);
        }
        let p = self.process(process);
        if p.started
            || !p.is_alive()
            || self.thread(thread).lifecycle != crate::thread::Lifecycle::New
        {
            return Err(spinel_abi::Status::BAD_STATE);
        }
        let now = self.now as i64;
        let p = self.process_mut(process);
        p.started = true;
        p.state = ProcessState::Running;
        p.start_time = now;
        self.thread_begin_start(thread, pc, sp, arg0, arg1, true);
        Ok(())
    }

    /// Kill every thread; the process dies with `return_code`.
    pub(crate) fn process_kill(&mut self, pid: Koid, return_code: i64) {
        let p = self.process_mut(pid);
        if matches!(p.state, ProcessState::Dying | ProcessState::Dead) {
            return;
        }
        p.state = ProcessState::Dying;
        p.return_code = return_code;
        let threads = p.threads.clone();
        for tid in threads {
            if self.is_live(tid) {
                self.thread_kill(tid);
            }
        }
        // No thread left to trigger it (none existed, or all were reaped).
        self.process_die(pid);
    }

    /// A thread died: the process dies with its last started thread.
    pub(crate) fn process_thread_gone(&mut self, pid: Koid) {
        if !self.is_live(pid) {
            return;
        }
        let p = self.process(pid);
        if p.is_dead() {
            return;
        }
        let all_dead = p
            .threads
            .iter()
            .all(|&t| !self.is_live(t) || self.thread(t).is_dead());
        if all_dead && (p.started || p.state == ProcessState::Dying) {
            self.process_die(pid);
        }
    }

    fn process_die(&mut self, pid: Koid) {
        // Killing the last thread may already have ended and reaped the
        // process (when nothing else held it).
        if !self.is_live(pid) {
            return;
        }
        let p = self.process(pid);
        if p.is_dead()
            || p.threads
                .iter()
                .any(|&t| self.is_live(t) && !self.thread(t).is_dead())
        {
            return;
        }
        let p = self.process_mut(pid);
        p.state = ProcessState::Dead;
        let return_code = p.return_code;
        let job = p.job;
        let debugger = core::mem::take(&mut p.debugger);
        let exceptionate = core::mem::take(&mut p.exceptionate);
        p.debugger.shutdown = true;
        p.exceptionate.shutdown = true;
        let handles = p.handles.drain();
        self.update_signals(pid, Signals::NONE, Signals::PROCESS_TERMINATED);
        self.exceptionate_shutdown(debugger);
        self.exceptionate_shutdown(exceptionate);
        for handle in handles {
            self.release_handle(handle);
        }
        self.emit(Effect::ProcessExited {
            process: pid,
            return_code,
        });
        if self.is_live(job) {
            self.job_mut(job).processes.retain(|&c| c != pid);
            self.job_update_signals(job);
        }
        self.reap(pid);
        if self.is_live(job) {
            self.reap(job);
        }
    }

    pub(crate) fn process_last_handle(&mut self, pid: Koid) {
        if !self.process(pid).started {
            self.process_kill(pid, 0);
        }
        self.reap(pid);
    }

    /// A process debugger (channel or port) is attached.
    pub(crate) fn process_debugger_bound(&self, pid: Koid) -> bool {
        self.binding_live(&self.process(pid).debugger.binding)
    }
}

/// A 64-bit mixer (splitmix64's finaliser) for per-process secrets.
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
