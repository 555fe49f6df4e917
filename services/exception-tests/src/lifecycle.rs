//! Items 23, 24, 26, 27 and 36: kills, suspension and policy exceptions
//! meeting exceptions, and processes that die holding their own handlers.

use crate::env::*;
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::exception::*;
use spinel_rt::zx::abi::info::{
    THREAD_STATE_BLOCKED_EXCEPTION, THREAD_STATE_DEAD, THREAD_STATE_SUSPENDED,
};
use spinel_rt::zx::abi::object::TASK_RETCODE_SYSCALL_KILL;
use spinel_rt::zx::abi::policy::*;
use spinel_rt::zx::{Fault, HandleBased, Signals, Status, Task, Thread};
use spinel_rt::{ensure, ensure_eq};

pub fn c23() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "spawn:sleep gate fault:privileged")?;
    let thread_ch = check(p.thread().create_exception_channel(0), "thread")?;
    let process_ch = check(p.process().create_exception_channel(0), "process")?;
    p.start()?;
    let _other = Thread::from_handle(p.read_handle()?);
    p.open_gate()?;
    let (_, exception) = wait_exception(&thread_ch, "thread channel")?;
    check(p.thread().kill(), "killing the thread")?;
    wait_signal(p.thread(), Signals::THREAD_TERMINATED, "the thread's end")?;
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    expect_nothing(&process_ch, "process channel (not forwarded)")?;
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.state,
        THREAD_STATE_DEAD,
        "not resumed"
    );
    ensure!(!p.exited(), "the other thread lives on");
    Ok(())
}

pub fn c24() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "fault:privileged")?;
    let ch = check(p.process().create_exception_channel(0), "process")?;
    p.start()?;
    let (_, exception) = wait_exception(&ch, "process channel")?;
    check(p.process().kill(), "killing the process")?;
    wait_signal(
        p.process(),
        Signals::PROCESS_TERMINATED,
        "the process's end",
    )?;
    let thread = check(exception.thread(), "exception_get_thread after the kill")?;
    ensure_eq!(thread.koid().ok(), Some(p.tid()));
    let process = check(exception.process(), "exception_get_process after the kill")?;
    ensure_eq!(process.koid().ok(), Some(p.pid()));
    ensure_eq!(exception.set_state(EXCEPTION_STATE_HANDLED), Ok(()));
    drop(exception);
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.state,
        THREAD_STATE_DEAD
    );
    ensure_eq!(p.wait_exit()?, TASK_RETCODE_SYSCALL_KILL);
    Ok(())
}

pub fn c26() -> TestResult {
    let job = new_job()?;
    for handled_first in [true, false] {
        let mut p = prepare(&job, "fault:privileged")?;
        let ch = check(p.process().create_exception_channel(0), "process")?;
        p.start()?;
        let (_, exception) = wait_exception(&ch, "process channel")?;
        let token = check(p.thread().suspend(), "task_suspend")?;
        set_pc(p.thread(), Fault::PrivilegedInstruction.resume())?;
        if handled_first {
            answer(exception, EXCEPTION_STATE_HANDLED)?;
            wait_state(p.thread(), THREAD_STATE_SUSPENDED)?;
            ensure!(!p.exited(), "ran while suspended");
            drop(token);
        } else {
            drop(token);
            let _ = spinel_rt::zx::nanosleep(spinel_rt::zx::deadline_after(SHORT));
            ensure_eq!(
                check(p.thread().info(), "INFO_THREAD")?.state,
                THREAD_STATE_BLOCKED_EXCEPTION
            );
            ensure!(!p.exited(), "ran while in the exception");
            answer(exception, EXCEPTION_STATE_HANDLED)?;
        }
        ensure_eq!(p.wait_exit()?, RECOVERED, "handled first: {handled_first}");
    }
    // Suspension is counted.
    let p = spawn(&job, "spin")?;
    let t1 = check(p.thread().suspend(), "suspend the thread")?;
    let t2 = check(p.process().suspend(), "suspend the process")?;
    wait_state(p.thread(), THREAD_STATE_SUSPENDED)?;
    drop(t1);
    let _ = spinel_rt::zx::nanosleep(spinel_rt::zx::deadline_after(SHORT));
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.state,
        THREAD_STATE_SUSPENDED
    );
    drop(t2);
    let deadline = spinel_rt::zx::deadline_after(LONG);
    while check(p.thread().info(), "INFO_THREAD")?.state == THREAD_STATE_SUSPENDED {
        ensure!(
            spinel_rt::zx::clock_get_monotonic() < deadline,
            "still suspended with both tokens closed"
        );
        let _ = spinel_rt::zx::nanosleep(spinel_rt::zx::deadline_after(1_000_000));
    }
    Ok(())
}

pub fn c27() -> TestResult {
    // DENY_EXCEPTION, handled: the call returns ACCESS_DENIED once the thread
    // resumes.
    let job = new_job()?;
    check(
        job.set_policy(POL_NEW_CHANNEL, POL_ACTION_DENY_EXCEPTION),
        "job_set_policy",
    )?;
    let mut caught = prepare(&job, "try-channel")?;
    let catcher = check(caught.process().create_exception_channel(0), "process")?;
    caught.start()?;
    let (info, exception) = wait_exception(&catcher, "process channel")?;
    ensure_eq!(info.exception_type, EXCP_POLICY_ERROR);
    let report = check(caught.thread().exception_report(), "the exception report")?;
    ensure_eq!(report.header.exception_type, EXCP_POLICY_ERROR);
    ensure_eq!(report.context.synth_code, POL_NEW_CHANNEL);
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    ensure_eq!(caught.read_status()?, Status::ACCESS_DENIED);
    ensure_eq!(caught.wait_exit()?, RECOVERED);

    // Unhandled: fatal.
    let p = spawn(&job, "try-channel")?;
    ensure_eq!(p.wait_exit()?, -1028);

    // ALLOW_EXCEPTION: the channel is made, after the thread stops.
    let job2 = new_job()?;
    check(
        job2.set_policy(POL_NEW_CHANNEL, POL_ACTION_ALLOW_EXCEPTION),
        "job_set_policy",
    )?;
    let mut q = prepare(&job2, "try-channel")?;
    let qch = check(q.process().create_exception_channel(0), "process")?;
    q.start()?;
    let (info, exception) = wait_exception(&qch, "process channel")?;
    ensure_eq!(info.exception_type, EXCP_POLICY_ERROR);
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    ensure_eq!(q.read_status()?, Status::OK);
    ensure_eq!(q.wait_exit()?, RECOVERED);
    Ok(())
}

pub fn c36() -> TestResult {
    let job = new_job()?;
    let p = spawn_with(
        &job,
        "own-handlers exit:3",
        Options {
            job: Some(&job),
            port: None,
        },
    )?;
    ensure_eq!(p.read_status()?, Status::OK, "handlers set up");
    ensure_eq!(p.wait_exit()?, 3);
    // The kernel is still here and still works: another child, handled.
    let mut q = prepare(&job, "fault:privileged")?;
    let ch = check(q.process().create_exception_channel(0), "process")?;
    q.start()?;
    let (_, exception) = wait_exception(&ch, "process channel")?;
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;
    ensure_eq!(q.wait_exit()?, RECOVERED);
    Ok(())
}
