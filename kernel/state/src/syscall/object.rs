//! object_wait_one, object_wait_async, object_signal, object_get_property,
//! object_set_property, object_get_info, event_create, nanosleep,
//! clock_get_monotonic: records and properties copied through buffers of at
//! most [`MAX_INFO_BYTES`], optional outputs (null pointers) skipped;
//! `INFO_PROCESS_MAPS` records go straight from the target's `VmSpace` to
//! the caller's buffer, however many there are.

use super::{Caller, OK, args, buffer, deadline, with_buffer};
use crate::user::UserMemory;
use crate::{KernelState, Outcome};
use spinel_abi::info::{INFO_PROCESS_MAPS, InfoMapsEntry};
use spinel_abi::{Signals, Status};
use spinel_hal_api::AddressSpace;
use spinel_object::Blocking;

/// Largest `object_get_info` / property buffer the kernel fills.
const MAX_INFO_BYTES: usize = 4096;

impl<A: AddressSpace> KernelState<A> {
    /// The observed signals are written now, or when the wait ends.
    pub(super) fn object_wait_one(
        &mut self,
        caller: Caller,
        args: args::ObjectWaitOne,
    ) -> Result<Outcome, Status> {
        let observed = args.observed.optional();
        if let Some(observed) = observed {
            observed.check(self.user(caller))?;
        }
        self.advance_time();
        match self.objects.sys_object_wait_one(
            caller.thread,
            args.handle,
            Signals(args.signals),
            deadline(args.deadline),
        )? {
            Blocking::Done(signals) => {
                if let Some(observed) = observed {
                    observed.write(self.user(caller), signals.bits())?;
                }
                OK
            }
            Blocking::Blocked => Ok(Outcome::Blocked),
        }
    }

    pub(super) fn object_wait_async(
        &mut self,
        caller: Caller,
        args: args::ObjectWaitAsync,
    ) -> Result<Outcome, Status> {
        self.objects.sys_object_wait_async(
            caller.thread,
            args.handle,
            args.port,
            args.key,
            Signals(args.signals),
            args.options,
        )?;
        OK
    }

    pub(super) fn object_signal(
        &mut self,
        caller: Caller,
        args: args::ObjectSignal,
    ) -> Result<Outcome, Status> {
        self.objects.sys_object_signal(
            caller.thread,
            args.handle,
            Signals(args.clear_mask),
            Signals(args.set_mask),
        )?;
        OK
    }

    /// A larger buffer than the kernel fills is OUT_OF_RANGE.
    pub(super) fn object_get_property(
        &mut self,
        caller: Caller,
        args: args::ObjectGetProperty,
    ) -> Result<Outcome, Status> {
        let mut buffer = buffer(args.value_size, MAX_INFO_BYTES)?;
        let out = args.value.slice(buffer.len());
        out.check(self.user(caller))?;
        let written = self.objects.sys_object_get_property(
            caller.thread,
            args.handle,
            args.property,
            &mut buffer,
        )?;
        out.write(self.user(caller), &buffer[..written])?;
        OK
    }

    /// A larger value than the kernel takes is INVALID_ARGS.
    pub(super) fn object_set_property(
        &mut self,
        caller: Caller,
        args: args::ObjectSetProperty,
    ) -> Result<Outcome, Status> {
        if args.value_size > MAX_INFO_BYTES {
            return Err(Status::INVALID_ARGS);
        }
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let objects = &mut self.objects;
        args.value.slice(args.value_size).with_bytes(user, |data| {
            objects.sys_object_set_property(caller.thread, args.handle, args.property, data)
        })?;
        OK
    }

    /// A larger buffer than the kernel fills is filled as far as it goes;
    /// `actual` and `avail` are optional.
    pub(super) fn object_get_info(
        &mut self,
        caller: Caller,
        args: args::ObjectGetInfo,
    ) -> Result<Outcome, Status> {
        if args.topic == INFO_PROCESS_MAPS {
            return self.process_maps(caller, args);
        }
        let len = args.buffer_size.min(MAX_INFO_BYTES);
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let objects = &mut self.objects;
        with_buffer(len, MAX_INFO_BYTES, |buffer| {
            let out = args.buffer.slice(buffer.len());
            out.check(user)?;
            let (actual, avail) = (args.actual.optional(), args.avail.optional());
            for count in [actual, avail].into_iter().flatten() {
                count.check(user)?;
            }
            let (written, available) =
                objects.sys_object_get_info(caller.thread, args.handle, args.topic, buffer)?;
            out.write(user, buffer)?;
            if let Some(actual) = actual {
                actual.write(user, written)?;
            }
            if let Some(avail) = avail {
                avail.write(user, available)?;
            }
            Ok(())
        })?;
        OK
    }

    /// `INFO_PROCESS_MAPS`: the object layer's rule, then the target's
    /// `VmSpace` lists its mappings; each record goes straight to the
    /// caller's buffer (no kernel buffer, no cap), as many as fit, in
    /// address order. Every output is checked before anything is written.
    fn process_maps(
        &mut self,
        caller: Caller,
        args: args::ObjectGetInfo,
    ) -> Result<Outcome, Status> {
        let process = self.objects.sys_process_maps(caller.thread, args.handle)?;
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let space = self.spaces.get(&process);
        let avail = space.map_or(0, |s| s.mapping_count());
        let fit = args.buffer_size / InfoMapsEntry::SIZE;
        let actual = fit.min(avail);
        let out = args.buffer.slice(actual * InfoMapsEntry::SIZE);
        out.check(user)?;
        let (actual_out, avail_out) = (args.actual.optional(), args.avail.optional());
        for count in [actual_out, avail_out].into_iter().flatten() {
            count.check(user)?;
        }
        for (i, entry) in space
            .into_iter()
            .flat_map(|s| s.maps())
            .take(actual)
            .enumerate()
        {
            out.part(i * InfoMapsEntry::SIZE, InfoMapsEntry::SIZE)?
                .write(user, &entry.to_bytes())?;
        }
        if let Some(count) = actual_out {
            count.write(user, actual)?;
        }
        if let Some(count) = avail_out {
            count.write(user, avail)?;
        }
        OK
    }

    pub(super) fn event_create(
        &mut self,
        caller: Caller,
        args: args::EventCreate,
    ) -> Result<Outcome, Status> {
        self.new_handle(caller, args.out, |s| {
            s.objects.sys_event_create(caller.thread, args.options)
        })
    }

    pub(super) fn nanosleep(
        &mut self,
        caller: Caller,
        args: args::Nanosleep,
    ) -> Result<Outcome, Status> {
        self.advance_time();
        match self
            .objects
            .sys_nanosleep(caller.thread, deadline(args.deadline))?
        {
            Blocking::Done(()) => OK,
            Blocking::Blocked => Ok(Outcome::Blocked),
        }
    }

    /// Returns the time itself (nanoseconds since boot), never a status.
    pub(super) fn clock_get_monotonic(
        &mut self,
        _caller: Caller,
        _args: args::ClockGetMonotonic,
    ) -> Result<Outcome, Status> {
        self.advance_time();
        Ok(Outcome::Return(self.objects.sys_clock_get_monotonic()))
    }
}
