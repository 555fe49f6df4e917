//! Property tests: random sequences of bind / unbind / create channel /
//! close / kill / suspend / resume / fault / answer on a random job tree.
//! After every step: the arena is consistent, no thread waits in an
//! exception nobody can answer, and each exception has moved through the
//! search order in the spec's order. At the end, after killing the tree and
//! closing every handle: each exception ended exactly once and no object
//! is left. Replaying a sequence gives the same effects (determinism).

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use spinel_abi::exception::*;
use spinel_abi::info::*;
use spinel_abi::port::PKT_TYPE_USER;
use spinel_abi::{HandleValue, Koid, PortPacket, Rights, Signals, Status};
use spinel_hal_api::TrapKind;
use spinel_object::{Effect, RunEntry};

/// Cases per property (the delivery properties run four times as many).
const CASES: u32 = 256;

#[derive(Clone, Debug)]
enum Op {
    Channel {
        task: usize,
        debugger: bool,
    },
    NewPort,
    BindPort {
        task: usize,
        debugger: bool,
        port: usize,
        system: bool,
    },
    Unbind {
        task: usize,
        debugger: bool,
        quietly: bool,
        system: bool,
    },
    CloseChannel(usize),
    ClosePort(usize),
    Fault {
        thread: usize,
        kind: u8,
    },
    Answer {
        channel: usize,
        state: u32,
        hold: bool,
        second_chance: bool,
    },
    PortAnswer {
        port: usize,
        try_next: bool,
        magenta: bool,
    },
    CloseHeld {
        index: usize,
        state: u32,
    },
    Kill {
        task: usize,
    },
    Suspend {
        thread: usize,
    },
    Unsuspend(usize),
    ThreadExit {
        thread: usize,
    },
    StartThread {
        process: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0..64usize;
    prop_oneof![
        4 => (i.clone(), any::<bool>()).prop_map(|(task, debugger)| Op::Channel { task, debugger }),
        1 => Just(Op::NewPort),
        2 => (i.clone(), any::<bool>(), i.clone(), prop::bool::weighted(0.1))
            .prop_map(|(task, debugger, port, system)| Op::BindPort { task, debugger, port, system }),
        1 => (i.clone(), any::<bool>(), any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(task, debugger, quietly, system)| Op::Unbind { task, debugger, quietly, system }),
        1 => i.clone().prop_map(Op::CloseChannel),
        1 => i.clone().prop_map(Op::ClosePort),
        8 => (i.clone(), 0..6u8).prop_map(|(thread, kind)| Op::Fault { thread, kind }),
        8 => (i.clone(), 0..3u32, prop::bool::weighted(0.2), prop::bool::weighted(0.2))
            .prop_map(|(channel, state, hold, second_chance)| Op::Answer { channel, state, hold, second_chance }),
        4 => (i.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(port, try_next, magenta)| Op::PortAnswer { port, try_next, magenta }),
        1 => (i.clone(), 0..3u32).prop_map(|(index, state)| Op::CloseHeld { index, state }),
        1 => i.clone().prop_map(|task| Op::Kill { task }),
        1 => i.clone().prop_map(|thread| Op::Suspend { thread }),
        1 => i.clone().prop_map(Op::Unsuspend),
        1 => i.clone().prop_map(|thread| Op::ThreadExit { thread }),
        1 => i.prop_map(|process| Op::StartThread { process }),
    ]
}

/// A random job tree: each new job's parent is an earlier job (or the root).
#[derive(Clone, Debug)]
struct Shape {
    job_parents: Vec<usize>,
    process_jobs: Vec<usize>,
    /// Exception channels made before the first step: (task, debugger).
    initial_channels: Vec<(usize, bool)>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (1..4usize).prop_flat_map(|jobs| {
        (
            prop::collection::vec(0..64usize, jobs),
            prop::collection::vec(0..64usize, 1..5),
            prop::collection::vec((0..64usize, any::<bool>()), 0..5),
        )
            .prop_map(|(parents, procs, initial_channels)| Shape {
                job_parents: parents
                    .iter()
                    .enumerate()
                    .map(|(i, p)| if i == 0 { 0 } else { p % i })
                    .collect(),
                process_jobs: procs,
                initial_channels,
            })
    })
}

struct Sim {
    w: World,
    baseline: usize,
    jobs: Vec<Task>,
    procs: Vec<Proc>,
    threads: Vec<Task>,
    channels: Vec<HandleValue>,
    ports: Vec<HandleValue>,
    held: Vec<HandleValue>,
    tokens: Vec<HandleValue>,
    /// Threads in an exception raised by `Fault`, with the handler kinds
    /// seen so far and whether the debugger asked for a second chance.
    in_exception: BTreeMap<Koid, (Vec<u32>, bool)>,
    exceptions_raised: usize,
    exceptions_ended: usize,
    log: Vec<Effect>,
}

fn kind_of(k: u8) -> TrapKind {
    match k {
        0 => TrapKind::General,
        1 => PAGE_FAULT,
        2 => TrapKind::UndefinedInstruction,
        3 => TrapKind::SoftwareBreakpoint,
        4 => TrapKind::HardwareBreakpoint,
        _ => TrapKind::UnalignedAccess,
    }
}

impl Sim {
    fn new(shape: &Shape, layout: spinel_abi::thread::RegisterLayout) -> Sim {
        let mut w = World::with_layout(layout);
        let baseline = w.k.object_count();
        let mut jobs: Vec<Task> = Vec::new();
        for (i, &parent) in shape.job_parents.iter().enumerate() {
            let parent_h = if i == 0 { w.root_h } else { jobs[parent].h };
            let job = w.job(parent_h);
            jobs.push(job);
        }
        let mut procs = Vec::new();
        let mut threads = Vec::new();
        for &j in &shape.process_jobs {
            let p = w.spawn(jobs[j % jobs.len()].h);
            threads.push(Task {
                koid: p.tid,
                h: p.th,
            });
            procs.push(p);
        }
        Sim {
            w,
            baseline,
            jobs,
            procs,
            threads,
            channels: Vec::new(),
            ports: Vec::new(),
            held: Vec::new(),
            tokens: Vec::new(),
            in_exception: BTreeMap::new(),
            exceptions_raised: 0,
            exceptions_ended: 0,
            log: Vec::new(),
        }
    }

    fn task(&self, i: usize) -> HandleValue {
        let n = self.jobs.len() + self.procs.len() + self.threads.len();
        let i = i % n;
        if i < self.jobs.len() {
            self.jobs[i].h
        } else if i < self.jobs.len() + self.procs.len() {
            self.procs[i - self.jobs.len()].ph
        } else {
            self.threads[i - self.jobs.len() - self.procs.len()].h
        }
    }

    fn pick<T: Copy>(v: &[T], i: usize) -> Option<T> {
        if v.is_empty() {
            None
        } else {
            Some(v[i % v.len()])
        }
    }

    fn take<T: Copy>(v: &mut Vec<T>, i: usize) -> Option<T> {
        if v.is_empty() {
            None
        } else {
            Some(v.remove(i % v.len()))
        }
    }

    fn run(&mut self, op: &Op) {
        let sup = self.w.sup;
        let tasks: Vec<HandleValue> = (0..self.jobs.len() + self.procs.len() + self.threads.len())
            .map(|i| self.task(i))
            .collect();
        let task_at = |i: usize| tasks[i % tasks.len()];
        let k = &mut self.w.k;
        match *op {
            Op::Channel { task, debugger } => {
                let options = if debugger {
                    EXCEPTION_CHANNEL_DEBUGGER
                } else {
                    0
                };
                if let Ok(ch) = k.sys_task_create_exception_channel(sup, task_at(task), options) {
                    self.channels.push(ch);
                }
            }
            Op::NewPort => {
                let port = k.sys_port_create(sup, 0).unwrap();
                self.ports.push(port);
            }
            Op::BindPort {
                task,
                debugger,
                port,
                system,
            } => {
                let Some(port) = Self::pick(&self.ports, port) else {
                    return;
                };
                let (task, options) = if system {
                    (HandleValue::INVALID, 0)
                } else {
                    (
                        task_at(task),
                        if debugger { EXCEPTION_PORT_DEBUGGER } else { 0 },
                    )
                };
                let _ = k.sys_task_bind_exception_port(sup, task, port, task.0 as u64, options);
            }
            Op::Unbind {
                task,
                debugger,
                quietly,
                system,
            } => {
                let (task, mut options) = if system {
                    (HandleValue::INVALID, 0)
                } else {
                    (
                        task_at(task),
                        if debugger { EXCEPTION_PORT_DEBUGGER } else { 0 },
                    )
                };
                if quietly && !system {
                    options |= EXCEPTION_PORT_UNBIND_QUIETLY;
                }
                let _ = k.sys_task_bind_exception_port(sup, task, HandleValue::INVALID, 0, options);
            }
            Op::CloseChannel(i) => {
                if let Some(h) = Self::take(&mut self.channels, i) {
                    k.sys_handle_close(sup, h).unwrap();
                }
            }
            Op::ClosePort(i) => {
                if let Some(h) = Self::take(&mut self.ports, i) {
                    k.sys_handle_close(sup, h).unwrap();
                }
            }
            Op::Fault { thread, kind } => {
                let Some(t) = Self::pick(&self.threads, thread) else {
                    return;
                };
                if !k.thread_is_runnable(t.koid) {
                    return;
                }
                let trap = self.w.trap(kind_of(kind));
                let regs = self.w.regs_at(FAULT_PC);
                self.w
                    .k
                    .thread_exception(t.koid, &trap, &regs, Status::NOT_FOUND)
                    .unwrap();
                assert!(
                    self.in_exception
                        .insert(t.koid, (Vec::new(), false))
                        .is_none(),
                    "fault while in exception"
                );
                self.exceptions_raised += 1;
            }
            Op::Answer {
                channel,
                state,
                hold,
                second_chance,
            } => {
                let Some(ch) = Self::pick(&self.channels, channel) else {
                    return;
                };
                let Some((info, exc)) = self.w.read_exception(ch) else {
                    return;
                };
                if second_chance {
                    let r = self.w.k.sys_object_set_property(
                        sup,
                        exc,
                        PROP_EXCEPTION_STRATEGY,
                        &EXCEPTION_STRATEGY_SECOND_CHANCE.to_le_bytes(),
                    );
                    if r.is_ok()
                        && let Some(e) = self.in_exception.get_mut(&info.tid)
                    {
                        e.1 = true;
                    }
                    assert!(matches!(r, Ok(()) | Err(Status::BAD_STATE)), "{r:?}");
                }
                self.w.set_state(exc, state).unwrap();
                if hold {
                    self.held.push(exc);
                } else {
                    self.w.close(exc);
                }
            }
            Op::PortAnswer {
                port,
                try_next,
                magenta,
            } => {
                let Some(port) = Self::pick(&self.ports, port) else {
                    return;
                };
                let Ok(spinel_object::Blocking::Done(packet)) = k.sys_port_wait(sup, port, 0)
                else {
                    return;
                };
                if packet.packet_type == PKT_TYPE_USER
                    || packet.packet_type == spinel_abi::port::PKT_TYPE_SIGNAL_ONE
                {
                    return;
                }
                let tid = packet.as_exception().tid;
                let Some(t) = self.threads.iter().find(|t| t.koid == tid).copied() else {
                    return;
                };
                let r = if magenta {
                    let options = RESUME_EXCEPTION | if try_next { RESUME_TRY_NEXT } else { 0 };
                    k.sys_task_resume(sup, t.h, options)
                } else {
                    k.sys_task_resume_from_exception(
                        sup,
                        t.h,
                        port,
                        if try_next { RESUME_TRY_NEXT } else { 0 },
                    )
                };
                assert!(
                    matches!(
                        r,
                        Ok(()) | Err(Status::BAD_STATE) | Err(Status::ACCESS_DENIED)
                    ),
                    "{r:?}"
                );
            }
            Op::CloseHeld { index, state } => {
                if let Some(exc) = Self::take(&mut self.held, index) {
                    self.w.set_state(exc, state).unwrap();
                    self.w.close(exc);
                }
            }
            Op::Kill { task } => {
                let _ = k.sys_task_kill(sup, task_at(task));
            }
            Op::Suspend { thread } => {
                let Some(t) = Self::pick(&self.threads, thread) else {
                    return;
                };
                if let Ok(token) = k.sys_task_suspend(sup, t.h) {
                    self.tokens.push(token);
                }
            }
            Op::Unsuspend(i) => {
                if let Some(h) = Self::take(&mut self.tokens, i) {
                    k.sys_handle_close(sup, h).unwrap();
                }
            }
            Op::ThreadExit { thread } => {
                let Some(t) = Self::pick(&self.threads, thread) else {
                    return;
                };
                if k.thread_is_runnable(t.koid) {
                    k.sys_thread_exit(t.koid).unwrap();
                }
            }
            Op::StartThread { process } => {
                let Some(p) = Self::pick(&self.procs, process) else {
                    return;
                };
                if self.threads.len() >= 8 {
                    return;
                }
                let Ok(h) = k.sys_thread_create(sup, p.ph, b"", 0) else {
                    return;
                };
                let koid = self.w.koid(h);
                self.threads.push(Task { koid, h });
                self.w
                    .k
                    .sys_thread_start(sup, h, 0x3000, 0x9000, 0, 0)
                    .unwrap();
            }
        }
    }

    /// Apply effects to the model and check the invariants.
    fn check(&mut self) -> Result<(), TestCaseError> {
        for effect in self.w.k.take_effects() {
            self.log.push(effect);
            match effect {
                Effect::Run {
                    thread,
                    entry: RunEntry::Registers { .. },
                } => {
                    prop_assert!(
                        self.in_exception.remove(&thread).is_some(),
                        "thread {} resumed twice",
                        thread
                    );
                    self.exceptions_ended += 1;
                }
                Effect::Run { thread, .. } => {
                    prop_assert!(
                        !self.in_exception.contains_key(&thread),
                        "thread {} ran while in an exception",
                        thread
                    );
                }
                Effect::Exit { thread } if self.in_exception.remove(&thread).is_some() => {
                    self.exceptions_ended += 1;
                }
                _ => {}
            }
        }
        if let Err(e) = self.w.k.check_invariants() {
            return Err(TestCaseError::fail(e));
        }
        // Order: debugger, thread, process, (debugger again after a second-
        // chance request), jobs upward, system.
        let sup = self.w.sup;
        let mut ended = Vec::new();
        for (&tid, (seen, second_chance)) in self.in_exception.iter_mut() {
            let t = self
                .threads
                .iter()
                .find(|t| t.koid == tid)
                .expect("known thread");
            let mut buf = [0; ThreadInfo::SIZE];
            self.w
                .k
                .sys_object_get_info(sup, t.h, INFO_THREAD, &mut buf)
                .unwrap();
            let info = ThreadInfo::from_bytes(&buf);
            let report = self
                .w
                .k
                .exception_report(tid)
                .map(|r| r.header.exception_type);
            if report == Some(EXCP_THREAD_EXITING) {
                // Answered THREAD_EXIT: this exception ended; the thread now
                // waits in its THREAD_EXITING.
                ended.push(tid);
                continue;
            }
            if info.state == THREAD_STATE_SUSPENDED {
                // Answered while suspended: it resumes (a Run) when released.
                prop_assert!(self.w.k.exception_report(tid).is_none());
                continue;
            }
            prop_assert_eq!(info.state, THREAD_STATE_BLOCKED_EXCEPTION);
            let kind = info.wait_exception_channel_type;
            prop_assert!(
                kind != EXCEPTION_CHANNEL_TYPE_NONE,
                "an exception with no holder"
            );
            if seen.last() != Some(&kind) {
                seen.push(kind);
            }
            let rank = |k: u32, after_process: bool| match k {
                EXCEPTION_CHANNEL_TYPE_DEBUGGER if after_process => 3,
                EXCEPTION_CHANNEL_TYPE_DEBUGGER => 0,
                EXCEPTION_CHANNEL_TYPE_THREAD => 1,
                EXCEPTION_CHANNEL_TYPE_PROCESS => 2,
                EXCEPTION_CHANNEL_TYPE_JOB => 4,
                _ => 5,
            };
            let mut last = 0;
            let mut after_process = false;
            for &k in seen.iter() {
                let r = rank(k, after_process);
                prop_assert!(r >= last, "order {:?} breaks the search order", seen);
                if r == 3 {
                    prop_assert!(
                        *second_chance,
                        "debugger again without a second-chance request: {:?}",
                        seen
                    );
                }
                after_process |= r >= 1;
                last = r;
            }
        }
        for tid in ended {
            self.in_exception.remove(&tid);
            self.exceptions_ended += 1;
        }
        Ok(())
    }

    /// Kill the tree, close everything, and check nothing is left.
    fn finish(mut self) -> Result<Vec<Effect>, TestCaseError> {
        let sup = self.w.sup;
        self.w.k.sys_task_kill(sup, self.jobs[0].h).unwrap();
        self.check()?;
        prop_assert!(
            self.in_exception.is_empty(),
            "exceptions never ended: {:?}",
            self.in_exception
        );
        prop_assert_eq!(self.exceptions_raised, self.exceptions_ended);
        let handles: Vec<HandleValue> = self
            .channels
            .iter()
            .chain(&self.ports)
            .chain(&self.held)
            .chain(&self.tokens)
            .copied()
            .chain(self.threads.iter().map(|t| t.h))
            .chain(self.procs.iter().map(|p| p.ph))
            .chain(self.jobs.iter().map(|j| j.h))
            .collect();
        for h in handles {
            self.w.k.sys_handle_close(sup, h).unwrap();
        }
        self.check()?;
        prop_assert_eq!(self.w.k.object_count(), self.baseline, "objects leaked");
        Ok(self.log)
    }
}

fn run_case(
    shape: &Shape,
    ops: &[Op],
    layout: spinel_abi::thread::RegisterLayout,
) -> Result<Vec<Effect>, TestCaseError> {
    let mut sim = Sim::new(shape, layout);
    for &(task, debugger) in &shape.initial_channels {
        sim.run(&Op::Channel { task, debugger });
    }
    sim.check()?;
    for op in ops {
        sim.run(op);
        sim.check()?;
    }
    sim.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4 * CASES, failure_persistence: None, ..ProptestConfig::default() })]

    /// Exceptions end exactly once, nobody waits without a handler, the
    /// order is the spec's, nothing leaks (x86_64 register layout).
    #[test]
    fn random_delivery_keeps_invariants_x86_64(shape in shape(), ops in prop::collection::vec(op(), 1..100)) {
        run_case(&shape, &ops, X86)?;
    }

    /// The same on the arm64 register layout and arch facts.
    #[test]
    fn random_delivery_keeps_invariants_arm64(shape in shape(), ops in prop::collection::vec(op(), 1..100)) {
        run_case(&shape, &ops, ARM)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    /// The same sequence gives the same effects, in the same order.
    #[test]
    fn delivery_is_deterministic(shape in shape(), ops in prop::collection::vec(op(), 1..40)) {
        let first = run_case(&shape, &ops, X86)?;
        let second = run_case(&shape, &ops, X86)?;
        prop_assert_eq!(first, second);
    }

    /// Channels, ports and events passed around in messages and closed in
    /// any order: handle counts stay exact and nothing leaks.
    #[test]
    fn handles_and_messages_never_leak(ops in prop::collection::vec((0..6u8, 0..32usize, 0..32usize), 1..80)) {
        let mut w = World::new();
        let baseline = w.k.object_count();
        let sup = w.sup;
        let mut handles: Vec<HandleValue> = Vec::new();
        let mut channels: Vec<HandleValue> = Vec::new();
        let mut ports: Vec<HandleValue> = Vec::new();
        for (kind, a, b) in ops {
            match kind {
                0 => {
                    let (x, y) = w.k.sys_channel_create(sup, 0).unwrap();
                    channels.push(x);
                    channels.push(y);
                }
                1 => {
                    let p = w.k.sys_port_create(sup, 0).unwrap();
                    ports.push(p);
                }
                2 => handles.push(w.k.sys_event_create(sup, 0).unwrap()),
                3 if !channels.is_empty() => {
                    // Write a message carrying some handle. Channel ends are not
                    // carried: two ends each in the other's queue form a cycle
                    // that never closes, in Zircon as here.
                    let ch = channels[a % channels.len()];
                    let pool: Vec<HandleValue> = handles.iter().chain(&ports).copied().chain([ch]).collect();
                    let carried = pool[b % pool.len()];
                    let r = w.k.sys_channel_write(sup, ch, 0, b"m", &[carried]);
                    prop_assert!(matches!(r, Ok(()) | Err(Status::NOT_SUPPORTED) | Err(Status::PEER_CLOSED) | Err(Status::ACCESS_DENIED)), "{:?}", r);
                    for v in [&mut handles, &mut ports, &mut channels] {
                        v.retain(|&h| h != carried);
                    }
                }
                4 if !channels.is_empty() => {
                    let ch = channels[a % channels.len()];
                    let mut bytes = [0u8; 8];
                    let mut got = [HandleValue::INVALID; 1];
                    if w.k.sys_channel_read(sup, ch, 0, &mut bytes, &mut got).is_ok() {
                        handles.push(got[0]);
                    }
                }
                5 => {
                    let pool = [&mut handles, &mut ports, &mut channels];
                    let v = pool.into_iter().nth(a % 3).unwrap();
                    if !v.is_empty() {
                        let h = v.remove(b % v.len());
                        w.k.sys_handle_close(sup, h).unwrap();
                    }
                }
                _ => {}
            }
            if let Some(p) = ports.first().copied()
                && let Some(&c) = channels.first()
            {
                let _ = w.k.sys_object_wait_async(sup, c, p, 1, Signals::CHANNEL_READABLE, 0);
            }
            w.k.check_invariants().map_err(TestCaseError::fail)?;
        }
        for h in handles.into_iter().chain(ports).chain(channels) {
            w.k.sys_handle_close(sup, h).unwrap();
        }
        w.k.check_invariants().map_err(TestCaseError::fail)?;
        prop_assert_eq!(w.k.object_count(), baseline);
        let _ = Rights::NONE;
        let _ = PortPacket::default();
    }
}
