//! The debugger from the host: `cargo xtask run` (Spinel with the agent and
//! the demo, the client on the second serial line) and the end-to-end
//! tests of `cargo xtask test` (the client in batch mode, JSON lines,
//! driving the agent in the guest).
//!
//! QEMU serves the debugger link as a TCP server on 127.0.0.1 (a free
//! port); the client (`spinel-debug`, built for the host) connects to it,
//! retrying while QEMU starts.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::results::{Case, Suite};
use crate::{Arch, Options, cargo, qemu};

/// How long the client may take to connect (QEMU starting).
const CONNECT_SECONDS: &str = "60";
/// What the agent prints once it serves the link: the client connects
/// then, so that no byte of its Hello reaches a UART still being set up.
const AGENT_READY: &str = "debug-agent: watching the job";
/// How long the guest may take to get there.
const AGENT_READY_TIMEOUT: Duration = Duration::from_secs(180);

/// `cargo xtask run`: boot with the agent and the demo; show the stop.
///
/// On a terminal the client is interactive (its REPL) and the guest
/// console goes to a log file; otherwise the console is printed as it
/// comes, the client prints the stop and exits, and QEMU is stopped.
pub fn run(arch: Arch, options: &Options) -> Result<(), String> {
    let kernel = cargo::build_kernel(arch, options.release)?;
    let client = cargo::build_client()?;
    let port = qemu::free_port()?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let log = cargo::target_profile_dir(arch, options.release).join("console.log");
    let echo = if interactive {
        qemu::Echo::File(log.clone())
    } else {
        qemu::Echo::Stdout
    };
    let guest = qemu::Guest {
        arch,
        kernel: &kernel,
        cmdline: "",
        extra: &options.extra,
        gdb: None,
        link: qemu::Link::Tcp(port),
        crashes: options.crash_dir.as_deref(),
    };
    let mut running = qemu::spawn(&guest, echo)?;
    if !running.wait_for_console(AGENT_READY, AGENT_READY_TIMEOUT) {
        let console = running.stop();
        return Err(format!(
            "the {} guest did not start the debugger agent; last console lines:\n{}",
            arch.name(),
            tail(&console, 25)
        ));
    }
    if interactive {
        println!(
            "Spinel ({}) is booting under QEMU; its console goes to {}.\n\
             The debugger connects to the agent on the second serial line (127.0.0.1:{port})\n\
             and waits for the demo to stop; `help` lists the commands, `quit` ends the session.\n",
            arch.name(),
            log.display()
        );
    }
    let mut command = Command::new(&client);
    command.args([
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--retry",
        CONNECT_SECONDS,
        "--wait-stop",
        &options.timeout.to_string(),
        "--timeout",
        "30",
    ]);
    if !interactive {
        command.arg("--batch").stdin(Stdio::null());
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", client.display()))?;
    // Until the client ends; a guest that dies first ends the session.
    let client_status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if running.exited().is_some() || running.panicked() {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let console = running.stop();
    match client_status {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!(
            "the debugger client ended with {status}; last console lines:\n{}",
            tail(&console, 20)
        )),
        None => Err(format!(
            "the {} guest stopped before the session ended; last console lines:\n{}",
            arch.name(),
            tail(&console, 25)
        )),
    }
}

fn tail(console: &str, lines: usize) -> String {
    let all: Vec<&str> = console.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| format!("  | {line}\n"))
        .collect()
}

// ---- the end-to-end tests ----

/// The client in batch mode with JSON lines, driven one command at a time.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Events read and not yet claimed by a test.
    events: Vec<serde_json::Value>,
    /// Everything the client printed, for failure reports.
    transcript: Vec<String>,
}

type Step<T> = Result<T, String>;

impl Driver {
    fn start(client: &Path, port: u16) -> Step<Driver> {
        let mut child = Command::new(client)
            .args([
                "--connect",
                &format!("127.0.0.1:{port}"),
                "--retry",
                CONNECT_SECONDS,
                "--timeout",
                "60",
                "--batch",
                "--json",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", client.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let errors = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if errors.send(format!("stderr: {line}")).is_err() {
                    break;
                }
            }
        });
        Ok(Driver {
            child,
            stdin,
            lines,
            events: Vec::new(),
            transcript: Vec::new(),
        })
    }

    fn send(&mut self, line: &str) -> Step<()> {
        self.transcript.push(format!("> {line}"));
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("the client is gone ({e})"))
    }

    /// The next line the client prints (events are kept aside and the
    /// next line is returned), or None at the deadline.
    fn next_line(&mut self, deadline: Instant) -> Step<Option<serde_json::Value>> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.transcript.push(line.clone());
                if let Some(error) = line.strip_prefix("stderr: ") {
                    return Err(format!("the client says: {error}"));
                }
                let value: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| format!("not a JSON line from the client ({e}): {line}"))?;
                Ok(Some(value))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err("the client exited".into()),
        }
    }

    /// Run one command; its JSON line (`ok` may be false).
    fn command(&mut self, line: &str) -> Step<serde_json::Value> {
        self.send(line)?;
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            match self.next_line(deadline)? {
                Some(value) if value.get("event").is_some() => self.events.push(value),
                Some(value) if value["command"] == line => return Ok(value),
                Some(value) => return Err(format!("unexpected line for `{line}`: {value}")),
                None => return Err(format!("no answer to `{line}`")),
            }
        }
    }

    /// Run one command that must succeed; its reply.
    fn ok(&mut self, line: &str) -> Step<serde_json::Value> {
        let value = self.command(line)?;
        if value["ok"] != true {
            return Err(format!("`{line}` failed: {value}"));
        }
        Ok(value["reply"].clone())
    }

    /// The first event (read or to come within `seconds`) that `wanted`
    /// accepts; earlier events stay for later claims.
    fn event(
        &mut self,
        what: &str,
        seconds: u64,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Step<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(index) = self.events.iter().position(|e| wanted(&e["event"])) {
                return Ok(self.events.remove(index)["event"].clone());
            }
            // Take what the client already printed (events after the last
            // command) before asking it to wait: every line after a `wait`
            // is then that wait's.
            let quiet = Instant::now() + Duration::from_millis(200);
            let mut absorbed = false;
            while let Some(value) = self.next_line(quiet)? {
                if value.get("event").is_some() {
                    self.events.push(value);
                    absorbed = true;
                } else {
                    return Err(format!("unexpected line: {value}"));
                }
            }
            if absorbed {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no {what} within {seconds} s"));
            }
            let wait = format!("wait {}", left.as_secs().clamp(1, 30));
            self.send(&wait)?;
            match self.next_line(deadline + Duration::from_secs(5))? {
                Some(value) if value.get("event").is_some() => self.events.push(value),
                // `wait` timed out: try again until the deadline.
                Some(value) if value["command"] == wait.as_str() => {}
                Some(value) => return Err(format!("unexpected line: {value}")),
                None => return Err(format!("no {what} within {seconds} s")),
            }
        }
    }

    /// End the client (it hangs up the link); its transcript.
    fn quit(&mut self) -> Vec<String> {
        let _ = self.send("quit");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.transcript.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.transcript.clone()
    }
}

/// What the tests know of the demo's source.
struct Demo {
    /// The file, as its DWARF names it (a path ending like this).
    file: &'static str,
    crash_line: u64,
    again_line: u64,
    /// Where the crash stores: the null shade layer, pixel (3, 2).
    fault_address: u64,
}

fn demo_source() -> Step<Demo> {
    let path = cargo::workspace_root().join("services/demo/src/main.rs");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let line_of = |mark: &str| {
        text.lines()
            .position(|line| line.contains(&format!("debugger-test: {mark}")))
            .map(|index| index as u64 + 1)
            .ok_or(format!("no `debugger-test: {mark}` line in the demo"))
    };
    Ok(Demo {
        file: "services/demo/src/main.rs",
        crash_line: line_of("crash")?,
        again_line: line_of("again")?,
        fault_address: (2 * 32 + 3) * 4,
    })
}

/// The functions of one frame's locations, innermost first.
fn functions(frame: &serde_json::Value) -> Vec<String> {
    frame["locations"]
        .as_array()
        .map(|locations| {
            locations
                .iter()
                .filter_map(|l| l["function"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Every function of a backtrace, inlined ones included, innermost first.
fn frame_functions(backtrace: &serde_json::Value) -> Vec<String> {
    backtrace
        .as_array()
        .map(|frames| frames.iter().flat_map(functions).collect())
        .unwrap_or_default()
}

fn check(condition: bool, message: impl FnOnce() -> String) -> Step<()> {
    if condition { Ok(()) } else { Err(message()) }
}

fn as_u64(value: &serde_json::Value, what: &str) -> Step<u64> {
    value
        .as_u64()
        .ok_or(format!("{what} is not a number: {value}"))
}

/// Length of the x86_64 instruction at the start of `bytes`, for the
/// stores and loads a compiler emits for a pointer write (`mov` with a
/// memory operand); None for anything else.
pub fn x86_store_length(bytes: &[u8]) -> Option<u64> {
    let mut at = 0;
    while matches!(bytes.get(at)?, 0x66 | 0x67 | 0x40..=0x4f) {
        at += 1;
    }
    let opcode = *bytes.get(at)?;
    let immediate = match opcode {
        0x88..=0x8b => 0,
        0xc6 => 1,
        0xc7 => {
            if bytes[..at].contains(&0x66) {
                2
            } else {
                4
            }
        }
        _ => return None,
    };
    at += 1;
    let modrm = *bytes.get(at)?;
    at += 1;
    let (mode, rm) = (modrm >> 6, modrm & 7);
    if mode != 3 && rm == 4 {
        let sib = *bytes.get(at)?;
        at += 1;
        if mode == 0 && sib & 7 == 5 {
            at += 4;
        }
    }
    at += match (mode, rm) {
        (0, 5) => 4,
        (1, _) => 1,
        (2, _) => 4,
        _ => 0,
    };
    Some((at + immediate) as u64)
}

/// The registers' names for the pc on each arch.
fn pc_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "rip",
        Arch::Aarch64 => "pc",
    }
}

/// State carried from one test to the next.
#[derive(Default)]
struct Session {
    /// The client and the link's port, for a second client.
    client: std::path::PathBuf,
    port: u16,
    /// What earlier clients printed.
    transcript: Vec<String>,
    pid: u64,
    tid: u64,
    checksum_breakpoint: u64,
    line_breakpoint: u64,
    stopped_pc: u64,
}

/// One end-to-end test's body: the architecture, the demo's facts, the
/// client, and the state earlier tests left.
type TestBody = fn(Arch, &Demo, &mut Driver, &mut Session) -> Step<()>;

/// The tests, in order (each builds on the state the previous left).
const SCENARIO: &[(&str, TestBody)] = &[
    (
        "stop_on_fault_in_inlined_helper_with_function_and_line",
        stop_on_fault_in_inlined_helper_with_function_and_line,
    ),
    ("list_jobs_processes_threads", list_jobs_processes_threads),
    ("break_on_function_by_name", break_on_function_by_name),
    (
        "write_pc_to_skip_faulting_store_then_continue_to_breakpoint",
        write_pc_to_skip_faulting_store_then_continue_to_breakpoint,
    ),
    (
        "single_step_runs_one_instruction",
        single_step_runs_one_instruction,
    ),
    (
        "read_registers_read_write_memory_backtrace_symbolize",
        read_registers_read_write_memory_backtrace_symbolize,
    ),
    (
        "break_on_file_line_clear_the_other_and_hit_it",
        break_on_file_line_clear_the_other_and_hit_it,
    ),
    (
        "detach_leaving_stopped_then_reattach_finds_same_stop",
        detach_leaving_stopped_then_reattach_finds_same_stop,
    ),
    (
        "a_client_that_vanishes_leaves_the_stop_for_the_next",
        a_client_that_vanishes_leaves_the_stop_for_the_next,
    ),
    (
        "malformed_frames_get_error_replies_and_the_session_goes_on",
        malformed_frames_get_error_replies_and_the_session_goes_on,
    ),
    ("killed_target_is_reported", killed_target_is_reported),
];

fn stop_on_fault_in_inlined_helper_with_function_and_line(
    arch: Arch,
    demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    let event = d.event("stop", 240, |e| {
        e["Stopped"]["exception"]["exception_type"] == 0x108
    })?;
    let stop = &event["Stopped"];
    s.pid = as_u64(&stop["process"], "process")?;
    s.tid = as_u64(&stop["thread"], "thread")?;
    let facts = &stop["exception"]["arch"];
    match arch {
        Arch::X86_64 => {
            check(facts["X86_64"]["vector"] == 14, || {
                format!("not a page fault: {facts}")
            })?;
            check(facts["X86_64"]["cr2"] == demo.fault_address, || {
                format!("cr2 is not {:#x}: {facts}", demo.fault_address)
            })?;
        }
        Arch::Aarch64 => {
            let esr = as_u64(&facts["Aarch64"]["esr"], "esr")?;
            check(esr >> 26 == 0x24, || {
                format!("not a data abort from EL0: {facts}")
            })?;
            check(facts["Aarch64"]["far"] == demo.fault_address, || {
                format!("FAR is not {:#x}: {facts}", demo.fault_address)
            })?;
        }
    }
    let frame = &stop["backtrace"][0];
    let locations = frame["locations"].as_array().cloned().unwrap_or_default();
    let helper = locations
        .iter()
        .find(|l| {
            l["function"]
                .as_str()
                .is_some_and(|f| f.ends_with("put_pixel"))
        })
        .ok_or(format!("no put_pixel in frame 0: {frame}"))?;
    check(
        helper["file"]
            .as_str()
            .is_some_and(|f| f.ends_with(demo.file)),
        || format!("put_pixel is not in {}: {helper}", demo.file),
    )?;
    check(helper["line"] == demo.crash_line, || {
        format!(
            "put_pixel at line {} not {}",
            helper["line"], demo.crash_line
        )
    })?;
    let names = functions(frame);
    check(names.last().is_some_and(|f| f == "demo::plot"), || {
        format!("put_pixel is not inlined into demo::plot: {names:?}")
    })?;
    let callers = frame_functions(&stop["backtrace"]);
    for caller in ["demo::draw_shape", "demo::render", "demo::main"] {
        check(callers.iter().any(|f| f == caller), || {
            format!("{caller} missing from the backtrace {callers:?}")
        })?;
    }
    Ok(())
}

fn list_jobs_processes_threads(
    _arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    let jobs = d.ok("jobs")?;
    check(
        jobs["Jobs"]
            .as_array()
            .is_some_and(|j| j.iter().any(|j| j["name"] == "apps")),
        || format!("no job `apps`: {jobs}"),
    )?;
    let processes = d.ok("ps")?;
    let demo = processes["Processes"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["koid"] == s.pid).cloned())
        .ok_or(format!("process {} not listed: {processes}", s.pid))?;
    check(demo["name"] == "demo" && demo["attached"] == true, || {
        format!("{demo}")
    })?;
    let threads = d.ok(&format!("threads {}", s.pid))?;
    let thread = threads["Threads"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["koid"] == s.tid).cloned())
        .ok_or(format!("thread {} not listed: {threads}", s.tid))?;
    check(
        thread["state"]["InException"]["exception_type"] == 0x108,
        || format!("thread not in its exception: {thread}"),
    )
}

fn break_on_function_by_name(
    _arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    let reply = d.ok(&format!("break {} demo::checksum", s.pid))?;
    s.checksum_breakpoint = as_u64(&reply["Breakpoint"]["id"], "breakpoint id")?;
    check(
        reply["Breakpoint"]["addresses"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        || format!("no address: {reply}"),
    )
}

fn write_pc_to_skip_faulting_store_then_continue_to_breakpoint(
    arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    let registers = d.ok(&format!("regs {}", s.tid))?;
    let pc_slot = match arch {
        Arch::X86_64 => 16,
        Arch::Aarch64 => 32,
    };
    let pc = as_u64(&registers["Registers"]["values"][pc_slot], "pc")?;
    let memory = d.ok(&format!("read {} {pc:#x} 16", s.pid))?;
    let bytes: Vec<u8> = memory["Memory"]
        .as_array()
        .ok_or(format!("no memory: {memory}"))?
        .iter()
        .filter_map(|b| b.as_u64().map(|b| b as u8))
        .collect();
    let length = match arch {
        Arch::X86_64 => {
            x86_store_length(&bytes).ok_or(format!("not a store at {pc:#x}: {bytes:02x?}"))?
        }
        Arch::Aarch64 => 4,
    };
    d.ok(&format!(
        "setreg {} {} {:#x}",
        s.tid,
        pc_name(arch),
        pc + length
    ))?;
    d.ok(&format!("continue {}", s.tid))?;
    let event = d.event("breakpoint stop", 120, |e| {
        e["Stopped"]["exception"]["exception_type"] == 0x308
    })?;
    let stop = &event["Stopped"];
    check(stop["breakpoint"] == s.checksum_breakpoint, || {
        format!("not breakpoint {}: {stop}", s.checksum_breakpoint)
    })?;
    let names = functions(&stop["backtrace"][0]);
    check(names.last().is_some_and(|f| f == "demo::checksum"), || {
        format!("not stopped in demo::checksum: {names:?}")
    })?;
    s.stopped_pc = as_u64(&stop["backtrace"][0]["pc"], "pc")?;
    Ok(())
}

fn single_step_runs_one_instruction(
    _arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    d.ok(&format!("step {}", s.tid))?;
    let event = d.event("step stop", 120, |e| {
        e["Stopped"]["exception"]["exception_type"] == 0x408
    })?;
    let stop = &event["Stopped"];
    let pc = as_u64(&stop["backtrace"][0]["pc"], "pc")?;
    check(pc != s.stopped_pc && pc - s.stopped_pc < 16, || {
        format!(
            "pc {pc:#x} is not one instruction after {:#x}",
            s.stopped_pc
        )
    })?;
    let names = functions(&stop["backtrace"][0]);
    check(names.last().is_some_and(|f| f == "demo::checksum"), || {
        format!("the step left demo::checksum: {names:?}")
    })?;
    s.stopped_pc = pc;
    Ok(())
}

fn read_registers_read_write_memory_backtrace_symbolize(
    arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    let registers = d.ok(&format!("regs {}", s.tid))?;
    let sp_slot = match arch {
        Arch::X86_64 => 7,
        Arch::Aarch64 => 31,
    };
    let sp = as_u64(&registers["Registers"]["values"][sp_slot], "sp")?;
    let memory = d.ok(&format!("read {} {sp:#x} 64", s.pid))?;
    let stack = memory["Memory"].as_array().cloned().unwrap_or_default();
    check(stack.len() == 64, || {
        format!("not 64 bytes of stack: {memory}")
    })?;
    // Write a word of the stack and put it back.
    let original: String = stack[..8]
        .iter()
        .map(|b| format!("{:02x}", b.as_u64().unwrap_or(0)))
        .collect();
    d.ok(&format!("write {} {sp:#x} 5eed5eed5eed5eed", s.pid))?;
    let written = d.ok(&format!("read {} {sp:#x} 8", s.pid))?;
    check(
        written["Memory"] == serde_json::json!([0x5e, 0xed, 0x5e, 0xed, 0x5e, 0xed, 0x5e, 0xed]),
        || format!("the write did not land: {written}"),
    )?;
    d.ok(&format!("write {} {sp:#x} {original}", s.pid))?;
    let backtrace = d.ok(&format!("bt {}", s.tid))?;
    let callers = frame_functions(&backtrace["Backtrace"]);
    check(callers.iter().any(|f| f == "demo::main"), || {
        format!("demo::main missing from {callers:?}")
    })?;
    // (The stop made its process the client's current one.)
    let symbols = d.ok(&format!("symbolize {:#x}", s.stopped_pc))?;
    let names = functions(&symbols["Symbols"][0]);
    check(names.last().is_some_and(|f| f == "demo::checksum"), || {
        format!("{:#x} is not in demo::checksum: {symbols}", s.stopped_pc)
    })
}

fn break_on_file_line_clear_the_other_and_hit_it(
    _arch: Arch,
    demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    let reply = d.ok(&format!("break {} main.rs:{}", s.pid, demo.again_line))?;
    s.line_breakpoint = as_u64(&reply["Breakpoint"]["id"], "breakpoint id")?;
    // The function breakpoint goes; only the line's is left.
    d.ok(&format!("delete {} {}", s.pid, s.checksum_breakpoint))?;
    let listed = d.ok(&format!("breaks {}", s.pid))?;
    check(
        listed["Breakpoints"]
            .as_array()
            .is_some_and(|b| b.len() == 1 && b[0]["id"] == s.line_breakpoint),
        || format!("not just breakpoint {}: {listed}", s.line_breakpoint),
    )?;
    d.ok(&format!("continue {}", s.tid))?;
    let event = d.event("line breakpoint stop", 120, |e| {
        e["Stopped"]["exception"]["exception_type"] == 0x308
    })?;
    let stop = &event["Stopped"];
    check(stop["breakpoint"] == s.line_breakpoint, || {
        format!("not breakpoint {}: {stop}", s.line_breakpoint)
    })?;
    let top = &stop["backtrace"][0]["locations"][0];
    check(top["line"] == demo.again_line, || {
        format!("stopped at line {} not {}", top["line"], demo.again_line)
    })?;
    s.stopped_pc = as_u64(&stop["backtrace"][0]["pc"], "pc")?;
    Ok(())
}

fn detach_leaving_stopped_then_reattach_finds_same_stop(
    _arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    d.ok(&format!("detach {} --leave-stopped", s.pid))?;
    let processes = d.ok("ps")?;
    check(
        processes["Processes"].as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p["koid"] == s.pid && p["attached"] == false)
        }),
        || format!("still attached: {processes}"),
    )?;
    let threads = d.ok(&format!("threads {}", s.pid))?;
    check(
        threads["Threads"][0]["state"]["InException"]["exception_type"] == 0x308,
        || format!("the thread did not stay stopped: {threads}"),
    )?;
    let attached = d.ok(&format!("attach {}", s.pid))?;
    let stop = &attached["Attached"]["stops"][0];
    check(
        stop["thread"] == s.tid && stop["backtrace"][0]["pc"] == s.stopped_pc,
        || format!("not the same stop at {:#x}: {attached}", s.stopped_pc),
    )?;
    check(stop["exception"]["exception_type"] == 0x308, || {
        format!("not the breakpoint stop: {stop}")
    })
}

fn a_client_that_vanishes_leaves_the_stop_for_the_next(
    _arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    // The first client hangs up; a new one is told of the stop
    // right after its Hello.
    s.transcript.extend(d.quit());
    *d = Driver::start(&s.client, s.port)?;
    let tid = s.tid;
    let event = d.event("stop replayed to the new client", 60, |e| {
        e["Stopped"]["thread"] == tid
    })?;
    check(
        event["Stopped"]["backtrace"][0]["pc"] == s.stopped_pc,
        || format!("not the stop at {:#x}: {event}", s.stopped_pc),
    )?;
    d.ok(&format!("threads {}", s.pid)).map(|_| ())
}

fn malformed_frames_get_error_replies_and_the_session_goes_on(
    _arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    _s: &mut Session,
) -> Step<()> {
    let cut = d.ok("send-raw 05ff00")?;
    check(cut["MalformedFrame"]["kind"] == "BadCobs", || {
        format!("{cut}")
    })?;
    let garbage = d.ok("send-raw 03ffff00")?;
    check(garbage["MalformedFrame"]["kind"] == "BadMessage", || {
        format!("{garbage}")
    })?;
    d.ok("jobs").map(|_| ())
}

fn killed_target_is_reported(
    _arch: Arch,
    _demo: &Demo,
    d: &mut Driver,
    s: &mut Session,
) -> Step<()> {
    d.ok(&format!("kill {}", s.pid))?;
    let pid = s.pid;
    let event = d.event("process exit", 60, |e| e["ProcessExited"]["process"] == pid)?;
    check(event["ProcessExited"]["return_code"] == -1024, || {
        format!("not killed: {event}")
    })?;
    let registers = d.command(&format!("regs {}", s.tid))?;
    check(registers["ok"] == false, || {
        format!("registers of a dead thread: {registers}")
    })?;
    let processes = d.ok("ps")?;
    check(
        processes["Processes"]
            .as_array()
            .is_some_and(|p| !p.iter().any(|p| p["koid"] == s.pid)),
        || format!("the dead process is still listed: {processes}"),
    )
}

/// The end-to-end tests on one architecture: the suite `ARCH/debugger`.
pub fn e2e(arch: Arch, options: &Options) -> Result<Suite, String> {
    println!("\n== {} guest: debugger end to end", arch.name());
    let demo = demo_source()?;
    let kernel = cargo::build_kernel(arch, options.release)?;
    let client = cargo::build_client()?;
    let port = qemu::free_port()?;
    let guest = qemu::Guest {
        arch,
        kernel: &kernel,
        cmdline: "",
        extra: &[],
        gdb: None,
        link: qemu::Link::Tcp(port),
        crashes: options.crash_dir.as_deref(),
    };
    let echo = if options.verbose {
        qemu::Echo::Stdout
    } else {
        qemu::Echo::Quiet
    };
    let started = Instant::now();
    let mut running = qemu::spawn(&guest, echo)?;
    if !running.wait_for_console(AGENT_READY, AGENT_READY_TIMEOUT) {
        let console = running.stop();
        println!(
            "FAILED {} guest: the debugger agent did not start; last console lines:\n{}",
            arch.name(),
            tail(&console, 25)
        );
        return Ok(Suite {
            arch: arch.name().into(),
            program: "debugger".into(),
            cases: vec![Case::failed(
                "debugger_agent_starts",
                "the debugger agent did not start",
                &tail(&console, 25),
            )],
            ..Suite::default()
        });
    }
    let mut driver = Driver::start(&client, port)?;
    let mut session = Session {
        client: client.clone(),
        port,
        ..Session::default()
    };
    let (mut passed, mut failed) = (0, 0);
    let mut cases = Vec::new();
    let mut broken = None;
    for &(name, test) in SCENARIO {
        let result = match &broken {
            Some(first) => Err(format!("not run: {first} failed")),
            None => test(arch, &demo, &mut driver, &mut session),
        };
        match result {
            Ok(()) => {
                passed += 1;
                println!("test debugger_{name} ... ok");
                cases.push(Case::passed(&format!("debugger_{name}")));
            }
            Err(reason) => {
                failed += 1;
                println!("test debugger_{name} ... FAILED: {reason}");
                cases.push(Case::failed(&format!("debugger_{name}"), &reason, ""));
                broken.get_or_insert(name);
            }
        }
    }
    let mut transcript = std::mem::take(&mut session.transcript);
    transcript.extend(driver.quit());
    let console = running.stop();
    let console_tail = tail(&console, 30);
    // The agent held every stop (and killed the demo at the end): the
    // crash service, last in line, must not have dumped it.
    if console.contains("crash-service: demo") {
        failed += 1;
        let reason = "the crash service dumped the demo";
        println!("test debugger_stopped_process_is_not_dumped ... FAILED: {reason}");
        cases.push(Case::failed(
            "debugger_stopped_process_is_not_dumped",
            reason,
            "",
        ));
    } else {
        passed += 1;
        println!("test debugger_stopped_process_is_not_dumped ... ok");
        cases.push(Case::passed("debugger_stopped_process_is_not_dumped"));
    }
    if failed > 0 {
        println!("client transcript (last lines):");
        for line in &transcript[transcript.len().saturating_sub(30)..] {
            println!("  > {line}");
        }
        println!("guest console (last lines):\n{}", console_tail);
    }
    println!(
        "{}: debugger {passed} passed, {failed} failed ({:.0} s)",
        arch.name(),
        started.elapsed().as_secs_f64()
    );
    // The failures carry the session's last lines, for CI systems.
    let transcript_tail: String = transcript[transcript.len().saturating_sub(30)..]
        .iter()
        .map(|line| format!("> {line}\n"))
        .collect();
    for case in &mut cases {
        if case.status != crate::results::Status::Passed {
            case.console_tail =
                format!("client transcript:\n{transcript_tail}guest console:\n{console_tail}");
        }
    }
    Ok(Suite {
        arch: arch.name().into(),
        program: "debugger".into(),
        cases,
        run_seconds: started.elapsed().as_secs_f64(),
        ..Suite::default()
    })
}

#[cfg(test)]
mod tests {
    use super::x86_store_length;

    #[test]
    fn x86_store_lengths() {
        // mov dword ptr [rax], ecx
        assert_eq!(x86_store_length(&[0x89, 0x08]), Some(2));
        // mov qword ptr [rax + rcx*4 + 0x10], rdx
        assert_eq!(x86_store_length(&[0x48, 0x89, 0x54, 0x88, 0x10]), Some(5));
        // mov dword ptr [rdi + 0x100], 1
        assert_eq!(
            x86_store_length(&[0xc7, 0x87, 0, 1, 0, 0, 1, 0, 0, 0]),
            Some(10)
        );
        // mov byte ptr [rip + 0x10], 7
        assert_eq!(x86_store_length(&[0xc6, 0x05, 0x10, 0, 0, 0, 7]), Some(7));
        // mov word ptr [rsp], 7
        assert_eq!(x86_store_length(&[0x66, 0xc7, 0x04, 0x24, 7, 0]), Some(6));
        assert_eq!(x86_store_length(&[0x90]), None);
    }
}
