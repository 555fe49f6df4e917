//! The host's requests, one function each.
//!
//! The rules: a request names its process or thread by koid and fails
//! with `NotFound`, `NotAttached` or `NotStopped` before touching anything;
//! every kernel failure is an `Error` reply carrying the kernel's status;
//! nothing here waits (a `Continue` or `Step` answers at once and the stop
//! comes later as an event).

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use spinel_abi::exception::{
    EXCEPTION_STATE_HANDLED, EXCEPTION_STATE_TRY_NEXT, EXCP_HW_BREAKPOINT,
};
use spinel_abi::{Koid, Status, info};
use spinel_debug_protocol::{
    Attached, Command, Error, ErrorCode, JobInfo, MAX_MEMORY_TRANSFER, ProcessInfo, Registers,
    Reply, StackFrame, ThreadInfo, ThreadState,
};

use crate::breakpoints::{original_at, replant, restore, show_originals, write_through};
use crate::{
    Agent, GENERATION_MASK, Held, Link, Pending, Program, System, not_found, status_error,
};

type Outcome = Result<Reply, Error>;

/// How a held thread goes on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Resume {
    Step,
    Continue,
    PassOn,
}

impl<'elf, S: System<'elf>, L: Link> Agent<'elf, S, L> {
    /// Carry out one request.
    pub fn command(&mut self, command: Command) -> Outcome {
        match command {
            Command::ListJobs => self.list_jobs(),
            Command::ListProcesses { job } => self.list_processes(job),
            Command::ListThreads { process } => self.list_threads(process),
            Command::Attach { process } => self.attach(process),
            Command::Detach {
                process,
                leave_stopped,
            } => self.detach(process, leave_stopped),
            Command::ReadRegisters { thread } => self.read_registers(thread),
            Command::WriteRegisters { thread, registers } => {
                self.write_registers(thread, &registers)
            }
            Command::ReadMemory {
                process,
                address,
                length,
            } => self.read_memory(process, address, length),
            Command::WriteMemory {
                process,
                address,
                bytes,
            } => self.write_memory(process, address, &bytes),
            Command::SetBreakpoint { process, location } => self
                .set_breakpoint(process, location)
                .map(Reply::Breakpoint),
            Command::ClearBreakpoint {
                process,
                breakpoint,
            } => self.clear_breakpoint(process, breakpoint),
            Command::ListBreakpoints { process } => {
                let target = self.attached(process)?;
                Ok(Reply::Breakpoints(
                    target.breakpoints.iter().map(|b| b.info.clone()).collect(),
                ))
            }
            Command::Step { thread } => self.resume(thread, Resume::Step),
            Command::Continue { thread } => self.resume(thread, Resume::Continue),
            Command::PassOn { thread } => self.resume(thread, Resume::PassOn),
            Command::Kill { task } => self.kill(task),
            Command::Backtrace { thread } => self.backtrace(thread),
            Command::Symbolize { process, addresses } => self.symbolize(process, &addresses),
        }
    }

    fn list_jobs(&mut self) -> Outcome {
        let job_koid = self.system.job_koid();
        let mut jobs = vec![JobInfo {
            koid: job_koid,
            parent: self.system.job_parent(),
            name: self.system.job_name(),
        }];
        for target in self.targets.values() {
            if target.job != job_koid && !jobs.iter().any(|j| j.koid == target.job) {
                jobs.push(JobInfo {
                    koid: target.job,
                    parent: None,
                    name: String::new(),
                });
            }
        }
        Ok(Reply::Jobs(jobs))
    }

    fn list_processes(&mut self, job: Option<Koid>) -> Outcome {
        let job_koid = self.system.job_koid();
        if let Some(job) = job
            && job != job_koid
            && !self.targets.values().any(|t| t.job == job)
        {
            return Err(not_found(format!("no job {job}")));
        }
        let processes = self
            .targets
            .iter()
            .filter(|(_, target)| match job {
                Some(job) => job == job_koid || target.job == job,
                None => true,
            })
            .map(|(&koid, target)| ProcessInfo {
                koid,
                job: target.job,
                name: target.name.clone(),
                attached: target.debugger.is_some(),
            })
            .collect();
        Ok(Reply::Processes(processes))
    }

    fn list_threads(&mut self, pid: Koid) -> Outcome {
        let target = self.target(pid)?;
        let threads = target
            .threads
            .iter()
            .map(|(&koid, thread)| {
                let state = match self.system.thread_state(&thread.handle) {
                    Ok(state) => thread_state(state, thread.held.as_ref()),
                    Err(_) => ThreadState::Dead,
                };
                ThreadInfo {
                    koid,
                    name: thread.name.clone(),
                    state,
                }
            })
            .collect();
        Ok(Reply::Threads(threads))
    }

    pub(crate) fn attach(&mut self, pid: Koid) -> Outcome {
        let system = &mut self.system;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))?;
        if target.debugger.is_none() {
            let channel = system
                .create_debugger_channel(&target.handle)
                .map_err(|status| status_error("task_create_exception_channel", status))?;
            target.generation += 1;
            system
                .arm(&channel, pid, target.generation)
                .map_err(|status| status_error("object_wait_async", status))?;
            target.debugger = Some(channel);
        }
        let stops = target
            .threads
            .values()
            .filter_map(|thread| thread.held.as_ref().map(|held| held.stop.clone()))
            .collect();
        Ok(Reply::Attached(Attached {
            process: pid,
            stops,
        }))
    }

    fn detach(&mut self, pid: Koid, leave_stopped: bool) -> Outcome {
        // Exceptions already queued (a step that just finished) are taken
        // first: closing the channel over them would pass them on.
        let generation = self.attached(pid)?.generation & GENERATION_MASK;
        self.debugger_channel_readable(pid, generation);
        self.attached(pid)?;
        let system = &mut self.system;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))?;
        // Breakpoints go: with no debugger, a hit would kill the process.
        for planted in core::mem::take(&mut target.breakpoints) {
            restore(system, target, &planted);
        }
        for thread in target.threads.values_mut() {
            if thread.pending.take().is_some() {
                let _ = system.set_single_step(&thread.handle, false);
            }
            if leave_stopped {
                continue;
            }
            if let Some(held) = thread.held.take() {
                // The agent's own stops resume where they were; faults go
                // on to the next handler.
                let ours = held.stop.breakpoint.is_some()
                    || held.stop.exception.exception_type == EXCP_HW_BREAKPOINT;
                let state = if ours {
                    EXCEPTION_STATE_HANDLED
                } else {
                    EXCEPTION_STATE_TRY_NEXT
                };
                let _ = system.resolve(held.exception, state);
            }
        }
        target.debugger = None;
        Ok(Reply::Done)
    }

    fn read_registers(&mut self, tid: Koid) -> Outcome {
        let arch = self.arch;
        let pid = self.held(tid)?;
        let registers = self
            .system
            .read_registers(&self.targets[&pid].threads[&tid].handle)
            .map_err(|status| status_error("thread_read_state", status))?;
        Ok(Reply::Registers(Registers {
            arch,
            values: registers.values().to_vec(),
        }))
    }

    fn write_registers(&mut self, tid: Koid, registers: &Registers) -> Outcome {
        let arch = self.arch;
        let pid = self.held(tid)?;
        let thread = &self.targets[&pid].threads[&tid];
        let mut current = self
            .system
            .read_registers(&thread.handle)
            .map_err(|status| status_error("thread_read_state", status))?;
        let count = current.layout.count;
        if registers.arch != arch || registers.values.len() != count {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("expected {count} {} registers", arch.name()),
            ));
        }
        current.slots[..count].copy_from_slice(&registers.values);
        self.system
            .write_registers(&thread.handle, &current)
            .map_err(|status| status_error("thread_write_state", status))?;
        Ok(Reply::Done)
    }

    fn read_memory(&mut self, pid: Koid, address: u64, length: u32) -> Outcome {
        if length > MAX_MEMORY_TRANSFER {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("at most {MAX_MEMORY_TRANSFER} bytes per read"),
            ));
        }
        let target = self.target(pid)?;
        let mut bytes = vec![0u8; length as usize];
        if length > 0 {
            let count = self
                .system
                .read_memory(&target.handle, address, &mut bytes)
                .map_err(|status| status_error(&format!("reading {address:#x}"), status))?;
            bytes.truncate(count);
        }
        // Show the program's own bytes under the agent's breakpoints.
        show_originals(target, address, &mut bytes);
        Ok(Reply::Memory(bytes))
    }

    fn write_memory(&mut self, pid: Koid, address: u64, data: &[u8]) -> Outcome {
        let arch = self.arch;
        self.attached(pid)?;
        if data.is_empty() {
            return Ok(Reply::Done);
        }
        let system = &self.system;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))?;
        let written = system
            .write_memory(&target.handle, address, data)
            .map_err(|status| status_error(&format!("writing {address:#x}"), status))?;
        if written != data.len() {
            return Err(Error::new(
                ErrorCode::Status(Status::NO_MEMORY.0),
                format!("wrote {written} of {} bytes at {address:#x}", data.len()),
            ));
        }
        // Written over a breakpoint: that is the new original; the
        // breakpoint stays.
        write_through(system, target, address, data, arch);
        Ok(Reply::Done)
    }

    pub(crate) fn program_of(&mut self, pid: Koid) -> Result<Rc<Program<'elf>>, Error> {
        let name = self.target(pid)?.name.clone();
        self.programs
            .get(&mut self.system, &name)
            .map_err(|reason| Error::new(ErrorCode::NotFound, format!("{name}: {reason}")))
    }

    fn resume(&mut self, tid: Koid, how: Resume) -> Outcome {
        let arch = self.arch;
        let pid = self.held(tid)?;
        let system = &mut self.system;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))?;
        let thread = &target.threads[&tid];
        let pc = system
            .read_pc(&thread.handle)
            .map_err(|status| status_error("thread_read_state", status))?;
        let on_breakpoint = target
            .breakpoints
            .iter()
            .any(|b| b.info.addresses.contains(&pc));
        let pending = match how {
            Resume::PassOn => None,
            Resume::Step => Some(Pending {
                replant: on_breakpoint.then_some(pc),
                report: true,
            }),
            Resume::Continue if on_breakpoint => Some(Pending {
                replant: Some(pc),
                report: false,
            }),
            Resume::Continue => None,
        };
        if let Some(pending) = pending {
            if let Some(address) = pending.replant {
                // Lift the breakpoint for one instruction.
                if let Some(original) = original_at(target, address) {
                    system
                        .write_memory(&target.handle, address, original)
                        .map_err(|status| status_error("lifting the breakpoint", status))?;
                }
            }
            let thread = &target.threads[&tid];
            if let Err(status) = system.set_single_step(&thread.handle, true) {
                if let Some(address) = pending.replant {
                    replant(system, target, address, arch);
                }
                return Err(status_error("setting SINGLE_STEP", status));
            }
        }
        let Some(thread) = target.threads.get_mut(&tid) else {
            return Err(not_found(format!("no thread {tid}")));
        };
        let Some(held) = thread.held.take() else {
            return Err(Error::new(ErrorCode::NotStopped, "not stopped"));
        };
        thread.pending = pending;
        let state = match how {
            Resume::PassOn => EXCEPTION_STATE_TRY_NEXT,
            _ => EXCEPTION_STATE_HANDLED,
        };
        let Held { exception, .. } = held;
        system
            .resolve(exception, state)
            .map_err(|status| status_error("setting EXCEPTION_STATE", status))?;
        Ok(Reply::Done)
    }

    fn kill(&mut self, task: Koid) -> Outcome {
        let system = &self.system;
        if let Some(target) = self.targets.get_mut(&task) {
            system
                .kill_process(&target.handle)
                .map_err(|status| status_error("task_kill", status))?;
            for thread in target.threads.values_mut() {
                thread.held = None;
                thread.pending = None;
            }
            return Ok(Reply::Done);
        }
        let pid = self
            .process_of(task)
            .map_err(|_| not_found(format!("no task {task}")))?;
        let system = &self.system;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no task {task}")))?;
        let thread = target
            .threads
            .get_mut(&task)
            .ok_or_else(|| not_found(format!("no task {task}")))?;
        system
            .kill_thread(&thread.handle)
            .map_err(|status| status_error("task_kill", status))?;
        thread.held = None;
        thread.pending = None;
        Ok(Reply::Done)
    }

    fn backtrace(&mut self, tid: Koid) -> Outcome {
        let pid = self.held(tid)?;
        let registers = self
            .system
            .read_registers(&self.targets[&pid].threads[&tid].handle)
            .map_err(|status| status_error("thread_read_state", status))?;
        let program = self.program_of(pid)?;
        let target = self.target(pid)?;
        Ok(Reply::Backtrace(program.backtrace(
            &self.system,
            &target.handle,
            &registers,
        )))
    }

    fn symbolize(&mut self, pid: Koid, addresses: &[u64]) -> Outcome {
        let program = self.program_of(pid)?;
        Ok(Reply::Symbols(
            addresses
                .iter()
                .map(|&pc| StackFrame {
                    pc,
                    locations: program.locations(pc),
                })
                .collect::<Vec<_>>(),
        ))
    }
}

fn thread_state<E>(state: u32, held: Option<&Held<E>>) -> ThreadState {
    match state {
        info::THREAD_STATE_NEW => ThreadState::New,
        info::THREAD_STATE_RUNNING => ThreadState::Running,
        info::THREAD_STATE_SUSPENDED => ThreadState::Suspended,
        info::THREAD_STATE_BLOCKED_EXCEPTION => ThreadState::InException {
            exception_type: held.map_or(0, |held| held.stop.exception.exception_type),
        },
        info::THREAD_STATE_DYING => ThreadState::Dying,
        info::THREAD_STATE_DEAD => ThreadState::Dead,
        _ => ThreadState::Blocked,
    }
}
