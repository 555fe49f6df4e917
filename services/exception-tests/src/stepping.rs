//! Beyond the conformance list: `THREAD_STATE_SINGLE_STEP`, the debugger's
//! single step (x86_64: RFLAGS.TF and #DB; aarch64: SPSR.SS and the
//! software-step exception), both arriving as HW_BREAKPOINT.

use crate::env::*;
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::exception::*;
use spinel_rt::zx::arch::{ARCH, report_code};
use spinel_rt::zx::{Exception, Fault, Status, Task, Thread};
use spinel_rt::{ensure, ensure_eq};

fn is_x86() -> bool {
    ARCH == "x86_64"
}

/// The thread's pc after one more step, checked against `before`: one
/// instruction later (x86: 1 to 15 bytes; arm64: 4).
fn step_once(
    channel: &spinel_rt::zx::Channel,
    thread: &Thread,
    exception: Exception,
    before: u64,
) -> Result<(Exception, u64), alloc::string::String> {
    check(thread.set_single_step(true), "set SINGLE_STEP")?;
    ensure_eq!(check(thread.single_step(), "read SINGLE_STEP")?, true);
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    let (info, exception) = wait_exception(channel, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_HW_BREAKPOINT);
    let report = check(thread.exception_report(), "the exception report")?;
    // x86 #DB; arm64 "software step from a lower EL".
    let step_code = if is_x86() { 1 } else { 0x32 };
    ensure_eq!(report_code(&report), step_code, "the arch facts of a step");
    let pc = check(thread.read_registers(), "thread_read_state")?.pc();
    let advance = pc.wrapping_sub(before);
    if is_x86() {
        ensure!(
            (1..=15).contains(&advance),
            "pc {pc:#x} is not one instruction after {before:#x}"
        );
    } else {
        ensure!(
            advance == 4,
            "pc {pc:#x} is not one instruction after {before:#x}"
        );
    }
    Ok((exception, pc))
}

pub fn single_step() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "fault:breakpoint")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    // Not stopped: BAD_STATE.
    ensure_eq!(
        p.thread().set_single_step(true).err(),
        Some(Status::BAD_STATE)
    );
    let (entry, _) = p.entry_and_stack().ok_or("not prepared")?;
    p.start()?;

    // From THREAD_STARTING: the first two instructions of `_start`.
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_STARTING);
    ensure_eq!(check(p.thread().single_step(), "read SINGLE_STEP")?, false);
    let (exception, pc) = step_once(&debugger, p.thread(), exception, entry)?;
    let (exception, _) = step_once(&debugger, p.thread(), exception, pc)?;

    // Cleared: the thread runs freely to its breakpoint.
    check(p.thread().set_single_step(false), "clear SINGLE_STEP")?;
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_SW_BREAKPOINT);
    ensure_eq!(
        check(p.thread().read_registers(), "thread_read_state")?.pc(),
        Fault::SoftwareBreakpoint.reported_pc()
    );

    // Past the breakpoint, one step runs the routine's `ret`: the thread
    // stops in its caller, outside the routine.
    set_pc(p.thread(), Fault::SoftwareBreakpoint.resume())?;
    check(p.thread().set_single_step(true), "set SINGLE_STEP")?;
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_HW_BREAKPOINT);
    let pc = check(p.thread().read_registers(), "thread_read_state")?.pc();
    ensure!(
        pc != Fault::SoftwareBreakpoint.resume() && pc != Fault::SoftwareBreakpoint.site(),
        "pc {pc:#x} did not leave the routine"
    );
    check(p.thread().set_single_step(false), "clear SINGLE_STEP")?;
    answer(exception, EXCEPTION_STATE_HANDLED)?;

    // The child ends normally (THREAD_EXITING still goes to the debugger).
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_EXITING);
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}
