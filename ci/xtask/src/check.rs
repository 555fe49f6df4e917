//! `cargo xtask check PATH`: a user's own program, built for each
//! architecture, packed into a boot image with init and the debugger agent,
//! booted under QEMU with `-icount` and reported (console, JUnit, JSON).
//!
//! Rules this module keeps:
//! - **The crate stays the user's**: it is built from the Spinel workspace
//!   root (so its cargo configuration and toolchain apply: frame pointers,
//!   the pinned Rust) with `--manifest-path`, into one shared target
//!   directory, `target/check` (the sysroot is compiled once for every
//!   program). The only file written next to it is a `Cargo.lock` seeded
//!   from Spinel's when it has none (the same dependency versions).
//! - **Its own kernel**: the boot image (init, `crash-service`, `debug-agent`, the program)
//!   is embedded in a kernel built for it; image and kernel are kept in
//!   `target/check/<target>/<profile>/boot/<program>/` (the crash
//!   service's cores will go to `target/check/<target>/<profile>/crashes/`,
//!   beside the `target/<target>/<profile>/crashes/` of Spinel's own tests).
//! - **Deterministic guests**: `-icount shift=0,sleep=off`, a fixed seed and
//!   a VM clock; init prints the guest clock at the end, which then counts
//!   instructions. `--repeat N` boots N times and fails on any difference.
//! - **Bad input is one line**: a missing path, a crate that does not
//!   build, a binary that is not a Spinel program: an `Err` naming the
//!   cause (main prints it, exit status 1). A failing or hung program is a
//!   failed case, and the command fails after printing `N passed, N failed`
//!   as its last line.

use crate::console::{self, Ending};
use crate::results::{Case, Crash, Report, Status, Suite};
use crate::{Arch, Options, bench, cargo, provision, qemu};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Names of the boot image that are Spinel's own.
const RESERVED: [&str; 3] = ["init", "crash-service", "debug-agent"];

/// A program built for one architecture.
struct Built {
    name: String,
    elf: PathBuf,
    seconds: f64,
}

/// `cargo xtask check`.
pub fn run(options: &Options) -> Result<(), String> {
    let path = options
        .path
        .as_deref()
        .ok_or("check needs the program's path")?;
    let dir = locate(path)?;
    provision::ensure_targets(&options.arches)?;
    provision::ensure_qemu(&options.arches)?;
    seed_lock(&dir)?;
    let mut report = Report {
        name: "check".into(),
        suites: Vec::new(),
    };
    for &arch in &options.arches {
        report.suites.push(check_arch(arch, &dir, options)?);
    }
    report.write(options.junit.as_deref(), options.json.as_deref())?;
    let failing: Vec<String> = report
        .suites
        .iter()
        .filter(|s| s.failed() > 0)
        .map(Suite::name)
        .collect();
    println!("\n{} passed, {} failed", report.passed(), report.failed());
    if failing.is_empty() {
        Ok(())
    } else {
        Err(format!("check failed: {}", failing.join(", ")))
    }
}

/// The crate directory of `path`, or why it is not one.
fn locate(path: &Path) -> Result<PathBuf, String> {
    let shown = path.display();
    if !path.exists() {
        return Err(format!("{shown}: no such file or directory"));
    }
    if !path.is_dir() {
        return Err(format!(
            "{shown} is not a directory (give the program crate's directory)"
        ));
    }
    if !path.join("Cargo.toml").is_file() {
        return Err(format!("{shown} is not a Rust crate: it has no Cargo.toml"));
    }
    path.canonicalize().map_err(|e| format!("{shown}: {e}"))
}

/// Give a crate without a `Cargo.lock` Spinel's (cargo drops what it does
/// not use): the sysroot's dependencies at the versions Spinel tests.
fn seed_lock(dir: &Path) -> Result<(), String> {
    let lock = dir.join("Cargo.lock");
    if lock.exists() {
        return Ok(());
    }
    std::fs::copy(cargo::workspace_root().join("Cargo.lock"), &lock)
        .map(drop)
        .map_err(|e| format!("cannot write {}: {e}", lock.display()))
}

/// Build, pack, boot (`--repeat` times) and report one architecture.
fn check_arch(arch: Arch, dir: &Path, options: &Options) -> Result<Suite, String> {
    println!("\n== {}: check {}", arch.name(), dir.display());
    let built = build(arch, dir, options.release)?;
    let started = Instant::now();
    let kernel = kernel_for(arch, &built, options.release)?;
    let build_seconds = built.seconds + started.elapsed().as_secs_f64();
    let mut cmdline = format!("run-program {}", built.name);
    for word in &options.extra {
        cmdline.push(' ');
        cmdline.push_str(word);
    }
    let crash_dir = options.crash_dir.clone().unwrap_or_else(|| {
        cargo::target_dir()
            .join("check")
            .join(arch.target())
            .join(if options.release { "release" } else { "debug" })
            .join("crashes")
            .join(&built.name)
    });
    let spec = qemu::Guest {
        arch,
        kernel: &kernel,
        cmdline: &cmdline,
        extra: &bench::ICOUNT.map(String::from),
        gdb: None,
        link: qemu::Link::Null,
        crashes: Some(&crash_dir),
    };
    let mut runs = Vec::new();
    for _ in 0..options.repeat.max(1) {
        runs.push(boot(&spec, &built.name, options)?);
    }
    let first = &runs[0];
    let mut suite = Suite {
        arch: arch.name().into(),
        program: built.name.clone(),
        cases: first.cases.clone(),
        exit_status: first.run.exit_status,
        guest_instructions: first.run.guest_clock,
        build_seconds,
        run_seconds: first.seconds,
        output: first.run.output.iter().map(|l| format!("{l}\n")).collect(),
        crashes: first.crashes.clone(),
    };
    if runs.len() > 1 {
        suite.cases.push(compare(&runs));
    }
    print_suite(&suite, runs.len());
    Ok(suite)
}

/// One boot of the program.
struct Boot {
    run: console::Run,
    cases: Vec<Case>,
    seconds: f64,
    /// The crash service's reports and cores.
    crashes: Vec<Crash>,
}

fn boot(spec: &qemu::Guest<'_>, program: &str, options: &Options) -> Result<Boot, String> {
    let outcome = qemu::run(spec, options.timeout, options.verbose)?;
    let run = console::parse(&outcome.console, program);
    let ending = match outcome.verdict {
        qemu::Verdict::TimedOut => Ending::Hung(options.timeout),
        _ => Ending::PoweredOff,
    };
    if ending != Ending::PoweredOff {
        println!(
            "{}: {program} hung; killed after {} s",
            spec.arch.name(),
            options.timeout
        );
    }
    let mut cases = console::cases(&run, program, ending);
    if !run.started && ending == Ending::PoweredOff {
        // The guest died before init ran the program: show why.
        let describe = outcome.describe(spec.arch, spec.kernel);
        if let Some(case) = cases.last_mut() {
            case.console_tail = describe;
        }
    }
    let mut crashes = crashes(&outcome.files, &cases);
    // A hung guest (or a kernel panic): `qemu::run` took a whole-machine
    // core before it killed QEMU.
    if let Some(dump) = &outcome.dump {
        crashes.push(machine_core(spec.kernel, dump));
    }
    Ok(Boot {
        crashes,
        run,
        cases,
        seconds: outcome.elapsed.as_secs_f64(),
    })
}

/// The crash service's files of one boot (`crash: PATH` lines from the
/// console transport): each text report with its core, and the test that
/// was running when the program crashed (the first named test with no
/// result).
fn crashes(files: &[String], cases: &[Case]) -> Vec<Crash> {
    let written: Vec<PathBuf> = files
        .iter()
        .filter_map(|line| line.strip_prefix("crash: "))
        .filter(|rest| !rest.contains(" (") && !rest.starts_with("cannot "))
        .map(PathBuf::from)
        .collect();
    let test = cases
        .iter()
        .find(|case| match &case.status {
            Status::Failed(reason) => reason.starts_with("the process was killed"),
            _ => false,
        })
        .map(|case| case.name.clone());
    written
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .map(|report| {
            let core = report.with_extension("core");
            Crash {
                test: test.clone(),
                report: std::fs::read_to_string(report)
                    .unwrap_or_else(|e| format!("{}: {e}", report.display())),
                core: written.contains(&core).then_some(core),
            }
        })
        .collect()
}

/// The whole-machine core of a guest that hung or whose kernel panicked,
/// as a crash of no test: where it is and how to open it.
fn machine_core(kernel: &Path, dump: &Result<crate::guest_dump::Dump, String>) -> Crash {
    match dump {
        Ok(dump) => Crash {
            test: None,
            report: format!(
                "the whole machine, saved when the guest was stopped; open it with:\n  gdb-multiarch {} {}",
                kernel.display(),
                dump.core.display()
            ),
            core: Some(dump.core.clone()),
        },
        Err(error) => Crash {
            test: None,
            report: format!("no whole-machine core: {error}"),
            core: None,
        },
    }
}

/// The `deterministic` case: every run agrees with the first, to the
/// instruction and to the byte of output.
fn compare(runs: &[Boot]) -> Case {
    let first = &runs[0];
    let mut differences = Vec::new();
    for (index, other) in runs.iter().enumerate().skip(1) {
        let n = index + 1;
        if other.run.guest_clock != first.run.guest_clock {
            differences.push(format!(
                "run {n}: {:?} guest instructions, run 1: {:?}",
                other.run.guest_clock, first.run.guest_clock
            ));
        }
        if other.run.exit_status != first.run.exit_status {
            differences.push(format!(
                "run {n}: exit status {:?}, run 1: {:?}",
                other.run.exit_status, first.run.exit_status
            ));
        }
        let lines = first.run.output.iter().zip(&other.run.output);
        if let Some((line, (a, b))) = lines.enumerate().find(|(_, (a, b))| a != b) {
            differences.push(format!(
                "run {n}: output line {} `{b}`, run 1: `{a}`",
                line + 1
            ));
        } else if first.run.output.len() != other.run.output.len() {
            differences.push(format!("run {n}: output of another length"));
        }
        let statuses = |b: &Boot| b.cases.iter().map(|c| c.status.clone()).collect::<Vec<_>>();
        if statuses(other) != statuses(first) {
            differences.push(format!("run {n}: other test results"));
        }
    }
    if differences.is_empty() {
        Case::passed("deterministic")
    } else {
        Case::failed(
            "deterministic",
            &format!("{} runs differ: {}", runs.len(), differences.join("; ")),
            "",
        )
    }
}

fn print_suite(suite: &Suite, runs: usize) {
    for line in suite.output.lines() {
        println!("  | {line}");
    }
    // The test lines are in the output already; say what else happened.
    for case in &suite.cases {
        match &case.status {
            Status::Failed(reason) => println!("FAILED {}::{}: {reason}", suite.name(), case.name),
            Status::Skipped(why) => println!("skipped {}::{}: {why}", suite.name(), case.name),
            Status::Passed => {}
        }
    }
    for crash in &suite.crashes {
        let test = crash.test.as_deref().unwrap_or("the program");
        println!("crash in {}::{test}:", suite.name());
        for line in crash.report.lines() {
            println!("  {line}");
        }
        if let Some(core) = &crash.core {
            println!("  core: {}", core.display());
        }
    }
    let exit = suite
        .exit_status
        .map_or("did not exit".to_string(), |c| format!("exit status {c}"));
    let instructions = suite
        .guest_instructions
        .map_or("? guest instructions".to_string(), |n| {
            format!("{n} guest instructions")
        });
    let repeat = if runs > 1 {
        format!(" (first of {runs} runs)")
    } else {
        String::new()
    };
    println!(
        "{}: {exit}; {} passed, {} failed; {instructions}; guest {:.2} s{repeat}, build {:.1} s, wall {:.1} s",
        suite.name(),
        suite.passed(),
        suite.failed(),
        suite.run_seconds,
        suite.build_seconds,
        suite.build_seconds + suite.run_seconds * runs as f64,
    );
}

/// Build the crate for `arch`; its binary, checked to be a Spinel program.
fn build(arch: Arch, dir: &Path, release: bool) -> Result<Built, String> {
    let started = Instant::now();
    let manifest = dir.join("Cargo.toml");
    let mut command = cargo::cargo();
    command.args(["build", "--target", arch.target(), "--manifest-path"]);
    command.arg(&manifest);
    command
        .arg("--target-dir")
        .arg(cargo::target_dir().join("check"));
    command.args(["--message-format", "json-render-diagnostics"]);
    if release {
        command.arg("--release");
    }
    command.stderr(std::process::Stdio::inherit());
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{} does not build for {} (cargo's errors above)",
            dir.display(),
            arch.target()
        ));
    }
    let binaries = executables(&String::from_utf8_lossy(&output.stdout), &manifest);
    let (name, elf) = match binaries.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(format!(
                "{} is not a Spinel program: it has no binary target",
                dir.display()
            ));
        }
        more => {
            let names: Vec<&str> = more.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "{} has {} binaries ({}); check runs a crate with one",
                dir.display(),
                more.len(),
                names.join(", ")
            ));
        }
    };
    check_program(arch, &name, &elf)?;
    Ok(Built {
        name,
        elf,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The (name, path) of the executables cargo built for `manifest`'s package.
fn executables(messages: &str, manifest: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for line in messages.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact"
            || message["manifest_path"].as_str().map(Path::new) != Some(manifest)
        {
            continue;
        }
        if let (Some(name), Some(path)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            found.push((name.to_string(), PathBuf::from(path)));
        }
    }
    found
}

/// Is the binary one Spinel runs: a fixed-address ELF executable for
/// `arch` whose loadable segments the loader accepts, with the runtime's
/// entry (`spinel_rt::entry!` defines `spinel_main`)?
fn check_program(arch: Arch, name: &str, elf: &Path) -> Result<(), String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
    let not = |why: String| format!("{name} is not a Spinel program for {}: {why}", arch.name());
    let (header, _) =
        spinel_elf::Program::from_file(&bytes, 4096).map_err(|e| not(e.to_string()))?;
    let machine = match arch {
        Arch::X86_64 => spinel_elf::EM_X86_64,
        Arch::Aarch64 => spinel_elf::EM_AARCH64,
    };
    header.check_executable(machine).map_err(|e| {
        not(format!(
            "{e} (is its build.rs `spinel_build::user_program()`?)"
        ))
    })?;
    let entry = b"\0spinel_main\0";
    if !bytes.windows(entry.len()).any(|w| w == entry) {
        return Err(not(
            "it has no Spinel entry (name its main with `spinel_rt::entry!(main)`)".into(),
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "the program's name `{name}` is taken by Spinel's own {name}; rename its binary"
        ));
    }
    Ok(())
}

/// Pack init, the crash service, the debugger agent and the program into a boot image and
/// build the kernel that carries it; the kernel's path (a copy kept with
/// the image, for the crash service's cores to be read against later).
fn kernel_for(arch: Arch, built: &Built, release: bool) -> Result<PathBuf, String> {
    let own: Vec<String> = RESERVED.iter().map(|s| s.to_string()).collect();
    let programs = cargo::build_programs(arch, release, &own)?;
    let mut files = Vec::new();
    for name in &own {
        let path = programs.join(name);
        let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        files.push((name.clone(), bytes));
    }
    let bytes =
        std::fs::read(&built.elf).map_err(|e| format!("reading {}: {e}", built.elf.display()))?;
    files.push((built.name.clone(), bytes));
    let profile = if release { "release" } else { "debug" };
    let dir = cargo::target_dir()
        .join("check")
        .join(arch.target())
        .join(profile)
        .join("boot")
        .join(&built.name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let image = dir.join("boot.img");
    cargo::pack_image(&files, &image)?;
    let kernel = cargo::build_kernel_with(arch, release, &image)?;
    let kept = dir.join("spinel-kernel");
    std::fs::copy(&kernel, &kept)
        .map_err(|e| format!("cannot copy the kernel to {}: {e}", kept.display()))?;
    Ok(kept)
}
