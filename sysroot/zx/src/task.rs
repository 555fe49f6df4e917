//! Jobs, processes and threads: `job_create`, `job_set_policy`,
//! `process_create`, `process_start`, `process_exit`, `thread_create`,
//! `thread_start`, `thread_exit`, `task_kill`, `task_suspend`,
//! `thread_read_state`, `thread_write_state`, `process_read_memory`,
//! `process_write_memory`; `INFO_PROCESS_MAPS` ([`Process::maps`]) and
//! `THREAD_STATE_FP_REGS` ([`Thread::read_fp_state`]).

use crate::abi::info::{INFO_PROCESS_MAPS, InfoMapsEntry};
use crate::abi::policy::{JOB_POL_BASIC, JOB_POL_RELATIVE, PolicyBasic};
use crate::abi::thread::{
    MAX_GENERAL_REGS, RegisterLayout, THREAD_STATE_FP_REGS, THREAD_STATE_GENERAL_REGS,
    THREAD_STATE_SINGLE_STEP,
};
use crate::handle::handle_type;
use crate::sys::{call, ptr, ptr_mut, status};
use crate::{
    Handle, HandleBased, HandleValue, ProcessInfo, Status, Syscall, ThreadInfo, Vmar, reg,
};

handle_type!(
    /// A job: a node of the task tree, holding processes and jobs.
    Job,
    JOB
);
handle_type!(
    /// A process.
    Process,
    PROCESS
);
handle_type!(
    /// A thread.
    Thread,
    THREAD
);
handle_type!(
    /// Keeps a thread or process suspended while it lives.
    SuspendToken,
    SUSPEND_TOKEN
);

/// `job_create(parent, options, out)`.
pub fn job_create(parent: HandleValue, options: u32) -> Result<Job, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::JobCreate,
        &[reg(parent), u64::from(options), out_ptr as u64],
    ))?;
    Ok(Job::from_raw(HandleValue(out)))
}

/// `job_set_policy(job, options, topic, policy, count)`.
pub fn job_set_policy(
    job: HandleValue,
    options: u32,
    topic: u32,
    policies: &[PolicyBasic],
) -> Result<(), Status> {
    // PolicyBasic is repr(C) with its 8-byte size asserted by the ABI crate.
    let policies_ptr = if policies.is_empty() {
        0
    } else {
        policies.as_ptr() as u64
    };
    status(call(
        Syscall::JobSetPolicy,
        &[
            reg(job),
            u64::from(options),
            u64::from(topic),
            policies_ptr,
            policies.len() as u64,
        ],
    ))
}

/// `process_create(job, name, name_size, options, process_out, vmar_out)`:
/// the process and its root VMAR.
pub fn process_create(
    job: HandleValue,
    name: &[u8],
    options: u32,
) -> Result<(Process, Vmar), Status> {
    let (mut process, mut vmar) = (0u32, 0u32);
    let (process_ptr, vmar_ptr) = (&raw mut process, &raw mut vmar);
    status(call(
        Syscall::ProcessCreate,
        &[
            reg(job),
            ptr(name),
            name.len() as u64,
            u64::from(options),
            process_ptr as u64,
            vmar_ptr as u64,
        ],
    ))?;
    Ok((
        Process::from_raw(HandleValue(process)),
        Vmar::from_raw(HandleValue(vmar)),
    ))
}

/// `process_start(process, thread, entry, stack, arg1, arg2)`: `arg1` (a
/// handle, or INVALID) moves into the new process, whose first thread gets
/// its new value as first argument and `arg2` as second. Raw level; see
/// [`Process::start`] for ownership.
pub fn process_start(
    process: HandleValue,
    thread: HandleValue,
    entry: u64,
    stack: u64,
    arg1: HandleValue,
    arg2: u64,
) -> Result<(), Status> {
    status(call(
        Syscall::ProcessStart,
        &[reg(process), reg(thread), entry, stack, reg(arg1), arg2],
    ))
}

/// `process_exit(return_code)`: end the calling process.
pub fn process_exit(code: i64) -> ! {
    call(Syscall::ProcessExit, &[code as u64]);
    // The kernel never returns from process_exit; if it did, spin rather
    // than run on.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `thread_create(process, name, name_size, options, out)`.
pub fn thread_create(process: HandleValue, name: &[u8], options: u32) -> Result<Thread, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::ThreadCreate,
        &[
            reg(process),
            ptr(name),
            name.len() as u64,
            u64::from(options),
            out_ptr as u64,
        ],
    ))?;
    Ok(Thread::from_raw(HandleValue(out)))
}

/// `thread_start(thread, entry, stack, arg1, arg2)`.
pub fn thread_start(
    thread: HandleValue,
    entry: u64,
    stack: u64,
    arg1: u64,
    arg2: u64,
) -> Result<(), Status> {
    status(call(
        Syscall::ThreadStart,
        &[reg(thread), entry, stack, arg1, arg2],
    ))
}

/// `thread_exit()`: end the calling thread.
pub fn thread_exit() -> ! {
    call(Syscall::ThreadExit, &[]);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `task_kill(task)`.
pub fn task_kill(task: HandleValue) -> Result<(), Status> {
    status(call(Syscall::TaskKill, &[reg(task)]))
}

/// `task_suspend(task, token_out)`.
pub fn task_suspend(task: HandleValue) -> Result<SuspendToken, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(Syscall::TaskSuspend, &[reg(task), out_ptr as u64]))?;
    Ok(SuspendToken::from_raw(HandleValue(out)))
}

/// `thread_read_state(thread, kind, buffer, buffer_size)`.
pub fn thread_read_state(thread: HandleValue, kind: u32, buffer: &mut [u8]) -> Result<(), Status> {
    let size = buffer.len() as u64;
    status(call(
        Syscall::ThreadReadState,
        &[reg(thread), u64::from(kind), ptr_mut(buffer), size],
    ))
}

/// `thread_write_state(thread, kind, buffer, buffer_size)`.
pub fn thread_write_state(thread: HandleValue, kind: u32, data: &[u8]) -> Result<(), Status> {
    status(call(
        Syscall::ThreadWriteState,
        &[reg(thread), u64::from(kind), ptr(data), data.len() as u64],
    ))
}

/// `process_read_memory(process, vaddr, buffer, buffer_size, actual)`:
/// bytes copied.
pub fn process_read_memory(
    process: HandleValue,
    address: u64,
    buffer: &mut [u8],
) -> Result<usize, Status> {
    let mut actual = 0usize;
    let actual_ptr = &raw mut actual;
    let size = buffer.len() as u64;
    status(call(
        Syscall::ProcessReadMemory,
        &[
            reg(process),
            address,
            ptr_mut(buffer),
            size,
            actual_ptr as u64,
        ],
    ))?;
    Ok(actual)
}

/// `process_write_memory(process, vaddr, buffer, buffer_size, actual)`:
/// bytes copied.
pub fn process_write_memory(
    process: HandleValue,
    address: u64,
    data: &[u8],
) -> Result<usize, Status> {
    let mut actual = 0usize;
    let actual_ptr = &raw mut actual;
    status(call(
        Syscall::ProcessWriteMemory,
        &[
            reg(process),
            address,
            ptr(data),
            data.len() as u64,
            actual_ptr as u64,
        ],
    ))?;
    Ok(actual)
}

/// A thread's general registers: the slots of this architecture's
/// [`RegisterLayout`] ([`crate::arch::REGISTER_LAYOUT`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GeneralRegisters {
    pub slots: [u64; MAX_GENERAL_REGS],
    pub layout: RegisterLayout,
}

impl GeneralRegisters {
    /// Bytes `thread_read_state` returns for this architecture.
    pub const fn size() -> usize {
        crate::arch::REGISTER_LAYOUT.count * 8
    }
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut slots = [0u64; MAX_GENERAL_REGS];
        for (slot, chunk) in slots.iter_mut().zip(bytes.chunks_exact(8)) {
            *slot = u64::from_le_bytes([
                chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
            ]);
        }
        GeneralRegisters {
            slots,
            layout: crate::arch::REGISTER_LAYOUT,
        }
    }
    /// Write the slots as bytes into `out` (at least [`Self::size`] long);
    /// returns the bytes used.
    pub fn write_bytes(&self, out: &mut [u8]) -> usize {
        let n = self.layout.count;
        for (slot, chunk) in self.slots[..n].iter().zip(out.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&slot.to_le_bytes());
        }
        n * 8
    }
    pub fn pc(&self) -> u64 {
        self.slots[self.layout.pc]
    }
    pub fn set_pc(&mut self, pc: u64) {
        self.slots[self.layout.pc] = pc;
    }
    pub fn sp(&self) -> u64 {
        self.slots[self.layout.sp]
    }
    pub fn set_sp(&mut self, sp: u64) {
        self.slots[self.layout.sp] = sp;
    }
    pub fn arg0(&self) -> u64 {
        self.slots[self.layout.arg0]
    }
    pub fn set_arg0(&mut self, value: u64) {
        self.slots[self.layout.arg0] = value;
    }
}

/// The records `INFO_PROCESS_MAPS` wrote into a caller's buffer
/// ([`Process::maps`]), decoded one by one, and how many mappings the
/// process has in all.
#[derive(Clone, Debug)]
pub struct Maps<'a> {
    records: core::slice::ChunksExact<'a, u8>,
    /// Records written (at most what the buffer holds).
    pub actual: usize,
    /// Mappings the process has; more than `actual` when the buffer was
    /// too small (not an error: call again with a larger one).
    pub avail: usize,
}

impl Iterator for Maps<'_> {
    type Item = InfoMapsEntry;
    fn next(&mut self) -> Option<InfoMapsEntry> {
        let chunk = self.records.next()?;
        let mut record = [0u8; InfoMapsEntry::SIZE];
        record.copy_from_slice(chunk);
        Some(InfoMapsEntry::from_bytes(&record))
    }
}

impl Job {
    pub fn create_child(&self) -> Result<Job, Status> {
        job_create(self.raw(), 0)
    }
    /// One `JOB_POL_BASIC` entry, relative.
    pub fn set_policy(&self, condition: u32, action: u32) -> Result<(), Status> {
        job_set_policy(
            self.raw(),
            JOB_POL_RELATIVE,
            JOB_POL_BASIC,
            &[PolicyBasic {
                condition,
                policy: action,
            }],
        )
    }
    pub fn create_process(&self, name: &[u8]) -> Result<(Process, Vmar), Status> {
        process_create(self.raw(), name, 0)
    }
    pub fn kill(&self) -> Result<(), Status> {
        task_kill(self.raw())
    }
}

impl Process {
    /// Start the first thread; `arg1` moves into the process. Whatever the
    /// outcome `arg1` is gone from here (the kernel keeps it on a failed
    /// check; it is then closed).
    pub fn start(
        &self,
        thread: &Thread,
        entry: u64,
        stack: u64,
        arg1: Handle,
        arg2: u64,
    ) -> Result<(), Status> {
        let value = arg1.into_raw();
        process_start(self.raw(), thread.raw(), entry, stack, value, arg2).inspect_err(|_| {
            // Values are never reused: closing one the kernel took is a
            // harmless BAD_HANDLE.
            let _ = crate::handle_close(value);
        })
    }
    pub fn create_thread(&self, name: &[u8]) -> Result<Thread, Status> {
        thread_create(self.raw(), name, 0)
    }
    pub fn kill(&self) -> Result<(), Status> {
        task_kill(self.raw())
    }
    pub fn suspend(&self) -> Result<SuspendToken, Status> {
        task_suspend(self.raw())
    }
    pub fn info(&self) -> Result<ProcessInfo, Status> {
        crate::object::process_info(self.raw())
    }
    pub fn read_memory(&self, address: u64, buffer: &mut [u8]) -> Result<usize, Status> {
        process_read_memory(self.raw(), address, buffer)
    }
    pub fn write_memory(&self, address: u64, data: &[u8]) -> Result<usize, Status> {
        process_write_memory(self.raw(), address, data)
    }
    /// `INFO_PROCESS_MAPS`: the process's mappings in address order, as many
    /// as `buffer` holds (`buffer.len() / InfoMapsEntry::SIZE`); the result's
    /// `avail` says how many there are. Needs RIGHT_INSPECT.
    pub fn maps<'a>(&self, buffer: &'a mut [u8]) -> Result<Maps<'a>, Status> {
        let (actual, avail) =
            crate::object::object_get_info(self.raw(), INFO_PROCESS_MAPS, buffer)?;
        let used = actual * InfoMapsEntry::SIZE;
        Ok(Maps {
            records: buffer[..used].chunks_exact(InfoMapsEntry::SIZE),
            actual,
            avail,
        })
    }
    /// How many mappings the process has (`INFO_PROCESS_MAPS` with no
    /// buffer): size a buffer for [`Process::maps`] with it.
    pub fn maps_count(&self) -> Result<usize, Status> {
        crate::object::object_get_info(self.raw(), INFO_PROCESS_MAPS, &mut []).map(|(_, n)| n)
    }
}

impl Thread {
    pub fn start(&self, entry: u64, stack: u64, arg1: u64, arg2: u64) -> Result<(), Status> {
        thread_start(self.raw(), entry, stack, arg1, arg2)
    }
    pub fn kill(&self) -> Result<(), Status> {
        task_kill(self.raw())
    }
    pub fn suspend(&self) -> Result<SuspendToken, Status> {
        task_suspend(self.raw())
    }
    pub fn info(&self) -> Result<ThreadInfo, Status> {
        crate::object::thread_info(self.raw())
    }
    /// The report of the exception the thread is in.
    pub fn exception_report(&self) -> Result<crate::ExceptionReport, Status> {
        crate::object::thread_exception_report(self.raw())
    }
    pub fn read_registers(&self) -> Result<GeneralRegisters, Status> {
        let mut bytes = [0u8; MAX_GENERAL_REGS * 8];
        thread_read_state(
            self.raw(),
            THREAD_STATE_GENERAL_REGS,
            &mut bytes[..GeneralRegisters::size()],
        )?;
        Ok(GeneralRegisters::from_bytes(
            &bytes[..GeneralRegisters::size()],
        ))
    }
    pub fn write_registers(&self, registers: &GeneralRegisters) -> Result<(), Status> {
        let mut bytes = [0u8; MAX_GENERAL_REGS * 8];
        let n = registers.write_bytes(&mut bytes);
        thread_write_state(self.raw(), THREAD_STATE_GENERAL_REGS, &bytes[..n])
    }
    /// `THREAD_STATE_FP_REGS` into `buffer` (at least
    /// [`crate::arch::FP_REGS_SIZE`] bytes): Linux's `NT_FPREGSET` layout
    /// (see [`crate::abi::thread::THREAD_STATE_FP_REGS`]). Returns the bytes
    /// written. The thread must be stopped in an exception or suspended.
    pub fn read_fp_state(&self, buffer: &mut [u8]) -> Result<usize, Status> {
        let size = crate::arch::FP_REGS_SIZE;
        let buffer = buffer.get_mut(..size).ok_or(Status::BUFFER_TOO_SMALL)?;
        thread_read_state(self.raw(), THREAD_STATE_FP_REGS, buffer)?;
        Ok(size)
    }
    /// `THREAD_STATE_FP_REGS` from `data` (exactly
    /// [`crate::arch::FP_REGS_SIZE`] bytes, as [`Thread::read_fp_state`]
    /// gives them); reserved control bits set are INVALID_ARGS.
    pub fn write_fp_state(&self, data: &[u8]) -> Result<(), Status> {
        thread_write_state(self.raw(), THREAD_STATE_FP_REGS, data)
    }
    /// `THREAD_STATE_SINGLE_STEP`: while on, the thread (stopped in an
    /// exception or suspended now) traps with HW_BREAKPOINT after each
    /// instruction it runs.
    pub fn set_single_step(&self, on: bool) -> Result<(), Status> {
        let value = u32::from(on).to_le_bytes();
        thread_write_state(self.raw(), THREAD_STATE_SINGLE_STEP, &value)
    }
    pub fn single_step(&self) -> Result<bool, Status> {
        let mut value = [0u8; 4];
        thread_read_state(self.raw(), THREAD_STATE_SINGLE_STEP, &mut value)?;
        Ok(u32::from_le_bytes(value) != 0)
    }
}
