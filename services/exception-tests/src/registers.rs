//! Items 21, 22, 28 and 29: registers of stopped threads, and what the
//! report says about each kind of fault on this architecture.

use alloc::format;
use alloc::vec;

use crate::child::{PAGE_FAULT_ADDRESS, fault_address, name_of};
use crate::env::*;
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::exception::*;
use spinel_rt::zx::abi::thread::{MAX_GENERAL_REGS, THREAD_STATE_GENERAL_REGS};
use spinel_rt::zx::arch::{REGISTER_LAYOUT, report_code, report_error_code, report_fault_address};
use spinel_rt::zx::task::{thread_read_state, thread_write_state};
use spinel_rt::zx::{Fault, GeneralRegisters, HandleBased, Status, Task};
use spinel_rt::{ensure, ensure_eq, println};

pub fn c21() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "fault:privileged thread-exit")?;
    let debugger = check(
        p.process()
            .create_exception_channel(EXCEPTION_CHANNEL_DEBUGGER),
        "debugger",
    )?;
    let size = GeneralRegisters::size();
    ensure_eq!(size, REGISTER_LAYOUT.count * 8);
    let mut buffer = vec![0u8; MAX_GENERAL_REGS * 8 + 64];
    let thread = p.thread().raw();
    // Not started, not in an exception, not suspended: BAD_STATE.
    ensure_eq!(
        thread_read_state(thread, THREAD_STATE_GENERAL_REGS, &mut buffer[..size]).err(),
        Some(Status::BAD_STATE)
    );
    let (entry, stack_top) = p.entry_and_stack().ok_or("not prepared")?;
    p.start()?;

    // THREAD_STARTING: the start registers, writable.
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_STARTING);
    let mut registers = check(p.thread().read_registers(), "thread_read_state")?;
    ensure_eq!(registers.pc(), entry);
    ensure_eq!(registers.sp(), stack_top);
    registers.set_sp(stack_top - 256);
    check(p.thread().write_registers(&registers), "thread_write_state")?;
    ensure_eq!(
        check(p.thread().read_registers(), "thread_read_state")?.sp(),
        stack_top - 256
    );
    ensure_eq!(
        thread_read_state(thread, THREAD_STATE_GENERAL_REGS, &mut buffer[..size - 1]).err(),
        Some(Status::BUFFER_TOO_SMALL)
    );
    registers.write_bytes(&mut buffer);
    ensure_eq!(
        thread_write_state(thread, THREAD_STATE_GENERAL_REGS, &buffer[..size - 8]).err(),
        Some(Status::INVALID_ARGS)
    );
    ensure_eq!(
        thread_read_state(thread, 77, &mut buffer[..size]).err(),
        Some(Status::INVALID_ARGS)
    );
    answer(exception, EXCEPTION_STATE_HANDLED)?;

    // An architectural exception: readable and writable.
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_GENERAL);
    let mut registers = check(p.thread().read_registers(), "thread_read_state")?;
    ensure_eq!(registers.pc(), Fault::PrivilegedInstruction.site());
    registers.set_pc(Fault::PrivilegedInstruction.resume());
    check(p.thread().write_registers(&registers), "thread_write_state")?;
    answer(exception, EXCEPTION_STATE_HANDLED)?;

    // THREAD_EXITING: NOT_SUPPORTED both ways.
    let (info, exception) = wait_exception(&debugger, "debugger")?;
    ensure_eq!(info.exception_type, EXCP_THREAD_EXITING);
    ensure_eq!(
        thread_read_state(thread, THREAD_STATE_GENERAL_REGS, &mut buffer[..size]).err(),
        Some(Status::NOT_SUPPORTED)
    );
    ensure_eq!(
        thread_write_state(thread, THREAD_STATE_GENERAL_REGS, &buffer[..size]).err(),
        Some(Status::NOT_SUPPORTED)
    );
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    Ok(())
}

pub fn c22() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "fault:undefined")?;
    let ch = check(p.process().create_exception_channel(0), "process")?;
    p.start()?;
    let (info, exception) = wait_exception(&ch, "process channel")?;
    ensure_eq!(info.exception_type, EXCP_UNDEFINED_INSTRUCTION);
    let thread = check(exception.thread(), "exception_get_thread")?;
    let mut registers = check(thread.read_registers(), "thread_read_state")?;
    let site = Fault::UndefinedInstruction.site();
    ensure_eq!(registers.pc(), site);
    // Skip the instruction: the fault routine returns and the child ends
    // normally.
    registers.set_pc(Fault::UndefinedInstruction.resume());
    check(thread.write_registers(&registers), "thread_write_state")?;
    answer(exception, EXCEPTION_STATE_HANDLED)?;
    ensure_eq!(p.wait_exit()?, RECOVERED, "the thread recovered and ran on");
    Ok(())
}

pub fn c28() -> TestResult {
    let job = new_job()?;
    let mut p = prepare(&job, "fault:page")?;
    let ch = check(p.process().create_exception_channel(0), "process")?;
    p.start()?;
    let (info, exception) = wait_exception(&ch, "process channel")?;
    ensure_eq!(info.exception_type, EXCP_FATAL_PAGE_FAULT);
    let report = check(p.thread().exception_report(), "the exception report")?;
    ensure_eq!(report.header.size, 40);
    ensure_eq!(report.header.exception_type, EXCP_FATAL_PAGE_FAULT);
    ensure_eq!(
        report.context.synth_code,
        Status::NOT_FOUND.0 as u32,
        "the VM's status"
    );
    ensure_eq!(report_fault_address(&report), PAGE_FAULT_ADDRESS);
    ensure_eq!(report_code(&report), Fault::PageFault.arch_code());
    if zx_is_x86() {
        // A user-mode read of a page that is not present.
        ensure_eq!(report_error_code(&report), 4);
    }
    handled_at(exception, Fault::PageFault.resume())?;
    ensure_eq!(p.wait_exit()?, RECOVERED);
    Ok(())
}

fn zx_is_x86() -> bool {
    spinel_rt::zx::arch::ARCH == "x86_64"
}

pub fn c29() -> TestResult {
    let job = new_job()?;
    for &fault in Fault::ALL {
        let name = name_of(fault);
        let mut p = prepare(&job, &format!("fault:{name}"))?;
        let ch = check(p.process().create_exception_channel(0), "process")?;
        p.start()?;
        let (info, exception) = match wait_exception(&ch, "process channel") {
            Ok(got) => got,
            Err(reason) => {
                let code = p.wait_exit().unwrap_or(0);
                if fault == Fault::UnalignedAccess && zx_is_x86() && code == RECOVERED {
                    // The spec asks for unaligned access "where the arch
                    // raises it". With CR0.AM and EFLAGS.AC set, x86 raises
                    // #AC, but QEMU's TCG mostly does not: a probe that read
                    // RFLAGS right after the load saw AC set and no #AC in
                    // 120 of 120 tries, while some runs do get #AC. The load
                    // completing is the CPU's doing, not the kernel's.
                    println!(
                        "note: c29: this x86 CPU did not raise #AC for an unaligned load \
                         with EFLAGS.AC set (QEMU TCG mostly does not); not checked this run"
                    );
                    continue;
                }
                return Err(format!(
                    "{name}: no exception ({reason}); the child ended with {code}{}",
                    if code == RECOVERED {
                        " (the CPU did not fault)"
                    } else {
                        ""
                    }
                ));
            }
        };
        ensure_eq!(info.exception_type, fault.exception_type(), "{name}");
        let report = check(p.thread().exception_report(), "the exception report")?;
        ensure_eq!(report.header.size, 40, "{name}");
        ensure_eq!(
            report.header.exception_type,
            fault.exception_type(),
            "{name}"
        );
        ensure_eq!(report_code(&report), fault.arch_code(), "{name}: arch code");
        let registers = check(p.thread().read_registers(), "thread_read_state")?;
        ensure_eq!(registers.pc(), fault.reported_pc(), "{name}: pc");
        match fault {
            // x86 reports no address for #AC.
            Fault::PageFault | Fault::UnalignedAccess
                if fault == Fault::PageFault || !zx_is_x86() =>
            {
                ensure_eq!(
                    report_fault_address(&report),
                    fault_address(fault),
                    "{name}: fault address"
                );
            }
            Fault::PrivilegedInstruction if zx_is_x86() => {
                ensure_eq!(report_error_code(&report), 0, "{name}: #GP error code");
            }
            _ => {}
        }
        handled_at(exception, fault.resume())?;
        ensure_eq!(p.wait_exit()?, RECOVERED, "{name}: recovered");
        ensure!(p.exited(), "{name}");
    }
    Ok(())
}
