//! Jobs: the task tree, policies, and the job and job-debugger exceptionates
//! (plus, on the root job, Magenta's system exception port).

use alloc::vec::Vec;
use spinel_abi::policy::*;
use spinel_abi::{Koid, Signals, Status};

use crate::Kernel;
use crate::exception::Exceptionate;
use crate::object::Body;

/// The action for each policy condition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Policy {
    pub actions: [u32; POL_MAX as usize],
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            actions: [POL_ACTION_ALLOW; POL_MAX as usize],
        }
    }
}

/// One job-debugger exceptionate; `serial` orders them by creation.
#[derive(Debug)]
pub(crate) struct JobDebugger {
    pub serial: u64,
    pub slot: Exceptionate,
}

#[derive(Debug)]
pub(crate) struct Job {
    pub parent: Option<Koid>,
    pub jobs: Vec<Koid>,
    pub processes: Vec<Koid>,
    pub policy: Policy,
    pub dead: bool,
    pub return_code: i64,
    pub exceptionate: Exceptionate,
    pub debuggers: Vec<JobDebugger>,
    /// Magenta's system exception port; only the root job's is used.
    pub system: Exceptionate,
}

impl Job {
    pub(crate) fn new(parent: Option<Koid>, policy: Policy) -> Self {
        Job {
            parent,
            jobs: Vec::new(),
            processes: Vec::new(),
            policy,
            dead: false,
            return_code: 0,
            exceptionate: Exceptionate::default(),
            debuggers: Vec::new(),
            system: Exceptionate::default(),
        }
    }

    pub(crate) fn children_empty(&self) -> bool {
        self.jobs.is_empty() && self.processes.is_empty()
    }
}

impl Kernel {
    pub(crate) fn job_create_in(&mut self, parent: Koid, name: &[u8]) -> Koid {
        let policy = self.job(parent).policy;
        let koid = self.insert(Body::Job(Job::new(Some(parent), policy)), Signals::NONE);
        self.set_name(koid, name);
        self.job_mut(parent).jobs.push(koid);
        self.job_update_signals(parent);
        self.job_update_signals(koid);
        koid
    }

    /// Create a job without a system call (bootstrap, tests).
    pub fn create_job(&mut self, parent: Koid, name: &[u8]) -> Result<Koid, Status> {
        if self.object_type(parent) != Some(spinel_abi::ObjectType::JOB) {
            return Err(Status::NOT_FOUND);
        }
        if self.job(parent).dead {
            return Err(Status::BAD_STATE);
        }
        Ok(self.job_create_in(parent, name))
    }

    pub(crate) fn job_update_signals(&mut self, job: Koid) {
        let j = self.job(job);
        let mut set = Signals::NONE;
        let mut clear = Signals::NONE;
        if j.jobs.is_empty() {
            set = set.union(Signals::JOB_NO_JOBS);
        } else {
            clear = clear.union(Signals::JOB_NO_JOBS);
        }
        if j.processes.is_empty() {
            set = set.union(Signals::JOB_NO_PROCESSES);
        } else {
            clear = clear.union(Signals::JOB_NO_PROCESSES);
        }
        self.update_signals(job, clear, set);
    }

    /// Kill a job: its processes and child jobs, recursively.
    pub(crate) fn job_kill(&mut self, job: Koid, return_code: i64) {
        if self.job(job).dead {
            return;
        }
        let j = self.job_mut(job);
        j.dead = true;
        j.return_code = return_code;
        let processes = j.processes.clone();
        let jobs = j.jobs.clone();
        for p in processes {
            if self.is_live(p) {
                self.process_kill(p, return_code);
            }
        }
        for c in jobs {
            if self.is_live(c) {
                self.job_kill(c, return_code);
            }
        }
        let j = self.job_mut(job);
        let slots = (
            core::mem::take(&mut j.exceptionate),
            core::mem::take(&mut j.debuggers),
            core::mem::take(&mut j.system),
        );
        j.exceptionate.shutdown = true;
        j.system.shutdown = true;
        self.exceptionate_shutdown(slots.0);
        for d in slots.1 {
            self.exceptionate_shutdown(d.slot);
        }
        self.exceptionate_shutdown(slots.2);
        self.update_signals(job, Signals::NONE, Signals::JOB_TERMINATED);
        self.reap(job);
    }

    /// A job left the arena: close its exceptionates and leave the parent.
    pub(crate) fn job_released(&mut self, koid: Koid, job: Job) {
        self.exceptionate_shutdown(job.exceptionate);
        for d in job.debuggers {
            self.exceptionate_shutdown(d.slot);
        }
        self.exceptionate_shutdown(job.system);
        if let Some(parent) = job.parent
            && self.is_live(parent)
        {
            self.job_mut(parent).jobs.retain(|&c| c != koid);
            self.job_update_signals(parent);
            self.reap(parent);
        }
    }

    /// The action of `condition` in `job`'s policy.
    pub(crate) fn policy_action(&self, job: Koid, condition: u32) -> u32 {
        self.job(job).policy.actions[condition as usize]
    }

    /// The job's ancestors, itself first, the root last.
    pub(crate) fn job_chain(&self, job: Koid) -> Vec<Koid> {
        let mut chain = Vec::new();
        let mut at = Some(job);
        while let Some(j) = at {
            if !self.is_live(j) {
                break;
            }
            chain.push(j);
            at = self.job(j).parent;
        }
        chain
    }

    /// The nearest job (walking up) with a live job-debugger exceptionate.
    pub(crate) fn nearest_job_with_debuggers(&self, job: Koid) -> Option<Koid> {
        self.job_chain(job).into_iter().find(|&j| {
            self.job(j)
                .debuggers
                .iter()
                .any(|d| self.binding_live(&d.slot.binding))
        })
    }
}
