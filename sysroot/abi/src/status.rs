//! Status codes: Zircon's values, exactly.

use core::fmt;

/// A Zircon status code. Zero is success, negative values are errors.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Status(pub i32);

macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl Status {
            $($(#[$doc])* pub const $name: Status = Status($value);)*

            /// The Zircon name without the `ZX_`/`ZX_ERR_` prefix, or `None`
            /// for an unknown value.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// Every named status, for tables and tests.
            pub const ALL: &'static [Status] = &[$(Status::$name),*];
        }
    };
}

statuses! {
    OK = 0;
    INTERNAL = -1;
    NOT_SUPPORTED = -2;
    NO_RESOURCES = -3;
    NO_MEMORY = -4;
    /// Kernel-internal: a wait was interrupted and should be retried.
    INTERNAL_INTR_RETRY = -6;
    INVALID_ARGS = -10;
    BAD_HANDLE = -11;
    WRONG_TYPE = -12;
    BAD_SYSCALL = -13;
    OUT_OF_RANGE = -14;
    BUFFER_TOO_SMALL = -15;
    BAD_STATE = -20;
    TIMED_OUT = -21;
    SHOULD_WAIT = -22;
    CANCELED = -23;
    PEER_CLOSED = -24;
    NOT_FOUND = -25;
    ALREADY_EXISTS = -26;
    ALREADY_BOUND = -27;
    UNAVAILABLE = -28;
    ACCESS_DENIED = -30;
    IO = -40;
    IO_REFUSED = -41;
    IO_DATA_INTEGRITY = -42;
    IO_DATA_LOSS = -43;
    IO_NOT_PRESENT = -44;
    IO_OVERRUN = -45;
    IO_MISSED_DEADLINE = -46;
    IO_INVALID = -47;
    BAD_PATH = -50;
    NOT_DIR = -51;
    NOT_FILE = -52;
    FILE_BIG = -53;
    NO_SPACE = -54;
    NOT_EMPTY = -55;
    STOP = -60;
    NEXT = -61;
    ASYNC = -62;
    PROTOCOL_NOT_SUPPORTED = -70;
    ADDRESS_UNREACHABLE = -71;
    ADDRESS_IN_USE = -72;
    NOT_CONNECTED = -73;
    CONNECTION_REFUSED = -74;
    CONNECTION_RESET = -75;
    CONNECTION_ABORTED = -76;
    /// Kernel-internal: the thread was killed while it waited.
    INTERNAL_INTR_KILLED = -502;
}

impl Status {
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// `Ok(())` for OK, `Err(self)` otherwise.
    pub const fn ok(self) -> Result<(), Status> {
        if self.0 == 0 { Ok(()) } else { Err(self) }
    }

    /// The value as the syscall return register carries it.
    pub const fn into_raw(self) -> i32 {
        self.0
    }

    /// Status of a result: OK for `Ok`, the error otherwise.
    pub fn from_result<T>(result: &Result<T, Status>) -> Status {
        match result {
            Ok(_) => Status::OK,
            Err(status) => *status,
        }
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "Status({})", self.0),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_zircons() {
        assert_eq!(Status::OK.0, 0);
        assert_eq!(Status::BAD_HANDLE.0, -11);
        assert_eq!(Status::ALREADY_BOUND.0, -27);
        assert_eq!(Status::ACCESS_DENIED.0, -30);
        assert_eq!(Status::BAD_STATE.name(), Some("BAD_STATE"));
        assert_eq!(Status(-9999).name(), None);
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in Status::ALL.iter().enumerate() {
            for b in &Status::ALL[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
