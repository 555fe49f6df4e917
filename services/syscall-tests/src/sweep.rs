//! Every pointer argument of every system call (found from the syscall
//! table's signatures, so a new call is covered when it is added), tried
//! with every kind of bad address while the other arguments are valid.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::fixture::Fixture;
use crate::raw::{Arg, Bad, call, pointer_arguments, scratch};
use spinel_rt::test::TestResult;
use spinel_rt::zx::abi::info::{INFO_HANDLE_BASIC, PROP_NAME};
use spinel_rt::zx::abi::vm::VM_PERM_READ;
use spinel_rt::zx::{GeneralRegisters, HandleBased, HandleValue, Rights, Signals, Status, Syscall};

/// Valid arguments for `call` (pointers into scratch), and the status a
/// bad pointer must give; `None` for calls without pointers or that this
/// sweep cannot make (exits).
fn valid_arguments(call: Syscall, f: &Fixture) -> Option<(Vec<Arg>, Status)> {
    use Arg::{Handle as H, Len, Val};
    use Syscall::*;
    let invalid = Status::INVALID_ARGS;
    let regs = GeneralRegisters::size();
    let args = match call {
        HandleDuplicate | HandleReplace => vec![
            H(f.event.raw()),
            Val(u64::from(Rights::SAME_RIGHTS.bits())),
            scratch(0),
        ],
        ObjectWaitOne => vec![
            H(f.event.raw()),
            Val(u64::from(Signals::EVENT_SIGNALED.bits())),
            Val(0),
            scratch(0),
        ],
        ObjectGetProperty => vec![
            H(f.event.raw()),
            Val(u64::from(PROP_NAME)),
            scratch(0),
            Len(32),
        ],
        ObjectSetProperty => vec![
            H(f.event.raw()),
            Val(u64::from(PROP_NAME)),
            scratch(0),
            Len(4),
        ],
        ObjectGetInfo => vec![
            H(f.event.raw()),
            Val(u64::from(INFO_HANDLE_BASIC)),
            scratch(0),
            Len(32),
            scratch(1),
            scratch(2),
        ],
        PortCreate | EventCreate => vec![Val(0), scratch(0)],
        PortQueue => vec![H(f.port.raw()), scratch(0)],
        PortWait => vec![H(f.port.raw()), Val(0), scratch(0)],
        ChannelCreate => vec![Val(0), scratch(0), scratch(1)],
        ChannelWrite => vec![H(f.a.raw()), Val(0), scratch(0), Len(4), scratch(1), Len(1)],
        ChannelRead => vec![
            H(f.b.raw()),
            Val(0),
            scratch(0),
            scratch(1),
            Len(8),
            Len(1),
            scratch(2),
            scratch(3),
        ],
        JobCreate => vec![H(f.job.raw()), Val(0), scratch(0)],
        JobSetPolicy => vec![H(f.job.raw()), Val(0), Val(0), scratch(0), Len(1)],
        ProcessCreate => vec![
            H(f.job.raw()),
            scratch(0),
            Len(4),
            Val(0),
            scratch(1),
            scratch(2),
        ],
        ThreadCreate => vec![H(f.process.raw()), scratch(0), Len(4), Val(0), scratch(1)],
        TaskSuspend => vec![H(f.thread.raw()), scratch(0)],
        ThreadReadState | ThreadWriteState => {
            vec![H(f.thread.raw()), Val(0), scratch(0), Len(regs)]
        }
        ProcessReadMemory | ProcessWriteMemory => vec![
            H(f.process.raw()),
            Val(0x20_0000),
            scratch(0),
            Len(16),
            scratch(1),
        ],
        TaskCreateExceptionChannel => vec![H(f.thread.raw()), Val(0), scratch(0)],
        ExceptionGetThread | ExceptionGetProcess => vec![H(HandleValue::INVALID), scratch(0)],
        VmoCreate => vec![Val(4096), Val(0), scratch(0)],
        VmoRead | VmoWrite => vec![H(f.vmo.raw()), scratch(0), Val(0), Len(16)],
        VmarMap => vec![
            H(f.vmar.raw()),
            Val(u64::from(VM_PERM_READ)),
            Val(0),
            H(f.vmo.raw()),
            Val(0),
            Val(4096),
            scratch(0),
        ],
        DebugWrite => vec![scratch(0), Len(4)],
        // Without the link resource the handle check comes first.
        DebugLinkRead | DebugLinkWrite => {
            return Some((
                vec![H(HandleValue::INVALID), scratch(0), Len(16)],
                Status::BAD_HANDLE,
            ));
        }
        // Calls without pointers, for the handle sweep.
        HandleClose | TaskKill => vec![H(f.event.raw())],
        ObjectWaitAsync => vec![
            H(f.event.raw()),
            H(f.port.raw()),
            Val(1),
            Val(u64::from(Signals::EVENT_SIGNALED.bits())),
            Val(0),
        ],
        ObjectSignal => vec![
            H(f.event.raw()),
            Val(0),
            Val(u64::from(Signals::USER_SIGNAL_0.bits())),
        ],
        ProcessStart => vec![
            H(f.process.raw()),
            H(f.thread.raw()),
            Val(0x1000),
            Val(0x2000),
            H(f.event.raw()),
            Val(0),
        ],
        ThreadStart => vec![H(f.thread.raw()), Val(0x1000), Val(0x2000), Val(0), Val(0)],
        TaskBindExceptionPort => vec![H(f.thread.raw()), H(f.port.raw()), Val(1), Val(0)],
        TaskResumeFromException => vec![H(f.thread.raw()), H(f.port.raw()), Val(0)],
        TaskResume => vec![H(f.thread.raw()), Val(1)],
        VmarUnmap => vec![H(f.vmar.raw()), Val(0x40_0000), Val(4096)],
        VmarProtect => vec![
            H(f.vmar.raw()),
            Val(u64::from(VM_PERM_READ)),
            Val(0x40_0000),
            Val(4096),
        ],
        _ => return None,
    };
    Some((args, invalid))
}

/// Out-pointers the kernel lets be null (Zircon's optional outputs).
fn optional(call: Syscall, index: usize) -> bool {
    matches!(
        (call, index),
        (Syscall::ObjectWaitOne, 3)
            | (Syscall::ObjectGetInfo, 4 | 5)
            | (Syscall::ChannelRead, 6 | 7)
    )
}

/// Whether argument `index` of `call` is read only by the kernel.
fn input_only(call: Syscall, index: usize) -> bool {
    let signature = call.signature();
    let params = signature.split(") ->").next().unwrap_or("");
    params
        .trim_start_matches('(')
        .split(", ")
        .nth(index)
        .is_some_and(|p| p.contains("*const"))
}

pub fn every_pointer_argument_refuses_every_bad_address() -> TestResult {
    let f = Fixture::new()?;
    let mut failures: Vec<String> = Vec::new();
    let mut tried = 0;
    for &syscall in Syscall::ALL {
        let pointers: Vec<usize> = pointer_arguments(syscall).collect();
        let Some((args, expected)) = valid_arguments(syscall, &f) else {
            if !pointers.is_empty() {
                failures.push(format!(
                    "{}: no valid arguments in the sweep",
                    syscall.name()
                ));
            }
            continue;
        };
        for &index in &pointers {
            for bad in Bad::ALL {
                if bad == Bad::Null && optional(syscall, index) {
                    continue;
                }
                // Reading readable memory is fine; and the console must not
                // get bytes of code in the middle of the test output.
                if bad.readable() && (input_only(syscall, index) || syscall == Syscall::DebugWrite)
                {
                    continue;
                }
                let mut tweaked = args.clone();
                tweaked[index] = Arg::Bad(bad);
                let status = call(syscall, &tweaked);
                tried += 1;
                if status != expected {
                    failures.push(format!(
                        "{}({} = {:?}): {:?}, expected {:?}",
                        syscall.name(),
                        crate::raw::argument_name(syscall, index),
                        bad,
                        status,
                        expected
                    ));
                }
            }
        }
    }
    // The kernel is still fine, and so are the fixture's objects.
    f.check_alive()?;
    if tried < 100 {
        failures.push(format!("only {tried} cases tried"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {tried} cases: {}",
            failures.len(),
            failures.join("; ")
        ))
    }
}

pub fn null_optional_outputs_are_accepted() -> TestResult {
    let f = Fixture::new()?;
    let null = Arg::Bad(Bad::Null);
    let mut failures: Vec<String> = Vec::new();
    for &syscall in Syscall::ALL {
        let Some((args, _)) = valid_arguments(syscall, &f) else {
            continue;
        };
        for index in pointer_arguments(syscall).filter(|&i| optional(syscall, i)) {
            let mut tweaked = args.clone();
            tweaked[index] = null;
            let status = call(syscall, &tweaked);
            if status == Status::INVALID_ARGS {
                failures.push(format!(
                    "{}({} = null): INVALID_ARGS",
                    syscall.name(),
                    crate::raw::argument_name(syscall, index)
                ));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// A value that names no handle of this process.
const BOGUS: HandleValue = HandleValue(0x7ead_beef | 3);

pub fn every_handle_argument_refuses_a_bad_handle() -> TestResult {
    let f = Fixture::new()?;
    let mut failures: Vec<String> = Vec::new();
    let mut tried = 0;
    for &syscall in Syscall::ALL {
        let handles: Vec<usize> = crate::raw::handle_arguments(syscall).collect();
        if handles.is_empty() {
            continue;
        }
        let Some((args, _)) = valid_arguments(syscall, &f) else {
            failures.push(format!(
                "{}: no valid arguments in the sweep",
                syscall.name()
            ));
            continue;
        };
        for index in handles {
            let mut tweaked = args.clone();
            tweaked[index] = Arg::Handle(BOGUS);
            let status = call(syscall, &tweaked);
            tried += 1;
            if status != Status::BAD_HANDLE {
                failures.push(format!(
                    "{}({} = bogus): {:?}",
                    syscall.name(),
                    crate::raw::argument_name(syscall, index),
                    status
                ));
            }
        }
    }
    f.check_alive()?;
    if tried < 30 {
        failures.push(format!("only {tried} cases tried"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {tried} cases: {}",
            failures.len(),
            failures.join("; ")
        ))
    }
}
