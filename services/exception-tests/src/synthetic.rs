//! Items 18, 19, 20 and 25: the synthetic exceptions THREAD_STARTING,
//! THREAD_EXITING and PROCESS_STARTING, and the absence of PROCESS_EXITING.

use crate::env::*;
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::exception::*;
use spinel_rt::zx::abi::info::{THREAD_STATE_BLOCKED_EXCEPTION, THREAD_STATE_DEAD};
use spinel_rt::zx::{HandleBased, Port, Signals, Status, Task, Thread};
use spinel_rt::{ensure, ensure_eq};

pub fn c18() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "thread-exit")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    let others = [
        (
            check(p.thread().create_exception_channel(0), "thread")?,
            "thread channel",
        ),
        (
            check(p.process().create_exception_channel(0), "process")?,
            "process channel",
        ),
        (
            check(job.create_exception_channel(0), "job")?,
            "job channel",
        ),
    ];
    p.start()?;
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_STARTING);
    ensure_eq!((info.pid, info.tid), (p.pid(), p.tid()));
    let state = check(p.thread().info(), "INFO_THREAD")?;
    ensure_eq!(
        (state.state, state.wait_exception_channel_type),
        (
            THREAD_STATE_BLOCKED_EXCEPTION,
            EXCEPTION_CHANNEL_TYPE_DEBUGGER
        ),
        "waits for THREAD_STARTING"
    );
    for (ch, name) in &others {
        expect_nothing(ch, name)?;
    }
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?; // any answer lets it go

    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_EXITING);
    let state = check(p.thread().info(), "INFO_THREAD")?;
    ensure_eq!(
        state.state,
        THREAD_STATE_BLOCKED_EXCEPTION,
        "waits for THREAD_EXITING"
    );
    ensure!(!p.exited(), "the process ended before the answer");
    for (ch, name) in &others {
        expect_nothing(ch, name)?;
    }
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    wait_signal(p.thread(), Signals::THREAD_TERMINATED, "the thread's end")?;
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.state,
        THREAD_STATE_DEAD
    );
    Ok(())
}

pub fn c18_port() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "thread-exit")?;
    let port = check(Port::create(), "port_create")?;
    check(
        p.process()
            .bind_exception_port(&port, 3, EXCEPTION_PORT_DEBUGGER),
        "bind the debugger port",
    )?;
    p.start()?;
    let packet = wait_packet(&port, "debugger port")?;
    ensure_eq!((packet.key, packet.packet_type), (3, EXCP_THREAD_STARTING));
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.state,
        THREAD_STATE_BLOCKED_EXCEPTION
    );
    check(
        p.thread().resume_from_exception(&port, 0),
        "task_resume_from_exception",
    )?;
    let packet = wait_packet(&port, "debugger port")?;
    ensure_eq!(packet.packet_type, EXCP_THREAD_EXITING);
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.state,
        THREAD_STATE_BLOCKED_EXCEPTION
    );
    check(p.thread().resume(RESUME_EXCEPTION), "task_resume")?;
    wait_signal(p.thread(), Signals::THREAD_TERMINATED, "the thread's end")?;
    Ok(())
}

pub fn c19() -> TestResult {
    let grand = new_job()?;
    let parent = child_job(&grand)?;
    let job = child_job(&parent)?;
    let far = check(
        grand.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "far job debugger",
    )?;
    let near1 = check(
        parent.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "first job debugger",
    )?;
    let near2 = check(
        parent.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "second job debugger",
    )?;
    let job_ch = check(job.create_exception_channel(0), "job")?;
    let parent_ch = check(parent.create_exception_channel(0), "parent job")?;
    let mut p = prepare(&job, "spawn:sleep sleep")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "process debugger",
    )?;
    p.start()?;
    // First job debugger (an ancestor's), then the second; then THREAD_STARTING.
    let (info, exception) = wait_exception(&near1, "first job debugger")?;
    ensure_eq!(
        (info.exception_type, info.pid, info.tid),
        (EXCP_PROCESS_STARTING, p.pid(), p.tid())
    );
    expect_nothing(&near2, "second job debugger (one at a time)")?;
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.wait_exception_channel_type,
        EXCEPTION_CHANNEL_TYPE_JOB_DEBUGGER
    );
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    let (info, exception) = wait_exception(&near2, "second job debugger")?;
    ensure_eq!(info.exception_type, EXCP_PROCESS_STARTING);
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    expect_nothing(
        &far,
        "far job debugger (no bubbling past the job that had them)",
    )?;
    expect_nothing(&job_ch, "job channel")?;
    expect_nothing(&parent_ch, "parent job channel")?;
    let (info, exception) = wait_exception(&debugger, "process debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_STARTING);
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    // Only the first thread: the second thread's start reaches the process
    // debugger alone.
    let (info, exception) = wait_exception(&debugger, "process debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_STARTING);
    ensure!(info.tid != p.tid(), "the second thread's start");
    expect_nothing(&near1, "first job debugger")?;
    expect_nothing(&near2, "second job debugger")?;
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    Ok(())
}

pub fn c19_port() -> TestResult {
    let job = new_job()?;
    let port = check(Port::create(), "port_create")?;
    check(
        job.bind_exception_port(&port, 9, EXCEPTION_PORT_DEBUGGER),
        "bind the job debugger port",
    )?;
    ensure_eq!(
        job.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER)
            .err(),
        Some(Status::ALREADY_BOUND)
    );
    let p = spawn(&job, "exit:5")?;
    let packet = wait_packet(&port, "job debugger port")?;
    ensure_eq!((packet.key, packet.packet_type), (9, EXCP_PROCESS_STARTING));
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.wait_exception_channel_type,
        EXCEPTION_CHANNEL_TYPE_JOB_DEBUGGER
    );
    check(
        p.thread().resume_from_exception(&port, RESUME_TRY_NEXT),
        "task_resume_from_exception",
    )?;
    ensure_eq!(p.wait_exit()?, 5);
    Ok(())
}

pub fn c20() -> TestResult {
    let grand = new_job()?;
    let job = child_job(&grand)?;
    let p = spawn(&job, "gate exit:7")?;
    let job_debugger = check(
        job.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "job debugger",
    )?;
    let grand_debugger = check(
        grand.create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "ancestor job debugger",
    )?;
    let job_ch = check(job.create_exception_channel(0), "job")?;
    let process_ch = check(p.process().create_exception_channel(0), "process")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    p.open_gate()?;
    ensure_eq!(p.wait_exit()?, 7);
    for (ch, name) in [
        (&job_debugger, "job debugger"),
        (&grand_debugger, "ancestor job debugger"),
        (&job_ch, "job channel"),
        (&process_ch, "process channel"),
    ] {
        expect_nothing(ch, name)?;
    }
    let (info, _) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_EXITING);
    expect_nothing(&debugger, "debugger (a second message)")?;
    let all_types = [
        EXCP_GENERAL,
        EXCP_FATAL_PAGE_FAULT,
        EXCP_UNDEFINED_INSTRUCTION,
        EXCP_SW_BREAKPOINT,
        EXCP_HW_BREAKPOINT,
        EXCP_UNALIGNED_ACCESS,
        EXCP_THREAD_STARTING,
        EXCP_THREAD_EXITING,
        EXCP_POLICY_ERROR,
        EXCP_PROCESS_STARTING,
    ];
    ensure_eq!(all_types.len(), 10, "no PROCESS_EXITING type exists");
    Ok(())
}

pub fn c25() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "gate spawn:sleep sleep")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    p.open_gate()?;
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_STARTING);
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    let other = Thread::from_handle(p.read_handle()?);
    ensure_eq!(other.koid().ok(), Some(info.tid));
    check(other.kill(), "killing the thread")?;
    wait_signal(
        &other,
        Signals::THREAD_TERMINATED,
        "the killed thread's end (no wait)",
    )?;
    ensure_eq!(check(other.info(), "INFO_THREAD")?.state, THREAD_STATE_DEAD);
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(
        (info.exception_type, info.tid),
        (EXCP_THREAD_EXITING, other.koid().unwrap_or(0))
    );
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    // Killing the whole process: each thread's THREAD_EXITING arrives,
    // without blocking.
    check(p.process().kill(), "killing the process")?;
    wait_signal(
        p.process(),
        Signals::PROCESS_TERMINATED,
        "the process's end",
    )?;
    let (info, _) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(
        (info.exception_type, info.tid),
        (EXCP_THREAD_EXITING, p.tid())
    );
    Ok(())
}
