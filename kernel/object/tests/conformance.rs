//! The 36-item conformance list of `shared/spec/exceptions.md`: test `cNN_*`
//! shows item NN. Items that depend on the architecture run on both
//! register layouts and both kinds of arch facts.

mod common;

use common::*;
use spinel_abi::exception::*;
use spinel_abi::info::*;
use spinel_abi::object::*;
use spinel_abi::policy::*;
use spinel_abi::thread::THREAD_STATE_GENERAL_REGS;
use spinel_abi::{ExceptionInfo, HandleValue, PortPacket, Rights, Signals, Status};
use spinel_hal_api::TrapKind;
use spinel_object::{Effect, RunEntry};

const GP: TrapKind = TrapKind::General;

fn ran(effects: &[Effect], tid: u64) -> Option<RunEntry> {
    effects.iter().find_map(|e| match e {
        Effect::Run { thread, entry } if *thread == tid => Some(*entry),
        _ => None,
    })
}

fn exited(effects: &[Effect], tid: u64) -> bool {
    effects.contains(&Effect::Exit { thread: tid })
}

/// A job with one policy entry, made before it has children.
fn job_with_policy(w: &mut World, condition: u32, action: u32) -> Task {
    let job = w.job(w.root_h);
    let policy = PolicyBasic {
        condition,
        policy: action,
    };
    w.k.sys_job_set_policy(w.sup, job.h, JOB_POL_RELATIVE, JOB_POL_BASIC, &[policy])
        .unwrap();
    job
}

#[test]
fn c01_bad_options_or_debugger_on_thread_is_invalid_args() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    for options in [2, 3, 0x100, u32::MAX] {
        assert_eq!(
            w.k.sys_task_create_exception_channel(w.sup, p.ph, options),
            Err(Status::INVALID_ARGS)
        );
    }
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, p.th, EXCEPTION_CHANNEL_DEBUGGER),
        Err(Status::INVALID_ARGS)
    );
    // Options are checked first, even before the handle.
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, HandleValue(0x1234_5673), 4),
        Err(Status::INVALID_ARGS)
    );
}

#[test]
fn c02_any_missing_required_right_or_enumerate_is_access_denied() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let job = w.job(w.root_h);
    for (task, full) in [
        (p.th, Rights::DEFAULT_THREAD),
        (p.ph, Rights::DEFAULT_PROCESS),
        (job.h, Rights::DEFAULT_JOB),
    ] {
        for right in [
            Rights::INSPECT,
            Rights::DUPLICATE,
            Rights::TRANSFER,
            Rights::MANAGE_THREAD,
        ] {
            let h =
                w.k.sys_handle_duplicate(w.sup, task, full.difference(right))
                    .unwrap();
            assert_eq!(
                w.k.sys_task_create_exception_channel(w.sup, h, 0),
                Err(Status::ACCESS_DENIED),
                "{right:?}"
            );
        }
    }
    for task in [p.ph, job.h] {
        let h =
            w.k.sys_handle_duplicate(w.sup, task, Rights::EXCEPTION_CHANNEL_REQUIRED)
                .unwrap();
        assert_eq!(
            w.k.sys_task_create_exception_channel(w.sup, h, 0),
            Err(Status::ACCESS_DENIED)
        );
        assert_eq!(
            w.k.sys_task_create_exception_channel(w.sup, h, EXCEPTION_CHANNEL_DEBUGGER),
            Err(Status::ACCESS_DENIED)
        );
    }
    // A thread needs no ENUMERATE.
    let h =
        w.k.sys_handle_duplicate(w.sup, p.th, Rights::EXCEPTION_CHANNEL_REQUIRED)
            .unwrap();
    assert!(w.k.sys_task_create_exception_channel(w.sup, h, 0).is_ok());
}

#[test]
fn c03_policy_denying_channels_is_access_denied_and_non_task_is_wrong_type() {
    let mut w = World::new();
    let job = job_with_policy(&mut w, POL_NEW_CHANNEL, POL_ACTION_DENY);
    let p = w.spawn(job.h);
    let target = w.spawn(w.root_h);
    let h =
        w.k.grant_handle(p.pid, target.pid, Rights::DEFAULT_PROCESS)
            .unwrap();
    assert_eq!(
        w.k.sys_task_create_exception_channel(p.tid, h, 0),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(w.k.sys_channel_create(p.tid, 0), Err(Status::ACCESS_DENIED));
    // NEW_ANY covers channels too.
    let job2 = job_with_policy(&mut w, POL_NEW_ANY, POL_ACTION_DENY);
    let p2 = w.spawn(job2.h);
    let h2 =
        w.k.grant_handle(p2.pid, target.pid, Rights::DEFAULT_PROCESS)
            .unwrap();
    assert_eq!(
        w.k.sys_task_create_exception_channel(p2.tid, h2, 0),
        Err(Status::ACCESS_DENIED)
    );

    let port = w.port();
    let port_koid = w.koid(port);
    let strong =
        w.k.grant_handle(
            w.sup_proc,
            port_koid,
            Rights::DEFAULT_PORT | Rights::MANAGE_THREAD | Rights::ENUMERATE,
        )
        .unwrap();
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, strong, 0),
        Err(Status::WRONG_TYPE)
    );
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, HandleValue(0x7777_7773), 0),
        Err(Status::BAD_HANDLE)
    );
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, HandleValue::INVALID, 0),
        Err(Status::BAD_HANDLE)
    );
}

#[test]
fn c04_channel_end_has_exactly_transfer_wait_read() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let job = w.job(w.root_h);
    for (task, options) in [
        (p.th, 0),
        (p.ph, 0),
        (p.ph, EXCEPTION_CHANNEL_DEBUGGER),
        (job.h, 0),
        (job.h, EXCEPTION_CHANNEL_DEBUGGER),
    ] {
        let ch = w.exception_channel(task, options);
        assert_eq!(w.rights(ch), Rights::TRANSFER | Rights::WAIT | Rights::READ);
        assert_eq!(
            w.k.sys_channel_write(w.sup, ch, 0, b"x", &[]),
            Err(Status::ACCESS_DENIED)
        );
    }
}

#[test]
fn c05_second_channel_already_bound_until_closed_and_32_job_debuggers() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let job = w.job(w.root_h);
    for (task, options) in [
        (p.th, 0),
        (p.ph, 0),
        (p.ph, EXCEPTION_CHANNEL_DEBUGGER),
        (job.h, 0),
    ] {
        let first = w.exception_channel(task, options);
        assert_eq!(
            w.k.sys_task_create_exception_channel(w.sup, task, options),
            Err(Status::ALREADY_BOUND)
        );
        w.close(first);
        let again = w.exception_channel(task, options);
        w.close(again);
    }
    let mut debuggers: Vec<_> = (0..EXCEPTION_CHANNEL_JOB_DEBUGGER_MAX_COUNT)
        .map(|_| w.exception_channel(job.h, EXCEPTION_CHANNEL_DEBUGGER))
        .collect();
    assert_eq!(debuggers.len(), 32);
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, job.h, EXCEPTION_CHANNEL_DEBUGGER),
        Err(Status::ALREADY_BOUND)
    );
    w.close(debuggers.pop().unwrap());
    debuggers.push(w.exception_channel(job.h, EXCEPTION_CHANNEL_DEBUGGER));
    w.invariants();
}

#[test]
fn c06_dead_task_is_bad_state_and_death_closes_all_five_kinds() {
    let mut w = World::new();
    let job = w.job(w.root_h);
    let p = w.spawn(job.h);
    let extra = w.thread(&p);
    let thread_ch = w.exception_channel(extra.h, 0);
    let process_ch = w.exception_channel(p.ph, 0);
    let debugger_ch = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    let job_ch = w.exception_channel(job.h, 0);
    let job_debugger_ch = w.exception_channel(job.h, EXCEPTION_CHANNEL_DEBUGGER);
    let koids: Vec<_> = [thread_ch, process_ch, debugger_ch, job_ch, job_debugger_ch]
        .iter()
        .map(|&h| w.koid(h))
        .collect();
    assert!(koids.iter().all(|&k| !w.peer_closed(k)));

    w.k.sys_task_kill(w.sup, extra.h).unwrap();
    assert!(w.peer_closed(koids[0]), "thread channel");
    assert!(!w.peer_closed(koids[1]));
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, extra.h, 0),
        Err(Status::BAD_STATE)
    );

    w.k.sys_task_kill(w.sup, p.ph).unwrap();
    assert!(w.peer_closed(koids[1]), "process channel");
    assert!(w.peer_closed(koids[2]), "debugger channel");
    assert!(!w.peer_closed(koids[3]));
    w.close(process_ch);
    w.close(debugger_ch);
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, p.ph, 0),
        Err(Status::BAD_STATE)
    );
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, p.ph, EXCEPTION_CHANNEL_DEBUGGER),
        Err(Status::BAD_STATE)
    );

    w.k.sys_task_kill(w.sup, job.h).unwrap();
    assert!(w.peer_closed(koids[3]), "job channel");
    assert!(w.peer_closed(koids[4]), "job debugger channel");
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, job.h, 0),
        Err(Status::BAD_STATE)
    );
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, job.h, EXCEPTION_CHANNEL_DEBUGGER),
        Err(Status::BAD_STATE)
    );
    w.invariants();
}

#[test]
fn c07_message_is_24_bytes_and_one_handle_with_pid_tid_type() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let ch = w.exception_channel(p.ph, 0);
    w.fault(p.tid, TrapKind::SoftwareBreakpoint);
    let mut bytes = [0u8; 100];
    let mut handles = [HandleValue::INVALID; 8];
    let sizes =
        w.k.sys_channel_read(w.sup, ch, 0, &mut bytes, &mut handles)
            .unwrap();
    assert_eq!((sizes.bytes, sizes.handles), (24, 1));
    let info = ExceptionInfo::from_bytes(bytes[..24].try_into().unwrap());
    assert_eq!(
        info,
        ExceptionInfo {
            pid: p.pid,
            tid: p.tid,
            exception_type: EXCP_SW_BREAKPOINT,
            padding: 0
        }
    );
    let mut buf = [0; HandleBasicInfo::SIZE];
    w.k.sys_object_get_info(w.sup, handles[0], INFO_HANDLE_BASIC, &mut buf)
        .unwrap();
    let basic = HandleBasicInfo::from_bytes(&buf);
    assert_eq!(basic.object_type, spinel_abi::ObjectType::EXCEPTION.0);
    assert_eq!(
        Rights(basic.rights),
        Rights::TRANSFER | Rights::INSPECT | Rights::GET_PROPERTY | Rights::SET_PROPERTY
    );
    // A too-small buffer tells the sizes and keeps the message.
    w.answer(handles[0], EXCEPTION_STATE_HANDLED);
    w.effects();
    w.fault(p.tid, GP);
    let err =
        w.k.sys_channel_read(w.sup, ch, 0, &mut bytes[..8], &mut handles)
            .unwrap_err();
    assert_eq!(
        (err.status, err.needed.bytes, err.needed.handles),
        (Status::BUFFER_TOO_SMALL, 24, 1)
    );
    assert!(w.read_exception(ch).is_some());
}

#[test]
fn c08_exception_handle_not_duplicable_and_thread_channel_get_process_denied() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let thread_ch = w.exception_channel(p.th, 0);
    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(thread_ch).unwrap();
    assert_eq!(
        w.k.sys_handle_duplicate(w.sup, exc, Rights::SAME_RIGHTS),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        w.k.sys_exception_get_process(w.sup, exc),
        Err(Status::ACCESS_DENIED)
    );
    let th = w.k.sys_exception_get_thread(w.sup, exc).unwrap();
    assert_eq!(w.koid(th), p.tid);
    assert_eq!(w.rights(th), Rights::DEFAULT_THREAD);
    w.answer(exc, EXCEPTION_STATE_TRY_NEXT);

    // From a process channel both work, with the creating handle's rights.
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let limited =
        w.k.sys_handle_duplicate(
            w.sup,
            p.ph,
            Rights::EXCEPTION_CHANNEL_REQUIRED | Rights::ENUMERATE,
        )
        .unwrap();
    let ch = w.exception_channel(limited, 0);
    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(ch).unwrap();
    let ph = w.k.sys_exception_get_process(w.sup, exc).unwrap();
    assert_eq!(w.koid(ph), p.pid);
    assert_eq!(
        w.rights(ph),
        Rights::EXCEPTION_CHANNEL_REQUIRED | Rights::ENUMERATE
    );
}

#[test]
fn c09_waiting_thread_reports_blocked_exception_and_handler_kind() {
    let mut w = World::new();
    let job = w.job(w.root_h);
    let p = w.spawn(job.h);
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_RUNNING);
    let chans = [
        (
            w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER),
            EXCEPTION_CHANNEL_TYPE_DEBUGGER,
        ),
        (w.exception_channel(p.th, 0), EXCEPTION_CHANNEL_TYPE_THREAD),
        (w.exception_channel(p.ph, 0), EXCEPTION_CHANNEL_TYPE_PROCESS),
        (w.exception_channel(job.h, 0), EXCEPTION_CHANNEL_TYPE_JOB),
    ];
    w.fault(p.tid, GP);
    for (ch, kind) in chans {
        let info = w.thread_info(p.th);
        assert_eq!(info.state, THREAD_STATE_BLOCKED_EXCEPTION);
        assert_eq!(info.wait_exception_channel_type, kind);
        let (_, exc) = w.read_exception(ch).unwrap();
        w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    }
    // Port era reports the same kinds.
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, p.th, port, 1, 0)
        .unwrap();
    w.fault(p.tid, GP);
    let info = w.thread_info(p.th);
    assert_eq!(
        (info.state, info.wait_exception_channel_type),
        (
            THREAD_STATE_BLOCKED_EXCEPTION,
            EXCEPTION_CHANNEL_TYPE_THREAD
        )
    );
}

/// Channels on every slot; fault; pass it on; return the order of receipt.
fn walk_order(
    w: &mut World,
    chans: &[(HandleValue, &'static str)],
    tid: u64,
    second_chance_from: Option<&str>,
) -> Vec<&'static str> {
    let mut order = Vec::new();
    w.fault(tid, GP);
    while let Some((info, name, exc)) = chans
        .iter()
        .find_map(|&(ch, name)| w.read_exception(ch).map(|(i, e)| (i, name, e)))
    {
        if info.exception_type == EXCP_THREAD_EXITING {
            // The process died after everyone passed; its threads' last words.
            w.close(exc);
            continue;
        }
        order.push(name);
        if Some(name) == second_chance_from && !order[..order.len() - 1].contains(&name) {
            w.k.sys_object_set_property(
                w.sup,
                exc,
                PROP_EXCEPTION_STRATEGY,
                &EXCEPTION_STRATEGY_SECOND_CHANCE.to_le_bytes(),
            )
            .unwrap();
        }
        w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    }
    order
}

#[test]
fn c10_full_order_debugger_thread_process_job_parent_job() {
    let mut w = World::new();
    let parent = w.job(w.root_h);
    let job = w.job(parent.h);
    let p = w.spawn(job.h);
    let chans = [
        (w.exception_channel(parent.h, 0), "parent job"),
        (w.exception_channel(job.h, 0), "job"),
        (w.exception_channel(p.ph, 0), "process"),
        (w.exception_channel(p.th, 0), "thread"),
        (
            w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER),
            "debugger",
        ),
        (w.exception_channel(w.root_h, 0), "root job"),
    ];
    let order = walk_order(&mut w, &chans, p.tid, None);
    assert_eq!(
        order,
        [
            "debugger",
            "thread",
            "process",
            "job",
            "parent job",
            "root job"
        ]
    );
}

#[test]
fn c11_unhandled_exception_kills_process_with_minus_1028() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let other = w.thread(&p);
    w.effects();
    let ch = w.exception_channel(p.ph, 0);
    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(ch).unwrap();
    assert!(w.process_info(p.ph).flags & INFO_PROCESS_FLAG_EXITED == 0);
    w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    let info = w.process_info(p.ph);
    assert!(info.exited());
    assert_eq!(info.return_code, TASK_RETCODE_EXCEPTION_KILL);
    assert_eq!(TASK_RETCODE_EXCEPTION_KILL, -1028);
    let effects = w.effects();
    assert!(exited(&effects, p.tid) && exited(&effects, other.koid));
    assert!(effects.contains(&Effect::ProcessExited {
        process: p.pid,
        return_code: -1028
    }));
    assert!(
        w.k.signals(p.pid)
            .unwrap()
            .contains(Signals::PROCESS_TERMINATED)
    );
    // No handler at all: killed at once.
    let q = w.spawn(w.root_h);
    w.fault(q.tid, GP);
    assert_eq!(w.process_info(q.ph).return_code, -1028);
}

#[test]
fn c12_handled_resumes_at_faulting_instruction_so_fault_repeats() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let ch = w.exception_channel(p.ph, 0);
    for _ in 0..3 {
        w.fault(p.tid, PAGE_FAULT);
        assert_eq!(w.effects(), [Effect::Park { thread: p.tid }]);
        let (info, exc) = w.read_exception(ch).unwrap();
        assert_eq!(info.exception_type, EXCP_FATAL_PAGE_FAULT);
        w.answer(exc, EXCEPTION_STATE_HANDLED);
        let entry = ran(&w.effects(), p.tid).expect("resumed");
        let RunEntry::Registers {
            syscall_status: None,
            single_step: false,
        } = entry
        else {
            panic!("{entry:?}")
        };
        assert_eq!(w.registers(p.tid).slots[w.layout.pc], FAULT_PC);
    }
}

#[test]
fn c13_thread_exit_state_ends_only_that_thread() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let other = w.thread(&p);
    w.effects();
    let ch = w.exception_channel(p.ph, 0);
    w.fault(other.koid, GP);
    let (_, exc) = w.read_exception(ch).unwrap();
    w.answer(exc, EXCEPTION_STATE_THREAD_EXIT);
    let effects = w.effects();
    assert!(exited(&effects, other.koid));
    assert!(!exited(&effects, p.tid));
    assert_eq!(w.thread_info(other.h).state, THREAD_STATE_DEAD);
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_RUNNING);
    assert!(!w.process_info(p.ph).exited());
}

#[test]
fn c14_property_errors_wrong_type_invalid_args_buffer_too_small() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let ch = w.exception_channel(p.ph, 0);
    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(ch).unwrap();
    let a = p.ph; // has the property rights, but is no exception
    let four = 1u32.to_le_bytes();
    let mut buf = [0u8; 4];
    for prop in [PROP_EXCEPTION_STATE, PROP_EXCEPTION_STRATEGY] {
        assert_eq!(
            w.k.sys_object_set_property(w.sup, a, prop, &four),
            Err(Status::WRONG_TYPE)
        );
        assert_eq!(
            w.k.sys_object_get_property(w.sup, a, prop, &mut buf),
            Err(Status::WRONG_TYPE)
        );
        assert_eq!(
            w.k.sys_object_set_property(w.sup, exc, prop, &[1, 0]),
            Err(Status::BUFFER_TOO_SMALL)
        );
        assert_eq!(
            w.k.sys_object_get_property(w.sup, exc, prop, &mut buf[..3]),
            Err(Status::BUFFER_TOO_SMALL)
        );
        assert_eq!(
            w.k.sys_object_set_property(w.sup, exc, prop, &7u32.to_le_bytes()),
            Err(Status::INVALID_ARGS)
        );
    }
    assert_eq!(
        w.k.sys_object_set_property(w.sup, exc, 9999, &four),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_object_get_property(w.sup, exc, PROP_EXCEPTION_STATE, &mut buf),
        Ok(4)
    );
    assert_eq!(u32::from_le_bytes(buf), EXCEPTION_STATE_TRY_NEXT);
    w.set_state(exc, EXCEPTION_STATE_HANDLED).unwrap();
    w.k.sys_object_get_property(w.sup, exc, PROP_EXCEPTION_STATE, &mut buf)
        .unwrap();
    assert_eq!(u32::from_le_bytes(buf), EXCEPTION_STATE_HANDLED);
    assert_eq!(
        w.k.sys_object_set_property(w.sup, HandleValue(0x1111_1113), PROP_EXCEPTION_STATE, &four),
        Err(Status::BAD_HANDLE)
    );
}

#[test]
fn c15_second_chance_order_and_bad_state_from_other_handlers() {
    let mut w = World::new();
    let job = w.job(w.root_h);
    let p = w.spawn(job.h);
    let chans = [
        (
            w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER),
            "debugger",
        ),
        (w.exception_channel(p.th, 0), "thread"),
        (w.exception_channel(p.ph, 0), "process"),
        (w.exception_channel(job.h, 0), "job"),
    ];
    let order = walk_order(&mut w, &chans, p.tid, Some("debugger"));
    assert_eq!(order, ["debugger", "thread", "process", "debugger", "job"]);

    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let thread_ch = w.exception_channel(p.th, 0);
    let _debugger = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    let second = EXCEPTION_STRATEGY_SECOND_CHANCE.to_le_bytes();
    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(_debugger).unwrap();
    w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    let (_, exc) = w.read_exception(thread_ch).unwrap();
    assert_eq!(
        w.k.sys_object_set_property(w.sup, exc, PROP_EXCEPTION_STRATEGY, &second),
        Err(Status::BAD_STATE)
    );
}

#[test]
fn c16_debugger_gone_before_second_chance_goes_to_jobs() {
    let mut w = World::new();
    let job = w.job(w.root_h);
    let p = w.spawn(job.h);
    let debugger = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    let process = w.exception_channel(p.ph, 0);
    let job_ch = w.exception_channel(job.h, 0);
    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(debugger).unwrap();
    w.k.sys_object_set_property(
        w.sup,
        exc,
        PROP_EXCEPTION_STRATEGY,
        &EXCEPTION_STRATEGY_SECOND_CHANCE.to_le_bytes(),
    )
    .unwrap();
    w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    w.close(debugger);
    let (_, exc) = w.read_exception(process).unwrap();
    w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    let (info, exc) = w.read_exception(job_ch).expect("went straight to the job");
    assert_eq!(info.tid, p.tid);
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    assert!(ran(&w.effects(), p.tid).is_some());
}

#[test]
fn c17_closing_channel_with_unread_exception_forwards_it() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let process = w.exception_channel(p.ph, 0);
    let thread = w.exception_channel(p.th, 0);
    w.fault(p.tid, GP);
    let thread_koid = w.koid(thread);
    assert_eq!(w.k.channel_queued(thread_koid), 1);
    w.close(thread); // unread: forwarded at once
    let (_, exc) = w.read_exception(process).expect("forwarded to the process");
    w.close(process); // already read: nothing changes, the handle decides
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_BLOCKED_EXCEPTION);
    assert_eq!(
        w.thread_info(p.th).wait_exception_channel_type,
        EXCEPTION_CHANNEL_TYPE_PROCESS
    );
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    assert!(ran(&w.effects(), p.tid).is_some());
    w.invariants();
}

#[test]
fn c18_thread_starting_and_exiting_reach_only_debugger_and_thread_waits() {
    let mut w = World::new();
    let job = w.job(w.root_h);
    let p = w.process(job.h);
    let debugger = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    let others = [
        w.exception_channel(p.th, 0),
        w.exception_channel(p.ph, 0),
        w.exception_channel(job.h, 0),
    ];
    w.start(&p);
    assert!(
        ran(&w.effects(), p.tid).is_none(),
        "waits for THREAD_STARTING"
    );
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_BLOCKED_EXCEPTION);
    assert_eq!(
        w.thread_info(p.th).wait_exception_channel_type,
        EXCEPTION_CHANNEL_TYPE_DEBUGGER
    );
    let (info, exc) = w.read_exception(debugger).unwrap();
    assert_eq!(info.exception_type, EXCP_THREAD_STARTING);
    assert!(others.iter().all(|&c| w.read_exception(c).is_none()));
    w.answer(exc, EXCEPTION_STATE_TRY_NEXT); // any answer lets it go
    let entry = ran(&w.effects(), p.tid).expect("started");
    assert_eq!(entry, RunEntry::Start);
    let regs = w.registers(p.tid);
    assert_eq!(
        (regs.slots[w.layout.pc], regs.slots[w.layout.sp]),
        (0x1000, 0x8000)
    );

    w.k.sys_thread_exit(p.tid).unwrap();
    assert_eq!(
        w.effects(),
        [Effect::Park { thread: p.tid }],
        "waits for THREAD_EXITING"
    );
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_BLOCKED_EXCEPTION);
    let (info, exc) = w.read_exception(debugger).unwrap();
    assert_eq!(info.exception_type, EXCP_THREAD_EXITING);
    assert!(others.iter().all(|&c| w.read_exception(c).is_none()));
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    let effects = w.effects();
    assert!(exited(&effects, p.tid));
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_DEAD);
}

#[test]
fn c19_process_starting_reaches_nearest_job_debuggers_in_order_and_stops() {
    let mut w = World::new();
    let grand = w.job(w.root_h);
    let parent = w.job(grand.h);
    let job = w.job(parent.h);
    let far = w.exception_channel(grand.h, EXCEPTION_CHANNEL_DEBUGGER);
    let near1 = w.exception_channel(parent.h, EXCEPTION_CHANNEL_DEBUGGER);
    let near2 = w.exception_channel(parent.h, EXCEPTION_CHANNEL_DEBUGGER);
    let job_ch = w.exception_channel(job.h, 0);
    let parent_ch = w.exception_channel(parent.h, 0);
    let p = w.process(job.h);
    let debugger = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    w.start(&p);
    // First job debugger (an ancestor's), then the second; then THREAD_STARTING.
    let (info, exc) = w.read_exception(near1).expect("first job debugger");
    assert_eq!(
        (info.exception_type, info.pid, info.tid),
        (EXCP_PROCESS_STARTING, p.pid, p.tid)
    );
    assert!(w.read_exception(near2).is_none(), "one at a time");
    assert_eq!(
        w.thread_info(p.th).wait_exception_channel_type,
        EXCEPTION_CHANNEL_TYPE_JOB_DEBUGGER
    );
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    let (info, exc) = w.read_exception(near2).expect("second job debugger");
    assert_eq!(info.exception_type, EXCP_PROCESS_STARTING);
    w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    assert!(
        w.read_exception(far).is_none(),
        "does not bubble past the job that had them"
    );
    assert!(w.read_exception(job_ch).is_none() && w.read_exception(parent_ch).is_none());
    let (info, exc) = w.read_exception(debugger).unwrap();
    assert_eq!(info.exception_type, EXCP_THREAD_STARTING);
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    assert!(matches!(ran(&w.effects(), p.tid), Some(RunEntry::Start)));
    // Only the first thread.
    let t2 = w.k.sys_thread_create(w.sup, p.ph, b"", 0).unwrap();
    w.k.sys_thread_start(w.sup, t2, 0, 0, 0, 0).unwrap();
    assert!(w.read_exception(near1).is_none() && w.read_exception(near2).is_none());
    let (info, _exc) = w.read_exception(debugger).unwrap();
    assert_eq!(info.exception_type, EXCP_THREAD_STARTING);
}

#[test]
fn c20_there_is_no_process_exiting_exception() {
    let mut w = World::new();
    let job = w.job(w.root_h);
    let p = w.spawn(job.h);
    let job_debugger = w.exception_channel(job.h, EXCEPTION_CHANNEL_DEBUGGER);
    let root_debugger = w.exception_channel(w.root_h, EXCEPTION_CHANNEL_DEBUGGER);
    let job_ch = w.exception_channel(job.h, 0);
    let process_ch = w.exception_channel(p.ph, 0);
    let debugger = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    w.k.sys_process_exit(p.tid, 7).unwrap();
    assert_eq!(w.process_info(p.ph).return_code, 7);
    for ch in [job_debugger, root_debugger, job_ch, process_ch] {
        assert!(w.read_exception(ch).is_none());
    }
    let (info, _) = w.read_exception(debugger).unwrap();
    assert_eq!(info.exception_type, EXCP_THREAD_EXITING);
    assert!(w.read_exception(debugger).is_none());
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
    assert_eq!(all_types.len(), 10, "no PROCESS_EXITING type exists");
}

fn c21_on(layout: spinel_abi::thread::RegisterLayout) {
    let mut w = World::with_layout(layout);
    let p = w.process(w.root_h);
    let debugger = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    let size = layout.count * 8;
    let mut buf = vec![0u8; 400];
    // Not in an exception, not suspended: BAD_STATE.
    assert_eq!(
        w.k.sys_thread_read_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &mut buf),
        Err(Status::BAD_STATE)
    );
    w.start(&p);
    let (_, exc) = w.read_exception(debugger).unwrap(); // THREAD_STARTING
    assert_eq!(
        w.k.sys_thread_read_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &mut buf),
        Ok(size)
    );
    let pc = u64::from_le_bytes(buf[layout.pc * 8..layout.pc * 8 + 8].try_into().unwrap());
    assert_eq!(pc, 0x1000);
    buf[layout.sp * 8..layout.sp * 8 + 8].copy_from_slice(&0x7000u64.to_le_bytes());
    w.k.sys_thread_write_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &buf[..size])
        .unwrap();
    assert_eq!(
        w.k.sys_thread_read_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &mut buf[..size - 1]),
        Err(Status::BUFFER_TOO_SMALL)
    );
    assert_eq!(
        w.k.sys_thread_write_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &buf[..size - 8]),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_thread_read_state(w.sup, p.th, 77, &mut buf),
        Err(Status::INVALID_ARGS)
    );
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    assert_eq!(ran(&w.effects(), p.tid), Some(RunEntry::Start));
    let regs = w.registers(p.tid);
    assert_eq!(regs.slots[layout.sp], 0x7000);

    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(debugger).unwrap();
    assert_eq!(
        w.k.sys_thread_read_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &mut buf),
        Ok(size)
    );
    w.k.sys_thread_write_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &buf[..size])
        .unwrap();
    w.answer(exc, EXCEPTION_STATE_HANDLED);

    w.k.sys_thread_exit(p.tid).unwrap();
    let (info, _exc) = w.read_exception(debugger).unwrap();
    assert_eq!(info.exception_type, EXCP_THREAD_EXITING);
    assert_eq!(
        w.k.sys_thread_read_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &mut buf),
        Err(Status::NOT_SUPPORTED)
    );
    assert_eq!(
        w.k.sys_thread_write_state(w.sup, p.th, THREAD_STATE_GENERAL_REGS, &buf[..size]),
        Err(Status::NOT_SUPPORTED)
    );
}

#[test]
fn c21_registers_in_exceptions_and_thread_starting_not_thread_exiting_x86_64() {
    c21_on(X86);
}

#[test]
fn c21_registers_in_exceptions_and_thread_starting_not_thread_exiting_arm64() {
    c21_on(ARM);
}

fn c22_on(layout: spinel_abi::thread::RegisterLayout) {
    let mut w = World::with_layout(layout);
    let p = w.spawn(w.root_h);
    let ch = w.exception_channel(p.ph, 0);
    w.fault(p.tid, TrapKind::UndefinedInstruction);
    let (_, exc) = w.read_exception(ch).unwrap();
    let th = w.k.sys_exception_get_thread(w.sup, exc).unwrap();
    let mut buf = vec![0u8; layout.count * 8];
    w.k.sys_thread_read_state(w.sup, th, THREAD_STATE_GENERAL_REGS, &mut buf)
        .unwrap();
    let at = layout.pc * 8;
    let pc = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
    buf[at..at + 8].copy_from_slice(&(pc + 4).to_le_bytes());
    w.k.sys_thread_write_state(w.sup, th, THREAD_STATE_GENERAL_REGS, &buf)
        .unwrap();
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    let Some(RunEntry::Registers { .. }) = ran(&w.effects(), p.tid) else {
        panic!()
    };
    let regs = w.registers(p.tid);
    assert_eq!(regs.slots[layout.pc], FAULT_PC + 4);
    assert_eq!(regs.count, layout.count);
    assert!(w.k.thread_is_runnable(p.tid));
}

#[test]
fn c22_handler_changing_pc_recovers_thread_x86_64() {
    c22_on(X86);
}

#[test]
fn c22_handler_changing_pc_recovers_thread_arm64() {
    c22_on(ARM);
}

#[test]
fn c23_killing_thread_stops_walk_and_closing_afterwards_does_nothing() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let other = w.thread(&p);
    let thread_ch = w.exception_channel(p.th, 0);
    let process_ch = w.exception_channel(p.ph, 0);
    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(thread_ch).unwrap();
    w.effects();
    w.k.sys_task_kill(w.sup, p.th).unwrap();
    assert!(exited(&w.effects(), p.tid));
    w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    assert!(w.read_exception(process_ch).is_none(), "not forwarded");
    assert!(w.effects().is_empty(), "not resumed");
    assert!(!w.process_info(p.ph).exited(), "the other thread lives on");
    let _ = other;
    w.invariants();
}

#[test]
fn c24_after_kill_exception_yields_task_handles_and_set_property_ok() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let ch = w.exception_channel(p.ph, 0);
    w.fault(p.tid, GP);
    let (_, exc) = w.read_exception(ch).unwrap();
    w.k.sys_task_kill(w.sup, p.ph).unwrap();
    let th = w.k.sys_exception_get_thread(w.sup, exc).unwrap();
    assert_eq!(w.koid(th), p.tid);
    let ph = w.k.sys_exception_get_process(w.sup, exc).unwrap();
    assert_eq!(w.koid(ph), p.pid);
    assert_eq!(w.set_state(exc, EXCEPTION_STATE_HANDLED), Ok(()));
    w.close(exc);
    assert!(w.effects().iter().all(|e| !matches!(e, Effect::Run { .. })));
    assert_eq!(w.process_info(p.ph).return_code, TASK_RETCODE_SYSCALL_KILL);
}

#[test]
fn c25_killed_thread_still_emits_thread_exiting_without_blocking() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let debugger = w.exception_channel(p.ph, EXCEPTION_CHANNEL_DEBUGGER);
    let other = w.thread(&p);
    let (_, exc) = w.read_exception(debugger).unwrap(); // other's THREAD_STARTING
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    w.effects();
    w.k.sys_task_kill(w.sup, other.h).unwrap();
    assert!(exited(&w.effects(), other.koid), "did not wait");
    assert_eq!(w.thread_info(other.h).state, THREAD_STATE_DEAD);
    let (info, exc) = w.read_exception(debugger).unwrap();
    assert_eq!(
        (info.exception_type, info.tid),
        (EXCP_THREAD_EXITING, other.koid)
    );
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    assert!(w.effects().is_empty());
    // Killing the whole process: each thread's THREAD_EXITING arrives, unblocking.
    w.k.sys_task_kill(w.sup, p.ph).unwrap();
    let (info, _) = w.read_exception(debugger).unwrap();
    assert_eq!(
        (info.exception_type, info.tid),
        (EXCP_THREAD_EXITING, p.tid)
    );
    assert!(w.process_info(p.ph).exited());
}

#[test]
fn c26_suspended_thread_in_exception_runs_only_when_both_released() {
    for handled_first in [true, false] {
        let mut w = World::new();
        let p = w.spawn(w.root_h);
        let ch = w.exception_channel(p.ph, 0);
        w.fault(p.tid, GP);
        let token = w.k.sys_task_suspend(w.sup, p.th).unwrap();
        let (_, exc) = w.read_exception(ch).unwrap();
        w.effects();
        if handled_first {
            w.answer(exc, EXCEPTION_STATE_HANDLED);
            assert!(ran(&w.effects(), p.tid).is_none());
            assert_eq!(w.thread_info(p.th).state, THREAD_STATE_SUSPENDED);
            w.close(token);
        } else {
            w.close(token);
            assert!(ran(&w.effects(), p.tid).is_none());
            assert_eq!(w.thread_info(p.th).state, THREAD_STATE_BLOCKED_EXCEPTION);
            w.answer(exc, EXCEPTION_STATE_HANDLED);
        }
        assert!(matches!(
            ran(&w.effects(), p.tid),
            Some(RunEntry::Registers { .. })
        ));
        assert_eq!(w.thread_info(p.th).state, THREAD_STATE_RUNNING);
    }
    // Suspension is counted.
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let t1 = w.k.sys_task_suspend(w.sup, p.th).unwrap();
    let t2 = w.k.sys_task_suspend(w.sup, p.ph).unwrap();
    assert_eq!(w.effects(), [Effect::Park { thread: p.tid }]);
    w.close(t1);
    assert!(w.effects().is_empty());
    w.close(t2);
    assert_eq!(
        w.effects(),
        [Effect::Run {
            thread: p.tid,
            entry: RunEntry::Continue
        }]
    );
}

#[test]
fn c27_unhandled_policy_error_is_fatal_with_policy_code() {
    let mut w = World::new();
    let job = job_with_policy(&mut w, POL_NEW_CHANNEL, POL_ACTION_DENY_EXCEPTION);
    let p = w.spawn(job.h);
    let caught = w.spawn(job.h);
    let catcher = w.exception_channel(caught.ph, 0);
    // Handled: the call returns ACCESS_DENIED once the thread resumes.
    assert_eq!(
        w.k.sys_channel_create(caught.tid, 0),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(w.effects(), [Effect::Park { thread: caught.tid }]);
    let report = w.report(caught.th).unwrap();
    assert_eq!(report.header.exception_type, EXCP_POLICY_ERROR);
    assert_eq!(report.context.synth_code, POL_NEW_CHANNEL);
    let (info, exc) = w.read_exception(catcher).unwrap();
    assert_eq!(info.exception_type, EXCP_POLICY_ERROR);
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    assert_eq!(
        ran(&w.effects(), caught.tid),
        Some(RunEntry::Syscall {
            status: Status::ACCESS_DENIED,
            completion: spinel_object::Completion::None
        })
    );
    // Unhandled: fatal.
    assert_eq!(w.k.sys_channel_create(p.tid, 0), Err(Status::ACCESS_DENIED));
    let info = w.process_info(p.ph);
    assert!(info.exited());
    assert_eq!(info.return_code, TASK_RETCODE_EXCEPTION_KILL);
    // ALLOW_EXCEPTION: the channel is made, the thread stops first.
    let job2 = job_with_policy(&mut w, POL_NEW_CHANNEL, POL_ACTION_ALLOW_EXCEPTION);
    let q = w.spawn(job2.h);
    let qch = w.exception_channel(q.ph, 0);
    assert!(w.k.sys_channel_create(q.tid, 0).is_ok());
    let (_, exc) = w.read_exception(qch).unwrap();
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    assert_eq!(
        ran(&w.effects(), q.tid),
        Some(RunEntry::Syscall {
            status: Status::OK,
            completion: spinel_object::Completion::None
        })
    );
}

fn c28_on(layout: spinel_abi::thread::RegisterLayout) {
    let mut w = World::with_layout(layout);
    let p = w.spawn(w.root_h);
    let ch = w.exception_channel(p.ph, 0);
    w.fault(p.tid, PAGE_FAULT);
    let report = w.report(p.th).unwrap();
    assert_eq!(report.header.size, 40);
    assert_eq!(report.header.exception_type, EXCP_FATAL_PAGE_FAULT);
    assert_eq!(report.context.synth_code, Status::NOT_FOUND.0 as u32);
    if layout.count == X86.count {
        let x = report.context.arch.as_x86_64();
        assert_eq!((x.vector, x.err_code, x.cr2), (14, 4, FAULT_ADDR));
    } else {
        let a = report.context.arch.as_arm64();
        assert_eq!(a.far, FAULT_ADDR);
        assert_eq!(a.esr >> 26, 0x24);
    }
    let _ = ch;
}

#[test]
fn c28_page_fault_report_has_cr2_and_vm_status_x86_64() {
    c28_on(X86);
}

#[test]
fn c28_page_fault_report_has_far_and_vm_status_arm64() {
    c28_on(ARM);
}

#[test]
fn c29_every_trigger_on_both_arches_fills_type_and_arch_fields() {
    let cases = [
        (
            TrapKind::UndefinedInstruction,
            EXCP_UNDEFINED_INSTRUCTION,
            6,
            0x00,
        ),
        (TrapKind::SoftwareBreakpoint, EXCP_SW_BREAKPOINT, 3, 0x3c),
        (TrapKind::HardwareBreakpoint, EXCP_HW_BREAKPOINT, 1, 0x32),
        (TrapKind::General, EXCP_GENERAL, 13, 0x0e),
        (PAGE_FAULT, EXCP_FATAL_PAGE_FAULT, 14, 0x24),
        (TrapKind::UnalignedAccess, EXCP_UNALIGNED_ACCESS, 17, 0x26),
    ];
    for layout in [X86, ARM] {
        let mut w = World::with_layout(layout);
        let p = w.spawn(w.root_h);
        let ch = w.exception_channel(p.ph, 0);
        for (kind, exception_type, vector, ec) in cases {
            w.fault(p.tid, kind);
            let (info, exc) = w.read_exception(ch).unwrap();
            assert_eq!(info.exception_type, exception_type);
            let report = w.report(p.th).unwrap();
            assert_eq!(report.header.exception_type, exception_type);
            if layout.count == X86.count {
                assert_eq!(report.context.arch.as_x86_64().vector, vector, "{kind:?}");
                if kind == TrapKind::General {
                    assert_eq!(report.context.arch.as_x86_64().err_code, 0x10);
                }
            } else {
                assert_eq!(report.context.arch.as_arm64().esr >> 26, ec, "{kind:?}");
            }
            // Divide error on x86 is a GENERAL too.
            w.answer(exc, EXCEPTION_STATE_HANDLED);
            w.effects();
        }
        let mut divide = trap_for(X86, TrapKind::General);
        divide.arch = spinel_hal_api::ArchFacts::X86_64 {
            vector: 0,
            error_code: 0,
            cr2: 0,
        };
        let report = spinel_object::report_for_trap(&divide, Status::OK);
        assert_eq!(
            (
                report.header.exception_type,
                report.context.arch.as_x86_64().vector
            ),
            (EXCP_GENERAL, 0)
        );
    }
}

#[test]
fn c30_port_second_bind_already_bound_empty_unbind_bad_state_debugger_on_thread_invalid() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let job = w.job(w.root_h);
    let port = w.port();
    for (task, options) in [
        (p.th, 0),
        (p.ph, 0),
        (p.ph, EXCEPTION_PORT_DEBUGGER),
        (job.h, 0),
        (job.h, EXCEPTION_PORT_DEBUGGER),
    ] {
        assert_eq!(
            w.k.sys_task_bind_exception_port(w.sup, task, HandleValue::INVALID, 0, options),
            Err(Status::BAD_STATE)
        );
        w.k.sys_task_bind_exception_port(w.sup, task, port, 1, options)
            .unwrap();
        assert_eq!(
            w.k.sys_task_bind_exception_port(w.sup, task, port, 2, options),
            Err(Status::ALREADY_BOUND)
        );
        w.k.sys_task_bind_exception_port(w.sup, task, HandleValue::INVALID, 0, options)
            .unwrap();
        assert_eq!(
            w.k.sys_task_bind_exception_port(w.sup, task, HandleValue::INVALID, 0, options),
            Err(Status::BAD_STATE)
        );
    }
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, p.th, port, 0, EXCEPTION_PORT_DEBUGGER),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, p.ph, port, 0, 4),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, p.ph, port, 0, EXCEPTION_PORT_UNBIND_QUIETLY),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, HandleValue(0x5555_5557), port, 0, 0),
        Err(Status::BAD_HANDLE)
    );
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, port, port, 0, 0),
        Err(Status::WRONG_TYPE)
    );
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, p.ph, p.th, 0, 0),
        Err(Status::WRONG_TYPE)
    );
    // A slot holds one kind: a live channel makes a bind ALREADY_BOUND and back.
    let ch = w.exception_channel(p.ph, 0);
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, p.ph, port, 0, 0),
        Err(Status::ALREADY_BOUND)
    );
    w.close(ch);
    w.k.sys_task_bind_exception_port(w.sup, p.ph, port, 0, 0)
        .unwrap();
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, p.ph, 0),
        Err(Status::ALREADY_BOUND)
    );
}

#[test]
fn c31_port_packet_is_48_bytes_with_key_type_ok_pid_tid() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, p.ph, port, 0xfeed_f00d, 0)
        .unwrap();
    w.fault(p.tid, TrapKind::SoftwareBreakpoint);
    let packet = w.k.sys_port_wait(w.sup, port, 0).unwrap().done().unwrap();
    let bytes = packet.to_bytes();
    assert_eq!(bytes.len(), 48);
    assert_eq!(core::mem::size_of::<PortPacket>(), 48);
    assert_eq!(packet.key, 0xfeed_f00d);
    assert_eq!(packet.packet_type, EXCP_SW_BREAKPOINT);
    assert_eq!(packet.status, Status::OK.0);
    let e = packet.as_exception();
    assert_eq!(
        (e.pid, e.tid, e.reserved0, e.reserved1),
        (p.pid, p.tid, 0, 0)
    );
    assert_eq!(
        w.report(p.th).unwrap().header.exception_type,
        EXCP_SW_BREAKPOINT
    );
}

#[test]
fn c32_port_resume_wrong_port_denied_twice_bad_state_try_next_forwards() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let port = w.port();
    let other = w.port();
    let process_ch = w.exception_channel(p.ph, 0);
    w.k.sys_task_bind_exception_port(w.sup, p.th, port, 1, 0)
        .unwrap();
    assert_eq!(
        w.k.sys_task_resume_from_exception(w.sup, p.th, port, 0),
        Err(Status::BAD_STATE),
        "not in an exception"
    );
    w.fault(p.tid, GP);
    assert_eq!(
        w.k.sys_task_resume_from_exception(w.sup, p.th, other, 0),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        w.k.sys_task_resume_from_exception(w.sup, p.th, port, 1),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_task_resume_from_exception(w.sup, p.th, port, 4),
        Err(Status::INVALID_ARGS)
    );
    w.k.sys_task_resume_from_exception(w.sup, p.th, port, 0)
        .unwrap();
    assert!(ran(&w.effects(), p.tid).is_some());
    assert_eq!(
        w.k.sys_task_resume_from_exception(w.sup, p.th, port, 0),
        Err(Status::BAD_STATE)
    );
    // TRY_NEXT forwards (here to the process channel).
    w.fault(p.tid, GP);
    w.k.sys_task_resume_from_exception(w.sup, p.th, port, RESUME_TRY_NEXT)
        .unwrap();
    assert_eq!(
        w.k.sys_task_resume_from_exception(w.sup, p.th, port, 0),
        Err(Status::BAD_STATE)
    );
    let (_, exc) = w.read_exception(process_ch).expect("forwarded");
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    // Magenta: task_resume with RESUME_EXCEPTION [| TRY_NEXT].
    w.fault(p.tid, GP);
    assert_eq!(
        w.k.sys_task_resume(w.sup, p.th, RESUME_TRY_NEXT),
        Err(Status::INVALID_ARGS)
    );
    w.k.sys_task_resume(w.sup, p.th, RESUME_EXCEPTION | RESUME_TRY_NEXT)
        .unwrap();
    let (_, exc) = w
        .read_exception(process_ch)
        .expect("forwarded by task_resume");
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    w.fault(p.tid, GP);
    w.effects();
    w.k.sys_task_resume(w.sup, p.th, RESUME_EXCEPTION).unwrap();
    assert!(ran(&w.effects(), p.tid).is_some());
    assert_eq!(
        w.k.sys_task_resume(w.sup, p.th, RESUME_EXCEPTION),
        Err(Status::BAD_STATE)
    );
}

#[test]
fn c33_port_unbind_or_close_forwards_and_quiet_unbind_keeps_waiting() {
    // Unbinding forwards.
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let port = w.port();
    let process_ch = w.exception_channel(p.ph, 0);
    w.k.sys_task_bind_exception_port(w.sup, p.th, port, 1, 0)
        .unwrap();
    w.fault(p.tid, GP);
    w.k.sys_task_bind_exception_port(w.sup, p.th, HandleValue::INVALID, 0, 0)
        .unwrap();
    let (_, exc) = w.read_exception(process_ch).expect("forwarded by unbind");
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    // Closing the port's last handle forwards.
    w.k.sys_task_bind_exception_port(w.sup, p.th, port, 1, 0)
        .unwrap();
    w.fault(p.tid, GP);
    w.close(port);
    let (_, exc) = w.read_exception(process_ch).expect("forwarded by close");
    w.answer(exc, EXCEPTION_STATE_HANDLED);
    w.effects();
    // Quiet unbind: detach and re-attach without losing the stop.
    let debug_port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, p.ph, debug_port, 7, EXCEPTION_PORT_DEBUGGER)
        .unwrap();
    w.fault(p.tid, TrapKind::HardwareBreakpoint);
    let first = w.report(p.th).unwrap();
    w.k.sys_task_bind_exception_port(
        w.sup,
        p.ph,
        HandleValue::INVALID,
        0,
        EXCEPTION_PORT_DEBUGGER | EXCEPTION_PORT_UNBIND_QUIETLY,
    )
    .unwrap();
    assert!(w.read_exception(process_ch).is_none(), "kept waiting");
    let info = w.thread_info(p.th);
    assert_eq!(
        (info.state, info.wait_exception_channel_type),
        (
            THREAD_STATE_BLOCKED_EXCEPTION,
            EXCEPTION_CHANNEL_TYPE_DEBUGGER
        )
    );
    assert!(ran(&w.effects(), p.tid).is_none());
    let new_port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, p.ph, new_port, 8, EXCEPTION_PORT_DEBUGGER)
        .unwrap();
    assert_eq!(w.report(p.th).unwrap(), first, "the same report");
    assert_eq!(
        w.k.sys_task_resume_from_exception(w.sup, p.th, debug_port, 0),
        Err(Status::ACCESS_DENIED)
    );
    w.k.sys_task_resume_from_exception(w.sup, p.th, new_port, 0)
        .unwrap();
    assert!(ran(&w.effects(), p.tid).is_some());
}

#[test]
fn c34_magenta_system_port_is_tried_last_and_rejects_debugger_or_quietly() {
    let mut w = World::new();
    let job = w.job(w.root_h);
    let p = w.spawn(job.h);
    let system = w.port();
    assert_eq!(
        w.k.sys_task_bind_exception_port(
            w.sup,
            HandleValue::INVALID,
            system,
            0,
            EXCEPTION_PORT_DEBUGGER
        ),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_task_bind_exception_port(
            w.sup,
            HandleValue::INVALID,
            HandleValue::INVALID,
            0,
            EXCEPTION_PORT_UNBIND_QUIETLY
        ),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, HandleValue::INVALID, HandleValue::INVALID, 0, 0),
        Err(Status::BAD_STATE)
    );
    // Only the root job's authority: a process of another job is refused.
    let system_koid = w.koid(system);
    let outsider_port =
        w.k.grant_handle(p.pid, system_koid, Rights::DEFAULT_PORT)
            .unwrap();
    assert_eq!(
        w.k.sys_task_bind_exception_port(p.tid, HandleValue::INVALID, outsider_port, 0, 0),
        Err(Status::ACCESS_DENIED)
    );
    w.k.sys_task_bind_exception_port(w.sup, HandleValue::INVALID, system, 0x5e5, 0)
        .unwrap();
    assert_eq!(
        w.k.sys_task_bind_exception_port(w.sup, HandleValue::INVALID, system, 0, 0),
        Err(Status::ALREADY_BOUND)
    );
    let root_ch = w.exception_channel(w.root_h, 0);
    let job_ch = w.exception_channel(job.h, 0);
    w.fault(p.tid, GP);
    for ch in [job_ch, root_ch] {
        let (_, exc) = w.read_exception(ch).unwrap();
        assert_eq!(w.k.port_queued(system_koid), 0, "system port is last");
        w.answer(exc, EXCEPTION_STATE_TRY_NEXT);
    }
    let packet = w.k.sys_port_wait(w.sup, system, 0).unwrap().done().unwrap();
    assert_eq!((packet.key, packet.packet_type), (0x5e5, EXCP_GENERAL));
    assert_eq!(
        w.thread_info(p.th).wait_exception_channel_type,
        EXCEPTION_PORT_TYPE_SYSTEM
    );
    w.k.sys_task_resume(w.sup, p.th, RESUME_EXCEPTION | RESUME_TRY_NEXT)
        .unwrap();
    assert_eq!(
        w.process_info(p.ph).return_code,
        TASK_RETCODE_EXCEPTION_KILL
    );
    w.k.sys_task_bind_exception_port(w.sup, HandleValue::INVALID, HandleValue::INVALID, 0, 0)
        .unwrap();
}

#[test]
fn c35_exception_packet_that_cannot_be_queued_kills_process() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, p.ph, port, 1, 0)
        .unwrap();
    let capacity = w.k.config().port_capacity;
    for i in 0..capacity {
        w.k.sys_port_queue(w.sup, port, &PortPacket::user(i as u64, [0; 4]))
            .unwrap();
    }
    assert_eq!(
        w.k.sys_port_queue(w.sup, port, &PortPacket::user(0, [0; 4])),
        Err(Status::SHOULD_WAIT)
    );
    w.fault(p.tid, GP);
    let info = w.process_info(p.ph);
    assert!(info.exited());
    assert_eq!(info.return_code, TASK_RETCODE_EXCEPTION_KILL);
    assert!(exited(&w.effects(), p.tid));
    w.invariants();
}

#[test]
fn c36_process_exiting_with_its_own_exception_channel_or_port_is_safe() {
    let mut w = World::new();
    let baseline = w.k.object_count();
    let job = w.job(w.root_h);
    let p = w.spawn(job.h);
    let other = w.thread(&p);
    let own_ph =
        w.k.grant_handle(p.pid, p.pid, Rights::DEFAULT_PROCESS)
            .unwrap();
    let own_th =
        w.k.grant_handle(p.pid, p.tid, Rights::DEFAULT_THREAD)
            .unwrap();
    let own_job =
        w.k.grant_handle(p.pid, job.koid, Rights::DEFAULT_JOB)
            .unwrap();
    let own_debugger =
        w.k.sys_task_create_exception_channel(p.tid, own_ph, EXCEPTION_CHANNEL_DEBUGGER)
            .unwrap();
    let _own_job_ch =
        w.k.sys_task_create_exception_channel(p.tid, own_job, 0)
            .unwrap();
    let own_port = w.k.sys_port_create(p.tid, 0).unwrap();
    w.k.sys_task_bind_exception_port(p.tid, own_ph, own_port, 1, 0)
        .unwrap();
    w.k.sys_task_bind_exception_port(p.tid, own_th, own_port, 2, 0)
        .unwrap();
    assert!(w.read_exception_as(p.tid, own_debugger).is_none());
    w.fault(other.koid, GP); // held by its own debugger channel
    w.k.sys_process_exit(p.tid, 3).unwrap();
    assert!(w.process_info(p.ph).exited());
    assert_eq!(w.process_info(p.ph).return_code, 3);
    w.invariants();
    w.close(p.ph);
    w.close(p.th);
    w.close(other.h);
    w.k.sys_task_kill(w.sup, job.h).unwrap();
    w.close(job.h);
    w.invariants();
    assert_eq!(w.k.object_count(), baseline, "nothing leaked");
}

impl World {
    fn read_exception_as(
        &mut self,
        reader: u64,
        channel: HandleValue,
    ) -> Option<(ExceptionInfo, HandleValue)> {
        let mut bytes = [0u8; 64];
        let mut handles = [HandleValue::INVALID; 4];
        let _ = self
            .k
            .sys_channel_read(reader, channel, 0, &mut bytes, &mut handles)
            .ok()?;
        Some((
            ExceptionInfo::from_bytes(bytes[..24].try_into().unwrap()),
            handles[0],
        ))
    }
}

#[test]
fn c18_port_era_debugger_gets_thread_starting_and_resume_starts_the_thread() {
    let mut w = World::new();
    let p = w.process(w.root_h);
    let port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, p.ph, port, 3, EXCEPTION_PORT_DEBUGGER)
        .unwrap();
    w.start(&p);
    assert!(ran(&w.effects(), p.tid).is_none());
    let packet = w.k.sys_port_wait(w.sup, port, 0).unwrap().done().unwrap();
    assert_eq!((packet.key, packet.packet_type), (3, EXCP_THREAD_STARTING));
    w.k.sys_task_resume_from_exception(w.sup, p.th, port, 0)
        .unwrap();
    assert!(matches!(ran(&w.effects(), p.tid), Some(RunEntry::Start)));
    w.k.sys_thread_exit(p.tid).unwrap();
    let packet = w.k.sys_port_wait(w.sup, port, 0).unwrap().done().unwrap();
    assert_eq!(packet.packet_type, EXCP_THREAD_EXITING);
    assert!(!exited(&w.effects(), p.tid));
    w.k.sys_task_resume(w.sup, p.th, RESUME_EXCEPTION).unwrap();
    assert!(exited(&w.effects(), p.tid));
}

#[test]
fn c19_port_era_job_debugger_gets_process_starting() {
    let mut w = World::new();
    let job = w.job(w.root_h);
    let port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, job.h, port, 9, EXCEPTION_PORT_DEBUGGER)
        .unwrap();
    assert_eq!(
        w.k.sys_task_create_exception_channel(w.sup, job.h, EXCEPTION_CHANNEL_DEBUGGER),
        Err(Status::ALREADY_BOUND)
    );
    let p = w.process(job.h);
    w.start(&p);
    let packet = w.k.sys_port_wait(w.sup, port, 0).unwrap().done().unwrap();
    assert_eq!((packet.key, packet.packet_type), (9, EXCP_PROCESS_STARTING));
    assert_eq!(
        w.thread_info(p.th).wait_exception_channel_type,
        EXCEPTION_CHANNEL_TYPE_JOB_DEBUGGER
    );
    w.k.sys_task_resume_from_exception(w.sup, p.th, port, RESUME_TRY_NEXT)
        .unwrap();
    assert!(matches!(ran(&w.effects(), p.tid), Some(RunEntry::Start)));
}
