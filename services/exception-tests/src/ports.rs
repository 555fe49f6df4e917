//! Items 30 to 35: the port era (Zircon's exception ports and Magenta's
//! system port and `task_resume`).

use alloc::format;

use crate::env::*;
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::exception::*;
use spinel_rt::zx::abi::info::THREAD_STATE_BLOCKED_EXCEPTION;
use spinel_rt::zx::abi::object::TASK_RETCODE_EXCEPTION_KILL;
use spinel_rt::zx::exception::{task_bind_exception_port, task_resume_from_exception};
use spinel_rt::zx::{
    self, Fault, HandleBased, HandleValue, Port, PortPacket, Status, Task, ThreadInfo,
};
use spinel_rt::{ensure, ensure_eq};

pub fn c30() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "sleep")?;
    let port = check(Port::create(), "port_create")?;
    let cases = [
        (p.thread().raw(), 0, "thread"),
        (p.process().raw(), 0, "process"),
        (p.process().raw(), EXCEPTION_PORT_DEBUGGER, "debugger"),
        (job.raw(), 0, "job"),
        (job.raw(), EXCEPTION_PORT_DEBUGGER, "job debugger"),
    ];
    for (task, options, name) in cases {
        let invalid = HandleValue::INVALID;
        ensure_eq!(
            task_bind_exception_port(task, invalid, 0, options).err(),
            Some(Status::BAD_STATE),
            "{name}: unbinding an empty slot"
        );
        check(
            task_bind_exception_port(task, port.raw(), 1, options),
            &format!("{name}: bind"),
        )?;
        ensure_eq!(
            task_bind_exception_port(task, port.raw(), 2, options).err(),
            Some(Status::ALREADY_BOUND),
            "{name}: a second bind"
        );
        check(
            task_bind_exception_port(task, invalid, 0, options),
            &format!("{name}: unbind"),
        )?;
        ensure_eq!(
            task_bind_exception_port(task, invalid, 0, options).err(),
            Some(Status::BAD_STATE),
            "{name}: unbinding twice"
        );
    }
    let (thread, process) = (p.thread().raw(), p.process().raw());
    ensure_eq!(
        task_bind_exception_port(thread, port.raw(), 0, EXCEPTION_PORT_DEBUGGER).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        task_bind_exception_port(process, port.raw(), 0, 4).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        task_bind_exception_port(process, port.raw(), 0, EXCEPTION_PORT_UNBIND_QUIETLY).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        task_bind_exception_port(HandleValue(0x5555_5557), port.raw(), 0, 0).err(),
        Some(Status::BAD_HANDLE)
    );
    ensure_eq!(
        task_bind_exception_port(port.raw(), port.raw(), 0, 0).err(),
        Some(Status::WRONG_TYPE)
    );
    ensure_eq!(
        task_bind_exception_port(process, thread, 0, 0).err(),
        Some(Status::WRONG_TYPE)
    );
    // A slot holds one kind: a live channel makes a bind ALREADY_BOUND and back.
    let ch = check(p.process().create_exception_channel(0), "process channel")?;
    ensure_eq!(
        task_bind_exception_port(process, port.raw(), 0, 0).err(),
        Some(Status::ALREADY_BOUND)
    );
    drop(ch);
    check(task_bind_exception_port(process, port.raw(), 0, 0), "bind")?;
    ensure_eq!(
        p.process().create_exception_channel(0).err(),
        Some(Status::ALREADY_BOUND)
    );
    Ok(())
}

pub fn c31() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "fault:breakpoint")?;
    let port = check(Port::create(), "port_create")?;
    check(
        p.process().bind_exception_port(&port, 0xfeed_f00d, 0),
        "bind",
    )?;
    p.start()?;
    let packet = wait_packet(&port, "process port")?;
    let bytes = packet.to_bytes();
    ensure_eq!(bytes.len(), 48);
    ensure_eq!(core::mem::size_of::<PortPacket>(), 48);
    ensure_eq!(packet.key, 0xfeed_f00d);
    ensure_eq!(packet.packet_type, EXCP_SW_BREAKPOINT);
    ensure_eq!(packet.status, Status::OK.0);
    let e = packet.as_exception();
    ensure_eq!(
        (e.pid, e.tid, e.reserved0, e.reserved1),
        (p.pid(), p.tid(), 0, 0)
    );
    let report = check(p.thread().exception_report(), "the exception report")?;
    ensure_eq!(report.header.exception_type, EXCP_SW_BREAKPOINT);
    set_pc(p.thread(), Fault::SoftwareBreakpoint.resume())?;
    check(
        p.thread().resume_from_exception(&port, 0),
        "task_resume_from_exception",
    )?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}

/// Resume a thread stopped at the privileged-instruction fault past it.
fn skip_fault(p: &Child) -> TestResult {
    set_pc(p.thread(), Fault::PrivilegedInstruction.resume())
}

pub fn c32() -> TestResult {
    let job = new_job()?;
    let p = spawn(
        &job,
        "gate fault:privileged gate fault:privileged gate fault:privileged gate fault:privileged",
    )?;
    let port = check(Port::create(), "port_create")?;
    let other = check(Port::create(), "port_create")?;
    let process_ch = check(p.process().create_exception_channel(0), "process")?;
    check(p.thread().bind_exception_port(&port, 1, 0), "bind")?;
    let thread = p.thread().raw();
    ensure_eq!(
        task_resume_from_exception(thread, port.raw(), 0).err(),
        Some(Status::BAD_STATE),
        "not in an exception"
    );
    p.open_gate()?;
    wait_packet(&port, "thread port")?;
    ensure_eq!(
        task_resume_from_exception(thread, other.raw(), 0).err(),
        Some(Status::ACCESS_DENIED),
        "another port"
    );
    for options in [1, 4] {
        ensure_eq!(
            task_resume_from_exception(thread, port.raw(), options).err(),
            Some(Status::INVALID_ARGS),
            "options {options}"
        );
    }
    skip_fault(&p)?;
    check(task_resume_from_exception(thread, port.raw(), 0), "resume")?;
    ensure_eq!(
        task_resume_from_exception(thread, port.raw(), 0).err(),
        Some(Status::BAD_STATE),
        "a second resume"
    );

    // TRY_NEXT forwards (here to the process channel).
    p.open_gate()?;
    wait_packet(&port, "thread port")?;
    check(
        task_resume_from_exception(thread, port.raw(), RESUME_TRY_NEXT),
        "resume TRY_NEXT",
    )?;
    ensure_eq!(
        task_resume_from_exception(thread, port.raw(), 0).err(),
        Some(Status::BAD_STATE)
    );
    let (_, exception) = wait_exception(&process_ch, "process channel (forwarded)")?;
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;

    // Magenta: task_resume with RESUME_EXCEPTION [| TRY_NEXT].
    p.open_gate()?;
    wait_packet(&port, "thread port")?;
    ensure_eq!(
        p.thread().resume(RESUME_TRY_NEXT).err(),
        Some(Status::INVALID_ARGS)
    );
    check(
        p.thread().resume(RESUME_EXCEPTION | RESUME_TRY_NEXT),
        "task_resume TRY_NEXT",
    )?;
    let (_, exception) = wait_exception(&process_ch, "process channel (task_resume)")?;
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;
    p.open_gate()?;
    wait_packet(&port, "thread port")?;
    skip_fault(&p)?;
    check(p.thread().resume(RESUME_EXCEPTION), "task_resume")?;
    ensure_eq!(
        p.thread().resume(RESUME_EXCEPTION).err(),
        Some(Status::BAD_STATE)
    );
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}

fn thread_info(p: &Child) -> Result<ThreadInfo, alloc::string::String> {
    check(p.thread().info(), "INFO_THREAD")
}

pub fn c33() -> TestResult {
    let job = new_job()?;
    let p = spawn(
        &job,
        "gate fault:privileged gate fault:privileged gate fault:breakpoint",
    )?;
    let port = check(Port::create(), "port_create")?;
    let process_ch = check(p.process().create_exception_channel(0), "process")?;

    // Unbinding forwards.
    check(p.thread().bind_exception_port(&port, 1, 0), "bind")?;
    p.open_gate()?;
    wait_packet(&port, "thread port")?;
    check(p.thread().unbind_exception_port(0), "unbind")?;
    let (_, exception) = wait_exception(&process_ch, "process channel (after unbind)")?;
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;

    // Closing the port's last handle forwards.
    check(p.thread().bind_exception_port(&port, 1, 0), "bind")?;
    p.open_gate()?;
    wait_packet(&port, "thread port")?;
    drop(port);
    let (_, exception) = wait_exception(&process_ch, "process channel (after close)")?;
    handled_at(exception, Fault::PrivilegedInstruction.resume())?;

    // Quiet unbind: detach and re-attach without losing the stop.
    let debug_port = check(Port::create(), "port_create")?;
    check(
        p.process()
            .bind_exception_port(&debug_port, 7, EXCEPTION_PORT_DEBUGGER),
        "bind the debugger port",
    )?;
    p.open_gate()?;
    wait_packet(&debug_port, "debugger port")?;
    let first = check(p.thread().exception_report(), "the exception report")?;
    check(
        p.process()
            .unbind_exception_port(EXCEPTION_PORT_DEBUGGER | EXCEPTION_PORT_UNBIND_QUIETLY),
        "unbind quietly",
    )?;
    expect_nothing(&process_ch, "process channel (kept waiting)")?;
    let info = thread_info(&p)?;
    ensure_eq!(
        (info.state, info.wait_exception_channel_type),
        (
            THREAD_STATE_BLOCKED_EXCEPTION,
            EXCEPTION_CHANNEL_TYPE_DEBUGGER
        )
    );
    let new_port = check(Port::create(), "port_create")?;
    check(
        p.process()
            .bind_exception_port(&new_port, 8, EXCEPTION_PORT_DEBUGGER),
        "bind again",
    )?;
    ensure_eq!(
        check(p.thread().exception_report(), "the exception report")?,
        first,
        "the same report"
    );
    ensure_eq!(
        p.thread().resume_from_exception(&debug_port, 0).err(),
        Some(Status::ACCESS_DENIED),
        "the old port"
    );
    set_pc(p.thread(), Fault::SoftwareBreakpoint.resume())?;
    check(
        p.thread().resume_from_exception(&new_port, 0),
        "resume with the new port",
    )?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}

pub fn c34() -> TestResult {
    use spinel_rt::zx::abi::exception::EXCEPTION_PORT_TYPE_SYSTEM;
    let system = check(Port::create(), "port_create")?;
    let invalid = HandleValue::INVALID;
    ensure_eq!(
        task_bind_exception_port(invalid, system.raw(), 0, EXCEPTION_PORT_DEBUGGER).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        task_bind_exception_port(invalid, invalid, 0, EXCEPTION_PORT_UNBIND_QUIETLY).err(),
        Some(Status::INVALID_ARGS)
    );
    // Only the root job's authority: a process in a job below the root,
    // holding no handle to the root job, is refused.
    let job = new_job()?;
    let outsider = spawn_with(
        &job,
        "bind-system unbind-system sleep",
        Options {
            job: None,
            port: Some(check(system.duplicate(zx::Rights::SAME_RIGHTS), "dup")?),
        },
    )?;
    ensure_eq!(
        outsider.read_status()?,
        Status::ACCESS_DENIED,
        "bind below the root"
    );
    ensure_eq!(
        outsider.read_status()?,
        Status::ACCESS_DENIED,
        "unbind below the root"
    );
    drop(outsider);

    // A process of the root job binds it: a child started in the root job,
    // which the bootstrap must have given.
    let root = env().root_job.as_ref().ok_or(
        "no root job in the bootstrap message (init gives suites their own job only), \
         so no process here can bind the system port",
    )?;
    let binder = spawn_with(
        root,
        "bind-system bind-system gate unbind-system unbind-system sleep",
        Options {
            job: None,
            port: Some(check(system.duplicate(zx::Rights::SAME_RIGHTS), "dup")?),
        },
    )?;
    ensure_eq!(binder.read_status()?, Status::OK, "bind in the root job");
    ensure_eq!(
        binder.read_status()?,
        Status::ALREADY_BOUND,
        "a second bind"
    );

    let p = spawn(&job, "gate fault:privileged")?;
    let job_ch = check(job.create_exception_channel(0), "job channel")?;
    p.open_gate()?;
    let (_, exception) = wait_exception(&job_ch, "job channel")?;
    expect_no_packet(&system, "system port (it is last)")?;
    answer(exception, EXCEPTION_STATE_TRY_NEXT)?;
    // Only this child's packet matters (others may crash meanwhile).
    let deadline = zx::deadline_after(LONG);
    let packet = loop {
        let packet = wait_packet(&system, "system port")?;
        if packet.as_exception().pid == p.pid() {
            break packet;
        }
        ensure!(
            zx::clock_get_monotonic() < deadline,
            "no packet for the child"
        );
    };
    ensure_eq!((packet.key, packet.packet_type), (0x5e5, EXCP_GENERAL));
    ensure_eq!(
        thread_info(&p)?.wait_exception_channel_type,
        EXCEPTION_PORT_TYPE_SYSTEM
    );
    check(
        p.thread().resume(RESUME_EXCEPTION | RESUME_TRY_NEXT),
        "task_resume TRY_NEXT",
    )?;
    ensure_eq!(p.wait_exit()?, TASK_RETCODE_EXCEPTION_KILL);
    binder.open_gate()?;
    ensure_eq!(binder.read_status()?, Status::OK, "unbind in the root job");
    ensure_eq!(
        binder.read_status()?,
        Status::BAD_STATE,
        "unbinding the empty system slot"
    );
    Ok(())
}

pub fn c35() -> TestResult {
    let job = new_job()?;
    let p = spawn(&job, "gate fault:privileged")?;
    let port = check(Port::create(), "port_create")?;
    check(p.process().bind_exception_port(&port, 1, 0), "bind")?;
    let mut queued = 0u64;
    loop {
        match port.queue(&PortPacket::user(queued, [0; 4])) {
            Ok(()) => queued += 1,
            Err(Status::SHOULD_WAIT) => break,
            Err(status) => return Err(format!("port_queue: {status:?}")),
        }
        ensure!(queued < 1_000_000, "the port never fills");
    }
    ensure!(queued > 0, "the port took no packet");
    p.open_gate()?;
    ensure_eq!(p.wait_exit()?, TASK_RETCODE_EXCEPTION_KILL);
    Ok(())
}
