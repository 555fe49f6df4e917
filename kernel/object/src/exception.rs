//! Exception delivery: exceptionates (the handler slots on tasks), the
//! search order, exception objects (channel era), port packets (Zircon and
//! Magenta port eras), synthetic exceptions, and what answering, closing,
//! unbinding and killing do to an exception in flight.
//!
//! An exception in flight is a [`PendingException`] on its thread, with a
//! cursor ([`Stage`]) into the search order and a [`Holder`]: which handler
//! has it now. Every event that can move it (a handle closing, a resume
//! call, an unbind, a kill) goes through [`Kernel::exception_answer`] or
//! [`Kernel::exception_abandon`], so each exception ends exactly once.

use alloc::vec;
use alloc::vec::Vec;
use spinel_abi::exception::*;
use spinel_abi::object::TASK_RETCODE_EXCEPTION_KILL;
use spinel_abi::{ExceptionInfo, ExceptionReport, Koid, PortPacket, Rights, Signals, Status};
use spinel_hal_api::{ArchFacts, TrapKind, TrapRecord};

use crate::Kernel;
use crate::channel::{Message, MessageBytes};
use crate::effect::Registers;
use crate::handle::Handle;
use crate::object::Body;
use crate::thread::{Block, Lifecycle, Resume};

/// What occupies a handler slot.
#[derive(Debug, Default)]
pub(crate) enum Binding {
    #[default]
    Empty,
    /// Channel era: the kernel holds `end`; the handler reads from `user_end`.
    /// `task_rights` are the rights of the task handle the channel was made
    /// with (given to `exception_get_thread` / `_process` handles).
    Channel {
        end: Handle,
        user_end: Koid,
        task_rights: Rights,
    },
    /// Port era: packets go to `port` with `key`.
    Port { port: Koid, key: u64 },
}

/// One handler slot of a task. Once the task dies it is shut down for good.
#[derive(Debug, Default)]
pub(crate) struct Exceptionate {
    pub binding: Binding,
    pub shutdown: bool,
}

/// Which slot of a task.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SlotKind {
    Debugger,
    Thread,
    Process,
    Job,
    /// One of a job's debugger slots, by creation serial.
    JobDebugger(u64),
    /// Magenta's system exception port (the root job's).
    System,
}

impl SlotKind {
    /// The `wait_exception_channel_type` reported for this kind of handler.
    pub(crate) fn channel_type(self) -> u32 {
        match self {
            SlotKind::Debugger => EXCEPTION_CHANNEL_TYPE_DEBUGGER,
            SlotKind::Thread => EXCEPTION_CHANNEL_TYPE_THREAD,
            SlotKind::Process => EXCEPTION_CHANNEL_TYPE_PROCESS,
            SlotKind::Job => EXCEPTION_CHANNEL_TYPE_JOB,
            SlotKind::JobDebugger(_) => EXCEPTION_CHANNEL_TYPE_JOB_DEBUGGER,
            SlotKind::System => EXCEPTION_PORT_TYPE_SYSTEM,
        }
    }
}

/// A slot, named by its task and kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SlotRef {
    pub task: Koid,
    pub kind: SlotKind,
}

/// What kind of exception is in flight; decides its search order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ExceptionKind {
    /// Architectural or POLICY_ERROR: the full search order, fatal if unhandled.
    Search,
    ThreadStarting,
    ThreadExiting,
    /// To each debugger slot of `job`, in creation order.
    ProcessStarting {
        job: Koid,
    },
}

/// The cursor into the search order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Stage {
    Start,
    Debugger,
    Thread,
    Process,
    /// The debugger again, after a SECOND_CHANCE request.
    DebuggerSecond,
    /// Index into the job chain (the process's job first).
    Job(usize),
    System,
    JobDebugger(u64),
    Done,
}

/// Who has the exception now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Holder {
    None,
    /// Channel era: this exception object; closing its last handle answers.
    Object(Koid),
    /// Port era: a packet went to `port`; a resume call answers.
    Port {
        port: Koid,
        slot: SlotRef,
    },
    /// Magenta: the port was unbound quietly; the thread waits for a port to
    /// be bound to the same slot.
    Quiet {
        slot: SlotRef,
    },
}

#[derive(Debug)]
pub(crate) struct PendingException {
    pub kind: ExceptionKind,
    pub report: ExceptionReport,
    pub stage: Stage,
    pub second_chance: bool,
    /// The job chain of a Search exception (the process's job first),
    /// looked up when the search reaches the jobs: it cannot change before
    /// (a job with a live process in it stays, with its parent).
    pub jobs: Option<Vec<Koid>>,
    pub holder: Holder,
    /// Raised inside a system call: the status it returns once resumed.
    pub syscall_status: Option<Status>,
}

/// The object behind an exception handle.
#[derive(Debug)]
pub(crate) struct ExceptionObject {
    pub thread: Koid,
    pub process: Koid,
    pub state: u32,
    pub strategy: u32,
    pub slot: SlotKind,
    /// Delivered during the debugger's first chance (may ask for a second).
    pub first_chance_debugger: bool,
    pub task_rights: Rights,
    /// False once the thread was killed (or never waited): closing it then
    /// neither resumes nor forwards.
    pub live: bool,
}

/// A handler's verdict.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Answer {
    Handled,
    TryNext,
    ThreadExit,
}

enum Delivery {
    Delivered,
    Skipped,
    Killed,
}

/// The exception report for a trap: type from the trap kind, the arch
/// fields verbatim, and for page faults the VM's status in `synth_code`.
pub fn report_for_trap(trap: &TrapRecord, vm_status: Status) -> ExceptionReport {
    let exception_type = match trap.kind {
        TrapKind::PageFault { .. } => EXCP_FATAL_PAGE_FAULT,
        TrapKind::UndefinedInstruction => EXCP_UNDEFINED_INSTRUCTION,
        TrapKind::SoftwareBreakpoint => EXCP_SW_BREAKPOINT,
        TrapKind::HardwareBreakpoint => EXCP_HW_BREAKPOINT,
        TrapKind::UnalignedAccess => EXCP_UNALIGNED_ACCESS,
        TrapKind::General => EXCP_GENERAL,
    };
    let mut report = ExceptionReport::new(exception_type);
    report.context.arch = match trap.arch {
        ArchFacts::X86_64 {
            vector,
            error_code,
            cr2,
        } => ExceptionArchContext::x86_64(X86_64ExceptionContext {
            vector,
            err_code: error_code,
            cr2,
        }),
        ArchFacts::Aarch64 { esr, far } => ExceptionArchContext::arm64(Arm64ExceptionContext {
            esr: esr as u32,
            far,
            ..Default::default()
        }),
    };
    if matches!(trap.kind, TrapKind::PageFault { .. }) {
        report.context.synth_code = vm_status.0 as u32;
    }
    report
}

impl Kernel {
    // ---- slots -----------------------------------------------------------

    pub(crate) fn binding_live(&self, binding: &Binding) -> bool {
        match binding {
            Binding::Empty => false,
            Binding::Channel { user_end, .. } => self.is_live(*user_end),
            Binding::Port { .. } => true,
        }
    }

    pub(crate) fn slot(&self, slot: SlotRef) -> Option<&Exceptionate> {
        let body = &self.objects.get(&slot.task)?.body;
        match (body, slot.kind) {
            (Body::Thread(t), SlotKind::Thread) => Some(&t.exceptionate),
            (Body::Process(p), SlotKind::Debugger) => Some(&p.debugger),
            (Body::Process(p), SlotKind::Process) => Some(&p.exceptionate),
            (Body::Job(j), SlotKind::Job) => Some(&j.exceptionate),
            (Body::Job(j), SlotKind::System) => Some(&j.system),
            (Body::Job(j), SlotKind::JobDebugger(serial)) => j
                .debuggers
                .iter()
                .find(|d| d.serial == serial)
                .map(|d| &d.slot),
            _ => None,
        }
    }

    pub(crate) fn slot_mut(&mut self, slot: SlotRef) -> Option<&mut Exceptionate> {
        let body = &mut self.objects.get_mut(&slot.task)?.body;
        match (body, slot.kind) {
            (Body::Thread(t), SlotKind::Thread) => Some(&mut t.exceptionate),
            (Body::Process(p), SlotKind::Debugger) => Some(&mut p.debugger),
            (Body::Process(p), SlotKind::Process) => Some(&mut p.exceptionate),
            (Body::Job(j), SlotKind::Job) => Some(&mut j.exceptionate),
            (Body::Job(j), SlotKind::System) => Some(&mut j.system),
            (Body::Job(j), SlotKind::JobDebugger(serial)) => j
                .debuggers
                .iter_mut()
                .find(|d| d.serial == serial)
                .map(|d| &mut d.slot),
            _ => None,
        }
    }

    /// A task died (or left the arena): its slot's channel sees PEER_CLOSED.
    pub(crate) fn exceptionate_shutdown(&mut self, slot: Exceptionate) {
        if let Binding::Channel { end, .. } = slot.binding {
            self.release_handle(end);
        }
    }

    /// Every slot bound to `port` unbinds (its last handle closed).
    pub(crate) fn unbind_port_everywhere(&mut self, port: Koid) {
        let mut slots = Vec::new();
        for entry in self.objects.values() {
            let koid = entry.koid;
            let mut check = |ex: &Exceptionate, kind: SlotKind| {
                if matches!(ex.binding, Binding::Port { port: p, .. } if p == port) {
                    slots.push(SlotRef { task: koid, kind });
                }
            };
            match &entry.body {
                Body::Thread(t) => check(&t.exceptionate, SlotKind::Thread),
                Body::Process(p) => {
                    check(&p.debugger, SlotKind::Debugger);
                    check(&p.exceptionate, SlotKind::Process);
                }
                Body::Job(j) => {
                    check(&j.exceptionate, SlotKind::Job);
                    check(&j.system, SlotKind::System);
                    for d in &j.debuggers {
                        check(&d.slot, SlotKind::JobDebugger(d.serial));
                    }
                }
                _ => {}
            }
        }
        // In koid order (the arena's iteration order is not), each task's
        // slots in the order listed above.
        slots.sort_by_key(|s| s.task);
        for slot in slots {
            self.unbind_slot(slot, false);
        }
    }

    /// Empty a slot holding a port binding; threads waiting on it go on to
    /// the next handler, or with `quietly` keep waiting for a new port.
    pub(crate) fn unbind_slot(&mut self, slot: SlotRef, quietly: bool) {
        let Some(ex) = self.slot_mut(slot) else {
            return;
        };
        let Binding::Port { port, .. } = core::mem::take(&mut ex.binding) else {
            return;
        };
        if let SlotKind::JobDebugger(serial) = slot.kind {
            self.job_mut(slot.task)
                .debuggers
                .retain(|d| d.serial != serial);
        }
        let held_here =
            |h: Holder| matches!(h, Holder::Port { port: p, slot: s } if p == port && s == slot);
        for tid in self.threads_held_by(held_here) {
            // Forwarding one exception can kill a process, ending others.
            let still = self.is_live(tid)
                && (self.thread(tid).exception.as_ref()).is_some_and(|pe| held_here(pe.holder));
            if !still {
                continue;
            }
            if quietly {
                self.pending_mut(tid).holder = Holder::Quiet { slot };
            } else {
                self.pending_mut(tid).holder = Holder::None;
                self.exception_advance(tid);
            }
        }
    }

    /// A port was bound to `slot`: threads waiting quietly there take it.
    pub(crate) fn slot_bound_port(&mut self, slot: SlotRef, port: Koid) {
        // A job-debugger slot gets a new serial when rebound: match the kind.
        let same = move |s: SlotRef| {
            s.task == slot.task
                && (s.kind == slot.kind
                    || matches!(
                        (s.kind, slot.kind),
                        (SlotKind::JobDebugger(_), SlotKind::JobDebugger(_))
                    ))
        };
        for tid in self.threads_held_by(|h| matches!(h, Holder::Quiet { slot: s } if same(s))) {
            self.pending_mut(tid).holder = Holder::Port { port, slot };
        }
    }

    /// Threads whose exception's holder satisfies `pred`, in koid order.
    fn threads_held_by(&self, pred: impl Fn(Holder) -> bool) -> Vec<Koid> {
        let mut threads: Vec<Koid> = self
            .objects
            .values()
            .filter_map(|e| match &e.body {
                Body::Thread(t) => t
                    .exception
                    .as_ref()
                    .filter(|pe| pred(pe.holder))
                    .map(|_| e.koid),
                _ => None,
            })
            .collect();
        threads.sort_unstable();
        threads
    }

    #[track_caller]
    pub(crate) fn pending_mut(&mut self, tid: Koid) -> &mut PendingException {
        self.thread_mut(tid)
            .exception
            .as_mut()
            .expect("thread has an exception")
    }

    // ---- raising and the search order ------------------------------------

    /// Block `tid` in a new exception and offer it to the first handler.
    pub(crate) fn exception_raise(
        &mut self,
        tid: Koid,
        kind: ExceptionKind,
        report: Option<ExceptionReport>,
        syscall_status: Option<Status>,
    ) {
        let report = report.unwrap_or_else(|| ExceptionReport::new(kind_type(kind)));
        let t = self.thread_mut(tid);
        t.exception = Some(PendingException {
            kind,
            report,
            stage: Stage::Start,
            second_chance: false,
            jobs: None,
            holder: Holder::None,
            syscall_status,
        });
        t.block = Some(Block::Exception);
        self.update_runnable(tid);
        self.exception_advance(tid);
    }

    /// Raise POLICY_ERROR in a thread that is inside a system call.
    pub(crate) fn raise_policy_exception(
        &mut self,
        tid: Koid,
        condition: u32,
        syscall_status: Status,
    ) {
        let mut report = ExceptionReport::new(EXCP_POLICY_ERROR);
        report.context.synth_code = condition;
        self.exception_raise(
            tid,
            ExceptionKind::Search,
            Some(report),
            Some(syscall_status),
        );
    }

    fn next_stage(&self, pe: &PendingException) -> Stage {
        let jobs = pe.jobs.as_deref().unwrap_or(&[]);
        let first_job = if jobs.is_empty() {
            Stage::System
        } else {
            Stage::Job(0)
        };
        match pe.kind {
            ExceptionKind::Search => match pe.stage {
                Stage::Start => Stage::Debugger,
                Stage::Debugger => Stage::Thread,
                Stage::Thread => Stage::Process,
                Stage::Process if pe.second_chance => Stage::DebuggerSecond,
                Stage::Process | Stage::DebuggerSecond => first_job,
                Stage::Job(i) if i + 1 < jobs.len() => Stage::Job(i + 1),
                Stage::Job(_) => Stage::System,
                _ => Stage::Done,
            },
            ExceptionKind::ThreadStarting | ExceptionKind::ThreadExiting => match pe.stage {
                Stage::Start => Stage::Debugger,
                _ => Stage::Done,
            },
            ExceptionKind::ProcessStarting { job } => {
                let after = match pe.stage {
                    Stage::JobDebugger(serial) => serial,
                    Stage::Start => 0,
                    _ => return Stage::Done,
                };
                if !self.is_live(job) {
                    return Stage::Done;
                }
                self.job(job)
                    .debuggers
                    .iter()
                    .find(|d| d.serial > after && self.binding_live(&d.slot.binding))
                    .map_or(Stage::Done, |d| Stage::JobDebugger(d.serial))
            }
        }
    }

    fn stage_slot(&self, tid: Koid, pe: &PendingException) -> Option<SlotRef> {
        let process = self.thread(tid).process;
        let slot = |task, kind| Some(SlotRef { task, kind });
        match pe.stage {
            Stage::Debugger | Stage::DebuggerSecond => slot(process, SlotKind::Debugger),
            Stage::Thread => slot(tid, SlotKind::Thread),
            Stage::Process => slot(process, SlotKind::Process),
            Stage::Job(i) => slot(
                pe.jobs.as_deref().expect("looked up before the job stages")[i],
                SlotKind::Job,
            ),
            Stage::System => slot(self.root_job, SlotKind::System),
            Stage::JobDebugger(serial) => match pe.kind {
                ExceptionKind::ProcessStarting { job } => slot(job, SlotKind::JobDebugger(serial)),
                _ => None,
            },
            Stage::Start | Stage::Done => None,
        }
    }

    /// Move the exception to the next handler that takes it; when none is
    /// left, end it (kill for Search, continue for synthetic ones).
    pub(crate) fn exception_advance(&mut self, tid: Koid) {
        loop {
            let Some(pe) = self.thread(tid).exception.as_ref() else {
                return;
            };
            if pe.kind == ExceptionKind::Search
                && pe.jobs.is_none()
                && matches!(pe.stage, Stage::Process | Stage::DebuggerSecond)
            {
                let process = self.thread(tid).process;
                let chain = self.job_chain(self.process(process).job);
                self.pending_mut(tid).jobs = Some(chain);
                continue;
            }
            let stage = self.next_stage(pe);
            let pe = self.pending_mut(tid);
            pe.stage = stage;
            pe.holder = Holder::None;
            if stage == Stage::Done {
                self.exception_exhausted(tid);
                return;
            }
            let pe = self.thread(tid).exception.as_ref().expect("still pending");
            let Some(slot) = self.stage_slot(tid, pe) else {
                continue;
            };
            match self.deliver(tid, slot, true) {
                Delivery::Delivered | Delivery::Killed => return,
                Delivery::Skipped => continue,
            }
        }
    }

    /// Offer the thread's exception to one slot.
    fn deliver(&mut self, tid: Koid, slot: SlotRef, blocking: bool) -> Delivery {
        let process = self.thread(tid).process;
        let (exception_type, stage) = match (&self.thread(tid).exception, blocking) {
            (Some(pe), true) => (pe.report.header.exception_type, pe.stage),
            _ => (EXCP_THREAD_EXITING, Stage::Debugger),
        };
        let Some(ex) = self.slot(slot) else {
            return Delivery::Skipped;
        };
        match &ex.binding {
            Binding::Channel {
                user_end,
                task_rights,
                ..
            } if self.is_live(*user_end) => {
                let (user_end, task_rights) = (*user_end, *task_rights);
                let exception = self.insert(
                    Body::Exception(ExceptionObject {
                        thread: tid,
                        process,
                        state: EXCEPTION_STATE_TRY_NEXT,
                        strategy: EXCEPTION_STRATEGY_FIRST_CHANCE,
                        slot: slot.kind,
                        first_chance_debugger: blocking
                            && stage == Stage::Debugger
                            && !is_synthetic_kind(exception_type),
                        task_rights,
                        live: blocking,
                    }),
                    Signals::NONE,
                );
                self.add_kernel_ref(tid);
                if blocking {
                    self.pending_mut(tid).holder = Holder::Object(exception);
                }
                let handle = self.new_handle(exception, Rights::DEFAULT_EXCEPTION);
                let info = ExceptionInfo {
                    pid: process,
                    tid,
                    exception_type,
                    padding: 0,
                };
                self.channel_enqueue(
                    user_end,
                    Message {
                        bytes: MessageBytes::from(&info.to_bytes()[..]),
                        handles: vec![handle],
                    },
                );
                Delivery::Delivered
            }
            Binding::Port { port, key } => {
                let (port, key) = (*port, *key);
                let packet = PortPacket::exception(key, exception_type, process, tid);
                if blocking {
                    self.pending_mut(tid).holder = Holder::Port { port, slot };
                }
                match self.port_enqueue(port, packet, true) {
                    Ok(()) => Delivery::Delivered,
                    Err(_) if blocking => {
                        self.process_kill(process, TASK_RETCODE_EXCEPTION_KILL);
                        Delivery::Killed
                    }
                    Err(_) => Delivery::Delivered,
                }
            }
            _ => Delivery::Skipped,
        }
    }

    /// Send THREAD_EXITING for a killed thread: delivered, never waited for.
    pub(crate) fn exception_send_unblocking(&mut self, tid: Koid, kind: ExceptionKind) {
        debug_assert_eq!(kind, ExceptionKind::ThreadExiting);
        let process = self.thread(tid).process;
        let slot = SlotRef {
            task: process,
            kind: SlotKind::Debugger,
        };
        self.deliver(tid, slot, false);
    }

    fn exception_exhausted(&mut self, tid: Koid) {
        let pe = self.thread(tid).exception.as_ref().expect("pending");
        match pe.kind {
            ExceptionKind::Search => {
                let process = self.thread(tid).process;
                self.process_kill(process, TASK_RETCODE_EXCEPTION_KILL);
            }
            _ => self.exception_finish_synthetic(tid),
        }
    }

    fn exception_finish_synthetic(&mut self, tid: Koid) {
        let t = self.thread_mut(tid);
        let Some(pe) = t.exception.take() else { return };
        t.block = None;
        match pe.kind {
            ExceptionKind::ThreadExiting => self.thread_die(tid),
            _ => self.thread_start_sequence(tid),
        }
    }

    /// A handler answered (closed its exception handle, or called a resume).
    pub(crate) fn exception_answer(&mut self, tid: Koid, answer: Answer) {
        let Some(pe) = self.thread_mut(tid).exception.as_mut() else {
            return;
        };
        pe.holder = Holder::None;
        let kind = pe.kind;
        match (answer, kind) {
            (Answer::ThreadExit, ExceptionKind::ThreadExiting) => {
                self.exception_finish_synthetic(tid)
            }
            (Answer::ThreadExit, _) => {
                let t = self.thread_mut(tid);
                t.exception = None;
                t.block = None;
                self.thread_begin_exit(tid);
            }
            (Answer::Handled, ExceptionKind::Search) => {
                let t = self.thread_mut(tid);
                let pe = t.exception.take().expect("pending");
                t.block = None;
                t.resume = Some(Resume::Exception {
                    syscall_status: pe.syscall_status,
                });
                self.update_runnable(tid);
            }
            _ => self.exception_advance(tid),
        }
    }

    /// The thread was killed: its exception ends here. An outstanding
    /// exception object stays valid but no longer answers.
    pub(crate) fn exception_abandon(&mut self, tid: Koid) {
        let t = self.thread_mut(tid);
        let Some(pe) = t.exception.take() else { return };
        if t.block == Some(Block::Exception) {
            t.block = None;
        }
        if let Holder::Object(k) = pe.holder
            && self.is_live(k)
        {
            self.exception_mut(k).live = false;
        }
    }

    /// The last handle to an exception object closed: its state decides.
    pub(crate) fn exception_object_closed(&mut self, koid: Koid) {
        let entry = self.objects.remove(&koid).expect("exception is live");
        let Body::Exception(obj) = entry.body else {
            unreachable!()
        };
        let holds = obj.live
            && self.is_live(obj.thread)
            && matches!(&self.thread(obj.thread).exception, Some(pe) if pe.holder == Holder::Object(koid));
        if holds {
            let answer = match obj.state {
                EXCEPTION_STATE_HANDLED => Answer::Handled,
                EXCEPTION_STATE_THREAD_EXIT => Answer::ThreadExit,
                _ => Answer::TryNext,
            };
            self.exception_answer(obj.thread, answer);
        }
        self.drop_kernel_ref(obj.thread);
    }

    /// The kind of handler holding the thread's exception (`INFO_THREAD`).
    pub(crate) fn exception_holder_type(&self, tid: Koid) -> u32 {
        let Some(pe) = &self.thread(tid).exception else {
            return EXCEPTION_CHANNEL_TYPE_NONE;
        };
        match pe.holder {
            Holder::None => EXCEPTION_CHANNEL_TYPE_NONE,
            Holder::Object(k) => self.exception(k).slot.channel_type(),
            Holder::Port { slot, .. } | Holder::Quiet { slot } => slot.kind.channel_type(),
        }
    }

    // ---- glue entry point ------------------------------------------------

    /// The kernel's report of a user-mode trap: `thread` trapped with `trap`
    /// and `regs`. The thread blocks in the exception (an
    /// [`crate::Effect::Park`]) and the search begins; what follows arrives
    /// as effects (Run with possibly changed registers, or Exit). For page
    /// faults, call this only when the VM could not resolve the fault, with
    /// its status in `vm_status` (ignored for other traps).
    pub fn thread_exception(
        &mut self,
        thread: Koid,
        trap: &TrapRecord,
        regs: &Registers,
        vm_status: Status,
    ) -> Result<(), Status> {
        self.thread_exception_with(thread, trap, vm_status, |slots| {
            slots.copy_from_slice(&regs.slots[..slots.len()])
        })
    }

    /// [`Kernel::thread_exception`] with the registers written in place by
    /// `fill` (the layout's slots), once the thread is known to be able to
    /// take the exception: the glue's way, without a copy in between.
    pub fn thread_exception_with(
        &mut self,
        thread: Koid,
        trap: &TrapRecord,
        vm_status: Status,
        fill: impl FnOnce(&mut [u64]),
    ) -> Result<(), Status> {
        let Some(Body::Thread(t)) = self.objects.get_mut(&thread).map(|e| &mut e.body) else {
            return Err(Status::NOT_FOUND);
        };
        if t.lifecycle != Lifecycle::Running || t.block.is_some() || t.killed || t.parked {
            return Err(Status::BAD_STATE);
        }
        let count = t.regs.count;
        fill(&mut t.regs.slots[..count]);
        t.regs_valid = true;
        self.exception_raise(
            thread,
            ExceptionKind::Search,
            Some(report_for_trap(trap, vm_status)),
            None,
        );
        Ok(())
    }

    /// The report of the exception a thread is blocked in.
    pub fn exception_report(&self, thread: Koid) -> Option<ExceptionReport> {
        match self.objects.get(&thread).map(|e| &e.body) {
            Some(Body::Thread(t)) => t.exception.as_ref().map(|pe| pe.report),
            _ => None,
        }
    }
}

fn kind_type(kind: ExceptionKind) -> u32 {
    match kind {
        ExceptionKind::Search => EXCP_GENERAL,
        ExceptionKind::ThreadStarting => EXCP_THREAD_STARTING,
        ExceptionKind::ThreadExiting => EXCP_THREAD_EXITING,
        ExceptionKind::ProcessStarting { .. } => EXCP_PROCESS_STARTING,
    }
}

fn is_synthetic_kind(exception_type: u32) -> bool {
    is_synthetic(exception_type) && exception_type != EXCP_POLICY_ERROR
}
