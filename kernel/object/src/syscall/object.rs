//! object_wait_one, object_wait_async, object_signal, object_get_property,
//! object_set_property, object_get_info, event_create, nanosleep,
//! clock_get_monotonic.

use spinel_abi::exception::*;
use spinel_abi::info::*;
use spinel_abi::object::{MAX_NAME_LEN, WAIT_ASYNC_EDGE, WAIT_ASYNC_TIMESTAMP};
use spinel_abi::policy::POL_NEW_EVENT;
use spinel_abi::{HandleValue, Koid, ObjectType, Rights, Signals, Status, Time};

use super::Blocking;
use crate::Kernel;
use crate::object::Body;
use crate::signals::{Observer, ObserverKind};
use crate::thread::Block;

impl Kernel {
    /// `object_wait_one`: the signals at once if any is active; otherwise
    /// the caller blocks until one is (OK), the deadline (TIMED_OUT), or the
    /// handle closes (CANCELED).
    pub fn sys_object_wait_one(
        &mut self,
        caller: Koid,
        value: HandleValue,
        signals: Signals,
        deadline: Time,
    ) -> Result<Blocking<Signals>, Status> {
        let (koid, rights) = self.handle_of(caller, value)?;
        if !rights.contains(Rights::WAIT) {
            return Err(Status::ACCESS_DENIED);
        }
        let current = self.signals(koid).unwrap_or_default();
        if current.intersects(signals) {
            return Ok(Blocking::Done(current));
        }
        if deadline <= self.now {
            return Err(Status::TIMED_OUT);
        }
        if !self.caller_can_block(caller) {
            return Err(Status::BAD_STATE);
        }
        let process = self.caller_process(caller)?;
        let observer = Observer {
            kind: ObserverKind::WaitOne { thread: caller },
            mask: signals,
            owner: (process, value),
        };
        self.objects
            .get_mut(&koid)
            .expect("live")
            .observers
            .push(observer);
        self.block_caller(caller, Block::WaitOne { object: koid }, deadline);
        Ok(Blocking::Blocked)
    }

    /// `object_wait_async`: one signal packet to `port` when any of
    /// `signals` is (or, without EDGE, already is) active.
    pub fn sys_object_wait_async(
        &mut self,
        caller: Koid,
        value: HandleValue,
        port: HandleValue,
        key: u64,
        signals: Signals,
        options: u32,
    ) -> Result<(), Status> {
        if options & !(WAIT_ASYNC_TIMESTAMP | WAIT_ASYNC_EDGE) != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let (port, _) = self.object_of(caller, port, Rights::WRITE, ObjectType::PORT)?;
        let (koid, rights) = self.handle_of(caller, value)?;
        if !rights.contains(Rights::WAIT) {
            return Err(Status::ACCESS_DENIED);
        }
        let process = self.caller_process(caller)?;
        let observer = Observer {
            kind: ObserverKind::Async { port, key, options },
            mask: signals,
            owner: (process, value),
        };
        self.add_observer(koid, observer);
        Ok(())
    }

    /// `object_signal`: set and clear user signals (and SIGNALED on events).
    pub fn sys_object_signal(
        &mut self,
        caller: Koid,
        value: HandleValue,
        clear: Signals,
        set: Signals,
    ) -> Result<(), Status> {
        let (koid, rights) = self.handle_of(caller, value)?;
        if !rights.contains(Rights::SIGNAL) {
            return Err(Status::ACCESS_DENIED);
        }
        let mut allowed = Signals::USER_ALL;
        if self.object_type(koid) == Some(ObjectType::EVENT) {
            allowed = allowed.union(Signals::EVENT_SIGNALED);
        }
        if !clear.union(set).difference(allowed).is_empty() {
            return Err(Status::INVALID_ARGS);
        }
        self.update_signals(koid, clear, set);
        Ok(())
    }

    /// `event_create` (checks the NEW_EVENT policy).
    pub fn sys_event_create(&mut self, caller: Koid, options: u32) -> Result<HandleValue, Status> {
        if options != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let verdict = self.policy_check(caller, POL_NEW_EVENT)?;
        let process = self.caller_process(caller)?;
        let koid = self.insert(Body::Event, Signals::NONE);
        let handle = self.new_handle(koid, Rights::DEFAULT_EVENT);
        let result = Ok(self.install(process, handle));
        self.policy_finish(caller, verdict, &result);
        result
    }

    /// `nanosleep`: blocks until `deadline`, then returns OK.
    pub fn sys_nanosleep(&mut self, caller: Koid, deadline: Time) -> Result<Blocking<()>, Status> {
        self.caller_process(caller)?;
        if deadline <= self.now {
            return Ok(Blocking::Done(()));
        }
        if !self.caller_can_block(caller) {
            return Err(Status::BAD_STATE);
        }
        self.block_caller(caller, Block::Sleep, deadline);
        Ok(Blocking::Blocked)
    }

    /// `clock_get_monotonic`: the time the glue last reported.
    pub fn sys_clock_get_monotonic(&self) -> Time {
        self.now
    }

    /// `object_get_property`. Buffer size is checked before the object's type.
    pub fn sys_object_get_property(
        &mut self,
        caller: Koid,
        value: HandleValue,
        property: u32,
        buffer: &mut [u8],
    ) -> Result<usize, Status> {
        let (koid, rights) = self.handle_of(caller, value)?;
        if !rights.contains(Rights::GET_PROPERTY) {
            return Err(Status::ACCESS_DENIED);
        }
        match property {
            PROP_NAME => {
                if buffer.len() < MAX_NAME_LEN {
                    return Err(Status::BUFFER_TOO_SMALL);
                }
                buffer[..MAX_NAME_LEN].copy_from_slice(&self.objects[&koid].name);
                Ok(MAX_NAME_LEN)
            }
            PROP_EXCEPTION_STATE | PROP_EXCEPTION_STRATEGY => {
                if buffer.len() < 4 {
                    return Err(Status::BUFFER_TOO_SMALL);
                }
                let Some(Body::Exception(e)) = self.objects.get(&koid).map(|e| &e.body) else {
                    return Err(Status::WRONG_TYPE);
                };
                let v = if property == PROP_EXCEPTION_STATE {
                    e.state
                } else {
                    e.strategy
                };
                buffer[..4].copy_from_slice(&v.to_le_bytes());
                Ok(4)
            }
            _ => Err(Status::INVALID_ARGS),
        }
    }

    /// `object_set_property`. EXCEPTION_STRATEGY is only for the process
    /// debugger's first chance (BAD_STATE otherwise).
    pub fn sys_object_set_property(
        &mut self,
        caller: Koid,
        value: HandleValue,
        property: u32,
        data: &[u8],
    ) -> Result<(), Status> {
        let (koid, rights) = self.handle_of(caller, value)?;
        if !rights.contains(Rights::SET_PROPERTY) {
            return Err(Status::ACCESS_DENIED);
        }
        match property {
            PROP_NAME => {
                let n = data.len().min(MAX_NAME_LEN - 1);
                let end = data[..n].iter().position(|&b| b == 0).unwrap_or(n);
                self.set_name(koid, &data[..end]);
                Ok(())
            }
            PROP_EXCEPTION_STATE | PROP_EXCEPTION_STRATEGY => {
                if data.len() < 4 {
                    return Err(Status::BUFFER_TOO_SMALL);
                }
                if self.object_type(koid) != Some(ObjectType::EXCEPTION) {
                    return Err(Status::WRONG_TYPE);
                }
                let v = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                if property == PROP_EXCEPTION_STATE {
                    if !matches!(
                        v,
                        EXCEPTION_STATE_TRY_NEXT
                            | EXCEPTION_STATE_HANDLED
                            | EXCEPTION_STATE_THREAD_EXIT
                    ) {
                        return Err(Status::INVALID_ARGS);
                    }
                    self.exception_mut(koid).state = v;
                    return Ok(());
                }
                if !matches!(
                    v,
                    EXCEPTION_STRATEGY_FIRST_CHANCE | EXCEPTION_STRATEGY_SECOND_CHANCE
                ) {
                    return Err(Status::INVALID_ARGS);
                }
                let e = self.exception_mut(koid);
                if !e.first_chance_debugger {
                    return Err(Status::BAD_STATE);
                }
                e.strategy = v;
                let (thread, live) = (e.thread, e.live);
                if live
                    && let Some(pe) = self.thread_mut(thread).exception.as_mut()
                    && pe.holder == crate::exception::Holder::Object(koid)
                {
                    pe.second_chance = v == EXCEPTION_STRATEGY_SECOND_CHANCE;
                }
                Ok(())
            }
            _ => Err(Status::INVALID_ARGS),
        }
    }

    /// `object_get_info(INFO_PROCESS_MAPS)`: the rule, in Zircon's order
    /// (BAD_HANDLE, ACCESS_DENIED without INSPECT, WRONG_TYPE for anything
    /// but a process; BAD_STATE once the process is dead, its address space
    /// gone). Returns the process whose mappings the kernel state
    /// then lists from its `VmSpace` (none yet if it has mapped nothing).
    pub fn sys_process_maps(&self, caller: Koid, value: HandleValue) -> Result<Koid, Status> {
        let (koid, _) = self.object_of(caller, value, Rights::INSPECT, ObjectType::PROCESS)?;
        if self.process(koid).is_dead() {
            return Err(Status::BAD_STATE);
        }
        Ok(koid)
    }

    /// `object_get_info` for one-record topics: returns (actual, available)
    /// record counts. Unknown topics are NOT_SUPPORTED; INFO_PROCESS_MAPS is
    /// [`Kernel::sys_process_maps`] (its records are the VM's).
    pub fn sys_object_get_info(
        &mut self,
        caller: Koid,
        value: HandleValue,
        topic: u32,
        buffer: &mut [u8],
    ) -> Result<(usize, usize), Status> {
        match topic {
            INFO_HANDLE_VALID => {
                self.handle_of(caller, value)?;
                Ok((0, 0))
            }
            INFO_HANDLE_BASIC => {
                let (koid, rights) = self.handle_of(caller, value)?;
                let related = match &self.objects[&koid].body {
                    Body::Channel(c) => c.peer.unwrap_or(0),
                    Body::Thread(t) => t.process,
                    Body::Process(p) => p.job,
                    Body::Job(j) => j.parent.unwrap_or(0),
                    _ => 0,
                };
                let info = HandleBasicInfo {
                    koid,
                    rights: rights.bits(),
                    object_type: self.object_type(koid).expect("live").0,
                    related_koid: related,
                    ..Default::default()
                };
                put(buffer, &info.to_bytes())
            }
            INFO_PROCESS => {
                let (koid, _) =
                    self.object_of(caller, value, Rights::INSPECT, ObjectType::PROCESS)?;
                let p = self.process(koid);
                let mut flags = 0;
                if p.started {
                    flags |= INFO_PROCESS_FLAG_STARTED;
                }
                if p.is_dead() {
                    flags |= INFO_PROCESS_FLAG_EXITED;
                }
                if self.binding_live(&p.debugger.binding) {
                    flags |= INFO_PROCESS_FLAG_DEBUGGER_ATTACHED;
                }
                let info = ProcessInfo {
                    return_code: p.return_code,
                    start_time: p.start_time,
                    flags,
                    padding: 0,
                };
                put(buffer, &info.to_bytes())
            }
            INFO_THREAD => {
                let (koid, _) =
                    self.object_of(caller, value, Rights::INSPECT, ObjectType::THREAD)?;
                let info = ThreadInfo {
                    state: self.thread_state_value(koid),
                    wait_exception_channel_type: self.exception_holder_type(koid),
                    cpu_affinity_mask: [1, 0, 0, 0, 0, 0, 0, 0],
                };
                put(buffer, &info.to_bytes())
            }
            INFO_THREAD_EXCEPTION_REPORT => {
                let (koid, _) =
                    self.object_of(caller, value, Rights::INSPECT, ObjectType::THREAD)?;
                let Some(pe) = &self.thread(koid).exception else {
                    return Err(Status::BAD_STATE);
                };
                let bytes = pe.report.to_bytes();
                put(buffer, &bytes)
            }
            _ => Err(Status::NOT_SUPPORTED),
        }
    }
}

fn put(buffer: &mut [u8], record: &[u8]) -> Result<(usize, usize), Status> {
    if buffer.len() < record.len() {
        return Err(Status::BUFFER_TOO_SMALL);
    }
    buffer[..record.len()].copy_from_slice(record);
    Ok((1, 1))
}
