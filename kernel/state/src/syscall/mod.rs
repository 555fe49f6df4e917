//! The system-call decoder: from a call number and eight argument registers
//! to a rule of the object layer (`Kernel::sys_*`), with user memory copied
//! in and out around it.
//!
//! Rules kept here:
//! - **Driven by the table.** [`args`] and the dispatcher are generated from
//!   `spinel_abi::for_each_syscall!`, so every call decodes its registers
//!   as its signature says, into a struct of typed fields: handle values,
//!   integers, and user pointers ([`crate::user`]) that can only be read or
//!   written through the caller's `VmSpace`. A call missing its decoder
//!   does not build.
//! - **One file per family**, mirroring `kernel/object/src/syscall/`:
//!   `handle`, `object`, `port`, `channel`, `task`, `exception`, `vm`,
//!   `debug`. A decoder only moves bytes: the rules (options, rights,
//!   types, states, in Zircon's order) are the object layer's.
//! - **Outputs checked before acting.** A decoder checks that its output
//!   pointers can be written before the rule changes anything, so a call
//!   never half-succeeds for want of a good pointer.
//! - **Bounded work per call.** Kernel-side buffers are capped (message,
//!   info, memory sizes): no argument makes the kernel allocate without
//!   limit.
//! - **Blocked calls finish later.** A call that parks its caller is
//!   remembered ([`Pending`]) with its registers; its outputs are written
//!   when the object layer finishes it ([`KernelState::finish_blocked`]).

mod channel;
mod debug;
mod exception;
mod handle;
mod object;
mod port;
mod task;
mod vm;

use crate::user::{FromRegister, UserInPtr, UserMemory, UserOutPtr};
use crate::{KernelState, Outcome};
use alloc::vec::Vec;
use spinel_abi::policy::PolicyBasic;
use spinel_abi::{HandleValue, Koid, PortPacket, Status, Syscall};
use spinel_hal_api::AddressSpace;
use spinel_object::Completion;

/// The type a table argument of register-level type `$type` decodes to.
macro_rules! argument_type {
    (* const $type:ident) => { UserInPtr<value_type!($type)> };
    (* mut $type:ident) => { UserOutPtr<value_type!($type)> };
    ($type:ident) => { value_type!($type) };
}

/// The kernel type of a table value type.
macro_rules! value_type {
    (handle) => {
        HandleValue
    };
    (PortPacket) => {
        PortPacket
    };
    (PolicyBasic) => {
        PolicyBasic
    };
    ($type:ident) => {
        $type
    };
}

/// The per-call argument structs and the dispatcher, from the table.
macro_rules! decoder {
    ($($number:literal $variant:ident $name:ident
       ($($argument:ident : $(*$pointer:tt)? $type:ident),*) -> $result:literal;)*) => {
        /// Each call's arguments, decoded from its registers as the table
        /// says (argument `i` from register `i`).
        pub mod args {
            use super::*;
            $(
                #[doc = concat!("`", stringify!($name), "`'s arguments.")]
                #[derive(Clone, Copy, Debug)]
                pub struct $variant {
                    $(pub $argument: argument_type!($(*$pointer)? $type),)*
                }

                impl $variant {
                    #[inline(always)]
                    #[allow(unused_variables, unused_mut)] // reason: calls without arguments
                    pub fn decode(registers: &[u64; 8]) -> Self {
                        let mut registers = registers.iter().copied();
                        $variant {
                            $($argument: FromRegister::from_register(
                                registers.next().unwrap_or_default(),
                            ),)*
                        }
                    }
                }
            )*
        }

        impl<A: AddressSpace> KernelState<A> {
            /// Decode `registers` as `call`'s arguments and run its decoder.
            /// One function for every call, as a jump table: the hot
            /// decoders are inlined into it, and it stays out of
            /// [`KernelState::syscall_in`], which the glue inlines.
            #[inline(never)]
            fn dispatch(
                &mut self,
                caller: Caller,
                call: Syscall,
                registers: &[u64; 8],
            ) -> Result<Outcome, Status> {
                match call {
                    $(Syscall::$variant => self.$name(caller, args::$variant::decode(registers)),)*
                }
            }
        }
    };
}

spinel_abi::for_each_syscall!(decoder);

/// The thread making a call, and its process (whose memory the pointers
/// name).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub thread: Koid,
    pub process: Koid,
}

/// A call that blocked, remembered until it finishes: its output pointers
/// are written then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    call: Syscall,
    registers: [u64; 8],
}

/// Success, as a call's result.
pub(crate) const OK: Result<Outcome, Status> = Ok(Outcome::Return(0));

/// A status in the result register.
#[inline(always)]
pub(crate) fn status_value(status: Status) -> u64 {
    status.into_raw() as i64 as u64
}

/// Deadlines are signed nanoseconds; anything negative is already past,
/// and `INT64_MAX` (user space's `TIME_INFINITE`) never comes: the object
/// layer's TIME_INFINITE, so that an endless wait sets no timer.
#[inline]
pub(crate) fn deadline(value: i64) -> u64 {
    match value {
        i64::MAX => spinel_abi::object::TIME_INFINITE,
        value => value.max(0) as u64,
    }
}

/// A zeroed kernel buffer of `len` bytes, refusing more than `cap`,
/// given to `fill`: on the stack when it is small (a register set, a
/// record), on the heap otherwise.
#[inline]
pub(crate) fn with_buffer<R>(
    len: usize,
    cap: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<R, Status>,
) -> Result<R, Status> {
    const SMALL: usize = 288;
    if len <= SMALL {
        let mut buffer = [0u8; SMALL];
        fill(&mut buffer[..len])
    } else {
        fill(&mut buffer(len, cap)?)
    }
}

/// A zeroed kernel buffer of `len` bytes, refusing more than `cap`
/// (OUT_OF_RANGE).
pub(crate) fn buffer(len: usize, cap: usize) -> Result<Vec<u8>, Status> {
    if len > cap {
        return Err(Status::OUT_OF_RANGE);
    }
    Ok(alloc::vec![0u8; len])
}

impl<A: AddressSpace> KernelState<A> {
    /// Run system call `number` for `thread` with `registers`.
    pub fn syscall(&mut self, thread: Koid, number: u64, registers: [u64; 8]) -> Outcome {
        if Syscall::from_number(number).is_none() {
            return Outcome::Return(status_value(Status::BAD_SYSCALL));
        }
        let Some(process) = self.objects.thread_process(thread) else {
            return Outcome::Return(status_value(Status::BAD_STATE));
        };
        self.syscall_in(thread, process, number, registers)
    }

    /// [`KernelState::syscall`] when the caller knows the thread's process
    /// (the glue keeps it with each thread): `thread` must be a thread of
    /// `process` that the object layer lets run.
    #[inline]
    pub fn syscall_in(
        &mut self,
        thread: Koid,
        process: Koid,
        number: u64,
        registers: [u64; 8],
    ) -> Outcome {
        let Some(call) = Syscall::from_number(number) else {
            return Outcome::Return(status_value(Status::BAD_SYSCALL));
        };
        match self.dispatch(Caller { thread, process }, call, &registers) {
            Ok(Outcome::Blocked) => {
                self.pending.insert(thread, Pending { call, registers });
                Outcome::Blocked
            }
            Ok(outcome) => outcome,
            Err(error) => Outcome::Return(status_value(error)),
        }
    }

    /// The memory of the calling process, for its pointers.
    #[inline(always)]
    pub(crate) fn user(&self, caller: Caller) -> UserMemory<'_, A> {
        UserMemory::new(self.spaces.get(&caller.process))
    }

    /// A call that creates one handle: check the output pointer, act, write.
    #[inline]
    pub(crate) fn new_handle(
        &mut self,
        caller: Caller,
        out: UserOutPtr<HandleValue>,
        make: impl FnOnce(&mut Self) -> Result<HandleValue, Status>,
    ) -> Result<Outcome, Status> {
        out.check(self.user(caller))?;
        let value = make(self)?;
        out.write(self.user(caller), value)?;
        OK
    }

    /// A blocked call finished with `status` and `completion`: write its
    /// outputs and return the value for the result register.
    pub fn finish_blocked(&mut self, thread: Koid, status: Status, completion: Completion) -> u64 {
        let Some(pending) = self.pending.remove(&thread) else {
            return status_value(status);
        };
        let status = if status.is_ok() {
            self.write_completion(thread, &pending, completion)
        } else {
            status
        };
        status_value(status)
    }

    /// The glue's note that a thread is gone: forget its pending call.
    pub fn thread_exited(&mut self, thread: Koid) {
        self.pending.remove(&thread);
    }

    /// Write the outputs of a blocked call that finished well.
    fn write_completion(
        &mut self,
        thread: Koid,
        pending: &Pending,
        completion: Completion,
    ) -> Status {
        let Some(process) = self.objects.thread_process(thread) else {
            return Status::BAD_STATE;
        };
        let user = self.user(Caller { thread, process });
        let result = match (pending.call, completion) {
            (Syscall::ObjectWaitOne, Completion::Signals(signals)) => {
                match args::ObjectWaitOne::decode(&pending.registers)
                    .observed
                    .optional()
                {
                    Some(observed) => observed.write(user, signals.bits()),
                    None => Ok(()),
                }
            }
            (Syscall::PortWait, Completion::Packet(packet)) => {
                args::PortWait::decode(&pending.registers)
                    .packet
                    .write(user, packet)
            }
            _ => Ok(()),
        };
        Status::from_result(&result)
    }
}
