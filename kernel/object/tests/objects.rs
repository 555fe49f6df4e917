//! Objects, handles, rights, channels, ports, signals and waiting: the
//! layer under exception delivery, through the syscall API.

mod common;

use common::*;
use spinel_abi::info::*;
use spinel_abi::object::*;
use spinel_abi::policy::*;
use spinel_abi::{HandleValue, Koid, PortPacket, Rights, Signals, Status};
use spinel_object::{Blocking, Completion, Effect, ProcessMemory, RunEntry};

fn syscall_return(effects: &[Effect], tid: Koid) -> Option<(Status, Completion)> {
    effects.iter().find_map(|e| match e {
        Effect::Run {
            thread,
            entry: RunEntry::Syscall { status, completion },
        } if *thread == tid => Some((*status, *completion)),
        _ => None,
    })
}

#[test]
fn handle_close_duplicate_replace_statuses() {
    let mut w = World::new();
    let port = w.port();
    assert_eq!(w.k.sys_handle_close(w.sup, HandleValue::INVALID), Ok(()));
    assert_eq!(
        w.k.sys_handle_close(w.sup, HandleValue(0x1234_5677)),
        Err(Status::BAD_HANDLE)
    );
    let dup =
        w.k.sys_handle_duplicate(w.sup, port, Rights::READ | Rights::DUPLICATE)
            .unwrap();
    assert_ne!(dup, port);
    assert_eq!(w.koid(dup), w.koid(port));
    assert_eq!(w.rights(dup), Rights::READ | Rights::DUPLICATE);
    assert_eq!(
        w.k.sys_handle_duplicate(w.sup, dup, Rights::WRITE),
        Err(Status::INVALID_ARGS)
    );
    let no_dup = w.k.sys_handle_duplicate(w.sup, port, Rights::READ).unwrap();
    assert_eq!(
        w.k.sys_handle_duplicate(w.sup, no_dup, Rights::SAME_RIGHTS),
        Err(Status::ACCESS_DENIED)
    );
    // Replace: a subset, the old value gone; a superset fails and keeps it.
    assert_eq!(
        w.k.sys_handle_replace(w.sup, dup, Rights::WRITE),
        Err(Status::INVALID_ARGS)
    );
    let replaced = w.k.sys_handle_replace(w.sup, dup, Rights::READ).unwrap();
    assert_eq!(w.k.sys_handle_close(w.sup, dup), Err(Status::BAD_HANDLE));
    assert_eq!(w.rights(replaced), Rights::READ);
    // Values are not reused at once.
    w.close(replaced);
    let again =
        w.k.sys_handle_duplicate(w.sup, port, Rights::SAME_RIGHTS)
            .unwrap();
    assert_ne!(again, replaced);
    let port_koid = w.koid(port);
    assert_eq!(w.k.handle_count(port_koid), 3);
}

#[test]
fn channel_messages_handles_and_peer_closed() {
    let mut w = World::new();
    let (a, b) = w.k.sys_channel_create(w.sup, 0).unwrap();
    assert_eq!(w.rights(a), Rights::DEFAULT_CHANNEL);
    let (ka, kb) = (w.koid(a), w.koid(b));
    assert_eq!(w.k.signals(kb), Some(Signals::CHANNEL_WRITABLE));
    let mut bytes = [0u8; 16];
    let mut handles = [HandleValue::INVALID; 2];
    assert_eq!(
        w.k.sys_channel_read(w.sup, b, 0, &mut bytes, &mut handles)
            .unwrap_err()
            .status,
        Status::SHOULD_WAIT
    );
    let port = w.port();
    let port_koid = w.koid(port);
    w.k.sys_channel_write(w.sup, a, 0, b"hello", &[port])
        .unwrap();
    assert_eq!(
        w.k.sys_handle_close(w.sup, port),
        Err(Status::BAD_HANDLE),
        "moved"
    );
    assert!(w.k.signals(kb).unwrap().contains(Signals::CHANNEL_READABLE));
    let sizes =
        w.k.sys_channel_read(w.sup, b, 0, &mut bytes, &mut handles)
            .unwrap();
    assert_eq!(
        (sizes.bytes, sizes.handles, &bytes[..5]),
        (5, 1, &b"hello"[..])
    );
    assert_eq!(w.koid(handles[0]), port_koid);
    assert!(!w.k.signals(kb).unwrap().contains(Signals::CHANNEL_READABLE));
    // Own handle or the peer's: NOT_SUPPORTED, and the handles are consumed.
    let extra = w.port();
    let (e, f) = w.k.sys_channel_create(w.sup, 0).unwrap();
    let fk = w.koid(f);
    assert_eq!(
        w.k.sys_channel_write(w.sup, e, 0, b"", &[e]),
        Err(Status::NOT_SUPPORTED)
    );
    assert_eq!(w.k.sys_handle_close(w.sup, e), Err(Status::BAD_HANDLE));
    assert!(w.peer_closed(fk), "e consumed itself");
    assert_eq!(
        w.k.sys_channel_write(w.sup, a, 0, b"", &[extra, b]),
        Err(Status::NOT_SUPPORTED)
    );
    assert_eq!(w.k.sys_handle_close(w.sup, extra), Err(Status::BAD_HANDLE));
    assert!(w.peer_closed(ka), "b was consumed and so closed");
    assert_eq!(
        w.k.sys_channel_write(w.sup, a, 0, b"x", &[]),
        Err(Status::PEER_CLOSED)
    );
    assert_eq!(
        w.k.sys_channel_read(w.sup, a, 0, &mut bytes, &mut handles)
            .unwrap_err()
            .status,
        Status::PEER_CLOSED
    );
    // Rights and types.
    let (c, _d) = w.k.sys_channel_create(w.sup, 0).unwrap();
    let read_only = w.k.sys_handle_replace(w.sup, c, Rights::READ).unwrap();
    assert_eq!(
        w.k.sys_channel_write(w.sup, read_only, 0, b"x", &[]),
        Err(Status::ACCESS_DENIED)
    );
    let p = w.port();
    assert_eq!(
        w.k.sys_channel_write(w.sup, p, 0, b"x", &[]),
        Err(Status::WRONG_TYPE)
    );
    assert_eq!(w.k.sys_channel_create(w.sup, 1), Err(Status::INVALID_ARGS));
    w.invariants();
}

#[test]
fn closing_a_channel_destroys_the_handles_in_its_messages() {
    let mut w = World::new();
    let baseline = w.k.object_count();
    let (a, b) = w.k.sys_channel_create(w.sup, 0).unwrap();
    let (c, d) = w.k.sys_channel_create(w.sup, 0).unwrap();
    let dk = w.koid(d);
    w.k.sys_channel_write(w.sup, a, 0, b"", &[c]).unwrap();
    w.close(b);
    assert!(w.peer_closed(dk), "c died with b's queue");
    w.close(a);
    w.close(d);
    assert_eq!(w.k.object_count(), baseline);
}

#[test]
fn port_queue_wait_block_wake_and_timeout() {
    let mut w = World::new();
    let port = w.port();
    let p = w.spawn(w.root_h);
    let port_koid = w.koid(port);
    let ph =
        w.k.grant_handle(p.pid, port_koid, Rights::DEFAULT_PORT)
            .unwrap();
    assert_eq!(w.k.sys_port_wait(p.tid, ph, 0), Err(Status::TIMED_OUT));
    assert_eq!(w.k.sys_port_wait(p.tid, ph, 500), Ok(Blocking::Blocked));
    assert_eq!(w.effects(), [Effect::Park { thread: p.tid }]);
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_BLOCKED_PORT);
    let packet = PortPacket::user(9, [1, 2, 3, 4]);
    w.k.sys_port_queue(w.sup, port, &packet).unwrap();
    assert_eq!(
        syscall_return(&w.effects(), p.tid),
        Some((Status::OK, Completion::Packet(packet)))
    );
    assert_eq!(w.k.sys_port_wait(p.tid, ph, 500), Ok(Blocking::Blocked));
    assert_eq!(w.k.next_deadline(), Some(500));
    w.k.advance_time(499);
    assert_eq!(w.effects(), [Effect::Park { thread: p.tid }]);
    w.k.advance_time(500);
    assert_eq!(
        syscall_return(&w.effects(), p.tid),
        Some((Status::TIMED_OUT, Completion::None))
    );
    assert_eq!(w.k.sys_port_create(w.sup, 1), Err(Status::INVALID_ARGS));
    let read_only = w.k.sys_handle_duplicate(w.sup, port, Rights::READ).unwrap();
    assert_eq!(
        w.k.sys_port_queue(w.sup, read_only, &packet),
        Err(Status::ACCESS_DENIED)
    );
}

#[test]
fn wait_one_immediate_blocking_timeout_and_cancel() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let event = w.k.sys_event_create(w.sup, 0).unwrap();
    let ek = w.koid(event);
    let eh = w.k.grant_handle(p.pid, ek, Rights::DEFAULT_EVENT).unwrap();
    let user0 = Signals::USER_SIGNAL_0;
    assert_eq!(
        w.k.sys_object_wait_one(p.tid, eh, user0, 100),
        Ok(Blocking::Blocked)
    );
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_BLOCKED_WAIT_ONE);
    w.effects();
    w.k.sys_object_signal(w.sup, event, Signals::NONE, user0)
        .unwrap();
    assert_eq!(
        syscall_return(&w.effects(), p.tid),
        Some((Status::OK, Completion::Signals(user0)))
    );
    assert_eq!(
        w.k.sys_object_wait_one(p.tid, eh, user0, 100),
        Ok(Blocking::Done(user0))
    );
    w.k.sys_object_signal(w.sup, event, user0, Signals::NONE)
        .unwrap();
    w.k.sys_object_wait_one(p.tid, eh, user0, 100).unwrap();
    w.k.advance_time(100);
    assert_eq!(
        syscall_return(&w.effects(), p.tid),
        Some((Status::TIMED_OUT, Completion::Signals(Signals::NONE)))
    );
    // Closing the handle a wait uses cancels it.
    let t2 = w.thread(&p);
    w.effects();
    w.k.sys_object_wait_one(t2.koid, eh, user0, TIME_INFINITE)
        .unwrap();
    w.k.sys_handle_close(p.tid, eh).unwrap();
    assert_eq!(
        syscall_return(&w.effects(), t2.koid).map(|r| r.0),
        Some(Status::CANCELED)
    );
    assert_eq!(
        w.k.sys_object_signal(w.sup, event, Signals::NONE, Signals::OBJECT_PEER_CLOSED),
        Err(Status::INVALID_ARGS)
    );
    w.invariants();
}

#[test]
fn wait_async_sends_one_signal_packet() {
    let mut w = World::new();
    let port = w.port();
    let (a, b) = w.k.sys_channel_create(w.sup, 0).unwrap();
    w.k.sys_object_wait_async(w.sup, b, port, 42, Signals::CHANNEL_READABLE, 0)
        .unwrap();
    assert_eq!(w.k.sys_port_wait(w.sup, port, 0), Err(Status::TIMED_OUT));
    w.k.sys_channel_write(w.sup, a, 0, b"1", &[]).unwrap();
    w.k.sys_channel_write(w.sup, a, 0, b"2", &[]).unwrap();
    let packet = w.k.sys_port_wait(w.sup, port, 0).unwrap().done().unwrap();
    assert_eq!(
        (packet.key, packet.as_signal().trigger),
        (42, Signals::CHANNEL_READABLE.0)
    );
    assert_eq!(
        w.k.sys_port_wait(w.sup, port, 0),
        Err(Status::TIMED_OUT),
        "once"
    );
    // Already active: at once.
    w.k.sys_object_wait_async(w.sup, b, port, 43, Signals::CHANNEL_READABLE, 0)
        .unwrap();
    assert_eq!(
        w.k.sys_port_wait(w.sup, port, 0)
            .unwrap()
            .done()
            .unwrap()
            .key,
        43
    );
    assert_eq!(
        w.k.sys_object_wait_async(w.sup, b, port, 0, Signals::CHANNEL_READABLE, 0x80),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_object_wait_async(w.sup, b, a, 0, Signals::CHANNEL_READABLE, 0),
        Err(Status::WRONG_TYPE)
    );
}

#[test]
fn nanosleep_blocks_until_the_deadline() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    assert_eq!(w.k.sys_nanosleep(p.tid, 0), Ok(Blocking::Done(())));
    assert_eq!(w.k.sys_nanosleep(p.tid, 1000), Ok(Blocking::Blocked));
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_BLOCKED_SLEEPING);
    w.k.advance_time(2000);
    assert_eq!(
        syscall_return(&w.effects(), p.tid),
        Some((Status::OK, Completion::None))
    );
    assert_eq!(w.k.sys_clock_get_monotonic(), 2000);
}

#[test]
fn thread_and_process_lifecycle_info_and_signals() {
    let mut w = World::new();
    let p = w.process(w.root_h);
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_NEW);
    let info = w.process_info(p.ph);
    assert!(!info.started() && !info.exited() && !info.debugger_attached());
    let debugger = w.exception_channel(p.ph, spinel_abi::exception::EXCEPTION_CHANNEL_DEBUGGER);
    assert!(w.process_info(p.ph).debugger_attached());
    w.close(debugger);
    assert!(!w.process_info(p.ph).debugger_attached());
    w.start(&p);
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_RUNNING);
    assert!(
        w.k.signals(p.tid)
            .unwrap()
            .contains(Signals::THREAD_RUNNING)
    );
    assert_eq!(
        w.k.sys_process_start(w.sup, p.ph, p.th, 0, 0, HandleValue::INVALID, 0),
        Err(Status::BAD_STATE)
    );
    // The last thread's exit ends the process with 0.
    w.k.sys_thread_exit(p.tid).unwrap();
    assert!(w.effects().contains(&Effect::Exit { thread: p.tid }));
    let info = w.process_info(p.ph);
    assert!(info.exited());
    assert_eq!(info.return_code, 0);
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_DEAD);
    assert!(
        w.k.signals(p.pid)
            .unwrap()
            .contains(Signals::PROCESS_TERMINATED)
    );
    assert_eq!(
        w.k.sys_thread_create(w.sup, p.ph, b"", 0),
        Err(Status::BAD_STATE)
    );
    // process_start moves the argument handle into the new process.
    let q = w.process(w.root_h);
    let gift = w.port();
    w.k.sys_process_start(w.sup, q.ph, q.th, 0x1000, 0x2000, gift, 5)
        .unwrap();
    let Some(Effect::Run {
        entry: RunEntry::Start,
        thread,
    }) = w.effects().into_iter().next()
    else {
        panic!()
    };
    assert_eq!(thread, q.tid);
    let regs = w.registers(q.tid);
    let value = HandleValue(regs.slots[X86.arg0] as u32);
    assert_eq!(regs.slots[X86.arg1], 5);
    assert_eq!(w.k.sys_handle_close(w.sup, gift), Err(Status::BAD_HANDLE));
    assert_eq!(w.k.sys_handle_close(q.tid, value), Ok(()));
}

#[test]
fn task_calls_check_rights_types_and_options() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let weak =
        w.k.sys_handle_duplicate(w.sup, p.ph, Rights::BASIC)
            .unwrap();
    assert_eq!(w.k.sys_task_kill(w.sup, weak), Err(Status::ACCESS_DENIED));
    assert_eq!(
        w.k.sys_task_suspend(w.sup, weak),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        w.k.sys_thread_create(w.sup, weak, b"", 0),
        Err(Status::ACCESS_DENIED)
    );
    let port = w.port();
    assert_eq!(w.k.sys_task_kill(w.sup, port), Err(Status::ACCESS_DENIED));
    let port_koid = w.koid(port);
    let strong =
        w.k.grant_handle(w.sup_proc, port_koid, Rights::DESTROY | Rights::WRITE)
            .unwrap();
    assert_eq!(w.k.sys_task_kill(w.sup, strong), Err(Status::WRONG_TYPE));
    assert_eq!(w.k.sys_task_suspend(w.sup, strong), Err(Status::WRONG_TYPE));
    assert_eq!(
        w.k.sys_thread_create(w.sup, p.ph, b"", 1),
        Err(Status::INVALID_ARGS)
    );
    // Rights are checked before the type (Zircon's order).
    assert_eq!(
        w.k.sys_job_create(w.sup, p.ph, 0),
        Err(Status::ACCESS_DENIED)
    );
    let managing =
        w.k.grant_handle(w.sup_proc, p.pid, Rights::MANAGE_JOB)
            .unwrap();
    assert_eq!(
        w.k.sys_job_create(w.sup, managing, 0),
        Err(Status::WRONG_TYPE)
    );
    assert_eq!(
        w.k.sys_process_create(w.sup, w.root_h, b"", 1),
        Err(Status::INVALID_ARGS)
    );
    let mut buf = [0u8; 8];
    assert_eq!(
        w.k.sys_object_get_info(w.sup, p.ph, INFO_PROCESS, &mut buf),
        Err(Status::BUFFER_TOO_SMALL)
    );
    assert_eq!(
        w.k.sys_object_get_info(w.sup, port, INFO_PROCESS, &mut [0; 64]),
        Err(Status::WRONG_TYPE)
    );
    assert_eq!(
        w.k.sys_object_get_info(w.sup, p.ph, 999, &mut [0; 64]),
        Err(Status::NOT_SUPPORTED)
    );
    assert_eq!(w.report(p.th), Err(Status::BAD_STATE));
    // Policies: only on a job with no children; bad entries are INVALID_ARGS.
    let job = w.job(w.root_h);
    let bad = PolicyBasic {
        condition: POL_MAX,
        policy: POL_ACTION_DENY,
    };
    assert_eq!(
        w.k.sys_job_set_policy(w.sup, job.h, 0, JOB_POL_BASIC, &[bad]),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        w.k.sys_job_set_policy(w.sup, job.h, 7, JOB_POL_BASIC, &[]),
        Err(Status::INVALID_ARGS)
    );
    let _child = w.spawn(job.h);
    let ok = PolicyBasic {
        condition: POL_NEW_PORT,
        policy: POL_ACTION_DENY,
    };
    assert_eq!(
        w.k.sys_job_set_policy(w.sup, job.h, 0, JOB_POL_BASIC, &[ok]),
        Err(Status::BAD_STATE)
    );
    // KILL policy kills the caller's process.
    let strict = w.job(w.root_h);
    let kill = PolicyBasic {
        condition: POL_NEW_PORT,
        policy: POL_ACTION_KILL,
    };
    w.k.sys_job_set_policy(w.sup, strict.h, 0, JOB_POL_BASIC, &[kill])
        .unwrap();
    let victim = w.spawn(strict.h);
    assert_eq!(
        w.k.sys_port_create(victim.tid, 0),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        w.process_info(victim.ph).return_code,
        TASK_RETCODE_POLICY_KILL
    );
    // Child jobs inherit the policy.
    let deny = w.job(w.root_h);
    w.k.sys_job_set_policy(w.sup, deny.h, 0, JOB_POL_BASIC, &[ok])
        .unwrap();
    let child = w.job(deny.h);
    let q = w.spawn(child.h);
    assert_eq!(w.k.sys_port_create(q.tid, 0), Err(Status::ACCESS_DENIED));
}

struct FakeMemory(Vec<u8>);

impl ProcessMemory for FakeMemory {
    fn read(&mut self, _: Koid, address: u64, buffer: &mut [u8]) -> Result<usize, Status> {
        let at = address as usize;
        let n = buffer.len().min(self.0.len().saturating_sub(at));
        if n == 0 {
            return Err(Status::NO_MEMORY);
        }
        buffer[..n].copy_from_slice(&self.0[at..at + n]);
        Ok(n)
    }
    fn write(&mut self, _: Koid, address: u64, data: &[u8]) -> Result<usize, Status> {
        let at = address as usize;
        self.0[at..at + data.len()].copy_from_slice(data);
        Ok(data.len())
    }
}

#[test]
fn process_memory_goes_through_the_hook_after_checks() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let mut memory = FakeMemory(vec![0; 64]);
    assert_eq!(
        w.k.sys_process_write_memory(w.sup, p.ph, 8, b"spinel", &mut memory),
        Ok(6)
    );
    let mut buf = [0u8; 6];
    assert_eq!(
        w.k.sys_process_read_memory(w.sup, p.ph, 8, &mut buf, &mut memory),
        Ok(6)
    );
    assert_eq!(&buf, b"spinel");
    assert_eq!(
        w.k.sys_process_read_memory(w.sup, p.ph, 8, &mut [], &mut memory),
        Err(Status::INVALID_ARGS)
    );
    let read_only = w.k.sys_handle_duplicate(w.sup, p.ph, Rights::READ).unwrap();
    assert_eq!(
        w.k.sys_process_read_memory(w.sup, read_only, 0, &mut buf, &mut memory),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        w.k.sys_process_read_memory(w.sup, p.th, 0, &mut buf, &mut memory),
        Err(Status::WRONG_TYPE)
    );
    w.k.sys_task_kill(w.sup, p.ph).unwrap();
    assert_eq!(
        w.k.sys_process_read_memory(w.sup, p.ph, 0, &mut buf, &mut memory),
        Err(Status::BAD_STATE)
    );
}

#[test]
fn suspend_parks_a_running_thread_and_reports_suspended() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    let token = w.k.sys_task_suspend(w.sup, p.th).unwrap();
    assert_eq!(w.effects(), [Effect::Park { thread: p.tid }]);
    assert_eq!(w.thread_info(p.th).state, THREAD_STATE_SUSPENDED);
    assert!(
        w.k.signals(p.tid)
            .unwrap()
            .contains(Signals::THREAD_SUSPENDED)
    );
    // Registers of a suspended thread are readable (the glue saved them).
    w.k.save_registers(p.tid, &w.regs_at(0x4444)).unwrap();
    let mut buf = [0u8; 160];
    assert_eq!(w.k.sys_thread_read_state(w.sup, p.th, 0, &mut buf), Ok(160));
    w.close(token);
    assert_eq!(
        w.effects(),
        [Effect::Run {
            thread: p.tid,
            entry: RunEntry::Continue
        }]
    );
    // Threads started in a suspended process start suspended.
    let token = w.k.sys_task_suspend(w.sup, p.ph).unwrap();
    let t2 = w.thread(&p);
    assert!(!w.k.thread_is_runnable(t2.koid));
    w.close(token);
    assert!(w.k.thread_is_runnable(t2.koid));
}

#[test]
fn everything_closed_leaves_nothing_behind() {
    let mut w = World::new();
    let baseline = w.k.object_count();
    let job = w.job(w.root_h);
    let child = w.job(job.h);
    let p = w.spawn(child.h);
    let t = w.thread(&p);
    let ch = w.exception_channel(p.ph, 0);
    let port = w.port();
    w.k.sys_task_bind_exception_port(w.sup, job.h, port, 0, 0)
        .unwrap();
    let token = w.k.sys_task_suspend(w.sup, t.h).unwrap();
    w.fault(p.tid, PAGE_FAULT);
    let (_, exc) = w.read_exception(ch).unwrap();
    w.k.sys_task_kill(w.sup, job.h).unwrap();
    for h in [exc, ch, port, token, t.h, p.th, p.ph, child.h, job.h] {
        w.close(h);
    }
    w.invariants();
    assert_eq!(w.k.object_count(), baseline);
    let mut w = World::new();
    let unstarted = w.process(w.root_h);
    w.close(unstarted.th);
    w.close(unstarted.ph);
    assert_eq!(w.k.object_count(), baseline);
}

/// A process held only by a handle in its own unread bootstrap message dies
/// cleanly when it exits: killing its thread reaps it mid-kill.
#[test]
fn process_held_only_by_its_own_bootstrap_message_exits_cleanly() {
    use spinel_abi::thread::x86_64::LAYOUT;
    use spinel_object::{Config, Effect, Kernel};
    let mut k = Kernel::new(Config::new(LAYOUT));
    let root = k.root_job();
    let p = k.create_process(root, b"init").unwrap();
    let t = k.create_thread(p, b"main").unwrap();
    let channel = k
        .bootstrap_channel(
            p,
            b"hello",
            &[(p, Rights::DEFAULT_PROCESS), (t, Rights::DEFAULT_THREAD)],
        )
        .unwrap();
    k.start_process(p, t, 0x1000, 0x2000, u64::from(channel.raw()), 0)
        .unwrap();
    k.take_effects();
    k.sys_process_exit(t, 7).unwrap();
    let effects = k.take_effects();
    assert!(
        effects.contains(&Effect::ProcessExited {
            process: p,
            return_code: 7
        }),
        "{effects:?}"
    );
    assert!(effects.contains(&Effect::Exit { thread: t }), "{effects:?}");
    assert_eq!(k.object_count(), 1, "only the root job is left");
    k.check_invariants().unwrap();
}

/// Draining one at a time (`next_effect`, the glue's way) gives the same
/// effects as `take_effects`, and a run entry that loads registers loads
/// the thread's registers as the handler left them.
#[test]
fn next_effect_agrees_with_take_effects() {
    use spinel_abi::exception::EXCEPTION_STATE_HANDLED;
    use spinel_hal_api::TrapKind;
    fn scene(w: &mut World, step: usize) -> Option<Koid> {
        let p = match step {
            0 => return None,
            _ => w.process(w.root_h),
        };
        let channel = w.exception_channel(p.ph, 0);
        w.start(&p);
        if step == 1 {
            return Some(p.tid);
        }
        w.fault(p.tid, TrapKind::SoftwareBreakpoint);
        if step == 2 {
            return Some(p.tid);
        }
        let (_, exception) = w.read_exception(channel).unwrap();
        let mut regs = [0u8; 8 * 40];
        let n = w.layout.count * 8;
        w.k.sys_thread_read_state(
            w.sup,
            p.th,
            spinel_abi::thread::THREAD_STATE_GENERAL_REGS,
            &mut regs,
        )
        .unwrap();
        regs[w.layout.pc * 8] ^= 4;
        w.k.sys_thread_write_state(
            w.sup,
            p.th,
            spinel_abi::thread::THREAD_STATE_GENERAL_REGS,
            &regs[..n],
        )
        .unwrap();
        w.answer(exception, EXCEPTION_STATE_HANDLED);
        if step == 3 {
            return Some(p.tid);
        }
        w.k.sys_task_kill(w.sup, p.ph).unwrap();
        Some(p.tid)
    }
    for step in 0..5 {
        let (mut a, mut b) = (World::new(), World::new());
        let tid = scene(&mut a, step);
        scene(&mut b, step);
        let taken = a.effects();
        let mut drained = Vec::new();
        while let Some(effect) = b.k.next_effect() {
            drained.push(effect);
        }
        assert!(!b.k.has_effects());
        assert_eq!(taken, drained, "step {step}");
        if step == 3 {
            let tid = tid.expect("a thread");
            assert!(
                taken.contains(&Effect::Run {
                    thread: tid,
                    entry: RunEntry::Registers {
                        syscall_status: None,
                        single_step: false
                    },
                }),
                "{taken:?}"
            );
            assert_eq!(
                a.registers(tid).slots[X86.pc],
                common::FAULT_PC ^ 4,
                "the registers the entry loads"
            );
        }
    }
}

#[test]
fn process_maps_rule_checks_handle_rights_type_and_life() {
    let mut w = World::new();
    let p = w.spawn(w.root_h);
    assert_eq!(w.k.sys_process_maps(w.sup, p.ph), Ok(p.pid));
    assert_eq!(
        w.k.sys_process_maps(w.sup, HandleValue(0x7ead_beef)),
        Err(Status::BAD_HANDLE)
    );
    assert_eq!(w.k.sys_process_maps(w.sup, p.th), Err(Status::WRONG_TYPE));
    let weak =
        w.k.sys_handle_duplicate(
            w.sup,
            p.ph,
            Rights::DEFAULT_PROCESS.difference(Rights::INSPECT),
        )
        .unwrap();
    assert_eq!(
        w.k.sys_process_maps(w.sup, weak),
        Err(Status::ACCESS_DENIED)
    );
    // The generic path does not answer it with one record.
    assert_eq!(
        w.k.sys_object_get_info(w.sup, p.ph, INFO_PROCESS_MAPS, &mut [0; 256]),
        Err(Status::NOT_SUPPORTED)
    );
    w.k.sys_task_kill(w.sup, p.ph).unwrap();
    w.effects();
    assert_eq!(w.k.sys_process_maps(w.sup, p.ph), Err(Status::BAD_STATE));
    w.invariants();
}

#[test]
fn fp_state_rule_is_the_general_registers_rule() {
    use spinel_hal_api::TrapKind;
    let mut w = World::new();
    let p = w.process(w.root_h);
    let _channel = w.exception_channel(p.ph, 0);
    w.start(&p);
    for write in [false, true] {
        assert_eq!(
            w.k.sys_thread_fp_state(w.sup, p.th, write),
            Err(Status::BAD_STATE),
            "running"
        );
    }
    w.fault(p.tid, TrapKind::UndefinedInstruction);
    w.effects();
    for write in [false, true] {
        assert_eq!(w.k.sys_thread_fp_state(w.sup, p.th, write), Ok(p.tid));
        assert_eq!(
            w.k.sys_thread_fp_state(w.sup, HandleValue(0x7ead_beef), write),
            Err(Status::BAD_HANDLE)
        );
        assert_eq!(
            w.k.sys_thread_fp_state(w.sup, p.ph, write),
            Err(Status::WRONG_TYPE)
        );
    }
    let no_read =
        w.k.sys_handle_duplicate(w.sup, p.th, Rights::DEFAULT_THREAD.difference(Rights::READ))
            .unwrap();
    assert_eq!(
        w.k.sys_thread_fp_state(w.sup, no_read, false),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(w.k.sys_thread_fp_state(w.sup, no_read, true), Ok(p.tid));
    let no_write =
        w.k.sys_handle_duplicate(
            w.sup,
            p.th,
            Rights::DEFAULT_THREAD.difference(Rights::WRITE),
        )
        .unwrap();
    assert_eq!(
        w.k.sys_thread_fp_state(w.sup, no_write, true),
        Err(Status::ACCESS_DENIED)
    );
    // The object layer's own decoder still calls FP_REGS not its business.
    assert_eq!(
        w.k.sys_thread_read_state(w.sup, p.th, THREAD_STATE_FP_REGS_KIND, &mut [0; 600]),
        Err(Status::NOT_SUPPORTED)
    );
    w.invariants();
}

const THREAD_STATE_FP_REGS_KIND: u32 = spinel_abi::thread::THREAD_STATE_FP_REGS;
