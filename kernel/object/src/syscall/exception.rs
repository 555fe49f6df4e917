//! task_create_exception_channel, task_bind_exception_port,
//! task_resume_from_exception (Zircon), task_resume (Magenta),
//! exception_get_thread, exception_get_process.

use spinel_abi::exception::*;
use spinel_abi::policy::POL_NEW_CHANNEL;
use spinel_abi::{HandleValue, Koid, ObjectType, Rights, Status};

use crate::Kernel;
use crate::exception::{Answer, Binding, Exceptionate, Holder, SlotKind, SlotRef};
use crate::job::JobDebugger;
use crate::object::Body;

impl Kernel {
    fn task_is_dead(&self, koid: Koid) -> bool {
        match &self.objects[&koid].body {
            Body::Thread(t) => t.is_dead(),
            Body::Process(p) => !p.is_alive(),
            Body::Job(j) => j.dead,
            _ => true,
        }
    }

    /// `task_create_exception_channel`, checked in the spec's order:
    /// options, policy, rights, type, ENUMERATE, ALREADY_BOUND, dead task.
    pub fn sys_task_create_exception_channel(
        &mut self,
        caller: Koid,
        task: HandleValue,
        options: u32,
    ) -> Result<HandleValue, Status> {
        if options & !EXCEPTION_CHANNEL_DEBUGGER != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let debugger = options & EXCEPTION_CHANNEL_DEBUGGER != 0;
        let verdict = self.policy_check(caller, POL_NEW_CHANNEL)?;
        let result = self.create_exception_channel(caller, task, debugger);
        self.policy_finish(caller, verdict, &result);
        result
    }

    fn create_exception_channel(
        &mut self,
        caller: Koid,
        task: HandleValue,
        debugger: bool,
    ) -> Result<HandleValue, Status> {
        let (koid, rights) = self.handle_of(caller, task)?;
        if !rights.contains(Rights::EXCEPTION_CHANNEL_REQUIRED) {
            return Err(Status::ACCESS_DENIED);
        }
        let object_type = self.object_type(koid).expect("live");
        let kind = match (object_type, debugger) {
            (ObjectType::THREAD, true) => return Err(Status::INVALID_ARGS),
            (ObjectType::THREAD, false) => SlotKind::Thread,
            (ObjectType::PROCESS, true) => SlotKind::Debugger,
            (ObjectType::PROCESS, false) => SlotKind::Process,
            (ObjectType::JOB, true) => SlotKind::JobDebugger(0),
            (ObjectType::JOB, false) => SlotKind::Job,
            _ => return Err(Status::WRONG_TYPE),
        };
        if object_type != ObjectType::THREAD && !rights.contains(Rights::ENUMERATE) {
            return Err(Status::ACCESS_DENIED);
        }
        let slot = match kind {
            SlotKind::JobDebugger(_) => {
                let live: usize = self
                    .job(koid)
                    .debuggers
                    .iter()
                    .filter(|d| self.binding_live(&d.slot.binding))
                    .count();
                let has_port = self
                    .job(koid)
                    .debuggers
                    .iter()
                    .any(|d| matches!(d.slot.binding, Binding::Port { .. }));
                if live >= EXCEPTION_CHANNEL_JOB_DEBUGGER_MAX_COUNT || has_port {
                    return Err(Status::ALREADY_BOUND);
                }
                None
            }
            _ => {
                let slot = SlotRef { task: koid, kind };
                if self.binding_live(&self.slot(slot).expect("task slot").binding) {
                    return Err(Status::ALREADY_BOUND);
                }
                Some(slot)
            }
        };
        if self.task_is_dead(koid) || self.slot_is_shutdown(koid, kind) {
            return Err(Status::BAD_STATE);
        }
        let process = self.caller_process(caller)?;
        let (kernel_end, user_end) = self.channel_create_pair();
        let end = self.new_handle(kernel_end, Rights::DEFAULT_CHANNEL);
        let binding = Binding::Channel {
            end,
            user_end,
            task_rights: rights,
        };
        let old = match slot {
            Some(slot) => core::mem::replace(
                &mut self.slot_mut(slot).expect("task slot").binding,
                binding,
            ),
            None => {
                let serial = self.serial();
                let all = core::mem::take(&mut self.job_mut(koid).debuggers);
                let mut keep = alloc::vec::Vec::new();
                for d in all {
                    if self.binding_live(&d.slot.binding) {
                        keep.push(d);
                    } else {
                        self.exceptionate_shutdown(d.slot);
                    }
                }
                keep.push(JobDebugger {
                    serial,
                    slot: Exceptionate {
                        binding,
                        shutdown: false,
                    },
                });
                self.job_mut(koid).debuggers = keep;
                Binding::Empty
            }
        };
        if let Binding::Channel { end, .. } = old {
            self.release_handle(end);
        }
        let handle = self.new_handle(user_end, Rights::EXCEPTION_CHANNEL_END);
        Ok(self.install(process, handle))
    }

    fn slot_is_shutdown(&self, koid: Koid, kind: SlotKind) -> bool {
        match kind {
            SlotKind::JobDebugger(_) => self.job(koid).dead,
            _ => self
                .slot(SlotRef { task: koid, kind })
                .is_none_or(|s| s.shutdown),
        }
    }

    /// `task_bind_exception_port`: bind (port valid) or unbind (port
    /// INVALID) a port. Task INVALID means Magenta's system port, which needs
    /// the root job's authority: the caller's process is in the root job, or
    /// holds a handle to it with MANAGE_JOB.
    pub fn sys_task_bind_exception_port(
        &mut self,
        caller: Koid,
        task: HandleValue,
        port: HandleValue,
        key: u64,
        options: u32,
    ) -> Result<(), Status> {
        if options & !(EXCEPTION_PORT_DEBUGGER | EXCEPTION_PORT_UNBIND_QUIETLY) != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let debugger = options & EXCEPTION_PORT_DEBUGGER != 0;
        let quietly = options & EXCEPTION_PORT_UNBIND_QUIETLY != 0;
        let unbind = port.is_invalid();
        if quietly && !unbind {
            return Err(Status::INVALID_ARGS);
        }
        let slot = if task.is_invalid() {
            if debugger || quietly {
                return Err(Status::INVALID_ARGS);
            }
            let process = self.caller_process(caller)?;
            let p = self.process(process);
            if p.job != self.root_job && !p.handles.holds(self.root_job, Rights::MANAGE_JOB) {
                return Err(Status::ACCESS_DENIED);
            }
            SlotRef {
                task: self.root_job,
                kind: SlotKind::System,
            }
        } else {
            let (koid, _) = self.handle_of(caller, task)?;
            let kind = match (self.object_type(koid).expect("live"), debugger) {
                (ObjectType::THREAD, true) => return Err(Status::INVALID_ARGS),
                (ObjectType::THREAD, false) => SlotKind::Thread,
                (ObjectType::PROCESS, true) => SlotKind::Debugger,
                (ObjectType::PROCESS, false) => SlotKind::Process,
                (ObjectType::JOB, true) => SlotKind::JobDebugger(0),
                (ObjectType::JOB, false) => SlotKind::Job,
                _ => return Err(Status::WRONG_TYPE),
            };
            SlotRef { task: koid, kind }
        };
        let port = if unbind {
            None
        } else {
            let (port, _) = self.handle_of(caller, port)?;
            if self.object_type(port) != Some(ObjectType::PORT) {
                return Err(Status::WRONG_TYPE);
            }
            Some(port)
        };
        // The job-debugger port (at most one, instead of channels).
        let slot = match slot.kind {
            SlotKind::JobDebugger(_) => {
                let job = self.job(slot.task);
                let bound_port = job
                    .debuggers
                    .iter()
                    .find(|d| matches!(d.slot.binding, Binding::Port { .. }));
                match (port, bound_port) {
                    (None, Some(d)) => SlotRef {
                        task: slot.task,
                        kind: SlotKind::JobDebugger(d.serial),
                    },
                    (None, None) => return Err(Status::BAD_STATE),
                    (Some(_), Some(_)) => return Err(Status::ALREADY_BOUND),
                    (Some(_), None) => {
                        if job
                            .debuggers
                            .iter()
                            .any(|d| self.binding_live(&d.slot.binding))
                        {
                            return Err(Status::ALREADY_BOUND);
                        }
                        slot
                    }
                }
            }
            _ => slot,
        };
        match port {
            None => {
                let bound = self
                    .slot(slot)
                    .is_some_and(|s| matches!(s.binding, Binding::Port { .. }));
                if !bound {
                    return Err(Status::BAD_STATE);
                }
                self.unbind_slot(slot, quietly);
                Ok(())
            }
            Some(port) => {
                if self.task_is_dead(slot.task) {
                    return Err(Status::BAD_STATE);
                }
                let slot = match slot.kind {
                    SlotKind::JobDebugger(_) => {
                        let serial = self.serial();
                        let job = self.job_mut(slot.task);
                        job.debuggers.push(JobDebugger {
                            serial,
                            slot: Default::default(),
                        });
                        SlotRef {
                            task: slot.task,
                            kind: SlotKind::JobDebugger(serial),
                        }
                    }
                    _ => {
                        let ex = self.slot(slot).expect("task slot");
                        if ex.shutdown {
                            return Err(Status::BAD_STATE);
                        }
                        if self.binding_live(&ex.binding) {
                            return Err(Status::ALREADY_BOUND);
                        }
                        slot
                    }
                };
                let old = core::mem::replace(
                    &mut self.slot_mut(slot).expect("slot").binding,
                    Binding::Port { port, key },
                );
                if let Binding::Channel { end, .. } = old {
                    self.release_handle(end);
                }
                self.slot_bound_port(slot, port);
                Ok(())
            }
        }
    }

    /// `task_resume_from_exception` (Zircon port era): options 0 (handled)
    /// or TRY_NEXT; the port must be the one the exception went to.
    pub fn sys_task_resume_from_exception(
        &mut self,
        caller: Koid,
        thread: HandleValue,
        port: HandleValue,
        options: u32,
    ) -> Result<(), Status> {
        if options & !RESUME_TRY_NEXT != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let (tid, _) = self.object_of(caller, thread, Rights::NONE, ObjectType::THREAD)?;
        let (port, _) = self.object_of(caller, port, Rights::NONE, ObjectType::PORT)?;
        let Some(pe) = &self.thread(tid).exception else {
            return Err(Status::BAD_STATE);
        };
        match pe.holder {
            Holder::Port { port: p, .. } if p == port => {}
            Holder::Port { .. } | Holder::Quiet { .. } => return Err(Status::ACCESS_DENIED),
            _ => return Err(Status::BAD_STATE),
        }
        let answer = if options & RESUME_TRY_NEXT != 0 {
            Answer::TryNext
        } else {
            Answer::Handled
        };
        self.exception_answer(tid, answer);
        Ok(())
    }

    /// `task_resume` (Magenta): RESUME_EXCEPTION, optionally with TRY_NEXT,
    /// answers a port-era exception. Needs WRITE. Resuming from suspension
    /// (options 0) is done by closing the suspend token here: NOT_SUPPORTED.
    pub fn sys_task_resume(
        &mut self,
        caller: Koid,
        thread: HandleValue,
        options: u32,
    ) -> Result<(), Status> {
        if options & !(RESUME_EXCEPTION | RESUME_TRY_NEXT) != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let (tid, _) = self.object_of(caller, thread, Rights::WRITE, ObjectType::THREAD)?;
        if options & RESUME_EXCEPTION == 0 {
            return Err(if options == 0 {
                Status::NOT_SUPPORTED
            } else {
                Status::INVALID_ARGS
            });
        }
        let Some(pe) = &self.thread(tid).exception else {
            return Err(Status::BAD_STATE);
        };
        if !matches!(pe.holder, Holder::Port { .. } | Holder::Quiet { .. }) {
            return Err(Status::BAD_STATE);
        }
        let answer = if options & RESUME_TRY_NEXT != 0 {
            Answer::TryNext
        } else {
            Answer::Handled
        };
        self.exception_answer(tid, answer);
        Ok(())
    }

    fn exception_task(
        &mut self,
        caller: Koid,
        exception: HandleValue,
        want_process: bool,
    ) -> Result<HandleValue, Status> {
        let (koid, _) = self.object_of(caller, exception, Rights::NONE, ObjectType::EXCEPTION)?;
        let e = self.exception(koid);
        if want_process && e.slot == SlotKind::Thread {
            return Err(Status::ACCESS_DENIED);
        }
        let (target, rights) = (
            if want_process { e.process } else { e.thread },
            e.task_rights,
        );
        if !self.is_live(target) {
            return Err(Status::BAD_STATE);
        }
        let process = self.caller_process(caller)?;
        let handle = self.new_handle(target, rights);
        Ok(self.install(process, handle))
    }

    /// `exception_get_thread`: the faulting thread, with the rights of the
    /// task handle the channel was created with.
    pub fn sys_exception_get_thread(
        &mut self,
        caller: Koid,
        exception: HandleValue,
    ) -> Result<HandleValue, Status> {
        self.exception_task(caller, exception, false)
    }

    /// `exception_get_process`: ACCESS_DENIED from a thread channel.
    pub fn sys_exception_get_process(
        &mut self,
        caller: Koid,
        exception: HandleValue,
    ) -> Result<HandleValue, Status> {
        self.exception_task(caller, exception, true)
    }
}
