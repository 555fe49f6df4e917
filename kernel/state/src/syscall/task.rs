//! job_create, job_set_policy, process_create, process_start, process_exit,
//! thread_create, thread_start, thread_exit, task_kill, task_suspend,
//! thread_read_state, thread_write_state, process_read_memory,
//! process_write_memory.
//!
//! Names longer than the kernel keeps are cut (a name of 8 times the limit
//! or more is INVALID_ARGS); register sets and policy arrays have a cap;
//! memory of another process moves at most [`MAX_MEMORY_BYTES`] a call (a
//! larger request is a short read or write, reported in `actual`).
//!
//! FP_REGS of `thread_read_state` / `_write_state` are ruled by the object
//! layer like the general registers (rights, a stopped thread) but live in
//! the thread's HAL context, which the glue owns: they are reached through
//! [`crate::Devices`] (`read_fp_registers`, `write_fp_registers`), and the
//! HAL checks what is written.

use super::{Caller, OK, args, buffer, with_buffer};
use crate::user::{Memories, UserMemory};
use crate::{KernelState, Outcome};
use spinel_abi::Status;
use spinel_abi::object::MAX_NAME_LEN;
use spinel_abi::thread::THREAD_STATE_FP_REGS;
use spinel_hal_api::AddressSpace;

/// Largest register buffer (`thread_read_state`).
const MAX_STATE_BYTES: usize = 1024;
/// Largest `process_read_memory` / `process_write_memory` in one call: a
/// larger request reports what was copied (`actual`), as a short read.
const MAX_MEMORY_BYTES: usize = 64 * 1024;
/// Largest policy array.
const MAX_POLICIES: usize = 32;

/// The part of a name the kernel keeps.
fn kept_name(name: &[u8]) -> &[u8] {
    &name[..name.len().min(MAX_NAME_LEN - 1)]
}

impl<A: AddressSpace> KernelState<A> {
    pub(super) fn job_create(
        &mut self,
        caller: Caller,
        args: args::JobCreate,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.out, |s| {
            s.objects
                .sys_job_create(caller.thread, args.parent, args.options)
        })
    }

    /// More than [`MAX_POLICIES`] entries is OUT_OF_RANGE.
    pub(super) fn job_set_policy(
        &mut self,
        caller: Caller,
        args: args::JobSetPolicy,
    ) -> Result<Outcome, Status> {
        let count = args.count as usize;
        if count > MAX_POLICIES {
            return Err(Status::OUT_OF_RANGE);
        }
        let policies = args.policy.slice(count).read_all(self.user(caller))?;
        self.objects.sys_job_set_policy(
            caller.thread,
            args.job,
            args.options,
            args.topic,
            &policies,
        )?;
        OK
    }

    pub(super) fn process_create(
        &mut self,
        caller: Caller,
        args: args::ProcessCreate,
    ) -> Result<Outcome, Status> {
        if args.name_size >= MAX_NAME_LEN * 8 {
            return Err(Status::INVALID_ARGS);
        }
        let name = args
            .name
            .slice(args.name_size)
            .read_to_vec(self.user(caller))?;
        args.process_out.check(self.user(caller))?;
        args.vmar_out.check(self.user(caller))?;
        let (process, vmar) = self.objects.sys_process_create(
            caller.thread,
            args.job,
            kept_name(&name),
            args.options,
        )?;
        args.process_out.write(self.user(caller), process)?;
        args.vmar_out.write(self.user(caller), vmar)?;
        OK
    }

    pub(super) fn process_start(
        &mut self,
        caller: Caller,
        args: args::ProcessStart,
    ) -> Result<Outcome, Status> {
        self.objects.sys_process_start(
            caller.thread,
            args.process,
            args.thread,
            args.entry,
            args.stack,
            args.arg1,
            args.arg2,
        )?;
        OK
    }

    pub(super) fn process_exit(
        &mut self,
        caller: Caller,
        args: args::ProcessExit,
    ) -> Result<Outcome, Status> {
        self.objects
            .sys_process_exit(caller.thread, args.return_code)?;
        OK
    }

    pub(super) fn thread_create(
        &mut self,
        caller: Caller,
        args: args::ThreadCreate,
    ) -> Result<Outcome, Status> {
        if args.name_size >= MAX_NAME_LEN * 8 {
            return Err(Status::INVALID_ARGS);
        }
        let name = args
            .name
            .slice(args.name_size)
            .read_to_vec(self.user(caller))?;
        self.new_handle(caller, args.out, |s| {
            s.objects
                .sys_thread_create(caller.thread, args.process, kept_name(&name), args.options)
        })
    }

    pub(super) fn thread_start(
        &mut self,
        caller: Caller,
        args: args::ThreadStart,
    ) -> Result<Outcome, Status> {
        self.objects.sys_thread_start(
            caller.thread,
            args.thread,
            args.entry,
            args.stack,
            args.arg1,
            args.arg2,
        )?;
        OK
    }

    pub(super) fn thread_exit(
        &mut self,
        caller: Caller,
        _args: args::ThreadExit,
    ) -> Result<Outcome, Status> {
        self.objects.sys_thread_exit(caller.thread)?;
        OK
    }

    pub(super) fn task_kill(
        &mut self,
        caller: Caller,
        args: args::TaskKill,
    ) -> Result<Outcome, Status> {
        self.objects.sys_task_kill(caller.thread, args.task)?;
        OK
    }

    pub(super) fn task_suspend(
        &mut self,
        caller: Caller,
        args: args::TaskSuspend,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.token_out, |s| {
            s.objects.sys_task_suspend(caller.thread, args.task)
        })
    }

    /// A larger buffer than a register set is filled as far as it goes.
    pub(super) fn thread_read_state(
        &mut self,
        caller: Caller,
        args: args::ThreadReadState,
    ) -> Result<Outcome, Status> {
        if args.kind == THREAD_STATE_FP_REGS {
            return self.read_fp_registers(caller, args);
        }
        let len = args.buffer_size.min(MAX_STATE_BYTES);
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let objects = &mut self.objects;
        with_buffer(len, MAX_STATE_BYTES, |buffer| {
            let out = args.buffer.slice(buffer.len());
            out.check(user)?;
            let written =
                objects.sys_thread_read_state(caller.thread, args.thread, args.kind, buffer)?;
            out.write(user, &buffer[..written])
        })?;
        OK
    }

    /// A larger buffer than a register set is INVALID_ARGS.
    pub(super) fn thread_write_state(
        &mut self,
        caller: Caller,
        args: args::ThreadWriteState,
    ) -> Result<Outcome, Status> {
        if args.buffer_size > MAX_STATE_BYTES {
            return Err(Status::INVALID_ARGS);
        }
        let user = UserMemory::new(self.spaces.get(&caller.process));
        if args.kind == THREAD_STATE_FP_REGS {
            let thread = self
                .objects
                .sys_thread_fp_state(caller.thread, args.thread, true)?;
            let devices = self.devices;
            args.buffer
                .slice(args.buffer_size)
                .with_bytes(user, |data| devices.write_fp_registers(thread, data))?;
            return OK;
        }
        let objects = &mut self.objects;
        args.buffer
            .slice(args.buffer_size)
            .with_bytes(user, |data| {
                objects.sys_thread_write_state(caller.thread, args.thread, args.kind, data)
            })?;
        OK
    }

    /// FP_REGS: the object layer's rule, then the glue's copy of the
    /// thread's HAL context (see [`crate::Devices::read_fp_registers`]).
    fn read_fp_registers(
        &mut self,
        caller: Caller,
        args: args::ThreadReadState,
    ) -> Result<Outcome, Status> {
        let thread = self
            .objects
            .sys_thread_fp_state(caller.thread, args.thread, false)?;
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let len = args.buffer_size.min(MAX_STATE_BYTES);
        with_buffer(len, MAX_STATE_BYTES, |buffer| {
            let out = args.buffer.slice(buffer.len());
            out.check(user)?;
            let written = self.devices.read_fp_registers(thread, buffer)?;
            out.write(user, &buffer[..written])
        })?;
        OK
    }

    pub(super) fn process_read_memory(
        &mut self,
        caller: Caller,
        args: args::ProcessReadMemory,
    ) -> Result<Outcome, Status> {
        let len = args.buffer_size.min(MAX_MEMORY_BYTES);
        let mut buffer = buffer(len, MAX_MEMORY_BYTES)?;
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let out = args.buffer.slice(len);
        out.check(user)?;
        args.actual.check(user)?;
        let actual = self.objects.sys_process_read_memory(
            caller.thread,
            args.process,
            args.vaddr,
            &mut buffer,
            &mut Memories(&self.spaces),
        )?;
        out.write(user, &buffer[..actual])?;
        args.actual.write(user, actual)?;
        OK
    }

    pub(super) fn process_write_memory(
        &mut self,
        caller: Caller,
        args: args::ProcessWriteMemory,
    ) -> Result<Outcome, Status> {
        let len = args.buffer_size.min(MAX_MEMORY_BYTES);
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let data = args.buffer.slice(len).read_to_vec(user)?;
        args.actual.check(user)?;
        let actual = self.objects.sys_process_write_memory(
            caller.thread,
            args.process,
            args.vaddr,
            &data,
            &mut Memories(&self.spaces),
        )?;
        args.actual.write(user, actual)?;
        OK
    }
}
