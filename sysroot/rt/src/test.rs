//! The in-guest test harness. A test program lists its tests and calls
//! [`run`]; the output is the protocol `cargo xtask test` parses from the
//! console (the same as the kernel's self-tests):
//!
//! ```text
//! test <name> ... ok
//! test <name> ... FAILED: <reason>
//! <N> passed, <M> failed
//! ```
//!
//! preceded by one line naming the tests that will run, in order, so that a
//! reader of the console can tell which test was running when the process
//! died without a result line (a crash: `cargo xtask check` reports it
//! FAILED):
//!
//! ```text
//! running <K> tests: <name>, <name>, ...
//! ```
//!
//! and [`run`] returns the exit code: 0 when every test passed, 1 otherwise.
//! A test that panics is reported FAILED with the panic message, followed by
//! the summary (the remaining tests count as not run), and the process
//! exits with 1.
//!
//! ```ignore
//! use spinel_rt::test::{Test, TestResult};
//! use spinel_rt::{ensure, ensure_eq};
//!
//! const TESTS: &[Test] = &[Test::new("arithmetic_works", arithmetic)];
//! fn arithmetic() -> TestResult {
//!     ensure_eq!(1 + 1, 2);
//!     Ok(())
//! }
//! // in main: return spinel_rt::test::run(TESTS, filter);
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

/// What a test returns: `Err(reason)` fails it.
pub type TestResult = Result<(), String>;

/// A named test.
#[derive(Clone, Copy, Debug)]
pub struct Test {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

impl Test {
    pub const fn new(name: &'static str, run: fn() -> TestResult) -> Self {
        Test { name, run }
    }
}

/// Fail the test with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr $(,)?) => {
        if !$cond {
            return Err($crate::__format!(
                "{}:{}: {}", file!(), line!(), stringify!($cond)
            ));
        }
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::__format!(
                "{}:{}: {}", file!(), line!(), $crate::__format!($($msg)+)
            ));
        }
    };
}

/// Fail the test unless the two values are equal, showing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (left, right) => {
                if *left != *right {
                    return Err($crate::__format!(
                        "{}:{}: {} == {}: {:?} != {:?}",
                        file!(), line!(), stringify!($left), stringify!($right), left, right
                    ));
                }
            }
        }
    };
    ($left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if *left != *right {
                    return Err($crate::__format!(
                        "{}:{}: {:?} != {:?}: {}",
                        file!(), line!(), left, right, $crate::__format!($($msg)+)
                    ));
                }
            }
        }
    };
}

/// Turn any `Result<T, E: Debug>` into the test's error with the
/// expression's text: `let x = check!(call())?;`.
#[macro_export]
macro_rules! check {
    ($e:expr) => {
        ($e).map_err(|error| {
            $crate::__format!("{}:{}: {}: {:?}", file!(), line!(), stringify!($e), error)
        })
    };
}

/// No test is running.
const NONE: usize = usize::MAX;

/// The harness state the panic handler needs: the running test's index
/// into the list that [`run`] got, and the counts so far.
static TESTS: spin::Once<&'static [Test]> = spin::Once::new();
static CURRENT: AtomicUsize = AtomicUsize::new(NONE);
static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

/// Run the tests whose name contains `filter` (all when `None`), printing
/// one line each and the summary; returns the exit code (0: all passed).
pub fn run(tests: &'static [Test], filter: Option<&str>) -> i64 {
    TESTS.call_once(|| tests);
    let selected = |test: &&Test| filter.is_none_or(|f| test.name.contains(f));
    let names: Vec<&str> = tests.iter().filter(selected).map(|t| t.name).collect();
    crate::println!("running {} tests: {}", names.len(), names.join(", "));
    for (index, test) in tests.iter().enumerate() {
        if !selected(&test) {
            continue;
        }
        CURRENT.store(index, Ordering::SeqCst);
        let result = (test.run)();
        CURRENT.store(NONE, Ordering::SeqCst);
        match result {
            Ok(()) => {
                crate::println!("test {} ... ok", test.name);
                PASSED.fetch_add(1, Ordering::SeqCst);
            }
            Err(reason) => {
                crate::println!("test {} ... FAILED: {}", test.name, one_line(&reason));
                FAILED.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    summary()
}

/// Print the summary line; returns the exit code.
fn summary() -> i64 {
    let (passed, failed) = (PASSED.load(Ordering::SeqCst), FAILED.load(Ordering::SeqCst));
    crate::println!("{passed} passed, {failed} failed");
    if failed == 0 { 0 } else { 1 }
}

/// Reasons go on one line: the parser reads lines.
fn one_line(reason: &str) -> String {
    reason.replace('\n', " | ")
}

/// Called by the panic handler: if a test is running, report it FAILED
/// with the panic, print the summary and exit with 1.
pub(crate) fn report_panic(info: &core::panic::PanicInfo<'_>) {
    let index = CURRENT.swap(NONE, Ordering::SeqCst);
    let Some(test) = TESTS.get().and_then(|tests| tests.get(index)) else {
        return;
    };
    let (file, line) = info
        .location()
        .map(|l| (l.file(), l.line()))
        .unwrap_or(("?", 0));
    crate::println!(
        "test {} ... FAILED: panicked at {}:{}: {}",
        test.name,
        file,
        line,
        info.message()
    );
    FAILED.fetch_add(1, Ordering::SeqCst);
    let _ = summary();
    crate::zx::process_exit(1)
}

/// A test program's main: `setup` takes what the tests need from the
/// bootstrap message, then the tests run with the filter init passes (the
/// word after `test`). A failed setup is reported as one failed test, so the
/// suite still ends with its summary line.
pub fn suite(
    name: &str,
    startup: &mut crate::startup::Startup,
    tests: &'static [Test],
    setup: impl FnOnce(&mut crate::startup::Startup) -> Result<(), String>,
) -> i64 {
    let filter = startup.words().find(|w| *w != "test").map(String::from);
    if let Err(reason) = setup(startup) {
        crate::println!("{name}: cannot run: {reason}");
        crate::println!("0 passed, 1 failed");
        return 1;
    }
    run(tests, filter.as_deref())
}
