//! The system-call layer: one function per call, taking the calling thread
//! and raw handle values and returning the documented statuses in the
//! documented order. Decoding registers and copying user memory stay in the
//! kernel state's decoder (`kernel/state/src/syscall/`, the same families);
//! every rule is here, grouped by object family. The VM calls' rules return
//! what to do (which VMO, which space, which permissions) for the kernel
//! state to carry out in the process's `VmSpace`.
//!
//! Common check order (Zircon's): options, then the handle (BAD_HANDLE),
//! then its rights (ACCESS_DENIED), then its type (WRONG_TYPE), then state.

mod channel;
mod debug;
mod exception;
mod handle;
mod object;
mod port;
mod task;
mod vm;

pub use channel::{ReadError, ReadSizes};
pub use vm::{VmarMap, VmarProtect};

use spinel_abi::policy::*;
use spinel_abi::{HandleValue, Koid, ObjectType, Rights, Status};

use crate::Kernel;
use crate::object::Body;
use crate::process::Process;
use crate::thread::{Block, Lifecycle};

/// The result of a call that may block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Blocking<T> {
    /// Finished now with this value.
    Done(T),
    /// The calling thread is parked; an [`crate::Effect::Run`] with
    /// [`crate::RunEntry::Syscall`] brings the result later.
    Blocked,
}

impl<T> Blocking<T> {
    pub fn done(self) -> Option<T> {
        match self {
            Blocking::Done(v) => Some(v),
            Blocking::Blocked => None,
        }
    }
}

/// What a policy check decided for an operation that may go ahead.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Verdict {
    Allow,
    /// Allowed, and a POLICY_ERROR exception is pending on the caller: its
    /// final status is recorded with [`Kernel::policy_finish`].
    AllowAfterException,
}

impl Kernel {
    /// The calling thread's process; the caller must be a live thread of a
    /// live process.
    #[inline]
    pub(crate) fn caller_process(&self, caller: Koid) -> Result<Koid, Status> {
        self.caller_process_ref(caller).map(|(koid, _)| koid)
    }

    /// The calling thread's live process, with its koid.
    #[inline]
    fn caller_process_ref(&self, caller: Koid) -> Result<(Koid, &Process), Status> {
        let Some(Body::Thread(t)) = self.objects.get(&caller).map(|e| &e.body) else {
            return Err(Status::BAD_STATE);
        };
        if t.is_dead() || t.killed {
            return Err(Status::BAD_STATE);
        }
        match self.objects.get(&t.process).map(|e| &e.body) {
            Some(Body::Process(p)) if p.is_alive() => Ok((t.process, p)),
            _ => Err(Status::BAD_STATE),
        }
    }

    /// Look a handle up: BAD_HANDLE if the value names nothing.
    #[inline]
    pub(crate) fn handle_of(
        &self,
        caller: Koid,
        value: HandleValue,
    ) -> Result<(Koid, Rights), Status> {
        let (_, process) = self.caller_process_ref(caller)?;
        process
            .handles
            .get(value)
            .map(|h| (h.koid, h.rights))
            .ok_or(Status::BAD_HANDLE)
    }

    /// Look a handle up with rights and type: BAD_HANDLE, ACCESS_DENIED,
    /// WRONG_TYPE, in that order.
    pub(crate) fn object_of(
        &self,
        caller: Koid,
        value: HandleValue,
        rights: Rights,
        object_type: ObjectType,
    ) -> Result<(Koid, Rights), Status> {
        let (koid, have) = self.handle_of(caller, value)?;
        if !have.contains(rights) {
            return Err(Status::ACCESS_DENIED);
        }
        if self.object_type(koid) != Some(object_type) {
            return Err(Status::WRONG_TYPE);
        }
        Ok((koid, have))
    }

    /// Apply the caller's job policy for `condition` (a `POL_NEW_*`).
    pub(crate) fn policy_check(&mut self, caller: Koid, condition: u32) -> Result<Verdict, Status> {
        let process = self.caller_process(caller)?;
        let job = self.process(process).job;
        let can_raise = {
            let t = self.thread(caller);
            t.lifecycle == Lifecycle::Running && t.block.is_none() && t.exception.is_none()
        };
        match self.policy_action(job, condition) {
            POL_ACTION_ALLOW => Ok(Verdict::Allow),
            POL_ACTION_ALLOW_EXCEPTION if can_raise => {
                self.raise_policy_exception(caller, condition, Status::OK);
                if self.caller_process(caller).is_err() {
                    return Err(Status::ACCESS_DENIED);
                }
                Ok(Verdict::AllowAfterException)
            }
            POL_ACTION_ALLOW_EXCEPTION => Ok(Verdict::Allow),
            POL_ACTION_DENY_EXCEPTION if can_raise => {
                self.raise_policy_exception(caller, condition, Status::ACCESS_DENIED);
                Err(Status::ACCESS_DENIED)
            }
            POL_ACTION_KILL => {
                self.process_kill(process, spinel_abi::object::TASK_RETCODE_POLICY_KILL);
                Err(Status::ACCESS_DENIED)
            }
            _ => Err(Status::ACCESS_DENIED),
        }
    }

    /// Record the final status of a call that raised POLICY_ERROR and went
    /// ahead: the caller returns it once the exception is answered.
    pub(crate) fn policy_finish<T>(
        &mut self,
        caller: Koid,
        verdict: Verdict,
        result: &Result<T, Status>,
    ) {
        if verdict == Verdict::AllowAfterException
            && self.is_live(caller)
            && let Some(pe) = self.thread_mut(caller).exception.as_mut()
        {
            pe.syscall_status = Some(Status::from_result(result));
        }
    }

    /// Whether the caller can block (it is a running thread).
    pub(crate) fn caller_can_block(&self, caller: Koid) -> bool {
        let t = self.thread(caller);
        t.block.is_none() && t.exception.is_none() && !t.killed && t.lifecycle == Lifecycle::Running
    }

    pub(crate) fn block_caller(&mut self, caller: Koid, block: Block, deadline: u64) {
        self.block_in_wait(caller, block, deadline);
    }
}
