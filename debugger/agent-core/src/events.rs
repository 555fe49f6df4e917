//! What the kernel reports: a process of the watched job starting, the
//! exceptions of the attached processes, a process ending.
//!
//! The binding calls these when its notifications arrive (the guest: a
//! port packet for the job-debugger channel, a process-debugger channel,
//! a process's termination). A process is attached before it runs, so
//! nothing runs unwatched. A thread's start and exit become events; an
//! architectural exception either finishes a step the agent started or is
//! held as a stop and reported, with the pc moved back onto an `int3`.
//! Notifications of an earlier attachment (another generation) are
//! dropped.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use spinel_abi::Koid;
use spinel_abi::Status;
use spinel_abi::exception::{
    EXCEPTION_STATE_HANDLED, EXCEPTION_STATE_TRY_NEXT, EXCP_HW_BREAKPOINT, EXCP_SW_BREAKPOINT,
    EXCP_THREAD_EXITING, EXCP_THREAD_STARTING, ExceptionReport,
};
use spinel_debug_protocol::{
    AgentMessage, Arch, ArchFacts, BreakpointLocation, Command, Event, ExceptionFacts, HostMessage,
    Request, StackFrame, Stop,
};

use crate::breakpoints::replant;
use crate::{
    Agent, GENERATION_MASK, Held, Link, NextException, Session, System, Target, TargetThread,
    ThreadRegisters,
};

impl<'elf, S: System<'elf>, L: Link> Agent<'elf, S, L> {
    /// A process of the watched job is starting (held at PROCESS_STARTING
    /// by the binding, which lets it go afterwards): keep it and attach.
    pub fn process_starting(
        &mut self,
        pid: Koid,
        process: S::Process,
        tid: Koid,
        thread: S::Thread,
    ) -> Result<(), Status> {
        let job = self.system.process_job(&process)?;
        let mut threads = BTreeMap::new();
        threads.insert(
            tid,
            TargetThread {
                name: self.system.thread_name(&thread),
                handle: thread,
                held: None,
                pending: None,
            },
        );
        let target = Target {
            name: self.system.process_name(&process),
            job,
            handle: process,
            debugger: None,
            generation: 0,
            threads,
            breakpoints: Vec::new(),
        };
        self.system.watch_termination(&target.handle, pid)?;
        let name = target.name.clone();
        self.targets.insert(pid, target);
        self.attach(pid).map_err(|_| Status::INTERNAL)?;
        self.emit(Event::Log(format!(
            "process {pid} ({name}) started; attached"
        )));
        if let Some(bench) = &self.bench {
            let location = BreakpointLocation::Function(bench.function.to_string());
            if let Err(error) = self.set_breakpoint(pid, location) {
                self.system
                    .log(format_args!("debug-agent: bench breakpoint: {error}"));
            }
        }
        Ok(())
    }

    /// Process `pid`'s debugger channel (attachment `generation`) has
    /// something to read: take everything queued, then wait again.
    pub fn debugger_channel_readable(&mut self, pid: Koid, generation: u64) {
        loop {
            let Some(target) = self.targets.get(&pid) else {
                return;
            };
            if target.generation & GENERATION_MASK != generation {
                return; // A notification of an earlier attachment.
            }
            let Some(channel) = &target.debugger else {
                return;
            };
            match self.system.next_exception(channel) {
                NextException::Exception(tid, exception_type, exception) => {
                    self.on_exception(pid, tid, exception_type, exception)
                }
                NextException::Empty => break,
                NextException::Closed => return,
            }
        }
        if let Some(target) = self.targets.get(&pid)
            && let Some(channel) = &target.debugger
            && let Err(status) = self.system.arm(channel, pid, target.generation)
        {
            self.system.log(format_args!(
                "debug-agent: cannot wait on process {pid}'s debugger channel: {status:?}"
            ));
        }
    }

    fn on_exception(&mut self, pid: Koid, tid: Koid, exception_type: u32, exception: S::Exception) {
        match exception_type {
            EXCP_THREAD_STARTING => {
                if let (Ok(thread), Some(target)) = (
                    self.system.exception_thread(&exception),
                    self.targets.get_mut(&pid),
                ) {
                    target.threads.insert(
                        tid,
                        TargetThread {
                            name: self.system.thread_name(&thread),
                            handle: thread,
                            held: None,
                            pending: None,
                        },
                    );
                }
                let _ = self.system.resolve(exception, EXCEPTION_STATE_HANDLED);
                self.emit(Event::ThreadStarted {
                    process: pid,
                    thread: tid,
                });
            }
            EXCP_THREAD_EXITING => {
                if let Some(target) = self.targets.get_mut(&pid) {
                    target.threads.remove(&tid);
                }
                let _ = self.system.resolve(exception, EXCEPTION_STATE_HANDLED);
                self.emit(Event::ThreadExited {
                    process: pid,
                    thread: tid,
                });
            }
            _ => self.on_stop(pid, tid, exception_type, exception),
        }
    }

    /// An architectural exception of an attached process: finish a step
    /// the agent started, or hold the thread and report the stop.
    fn on_stop(&mut self, pid: Koid, tid: Koid, exception_type: u32, exception: S::Exception) {
        let arch = self.arch;
        let system = &mut self.system;
        let Some(target) = self.targets.get_mut(&pid) else {
            let _ = system.resolve(exception, EXCEPTION_STATE_TRY_NEXT);
            return;
        };
        if let alloc::collections::btree_map::Entry::Vacant(entry) = target.threads.entry(tid) {
            // A thread started while the agent was detached.
            let Ok(handle) = system.exception_thread(&exception) else {
                let _ = system.resolve(exception, EXCEPTION_STATE_TRY_NEXT);
                return;
            };
            entry.insert(TargetThread {
                name: system.thread_name(&handle),
                handle,
                held: None,
                pending: None,
            });
        }
        let Some(thread) = target.threads.get_mut(&tid) else {
            return;
        };
        if let Some(pending) = thread.pending.take() {
            let _ = system.set_single_step(&thread.handle, false);
            if let Some(address) = pending.replant {
                replant(system, target, address, arch);
            }
            if exception_type == EXCP_HW_BREAKPOINT && !pending.report {
                // Stepped off a breakpoint on the way to a Continue.
                let _ = system.resolve(exception, EXCEPTION_STATE_HANDLED);
                return;
            }
        }
        let Some(thread) = target.threads.get(&tid) else {
            return;
        };
        let report = system.exception_report(&thread.handle).unwrap_or_default();
        let Ok(mut registers) = system.read_registers(&thread.handle) else {
            // Killed meanwhile: nothing to report.
            return;
        };
        let mut breakpoint = None;
        if exception_type == EXCP_SW_BREAKPOINT {
            let pc = registers.pc();
            let address = match arch {
                // `int3` reports the instruction after itself.
                Arch::X86_64 => pc.wrapping_sub(1),
                Arch::Aarch64 => pc,
            };
            if let Some(planted) = target
                .breakpoints
                .iter()
                .find(|b| b.info.addresses.contains(&address))
            {
                breakpoint = Some(planted.info.id);
                if address != pc {
                    registers.set_pc(address);
                    let _ = system.write_registers(&thread.handle, &registers);
                }
            }
        }
        let facts = facts_of(arch, &report, exception_type);
        let backtrace = match self.programs.get(system, &target.name) {
            Ok(program) => program.backtrace(system, &target.handle, &registers),
            _ => vec![StackFrame {
                pc: registers.pc(),
                locations: Vec::new(),
            }],
        };
        let stop = Stop {
            process: pid,
            thread: tid,
            exception: facts,
            breakpoint,
            backtrace,
        };
        // Sent from where it will be held: the stop is not copied.
        let message = AgentMessage::Event(Event::Stopped(stop));
        if self.session == Session::Greeted {
            self.send(&message);
        }
        if let AgentMessage::Event(Event::Stopped(stop)) = message
            && let Some(thread) = self
                .targets
                .get_mut(&pid)
                .and_then(|target| target.threads.get_mut(&tid))
        {
            thread.held = Some(Held { exception, stop });
        }
        if breakpoint.is_some() && self.bench.is_some() {
            self.bench_stop(tid, &registers);
        }
    }

    /// The benchmark's side of a breakpoint stop: record, then continue as
    /// a host would, with a real request frame through the link decoder.
    fn bench_stop(&mut self, tid: Koid, registers: &ThreadRegisters) {
        let sent = self.system.clock();
        let Some(bench) = &mut self.bench else {
            return;
        };
        // The target passes the guest clock it read just before the call.
        let before = registers.arg0() as i64;
        bench.record(before, sent);
        let request = HostMessage::Request(Request {
            id: bench.next_id(),
            command: Command::Continue { thread: tid },
        });
        if let Ok(frame) = spinel_debug_protocol::encode(&request) {
            self.link.inject(&frame);
        }
    }

    /// Process `pid` ended.
    pub fn process_terminated(&mut self, pid: Koid) {
        // THREAD_EXITING messages still queued come first.
        if let Some(generation) = self
            .targets
            .get(&pid)
            .map(|t| t.generation & GENERATION_MASK)
        {
            self.debugger_channel_readable(pid, generation);
        }
        let Some(target) = self.targets.remove(&pid) else {
            return;
        };
        for (&tid, _) in target.threads.iter() {
            self.emit(Event::ThreadExited {
                process: pid,
                thread: tid,
            });
        }
        let return_code = self.system.return_code(&target.handle);
        self.emit(Event::ProcessExited {
            process: pid,
            return_code,
        });
        if let Some(bench) = &mut self.bench {
            bench.target_exited = true;
        }
    }
}

fn facts_of(arch: Arch, report: &ExceptionReport, exception_type: u32) -> ExceptionFacts {
    let context = &report.context;
    let facts = match arch {
        Arch::X86_64 => {
            let x86 = context.arch.as_x86_64();
            ArchFacts::X86_64 {
                vector: x86.vector,
                error_code: x86.err_code,
                cr2: x86.cr2,
            }
        }
        Arch::Aarch64 => {
            let arm = context.arch.as_arm64();
            ArchFacts::Aarch64 {
                esr: arm.esr,
                far: arm.far,
            }
        }
    };
    ExceptionFacts {
        exception_type,
        arch: facts,
        synth_code: context.synth_code,
        synth_data: context.synth_data,
    }
}
