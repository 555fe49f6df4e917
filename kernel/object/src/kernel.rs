//! [`Kernel`]: the arena of all objects, and the operations every object
//! family shares (handle counting, reaping, effects, time).
//!
//! Rules kept here: objects live only in the arena, keyed by koid, and are
//! removed only by `reap` once no handle and no kernel reference
//! keeps them; the effect queue is the object layer's only output to the
//! glue, drained in order.

use alloc::boxed::Box;
use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;
use spinel_abi::thread::RegisterLayout;
use spinel_abi::{HandleValue, Koid, Rights, Signals, Status, Time};

use crate::effect::Effect;
use crate::handle::Handle;
use crate::job::Job;
use crate::map::IntMap;
use crate::object::{Body, Entry};

/// How the glue configures the object layer.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Register slots of the architecture (see `spinel_abi::thread`).
    pub registers: RegisterLayout,
    /// Entropy for handle values; any value works, a varying one is better.
    pub seed: u64,
    /// Packets a port holds before `port_queue` says SHOULD_WAIT and an
    /// exception packet kills the process.
    pub port_capacity: usize,
}

impl Config {
    pub const fn new(registers: RegisterLayout) -> Self {
        Config {
            registers,
            seed: 0x5350_494e_454c_0001,
            port_capacity: 256,
        }
    }
}

/// All kernel objects and the rules between them.
///
/// One value of this type is the whole object layer. It is a plain data
/// structure driven by method calls: the glue serialises calls (one lock
/// around it), drains the effects after each ([`Kernel::next_effect`]), and
/// tells it the time with [`Kernel::advance_time`].
pub struct Kernel {
    /// Every object, by koid; boxed so that the table moves pointers only.
    pub(crate) objects: IntMap<Box<Entry>>,
    next_koid: Koid,
    pub(crate) root_job: Koid,
    pub(crate) effects: VecDeque<Effect>,
    pub(crate) now: Time,
    /// Threads with a deadline, by deadline.
    pub(crate) timers: BTreeSet<(Time, Koid)>,
    pub(crate) config: Config,
    /// Serial numbers that order job-debugger channels by creation.
    pub(crate) next_serial: u64,
}

impl core::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kernel")
            .field("objects", &self.objects.len())
            .field("root_job", &self.root_job)
            .field("now", &self.now)
            .finish()
    }
}

macro_rules! body_accessors {
    ($($get:ident $get_mut:ident $variant:ident $ty:ty;)*) => {
        impl Kernel {
            $(
                #[track_caller]
                #[inline]
                #[allow(dead_code)] // reason: generated for every body type; not all are read-only used
                pub(crate) fn $get(&self, koid: Koid) -> &$ty {
                    match self.objects.get(&koid).map(|e| &e.body) {
                        Some(Body::$variant(x)) => x,
                        _ => panic!(concat!("object {} is not a live ", stringify!($variant)), koid),
                    }
                }
                #[track_caller]
                #[inline]
                pub(crate) fn $get_mut(&mut self, koid: Koid) -> &mut $ty {
                    match self.objects.get_mut(&koid).map(|e| &mut e.body) {
                        Some(Body::$variant(x)) => x,
                        _ => panic!(concat!("object {} is not a live ", stringify!($variant)), koid),
                    }
                }
            )*
        }
    };
}

body_accessors! {
    job job_mut Job crate::job::Job;
    process process_mut Process crate::process::Process;
    thread thread_mut Thread crate::thread::Thread;
    port port_mut Port crate::port::Port;
    channel channel_mut Channel crate::channel::Channel;
    exception exception_mut Exception crate::exception::ExceptionObject;
}

impl Kernel {
    /// A kernel with nothing but the root job.
    pub fn new(config: Config) -> Self {
        let mut kernel = Kernel {
            objects: IntMap::new(),
            next_koid: spinel_abi::object::KOID_FIRST,
            root_job: 0,
            effects: VecDeque::new(),
            now: 0,
            timers: BTreeSet::new(),
            config,
            next_serial: 1,
        };
        let root = kernel.insert(Body::Job(Job::new(None, Default::default())), Signals::NONE);
        kernel.root_job = root;
        kernel.set_name(root, b"root");
        kernel
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The root job's koid.
    pub fn root_job(&self) -> Koid {
        self.root_job
    }

    /// The oldest effect the glue has not carried out yet, if any: the
    /// kernel's way to drain the queue, one small `Copy` value at a time,
    /// without allocating.
    #[inline]
    pub fn next_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Whether effects wait to be carried out.
    #[inline]
    pub fn has_effects(&self) -> bool {
        !self.effects.is_empty()
    }

    /// Every effect not carried out yet, oldest first; the queue is emptied.
    /// The same effects [`Kernel::next_effect`] yields, collected (the
    /// tests' way).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        self.effects.drain(..).collect()
    }

    pub(crate) fn emit(&mut self, effect: Effect) {
        self.effects.push_back(effect);
    }

    /// Number of live objects (the root job included). Once every process is
    /// dead and every handle closed, this is 1: nothing leaks.
    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    /// Whether an object is still in the arena.
    #[inline]
    pub fn is_live(&self, koid: Koid) -> bool {
        self.objects.contains_key(&koid)
    }

    /// The type of a live object.
    #[inline]
    pub fn object_type(&self, koid: Koid) -> Option<spinel_abi::ObjectType> {
        self.objects.get(&koid).map(|e| e.body.object_type())
    }

    /// Current signals of a live object.
    #[inline]
    pub fn signals(&self, koid: Koid) -> Option<Signals> {
        self.objects.get(&koid).map(|e| e.signals)
    }

    /// Live handles to an object (in tables, in messages, or kernel-held).
    pub fn handle_count(&self, koid: Koid) -> usize {
        self.objects.get(&koid).map_or(0, |e| e.handle_count)
    }

    pub(crate) fn insert(&mut self, body: Body, signals: Signals) -> Koid {
        let koid = self.next_koid;
        self.next_koid += 1;
        self.objects
            .insert(koid, Box::new(Entry::new(koid, body, signals)));
        koid
    }

    pub(crate) fn serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    pub(crate) fn set_name(&mut self, koid: Koid, name: &[u8]) {
        if let Some(entry) = self.objects.get_mut(&koid) {
            let n = name.len().min(entry.name.len() - 1);
            entry.name = [0; spinel_abi::object::MAX_NAME_LEN];
            entry.name[..n].copy_from_slice(&name[..n]);
            // A VMO keeps its name for the mappings that outlive its handles.
            if let crate::object::Body::Vmo(vmo) = &entry.body {
                vmo.set_name(&entry.name);
            }
        }
    }

    // ---- handles -------------------------------------------------------

    /// A new handle to a live object.
    pub(crate) fn new_handle(&mut self, koid: Koid, rights: Rights) -> Handle {
        let entry = self
            .objects
            .get_mut(&koid)
            .expect("handle to a dead object");
        entry.handle_count += 1;
        Handle { koid, rights }
    }

    /// Drop a handle; the object reacts when it was the last.
    pub(crate) fn release_handle(&mut self, handle: Handle) {
        let Some(entry) = self.objects.get_mut(&handle.koid) else {
            return;
        };
        entry.handle_count -= 1;
        if entry.handle_count == 0 {
            self.on_last_handle(handle.koid);
        }
    }

    fn on_last_handle(&mut self, koid: Koid) {
        let Some(entry) = self.objects.get(&koid) else {
            return;
        };
        match &entry.body {
            Body::Channel(_) => self.channel_endpoint_closed(koid),
            Body::Port(_) => self.port_closed(koid),
            Body::Exception(_) => self.exception_object_closed(koid),
            Body::SuspendToken(_) => self.suspend_token_closed(koid),
            Body::Event | Body::Vmo(_) | Body::Vmar { .. } | Body::Resource(_) => {
                self.objects.remove(&koid);
            }
            Body::Thread(_) => self.thread_last_handle(koid),
            Body::Process(_) => self.process_last_handle(koid),
            Body::Job(_) => self.reap(koid),
        }
    }

    /// Add a handle to a process's table.
    pub(crate) fn install(&mut self, process: Koid, handle: Handle) -> HandleValue {
        self.process_mut(process).handles.insert(handle)
    }

    /// Give a process a handle to an object: the bootstrap path by which the
    /// glue hands the first process its handles (e.g. the root job), and
    /// which tests use to set scenes up.
    pub fn grant_handle(
        &mut self,
        process: Koid,
        koid: Koid,
        rights: Rights,
    ) -> Result<HandleValue, Status> {
        if !self.is_live(koid) || self.object_type(process) != Some(spinel_abi::ObjectType::PROCESS)
        {
            return Err(Status::NOT_FOUND);
        }
        if self.process(process).is_dead() {
            return Err(Status::BAD_STATE);
        }
        let handle = self.new_handle(koid, rights);
        Ok(self.install(process, handle))
    }

    /// Remove the object from the arena if nothing keeps it any more.
    pub(crate) fn reap(&mut self, koid: Koid) {
        let Some(entry) = self.objects.get(&koid) else {
            return;
        };
        if entry.handle_count > 0 || entry.kernel_refs > 0 {
            return;
        }
        let removable = match &entry.body {
            Body::Job(job) => koid != self.root_job && job.children_empty(),
            Body::Process(p) => (p.is_dead() || !p.started) && p.threads.is_empty(),
            Body::Thread(t) => t.is_dead(),
            _ => true,
        };
        if !removable {
            return;
        }
        let entry = self.objects.remove(&koid).expect("checked above");
        match entry.body {
            Body::Job(job) => {
                self.job_released(koid, job);
            }
            Body::Process(p) if self.is_live(p.job) => {
                self.job_mut(p.job).processes.retain(|&c| c != koid);
                self.job_update_signals(p.job);
                self.reap(p.job);
            }
            Body::Thread(t) if self.is_live(t.process) => {
                self.process_mut(t.process).threads.retain(|&c| c != koid);
                self.reap(t.process);
            }
            _ => {}
        }
    }

    pub(crate) fn add_kernel_ref(&mut self, koid: Koid) {
        if let Some(e) = self.objects.get_mut(&koid) {
            e.kernel_refs += 1;
        }
    }

    pub(crate) fn drop_kernel_ref(&mut self, koid: Koid) {
        if let Some(e) = self.objects.get_mut(&koid) {
            e.kernel_refs -= 1;
            if e.kernel_refs == 0 && e.handle_count == 0 {
                self.reap(koid);
            }
        }
    }

    // ---- time ----------------------------------------------------------

    /// The monotonic time the object layer last heard of.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Tell the object layer the time; waits whose deadline passed end with
    /// TIMED_OUT (as [`Effect::Run`]s).
    pub fn advance_time(&mut self, now: Time) {
        if now > self.now {
            self.now = now;
        }
        while let Some(&(deadline, thread)) = self.timers.iter().next() {
            if deadline > self.now {
                break;
            }
            self.timers.remove(&(deadline, thread));
            self.wait_timed_out(thread);
        }
    }

    /// The earliest deadline of any waiting thread, for the glue's timer.
    pub fn next_deadline(&self) -> Option<Time> {
        self.timers.iter().next().map(|&(d, _)| d)
    }
}
