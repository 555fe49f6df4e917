//! Spinel's ABI: what kernel and user space agree on, written once.
//!
//! - **Zircon's numbers.** Statuses, rights, object types, signals, exception
//!   types, info topics and policies carry Zircon's (or, where named, Magenta's)
//!   values, so programs and debuggers written for those systems find the
//!   same constants.
//! - **One syscall table** ([`syscall`]) gives each call its number and name;
//!   the kernel's dispatcher and the userspace stubs are both derived from it.
//! - **Layouts as checked data.** Every structure that crosses the boundary
//!   is `repr(C)` with compile-time size and offset assertions, and converts
//!   to and from bytes without `unsafe`. Arch-specific layouts (exception
//!   contexts, register slots) are plain types usable on any host: there are
//!   no arch conditionals in this crate.
#![no_std]
#![forbid(unsafe_code)]

pub mod bootstrap;
mod bytes;
pub mod exception;
pub mod info;
pub mod object;
pub mod policy;
pub mod port;
pub mod rights;
pub mod status;
pub mod syscall;
pub mod thread;
pub mod vm;

pub use exception::{ExceptionInfo, ExceptionReport};
pub use info::{HandleBasicInfo, InfoMapsEntry, ProcessInfo, ThreadInfo};
pub use object::{HandleValue, Koid, ObjectType, Signals, Time};
pub use port::PortPacket;
pub use rights::Rights;
pub use status::Status;
pub use syscall::Syscall;
