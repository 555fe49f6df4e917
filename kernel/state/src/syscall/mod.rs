//! The dispatcher: one arm per entry of the syscall table, decoding the
//! registers as the call's `signature()` says.

use crate::user::Memories;
use crate::{KernelState, Outcome, Pending};
use spinel_abi::object::{CHANNEL_MAX_MSG_BYTES, CHANNEL_MAX_MSG_HANDLES, MAX_NAME_LEN};
use spinel_abi::policy::PolicyBasic;
use spinel_abi::vm::{VM_MAP_OPTIONS, VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE, VM_SPECIFIC};
use spinel_abi::{HandleValue, Koid, PortPacket, Rights, Signals, Status, Syscall};
use spinel_hal_api::{AddressSpace, PageFlags};
use spinel_object::{Blocking, ResourceKind};

/// Largest `object_get_info` / property buffer the kernel fills.
const MAX_INFO_BYTES: usize = 4096;
/// Largest register buffer (`thread_read_state`).
const MAX_STATE_BYTES: usize = 1024;
/// Largest `process_read_memory` / `process_write_memory` in one call: a
/// larger request reports what was copied (`actual`), as a short read.
const MAX_MEMORY_BYTES: usize = 64 * 1024;
/// Largest chunk `debug_write` / the debug link move in one call.
const MAX_DEBUG_BYTES: usize = 4096;
/// Channel reads up to this size (bytes, handles) use buffers on the stack.
const SMALL_BYTES: usize = 128;
const SMALL_HANDLES: usize = 8;
/// Largest policy array.
const MAX_POLICIES: usize = 32;

fn handle(value: u64) -> HandleValue {
    HandleValue(value as u32)
}

/// Deadlines are signed nanoseconds; anything negative is already past,
/// and `INT64_MAX` (user space's `TIME_INFINITE`) never comes: the object
/// layer's TIME_INFINITE, so that an endless wait sets no timer.
fn deadline(value: u64) -> u64 {
    match value as i64 {
        i64::MAX => spinel_abi::object::TIME_INFINITE,
        value => value.max(0) as u64,
    }
}

fn status(result: Result<(), Status>) -> Outcome {
    Outcome::Return(result.err().unwrap_or(Status::OK).into_raw() as i64 as u64)
}

fn pack_name(name: &[u8]) -> &[u8] {
    &name[..name.len().min(MAX_NAME_LEN - 1)]
}

impl<A: AddressSpace> KernelState<A> {
    /// Run system call `number` for `thread` with `args`.
    pub fn syscall(&mut self, thread: Koid, number: u64, args: [u64; 8]) -> Outcome {
        if Syscall::from_number(number).is_none() {
            return status(Err(Status::BAD_SYSCALL));
        }
        let Some(process) = self.objects.thread_process(thread) else {
            return status(Err(Status::BAD_STATE));
        };
        self.syscall_in(thread, process, number, args)
    }

    /// [`KernelState::syscall`] when the caller knows the thread's process (the
    /// glue keeps it with each thread): `thread` must be a thread of
    /// `process` that the object layer lets run.
    pub fn syscall_in(
        &mut self,
        thread: Koid,
        process: Koid,
        number: u64,
        args: [u64; 8],
    ) -> Outcome {
        let Some(call) = Syscall::from_number(number) else {
            return status(Err(Status::BAD_SYSCALL));
        };
        match self.call(thread, process, call, &args) {
            Ok(outcome) => {
                if outcome == Outcome::Blocked {
                    self.pending.insert(thread, Pending { call, args });
                }
                outcome
            }
            Err(error) => status(Err(error)),
        }
    }

    /// Write a handle value to an output pointer checked beforehand.
    fn put_handle(&self, process: Koid, ptr: u64, value: HandleValue) -> Result<(), Status> {
        self.copy_out(process, ptr, &value.raw().to_le_bytes())
    }

    /// A call that creates one handle: check the output pointer, act, write.
    fn new_handle(
        &mut self,
        process: Koid,
        out: u64,
        make: impl FnOnce(&mut Self) -> Result<HandleValue, Status>,
    ) -> Result<Outcome, Status> {
        self.check_out(process, out, 4)?;
        let value = make(self)?;
        self.put_handle(process, out, value)?;
        Ok(status(Ok(())))
    }

    fn call(
        &mut self,
        t: Koid,
        process: Koid,
        call: Syscall,
        a: &[u64; 8],
    ) -> Result<Outcome, Status> {
        use Syscall::*;
        let ok = Ok(status(Ok(())));
        match call {
            HandleClose => {
                self.objects.sys_handle_close(t, handle(a[0]))?;
                ok
            }
            HandleDuplicate => self.new_handle(process, a[2], |s| {
                s.objects
                    .sys_handle_duplicate(t, handle(a[0]), Rights(a[1] as u32))
            }),
            HandleReplace => self.new_handle(process, a[2], |s| {
                s.objects
                    .sys_handle_replace(t, handle(a[0]), Rights(a[1] as u32))
            }),
            ObjectWaitOne => {
                if a[3] != 0 {
                    self.check_out(process, a[3], 4)?;
                }
                self.advance_time();
                match self.objects.sys_object_wait_one(
                    t,
                    handle(a[0]),
                    Signals(a[1] as u32),
                    deadline(a[2]),
                )? {
                    Blocking::Done(observed) => {
                        if a[3] != 0 {
                            self.copy_out(process, a[3], &observed.0.to_le_bytes())?;
                        }
                        ok
                    }
                    Blocking::Blocked => Ok(Outcome::Blocked),
                }
            }
            ObjectWaitAsync => {
                self.objects.sys_object_wait_async(
                    t,
                    handle(a[0]),
                    handle(a[1]),
                    a[2],
                    Signals(a[3] as u32),
                    a[4] as u32,
                )?;
                ok
            }
            ObjectGetProperty => {
                let mut buffer = Self::buffer(a[3] as usize, MAX_INFO_BYTES)?;
                self.check_out(process, a[2], buffer.len())?;
                let written = self.objects.sys_object_get_property(
                    t,
                    handle(a[0]),
                    a[1] as u32,
                    &mut buffer,
                )?;
                self.copy_out(process, a[2], &buffer[..written])?;
                ok
            }
            ObjectSetProperty => {
                if a[3] as usize > MAX_INFO_BYTES {
                    return Err(Status::INVALID_ARGS);
                }
                self.with_copy_in(process, a[2], a[3] as usize, |s, data| {
                    s.objects
                        .sys_object_set_property(t, handle(a[0]), a[1] as u32, data)
                })?;
                ok
            }
            ObjectGetInfo => {
                let len = (a[3] as usize).min(MAX_INFO_BYTES);
                Self::with_buffer(len, MAX_INFO_BYTES, |buffer| {
                    self.check_out(process, a[2], buffer.len())?;
                    for ptr in [a[4], a[5]] {
                        if ptr != 0 {
                            self.check_out(process, ptr, 8)?;
                        }
                    }
                    let (actual, avail) =
                        self.objects
                            .sys_object_get_info(t, handle(a[0]), a[1] as u32, buffer)?;
                    self.copy_out(process, a[2], buffer)?;
                    if a[4] != 0 {
                        self.copy_out(process, a[4], &(actual as u64).to_le_bytes())?;
                    }
                    if a[5] != 0 {
                        self.copy_out(process, a[5], &(avail as u64).to_le_bytes())?;
                    }
                    Ok(())
                })?;
                ok
            }
            PortCreate => {
                self.new_handle(process, a[1], |s| s.objects.sys_port_create(t, a[0] as u32))
            }
            PortQueue => {
                let bytes = self.copy_in_array::<{ PortPacket::SIZE }>(process, a[1])?;
                self.objects
                    .sys_port_queue(t, handle(a[0]), &PortPacket::from_bytes(&bytes))?;
                ok
            }
            PortWait => {
                self.check_out(process, a[2], PortPacket::SIZE)?;
                self.advance_time();
                match self
                    .objects
                    .sys_port_wait(t, handle(a[0]), deadline(a[1]))?
                {
                    Blocking::Done(packet) => {
                        self.copy_out(process, a[2], &packet.to_bytes())?;
                        ok
                    }
                    Blocking::Blocked => Ok(Outcome::Blocked),
                }
            }
            ChannelCreate => {
                self.check_out(process, a[1], 4)?;
                self.check_out(process, a[2], 4)?;
                let (h0, h1) = self.objects.sys_channel_create(t, a[0] as u32)?;
                self.put_handle(process, a[1], h0)?;
                self.put_handle(process, a[2], h1)?;
                ok
            }
            ChannelWrite => {
                let (num_bytes, num_handles) = (a[3] as u32, a[5] as u32);
                if num_bytes > CHANNEL_MAX_MSG_BYTES || num_handles > CHANNEL_MAX_MSG_HANDLES {
                    return Err(Status::OUT_OF_RANGE);
                }
                let handles = self.copy_in_handles(process, a[4], num_handles as usize)?;
                self.with_copy_in(process, a[2], num_bytes as usize, |s, bytes| {
                    s.objects
                        .sys_channel_write(t, handle(a[0]), a[1] as u32, bytes, &handles)
                })?;
                ok
            }
            ChannelRead => self.channel_read(t, process, a),
            JobCreate => self.new_handle(process, a[2], |s| {
                s.objects.sys_job_create(t, handle(a[0]), a[1] as u32)
            }),
            JobSetPolicy => {
                let count = a[4] as usize;
                if count > MAX_POLICIES {
                    return Err(Status::OUT_OF_RANGE);
                }
                let bytes = self.copy_in(process, a[3], count * PolicyBasic::SIZE)?;
                let policies: alloc::vec::Vec<PolicyBasic> = bytes
                    .chunks_exact(PolicyBasic::SIZE)
                    .map(|c| PolicyBasic::from_bytes(c.try_into().expect("chunks_exact")))
                    .collect();
                self.objects.sys_job_set_policy(
                    t,
                    handle(a[0]),
                    a[1] as u32,
                    a[2] as u32,
                    &policies,
                )?;
                ok
            }
            ProcessCreate => {
                if a[2] as usize >= MAX_NAME_LEN * 8 {
                    return Err(Status::INVALID_ARGS);
                }
                let name = self.copy_in(process, a[1], a[2] as usize)?;
                self.check_out(process, a[4], 4)?;
                self.check_out(process, a[5], 4)?;
                let (proc_value, vmar_value) = self.objects.sys_process_create(
                    t,
                    handle(a[0]),
                    pack_name(&name),
                    a[3] as u32,
                )?;
                self.put_handle(process, a[4], proc_value)?;
                self.put_handle(process, a[5], vmar_value)?;
                ok
            }
            ProcessStart => {
                self.objects.sys_process_start(
                    t,
                    handle(a[0]),
                    handle(a[1]),
                    a[2],
                    a[3],
                    handle(a[4]),
                    a[5],
                )?;
                ok
            }
            ProcessExit => {
                self.objects.sys_process_exit(t, a[0] as i64)?;
                ok
            }
            ThreadCreate => {
                if a[2] as usize >= MAX_NAME_LEN * 8 {
                    return Err(Status::INVALID_ARGS);
                }
                let name = self.copy_in(process, a[1], a[2] as usize)?;
                self.new_handle(process, a[4], |s| {
                    s.objects
                        .sys_thread_create(t, handle(a[0]), pack_name(&name), a[3] as u32)
                })
            }
            ThreadStart => {
                self.objects
                    .sys_thread_start(t, handle(a[0]), a[1], a[2], a[3], a[4])?;
                ok
            }
            ThreadExit => {
                self.objects.sys_thread_exit(t)?;
                ok
            }
            TaskKill => {
                self.objects.sys_task_kill(t, handle(a[0]))?;
                ok
            }
            TaskSuspend => self.new_handle(process, a[1], |s| {
                s.objects.sys_task_suspend(t, handle(a[0]))
            }),
            ThreadReadState => {
                let len = (a[3] as usize).min(MAX_STATE_BYTES);
                Self::with_buffer(len, MAX_STATE_BYTES, |buffer| {
                    self.check_out(process, a[2], buffer.len())?;
                    let written =
                        self.objects
                            .sys_thread_read_state(t, handle(a[0]), a[1] as u32, buffer)?;
                    self.copy_out(process, a[2], &buffer[..written])
                })?;
                ok
            }
            ThreadWriteState => {
                if a[3] as usize > MAX_STATE_BYTES {
                    return Err(Status::INVALID_ARGS);
                }
                self.with_copy_in(process, a[2], a[3] as usize, |s, data| {
                    s.objects
                        .sys_thread_write_state(t, handle(a[0]), a[1] as u32, data)
                })?;
                ok
            }
            ProcessReadMemory => {
                let len = (a[3] as usize).min(MAX_MEMORY_BYTES);
                let mut buffer = Self::buffer(len, MAX_MEMORY_BYTES)?;
                self.check_out(process, a[2], len)?;
                self.check_out(process, a[4], 8)?;
                let actual = self.objects.sys_process_read_memory(
                    t,
                    handle(a[0]),
                    a[1],
                    &mut buffer,
                    &mut Memories(&self.spaces),
                )?;
                self.copy_out(process, a[2], &buffer[..actual])?;
                self.copy_out(process, a[4], &(actual as u64).to_le_bytes())?;
                ok
            }
            ProcessWriteMemory => {
                let len = (a[3] as usize).min(MAX_MEMORY_BYTES);
                let data = self.copy_in(process, a[2], len)?;
                self.check_out(process, a[4], 8)?;
                let actual = self.objects.sys_process_write_memory(
                    t,
                    handle(a[0]),
                    a[1],
                    &data,
                    &mut Memories(&self.spaces),
                )?;
                self.copy_out(process, a[4], &(actual as u64).to_le_bytes())?;
                ok
            }
            TaskBindExceptionPort => {
                self.objects.sys_task_bind_exception_port(
                    t,
                    handle(a[0]),
                    handle(a[1]),
                    a[2],
                    a[3] as u32,
                )?;
                ok
            }
            TaskResumeFromException => {
                self.objects.sys_task_resume_from_exception(
                    t,
                    handle(a[0]),
                    handle(a[1]),
                    a[2] as u32,
                )?;
                ok
            }
            TaskResume => {
                self.objects.sys_task_resume(t, handle(a[0]), a[1] as u32)?;
                ok
            }
            TaskCreateExceptionChannel => self.new_handle(process, a[2], |s| {
                s.objects
                    .sys_task_create_exception_channel(t, handle(a[0]), a[1] as u32)
            }),
            ExceptionGetThread => self.new_handle(process, a[1], |s| {
                s.objects.sys_exception_get_thread(t, handle(a[0]))
            }),
            ExceptionGetProcess => self.new_handle(process, a[1], |s| {
                s.objects.sys_exception_get_process(t, handle(a[0]))
            }),
            VmoCreate => {
                let memory = self.memory;
                self.new_handle(process, a[2], |s| {
                    s.objects.sys_vmo_create(t, a[0], a[1] as u32, memory)
                })
            }
            VmoRead => {
                let (vmo, _) = self.objects.vmo_of(t, handle(a[0]), Rights::READ)?;
                self.vmo_copy(a[1], a[2], a[3] as usize, |chunk, offset, buffer| {
                    vmo.read(offset, buffer)?;
                    chunk.copy_out(process, buffer)
                })?;
                ok
            }
            VmoWrite => {
                let (vmo, _) = self.objects.vmo_of(t, handle(a[0]), Rights::WRITE)?;
                self.vmo_copy(a[1], a[2], a[3] as usize, |chunk, offset, buffer| {
                    chunk.copy_in(process, buffer)?;
                    vmo.write(offset, buffer)
                })?;
                ok
            }
            VmarMap => self.vmar_map(t, process, a),
            VmarUnmap => {
                let (target, _) = self.objects.vmar_of(t, handle(a[0]), Rights::NONE)?;
                self.space_for(target)?.unmap(a[1], a[2])?;
                ok
            }
            VmarProtect => {
                let options = a[1] as u32;
                if options & !(VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE) != 0 {
                    return Err(Status::INVALID_ARGS);
                }
                let flags = perm_flags(options)?;
                let needed = vmar_rights(options);
                let (target, _) = self.objects.vmar_of(t, handle(a[0]), needed)?;
                self.space_for(target)?.protect(a[2], a[3], flags)?;
                ok
            }
            ClockGetMonotonic => {
                self.advance_time();
                Ok(Outcome::Return(self.objects.sys_clock_get_monotonic()))
            }
            Nanosleep => {
                self.advance_time();
                match self.objects.sys_nanosleep(t, deadline(a[0]))? {
                    Blocking::Done(()) => ok,
                    Blocking::Blocked => Ok(Outcome::Blocked),
                }
            }
            DebugWrite => {
                let data = self.copy_in(process, a[0], (a[1] as usize).min(MAX_DEBUG_BYTES))?;
                self.devices.console_write(&data);
                ok
            }
            DebugLinkRead => {
                let link = self.objects.resource_of(
                    t,
                    handle(a[0]),
                    ResourceKind::DebugLink,
                    Rights::READ,
                )?;
                let mut buffer =
                    Self::buffer((a[2] as usize).min(MAX_DEBUG_BYTES), MAX_DEBUG_BYTES)?;
                self.check_out(process, a[1], buffer.len())?;
                let count = self.devices.debug_link_read(&mut buffer);
                if count < buffer.len() {
                    // Drained: READABLE again at the line's next interrupt.
                    self.objects.set_resource_readable(link, false);
                }
                self.copy_out(process, a[1], &buffer[..count])?;
                Ok(Outcome::Return(count as u64))
            }
            DebugLinkWrite => {
                self.objects.resource_of(
                    t,
                    handle(a[0]),
                    ResourceKind::DebugLink,
                    Rights::WRITE,
                )?;
                let data = self.copy_in(process, a[1], (a[2] as usize).min(MAX_DEBUG_BYTES))?;
                self.devices.debug_link_write(&data);
                ok
            }
            EventCreate => self.new_handle(process, a[1], |s| {
                s.objects.sys_event_create(t, a[0] as u32)
            }),
            ObjectSignal => {
                self.objects.sys_object_signal(
                    t,
                    handle(a[0]),
                    Signals(a[1] as u32),
                    Signals(a[2] as u32),
                )?;
                ok
            }
        }
    }

    fn channel_read(&mut self, t: Koid, process: Koid, a: &[u64; 8]) -> Result<Outcome, Status> {
        let (num_bytes, num_handles) = (a[4] as u32, a[5] as u32);
        // Small reads (the usual case) use buffers on the stack.
        let byte_count = num_bytes.min(CHANNEL_MAX_MSG_BYTES) as usize;
        let mut small_bytes = [0u8; SMALL_BYTES];
        let mut large_bytes;
        let bytes: &mut [u8] = if byte_count <= SMALL_BYTES {
            &mut small_bytes[..byte_count]
        } else {
            large_bytes = Self::buffer(byte_count, CHANNEL_MAX_MSG_BYTES as usize)?;
            &mut large_bytes
        };
        let handle_count = num_handles.min(CHANNEL_MAX_MSG_HANDLES) as usize;
        let mut small_handles = [HandleValue::INVALID; SMALL_HANDLES];
        let mut large_handles;
        let handles: &mut [HandleValue] = if handle_count <= SMALL_HANDLES {
            &mut small_handles[..handle_count]
        } else {
            large_handles = alloc::vec![HandleValue::INVALID; handle_count];
            &mut large_handles
        };
        self.check_out(process, a[2], bytes.len())?;
        self.check_out(process, a[3], handles.len() * 4)?;
        for ptr in [a[6], a[7]] {
            if ptr != 0 {
                self.check_out(process, ptr, 4)?;
            }
        }
        let write_sizes = |s: &Self, bytes: usize, handles: usize| -> Result<(), Status> {
            if a[6] != 0 {
                s.copy_out(process, a[6], &(bytes as u32).to_le_bytes())?;
            }
            if a[7] != 0 {
                s.copy_out(process, a[7], &(handles as u32).to_le_bytes())?;
            }
            Ok(())
        };
        match self
            .objects
            .sys_channel_read(t, handle(a[0]), a[1] as u32, bytes, handles)
        {
            Ok(sizes) => {
                self.copy_out(process, a[2], &bytes[..sizes.bytes])?;
                let raw: alloc::vec::Vec<u8>;
                let mut small_raw = [0u8; SMALL_HANDLES * 4];
                let raw: &[u8] = if sizes.handles <= SMALL_HANDLES {
                    for (chunk, h) in small_raw.chunks_exact_mut(4).zip(&handles[..sizes.handles]) {
                        chunk.copy_from_slice(&h.raw().to_le_bytes());
                    }
                    &small_raw[..sizes.handles * 4]
                } else {
                    raw = handles[..sizes.handles]
                        .iter()
                        .flat_map(|h| h.raw().to_le_bytes())
                        .collect();
                    &raw
                };
                self.copy_out(process, a[3], raw)?;
                write_sizes(self, sizes.bytes, sizes.handles)?;
                Ok(status(Ok(())))
            }
            Err(error) => {
                if error.status == Status::BUFFER_TOO_SMALL {
                    write_sizes(self, error.needed.bytes, error.needed.handles)?;
                }
                Err(error.status)
            }
        }
    }

    fn vmar_map(&mut self, t: Koid, process: Koid, a: &[u64; 8]) -> Result<Outcome, Status> {
        let options = a[1] as u32;
        if options & !VM_MAP_OPTIONS != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let flags = perm_flags(options)?;
        let needed = vmar_rights(options);
        let (target, _) = self.objects.vmar_of(t, handle(a[0]), needed)?;
        let (vmo, have) = self
            .objects
            .vmo_of(t, handle(a[3]), needed.union(Rights::MAP))?;
        self.check_out(process, a[6], 8)?;
        let at = if options & VM_SPECIFIC != 0 {
            Some(a[2])
        } else {
            None
        };
        // vmar_protect may later grant what the VMO handle allows, no more.
        let max = PageFlags {
            write: have.contains(Rights::WRITE),
            execute: have.contains(Rights::EXECUTE),
            user: true,
        };
        let address = self
            .space_for(target)?
            .map_with_max(at, vmo, a[4], a[5], flags, max)?;
        self.copy_out(process, a[6], &address.to_le_bytes())?;
        Ok(status(Ok(())))
    }

    /// Copy between user memory and a VMO in page-sized chunks, so that no
    /// call allocates more than a page in the kernel.
    fn vmo_copy(
        &self,
        user: u64,
        offset: u64,
        len: usize,
        mut step: impl FnMut(Chunk<'_, A>, u64, &mut [u8]) -> Result<(), Status>,
    ) -> Result<(), Status> {
        let mut buffer = [0u8; 4096];
        let mut done = 0usize;
        while done < len {
            let n = (len - done).min(buffer.len());
            let offset = offset
                .checked_add(done as u64)
                .ok_or(Status::OUT_OF_RANGE)?;
            let user_at = user.checked_add(done as u64).ok_or(Status::INVALID_ARGS)?;
            step(
                Chunk {
                    system: self,
                    user: user_at,
                },
                offset,
                &mut buffer[..n],
            )?;
            done += n;
        }
        Ok(())
    }
}

/// One chunk of a `vmo_read` / `vmo_write`: where it goes in user memory.
struct Chunk<'a, A: AddressSpace> {
    system: &'a KernelState<A>,
    user: u64,
}

impl<A: AddressSpace> Chunk<'_, A> {
    fn copy_out(&self, process: Koid, data: &[u8]) -> Result<(), Status> {
        self.system.copy_out(process, self.user, data)
    }
    fn copy_in(&self, process: Koid, into: &mut [u8]) -> Result<(), Status> {
        let data = self.system.copy_in(process, self.user, into.len())?;
        into.copy_from_slice(&data);
        Ok(())
    }
}

/// Page permissions for `VM_PERM_*` options (read is implied by any mapping).
fn perm_flags(options: u32) -> Result<PageFlags, Status> {
    if options & VM_PERM_READ == 0 && options & (VM_PERM_WRITE | VM_PERM_EXECUTE) != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let write = options & VM_PERM_WRITE != 0;
    let execute = options & VM_PERM_EXECUTE != 0;
    if write && execute {
        return Err(Status::INVALID_ARGS);
    }
    Ok(PageFlags {
        write,
        execute,
        user: true,
    })
}

/// Rights the VMAR and VMO handles need for a mapping with `options`.
fn vmar_rights(options: u32) -> Rights {
    let mut rights = Rights::NONE;
    if options & VM_PERM_READ != 0 {
        rights = rights.union(Rights::READ);
    }
    if options & VM_PERM_WRITE != 0 {
        rights = rights.union(Rights::WRITE);
    }
    if options & VM_PERM_EXECUTE != 0 {
        rights = rights.union(Rights::EXECUTE);
    }
    rights
}
