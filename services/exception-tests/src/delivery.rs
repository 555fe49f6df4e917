//! Items 9 to 17: who gets an exception, in which order, and what each
//! answer does.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::env::*;
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::exception::*;
use spinel_rt::zx::abi::info::{THREAD_STATE_BLOCKED_EXCEPTION, THREAD_STATE_DEAD};
use spinel_rt::zx::{
    self, Channel, Fault, HandleBased, HandleValue, ObjectCalls, Port, Signals, Status, Task,
    Thread,
};
use spinel_rt::{ensure, ensure_eq};

pub fn c09() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "gate fault:privileged")?;
    let before = check(p.thread().info(), "INFO_THREAD")?;
    ensure!(
        before.state != THREAD_STATE_BLOCKED_EXCEPTION && before.state != THREAD_STATE_DEAD,
        "state {:#x} before the fault",
        before.state
    );
    let channels = [
        (
            check(
                p.process()
                    .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
                "debugger",
            )?,
            EXCEPTION_CHANNEL_TYPE_DEBUGGER,
        ),
        (
            check(p.thread().create_exception_channel(0), "thread")?,
            EXCEPTION_CHANNEL_TYPE_THREAD,
        ),
        (
            check(p.process().create_exception_channel(0), "process")?,
            EXCEPTION_CHANNEL_TYPE_PROCESS,
        ),
        (
            check(job.create_exception_channel(0), "job")?,
            EXCEPTION_CHANNEL_TYPE_JOB,
        ),
    ];
    p.open_gate()?;
    for (ch, kind) in &channels {
        wait_signal(ch, Signals::CHANNEL_READABLE, "the exception")?;
        let info = check(p.thread().info(), "INFO_THREAD")?;
        ensure_eq!(info.state, THREAD_STATE_BLOCKED_EXCEPTION);
        ensure_eq!(info.wait_exception_channel_type, *kind);
        let (_, exception) = wait_exception(ch, "handler")?;
        answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    }
    ensure_eq!(p.wait_exit()?, -1028);

    // The port era reports the same kinds.
    let p = spawn(&job, "gate fault:privileged")?;
    let port = check(Port::create(), "port_create")?;
    check(p.thread().bind_exception_port(&port, 1, 0), "bind")?;
    p.open_gate()?;
    wait_packet(&port, "thread port")?;
    let info = check(p.thread().info(), "INFO_THREAD")?;
    ensure_eq!(
        (info.state, info.wait_exception_channel_type),
        (
            THREAD_STATE_BLOCKED_EXCEPTION,
            EXCEPTION_CHANNEL_TYPE_THREAD
        )
    );
    Ok(())
}

fn readable(ch: &Channel) -> bool {
    ch.wait_one(Signals::CHANNEL_READABLE, 0).is_ok()
}

pub fn c10() -> TestResult {
    let grand = new_job()?;
    let parent = child_job(&grand)?;
    let job = child_job(&parent)?;
    let p = spawn(&job, "gate fault:privileged")?;
    let grand_ch = check(grand.create_exception_channel(0), "grandparent job")?;
    let parent_ch = check(parent.create_exception_channel(0), "parent job")?;
    let job_ch = check(job.create_exception_channel(0), "job")?;
    let process_ch = check(p.process().create_exception_channel(0), "process")?;
    let thread_ch = check(p.thread().create_exception_channel(0), "thread")?;
    let debugger_ch = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    let channels = [
        (&grand_ch, "grandparent job"),
        (&parent_ch, "parent job"),
        (&job_ch, "job"),
        (&process_ch, "process"),
        (&thread_ch, "thread"),
        (&debugger_ch, "debugger"),
    ];
    let order = sequence(&p, &channels, None)?;
    ensure_eq!(
        order,
        [
            "debugger",
            "thread",
            "process",
            "job",
            "parent job",
            "grandparent job"
        ]
    );
    ensure_eq!(p.wait_exit()?, -1028);
    Ok(())
}

/// Open `p`'s gate and follow its one exception from handler to handler,
/// answering TRY_NEXT (with SECOND_CHANCE from `second_chance_from` the
/// first time); the order of receipt. Ends when the process is gone.
fn sequence(
    p: &Child,
    channels: &[(&Channel, &'static str)],
    second_chance_from: Option<&str>,
) -> Result<Vec<&'static str>, String> {
    p.open_gate()?;
    let tid = p.tid();
    let mut order = Vec::new();
    let deadline = zx::deadline_after(LONG);
    loop {
        let mut got = None;
        for (ch, name) in channels {
            if let Ok((info, exception)) = ch.read_exception() {
                got = Some((info, *name, exception));
                break;
            }
        }
        let Some((info, name, exception)) = got else {
            if p.exited() && channels.iter().all(|(ch, _)| !readable(ch)) {
                return Ok(order);
            }
            if zx::clock_get_monotonic() > deadline {
                return Err(format!("the walk stalled after {order:?}"));
            }
            let _ = zx::nanosleep(zx::deadline_after(1_000_000));
            continue;
        };
        if info.exception_type == EXCP_THREAD_EXITING {
            // The process died after everyone passed: its threads' last words.
            drop(exception);
            continue;
        }
        ensure_eq!(info.tid, tid, "an exception of another thread");
        order.push(name);
        if Some(name) == second_chance_from && !order[..order.len() - 1].contains(&name) {
            check(
                exception.set_strategy(EXCEPTION_STRATEGY_SECOND_CHANCE),
                "set SECOND_CHANCE",
            )?;
        }
        answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    }
}

pub fn c11() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "spawn:sleep gate fault:privileged")?;
    let ch = check(p.process().create_exception_channel(0), "process")?;
    p.start()?;
    let other = Thread::from_handle(p.read_handle()?);
    p.open_gate()?;
    let (_, exception) = wait_exception(&ch, "process channel")?;
    let info = check(p.process().info(), "INFO_PROCESS")?;
    ensure!(!info.exited(), "exited before the answer");
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    ensure_eq!(p.wait_exit()?, TASK_RETCODE_EXCEPTION_KILL_VALUE);
    ensure_eq!(TASK_RETCODE_EXCEPTION_KILL_VALUE, -1028);
    wait_signal(&other, Signals::THREAD_TERMINATED, "the other thread's end")?;
    ensure_eq!(check(other.info(), "INFO_THREAD")?.state, THREAD_STATE_DEAD);
    ensure_eq!(
        check(p.thread().info(), "INFO_THREAD")?.state,
        THREAD_STATE_DEAD
    );
    // No handler at all: killed at once.
    let q = spawn(&job, "fault:privileged")?;
    ensure_eq!(q.wait_exit()?, -1028);
    Ok(())
}

const TASK_RETCODE_EXCEPTION_KILL_VALUE: i64 = zx::abi::object::TASK_RETCODE_EXCEPTION_KILL;

pub fn c12() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "fault:undefined")?;
    let ch = check(p.process().create_exception_channel(0), "process")?;
    p.start()?;
    let site = Fault::UndefinedInstruction.site();
    for round in 0..3 {
        let (info, exception) = wait_exception(&ch, "process channel")?;
        ensure_eq!(
            info.exception_type,
            EXCP_UNDEFINED_INSTRUCTION,
            "round {round}"
        );
        let thread = check(exception.thread(), "exception_get_thread")?;
        let registers = check(thread.read_registers(), "thread_read_state")?;
        ensure_eq!(
            registers.pc(),
            site,
            "round {round}: pc at the faulting instruction"
        );
        answer(exception, EXCEPTION_STATE_HANDLED)?;
    }
    ensure!(!p.exited(), "the child ended");
    Ok(())
}

pub fn c13() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "gate spawn:fault-privileged sleep")?;
    let ch = check(p.process().create_exception_channel(0), "process")?;
    p.start()?;
    p.open_gate()?;
    let (info, exception) = wait_exception(&ch, "process channel")?;
    let other = check(exception.thread(), "exception_get_thread")?;
    ensure!(info.tid != p.tid(), "the main thread faulted");
    answer(exception, EXCEPTION_STATE_THREAD_EXIT)?;
    wait_signal(
        &other,
        Signals::THREAD_TERMINATED,
        "the faulting thread's end",
    )?;
    ensure_eq!(check(other.info(), "INFO_THREAD")?.state, THREAD_STATE_DEAD);
    let main = check(p.thread().info(), "INFO_THREAD")?;
    ensure!(main.state != THREAD_STATE_DEAD, "the main thread died too");
    ensure!(!p.exited(), "the process ended");
    Ok(())
}

pub fn c14() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "gate fault:privileged")?;
    let ch = check(p.process().create_exception_channel(0), "process")?;
    p.start()?;
    p.open_gate()?;
    let (_, exception) = wait_exception(&ch, "process channel")?;
    use zx::object::{object_get_property, object_set_property};
    // Has the property rights, but is no exception.
    let not_exception = p.process().raw();
    let one = 1u32.to_le_bytes();
    let mut buffer = [0u8; 4];
    for property in [PROP_EXCEPTION_STATE, PROP_EXCEPTION_STRATEGY] {
        ensure_eq!(
            object_set_property(not_exception, property, &one).err(),
            Some(Status::WRONG_TYPE)
        );
        ensure_eq!(
            object_get_property(not_exception, property, &mut buffer).err(),
            Some(Status::WRONG_TYPE)
        );
        ensure_eq!(
            object_set_property(exception.raw(), property, &[1, 0]).err(),
            Some(Status::BUFFER_TOO_SMALL)
        );
        ensure_eq!(
            object_get_property(exception.raw(), property, &mut buffer[..3]).err(),
            Some(Status::BUFFER_TOO_SMALL)
        );
        ensure_eq!(
            object_set_property(exception.raw(), property, &7u32.to_le_bytes()).err(),
            Some(Status::INVALID_ARGS)
        );
    }
    ensure_eq!(
        object_set_property(exception.raw(), 9999, &one).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(exception.state(), Ok(EXCEPTION_STATE_TRY_NEXT));
    check(exception.set_state(EXCEPTION_STATE_HANDLED), "set HANDLED")?;
    ensure_eq!(exception.state(), Ok(EXCEPTION_STATE_HANDLED));
    ensure_eq!(
        object_set_property(HandleValue(0x1111_1113), PROP_EXCEPTION_STATE, &one).err(),
        Some(Status::BAD_HANDLE)
    );
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}

pub fn c15() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "gate fault:privileged")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    let thread = check(p.thread().create_exception_channel(0), "thread")?;
    let process = check(p.process().create_exception_channel(0), "process")?;
    let job_ch = check(job.create_exception_channel(0), "job")?;
    let channels = [
        (&debugger, "debugger"),
        (&thread, "thread"),
        (&process, "process"),
        (&job_ch, "job"),
    ];
    let order = sequence(&p, &channels, Some("debugger"))?;
    ensure_eq!(order, ["debugger", "thread", "process", "debugger", "job"]);

    // SECOND_CHANCE from any other handler: BAD_STATE.
    let p = spawn(&job, "gate fault:privileged")?;
    let thread = check(p.thread().create_exception_channel(0), "thread")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    p.open_gate()?;
    let (_, exception) = wait_exception(&debugger, "debugger")?;
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    let (_, exception) = wait_exception(&thread, "thread channel")?;
    ensure_eq!(
        exception
            .set_strategy(EXCEPTION_STRATEGY_SECOND_CHANCE)
            .err(),
        Some(Status::BAD_STATE)
    );
    Ok(())
}

pub fn c16() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "gate fault:privileged")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    let process = check(p.process().create_exception_channel(0), "process")?;
    let job_ch = check(job.create_exception_channel(0), "job")?;
    p.open_gate()?;
    let (_, exception) = wait_exception(&debugger, "debugger")?;
    check(
        exception.set_strategy(EXCEPTION_STRATEGY_SECOND_CHANCE),
        "set SECOND_CHANCE",
    )?;
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    drop(debugger);
    let (_, exception) = wait_exception(&process, "process channel")?;
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    let (info, exception) = wait_exception(&job_ch, "job channel (straight on)")?;
    ensure_eq!(info.tid, p.tid());
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}

pub fn c17() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "gate fault:privileged")?;
    let process = check(p.process().create_exception_channel(0), "process")?;
    let thread = check(p.thread().create_exception_channel(0), "thread")?;
    p.open_gate()?;
    wait_signal(
        &thread,
        Signals::CHANNEL_READABLE,
        "the thread channel's message",
    )?;
    drop(thread); // unread: forwarded at once
    let (_, exception) = wait_exception(&process, "process channel (forwarded)")?;
    drop(process); // already read: nothing changes, the handle decides
    let info = check(p.thread().info(), "INFO_THREAD")?;
    ensure_eq!(info.state, THREAD_STATE_BLOCKED_EXCEPTION);
    ensure_eq!(
        info.wait_exception_channel_type,
        EXCEPTION_CHANNEL_TYPE_PROCESS
    );
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}
