//! Booting a kernel under QEMU: command lines per architecture, timeouts,
//! console capture, exit-code verdicts and the gdb command.

use crate::Arch;
use crate::crash_files::Extractor;
use crate::provision::qemu_binary;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// QEMU's exit status when the kernel powers off with success / failure:
/// `(code << 1) | 1` for the codes 0x10 and 0x11 of `spinel_hal_api::ExitCode`.
const EXIT_SUCCESS: i32 = 33;
const EXIT_FAILURE: i32 = 35;

/// What to boot.
pub struct Guest<'a> {
    pub arch: Arch,
    pub kernel: &'a Path,
    pub cmdline: &'a str,
    pub extra: &'a [String],
    /// Halt at the first instruction with the gdbstub on this port.
    pub gdb: Option<u16>,
    /// Where the second serial line (the debugger link) goes.
    pub link: Link,
    /// Where files the guest sends on its console go (`crash_files`);
    /// `None`: the default, `target/<arch>-unknown-none/<profile>/crashes`.
    pub crashes: Option<&'a Path>,
}

impl Guest<'_> {
    /// The directory for the guest's files.
    fn crash_dir(&self) -> std::path::PathBuf {
        match self.crashes {
            Some(dir) => dir.to_path_buf(),
            None => self
                .kernel
                .parent()
                .unwrap_or(Path::new("."))
                .join("crashes"),
        }
    }
}

/// The host end of the debugger link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    /// Nowhere: written bytes vanish, nothing arrives.
    Null,
    /// A TCP server on 127.0.0.1 that one client at a time (the debugger
    /// client) connects to; QEMU does not wait for it.
    Tcp(u16),
}

impl Link {
    fn chardev(self) -> String {
        match self {
            Link::Null => "null,id=link".into(),
            Link::Tcp(port) => {
                format!("socket,id=link,host=127.0.0.1,port={port},server=on,wait=off")
            }
        }
    }
}

/// The QEMU command for a guest.
pub fn command(guest: &Guest<'_>) -> Command {
    let mut command = Command::new(qemu_binary(guest.arch));
    command.args([
        "-m",
        "256M",
        "-no-reboot",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
    ]);
    match guest.arch {
        Arch::X86_64 => {
            // qboot instead of SeaBIOS: about 6 million fewer guest instructions
            // before the kernel starts.
            command.args([
                "-M",
                "microvm",
                "-cpu",
                "max",
                "-bios",
                "/usr/share/qemu/qboot.rom",
            ]);
            // microvm creates only COM1 from -serial; the debugger link is COM2.
            command.args(["-chardev", &guest.link.chardev()]);
            command.args(["-device", "isa-serial,chardev=link,iobase=0x2f8,irq=3"]);
            command.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        }
        Arch::Aarch64 => {
            command.args(["-M", "virt", "-cpu", "cortex-a76", "-semihosting"]);
            // The second PL011 (0x0904_0000) carries the debugger link.
            command.args(["-chardev", &guest.link.chardev()]);
            command.args(["-serial", "chardev:link"]);
        }
    }
    command.arg("-kernel").arg(guest.kernel);
    if !guest.cmdline.is_empty() {
        command.args(["-append", guest.cmdline]);
    }
    if let Some(port) = guest.gdb {
        command.args(["-gdb", &format!("tcp::{port}"), "-S"]);
    }
    command.args(guest.extra);
    command
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Success,
    Failure,
    /// QEMU exited with a status the kernel never produces (a crash, a
    /// triple fault with -no-reboot, a QEMU error).
    Unexpected(Option<i32>),
    TimedOut,
    /// The kernel printed its panic marker and halted (`guest_dump.rs`).
    Panicked,
}

pub struct Outcome {
    pub verdict: Verdict,
    pub console: String,
    pub elapsed: Duration,
    /// The whole-machine core taken when the kernel panicked or the guest
    /// timed out (`guest_dump.rs`).
    pub dump: Option<Result<crate::guest_dump::Dump, String>>,
    /// One line per file the guest sent (`crash: <path>`, or what was wrong).
    pub files: Vec<String>,
}

impl Outcome {
    /// A failure report: what happened, the console's tail and a symbolized
    /// backtrace when the kernel printed one.
    pub fn describe(&self, arch: Arch, kernel: &Path) -> String {
        let what = match self.verdict {
            Verdict::Success => "succeeded".to_string(),
            Verdict::Failure => "the kernel reported failure".to_string(),
            Verdict::Unexpected(Some(code)) => format!("QEMU exited with unexpected status {code}"),
            Verdict::Unexpected(None) => "QEMU was killed by a signal".to_string(),
            Verdict::TimedOut => format!(
                "the guest hung and was killed after {:.0} s",
                self.elapsed.as_secs_f64()
            ),
            Verdict::Panicked => "the kernel panicked".to_string(),
        };
        let lines: Vec<&str> = self.console.lines().collect();
        let tail = &lines[lines.len().saturating_sub(25)..];
        let mut text = format!("{} guest: {what}; last console lines:\n", arch.name());
        for line in tail {
            text.push_str("  | ");
            text.push_str(line);
            text.push('\n');
        }
        if let Some(dump) = &self.dump {
            text.push_str(&crate::guest_dump::report(dump, kernel));
        }
        match crate::guest_dump::symbolize(&self.console, kernel) {
            Ok(symbolized) => {
                text.push_str("the panic, symbolized:\n");
                text.push_str(&symbolized);
            }
            Err(_) => text.push_str(&symbolize_backtrace(&self.console, kernel)),
        }
        text
    }
}

/// Boot and wait for the guest to power off, killing it after `timeout_s`.
/// With `live`, the console is echoed as it arrives (and stdin passed in).
pub fn run(guest: &Guest<'_>, timeout_s: u64, live: bool) -> Result<Outcome, String> {
    let mut command = command(guest);
    // QMP, for a whole-machine core when the kernel panics or hangs.
    let socket = crate::qmp::socket_path();
    command.args(crate::qmp::qemu_args(&socket));
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    command.stdin(if live {
        Stdio::inherit()
    } else {
        Stdio::null()
    });
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu_binary(guest.arch)))?;
    let console = Arc::new(Mutex::new(Vec::new()));
    let echo = if live { Echo::Stdout } else { Echo::Quiet };
    let files = Arc::new(Mutex::new(Vec::new()));
    let extractor = Extractor::new(&guest.crash_dir());
    let reader = read_console(
        &mut child,
        console.clone(),
        echo_sink(&echo)?,
        (extractor, files.clone()),
    );
    let timeout = Duration::from_secs(timeout_s);
    let (mut panicked, mut dump) = (false, None);
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("waiting for QEMU: {e}"))?
        {
            break Some(status);
        }
        panicked = crate::guest_dump::panicked(&lossy(&console));
        if panicked || started.elapsed() > timeout {
            // Dump the machine first (the kernel halted, or hangs), then end it.
            dump = Some(crate::guest_dump::save(guest.kernel, &socket));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_file(&socket);
    let _ = reader.join();
    let console = String::from_utf8_lossy(&console.lock().expect("console lock")).replace('\r', "");
    let verdict = match status {
        None if panicked => Verdict::Panicked,
        None => Verdict::TimedOut,
        Some(status) => match status.code() {
            Some(EXIT_SUCCESS) => Verdict::Success,
            Some(EXIT_FAILURE) => Verdict::Failure,
            code => Verdict::Unexpected(code),
        },
    };
    let files = files.lock().expect("files lock").clone();
    Ok(Outcome {
        verdict,
        console,
        elapsed: started.elapsed(),
        dump,
        files,
    })
}

/// The console so far, as text.
fn lossy(console: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&console.lock().expect("console lock")).into_owned()
}

/// Where a background guest's console goes.
pub enum Echo {
    /// Only kept (see [`Running::console`]).
    Quiet,
    /// Also printed as it arrives.
    Stdout,
    /// Also written to this file.
    File(std::path::PathBuf),
}

/// A guest running in the background, its console collected.
pub struct Running {
    child: Child,
    /// QEMU's QMP socket and the kernel, for a core if the kernel panics.
    qmp: std::path::PathBuf,
    kernel: std::path::PathBuf,
    console: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// The console so far.
    pub fn console(&self) -> String {
        let bytes = self.console.lock().expect("console lock");
        String::from_utf8_lossy(&bytes).replace('\r', "")
    }

    /// Wait until the console shows `text` (true), QEMU ends or `timeout`
    /// passes (false).
    pub fn wait_for_console(&mut self, text: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.console().contains(text) {
                return true;
            }
            if self.exited().is_some() || self.panicked() {
                return self.console().contains(text);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// QEMU's exit status, once it has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Whether the kernel panicked (and halted, QEMU still running).
    pub fn panicked(&self) -> bool {
        crate::guest_dump::panicked(&self.console())
    }

    /// Stop QEMU (if still running) and return the whole console. A kernel
    /// that panicked is dumped first, the core and its symbolized
    /// backtrace reported on stdout.
    pub fn stop(mut self) -> String {
        if self.exited().is_none() && self.panicked() {
            let dump = crate::guest_dump::save(&self.kernel, &self.qmp);
            print!("{}", crate::guest_dump::report(&dump, &self.kernel));
            if let Ok(text) = crate::guest_dump::symbolize(&self.console(), &self.kernel) {
                print!("the panic, symbolized:\n{text}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = std::fs::remove_file(&self.qmp);
        self.console()
    }
}

/// Boot in the background, collecting the console (and echoing it).
pub fn spawn(guest: &Guest<'_>, echo: Echo) -> Result<Running, String> {
    let mut command = command(guest);
    let qmp = crate::qmp::socket_path();
    command.args(crate::qmp::qemu_args(&qmp));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu_binary(guest.arch)))?;
    let console = Arc::new(Mutex::new(Vec::new()));
    let files = Arc::new(Mutex::new(Vec::new()));
    let extractor = Extractor::new(&guest.crash_dir());
    let reader = read_console(
        &mut child,
        console.clone(),
        echo_sink(&echo)?,
        (extractor, files),
    );
    Ok(Running {
        child,
        qmp,
        kernel: guest.kernel.to_path_buf(),
        console,
        reader: Some(reader),
    })
}

/// Where a console echo goes, opened.
enum Sink {
    None,
    Stdout,
    File(std::fs::File),
}

fn echo_sink(echo: &Echo) -> Result<Sink, String> {
    Ok(match echo {
        Echo::Stdout => Sink::Stdout,
        Echo::File(path) => Sink::File(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        ),
        Echo::Quiet => Sink::None,
    })
}

/// A thread that collects QEMU's console into `console`, echoing it to
/// `sink`, the files the guest sends taken out by the extractor (and
/// written; a line for each goes to `files` and is printed).
fn read_console(
    child: &mut Child,
    console: Arc<Mutex<Vec<u8>>>,
    mut sink: Sink,
    (mut extractor, files): (Extractor, Arc<Mutex<Vec<String>>>),
) -> std::thread::JoinHandle<()> {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    std::thread::spawn(move || {
        let mut raw = [0u8; 65536];
        let report = |extractor: &mut Extractor| {
            for line in extractor.report.drain(..) {
                println!("{line}");
                files.lock().expect("files lock").push(line);
            }
        };
        while let Ok(n) = stdout.read(&mut raw) {
            if n == 0 {
                break;
            }
            let buf = extractor.feed(&raw[..n]);
            report(&mut extractor);
            let n = buf.len();
            match &mut sink {
                Sink::None => {}
                Sink::Stdout => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
                Sink::File(file) => {
                    let _ = file.write_all(&buf[..n]);
                    let _ = file.flush();
                }
            }
            console
                .lock()
                .expect("console lock")
                .extend_from_slice(&buf[..n]);
        }
        extractor.finish();
        report(&mut extractor);
    })
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free TCP port: {e}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free TCP port: {e}"))
}

/// Start QEMU in the background (for gdb), its console on our terminal.
pub fn spawn_detached(guest: &Guest<'_>) -> Result<Child, String> {
    command(guest)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu_binary(guest.arch)))
}

/// The gdb-multiarch command that attaches to a halted guest and stops at the
/// kernel's entry into Rust.
pub fn gdb_command(arch: Arch, kernel: &Path, port: u16) -> Vec<String> {
    let gdb_arch = match arch {
        Arch::X86_64 => "i386:x86-64",
        Arch::Aarch64 => "aarch64",
    };
    vec![
        crate::tools::gdb().unwrap_or_else(|_| "gdb-multiarch".into()),
        "-q".into(),
        kernel.display().to_string(),
        "-ex".into(),
        format!("set architecture {gdb_arch}"),
        "-ex".into(),
        format!("target remote localhost:{port}"),
        "-ex".into(),
        "hbreak spinel_kernel::kernel_main".into(),
        "-ex".into(),
        "continue".into(),
    ]
}

pub fn shell_quote(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Symbolize the `  #N 0x...` lines of a kernel backtrace with
/// llvm-symbolizer, when it is installed.
fn symbolize_backtrace(console: &str, kernel: &Path) -> String {
    let addresses: Vec<&str> = console
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            l.strip_prefix('#')?
                .split_whitespace()
                .nth(1)
                .filter(|a| a.starts_with("0x"))
        })
        .collect();
    if addresses.is_empty() {
        return String::new();
    }
    let Ok(symbolizer) = crate::tools::llvm_symbolizer() else {
        return String::new();
    };
    let Ok(out) = Command::new(symbolizer)
        .arg(format!("--obj={}", kernel.display()))
        .arg("--inlining")
        .args(&addresses)
        .output()
    else {
        return String::new();
    };
    format!(
        "backtrace, symbolized:\n{}",
        String::from_utf8_lossy(&out.stdout)
    )
}

/// The per-test lines and the summary a guest printed.
pub struct TestReport {
    pub lines: Vec<String>,
    pub passed: usize,
    pub failed: usize,
}

impl TestReport {
    pub fn parse(console: &str) -> TestReport {
        let mut report = TestReport {
            lines: Vec::new(),
            passed: 0,
            failed: 0,
        };
        for line in console.lines() {
            if line.starts_with("test ") && line.contains(" ... ") {
                if line.ends_with(" ... ok") {
                    report.passed += 1;
                } else {
                    report.failed += 1;
                }
                report.lines.push(line.to_string());
            } else if is_summary(line) || line.starts_with("init: ") || line.starts_with("[kernel]")
            {
                report.lines.push(line.to_string());
            }
        }
        report
    }
}

/// A suite's `[NAME: ]N passed, M failed` line.
fn is_summary(line: &str) -> bool {
    line.contains(" passed, ") && line.trim_end().ends_with(" failed")
}
