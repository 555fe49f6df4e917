//! Whole-arena consistency checks, for tests and debug builds of the glue.

use alloc::format;
use alloc::string::String;
use spinel_abi::Koid;

use crate::Kernel;
use crate::exception::Holder;
use crate::object::Body;
use crate::thread::{Block, Lifecycle};

impl Kernel {
    /// Check the invariants that hold between any two calls:
    /// - handle counts equal the handles that exist (tables, messages,
    ///   kernel-held channel ends);
    /// - a thread blocked in an exception has a holder that can answer (a
    ///   live exception object, a live port, or a quiet wait for a rebind);
    /// - a thread with an exception is blocked in it; a dead thread has none;
    /// - parent/child links agree.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counts: alloc::collections::BTreeMap<Koid, usize> = Default::default();
        let mut count = |k: Koid| *counts.entry(k).or_default() += 1;
        for e in self.objects.values() {
            match &e.body {
                Body::Process(p) => {
                    for (_, h) in p.handles.iter() {
                        count(h.koid);
                    }
                    for ex in [&p.debugger, &p.exceptionate] {
                        if let crate::exception::Binding::Channel { end, .. } = &ex.binding {
                            count(end.koid);
                        }
                    }
                }
                Body::Channel(c) => {
                    for m in &c.messages {
                        for h in &m.handles {
                            count(h.koid);
                        }
                    }
                }
                Body::Thread(t) => {
                    if let crate::exception::Binding::Channel { end, .. } = &t.exceptionate.binding
                    {
                        count(end.koid);
                    }
                }
                Body::Job(j) => {
                    let slots = [&j.exceptionate, &j.system]
                        .into_iter()
                        .chain(j.debuggers.iter().map(|d| &d.slot));
                    for ex in slots {
                        if let crate::exception::Binding::Channel { end, .. } = &ex.binding {
                            count(end.koid);
                        }
                    }
                }
                _ => {}
            }
        }
        for e in self.objects.values() {
            let expected = counts.get(&e.koid).copied().unwrap_or(0);
            if e.handle_count != expected {
                return Err(format!(
                    "object {} counts {} handles, {} exist",
                    e.koid, e.handle_count, expected
                ));
            }
        }
        if let Some(k) = counts.keys().find(|k| !self.objects.contains_key(k)) {
            return Err(format!("a handle names object {k}, which is gone"));
        }
        for e in self.objects.values() {
            let Body::Thread(t) = &e.body else { continue };
            if !self.is_live(t.process) || !self.process(t.process).threads.contains(&e.koid) {
                return Err(format!("thread {} not listed in its process", e.koid));
            }
            match (&t.exception, t.block) {
                (Some(_), Some(Block::Exception)) => {}
                (None, Some(Block::Exception)) => {
                    return Err(format!("thread {} blocked in no exception", e.koid));
                }
                (Some(_), _) => {
                    return Err(format!(
                        "thread {} has an exception but is not blocked",
                        e.koid
                    ));
                }
                _ => {}
            }
            if t.lifecycle == Lifecycle::Dead && (t.exception.is_some() || t.block.is_some()) {
                return Err(format!("dead thread {} still blocked", e.koid));
            }
            if let Some(pe) = &t.exception {
                let ok = match pe.holder {
                    Holder::Object(k) => {
                        matches!(self.objects.get(&k).map(|e| &e.body), Some(Body::Exception(x)) if x.live && x.thread == e.koid)
                    }
                    Holder::Port { port, .. } => {
                        self.object_type(port) == Some(spinel_abi::ObjectType::PORT)
                    }
                    Holder::Quiet { .. } => true,
                    Holder::None => false,
                };
                if !ok {
                    return Err(format!(
                        "thread {} waits in an exception nobody can answer ({:?})",
                        e.koid, pe.holder
                    ));
                }
            }
        }
        for e in self.objects.values() {
            if let Body::Process(p) = &e.body
                && !p.is_dead()
                && !self.job(p.job).processes.contains(&e.koid)
            {
                return Err(format!("live process {} not listed in its job", e.koid));
            }
        }
        Ok(())
    }
}
