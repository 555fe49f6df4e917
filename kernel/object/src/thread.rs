//! Threads: the state machine, suspension, start and exit.
//!
//! ```text
//!  New --start--> Running --exit--> Dying --(THREAD_EXITING answered)--> Dead
//!                  |  ^                        ^
//!                  v  |   blocked: exception,  |  kill: from any state
//!               Blocked   wait_one, port, sleep
//! ```
//! Suspension is a count beside the state, independent of blocking: a
//! thread runs user code only when it is Running, not blocked, not
//! suspended. Each change of that predicate is one [`Effect`].

use spinel_abi::info::*;
use spinel_abi::{Koid, Signals, Status, Time};

use crate::Kernel;
use crate::effect::{Completion, Effect, Registers, RunEntry};
use crate::exception::{ExceptionKind, Exceptionate, PendingException};
use crate::object::Body;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Lifecycle {
    New,
    Running,
    Dying,
    Dead,
}

/// What a blocked thread waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Block {
    Exception,
    WaitOne { object: Koid },
    Port { port: Koid },
    Sleep,
}

/// What the thread does when it next runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Resume {
    Start,
    Exception {
        syscall_status: Option<Status>,
    },
    Syscall {
        status: Status,
        completion: Completion,
    },
}

/// Where a starting thread is in its start sequence.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum StartPhase {
    NotStarted,
    ProcessStarting,
    ThreadStarting,
    Done,
}

#[derive(Debug)]
pub(crate) struct Thread {
    pub process: Koid,
    pub lifecycle: Lifecycle,
    pub block: Option<Block>,
    pub deadline: Option<Time>,
    pub suspend_count: u32,
    /// What the glue was last told: true after Park (or before the first Run).
    pub parked: bool,
    pub resume: Option<Resume>,
    pub regs: Registers,
    /// `regs` holds the thread's real registers (trap, start, or saved by the glue).
    pub regs_valid: bool,
    /// A handler wrote `regs` since the thread last ran.
    pub regs_dirty: bool,
    /// `THREAD_STATE_SINGLE_STEP`: trap after each instruction.
    pub single_step: bool,
    pub exception: Option<PendingException>,
    pub exceptionate: Exceptionate,
    pub killed: bool,
    /// The glue has been told to run it at least once (so it gets an Exit).
    pub ever_ran: bool,
    pub start_phase: StartPhase,
}

impl Thread {
    pub(crate) fn is_dead(&self) -> bool {
        self.lifecycle == Lifecycle::Dead
    }
}

/// A suspend token: while it lives, its target stays suspended.
#[derive(Debug)]
pub(crate) struct SuspendToken {
    pub target: Koid,
}

impl Kernel {
    pub(crate) fn thread_create(&mut self, process: Koid, name: &[u8]) -> Koid {
        let layout = self.config.registers;
        let suspend_count = self.process(process).suspend_count;
        let koid = self.insert(
            Body::Thread(Thread {
                process,
                lifecycle: Lifecycle::New,
                block: None,
                deadline: None,
                suspend_count,
                parked: true,
                resume: None,
                regs: Registers::zeroed(&layout),
                regs_valid: false,
                regs_dirty: false,
                single_step: false,
                exception: None,
                exceptionate: Exceptionate::default(),
                killed: false,
                ever_ran: false,
                start_phase: StartPhase::NotStarted,
            }),
            Signals::NONE,
        );
        self.set_name(koid, name);
        self.process_mut(process).threads.push(koid);
        koid
    }

    /// Recompute whether the thread may run user code; tell the glue when
    /// that changes. Also keeps RUNNING / SUSPENDED signals current.
    pub(crate) fn update_runnable(&mut self, tid: Koid) {
        let t = self.thread_mut(tid);
        if t.lifecycle == Lifecycle::Dead {
            return;
        }
        let active = matches!(t.lifecycle, Lifecycle::Running | Lifecycle::Dying);
        let runnable = active && t.block.is_none() && t.suspend_count == 0 && !t.killed;
        let mut effect = None;
        if runnable && t.parked {
            t.parked = false;
            t.ever_ran = true;
            // Entries that load registers load `t.regs`, which stays as
            // it is until the thread stops again (see RunEntry).
            let entry = match t.resume.take() {
                Some(Resume::Start) => RunEntry::Start,
                Some(Resume::Exception { syscall_status }) => {
                    if t.regs_valid || t.regs_dirty {
                        RunEntry::Registers {
                            syscall_status,
                            single_step: t.single_step,
                        }
                    } else {
                        RunEntry::Syscall {
                            status: syscall_status.unwrap_or(Status::OK),
                            completion: Completion::None,
                        }
                    }
                }
                Some(Resume::Syscall { status, completion }) => {
                    RunEntry::Syscall { status, completion }
                }
                None if t.regs_dirty => RunEntry::Registers {
                    syscall_status: None,
                    single_step: t.single_step,
                },
                None => RunEntry::Continue,
            };
            t.regs_valid = false;
            t.regs_dirty = false;
            effect = Some(Effect::Run { thread: tid, entry });
        } else if !runnable && !t.parked {
            t.parked = true;
            effect = Some(Effect::Park { thread: tid });
        }
        let suspended = active && t.block.is_none() && t.suspend_count > 0;
        let running = active && !suspended;
        if let Some(e) = effect {
            self.emit(e);
        }
        let (set, clear) = match (running, suspended) {
            (_, true) => (Signals::THREAD_SUSPENDED, Signals::THREAD_RUNNING),
            (true, false) => (Signals::THREAD_RUNNING, Signals::THREAD_SUSPENDED),
            _ => (
                Signals::NONE,
                Signals::THREAD_RUNNING | Signals::THREAD_SUSPENDED,
            ),
        };
        self.update_signals(tid, clear, set);
    }

    /// Start a New thread at `pc` / `sp`: PROCESS_STARTING (first thread),
    /// THREAD_STARTING, then the first [`RunEntry::Start`].
    pub(crate) fn thread_begin_start(
        &mut self,
        tid: Koid,
        pc: u64,
        sp: u64,
        arg0: u64,
        arg1: u64,
        first: bool,
    ) {
        let layout = self.config.registers;
        let t = self.thread_mut(tid);
        t.lifecycle = Lifecycle::Running;
        t.regs = Registers::for_start(&layout, pc, sp, arg0, arg1);
        t.regs_valid = true;
        t.start_phase = if first {
            StartPhase::ProcessStarting
        } else {
            StartPhase::ThreadStarting
        };
        self.thread_start_sequence(tid);
    }

    /// Advance the start sequence; each synthetic exception, once answered,
    /// comes back here.
    pub(crate) fn thread_start_sequence(&mut self, tid: Koid) {
        loop {
            let t = self.thread_mut(tid);
            match t.start_phase {
                StartPhase::ProcessStarting => {
                    t.start_phase = StartPhase::ThreadStarting;
                    let process = t.process;
                    let job = self.process(process).job;
                    if let Some(job) = self.nearest_job_with_debuggers(job) {
                        self.exception_raise(
                            tid,
                            ExceptionKind::ProcessStarting { job },
                            None,
                            None,
                        );
                        return;
                    }
                }
                StartPhase::ThreadStarting => {
                    t.start_phase = StartPhase::Done;
                    let process = t.process;
                    if self.process_debugger_bound(process) {
                        self.exception_raise(tid, ExceptionKind::ThreadStarting, None, None);
                        return;
                    }
                }
                StartPhase::Done | StartPhase::NotStarted => {
                    t.resume = Some(Resume::Start);
                    self.update_runnable(tid);
                    return;
                }
            }
        }
    }

    /// Voluntary exit (thread_exit, or an exception answered THREAD_EXIT):
    /// THREAD_EXITING to the process debugger, blocking, then death.
    pub(crate) fn thread_begin_exit(&mut self, tid: Koid) {
        let t = self.thread_mut(tid);
        if matches!(t.lifecycle, Lifecycle::Dying | Lifecycle::Dead) {
            return;
        }
        let started = t.lifecycle == Lifecycle::Running && t.ever_ran;
        t.lifecycle = Lifecycle::Dying;
        let process = t.process;
        if started && self.process_debugger_bound(process) {
            self.exception_raise(tid, ExceptionKind::ThreadExiting, None, None);
        } else {
            self.thread_die(tid);
        }
    }

    /// Kill: stop at once, whatever the thread is doing. A thread that was
    /// running still sends THREAD_EXITING, without waiting for it.
    pub(crate) fn thread_kill(&mut self, tid: Koid) {
        let t = self.thread(tid);
        if t.lifecycle == Lifecycle::Dead || t.killed {
            return;
        }
        let was_running = t.lifecycle == Lifecycle::Running && t.ever_ran;
        self.thread_mut(tid).killed = true;
        self.exception_abandon(tid);
        self.cancel_wait(tid);
        let t = self.thread_mut(tid);
        t.block = None;
        t.resume = None;
        if was_running {
            t.lifecycle = Lifecycle::Dying;
            self.exception_send_unblocking(tid, ExceptionKind::ThreadExiting);
        }
        self.thread_die(tid);
    }

    pub(crate) fn thread_die(&mut self, tid: Koid) {
        self.cancel_wait(tid);
        let t = self.thread_mut(tid);
        t.lifecycle = Lifecycle::Dead;
        t.block = None;
        t.exception = None;
        let ever_ran = t.ever_ran || !t.parked;
        let started = t.start_phase != StartPhase::NotStarted;
        let process = t.process;
        let slot = core::mem::take(&mut t.exceptionate);
        self.exceptionate_shutdown(slot);
        self.thread_mut(tid).exceptionate.shutdown = true;
        self.update_signals(
            tid,
            Signals::THREAD_RUNNING | Signals::THREAD_SUSPENDED,
            Signals::THREAD_TERMINATED,
        );
        if ever_ran || started {
            self.emit(Effect::Exit { thread: tid });
        }
        self.process_thread_gone(process);
        self.reap(tid);
    }

    pub(crate) fn thread_last_handle(&mut self, tid: Koid) {
        if self.thread(tid).lifecycle == Lifecycle::New {
            self.thread_kill(tid);
        }
        self.reap(tid);
    }

    pub(crate) fn suspend_token_closed(&mut self, token: Koid) {
        let entry = self.objects.remove(&token).expect("token is live");
        let Body::SuspendToken(SuspendToken { target }) = entry.body else {
            unreachable!()
        };
        self.suspend_adjust(target, false);
        self.drop_kernel_ref(target);
    }

    /// Add or remove one suspension of a thread or of a whole process.
    pub(crate) fn suspend_adjust(&mut self, target: Koid, suspend: bool) {
        let threads = match self.objects.get(&target).map(|e| &e.body) {
            Some(Body::Thread(_)) => alloc::vec![target],
            Some(Body::Process(p)) => {
                let threads = p.threads.clone();
                let p = self.process_mut(target);
                if suspend {
                    p.suspend_count += 1;
                } else {
                    p.suspend_count -= 1;
                }
                threads
            }
            _ => return,
        };
        for tid in threads {
            let t = self.thread_mut(tid);
            if t.lifecycle == Lifecycle::Dead {
                continue;
            }
            if suspend {
                t.suspend_count += 1;
            } else {
                t.suspend_count = t.suspend_count.saturating_sub(1);
            }
            self.update_runnable(tid);
        }
    }

    /// `INFO_THREAD`'s state value.
    pub(crate) fn thread_state_value(&self, tid: Koid) -> u32 {
        let t = self.thread(tid);
        match (t.lifecycle, t.block) {
            (Lifecycle::New, _) => THREAD_STATE_NEW,
            (Lifecycle::Dead, _) => THREAD_STATE_DEAD,
            (_, Some(Block::Exception)) => THREAD_STATE_BLOCKED_EXCEPTION,
            (Lifecycle::Dying, _) => THREAD_STATE_DYING,
            (_, Some(Block::WaitOne { .. })) => THREAD_STATE_BLOCKED_WAIT_ONE,
            (_, Some(Block::Port { .. })) => THREAD_STATE_BLOCKED_PORT,
            (_, Some(Block::Sleep)) => THREAD_STATE_BLOCKED_SLEEPING,
            (Lifecycle::Running, None) if t.suspend_count > 0 => THREAD_STATE_SUSPENDED,
            (Lifecycle::Running, None) => THREAD_STATE_RUNNING,
        }
    }

    // ---- glue entry points ----------------------------------------------

    /// The glue keeps the registers of a thread that entered the kernel
    /// (at a system call that may raise POLICY_ERROR, or when it parks a
    /// suspended thread), so handlers can read and change them.
    pub fn save_registers(&mut self, thread: Koid, regs: &Registers) -> Result<(), Status> {
        if self.object_type(thread) != Some(spinel_abi::ObjectType::THREAD) {
            return Err(Status::NOT_FOUND);
        }
        let t = self.thread_mut(thread);
        t.regs = *regs;
        t.regs_valid = true;
        Ok(())
    }

    /// The object layer's copy of a thread's registers.
    pub fn thread_registers(&self, thread: Koid) -> Option<Registers> {
        self.thread_registers_ref(thread).copied()
    }

    /// The object layer's copy of a thread's registers, by reference: what
    /// a [`RunEntry::Start`] or [`RunEntry::Registers`] loads.
    #[inline]
    pub fn thread_registers_ref(&self, thread: Koid) -> Option<&Registers> {
        match self.objects.get(&thread).map(|e| &e.body) {
            Some(Body::Thread(t)) => Some(&t.regs),
            _ => None,
        }
    }

    /// Store a thread's registers as the glue reads them, in place:
    /// `fill` gets the layout's slots. What [`Kernel::save_registers`]
    /// does, without a copy in between.
    pub fn save_registers_with(
        &mut self,
        thread: Koid,
        fill: impl FnOnce(&mut [u64]),
    ) -> Result<(), Status> {
        match self.objects.get_mut(&thread).map(|e| &mut e.body) {
            Some(Body::Thread(t)) => {
                let count = t.regs.count;
                fill(&mut t.regs.slots[..count]);
                t.regs_valid = true;
                Ok(())
            }
            _ => Err(Status::NOT_FOUND),
        }
    }

    /// Whether a debugger set `THREAD_STATE_SINGLE_STEP` on the thread (the
    /// glue applies it when it first enters user mode; later entries carry
    /// it in [`RunEntry::Registers`]).
    pub fn thread_single_step(&self, thread: Koid) -> bool {
        matches!(self.objects.get(&thread).map(|e| &e.body), Some(Body::Thread(t)) if t.single_step)
    }

    /// `INFO_THREAD` state of a thread (for the glue and tests).
    pub fn thread_state(&self, thread: Koid) -> Option<u32> {
        match self.objects.get(&thread).map(|e| &e.body) {
            Some(Body::Thread(_)) => Some(self.thread_state_value(thread)),
            _ => None,
        }
    }

    /// True when the thread may run user code now.
    pub fn thread_is_runnable(&self, thread: Koid) -> bool {
        matches!(self.objects.get(&thread).map(|e| &e.body), Some(Body::Thread(t)) if !t.parked && !t.is_dead())
    }
}
