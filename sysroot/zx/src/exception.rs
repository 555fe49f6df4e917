//! Exceptions, both eras: `task_create_exception_channel`,
//! `exception_get_thread`, `exception_get_process` (channel era);
//! `task_bind_exception_port`, `task_resume_from_exception` (Zircon port
//! era) and `task_resume` (Magenta).

use crate::abi::exception::{
    EXCEPTION_STATE_HANDLED, EXCEPTION_STATE_THREAD_EXIT, EXCEPTION_STATE_TRY_NEXT,
    PROP_EXCEPTION_STATE, PROP_EXCEPTION_STRATEGY,
};
use crate::channel::{ChannelReadError, ReadSizes, channel_read};
use crate::handle::handle_type;
use crate::object::{get_property_u32, set_property_u32};
use crate::sys::{call, status};
use crate::{
    Channel, ExceptionInfo, HandleBased, HandleValue, Process, Status, Syscall, Thread, reg,
};

handle_type!(
    /// An exception handle: what an exception channel delivers. Closing it
    /// answers the exception with its `EXCEPTION_STATE`.
    Exception,
    EXCEPTION
);

/// The end of an exception channel a handler reads (rights TRANSFER, WAIT,
/// READ).
pub type ExceptionChannel = Channel;

/// `task_create_exception_channel(task, options, out)`.
pub fn task_create_exception_channel(task: HandleValue, options: u32) -> Result<Channel, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::TaskCreateExceptionChannel,
        &[reg(task), u64::from(options), out_ptr as u64],
    ))?;
    Ok(Channel::from_raw(HandleValue(out)))
}

/// `exception_get_thread(exception, out)`.
pub fn exception_get_thread(exception: HandleValue) -> Result<Thread, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::ExceptionGetThread,
        &[reg(exception), out_ptr as u64],
    ))?;
    Ok(Thread::from_raw(HandleValue(out)))
}

/// `exception_get_process(exception, out)`.
pub fn exception_get_process(exception: HandleValue) -> Result<Process, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::ExceptionGetProcess,
        &[reg(exception), out_ptr as u64],
    ))?;
    Ok(Process::from_raw(HandleValue(out)))
}

/// `task_bind_exception_port(task, port, key, options)`: bind `port`, or
/// unbind with `port` = INVALID; `task` = INVALID is Magenta's system port.
pub fn task_bind_exception_port(
    task: HandleValue,
    port: HandleValue,
    key: u64,
    options: u32,
) -> Result<(), Status> {
    status(call(
        Syscall::TaskBindExceptionPort,
        &[reg(task), reg(port), key, u64::from(options)],
    ))
}

/// `task_resume_from_exception(thread, port, options)` (Zircon port era):
/// options 0 (handled) or `RESUME_TRY_NEXT`.
pub fn task_resume_from_exception(
    thread: HandleValue,
    port: HandleValue,
    options: u32,
) -> Result<(), Status> {
    status(call(
        Syscall::TaskResumeFromException,
        &[reg(thread), reg(port), u64::from(options)],
    ))
}

/// `task_resume(thread, options)` (Magenta): `RESUME_EXCEPTION`, optionally
/// with `RESUME_TRY_NEXT`.
pub fn task_resume(thread: HandleValue, options: u32) -> Result<(), Status> {
    status(call(
        Syscall::TaskResume,
        &[reg(thread), u64::from(options)],
    ))
}

/// Read one exception message: the 24-byte info and the exception handle.
/// Any other shape of message is an error (INTERNAL, after closing what
/// came).
pub fn read_exception(
    channel: HandleValue,
) -> Result<(ExceptionInfo, Exception), ChannelReadError> {
    let mut bytes = [0u8; ExceptionInfo::SIZE + 8];
    let mut handles = [HandleValue::INVALID; 2];
    let sizes = channel_read(channel, 0, &mut bytes, &mut handles)?;
    let exception = Exception::from_raw(handles[0]);
    if sizes.bytes as usize != ExceptionInfo::SIZE || sizes.handles != 1 {
        let _ = crate::handle_close(handles[1]);
        return Err(ChannelReadError {
            status: Status::INTERNAL,
            needed: sizes,
        });
    }
    let mut info = [0u8; ExceptionInfo::SIZE];
    info.copy_from_slice(&bytes[..ExceptionInfo::SIZE]);
    Ok((ExceptionInfo::from_bytes(&info), exception))
}

impl Channel {
    /// Read one exception (see [`read_exception`]).
    pub fn read_exception(&self) -> Result<(ExceptionInfo, Exception), ChannelReadError> {
        read_exception(self.raw())
    }
    /// Wait up to `deadline` for an exception and read it.
    pub fn wait_exception(&self, deadline: i64) -> Result<(ExceptionInfo, Exception), Status> {
        use crate::object::ObjectCalls;
        let readable = crate::Signals::CHANNEL_READABLE;
        let observed = self.wait_one(readable | crate::Signals::CHANNEL_PEER_CLOSED, deadline)?;
        if !observed.contains(readable) {
            return Err(Status::PEER_CLOSED);
        }
        self.read_exception().map_err(|e| e.status)
    }
}

impl Exception {
    pub fn thread(&self) -> Result<Thread, Status> {
        exception_get_thread(self.raw())
    }
    pub fn process(&self) -> Result<Process, Status> {
        exception_get_process(self.raw())
    }
    pub fn state(&self) -> Result<u32, Status> {
        get_property_u32(self.raw(), PROP_EXCEPTION_STATE)
    }
    pub fn set_state(&self, state: u32) -> Result<(), Status> {
        set_property_u32(self.raw(), PROP_EXCEPTION_STATE, state)
    }
    pub fn strategy(&self) -> Result<u32, Status> {
        get_property_u32(self.raw(), PROP_EXCEPTION_STRATEGY)
    }
    pub fn set_strategy(&self, strategy: u32) -> Result<(), Status> {
        set_property_u32(self.raw(), PROP_EXCEPTION_STRATEGY, strategy)
    }
    /// Answer HANDLED: the thread resumes when this handle closes (now).
    pub fn handled(self) -> Result<(), Status> {
        self.set_state(EXCEPTION_STATE_HANDLED)?;
        self.into_handle().close()
    }
    /// Answer TRY_NEXT: the next handler gets it.
    pub fn try_next(self) -> Result<(), Status> {
        self.set_state(EXCEPTION_STATE_TRY_NEXT)?;
        self.into_handle().close()
    }
    /// Answer THREAD_EXIT: only the thread ends.
    pub fn thread_exit(self) -> Result<(), Status> {
        self.set_state(EXCEPTION_STATE_THREAD_EXIT)?;
        self.into_handle().close()
    }
}

/// The sizes of an exception message, for callers that check them.
pub const EXCEPTION_MESSAGE: ReadSizes = ReadSizes {
    bytes: ExceptionInfo::SIZE as u32,
    handles: 1,
};

/// The exception calls of the three task types.
pub trait Task: HandleBased {
    /// A channel on this task's slot (`options` 0 or
    /// `EXCEPTION_CHANNEL_DEBUGGER`).
    fn create_exception_channel(&self, options: u32) -> Result<Channel, Status> {
        task_create_exception_channel(self.raw(), options)
    }
    /// Bind `port` with `key` to this task's slot.
    fn bind_exception_port(
        &self,
        port: &crate::Port,
        key: u64,
        options: u32,
    ) -> Result<(), Status> {
        task_bind_exception_port(self.raw(), port.raw(), key, options)
    }
    /// Unbind this task's port (`options` may add `EXCEPTION_PORT_DEBUGGER`
    /// and `EXCEPTION_PORT_UNBIND_QUIETLY`).
    fn unbind_exception_port(&self, options: u32) -> Result<(), Status> {
        task_bind_exception_port(self.raw(), HandleValue::INVALID, 0, options)
    }
    fn kill(&self) -> Result<(), Status> {
        crate::task::task_kill(self.raw())
    }
}

impl Task for crate::Job {}
impl Task for Process {}
impl Task for Thread {}

impl Thread {
    /// Answer a port-era exception (Zircon): options 0 or `RESUME_TRY_NEXT`.
    pub fn resume_from_exception(&self, port: &crate::Port, options: u32) -> Result<(), Status> {
        task_resume_from_exception(self.raw(), port.raw(), options)
    }
    /// Answer a port-era exception (Magenta): `RESUME_EXCEPTION [| RESUME_TRY_NEXT]`.
    pub fn resume(&self, options: u32) -> Result<(), Status> {
        task_resume(self.raw(), options)
    }
}
