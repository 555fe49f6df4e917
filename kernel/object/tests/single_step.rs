//! `THREAD_STATE_SINGLE_STEP`: a debugger sets it during an exception, the
//! thread resumes through `RunEntry::Registers { single_step: true }` (the
//! glue turns that into RFLAGS.TF / SPSR.SS), the step comes back as
//! HW_BREAKPOINT, and clearing the flag resumes normally.

mod common;

use common::*;
use spinel_abi::Status;
use spinel_abi::exception::*;
use spinel_abi::thread::{THREAD_STATE_GENERAL_REGS, THREAD_STATE_SINGLE_STEP};
use spinel_hal_api::TrapKind;
use spinel_object::{Effect, RunEntry};

fn resumed(effects: &[Effect], tid: u64) -> Option<RunEntry> {
    effects.iter().find_map(|e| match e {
        Effect::Run { thread, entry } if *thread == tid => Some(*entry),
        _ => None,
    })
}

fn read_flag(w: &mut World, th: spinel_abi::HandleValue) -> Result<u32, Status> {
    let mut buf = [0u8; 4];
    let n =
        w.k.sys_thread_read_state(w.sup, th, THREAD_STATE_SINGLE_STEP, &mut buf)?;
    assert_eq!(n, 4);
    Ok(u32::from_le_bytes(buf))
}

fn write_flag(w: &mut World, th: spinel_abi::HandleValue, bytes: &[u8]) -> Result<(), Status> {
    w.k.sys_thread_write_state(w.sup, th, THREAD_STATE_SINGLE_STEP, bytes)
}

fn step_on(layout: spinel_abi::thread::RegisterLayout) {
    let mut w = World::with_layout(layout);
    let p = w.spawn(w.root_h);
    let ch = w.exception_channel(p.ph, 0);
    w.fault(p.tid, TrapKind::SoftwareBreakpoint);
    let (info, exc) = w.read_exception(ch).unwrap();
    assert_eq!(info.exception_type, EXCP_SW_BREAKPOINT);
    let th = w.k.sys_exception_get_thread(w.sup, exc).unwrap();

    // Off until set; a u32 of 0 or 1, nothing else.
    assert_eq!(read_flag(&mut w, th), Ok(0));
    assert_eq!(
        write_flag(&mut w, th, &[2, 0, 0, 0]),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        write_flag(&mut w, th, &[1, 0, 0]),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        write_flag(&mut w, th, &[1, 0, 0, 0, 0]),
        Err(Status::INVALID_ARGS)
    );
    let mut small = [0u8; 3];
    assert_eq!(
        w.k.sys_thread_read_state(w.sup, th, THREAD_STATE_SINGLE_STEP, &mut small),
        Err(Status::BUFFER_TOO_SMALL)
    );
    assert_eq!(write_flag(&mut w, th, &[1, 0, 0, 0]), Ok(()));
    assert_eq!(read_flag(&mut w, th), Ok(1));

    // HANDLED: the registers at the trap, with the step flag.
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    let Some(RunEntry::Registers { single_step, .. }) = resumed(&w.effects(), p.tid) else {
        panic!("resumed with registers")
    };
    assert!(single_step);
    assert_eq!(w.registers(p.tid).slots[layout.pc], FAULT_PC);

    // The step: HW_BREAKPOINT, with the arch facts of a step.
    w.fault(p.tid, TrapKind::HardwareBreakpoint);
    let (info, exc) = w.read_exception(ch).unwrap();
    assert_eq!(info.exception_type, EXCP_HW_BREAKPOINT);
    let report = w.report(p.th).unwrap();
    assert_eq!(report.header.exception_type, EXCP_HW_BREAKPOINT);
    let th = w.k.sys_exception_get_thread(w.sup, exc).unwrap();
    assert_eq!(read_flag(&mut w, th), Ok(1), "the flag stays until cleared");

    // Cleared: the next resume runs freely, registers as written.
    assert_eq!(write_flag(&mut w, th, &[0, 0, 0, 0]), Ok(()));
    let mut buf = vec![0u8; layout.count * 8];
    w.k.sys_thread_read_state(w.sup, th, THREAD_STATE_GENERAL_REGS, &mut buf)
        .unwrap();
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    let Some(RunEntry::Registers { single_step, .. }) = resumed(&w.effects(), p.tid) else {
        panic!("resumed with registers")
    };
    assert!(!single_step);

    // Running: neither read nor written.
    assert_eq!(read_flag(&mut w, p.th), Err(Status::BAD_STATE));
    assert_eq!(
        write_flag(&mut w, p.th, &[1, 0, 0, 0]),
        Err(Status::BAD_STATE)
    );
    w.invariants();
}

#[test]
fn single_step_flag_round_trip_x86_64() {
    step_on(X86);
}

#[test]
fn single_step_flag_round_trip_arm64() {
    step_on(ARM);
}

#[test]
fn setting_only_the_flag_resumes_with_the_trap_registers() {
    // A debugger that writes SINGLE_STEP but no registers still resumes the
    // thread through RunEntry::Registers, at the registers of the trap.
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, p.ph, port, 7, EXCEPTION_PORT_DEBUGGER)
        .unwrap();
    w.fault(p.tid, TrapKind::General);
    w.k.sys_port_wait(w.sup, port, 0).ok();
    write_flag(&mut w, p.th, &[1, 0, 0, 0]).unwrap();
    w.k.sys_task_resume_from_exception(w.sup, p.th, port, 0)
        .unwrap();
    let Some(RunEntry::Registers { single_step, .. }) = resumed(&w.effects(), p.tid) else {
        panic!("resumed with registers")
    };
    assert!(single_step);
    assert_eq!(w.registers(p.tid).slots[X86.pc], FAULT_PC);
}

#[test]
fn a_step_set_during_thread_starting_applies_from_the_first_instruction() {
    let mut w = World::new();
    let p = w.process(w.root_h);
    let ch = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    w.start(&p);
    let (info, exc) = w.read_exception(ch).unwrap();
    assert_eq!(info.exception_type, EXCP_THREAD_STARTING);
    assert!(!w.k.thread_single_step(p.tid));
    write_flag(&mut w, p.th, &[1, 0, 0, 0]).unwrap();
    assert!(w.k.thread_single_step(p.tid));
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    assert_eq!(resumed(&w.effects(), p.tid), Some(RunEntry::Start));
    assert!(
        w.k.thread_single_step(p.tid),
        "the glue reads it at the first entry"
    );
}
