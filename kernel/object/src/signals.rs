//! Signals and waiting: observers on an object's signals, `object_wait_one`
//! (a thread blocks), `object_wait_async` (a packet goes to a port), and the
//! completion of blocked waits.

use alloc::vec::Vec;
use spinel_abi::object::WAIT_ASYNC_EDGE;
use spinel_abi::{HandleValue, Koid, PortPacket, Signals, Status};

use crate::Kernel;
use crate::effect::Completion;
use crate::thread::Block;

/// Who is told when the watched signals become active.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ObserverKind {
    /// A thread blocked in `object_wait_one`.
    WaitOne { thread: Koid },
    /// A `wait_async` registration: one signal packet to `port`.
    Async { port: Koid, key: u64, options: u32 },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Observer {
    pub kind: ObserverKind,
    pub mask: Signals,
    /// The handle the wait was made through (process, value): closing it
    /// cancels the wait.
    pub owner: (Koid, HandleValue),
}

impl Kernel {
    /// Change an object's signals and tell the observers it now satisfies.
    pub(crate) fn update_signals(&mut self, koid: Koid, clear: Signals, set: Signals) {
        let Some(entry) = self.objects.get_mut(&koid) else {
            return;
        };
        let old = entry.signals;
        let new = old.difference(clear).union(set);
        if new == old {
            return;
        }
        entry.signals = new;
        let rising = new.difference(old);
        // The first observer hit (the usual only one) is kept aside, so
        // that nothing is allocated unless several fire.
        let mut first = None;
        let mut fired = Vec::new();
        entry.observers.retain(|o| {
            let edge = matches!(o.kind, ObserverKind::Async { options, .. } if options & WAIT_ASYNC_EDGE != 0);
            let hit = if edge { rising.intersects(o.mask) } else { new.intersects(o.mask) };
            if hit {
                if first.is_none() {
                    first = Some(*o);
                } else {
                    fired.push(*o);
                }
            }
            !hit
        });
        for o in first.into_iter().chain(fired) {
            self.fire_observer(o, new);
        }
    }

    pub(crate) fn fire_observer(&mut self, o: Observer, observed: Signals) {
        match o.kind {
            ObserverKind::WaitOne { thread } => {
                self.finish_wait(thread, Status::OK, Completion::Signals(observed));
            }
            ObserverKind::Async { port, key, .. } => {
                if self.is_live(port) {
                    let packet = PortPacket::signal(key, o.mask, observed, 1, self.now);
                    // Signal packets are never refused (Zircon reserves them).
                    let _ = self.port_enqueue(port, packet, false);
                }
            }
        }
    }

    /// Register an observer; fires at once (and is not kept) when the
    /// signals are already active, unless it is edge-triggered.
    pub(crate) fn add_observer(&mut self, koid: Koid, o: Observer) -> bool {
        let entry = self
            .objects
            .get_mut(&koid)
            .expect("observed object is live");
        let current = entry.signals;
        let edge =
            matches!(o.kind, ObserverKind::Async { options, .. } if options & WAIT_ASYNC_EDGE != 0);
        if !edge && current.intersects(o.mask) {
            self.fire_observer(o, current);
            return true;
        }
        entry.observers.push(o);
        false
    }

    /// The handle `owner` was closed: its waits end (wait_one with CANCELED,
    /// async registrations silently).
    pub(crate) fn cancel_observers_of_handle(&mut self, koid: Koid, owner: (Koid, HandleValue)) {
        let Some(entry) = self.objects.get_mut(&koid) else {
            return;
        };
        let mut canceled = Vec::new();
        entry.observers.retain(|o| {
            let hit = o.owner == owner;
            if hit {
                canceled.push(*o);
            }
            !hit
        });
        let observed = entry.signals;
        for o in canceled {
            if let ObserverKind::WaitOne { thread } = o.kind {
                self.finish_wait(
                    thread,
                    Status::CANCELED,
                    Completion::Signals(observed.union(Signals::HANDLE_CLOSED)),
                );
            }
        }
    }

    /// Drop every async registration that targets a closed port.
    pub(crate) fn remove_observers_to_port(&mut self, port: Koid) {
        for entry in self.objects.values_mut() {
            entry
                .observers
                .retain(|o| !matches!(o.kind, ObserverKind::Async { port: p, .. } if p == port));
        }
    }

    /// Drop a blocked thread's wait_one observer (timeout, kill).
    pub(crate) fn remove_wait_one(&mut self, object: Koid, thread: Koid) {
        if let Some(entry) = self.objects.get_mut(&object) {
            entry
                .observers
                .retain(|o| o.kind != ObserverKind::WaitOne { thread });
        }
    }

    /// A blocked thread's deadline passed.
    pub(crate) fn wait_timed_out(&mut self, thread: Koid) {
        let Some(block) = self
            .objects
            .get(&thread)
            .and_then(|_| self.thread(thread).block)
        else {
            return;
        };
        let completion = match block {
            Block::WaitOne { object } => Completion::Signals(
                self.objects
                    .get(&object)
                    .map_or(Signals::NONE, |e| e.signals),
            ),
            _ => Completion::None,
        };
        let status = if block == Block::Sleep {
            Status::OK
        } else {
            Status::TIMED_OUT
        };
        self.finish_wait(thread, status, completion);
    }

    /// End a thread's blocking wait (not an exception) with a result; the
    /// thread runs again (an [`crate::Effect::Run`]) unless suspended.
    pub(crate) fn finish_wait(&mut self, thread: Koid, status: Status, completion: Completion) {
        if !self.is_live(thread) {
            return;
        }
        let Some(block) = self.thread(thread).block else {
            return;
        };
        if block == Block::Exception {
            return;
        }
        self.cancel_wait(thread);
        let t = self.thread_mut(thread);
        t.resume = Some(crate::thread::Resume::Syscall { status, completion });
        self.update_runnable(thread);
    }

    /// Undo a thread's wait registration (observer, port waiter, timer).
    pub(crate) fn cancel_wait(&mut self, thread: Koid) {
        let t = self.thread_mut(thread);
        let block = t.block;
        let deadline = t.deadline.take();
        if block != Some(Block::Exception) {
            t.block = None;
        }
        if let Some(d) = deadline {
            self.timers.remove(&(d, thread));
        }
        match block {
            Some(Block::WaitOne { object }) => self.remove_wait_one(object, thread),
            Some(Block::Port { port }) if self.is_live(port) => {
                self.port_mut(port).waiters.retain(|&w| w != thread);
            }
            _ => {}
        }
    }

    /// Park a thread in a wait until `deadline`.
    pub(crate) fn block_in_wait(&mut self, thread: Koid, block: Block, deadline: u64) {
        let t = self.thread_mut(thread);
        t.block = Some(block);
        if deadline != spinel_abi::object::TIME_INFINITE {
            t.deadline = Some(deadline);
            self.timers.insert((deadline, thread));
        }
        self.update_runnable(thread);
    }
}
