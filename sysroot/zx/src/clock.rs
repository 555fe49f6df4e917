//! `clock_get_monotonic`, `nanosleep`, and deadlines.

use crate::sys::{call, status};
use crate::{Status, Syscall};

/// A deadline that never passes (Zircon's `ZX_TIME_INFINITE`, `INT64_MAX`).
pub const TIME_INFINITE: i64 = i64::MAX;

/// `clock_get_monotonic()`: nanoseconds since boot (never a status).
pub fn clock_get_monotonic() -> i64 {
    call(Syscall::ClockGetMonotonic, &[])
}

/// The deadline `nanoseconds` from now (saturating at [`TIME_INFINITE`]).
pub fn deadline_after(nanoseconds: i64) -> i64 {
    clock_get_monotonic().saturating_add(nanoseconds)
}

/// `nanosleep(deadline)`: block until the monotonic clock reaches `deadline`.
pub fn nanosleep(deadline: i64) -> Result<(), Status> {
    status(call(Syscall::Nanosleep, &[deadline as u64]))
}
