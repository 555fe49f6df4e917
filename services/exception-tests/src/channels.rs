//! Items 1 to 8: creating exception channels, and the message they carry.

use alloc::format;
use alloc::vec::Vec;

use crate::env::*;
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::exception::*;
use spinel_rt::zx::abi::policy::*;
use spinel_rt::zx::exception::task_create_exception_channel;
use spinel_rt::zx::{
    self, Channel, ExceptionInfo, Fault, HandleBased, HandleValue, ObjectCalls, ObjectType, Port,
    Rights, Signals, Status, Task,
};
use spinel_rt::{ensure, ensure_eq};

pub fn c01() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "sleep")?;
    for options in [2, 3, 0x100, u32::MAX] {
        ensure_eq!(
            task_create_exception_channel(p.process().raw(), options).err(),
            Some(Status::INVALID_ARGS),
            "options {options:#x}"
        );
    }
    ensure_eq!(
        task_create_exception_channel(p.thread().raw(), EXCEPTION_CHANNEL_DEBUGGER).err(),
        Some(Status::INVALID_ARGS)
    );
    // Options are checked first, even before the handle.
    ensure_eq!(
        task_create_exception_channel(HandleValue(0x1234_5673), 4).err(),
        Some(Status::INVALID_ARGS)
    );
    Ok(())
}

pub fn c02() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "sleep")?;
    let tasks = [
        p.thread().as_handle(),
        p.process().as_handle(),
        job.as_handle(),
    ];
    for task in tasks {
        let full = check(task.basic_info(), "INFO_HANDLE_BASIC").map(|i| Rights(i.rights))?;
        for right in [
            Rights::INSPECT,
            Rights::DUPLICATE,
            Rights::TRANSFER,
            Rights::MANAGE_THREAD,
        ] {
            let weak = check(task.duplicate(full.difference(right)), "duplicate")?;
            ensure_eq!(
                task_create_exception_channel(weak.raw(), 0).err(),
                Some(Status::ACCESS_DENIED),
                "without {right:?}"
            );
        }
    }
    for task in [p.process().as_handle(), job.as_handle()] {
        let weak = check(
            task.duplicate(Rights::EXCEPTION_CHANNEL_REQUIRED),
            "duplicate",
        )?;
        for options in [0, EXCEPTION_CHANNEL_DEBUGGER] {
            ensure_eq!(
                task_create_exception_channel(weak.raw(), options).err(),
                Some(Status::ACCESS_DENIED),
                "no ENUMERATE, options {options}"
            );
        }
    }
    // A thread needs no ENUMERATE.
    let weak = check(
        p.thread().duplicate(Rights::EXCEPTION_CHANNEL_REQUIRED),
        "duplicate",
    )?;
    check(
        task_create_exception_channel(weak.raw(), 0),
        "thread channel",
    )?;
    Ok(())
}

pub fn c03() -> TestResult {
    for condition in [POL_NEW_CHANNEL, POL_NEW_ANY] {
        let job = new_job()?;
        check(job.set_policy(condition, POL_ACTION_DENY), "job_set_policy")?;
        let p = spawn(&job, "try-exception-channel try-channel sleep")?;
        ensure_eq!(
            p.read_status()?,
            Status::ACCESS_DENIED,
            "exception channel under policy {condition}"
        );
        ensure_eq!(
            p.read_status()?,
            Status::ACCESS_DENIED,
            "channel_create under policy {condition}"
        );
    }
    // Not a task. No object but a task carries MANAGE_THREAD, and rights are
    // checked before the type, so from user space a non-task handle is
    // refused with ACCESS_DENIED; with a bad value, BAD_HANDLE.
    let port = check(Port::create(), "port_create")?;
    ensure_eq!(
        task_create_exception_channel(port.raw(), 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    let (a, _b) = check(Channel::create(), "channel_create")?;
    ensure_eq!(
        task_create_exception_channel(a.raw(), 0).err(),
        Some(Status::ACCESS_DENIED)
    );
    ensure_eq!(
        task_create_exception_channel(HandleValue(0x7777_7773), 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        task_create_exception_channel(HandleValue::INVALID, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    Ok(())
}

pub fn c04() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "sleep")?;
    let cases = [
        (p.thread().as_handle(), 0),
        (p.process().as_handle(), 0),
        (p.process().as_handle(), EXCEPTION_CHANNEL_DEBUGGER),
        (job.as_handle(), 0),
        (job.as_handle(), EXCEPTION_CHANNEL_DEBUGGER),
    ];
    for (task, options) in cases {
        let ch = check(
            task_create_exception_channel(task.raw(), options),
            "task_create_exception_channel",
        )?;
        let info = check(ch.basic_info(), "INFO_HANDLE_BASIC")?;
        ensure_eq!(
            Rights(info.rights),
            Rights::TRANSFER | Rights::WAIT | Rights::READ
        );
        ensure_eq!(info.object_type, ObjectType::CHANNEL.0);
        ensure_eq!(
            ch.write(b"x", []).err(),
            Some(Status::ACCESS_DENIED),
            "writing the handler's end"
        );
    }
    Ok(())
}

pub fn c05() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "sleep")?;
    let cases = [
        (p.thread().as_handle(), 0),
        (p.process().as_handle(), 0),
        (p.process().as_handle(), EXCEPTION_CHANNEL_DEBUGGER),
        (job.as_handle(), 0),
    ];
    for (task, options) in cases {
        let first = check(task_create_exception_channel(task.raw(), options), "first")?;
        ensure_eq!(
            task_create_exception_channel(task.raw(), options).err(),
            Some(Status::ALREADY_BOUND),
            "options {options}"
        );
        drop(first);
        let again = check(
            task_create_exception_channel(task.raw(), options),
            "after the first closed",
        )?;
        drop(again);
    }
    let mut debuggers = Vec::new();
    for i in 0..EXCEPTION_CHANNEL_JOB_DEBUGGER_MAX_COUNT {
        debuggers.push(check(
            job.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
            &format!("job debugger {i}"),
        )?);
    }
    ensure_eq!(debuggers.len(), 32);
    ensure_eq!(
        job.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER)
            .err(),
        Some(Status::ALREADY_BOUND),
        "the 33rd job debugger"
    );
    debuggers.pop();
    debuggers.push(check(
        job.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "a job debugger after one closed",
    )?);
    Ok(())
}

fn peer_closed(ch: &Channel) -> bool {
    ch.wait_one(Signals::CHANNEL_PEER_CLOSED, zx::deadline_after(SHORT))
        .is_ok_and(|s| s.contains(Signals::CHANNEL_PEER_CLOSED))
}

pub fn c06() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "spawn:sleep sleep")?;
    let extra = zx::Thread::from_handle(p.read_handle()?);
    let thread_ch = check(extra.create_exception_channel(0), "thread channel")?;
    let process_ch = check(p.process().create_exception_channel(0), "process channel")?;
    let debugger_ch = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger channel",
    )?;
    let job_ch = check(job.create_exception_channel(0), "job channel")?;
    let job_debugger_ch = check(
        job.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "job debugger channel",
    )?;
    for (ch, name) in [
        (&thread_ch, "thread"),
        (&process_ch, "process"),
        (&debugger_ch, "debugger"),
        (&job_ch, "job"),
        (&job_debugger_ch, "job debugger"),
    ] {
        ensure!(!peer_closed(ch), "{name} channel closed early");
    }

    check(extra.kill(), "killing the thread")?;
    wait_signal(&extra, Signals::THREAD_TERMINATED, "thread end")?;
    ensure!(peer_closed(&thread_ch), "thread channel not closed");
    ensure!(
        !peer_closed(&process_ch),
        "process channel closed by a thread's death"
    );
    ensure_eq!(
        extra.create_exception_channel(0).err(),
        Some(Status::BAD_STATE),
        "channel on a dead thread"
    );

    check(p.process().kill(), "killing the process")?;
    wait_signal(p.process(), Signals::PROCESS_TERMINATED, "process end")?;
    ensure!(peer_closed(&process_ch), "process channel not closed");
    ensure!(peer_closed(&debugger_ch), "debugger channel not closed");
    ensure!(
        !peer_closed(&job_ch),
        "job channel closed by a process's death"
    );
    drop(process_ch);
    drop(debugger_ch);
    for options in [0, EXCEPTION_CHANNEL_DEBUGGER] {
        ensure_eq!(
            p.process().create_exception_channel(options).err(),
            Some(Status::BAD_STATE),
            "channel on a dead process, options {options}"
        );
    }

    check(job.kill(), "killing the job")?;
    wait_signal(&job.0, Signals::JOB_TERMINATED, "job end")?;
    ensure!(peer_closed(&job_ch), "job channel not closed");
    ensure!(
        peer_closed(&job_debugger_ch),
        "job debugger channel not closed"
    );
    for options in [0, EXCEPTION_CHANNEL_DEBUGGER] {
        ensure_eq!(
            job.create_exception_channel(options).err(),
            Some(Status::BAD_STATE),
            "channel on a dead job, options {options}"
        );
    }
    Ok(())
}

pub fn c07() -> TestResult {
    let job = new_job()?;
    let p = prepare(&job, "gate fault:breakpoint fault:privileged")?;
    let ch = check(p.process().create_exception_channel(0), "process channel")?;
    let mut p = p;
    p.start()?;
    p.open_gate()?;
    wait_signal(&ch, Signals::CHANNEL_READABLE, "the exception message")?;
    let mut bytes = [0u8; 100];
    let mut handles = [HandleValue::INVALID; 8];
    let sizes = ch
        .read_raw(&mut bytes, &mut handles)
        .map_err(|e| format!("channel_read: {:?}", e.status))?;
    ensure_eq!((sizes.bytes, sizes.handles), (24, 1));
    let exception = zx::Exception::from_raw(handles[0]);
    let mut raw = [0u8; 24];
    raw.copy_from_slice(&bytes[..24]);
    let info = ExceptionInfo::from_bytes(&raw);
    ensure_eq!(
        info,
        ExceptionInfo {
            pid: p.pid(),
            tid: p.tid(),
            exception_type: EXCP_SW_BREAKPOINT,
            padding: 0,
        }
    );
    let basic = check(exception.basic_info(), "INFO_HANDLE_BASIC")?;
    ensure_eq!(basic.object_type, ObjectType::EXCEPTION.0);
    ensure_eq!(
        Rights(basic.rights),
        Rights::TRANSFER | Rights::INSPECT | Rights::GET_PROPERTY | Rights::SET_PROPERTY
    );
    handled_at(exception, Fault::SoftwareBreakpoint.resume())?;

    // A too-small buffer tells the sizes and keeps the message.
    wait_signal(&ch, Signals::CHANNEL_READABLE, "the second exception")?;
    let error = ch
        .read_raw(&mut bytes[..8], &mut handles)
        .err()
        .ok_or("a read into 8 bytes succeeded")?;
    ensure_eq!(
        (error.status, error.needed.bytes, error.needed.handles),
        (Status::BUFFER_TOO_SMALL, 24, 1)
    );
    let (info, exception) = wait_exception(&ch, "process channel")?;
    ensure_eq!(info.exception_type, EXCP_GENERAL);
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}

pub fn c08() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "gate fault:privileged")?;
    let thread_ch = check(p.thread().create_exception_channel(0), "thread channel")?;
    p.start()?;
    p.open_gate()?;
    let (_, exception) = wait_exception(&thread_ch, "thread channel")?;
    ensure_eq!(
        exception.duplicate(Rights::SAME_RIGHTS).err(),
        Some(Status::ACCESS_DENIED),
        "duplicating the exception"
    );
    ensure_eq!(
        exception.process().err(),
        Some(Status::ACCESS_DENIED),
        "exception_get_process from a thread channel"
    );
    let thread = check(exception.thread(), "exception_get_thread")?;
    ensure_eq!(thread.koid().ok(), Some(p.tid()));
    ensure_eq!(rights_of(&thread)?, rights_of(p.thread())?);
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    ensure_eq!(p.wait_exit()?, -1028);

    // From a process channel both work, with the creating handle's rights.
    let mut p = prepare(&job, "gate fault:privileged")?;
    let limited = check(
        p.process()
            .duplicate(Rights::EXCEPTION_CHANNEL_REQUIRED | Rights::ENUMERATE),
        "duplicate",
    )?;
    let ch = check(limited.create_exception_channel(0), "process channel")?;
    p.start()?;
    p.open_gate()?;
    let (_, exception) = wait_exception(&ch, "process channel")?;
    let process = check(exception.process(), "exception_get_process")?;
    ensure_eq!(process.koid().ok(), Some(p.pid()));
    ensure_eq!(
        rights_of(&process)?,
        Rights::EXCEPTION_CHANNEL_REQUIRED | Rights::ENUMERATE
    );
    let thread = check(exception.thread(), "exception_get_thread")?;
    ensure_eq!(
        rights_of(&thread)?,
        Rights::EXCEPTION_CHANNEL_REQUIRED | Rights::ENUMERATE
    );
    drop(thread);
    drop(process);
    let thread = check(p.thread().duplicate(Rights::SAME_RIGHTS), "duplicate")?;
    set_pc(&thread, Fault::PrivilegedInstruction.resume())?;
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}
