//! Calls on any object: `object_wait_one`, `object_wait_async`,
//! `object_signal`, `object_get_property`, `object_set_property`,
//! `object_get_info` (with typed helpers per topic), and `event_create`.

use crate::abi::info::{
    INFO_HANDLE_BASIC, INFO_HANDLE_VALID, INFO_PROCESS, INFO_THREAD, INFO_THREAD_EXCEPTION_REPORT,
    PROP_NAME,
};
use crate::abi::object::MAX_NAME_LEN;
use crate::handle::handle_type;
use crate::sys::{call, ptr, ptr_mut, status};
use crate::{
    ExceptionReport, Handle, HandleBasicInfo, HandleValue, ProcessInfo, Signals, Status, Syscall,
    ThreadInfo, reg,
};

/// `object_wait_one(handle, signals, deadline, observed)`: the signals
/// observed once any of `signals` is active; TIMED_OUT at `deadline`.
pub fn object_wait_one(
    handle: HandleValue,
    signals: Signals,
    deadline: i64,
) -> Result<Signals, Status> {
    let mut observed = 0u32;
    let observed_ptr = &raw mut observed;
    status(call(
        Syscall::ObjectWaitOne,
        &[
            reg(handle),
            u64::from(signals.bits()),
            deadline as u64,
            observed_ptr as u64,
        ],
    ))?;
    Ok(Signals(observed))
}

/// `object_wait_async(handle, port, key, signals, options)`: one signal
/// packet with `key` to `port` when any of `signals` is active.
pub fn object_wait_async(
    handle: HandleValue,
    port: HandleValue,
    key: u64,
    signals: Signals,
    options: u32,
) -> Result<(), Status> {
    status(call(
        Syscall::ObjectWaitAsync,
        &[
            reg(handle),
            reg(port),
            key,
            u64::from(signals.bits()),
            u64::from(options),
        ],
    ))
}

/// `object_signal(handle, clear_mask, set_mask)`.
pub fn object_signal(handle: HandleValue, clear: Signals, set: Signals) -> Result<(), Status> {
    status(call(
        Syscall::ObjectSignal,
        &[reg(handle), u64::from(clear.bits()), u64::from(set.bits())],
    ))
}

/// `object_get_property(handle, property, value, value_size)`.
pub fn object_get_property(
    handle: HandleValue,
    property: u32,
    value: &mut [u8],
) -> Result<(), Status> {
    let size = value.len() as u64;
    status(call(
        Syscall::ObjectGetProperty,
        &[reg(handle), u64::from(property), ptr_mut(value), size],
    ))
}

/// `object_set_property(handle, property, value, value_size)`.
pub fn object_set_property(handle: HandleValue, property: u32, value: &[u8]) -> Result<(), Status> {
    status(call(
        Syscall::ObjectSetProperty,
        &[
            reg(handle),
            u64::from(property),
            ptr(value),
            value.len() as u64,
        ],
    ))
}

/// A `u32` property (the exception properties).
pub fn get_property_u32(handle: HandleValue, property: u32) -> Result<u32, Status> {
    let mut value = [0u8; 4];
    object_get_property(handle, property, &mut value)?;
    Ok(u32::from_le_bytes(value))
}

pub fn set_property_u32(handle: HandleValue, property: u32, value: u32) -> Result<(), Status> {
    object_set_property(handle, property, &value.to_le_bytes())
}

/// `PROP_NAME`: the object's name, zero-padded to `MAX_NAME_LEN` bytes.
pub fn get_name(handle: HandleValue) -> Result<[u8; MAX_NAME_LEN], Status> {
    let mut name = [0u8; MAX_NAME_LEN];
    object_get_property(handle, PROP_NAME, &mut name)?;
    Ok(name)
}

pub fn set_name(handle: HandleValue, name: &[u8]) -> Result<(), Status> {
    object_set_property(handle, PROP_NAME, name)
}

/// `object_get_info(handle, topic, buffer, buffer_size, actual, avail)`:
/// returns `(actual, avail)` record counts.
pub fn object_get_info(
    handle: HandleValue,
    topic: u32,
    buffer: &mut [u8],
) -> Result<(usize, usize), Status> {
    let (mut actual, mut avail) = (0usize, 0usize);
    let (actual_ptr, avail_ptr) = (&raw mut actual, &raw mut avail);
    let size = buffer.len() as u64;
    status(call(
        Syscall::ObjectGetInfo,
        &[
            reg(handle),
            u64::from(topic),
            ptr_mut(buffer),
            size,
            actual_ptr as u64,
            avail_ptr as u64,
        ],
    ))?;
    Ok((actual, avail))
}

/// `INFO_HANDLE_VALID`: OK when `handle` names something.
pub fn handle_valid(handle: HandleValue) -> Result<(), Status> {
    object_get_info(handle, INFO_HANDLE_VALID, &mut []).map(|_| ())
}

/// `INFO_HANDLE_BASIC`.
pub fn handle_basic_info(handle: HandleValue) -> Result<HandleBasicInfo, Status> {
    let mut buffer = [0u8; HandleBasicInfo::SIZE];
    object_get_info(handle, INFO_HANDLE_BASIC, &mut buffer)?;
    Ok(HandleBasicInfo::from_bytes(&buffer))
}

/// `INFO_PROCESS` of a process handle.
pub fn process_info(process: HandleValue) -> Result<ProcessInfo, Status> {
    let mut buffer = [0u8; ProcessInfo::SIZE];
    object_get_info(process, INFO_PROCESS, &mut buffer)?;
    Ok(ProcessInfo::from_bytes(&buffer))
}

/// `INFO_THREAD` of a thread handle.
pub fn thread_info(thread: HandleValue) -> Result<ThreadInfo, Status> {
    let mut buffer = [0u8; ThreadInfo::SIZE];
    object_get_info(thread, INFO_THREAD, &mut buffer)?;
    Ok(ThreadInfo::from_bytes(&buffer))
}

/// `INFO_THREAD_EXCEPTION_REPORT` of a thread in an exception (BAD_STATE
/// otherwise).
pub fn thread_exception_report(thread: HandleValue) -> Result<ExceptionReport, Status> {
    let mut buffer = [0u8; ExceptionReport::SIZE];
    object_get_info(thread, INFO_THREAD_EXCEPTION_REPORT, &mut buffer)?;
    Ok(ExceptionReport::from_bytes(&buffer))
}

/// `event_create(options, out)`.
pub fn event_create(options: u32) -> Result<Event, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::EventCreate,
        &[u64::from(options), out_ptr as u64],
    ))?;
    Ok(Event(Handle::from_raw(HandleValue(out))))
}

handle_type!(
    /// An event: an object with only signals.
    Event,
    EVENT
);

impl Event {
    pub fn create() -> Result<Event, Status> {
        event_create(0)
    }
}

/// Methods every typed handle has through the object calls.
pub trait ObjectCalls: crate::HandleBased {
    fn wait_one(&self, signals: Signals, deadline: i64) -> Result<Signals, Status> {
        object_wait_one(self.raw(), signals, deadline)
    }
    fn wait_async(
        &self,
        port: &crate::Port,
        key: u64,
        signals: Signals,
        options: u32,
    ) -> Result<(), Status> {
        object_wait_async(
            self.raw(),
            crate::HandleBased::raw(port),
            key,
            signals,
            options,
        )
    }
    fn signal(&self, clear: Signals, set: Signals) -> Result<(), Status> {
        object_signal(self.raw(), clear, set)
    }
    fn get_name(&self) -> Result<[u8; MAX_NAME_LEN], Status> {
        get_name(self.raw())
    }
    fn set_name(&self, name: &[u8]) -> Result<(), Status> {
        set_name(self.raw(), name)
    }
}

impl<T: crate::HandleBased> ObjectCalls for T {}
