//! Jobs, processes and threads: create, start, exit, kill, suspend, policy,
//! register state and process memory.

use spinel_abi::object::TASK_RETCODE_SYSCALL_KILL;
use spinel_abi::policy::*;
use spinel_abi::thread::*;
use spinel_abi::{HandleValue, Koid, ObjectType, Rights, Signals, Status};

use crate::Kernel;
use crate::exception::ExceptionKind;
use crate::object::Body;
use crate::process::ProcessMemory;
use crate::thread::{Block, Lifecycle, SuspendToken};

impl Kernel {
    /// `job_create`: needs MANAGE_JOB on the parent.
    pub fn sys_job_create(
        &mut self,
        caller: Koid,
        parent: HandleValue,
        options: u32,
    ) -> Result<HandleValue, Status> {
        if options != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let (parent, _) = self.object_of(caller, parent, Rights::MANAGE_JOB, ObjectType::JOB)?;
        if self.job(parent).dead {
            return Err(Status::BAD_STATE);
        }
        let process = self.caller_process(caller)?;
        let job = self.job_create_in(parent, b"");
        let handle = self.new_handle(job, Rights::DEFAULT_JOB);
        Ok(self.install(process, handle))
    }

    /// `job_set_policy` (topic BASIC): only on a job with no children.
    /// NEW_ANY sets every NEW_* condition.
    pub fn sys_job_set_policy(
        &mut self,
        caller: Koid,
        job: HandleValue,
        options: u32,
        topic: u32,
        policies: &[PolicyBasic],
    ) -> Result<(), Status> {
        if !matches!(options, JOB_POL_RELATIVE | JOB_POL_ABSOLUTE) || topic != JOB_POL_BASIC {
            return Err(Status::INVALID_ARGS);
        }
        if policies.is_empty() || policies.len() > POL_MAX as usize {
            return Err(Status::INVALID_ARGS);
        }
        let (job, _) = self.object_of(caller, job, Rights::SET_POLICY, ObjectType::JOB)?;
        if !self.job(job).children_empty() {
            return Err(Status::BAD_STATE);
        }
        if policies
            .iter()
            .any(|p| p.condition >= POL_MAX || p.policy > POL_ACTION_KILL)
        {
            return Err(Status::INVALID_ARGS);
        }
        let actions = &mut self.job_mut(job).policy.actions;
        for p in policies {
            if p.condition == POL_NEW_ANY {
                for c in POL_NEW_VMO..=POL_NEW_PAGER {
                    actions[c as usize] = p.policy;
                }
            }
            actions[p.condition as usize] = p.policy;
        }
        Ok(())
    }

    /// `process_create`: needs MANAGE_PROCESS on the job; checks NEW_PROCESS.
    /// Returns handles to the process and to its root VMAR.
    pub fn sys_process_create(
        &mut self,
        caller: Koid,
        job: HandleValue,
        name: &[u8],
        options: u32,
    ) -> Result<(HandleValue, HandleValue), Status> {
        if options != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let (job, _) = self.object_of(caller, job, Rights::MANAGE_PROCESS, ObjectType::JOB)?;
        if self.job(job).dead {
            return Err(Status::BAD_STATE);
        }
        let verdict = self.policy_check(caller, POL_NEW_PROCESS)?;
        let process = self.caller_process(caller)?;
        let new = self.process_create_in(job, name);
        let handle = self.new_handle(new, Rights::DEFAULT_PROCESS);
        let process_value = self.install(process, handle);
        let vmar = self.create_vmar(new);
        let vmar_handle = self.new_handle(vmar, Rights::DEFAULT_VMAR);
        let result = Ok((process_value, self.install(process, vmar_handle)));
        self.policy_finish(caller, verdict, &result);
        result
    }

    /// `process_start`: start the first thread; `arg1` (a handle of the
    /// caller, or INVALID) moves into the new process and its value there is
    /// the thread's first argument.
    #[allow(clippy::too_many_arguments)] // reason: mirrors the syscall's arguments
    pub fn sys_process_start(
        &mut self,
        caller: Koid,
        process: HandleValue,
        thread: HandleValue,
        pc: u64,
        sp: u64,
        arg1: HandleValue,
        arg2: u64,
    ) -> Result<(), Status> {
        let (pid, _) = self.object_of(caller, process, Rights::WRITE, ObjectType::PROCESS)?;
        let (tid, _) = self.object_of(caller, thread, Rights::WRITE, ObjectType::THREAD)?;
        if self.thread(tid).process != pid {
            return Err(Status::ACCESS_DENIED);
        }
        let p = self.process(pid);
        if p.started || !p.is_alive() || self.thread(tid).lifecycle != Lifecycle::New {
            return Err(Status::BAD_STATE);
        }
        let arg0 = if arg1.is_invalid() {
            0
        } else {
            let (_, rights) = self.handle_of(caller, arg1)?;
            if !rights.contains(Rights::TRANSFER) {
                return Err(Status::ACCESS_DENIED);
            }
            let handle = self.take_handle(caller, arg1)?;
            u64::from(self.install(pid, handle).raw())
        };
        self.start_process(pid, tid, pc, sp, arg0, arg2)
    }

    /// `process_exit`: the caller's process dies with `return_code` (every
    /// thread is killed, the caller included).
    pub fn sys_process_exit(&mut self, caller: Koid, return_code: i64) -> Result<(), Status> {
        let process = self.caller_process(caller)?;
        self.process_kill(process, return_code);
        Ok(())
    }

    /// `thread_create`: needs MANAGE_THREAD on the process.
    pub fn sys_thread_create(
        &mut self,
        caller: Koid,
        process: HandleValue,
        name: &[u8],
        options: u32,
    ) -> Result<HandleValue, Status> {
        if options != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let (pid, _) =
            self.object_of(caller, process, Rights::MANAGE_THREAD, ObjectType::PROCESS)?;
        if !self.process(pid).is_alive() {
            return Err(Status::BAD_STATE);
        }
        let me = self.caller_process(caller)?;
        let tid = self.thread_create(pid, name);
        let handle = self.new_handle(tid, Rights::DEFAULT_THREAD);
        Ok(self.install(me, handle))
    }

    /// `thread_start`: a further thread of a started process.
    pub fn sys_thread_start(
        &mut self,
        caller: Koid,
        thread: HandleValue,
        pc: u64,
        sp: u64,
        arg1: u64,
        arg2: u64,
    ) -> Result<(), Status> {
        let (tid, _) = self.object_of(caller, thread, Rights::MANAGE_THREAD, ObjectType::THREAD)?;
        let pid = self.thread(tid).process;
        if self.thread(tid).lifecycle != Lifecycle::New
            || !self.process(pid).started
            || !self.process(pid).is_alive()
        {
            return Err(Status::BAD_STATE);
        }
        self.thread_begin_start(tid, pc, sp, arg1, arg2, false);
        Ok(())
    }

    /// `thread_exit`: THREAD_EXITING to the process debugger (the caller
    /// waits for the answer), then the thread is gone.
    pub fn sys_thread_exit(&mut self, caller: Koid) -> Result<(), Status> {
        self.caller_process(caller)?;
        self.thread_begin_exit(caller);
        Ok(())
    }

    /// `task_kill`: needs DESTROY. Jobs and processes die with
    /// TASK_RETCODE_SYSCALL_KILL.
    pub fn sys_task_kill(&mut self, caller: Koid, task: HandleValue) -> Result<(), Status> {
        let (koid, rights) = self.handle_of(caller, task)?;
        if !rights.contains(Rights::DESTROY) {
            return Err(Status::ACCESS_DENIED);
        }
        match self.object_type(koid) {
            Some(ObjectType::THREAD) => self.thread_kill(koid),
            Some(ObjectType::PROCESS) => self.process_kill(koid, TASK_RETCODE_SYSCALL_KILL),
            Some(ObjectType::JOB) => self.job_kill(koid, TASK_RETCODE_SYSCALL_KILL),
            _ => return Err(Status::WRONG_TYPE),
        }
        Ok(())
    }

    /// `task_suspend`: a suspend token; the thread (or every thread of the
    /// process) stays suspended while the token lives. Counted, and
    /// independent of exceptions.
    pub fn sys_task_suspend(
        &mut self,
        caller: Koid,
        task: HandleValue,
    ) -> Result<HandleValue, Status> {
        let (koid, rights) = self.handle_of(caller, task)?;
        if !rights.contains(Rights::WRITE) {
            return Err(Status::ACCESS_DENIED);
        }
        match &self.objects[&koid].body {
            Body::Thread(t) if t.is_dead() || t.lifecycle == Lifecycle::Dying => {
                return Err(Status::BAD_STATE);
            }
            Body::Process(p) if !p.is_alive() => return Err(Status::BAD_STATE),
            Body::Thread(_) | Body::Process(_) => {}
            _ => return Err(Status::WRONG_TYPE),
        }
        let process = self.caller_process(caller)?;
        self.suspend_adjust(koid, true);
        let token = self.insert(
            Body::SuspendToken(SuspendToken { target: koid }),
            Signals::NONE,
        );
        self.add_kernel_ref(koid);
        let handle = self.new_handle(token, Rights::DEFAULT_SUSPEND_TOKEN);
        Ok(self.install(process, handle))
    }

    /// Check a thread for register access: in an exception (not
    /// THREAD_EXITING: NOT_SUPPORTED) or suspended; BAD_STATE otherwise.
    fn registers_accessible(&self, tid: Koid) -> Result<(), Status> {
        let t = self.thread(tid);
        if let Some(pe) = &t.exception {
            if pe.kind == ExceptionKind::ThreadExiting {
                return Err(Status::NOT_SUPPORTED);
            }
            return Ok(());
        }
        if t.lifecycle == Lifecycle::Running && t.block.is_none() && t.suspend_count > 0 && t.parked
        {
            return Ok(());
        }
        if t.lifecycle == Lifecycle::Dying && t.block == Some(Block::Exception) {
            return Err(Status::NOT_SUPPORTED);
        }
        Err(Status::BAD_STATE)
    }

    /// `thread_read_state` / `thread_write_state` of FP_REGS: the rule
    /// (READ to read, WRITE to write; a thread; stopped in an exception or
    /// suspended, exactly as for the general registers) and the thread whose
    /// FP/SIMD state the kernel state then reaches. The state itself is not
    /// here: it stays in the glue's HAL context of the thread.
    pub fn sys_thread_fp_state(
        &self,
        caller: Koid,
        thread: HandleValue,
        write: bool,
    ) -> Result<Koid, Status> {
        let rights = if write { Rights::WRITE } else { Rights::READ };
        let (tid, _) = self.object_of(caller, thread, rights, ObjectType::THREAD)?;
        self.registers_accessible(tid)?;
        Ok(tid)
    }

    /// `thread_read_state`: GENERAL_REGS (`count * 8` bytes) or
    /// SINGLE_STEP (a `u32`, 0 or 1); FP_REGS is [`Kernel::sys_thread_fp_state`].
    pub fn sys_thread_read_state(
        &mut self,
        caller: Koid,
        thread: HandleValue,
        kind: u32,
        buffer: &mut [u8],
    ) -> Result<usize, Status> {
        let (tid, _) = self.object_of(caller, thread, Rights::READ, ObjectType::THREAD)?;
        check_kind(kind)?;
        self.registers_accessible(tid)?;
        if kind == THREAD_STATE_SINGLE_STEP {
            let Some(out) = buffer.get_mut(..4) else {
                return Err(Status::BUFFER_TOO_SMALL);
            };
            out.copy_from_slice(&u32::from(self.thread(tid).single_step).to_le_bytes());
            return Ok(4);
        }
        let regs = &self.thread(tid).regs;
        if buffer.len() < regs.count * 8 {
            return Err(Status::BUFFER_TOO_SMALL);
        }
        Ok(regs.write_bytes(buffer))
    }

    /// `thread_write_state`: GENERAL_REGS (exactly `count * 8` bytes; the
    /// thread resumes with these registers) or SINGLE_STEP (a `u32`, 0 or 1:
    /// while 1 the thread traps with HW_BREAKPOINT after each instruction).
    pub fn sys_thread_write_state(
        &mut self,
        caller: Koid,
        thread: HandleValue,
        kind: u32,
        data: &[u8],
    ) -> Result<(), Status> {
        let (tid, _) = self.object_of(caller, thread, Rights::WRITE, ObjectType::THREAD)?;
        check_kind(kind)?;
        self.registers_accessible(tid)?;
        let t = self.thread_mut(tid);
        if kind == THREAD_STATE_SINGLE_STEP {
            let on = match data {
                [0, 0, 0, 0] => false,
                [1, 0, 0, 0] => true,
                _ => return Err(Status::INVALID_ARGS),
            };
            t.single_step = on;
            // Resume through RunEntry::Registers, which carries the flag.
            t.regs_dirty = true;
            return Ok(());
        }
        if data.len() != t.regs.count * 8 {
            return Err(Status::INVALID_ARGS);
        }
        t.regs.read_bytes(data);
        t.regs_dirty = true;
        Ok(())
    }

    /// `process_read_memory`: checks here, copying in `memory`.
    pub fn sys_process_read_memory(
        &mut self,
        caller: Koid,
        process: HandleValue,
        address: u64,
        buffer: &mut [u8],
        memory: &mut dyn ProcessMemory,
    ) -> Result<usize, Status> {
        let (pid, _) = self.object_of(
            caller,
            process,
            Rights::READ | Rights::WRITE,
            ObjectType::PROCESS,
        )?;
        if buffer.is_empty() {
            return Err(Status::INVALID_ARGS);
        }
        if !self.process(pid).is_alive() {
            return Err(Status::BAD_STATE);
        }
        memory.read(pid, address, buffer)
    }

    /// `process_write_memory`: checks here, copying in `memory`.
    pub fn sys_process_write_memory(
        &mut self,
        caller: Koid,
        process: HandleValue,
        address: u64,
        data: &[u8],
        memory: &mut dyn ProcessMemory,
    ) -> Result<usize, Status> {
        let (pid, _) = self.object_of(caller, process, Rights::WRITE, ObjectType::PROCESS)?;
        if data.is_empty() {
            return Err(Status::INVALID_ARGS);
        }
        if !self.process(pid).is_alive() {
            return Err(Status::BAD_STATE);
        }
        memory.write(pid, address, data)
    }
}

fn check_kind(kind: u32) -> Result<(), Status> {
    match kind {
        THREAD_STATE_GENERAL_REGS | THREAD_STATE_SINGLE_STEP => Ok(()),
        THREAD_STATE_FP_REGS | THREAD_STATE_VECTOR_REGS | THREAD_STATE_DEBUG_REGS => {
            Err(Status::NOT_SUPPORTED)
        }
        _ => Err(Status::INVALID_ARGS),
    }
}
