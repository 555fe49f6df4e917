//! Reading a user program's run from the guest console: its output, its
//! tests and how it ended (`cargo xtask check`).
//!
//! Rules this module keeps:
//! - **Only the protocol is read**: init's `init: run-program NAME started`
//!   / `exited with CODE` / `cannot start: STATUS` / `init: guest clock NS`
//!   lines, and the test harness's `running K tests: A, B`, `test NAME ...
//!   ok` and `test NAME ... FAILED: REASON` lines (`sysroot/rt/src/test.rs`).
//! - **Every run becomes cases**: a test line is a case; a test the harness
//!   announced but that never reported is FAILED (the process died in it:
//!   a crash, or the guest hung) and the ones after it are skipped; a
//!   program with no test lines is one case, passed only when it exited
//!   with 0; a program whose tests passed but that exited otherwise gets one
//!   failed case for its exit status.
//! - Pure functions over text, tested on the host.

use crate::results::{Case, Status};

/// Lines of console shown with a failure.
const TAIL_LINES: usize = 20;

/// The exit status of a process the kernel killed because no handler took
/// its exception (Zircon's `ZX_TASK_RETCODE_EXCEPTION_KILL`).
pub const EXCEPTION_KILL: i64 = -1028;
/// The exit status of a process that panicked (`spinel_rt::PANIC_EXIT_CODE`).
const PANIC_EXIT_CODE: i64 = -1;

/// What the console says about one run of a program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// The program's lines (between init's `started` and its end line).
    pub output: Vec<String>,
    /// init saw the program start.
    pub started: bool,
    pub exit_status: Option<i64>,
    /// init could not start it (the status init printed).
    pub cannot_start: Option<String>,
    /// Guest clock at the end (instructions, under `-icount shift=0`).
    pub guest_clock: Option<u64>,
}

/// Split the console into the run of `program`.
pub fn parse(console: &str, program: &str) -> Run {
    let started = format!("init: run-program {program} started");
    let exited = format!("init: run-program {program} exited with ");
    let cannot = format!("init: run-program {program} cannot start: ");
    let mut run = Run::default();
    let mut inside = false;
    for line in console.lines() {
        if line == started {
            run.started = true;
            inside = true;
        } else if let Some(code) = line.strip_prefix(&exited) {
            run.exit_status = code.trim().parse().ok();
            inside = false;
        } else if let Some(status) = line.strip_prefix(&cannot) {
            run.cannot_start = Some(status.trim().to_string());
            inside = false;
        } else if let Some(clock) = line.strip_prefix("init: guest clock ") {
            run.guest_clock = clock.trim().parse().ok();
        } else if inside {
            run.output.push(line.to_string());
        }
    }
    run
}

/// How the guest ended, as far as the cases care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// QEMU powered off by itself.
    PoweredOff,
    /// Killed at the timeout, after this many seconds.
    Hung(u64),
}

/// The cases of a run of `program`.
pub fn cases(run: &Run, program: &str, ending: Ending) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut announced: Vec<String> = Vec::new();
    for (index, line) in run.output.iter().enumerate() {
        if let Some(list) = line
            .strip_prefix("running ")
            .and_then(|l| l.split_once(" tests: "))
        {
            announced.extend(
                list.1
                    .split(", ")
                    .filter(|n| !n.is_empty())
                    .map(String::from),
            );
        } else if let Some((name, verdict)) = test_line(line) {
            let case = match verdict.strip_prefix("FAILED") {
                None if verdict == "ok" => Case::passed(name),
                None => continue,
                Some(reason) => {
                    let reason = reason.trim_start_matches(':').trim();
                    Case::failed(name, reason, &tail(&run.output[..=index]))
                }
            };
            cases.push(case);
        }
    }
    let why = died(run, ending);
    let unfinished: Vec<&String> = announced
        .iter()
        .filter(|name| !cases.iter().any(|c| &c.name == *name))
        .collect();
    if let (Some(why), Some((first, rest))) = (why.as_ref(), unfinished.split_first()) {
        cases.push(Case::failed(first, why, &tail(&run.output)));
        for name in rest {
            cases.push(Case {
                name: (*name).clone(),
                status: Status::Skipped(format!("not run: the program died in {first}")),
                console_tail: String::new(),
            });
        }
        return cases;
    }
    let all_passed = cases.iter().all(|c| c.status == Status::Passed);
    let ok = run.exit_status == Some(0) && ending == Ending::PoweredOff;
    if cases.is_empty() || (all_passed && !ok) {
        let reason = why.unwrap_or_else(|| "exited with 0".to_string());
        cases.push(if ok {
            Case::passed(program)
        } else {
            Case::failed(program, &reason, &tail(&run.output))
        });
    }
    cases
}

/// Why the program ended badly, if it did.
fn died(run: &Run, ending: Ending) -> Option<String> {
    if let Ending::Hung(seconds) = ending {
        return Some(format!(
            "the guest hung: killed after {seconds} s (--timeout)"
        ));
    }
    if let Some(status) = &run.cannot_start {
        return Some(format!("init could not start it: {status}"));
    }
    match run.exit_status {
        Some(0) => None,
        Some(EXCEPTION_KILL) => Some(format!(
            "the process was killed: an exception no handler took (exit status {EXCEPTION_KILL})"
        )),
        Some(PANIC_EXIT_CODE) => Some(format!(
            "the program panicked outside a test (exit status {PANIC_EXIT_CODE})"
        )),
        Some(code) => Some(format!("exited with {code}")),
        None if run.started => Some("the guest stopped before the program ended".into()),
        None => Some("the guest stopped before init started the program".into()),
    }
}

/// `test NAME ... VERDICT` as (NAME, VERDICT).
fn test_line(line: &str) -> Option<(&str, &str)> {
    line.strip_prefix("test ")?.split_once(" ... ")
}

/// The last lines of `lines`, one string.
fn tail(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[kernel] boot
init: run-program fixture started
running 3 tests: passes, fails_assertion, crashes
test passes ... ok
test fails_assertion ... FAILED: src/main.rs:20: 1 + 1 == 3: 2 != 3
[kernel] fault
init: run-program fixture exited with -1028
init: guest clock 123456
";

    fn statuses(cases: &[Case]) -> Vec<(&str, &str)> {
        cases
            .iter()
            .map(|c| {
                let s = match c.status {
                    Status::Passed => "ok",
                    Status::Failed(_) => "FAILED",
                    Status::Skipped(_) => "skipped",
                };
                (c.name.as_str(), s)
            })
            .collect()
    }

    #[test]
    fn a_crash_fails_the_running_test() {
        let run = parse(CONSOLE, "fixture");
        assert_eq!(run.exit_status, Some(-1028));
        assert_eq!(run.guest_clock, Some(123456));
        assert_eq!(run.output.len(), 4);
        let found = cases(&run, "fixture", Ending::PoweredOff);
        assert_eq!(
            statuses(&found),
            [
                ("passes", "ok"),
                ("fails_assertion", "FAILED"),
                ("crashes", "FAILED")
            ]
        );
        let Status::Failed(reason) = &found[2].status else {
            unreachable!()
        };
        assert!(reason.contains("killed"), "{reason}");
        assert!(found[1].console_tail.contains("2 != 3"));
    }

    #[test]
    fn a_program_without_tests_is_one_case() {
        let console = "init: run-program p started\nhi\ninit: run-program p exited with 3\n";
        let found = cases(&parse(console, "p"), "p", Ending::PoweredOff);
        assert_eq!(statuses(&found), [("p", "FAILED")]);
        let console = "init: run-program p started\nhi\ninit: run-program p exited with 0\n";
        let found = cases(&parse(console, "p"), "p", Ending::PoweredOff);
        assert_eq!(statuses(&found), [("p", "ok")]);
    }

    #[test]
    fn a_hang_fails_the_running_test_and_skips_the_rest() {
        let console = "init: run-program p started\nrunning 3 tests: a, b, c\ntest a ... ok\n";
        let found = cases(&parse(console, "p"), "p", Ending::Hung(5));
        assert_eq!(
            statuses(&found),
            [("a", "ok"), ("b", "FAILED"), ("c", "skipped")]
        );
    }

    #[test]
    fn passing_tests_and_a_bad_exit_status_fail() {
        let console =
            "init: run-program p started\ntest a ... ok\ninit: run-program p exited with 2\n";
        let found = cases(&parse(console, "p"), "p", Ending::PoweredOff);
        assert_eq!(statuses(&found), [("a", "ok"), ("p", "FAILED")]);
    }
}
