//! The crash path end to end (`cargo xtask test`, per architecture): boot
//! with `crash crasher VARIANT` (init runs the crasher with no debugger; the
//! crash service dumps it), collect the files the guest sends (the console
//! transport, `crash_files`), and let the stock tools judge them against
//! the crash service's JSON report: `gdb-multiarch`, `lldb-19`,
//! `llvm-readelf --notes` on the core, `llvm-symbolizer --filter-markup`
//! on the console.
//!
//! Rules: a missing tool fails its test with a message naming
//! `cargo xtask setup`; each variant boots its own guest and writes its
//! files under `crashes/e2e/<variant>/`; the checks read the report's
//! stable JSON fields (`services/crash-service/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::results::{Case, Suite};
use crate::{Arch, Options, cargo, qemu};

/// The crasher's variants this suite runs.
const VARIANTS: &[&str] = &["page-fault", "undefined", "breakpoint", "divide"];
/// The crasher's marker register value (`services/crasher`).
const MARKER: &str = "0x5afec0de12345678";
/// The crasher's call chain, innermost first (`services/crasher`).
const CHAIN: &[&str] = &[
    "crasher::fault",
    "crasher::descend",
    "crasher::prepare",
    "crasher::run",
];
/// Seconds a crash guest may run.
const GUEST_TIMEOUT: u64 = 300;

/// One judgement of a dump.
type Check = fn(&Dump) -> Result<(), String>;

/// What one variant produced.
struct Dump {
    arch: Arch,
    elf: PathBuf,
    core: PathBuf,
    report: serde_json::Value,
    console: String,
}

/// The end-to-end crash tests on one architecture, as one results suite.
pub fn e2e(arch: Arch, options: &Options) -> Result<Suite, String> {
    println!("\n== {} guest: crash dumps end to end", arch.name());
    let kernel = cargo::build_kernel(arch, options.release)?;
    let elf = cargo::target_profile_dir(arch, options.release).join("crasher");
    let mut cases = Vec::new();
    for variant in VARIANTS {
        let started = Instant::now();
        let dump = boot(arch, &kernel, &elf, variant, options);
        let checks: [(&str, Check); 4] = [
            ("readelf", readelf),
            ("gdb", gdb),
            ("lldb", lldb),
            ("markup", markup),
        ];
        match dump {
            Err(reason) => {
                println!("test crash_{variant} ... FAILED: {reason}");
                cases.push(Case::failed(&format!("crash_{variant}"), &reason, ""));
            }
            Ok(dump) => {
                cases.push(Case::passed(&format!("crash_{variant}")));
                println!(
                    "test crash_{variant} ... ok ({:.1} s to the files on the host, core {} bytes)",
                    started.elapsed().as_secs_f64(),
                    std::fs::metadata(&dump.core).map_or(0, |m| m.len())
                );
                for (name, check) in checks {
                    match check(&dump) {
                        Ok(()) => {
                            println!("test crash_{variant}_{name} ... ok");
                            cases.push(Case::passed(&format!("crash_{variant}_{name}")));
                        }
                        Err(reason) => {
                            println!("test crash_{variant}_{name} ... FAILED: {reason}");
                            let tail = dump.console.lines().rev().take(30).collect::<Vec<_>>();
                            let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                            cases.push(Case::failed(
                                &format!("crash_{variant}_{name}"),
                                &reason,
                                &tail,
                            ));
                        }
                    }
                }
            }
        }
    }
    let suite = Suite {
        arch: arch.name().into(),
        program: "crash-service".into(),
        cases,
        ..Suite::default()
    };
    println!(
        "{}: crash {} passed, {} failed",
        arch.name(),
        suite.passed(),
        suite.failed()
    );
    Ok(suite)
}

/// Boot the crasher with `variant` and collect its files.
fn boot(
    arch: Arch,
    kernel: &Path,
    elf: &Path,
    variant: &str,
    options: &Options,
) -> Result<Dump, String> {
    let dir = kernel
        .parent()
        .unwrap_or(Path::new("."))
        .join("crashes/e2e")
        .join(variant);
    let _ = std::fs::remove_dir_all(&dir);
    let cmdline = format!("crash crasher {variant}");
    let guest = qemu::Guest {
        arch,
        kernel,
        cmdline: &cmdline,
        extra: &[],
        gdb: None,
        link: qemu::Link::Null,
        crashes: Some(&dir),
    };
    let outcome = qemu::run(&guest, GUEST_TIMEOUT, options.verbose)?;
    if outcome.verdict != qemu::Verdict::Success {
        return Err(outcome.describe(arch, kernel));
    }
    let find = |suffix: &str| {
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| path.to_string_lossy().ends_with(suffix))
    };
    let (Some(core), Some(json), Some(_text)) = (find(".core"), find(".json"), find(".txt")) else {
        return Err(format!(
            "the core, the JSON and the text report did not all arrive: {:?}",
            outcome.files
        ));
    };
    let report = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
    let report: serde_json::Value =
        serde_json::from_str(&report).map_err(|e| format!("{}: {e}", json.display()))?;
    Ok(Dump {
        arch,
        elf: elf.to_path_buf(),
        core,
        report,
        console: outcome.console,
    })
}

/// Run a stock tool; its stdout and stderr, or a failure naming setup.
fn tool(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} cannot run ({e}): install it with `cargo xtask setup`"))?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap_or("")
}

impl Dump {
    fn pc(&self) -> String {
        format!("{:#x}", self.report["pc"].as_u64().unwrap_or(0))
    }
    /// The report's outermost function of each frame, in order.
    fn functions(&self) -> Vec<String> {
        let frames = self.report["frames"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        frames
            .iter()
            .filter(|f| f["inlined"] == false)
            .filter_map(|f| f["function"].as_str().map(String::from))
            .collect()
    }
    /// The chain's functions, checked in the report first.
    fn chain(&self) -> Result<Vec<String>, String> {
        let functions = self.functions();
        for name in CHAIN {
            if !functions.iter().any(|f| f == name) {
                return Err(format!("the report's frames lack {name}: {functions:?}"));
            }
        }
        Ok(functions)
    }
}

/// `llvm-readelf --notes`: one NT_PRSTATUS of Linux's size per thread.
fn readelf(dump: &Dump) -> Result<(), String> {
    let out = tool("llvm-readelf", &["--notes", path(&dump.core)])?;
    let size = match dump.arch {
        Arch::X86_64 => "0x00000150",
        Arch::Aarch64 => "0x00000188",
    };
    let prstatus = out
        .lines()
        .filter(|l| l.contains("NT_PRSTATUS"))
        .collect::<Vec<_>>();
    if prstatus.is_empty() || !prstatus.iter().all(|l| l.contains(size)) {
        return Err(format!("NT_PRSTATUS notes not of {size} bytes:\n{out}"));
    }
    for note in ["NT_PRPSINFO", "NT_FILE", "NT_FPREGSET"] {
        if !out.contains(note) {
            return Err(format!("no {note}:\n{out}"));
        }
    }
    Ok(())
}

/// Every name of `names` appears in `text` in this order.
fn in_order(text: &str, names: &[&str]) -> Result<(), String> {
    let mut rest = text;
    for name in names {
        match rest.find(name) {
            Some(at) => rest = &rest[at + name.len()..],
            None => return Err(format!("{name} missing or out of order")),
        }
    }
    Ok(())
}

/// `gdb-multiarch -batch`: threads, the pc, the backtrace, the marker.
fn gdb(dump: &Dump) -> Result<(), String> {
    dump.chain()?;
    let vector = match dump.arch {
        Arch::X86_64 => "p/x $xmm0.v2_int64[0]",
        Arch::Aarch64 => "p/x $v0.d.u[0]",
    };
    let out = tool(
        "gdb-multiarch",
        &[
            "-batch",
            "-ex",
            "info threads",
            "-ex",
            "bt",
            "-ex",
            "info registers",
            "-ex",
            vector,
            path(&dump.elf),
            path(&dump.core),
        ],
    )?;
    let thread = format!("LWP {}", dump.report["thread_koid"]);
    let (pc_name, marker_name) = match dump.arch {
        Arch::X86_64 => ("rip", "rbx"),
        Arch::Aarch64 => ("pc", "x19"),
    };
    let register = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or("")
            .to_string()
    };
    let failure = if !out.contains(&thread) {
        Some(format!("no thread {thread}"))
    } else if !register(pc_name).contains(&dump.pc()) {
        Some(format!("{pc_name} is not the report's {}", dump.pc()))
    } else if !register(marker_name).contains(MARKER) {
        Some(format!("{marker_name} lacks the marker {MARKER}"))
    } else if !out
        .lines()
        .any(|l| l.starts_with("$1 = ") && l.contains(MARKER))
    {
        Some(format!(
            "the first vector register lacks the marker {MARKER}"
        ))
    } else {
        in_order(&out, CHAIN).err()
    };
    match failure {
        None => Ok(()),
        Some(reason) => Err(format!("gdb: {reason}:\n{out}")),
    }
}

/// `lldb-19 -b -c CORE ELF -o 'thread list' -o bt`.
fn lldb(dump: &Dump) -> Result<(), String> {
    dump.chain()?;
    let out = tool(
        "lldb-19",
        &[
            "-b",
            "-c",
            path(&dump.core),
            path(&dump.elf),
            "-o",
            "thread list",
            "-o",
            "bt",
            "-o",
            "register read",
        ],
    )?;
    let tid = format!("tid = {}", dump.report["thread_koid"]);
    let pc = format!("{:#018x}", dump.report["pc"].as_u64().unwrap_or(0));
    let failure = if !out.contains(&tid) {
        Some(format!("no thread {tid}"))
    } else if !out.contains(&pc) {
        Some(format!("no frame at the report's pc {pc}"))
    } else {
        in_order(&out, CHAIN).err()
    };
    match failure {
        None => Ok(()),
        Some(reason) => Err(format!("lldb: {reason}:\n{out}")),
    }
}

/// The console's markup through `llvm-symbolizer --filter-markup` names
/// each frame's function and file:line.
fn markup(dump: &Dump) -> Result<(), String> {
    let build_id = dump.report["build_ids"]["crasher"]
        .as_str()
        .ok_or("the report has no build id for crasher")?;
    let debug = dump.core.with_extension("debug-files");
    let dir = debug.join(".build-id").join(&build_id[..2]);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join(format!("{}.debug", &build_id[2..]));
    let _ = std::fs::remove_file(&file);
    std::fs::copy(&dump.elf, &file).map_err(|e| format!("{}: {e}", file.display()))?;
    let log = dump.core.with_extension("console.log");
    let markup: String = dump
        .console
        .lines()
        .filter(|l| l.starts_with("{{{"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&log, &markup).map_err(|e| format!("{}: {e}", log.display()))?;
    let output = Command::new("llvm-symbolizer-19")
        .arg("--filter-markup")
        .arg(format!("--debug-file-directory={}", debug.display()))
        .stdin(std::fs::File::open(&log).map_err(|e| e.to_string())?)
        .output()
        .map_err(|e| {
            format!("llvm-symbolizer-19 cannot run ({e}): install it with `cargo xtask setup`")
        })?;
    let out = String::from_utf8_lossy(&output.stdout);
    let failure = in_order(&out, CHAIN).err().or_else(|| {
        (!out.contains("services/crasher/src/main.rs:"))
            .then(|| String::from("no file:line of the crasher"))
    });
    match failure {
        None => Ok(()),
        Some(reason) => Err(format!("llvm-symbolizer: {reason}:\n{markup}\n->\n{out}")),
    }
}
