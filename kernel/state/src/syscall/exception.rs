//! task_bind_exception_port, task_resume_from_exception, task_resume,
//! task_create_exception_channel, exception_get_thread,
//! exception_get_process: handles in, at most one handle out. Delivery
//! itself is the object layer's (`Kernel::thread_exception`).

use super::{Caller, OK, args};
use crate::{KernelState, Outcome};
use spinel_abi::Status;
use spinel_hal_api::AddressSpace;

impl<A: AddressSpace> KernelState<A> {
    pub(super) fn task_bind_exception_port(
        &mut self,
        caller: Caller,
        args: args::TaskBindExceptionPort,
    ) -> Result<Outcome, Status> {
        self.objects.sys_task_bind_exception_port(
            caller.thread,
            args.task,
            args.port,
            args.key,
            args.options,
        )?;
        OK
    }

    pub(super) fn task_resume_from_exception(
        &mut self,
        caller: Caller,
        args: args::TaskResumeFromException,
    ) -> Result<Outcome, Status> {
        self.objects.sys_task_resume_from_exception(
            caller.thread,
            args.thread,
            args.port,
            args.options,
        )?;
        OK
    }

    pub(super) fn task_resume(
        &mut self,
        caller: Caller,
        args: args::TaskResume,
    ) -> Result<Outcome, Status> {
        self.objects
            .sys_task_resume(caller.thread, args.thread, args.options)?;
        OK
    }

    pub(super) fn task_create_exception_channel(
        &mut self,
        caller: Caller,
        args: args::TaskCreateExceptionChannel,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.out, |s| {
            s.objects
                .sys_task_create_exception_channel(caller.thread, args.task, args.options)
        })
    }

    pub(super) fn exception_get_thread(
        &mut self,
        caller: Caller,
        args: args::ExceptionGetThread,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.out, |s| {
            s.objects
                .sys_exception_get_thread(caller.thread, args.exception)
        })
    }

    pub(super) fn exception_get_process(
        &mut self,
        caller: Caller,
        args: args::ExceptionGetProcess,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.out, |s| {
            s.objects
                .sys_exception_get_process(caller.thread, args.exception)
        })
    }
}
