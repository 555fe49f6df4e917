//! Per family: bad handle values, wrong types, missing rights and bad
//! options give the documented status, in the documented order.

use alloc::format;
use alloc::string::String;

use crate::fixture::{Fixture, check, new_job};
use crate::raw::{self, Arg, Bad, Scratch, scratch};
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::exception::EXCEPTION_CHANNEL_DEBUGGER;
use spinel_rt::zx::abi::info::{
    INFO_HANDLE_BASIC, INFO_HANDLE_VALID, INFO_PROCESS, INFO_THREAD, INFO_THREAD_EXCEPTION_REPORT,
    PROP_NAME,
};
use spinel_rt::zx::abi::object::{
    CHANNEL_MAX_MSG_BYTES, CHANNEL_MAX_MSG_HANDLES, TASK_RETCODE_EXCEPTION_KILL,
};
use spinel_rt::zx::abi::policy::{
    JOB_POL_BASIC, JOB_POL_RELATIVE, POL_ACTION_DENY, POL_MAX, POL_NEW_EVENT, PolicyBasic,
};
use spinel_rt::zx::abi::thread::THREAD_STATE_GENERAL_REGS;
use spinel_rt::zx::abi::vm::{VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE, VM_SPECIFIC};
use spinel_rt::zx::channel::{channel_create, channel_read, channel_write};
use spinel_rt::zx::object::{
    event_create, object_get_info, object_get_property, object_set_property, object_signal,
    object_wait_async, object_wait_one,
};
use spinel_rt::zx::port::{port_create, port_queue, port_wait};
use spinel_rt::zx::task::{
    job_create, job_set_policy, process_create, process_read_memory, process_start,
    process_write_memory, task_kill, task_suspend, thread_create, thread_read_state, thread_start,
    thread_write_state,
};
use spinel_rt::zx::vm::{vmar_map, vmar_protect, vmar_unmap, vmo_create, vmo_read, vmo_write};
use spinel_rt::zx::{
    self, Channel, Event, GeneralRegisters, Handle, HandleBased, HandleValue, ObjectCalls, Port,
    PortPacket, Rights, Signals, Status, Syscall, Task,
};
use spinel_rt::{ensure, ensure_eq};

/// A value that names no handle (the fixed bits are set, as in real ones).
const BOGUS: HandleValue = HandleValue(0x7ead_beef | 3);

fn weaker<T: HandleBased>(handle: &T, without: Rights) -> Result<Handle, String> {
    let rights = check(handle.rights(), "INFO_HANDLE_BASIC")?;
    check(
        handle.as_handle().duplicate(rights.difference(without)),
        "duplicate",
    )
}

pub fn unknown_syscall_numbers_are_bad_syscall() -> TestResult {
    let count = Syscall::ALL.len() as u64;
    for number in [count, count + 1, 1000, u64::from(u32::MAX), u64::MAX] {
        ensure_eq!(
            raw::call_number(number),
            Status::BAD_SYSCALL,
            "syscall {number}"
        );
    }
    Ok(())
}

pub fn handle_calls_check_handles_rights_and_subsets() -> TestResult {
    let event = check(Event::create(), "event_create")?;
    ensure_eq!(zx::handle_close(BOGUS).err(), Some(Status::BAD_HANDLE));
    ensure_eq!(zx::handle_close(HandleValue::INVALID), Ok(()));
    let copy = check(event.duplicate(Rights::SAME_RIGHTS), "duplicate")?;
    let value = copy.into_raw();
    check(zx::handle_close(value), "close")?;
    ensure_eq!(
        zx::handle_close(value).err(),
        Some(Status::BAD_HANDLE),
        "closed twice"
    );

    ensure_eq!(
        zx::handle_duplicate(BOGUS, Rights::SAME_RIGHTS).err(),
        Some(Status::BAD_HANDLE)
    );
    let no_dup = weaker(&event, Rights::DUPLICATE)?;
    ensure_eq!(
        no_dup.duplicate(Rights::SAME_RIGHTS).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(
        event.duplicate(Rights::DEFAULT_EVENT | Rights::WRITE).err(),
        Some(Status::INVALID_ARGS),
        "more rights than the handle has"
    );
    // Replace: a superset is INVALID_ARGS and the handle stays.
    let mine = check(event.duplicate(Rights::SAME_RIGHTS), "duplicate")?;
    let value = mine.raw();
    ensure_eq!(
        zx::handle_replace(value, Rights::DEFAULT_EVENT | Rights::WRITE).err(),
        Some(Status::INVALID_ARGS)
    );
    check(
        zx::object::handle_valid(value),
        "the handle after a refused replace",
    )?;
    // A bad out pointer: refused before anything, the handle stays.
    let status = raw::call(
        Syscall::HandleReplace,
        &[
            Arg::Handle(value),
            Arg::Val(u64::from(Rights::SAME_RIGHTS.bits())),
            Arg::Bad(Bad::KernelHalf),
        ],
    );
    ensure_eq!(status, Status::INVALID_ARGS);
    check(
        zx::object::handle_valid(value),
        "the handle after a bad out pointer",
    )?;
    let fewer = check(mine.replace(Rights::WAIT), "replace")?;
    ensure_eq!(check(fewer.rights(), "rights")?, Rights::WAIT);
    ensure_eq!(
        zx::object::handle_valid(value).err(),
        Some(Status::BAD_HANDLE),
        "the old value after a replace"
    );
    Ok(())
}

pub fn object_calls_check_handles_rights_and_options() -> TestResult {
    let event = check(Event::create(), "event_create")?;
    let port = check(Port::create(), "port_create")?;
    let (a, _b) = check(Channel::create(), "channel_create")?;
    let never = zx::deadline_after(0);
    // wait_one
    ensure_eq!(
        object_wait_one(BOGUS, Signals::EVENT_SIGNALED, never).err(),
        Some(Status::BAD_HANDLE)
    );
    let no_wait = weaker(&event, Rights::WAIT)?;
    ensure_eq!(
        object_wait_one(no_wait.raw(), Signals::EVENT_SIGNALED, never).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(
        event.wait_one(Signals::EVENT_SIGNALED, never).err(),
        Some(Status::TIMED_OUT)
    );
    ensure_eq!(
        event.wait_one(Signals::EVENT_SIGNALED, -5).err(),
        Some(Status::TIMED_OUT),
        "a negative deadline is past"
    );
    // wait_async
    let signaled = Signals::EVENT_SIGNALED;
    ensure_eq!(
        object_wait_async(event.raw(), port.raw(), 1, signaled, 0x100).err(),
        Some(Status::INVALID_ARGS),
        "options"
    );
    ensure_eq!(
        object_wait_async(BOGUS, port.raw(), 1, signaled, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        object_wait_async(event.raw(), BOGUS, 1, signaled, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        object_wait_async(event.raw(), event.raw(), 1, signaled, 0).err(),
        Some(Status::ACCESS_DENIED),
        "an event as the port (no WRITE right, checked before the type)"
    );
    ensure_eq!(
        object_wait_async(event.raw(), a.raw(), 1, signaled, 0).err(),
        Some(Status::WRONG_TYPE),
        "a channel as the port"
    );
    ensure_eq!(
        object_wait_async(no_wait.raw(), port.raw(), 1, signaled, 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    let no_write = weaker(&port, Rights::WRITE)?;
    ensure_eq!(
        object_wait_async(event.raw(), no_write.raw(), 1, signaled, 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    check(
        object_wait_async(event.raw(), port.raw(), 7, signaled, 0),
        "wait_async",
    )?;
    check(event.signal(Signals::NONE, signaled), "signal")?;
    let packet = check(port.wait(zx::deadline_after(1_000_000_000)), "port_wait")?;
    ensure_eq!(packet.key, 7);
    // signal
    ensure_eq!(
        object_signal(BOGUS, Signals::NONE, Signals::USER_SIGNAL_0).err(),
        Some(Status::BAD_HANDLE)
    );
    let no_signal = weaker(&event, Rights::SIGNAL)?;
    ensure_eq!(
        object_signal(no_signal.raw(), Signals::NONE, Signals::USER_SIGNAL_0).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(
        event.signal(Signals::NONE, Signals::OBJECT_READABLE).err(),
        Some(Status::INVALID_ARGS),
        "a signal that is not the user's"
    );
    let vmo = check(zx::Vmo::create(4096), "vmo_create")?;
    ensure_eq!(
        vmo.signal(Signals::NONE, Signals::EVENT_SIGNALED).err(),
        Some(Status::INVALID_ARGS),
        "SIGNALED on a non-event"
    );
    ensure_eq!(
        port.signal(Signals::NONE, Signals::USER_SIGNAL_0).err(),
        Some(Status::ACCESS_DENIED),
        "a port has no SIGNAL right"
    );
    // event_create
    ensure_eq!(event_create(1).err(), Some(Status::INVALID_ARGS));
    Ok(())
}

pub fn property_and_info_calls_check_types_sizes_and_topics() -> TestResult {
    let event = check(Event::create(), "event_create")?;
    let mut name = [0u8; 32];
    ensure_eq!(
        object_get_property(BOGUS, PROP_NAME, &mut name).err(),
        Some(Status::BAD_HANDLE)
    );
    let no_get = weaker(&event, Rights::GET_PROPERTY)?;
    // Events carry no property rights at all; a process does.
    ensure_eq!(
        object_get_property(no_get.raw(), PROP_NAME, &mut name).err(),
        Some(Status::ACCESS_DENIED)
    );
    let f = Fixture::new()?;
    let process = f.process.raw();
    check(
        object_get_property(process, PROP_NAME, &mut name),
        "PROP_NAME",
    )?;
    ensure!(name.starts_with(b"empty"), "name {name:?}");
    ensure_eq!(
        object_get_property(process, PROP_NAME, &mut name[..31]).err(),
        Some(Status::BUFFER_TOO_SMALL)
    );
    ensure_eq!(
        object_get_property(process, 0x7777, &mut name).err(),
        Some(Status::INVALID_ARGS),
        "unknown property"
    );
    ensure_eq!(
        object_set_property(process, 0x7777, b"x").err(),
        Some(Status::INVALID_ARGS)
    );
    let no_set = weaker(&f.process, Rights::SET_PROPERTY)?;
    ensure_eq!(
        object_set_property(no_set.raw(), PROP_NAME, b"x").err(),
        Some(Status::ACCESS_DENIED)
    );
    // Sizes beyond the kernel's bound are refused, never allocated.
    let huge = [
        Arg::Handle(process),
        Arg::Val(u64::from(PROP_NAME)),
        scratch(0),
        Arg::Val(1 << 40),
    ];
    let status = raw::call(Syscall::ObjectGetProperty, &huge);
    ensure!(
        matches!(status, Status::OUT_OF_RANGE | Status::INVALID_ARGS),
        "get_property with a 1 TiB size: {status:?}"
    );
    let status = raw::call(Syscall::ObjectSetProperty, &huge);
    ensure!(
        matches!(status, Status::OUT_OF_RANGE | Status::INVALID_ARGS),
        "set_property with a 1 TiB size: {status:?}"
    );
    // get_info
    let mut buffer = [0u8; 128];
    ensure_eq!(
        object_get_info(BOGUS, INFO_HANDLE_BASIC, &mut buffer).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        object_get_info(BOGUS, INFO_HANDLE_VALID, &mut []).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        object_get_info(event.raw(), 0x7777, &mut buffer).err(),
        Some(Status::NOT_SUPPORTED),
        "unknown topic"
    );
    ensure_eq!(
        object_get_info(event.raw(), INFO_HANDLE_BASIC, &mut buffer[..31]).err(),
        Some(Status::BUFFER_TOO_SMALL)
    );
    ensure_eq!(
        object_get_info(event.raw(), INFO_PROCESS, &mut buffer).err(),
        Some(Status::WRONG_TYPE)
    );
    ensure_eq!(
        object_get_info(process, INFO_THREAD, &mut buffer).err(),
        Some(Status::WRONG_TYPE)
    );
    ensure_eq!(
        object_get_info(f.thread.raw(), INFO_THREAD_EXCEPTION_REPORT, &mut buffer).err(),
        Some(Status::BAD_STATE),
        "a report of a thread in no exception"
    );
    let no_inspect = weaker(&f.process, Rights::INSPECT)?;
    ensure_eq!(
        object_get_info(no_inspect.raw(), INFO_PROCESS, &mut buffer).err(),
        Some(Status::ACCESS_DENIED)
    );
    let (actual, avail) = check(
        object_get_info(event.raw(), INFO_HANDLE_BASIC, &mut buffer),
        "INFO_HANDLE_BASIC",
    )?;
    ensure_eq!((actual, avail), (1, 1));
    let huge_info = [
        Arg::Handle(event.raw()),
        Arg::Val(u64::from(INFO_HANDLE_BASIC)),
        scratch(0),
        Arg::Val(1 << 40),
    ];
    // The kernel fills at most its bound; a huge size over a small buffer
    // must not be written past the bound (the pointer check covers it).
    let status = raw::call(Syscall::ObjectGetInfo, &huge_info);
    ensure!(
        status == Status::INVALID_ARGS || status == Status::OUT_OF_RANGE || status == Status::OK,
        "get_info with a 1 TiB size: {status:?}"
    );
    Ok(())
}

pub fn port_calls_check_options_types_rights_and_deadlines() -> TestResult {
    ensure_eq!(port_create(1).err(), Some(Status::INVALID_ARGS));
    ensure_eq!(port_create(0x8000_0000).err(), Some(Status::INVALID_ARGS));
    let port = check(Port::create(), "port_create")?;
    let event = check(Event::create(), "event_create")?;
    let packet = PortPacket::user(5, [1, 2, 3, 4]);
    ensure_eq!(port_queue(BOGUS, &packet).err(), Some(Status::BAD_HANDLE));
    ensure_eq!(
        port_queue(event.raw(), &packet).err(),
        Some(Status::ACCESS_DENIED),
        "an event (no WRITE right, checked before the type)"
    );
    let no_write = weaker(&port, Rights::WRITE)?;
    ensure_eq!(
        port_queue(no_write.raw(), &packet).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(port_wait(BOGUS, 0).err(), Some(Status::BAD_HANDLE));
    let no_read = weaker(&port, Rights::READ)?;
    ensure_eq!(
        port_wait(no_read.raw(), 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(port_wait(port.raw(), 0).err(), Some(Status::TIMED_OUT));
    ensure_eq!(
        port_wait(port.raw(), i64::MIN).err(),
        Some(Status::TIMED_OUT)
    );
    // A user packet keeps its key and payload; the kernel sets type and status.
    let mut odd = packet;
    odd.packet_type = 0x308;
    odd.status = -5;
    check(port.queue(&odd), "port_queue")?;
    let got = check(port.wait(0), "port_wait")?;
    ensure_eq!((got.key, got.payload), (5, [1, 2, 3, 4]));
    ensure_eq!((got.packet_type, got.status), (0, 0));
    Ok(())
}

pub fn channel_calls_check_sizes_options_handles_and_keep_messages() -> TestResult {
    ensure_eq!(channel_create(1).err(), Some(Status::INVALID_ARGS));
    let (a, b) = check(Channel::create(), "channel_create")?;
    ensure_eq!(
        channel_write(a.raw(), 1, b"x", &[]).err(),
        Some(Status::INVALID_ARGS),
        "write options"
    );
    ensure_eq!(
        channel_write(BOGUS, 0, b"x", &[]).err(),
        Some(Status::BAD_HANDLE)
    );
    let event = check(Event::create(), "event_create")?;
    ensure_eq!(
        channel_write(event.raw(), 0, b"x", &[]).err(),
        Some(Status::ACCESS_DENIED),
        "an event (no WRITE right, checked before the type)"
    );
    // Sizes over the limits: OUT_OF_RANGE, before any pointer is read.
    let too_many_bytes = [
        Arg::Handle(a.raw()),
        Arg::Val(0),
        Arg::Bad(Bad::Unmapped),
        Arg::Val(u64::from(CHANNEL_MAX_MSG_BYTES) + 1),
        Arg::Val(0),
        Arg::Val(0),
    ];
    ensure_eq!(
        raw::call(Syscall::ChannelWrite, &too_many_bytes),
        Status::OUT_OF_RANGE
    );
    let too_many_handles = [
        Arg::Handle(a.raw()),
        Arg::Val(0),
        Arg::Val(0),
        Arg::Val(0),
        Arg::Bad(Bad::Unmapped),
        Arg::Val(u64::from(CHANNEL_MAX_MSG_HANDLES) + 1),
    ];
    ensure_eq!(
        raw::call(Syscall::ChannelWrite, &too_many_handles),
        Status::OUT_OF_RANGE
    );
    // Handles are consumed even when the write fails.
    let victim = check(event.duplicate(Rights::SAME_RIGHTS), "duplicate")?;
    let value = victim.into_raw();
    ensure_eq!(
        channel_write(a.raw(), 0, b"x", &[value, BOGUS]).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        zx::object::handle_valid(value).err(),
        Some(Status::BAD_HANDLE),
        "the handle of a failed write is gone"
    );
    // A channel cannot carry itself.
    let (c, _d) = check(Channel::create(), "channel_create")?;
    ensure_eq!(
        channel_write(c.raw(), 0, b"x", &[c.raw()]).err(),
        Some(Status::NOT_SUPPORTED)
    );
    let _ = c.into_raw(); // consumed by the kernel
    // Without TRANSFER a handle cannot move.
    let no_transfer = weaker(&event, Rights::TRANSFER)?;
    ensure_eq!(
        channel_write(a.raw(), 0, b"x", &[no_transfer.into_raw()]).err(),
        Some(Status::ACCESS_DENIED)
    );
    // Reads: options, empty, too small (kept), bad pointers (kept).
    let mut bytes = [0u8; 16];
    ensure_eq!(
        channel_read(b.raw(), 2, &mut bytes, &mut [])
            .err()
            .map(|e| e.status),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        channel_read(b.raw(), 0, &mut bytes, &mut [])
            .err()
            .map(|e| e.status),
        Some(Status::SHOULD_WAIT)
    );
    check(a.write(b"hello", []), "channel_write")?;
    let error = channel_read(b.raw(), 0, &mut bytes[..2], &mut [])
        .err()
        .ok_or("read into 2 bytes succeeded")?;
    ensure_eq!(
        (error.status, error.needed.bytes, error.needed.handles),
        (Status::BUFFER_TOO_SMALL, 5, 0)
    );
    for bad in Bad::ALL {
        let args = [
            Arg::Handle(b.raw()),
            Arg::Val(0),
            Arg::Bad(bad),
            Arg::Val(0),
            Arg::Len(16),
            Arg::Len(0),
            Arg::Val(0),
            Arg::Val(0),
        ];
        ensure_eq!(
            raw::call(Syscall::ChannelRead, &args),
            Status::INVALID_ARGS,
            "read into {bad:?}"
        );
    }
    let sizes = channel_read(b.raw(), 0, &mut bytes, &mut [])
        .map_err(|e| format!("the message after bad reads: {:?}", e.status))?;
    ensure_eq!(&bytes[..sizes.bytes as usize], b"hello");
    drop(a);
    ensure_eq!(
        channel_read(b.raw(), 0, &mut bytes, &mut [])
            .err()
            .map(|e| e.status),
        Some(Status::PEER_CLOSED)
    );
    ensure_eq!(
        channel_write(b.raw(), 0, b"x", &[]).err(),
        Some(Status::PEER_CLOSED)
    );
    Ok(())
}

pub fn job_calls_check_parents_rights_options_and_policies() -> TestResult {
    let job = new_job()?;
    ensure_eq!(job_create(job.raw(), 1).err(), Some(Status::INVALID_ARGS));
    ensure_eq!(job_create(BOGUS, 0).err(), Some(Status::BAD_HANDLE));
    let event = check(Event::create(), "event_create")?;
    ensure_eq!(
        job_create(event.raw(), 0).err(),
        Some(Status::ACCESS_DENIED),
        "an event as parent (no MANAGE_JOB, checked before the type)"
    );
    let no_manage = weaker(&job.0, Rights::MANAGE_JOB)?;
    ensure_eq!(
        job_create(no_manage.raw(), 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    let policy = [PolicyBasic {
        condition: POL_NEW_EVENT,
        policy: POL_ACTION_DENY,
    }];
    let fresh = check(job.create_child(), "job_create")?;
    for (options, topic, what) in [
        (7, JOB_POL_BASIC, "options"),
        (JOB_POL_RELATIVE, 9, "topic"),
    ] {
        ensure_eq!(
            job_set_policy(fresh.raw(), options, topic, &policy).err(),
            Some(Status::INVALID_ARGS),
            "{what}"
        );
    }
    ensure_eq!(
        job_set_policy(fresh.raw(), JOB_POL_RELATIVE, JOB_POL_BASIC, &[]).err(),
        Some(Status::INVALID_ARGS),
        "no policy"
    );
    let bad_condition = [PolicyBasic {
        condition: POL_MAX,
        policy: POL_ACTION_DENY,
    }];
    ensure_eq!(
        job_set_policy(fresh.raw(), JOB_POL_RELATIVE, JOB_POL_BASIC, &bad_condition).err(),
        Some(Status::INVALID_ARGS)
    );
    let bad_action = [PolicyBasic {
        condition: POL_NEW_EVENT,
        policy: 99,
    }];
    ensure_eq!(
        job_set_policy(fresh.raw(), JOB_POL_RELATIVE, JOB_POL_BASIC, &bad_action).err(),
        Some(Status::INVALID_ARGS)
    );
    let huge_count = [
        Arg::Handle(fresh.raw()),
        Arg::Val(0),
        Arg::Val(0),
        Arg::Bad(Bad::Unmapped),
        Arg::Val(1 << 32),
    ];
    let status = raw::call(Syscall::JobSetPolicy, &huge_count);
    ensure!(
        matches!(status, Status::OUT_OF_RANGE | Status::INVALID_ARGS),
        "a policy count of 2^32: {status:?}"
    );
    let no_policy = weaker(&fresh, Rights::SET_POLICY)?;
    ensure_eq!(
        job_set_policy(no_policy.raw(), JOB_POL_RELATIVE, JOB_POL_BASIC, &policy).err(),
        Some(Status::ACCESS_DENIED)
    );
    check(
        job_set_policy(fresh.raw(), JOB_POL_RELATIVE, JOB_POL_BASIC, &policy),
        "job_set_policy",
    )?;
    let _grandchild = check(fresh.create_child(), "job_create")?;
    ensure_eq!(
        job_set_policy(fresh.raw(), JOB_POL_RELATIVE, JOB_POL_BASIC, &policy).err(),
        Some(Status::BAD_STATE),
        "a job with children"
    );
    // A dead job takes no children.
    check(fresh.kill(), "task_kill")?;
    ensure_eq!(job_create(fresh.raw(), 0).err(), Some(Status::BAD_STATE));
    ensure_eq!(
        process_create(fresh.raw(), b"late", 0).err(),
        Some(Status::BAD_STATE)
    );
    Ok(())
}

pub fn process_and_thread_creation_check_jobs_names_and_options() -> TestResult {
    let job = new_job()?;
    ensure_eq!(
        process_create(job.raw(), b"p", 1).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        process_create(BOGUS, b"p", 0).err(),
        Some(Status::BAD_HANDLE)
    );
    let no_manage = weaker(&job.0, Rights::MANAGE_PROCESS)?;
    ensure_eq!(
        process_create(no_manage.raw(), b"p", 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    // A long name is cut, never refused or overrun; a huge one is refused.
    let long = [b'n'; 200];
    let (process, _vmar) = check(process_create(job.raw(), &long, 0), "a 200-byte name")?;
    let name = check(process.get_name(), "PROP_NAME")?;
    ensure!(
        name[..31].iter().all(|&b| b == b'n') && name[31] == 0,
        "{name:?}"
    );
    let huge_name = [
        Arg::Handle(job.raw()),
        Arg::Bad(Bad::Unmapped),
        Arg::Val(1 << 40),
        Arg::Val(0),
        scratch(0),
        scratch(1),
    ];
    ensure_eq!(
        raw::call(Syscall::ProcessCreate, &huge_name),
        Status::INVALID_ARGS
    );
    ensure_eq!(
        thread_create(process.raw(), b"t", 1).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        thread_create(BOGUS, b"t", 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        thread_create(job.raw(), b"t", 0).err(),
        Some(Status::WRONG_TYPE),
        "a job as the process"
    );
    let no_manage = weaker(&process, Rights::MANAGE_THREAD)?;
    ensure_eq!(
        thread_create(no_manage.raw(), b"t", 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    let huge_name = [
        Arg::Handle(process.raw()),
        Arg::Bad(Bad::Unmapped),
        Arg::Val(1 << 40),
        Arg::Val(0),
        scratch(0),
    ];
    ensure_eq!(
        raw::call(Syscall::ThreadCreate, &huge_name),
        Status::INVALID_ARGS
    );
    check(process.kill(), "task_kill")?;
    ensure_eq!(
        thread_create(process.raw(), b"t", 0).err(),
        Some(Status::BAD_STATE),
        "a thread in a dead process"
    );
    Ok(())
}

pub fn start_calls_check_handles_pairs_and_states() -> TestResult {
    let job = new_job()?;
    let (p, _pv) = check(job.create_process(b"p"), "process_create")?;
    let (q, _qv) = check(job.create_process(b"q"), "process_create")?;
    let t = check(p.create_thread(b"t"), "thread_create")?;
    let u = check(q.create_thread(b"u"), "thread_create")?;
    let none = HandleValue::INVALID;
    ensure_eq!(
        process_start(BOGUS, t.raw(), 0x1000, 0x2000, none, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        process_start(p.raw(), BOGUS, 0x1000, 0x2000, none, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        process_start(t.raw(), t.raw(), 0x1000, 0x2000, none, 0).err(),
        Some(Status::WRONG_TYPE)
    );
    ensure_eq!(
        process_start(p.raw(), u.raw(), 0x1000, 0x2000, none, 0).err(),
        Some(Status::ACCESS_DENIED),
        "a thread of another process"
    );
    ensure_eq!(
        process_start(p.raw(), t.raw(), 0x1000, 0x2000, BOGUS, 0).err(),
        Some(Status::BAD_HANDLE),
        "a bad argument handle"
    );
    let no_write = weaker(&p, Rights::WRITE)?;
    ensure_eq!(
        process_start(no_write.raw(), t.raw(), 0x1000, 0x2000, none, 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(
        thread_start(t.raw(), 0x1000, 0x2000, 0, 0).err(),
        Some(Status::BAD_STATE),
        "thread_start before the process started"
    );
    ensure_eq!(
        thread_start(BOGUS, 0x1000, 0x2000, 0, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    // Started (with nothing mapped it faults at once and dies: -1028).
    check(
        process_start(p.raw(), t.raw(), 0x1000, 0x2000, none, 0),
        "process_start",
    )?;
    ensure_eq!(
        process_start(p.raw(), t.raw(), 0x1000, 0x2000, none, 0).err(),
        Some(Status::BAD_STATE),
        "started twice"
    );
    p.wait_one(
        Signals::PROCESS_TERMINATED,
        zx::deadline_after(10_000_000_000),
    )
    .map_err(|s| format!("the empty process did not end: {s:?}"))?;
    ensure_eq!(
        check(p.info(), "INFO_PROCESS")?.return_code,
        TASK_RETCODE_EXCEPTION_KILL
    );
    ensure_eq!(
        thread_start(t.raw(), 0x1000, 0x2000, 0, 0).err(),
        Some(Status::BAD_STATE),
        "a dead thread"
    );
    Ok(())
}

pub fn bad_entry_points_and_stacks_kill_only_their_process() -> TestResult {
    let job = new_job()?;
    let cases = [
        (0, 0x2000, "null entry"),
        (0xffff_8000_0000_0000, 0x2000, "kernel-half entry"),
        (
            0xffff_ffff_ffff_f000,
            0xffff_ffff_ffff_f000,
            "kernel-top entry and stack",
        ),
        (0x8000_0000_0000_0000, 0x2000, "non-canonical entry"),
        (0x1000, 0xffff_8000_0000_0000, "kernel-half stack"),
        (
            0x1001,
            0x8000_0000_0000_0000,
            "odd entry, non-canonical stack",
        ),
        (u64::MAX, u64::MAX, "all ones"),
    ];
    for (entry, stack, what) in cases {
        let (p, _vmar) = check(job.create_process(b"bad-entry"), "process_create")?;
        let t = check(p.create_thread(b"t"), "thread_create")?;
        check(
            process_start(p.raw(), t.raw(), entry, stack, HandleValue::INVALID, 0),
            what,
        )?;
        p.wait_one(
            Signals::PROCESS_TERMINATED,
            zx::deadline_after(10_000_000_000),
        )
        .map_err(|s| format!("{what}: the process did not end: {s:?}"))?;
        ensure_eq!(
            check(p.info(), "INFO_PROCESS")?.return_code,
            TASK_RETCODE_EXCEPTION_KILL,
            "{what}"
        );
    }
    // Second threads too, in a process that stays alive meanwhile.
    let (p, vmar) = check(job.create_process(b"host"), "process_create")?;
    let _ = vmar;
    let main = check(p.create_thread(b"main"), "thread_create")?;
    let channel = check(p.create_exception_channel(0), "process channel")?;
    check(
        process_start(p.raw(), main.raw(), 0x1000, 0x2000, HandleValue::INVALID, 0),
        "process_start",
    )?;
    // The first thread faults; hold it in its exception.
    let (_, _held) = channel
        .wait_exception(zx::deadline_after(10_000_000_000))
        .map_err(|s| format!("the first thread's fault: {s:?}"))?;
    for (entry, what) in [
        (0xffff_8000_0000_0000u64, "kernel-half entry"),
        (0x8000_0000_0000_0000, "non-canonical entry"),
    ] {
        let t = check(p.create_thread(b"t"), "thread_create")?;
        check(thread_start(t.raw(), entry, 0x2000, 0, 0), what)?;
        let (info, exception) = channel
            .wait_exception(zx::deadline_after(10_000_000_000))
            .map_err(|s| format!("{what}: no exception: {s:?}"))?;
        ensure_eq!(info.tid, check(t.koid(), "koid")?, "{what}");
        check(exception.thread_exit(), "THREAD_EXIT")?;
    }
    Ok(())
}

pub fn task_calls_check_handles_rights_and_types() -> TestResult {
    let f = Fixture::new()?;
    ensure_eq!(task_kill(BOGUS).err(), Some(Status::BAD_HANDLE));
    let event = check(Event::create(), "event_create")?;
    ensure_eq!(
        task_kill(event.raw()).err(),
        Some(Status::ACCESS_DENIED),
        "an event (no DESTROY, checked before the type)"
    );
    let no_destroy = weaker(&f.process, Rights::DESTROY)?;
    ensure_eq!(
        task_kill(no_destroy.raw()).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(task_suspend(BOGUS).err(), Some(Status::BAD_HANDLE));
    ensure_eq!(
        task_suspend(f.port.raw()).err(),
        Some(Status::WRONG_TYPE),
        "a port (WRITE but no task)"
    );
    let no_write = weaker(&f.thread, Rights::WRITE)?;
    ensure_eq!(
        task_suspend(no_write.raw()).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(
        task_suspend(f.job.raw()).err(),
        Some(Status::WRONG_TYPE),
        "a job cannot be suspended"
    );
    // Magenta's task_resume and Zircon's resume_from_exception.
    use spinel_rt::zx::exception::{task_resume, task_resume_from_exception};
    ensure_eq!(task_resume(BOGUS, 1).err(), Some(Status::BAD_HANDLE));
    ensure_eq!(
        task_resume(f.thread.raw(), 0x10).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        task_resume(f.thread.raw(), 1).err(),
        Some(Status::BAD_STATE),
        "not in an exception"
    );
    ensure_eq!(
        task_resume_from_exception(f.thread.raw(), f.event.raw(), 0).err(),
        Some(Status::WRONG_TYPE)
    );
    ensure_eq!(
        task_resume_from_exception(f.thread.raw(), BOGUS, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        task_resume_from_exception(f.port.raw(), f.port.raw(), 0).err(),
        Some(Status::WRONG_TYPE)
    );
    Ok(())
}

pub fn thread_state_calls_check_kinds_sizes_and_states() -> TestResult {
    let f = Fixture::new()?;
    let size = GeneralRegisters::size();
    let mut buffer = [0u8; 512];
    let thread = f.thread.raw();
    ensure_eq!(
        thread_read_state(BOGUS, THREAD_STATE_GENERAL_REGS, &mut buffer[..size]).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        thread_read_state(
            f.process.raw(),
            THREAD_STATE_GENERAL_REGS,
            &mut buffer[..size]
        )
        .err(),
        Some(Status::WRONG_TYPE)
    );
    let no_read = weaker(&f.thread, Rights::READ)?;
    ensure_eq!(
        thread_read_state(
            no_read.raw(),
            THREAD_STATE_GENERAL_REGS,
            &mut buffer[..size]
        )
        .err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(
        thread_read_state(thread, 99, &mut buffer[..size]).err(),
        Some(Status::INVALID_ARGS),
        "unknown kind"
    );
    ensure_eq!(
        thread_read_state(thread, 2, &mut buffer[..size]).err(),
        Some(Status::NOT_SUPPORTED),
        "vector registers"
    );
    ensure_eq!(
        thread_read_state(thread, 1, &mut buffer).err(),
        Some(Status::BAD_STATE),
        "FP registers of a thread that is not stopped"
    );
    ensure_eq!(
        thread_write_state(thread, 1, &buffer).err(),
        Some(Status::BAD_STATE),
        "FP registers of a thread that is not stopped"
    );
    ensure_eq!(
        thread_read_state(thread, THREAD_STATE_GENERAL_REGS, &mut buffer[..size]).err(),
        Some(Status::BAD_STATE),
        "a thread that is not stopped"
    );
    ensure_eq!(
        thread_write_state(thread, THREAD_STATE_GENERAL_REGS, &buffer[..size]).err(),
        Some(Status::BAD_STATE)
    );
    let too_big = [
        Arg::Handle(thread),
        Arg::Val(0),
        Arg::Bad(Bad::Unmapped),
        Arg::Val(1 << 40),
    ];
    ensure_eq!(
        raw::call(Syscall::ThreadWriteState, &too_big),
        Status::INVALID_ARGS
    );
    // A huge read size over a good buffer of registers' size is clipped,
    // never written past the registers.
    let mut scratch_buffers = Scratch::new();
    let status = raw::call_with(
        Syscall::ThreadReadState,
        &[Arg::Handle(thread), Arg::Val(0), scratch(0), Arg::Len(size)],
        &mut scratch_buffers,
    );
    ensure_eq!(status, Status::BAD_STATE);
    Ok(())
}

pub fn process_memory_calls_check_handles_sizes_and_mappings() -> TestResult {
    let f = Fixture::new()?;
    let mut buffer = [0u8; 16];
    let process = f.process.raw();
    ensure_eq!(
        process_read_memory(BOGUS, 0x1000, &mut buffer).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        process_read_memory(f.thread.raw(), 0x1000, &mut buffer).err(),
        Some(Status::WRONG_TYPE)
    );
    let no_write = weaker(&f.process, Rights::WRITE)?;
    ensure_eq!(
        process_read_memory(no_write.raw(), 0x1000, &mut buffer).err(),
        Some(Status::ACCESS_DENIED),
        "reading needs READ and WRITE"
    );
    ensure_eq!(
        process_read_memory(process, 0x1000, &mut []).err(),
        Some(Status::INVALID_ARGS),
        "zero bytes"
    );
    ensure_eq!(
        process_write_memory(process, 0x1000, &[]).err(),
        Some(Status::INVALID_ARGS),
        "zero bytes"
    );
    // Mapped memory of the target reads and writes.
    let vmo = check(zx::Vmo::create(4096), "vmo_create")?;
    let at = check(
        f.vmar.map(VM_PERM_READ | VM_PERM_WRITE, 0, &vmo, 0, 4096),
        "vmar_map",
    )?;
    ensure_eq!(process_write_memory(process, at + 8, b"spinel"), Ok(6));
    ensure_eq!(
        process_read_memory(process, at + 8, &mut buffer[..6]),
        Ok(6)
    );
    ensure_eq!(&buffer[..6], b"spinel");
    // A read running off the mapping is short.
    ensure_eq!(
        process_read_memory(process, at + 4096 - 4, &mut buffer),
        Ok(4)
    );
    // Addresses with nothing mapped: NO_MEMORY (or INVALID_ARGS outside
    // user space).
    for address in [0x1000, 0x20_0000, 0xffff_8000_0000_0000, u64::MAX - 7] {
        let status = process_read_memory(process, address, &mut buffer).err();
        ensure!(
            matches!(status, Some(Status::NO_MEMORY | Status::INVALID_ARGS)),
            "reading {address:#x} with nothing mapped: {status:?}"
        );
        let status = process_write_memory(process, address, &buffer).err();
        ensure!(
            matches!(status, Some(Status::NO_MEMORY | Status::INVALID_ARGS)),
            "writing {address:#x} with nothing mapped: {status:?}"
        );
    }
    // A process that never had anything mapped reads like one whose
    // memory is unmapped (the kernel's own rule: nothing mapped is
    // NO_MEMORY).
    let (empty, _vmar) = check(f.job.create_process(b"empty"), "process_create")?;
    ensure_eq!(
        process_read_memory(empty.raw(), 0x20_0000, &mut buffer).err(),
        Some(Status::NO_MEMORY),
        "reading a process that never mapped anything"
    );
    check(f.process.kill(), "task_kill")?;
    ensure_eq!(
        process_read_memory(process, at, &mut buffer).err(),
        Some(Status::BAD_STATE),
        "a dead process"
    );
    Ok(())
}

pub fn exception_calls_check_handles_and_types() -> TestResult {
    use spinel_rt::zx::exception::{
        exception_get_process, exception_get_thread, task_bind_exception_port,
        task_create_exception_channel,
    };
    let f = Fixture::new()?;
    ensure_eq!(exception_get_thread(BOGUS).err(), Some(Status::BAD_HANDLE));
    ensure_eq!(
        exception_get_thread(f.event.raw()).err(),
        Some(Status::WRONG_TYPE)
    );
    ensure_eq!(
        exception_get_process(f.thread.raw()).err(),
        Some(Status::WRONG_TYPE)
    );
    ensure_eq!(
        task_create_exception_channel(BOGUS, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        task_create_exception_channel(f.thread.raw(), EXCEPTION_CHANNEL_DEBUGGER).err(),
        Some(Status::INVALID_ARGS)
    );
    // A bad out pointer leaves the slot free.
    let args = [
        Arg::Handle(f.thread.raw()),
        Arg::Val(0),
        Arg::Bad(Bad::KernelHalf),
    ];
    ensure_eq!(
        raw::call(Syscall::TaskCreateExceptionChannel, &args),
        Status::INVALID_ARGS
    );
    check(
        task_create_exception_channel(f.thread.raw(), 0),
        "the slot after a bad out pointer",
    )?;
    ensure_eq!(
        task_bind_exception_port(f.process.raw(), BOGUS, 0, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        task_bind_exception_port(f.process.raw(), f.event.raw(), 0, 0).err(),
        Some(Status::WRONG_TYPE)
    );
    ensure_eq!(
        task_bind_exception_port(f.event.raw(), f.port.raw(), 0, 0).err(),
        Some(Status::WRONG_TYPE)
    );
    Ok(())
}

pub fn vmo_calls_check_options_sizes_rights_and_ranges() -> TestResult {
    ensure_eq!(vmo_create(4096, 1).err(), Some(Status::INVALID_ARGS));
    let status = vmo_create(u64::MAX, 0).err();
    ensure!(
        matches!(status, Some(Status::OUT_OF_RANGE | Status::NO_MEMORY)),
        "a VMO of 2^64 - 1 bytes: {status:?}"
    );
    let vmo = check(zx::Vmo::create(8192), "vmo_create")?;
    let mut buffer = [0u8; 16];
    ensure_eq!(
        vmo_read(BOGUS, &mut buffer, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    let event = check(Event::create(), "event_create")?;
    ensure_eq!(
        vmo_read(event.raw(), &mut buffer, 0).err(),
        Some(Status::ACCESS_DENIED),
        "an event (no READ, checked before the type)"
    );
    let port = check(Port::create(), "port_create")?;
    ensure_eq!(
        vmo_read(port.raw(), &mut buffer, 0).err(),
        Some(Status::WRONG_TYPE),
        "a port (READ, but no VMO)"
    );
    let no_read = weaker(&vmo, Rights::READ)?;
    ensure_eq!(
        vmo_read(no_read.raw(), &mut buffer, 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    let no_write = weaker(&vmo, Rights::WRITE)?;
    ensure_eq!(
        vmo_write(no_write.raw(), &buffer, 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    for offset in [8192 - 8, 8192, u64::MAX - 4, u64::MAX] {
        ensure_eq!(
            vmo.read(&mut buffer, offset).err(),
            Some(Status::OUT_OF_RANGE),
            "read at {offset:#x}"
        );
        ensure_eq!(
            vmo.write(&buffer, offset).err(),
            Some(Status::OUT_OF_RANGE),
            "write at {offset:#x}"
        );
    }
    check(vmo.write(b"edge", 8192 - 4), "a write ending at the end")?;
    Ok(())
}

pub fn vmar_calls_check_options_alignment_and_overlaps() -> TestResult {
    let f = Fixture::new()?;
    let vmar = &f.vmar;
    let vmo = &f.vmo;
    let read = VM_PERM_READ;
    let rw = VM_PERM_READ | VM_PERM_WRITE;
    let cases: [(u32, u64, u64, u64, Status, &str); 10] = [
        (1 << 20, 0, 0, 4096, Status::INVALID_ARGS, "unknown option"),
        (
            VM_PERM_WRITE,
            0,
            0,
            4096,
            Status::INVALID_ARGS,
            "write without read",
        ),
        (
            rw | VM_PERM_EXECUTE,
            0,
            0,
            4096,
            Status::INVALID_ARGS,
            "write and execute",
        ),
        (read, 0, 0, 0, Status::INVALID_ARGS, "zero length"),
        (
            read,
            0,
            1,
            4096,
            Status::INVALID_ARGS,
            "unaligned VMO offset",
        ),
        (read, 0, 0, 3 * 4096, Status::OUT_OF_RANGE, "past the VMO"),
        (
            read | VM_SPECIFIC,
            0x10_0001,
            0,
            4096,
            Status::INVALID_ARGS,
            "unaligned address",
        ),
        (
            read | VM_SPECIFIC,
            0xffff_8000_0000_0000,
            0,
            4096,
            Status::INVALID_ARGS,
            "kernel-half address",
        ),
        (
            read | VM_SPECIFIC,
            0x0000_7fff_ffff_f000,
            0,
            4096,
            Status::INVALID_ARGS,
            "at the top of user space",
        ),
        (
            read | VM_SPECIFIC,
            0,
            0,
            4096,
            Status::INVALID_ARGS,
            "page zero",
        ),
    ];
    for (options, address, offset, len, expected, what) in cases {
        ensure_eq!(
            vmar_map(vmar.raw(), options, address, vmo.raw(), offset, len).err(),
            Some(expected),
            "{what}"
        );
    }
    ensure_eq!(
        vmar_map(BOGUS, read, 0, vmo.raw(), 0, 4096).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        vmar_map(vmar.raw(), read, 0, f.port.raw(), 0, 4096).err(),
        Some(Status::ACCESS_DENIED),
        "a port as the VMO (no MAP right, checked before the type)"
    );
    ensure_eq!(
        vmar_map(vmar.raw(), read, 0, vmar.raw(), 0, 4096).err(),
        Some(Status::WRONG_TYPE),
        "a VMAR as the VMO"
    );
    ensure_eq!(
        vmar_map(f.vmo.raw(), read, 0, vmo.raw(), 0, 4096).err(),
        Some(Status::WRONG_TYPE),
        "a VMO as the VMAR"
    );
    let no_write = weaker(vmo, Rights::WRITE)?;
    ensure_eq!(
        vmar_map(vmar.raw(), rw, 0, no_write.raw(), 0, 4096).err(),
        Some(Status::ACCESS_DENIED),
        "a writable mapping of a read-only VMO handle"
    );
    let at = check(
        vmar_map(vmar.raw(), rw | VM_SPECIFIC, 0x40_0000, vmo.raw(), 0, 8192),
        "map",
    )?;
    ensure_eq!(at, 0x40_0000);
    ensure_eq!(
        vmar_map(vmar.raw(), rw | VM_SPECIFIC, 0x40_1000, vmo.raw(), 0, 4096).err(),
        Some(Status::ALREADY_EXISTS),
        "an overlap"
    );
    ensure_eq!(
        vmar_protect(vmar.raw(), read, at + 1, 4096).err(),
        Some(Status::INVALID_ARGS),
        "unaligned protect"
    );
    check(vmar_protect(vmar.raw(), read, at, 4096), "protect")?;
    ensure_eq!(
        vmar_unmap(vmar.raw(), at + 1, 4096).err(),
        Some(Status::INVALID_ARGS),
        "unaligned unmap"
    );
    ensure_eq!(
        vmar_unmap(vmar.raw(), 0x7000_0000, 4096).err(),
        Some(Status::NOT_FOUND)
    );
    check(vmar_unmap(vmar.raw(), at, 8192), "unmap")?;
    ensure_eq!(vmar_unmap(BOGUS, at, 4096).err(), Some(Status::BAD_HANDLE));
    // Options vmar_map refuses, vmar_protect refuses too.
    let at = check(vmar_map(vmar.raw(), read, 0, vmo.raw(), 0, 4096), "map")?;
    ensure_eq!(
        vmar_protect(vmar.raw(), read | (1 << 20), at, 4096).err(),
        Some(Status::INVALID_ARGS),
        "vmar_protect with an unknown option"
    );
    check(f.process.kill(), "task_kill")?;
    ensure_eq!(
        vmar_map(vmar.raw(), read, 0, vmo.raw(), 0, 4096).err(),
        Some(Status::BAD_STATE),
        "the VMAR of a dead process"
    );
    Ok(())
}

pub fn clock_and_sleep_accept_any_deadline() -> TestResult {
    let t0 = zx::clock_get_monotonic();
    ensure!(t0 > 0, "clock {t0}");
    for deadline in [i64::MIN, -1, 0, t0 - 1] {
        check(zx::nanosleep(deadline), "nanosleep in the past")?;
    }
    check(zx::nanosleep(zx::deadline_after(1_000_000)), "a 1 ms sleep")?;
    let t1 = zx::clock_get_monotonic();
    ensure!(t1 >= t0 + 1_000_000, "slept {} ns", t1 - t0);
    Ok(())
}

pub fn debug_calls_check_handles_and_lengths() -> TestResult {
    check(zx::debug_write(b""), "an empty write")?;
    // Over-long writes are cut to the kernel's bound, not refused.
    let mut buffer = [0u8; 16];
    ensure_eq!(
        zx::debug_link_read(BOGUS, &mut buffer).err(),
        Some(Status::BAD_HANDLE)
    );
    let event = check(Event::create(), "event_create")?;
    let status = zx::debug_link_write(event.raw(), b"x").err();
    ensure!(
        matches!(status, Some(Status::ACCESS_DENIED | Status::WRONG_TYPE)),
        "an event as the link: {status:?}"
    );
    Ok(())
}

pub fn zero_length_buffers_are_never_touched() -> TestResult {
    let f = Fixture::new()?;
    for bad in [Bad::KernelHalf, Bad::NonCanonical, Bad::Unmapped] {
        let b = Arg::Bad(bad);
        ensure_eq!(
            raw::call(Syscall::DebugWrite, &[b, Arg::Val(0)]),
            Status::OK,
            "debug_write of 0 bytes at {bad:?}"
        );
        ensure_eq!(
            raw::call(
                Syscall::ChannelWrite,
                &[
                    Arg::Handle(f.a.raw()),
                    Arg::Val(0),
                    b,
                    Arg::Val(0),
                    b,
                    Arg::Val(0)
                ],
            ),
            Status::OK,
            "an empty message from {bad:?}"
        );
        ensure_eq!(
            raw::call(
                Syscall::VmoWrite,
                &[Arg::Handle(f.vmo.raw()), b, Arg::Val(0), Arg::Val(0)],
            ),
            Status::OK,
            "vmo_write of 0 bytes from {bad:?}"
        );
    }
    Ok(())
}

pub fn misaligned_pointers_are_accepted_byte_for_byte() -> TestResult {
    let f = Fixture::new()?;
    let mut scratch_buffers = Scratch::new();
    // A handle written at an odd address.
    let status = raw::call_with(
        Syscall::HandleDuplicate,
        &[
            Arg::Handle(f.event.raw()),
            Arg::Val(u64::from(Rights::SAME_RIGHTS.bits())),
            Arg::Scratch { slot: 0, offset: 3 },
        ],
        &mut scratch_buffers,
    );
    ensure_eq!(status, Status::OK);
    let copy = Handle::from_raw(HandleValue(scratch_buffers.u32_at(0, 3)));
    ensure_eq!(
        check(copy.basic_info(), "the duplicate")?.koid,
        check(f.event.koid(), "koid")?
    );
    // A packet read to and from odd addresses.
    check(
        f.port.queue(&PortPacket::user(0x0102_0304, [9, 8, 7, 6])),
        "port_queue",
    )?;
    let status = raw::call_with(
        Syscall::PortWait,
        &[
            Arg::Handle(f.port.raw()),
            Arg::Val(0),
            Arg::Scratch { slot: 1, offset: 5 },
        ],
        &mut scratch_buffers,
    );
    ensure_eq!(status, Status::OK);
    let mut raw_packet = [0u8; 48];
    raw_packet.copy_from_slice(&scratch_buffers.0[1][5..53]);
    let packet = PortPacket::from_bytes(&raw_packet);
    ensure_eq!((packet.key, packet.payload), (0x0102_0304, [9, 8, 7, 6]));
    // Message bytes from an odd address.
    scratch_buffers.0[2][7..11].copy_from_slice(b"odd!");
    let status = raw::call_with(
        Syscall::ChannelWrite,
        &[
            Arg::Handle(f.a.raw()),
            Arg::Val(0),
            Arg::Scratch { slot: 2, offset: 7 },
            Arg::Len(4),
            Arg::Val(0),
            Arg::Val(0),
        ],
        &mut scratch_buffers,
    );
    ensure_eq!(status, Status::OK);
    let mut bytes = [0u8; 8];
    let sizes =
        f.b.read_raw(&mut bytes, &mut [])
            .map_err(|e| format!("channel_read: {:?}", e.status))?;
    ensure_eq!(&bytes[..sizes.bytes as usize], b"odd!");
    Ok(())
}

pub fn ranges_running_into_unmapped_memory_are_invalid_args() -> TestResult {
    let vmar = crate::fixture::env()
        .vmar
        .as_ref()
        .ok_or("no root VMAR (TAG_VMAR_ROOT) in the bootstrap message")?;
    let vmo = check(zx::Vmo::create(2 * 4096), "vmo_create")?;
    let at = check(
        vmar.map(VM_PERM_READ | VM_PERM_WRITE, 0, &vmo, 0, 2 * 4096),
        "vmar_map",
    )?;
    check(vmar.unmap(at + 4096, 4096), "vmar_unmap")?;
    // `at + 4096 - 2`: two mapped bytes, then nothing.
    let edge = at + 4096 - 2;
    let f = Fixture::new()?;
    let results = [
        (
            "debug_write",
            raw::call(Syscall::DebugWrite, &[Arg::Mapped(edge), Arg::Val(8)]),
        ),
        (
            "handle_duplicate out",
            raw::call(
                Syscall::HandleDuplicate,
                &[
                    Arg::Handle(f.event.raw()),
                    Arg::Val(u64::from(Rights::SAME_RIGHTS.bits())),
                    Arg::Mapped(edge),
                ],
            ),
        ),
        (
            "port_wait packet",
            raw::call(
                Syscall::PortWait,
                &[Arg::Handle(f.port.raw()), Arg::Val(0), Arg::Mapped(edge)],
            ),
        ),
        (
            "object_get_info buffer",
            raw::call(
                Syscall::ObjectGetInfo,
                &[
                    Arg::Handle(f.event.raw()),
                    Arg::Val(u64::from(INFO_HANDLE_BASIC)),
                    Arg::Mapped(edge),
                    Arg::Val(32),
                    Arg::Val(0),
                    Arg::Val(0),
                ],
            ),
        ),
        (
            "vmo_read buffer",
            raw::call(
                Syscall::VmoRead,
                &[
                    Arg::Handle(f.vmo.raw()),
                    Arg::Mapped(edge),
                    Arg::Val(0),
                    Arg::Val(16),
                ],
            ),
        ),
    ];
    for (what, status) in results {
        ensure_eq!(status, Status::INVALID_ARGS, "{what}");
    }
    check(vmar.unmap(at, 4096), "vmar_unmap")?;
    Ok(())
}
