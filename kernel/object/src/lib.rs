//! Spinel's object layer: kernel objects, handles and Zircon's exception
//! delivery, as a portable library with no hardware in it.
//!
//! Principles kept here:
//! - **Pure logic, tested on the host.** `no_std` + `alloc`, no `unsafe`,
//!   no arch conditionals. Every rule of exception delivery runs under
//!   `cargo test` in seconds; the bootable kernel is thin glue around it.
//! - **One arena, explicit lifetimes.** All objects live in one [`Kernel`]
//!   value, keyed by koid. A [`Handle`] is not `Clone`: creating and dropping
//!   one goes through the kernel, which counts handles per object and reacts
//!   to the last one (a channel end closes, a port unbinds, an exception
//!   answers). Once everything is closed, nothing is left: leaks are testable.
//! - **Effects, not control flow.** The object layer never blocks, runs or
//!   wakes a CPU thread. It decides; every change of a thread's fate is queued
//!   as an [`Effect`] (Park, Run with a [`RunEntry`], Exit, ProcessExited) for
//!   the glue to carry out. The kernel and the tests drain the same queue of
//!   the same small `Copy` effects (a run entry names the registers it loads
//!   instead of carrying them). Blocking calls return [`Blocking::Blocked`]
//!   and finish later as a Run. Time comes in as plain nanoseconds
//!   ([`Kernel::advance_time`]). So delivery is deterministic and can be
//!   stepped through in tests without CPUs or threads.
//! - **Objects and syscalls in separate layers.** One file per object family
//!   (job, process, thread, port, channel, exception, signals); the
//!   `syscall` module checks handles, rights, types and options in Zircon's
//!   order and returns the documented statuses, so the kernel's dispatcher is
//!   a thin decoder.
//! - **Every exception ends exactly once.** An exception in flight has one
//!   holder; answering, closing, unbinding and killing all go through one
//!   place that moves or ends it.
//!
//! The boundary with the kernel glue:
//! - traps: [`Kernel::thread_exception_with`] (the glue writes the registers
//!   in place; tests use [`Kernel::thread_exception`] with a [`Registers`]),
//!   with [`report_for_trap`] building the report from a
//!   `spinel_hal_api::TrapRecord`;
//! - system calls: the `Kernel::sys_*` methods, the caller named by its
//!   thread koid;
//! - results: [`Kernel::next_effect`] (one at a time, the kernel's way) or
//!   [`Kernel::take_effects`] (all at once, the tests' way), the same
//!   [`Effect`]s either way; time: [`Kernel::advance_time`] /
//!   [`Kernel::next_deadline`]; registers: [`Kernel::save_registers_with`]
//!   and [`Kernel::thread_registers_ref`] (what a run entry loads);
//! - memory: the [`ProcessMemory`] trait the glue implements;
//! - bootstrap: [`Kernel::new`], [`Kernel::create_process`],
//!   [`Kernel::create_thread`], [`Kernel::start_process`],
//!   [`Kernel::grant_handle`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod channel;
mod effect;
mod exception;
mod handle;
mod invariants;
mod job;
mod kernel;
mod map;
mod memory;
mod object;
mod port;
mod process;
mod signals;
pub mod syscall;
mod thread;

pub use effect::{Completion, Effect, Registers, RunEntry};
pub use exception::report_for_trap;
pub use handle::{Handle, HandleTable, MAX_HANDLES_PER_PROCESS};
pub use kernel::{Config, Kernel};
pub use map::IntMap;
pub use memory::ResourceKind;
pub use process::ProcessMemory;
pub use syscall::{Blocking, ReadError, ReadSizes, VmarMap, VmarProtect};
