//! Whole-machine cores of a guest that panicked or hung, and the panic's
//! backtrace symbolized from the kernel's markup.
//!
//! The kernel's panic path (`kernel/image/src/panic.rs`) prints symbolizer
//! markup, then the marker line [`PANIC_MARKER`], then halts with the
//! machine left running. `qemu.rs` starts every guest with a QMP socket;
//! when it sees the marker, or a guest outlives its timeout, it calls
//! [`save`]: QEMU's `dump-guest-memory` writes an ELF core of the whole
//! machine (all RAM, each CPU's registers) beside the kernel ELF, at
//! `target/<arch>-unknown-none/<profile>/crashes/kernel-<UTC time>.core`,
//! and only then is QEMU killed. [`report`] names the core and the gdb
//! command that opens it; [`symbolize`] runs the panic's markup through
//! `llvm-symbolizer --filter-markup`, which finds the kernel by build id.
//! [`e2e`] is the test section (`cargo xtask test`, both arches).

use crate::qemu::{self, Guest, Link, Verdict};
use crate::results::{Case, Suite};
use crate::{Arch, Options, cargo, qmp, tools};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The kernel's panic marker (`spinel_kernel::panic::MARKER`): a console
/// line starting with it means the markup is complete and the CPU halted.
pub const PANIC_MARKER: &str = "[kernel] PANIC:";

/// Cores kept per crashes directory (each is the guest's RAM, 256 MiB):
/// older ones are removed when a new one is saved.
const KEEP_CORES: usize = 4;

/// How long QEMU may take to answer QMP, the dump included.
const QMP_TIMEOUT: Duration = Duration::from_secs(120);

/// Seconds the hang test lets its guest run before it counts as hung.
const HANG_TEST_SECONDS: u64 = 15;

/// Whether a complete console line starts with the panic marker.
pub fn panicked(console: &str) -> bool {
    console
        .split_inclusive('\n')
        .any(|line| line.ends_with('\n') && line.starts_with(PANIC_MARKER))
}

/// A saved core.
#[derive(Debug)]
pub struct Dump {
    pub core: PathBuf,
    pub bytes: u64,
    pub took: Duration,
}

/// Ask the QEMU behind `socket` for a whole-machine core of the guest
/// running `kernel`, written under `crashes/` beside the kernel ELF.
pub fn save(kernel: &Path, socket: &Path) -> Result<Dump, String> {
    let dir = crashes_dir(kernel);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let core = dir.join(format!("kernel-{}.core", timestamp(since_epoch)));
    let started = Instant::now();
    let mut session = qmp::Session::connect(socket, QMP_TIMEOUT)?;
    session.dump_guest_memory(&core)?;
    let took = started.elapsed();
    let bytes = std::fs::metadata(&core)
        .map_err(|e| format!("QEMU wrote no core at {}: {e}", core.display()))?
        .len();
    prune(&dir, KEEP_CORES);
    Ok(Dump { core, bytes, took })
}

/// `crashes/` beside the kernel ELF.
pub fn crashes_dir(kernel: &Path) -> PathBuf {
    kernel.parent().unwrap_or(Path::new(".")).join("crashes")
}

/// Remove all but the `keep` newest cores of `dir` (their names sort by
/// time).
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut cores: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "core"))
        .collect();
    cores.sort();
    for old in &cores[..cores.len().saturating_sub(keep)] {
        let _ = std::fs::remove_file(old);
    }
}

/// `20261206T034712.345Z` for a time since the Unix epoch (UTC).
fn timestamp(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (the proleptic Gregorian calendar, in eras of
    // 400 years that start on 1 March).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since_epoch.subsec_millis()
    )
}

/// What a failure report says about the core: where it is, its size and
/// time, and the gdb command that opens it.
pub fn report(dump: &Result<Dump, String>, kernel: &Path) -> String {
    match dump {
        Ok(dump) => {
            let gdb = tools::gdb().unwrap_or_else(|_| "gdb-multiarch".into());
            format!(
                "whole-machine core: {} ({} MiB, written in {:.1} s); open it with:\n  {}\n",
                dump.core.display(),
                dump.bytes >> 20,
                dump.took.as_secs_f64(),
                qemu::shell_quote(&[
                    gdb,
                    kernel.display().to_string(),
                    dump.core.display().to_string()
                ])
            )
        }
        Err(error) => format!("no whole-machine core: {error}\n"),
    }
}

/// The console from the last kernel panic to its marker line (or the end).
fn panic_section(console: &str) -> Option<&str> {
    let start = console.rfind("{{{reset}}}")?;
    let start = console[..start]
        .rfind("KERNEL PANIC")
        .filter(|&p| !console[p..start].contains("{{{"))
        .unwrap_or(start);
    let section = &console[start..];
    let end = section
        .find(PANIC_MARKER)
        .map(|m| m + section[m..].find('\n').map_or(section.len() - m, |n| n + 1))
        .unwrap_or(section.len());
    Some(&section[..end])
}

/// The build id a `{{{module:ID:NAME:elf:BUILDID}}}` line gives.
fn module_build_id(markup: &str) -> Option<&str> {
    markup.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("{{{module:")?;
        let id = rest.strip_suffix("}}}")?.rsplit(':').next()?;
        (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
    })
}

/// The last panic of `console` with its markup symbolized against `kernel`
/// (`llvm-symbolizer --filter-markup`, the kernel found by build id in a
/// `.build-id` directory beside the cores).
pub fn symbolize(console: &str, kernel: &Path) -> Result<String, String> {
    let section = panic_section(console).ok_or("no panic markup on the console")?;
    let id = module_build_id(section).ok_or("the panic markup names no build id")?;
    if id.len() < 3 {
        return Err(format!("build id {id:?} is too short"));
    }
    let debug_dir = crashes_dir(kernel);
    let link_dir = debug_dir.join(".build-id").join(&id[..2]);
    std::fs::create_dir_all(&link_dir).map_err(|e| format!("{}: {e}", link_dir.display()))?;
    let link = link_dir.join(format!("{}.debug", &id[2..]));
    let _ = std::fs::remove_file(&link);
    let target = std::fs::canonicalize(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    std::os::unix::fs::symlink(&target, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    let mut child = Command::new(tools::llvm_symbolizer()?)
        .arg("--filter-markup")
        .arg(format!("--debug-file-directory={}", debug_dir.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run llvm-symbolizer: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(section.as_bytes())
            .map_err(|e| format!("writing to llvm-symbolizer: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "llvm-symbolizer --filter-markup failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `--filter` selects the crash section (its tests are `crash_*`).
pub fn selected(filter: Option<&str>) -> bool {
    filter.is_none_or(|filter| "crash".contains(filter) || filter.contains("crash"))
}

/// gdb's `info registers` on a core with the kernel ELF: its output when
/// gdb accepts the core.
fn gdb_registers(kernel: &Path, core: &Path) -> Result<String, String> {
    let out = Command::new(tools::gdb()?)
        .args(["-nx", "-batch", "-ex", "info registers"])
        .arg(kernel)
        .arg(core)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run gdb: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    let has_pc = text
        .lines()
        .any(|l| l.starts_with("rip ") || l.starts_with("pc "));
    if out.status.success() && has_pc {
        Ok(text)
    } else {
        Err(format!(
            "gdb did not read the core: {}{}",
            text.trim(),
            errors.trim()
        ))
    }
}

/// `llvm-readelf --notes` lists the core's `NT_PRSTATUS` (a CPU's
/// registers).
fn readelf_sees_registers(core: &Path) -> Result<(), String> {
    let out = Command::new(tools::llvm_readelf()?)
        .arg("--notes")
        .arg(core)
        .output()
        .map_err(|e| format!("cannot run llvm-readelf: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.success() && text.contains("NT_PRSTATUS"), || {
        format!("llvm-readelf --notes: {}", text.trim())
    })
}

/// Test lines and their count.
#[derive(Default)]
struct Checks {
    cases: Vec<Case>,
}

impl Checks {
    fn check(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                println!("test {name} ... ok");
                self.cases.push(Case::passed(name));
            }
            Err(why) => {
                println!("test {name} ... FAILED: {why}");
                self.cases.push(Case::failed(name, &why, ""));
            }
        }
    }
}

fn ensure(condition: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(why()) }
}

/// The saved core of an outcome, checked to exist and to be an ELF core.
fn saved_core(outcome: &qemu::Outcome) -> Result<&Path, String> {
    let dump = match &outcome.dump {
        Some(Ok(dump)) => dump,
        Some(Err(error)) => return Err(error.clone()),
        None => return Err("no dump was taken".into()),
    };
    let mut head = [0u8; 18];
    let mut file = std::fs::File::open(&dump.core).map_err(|e| e.to_string())?;
    std::io::Read::read_exact(&mut file, &mut head).map_err(|e| e.to_string())?;
    // ELF magic, and e_type ET_CORE (4).
    ensure(&head[..4] == b"\x7fELF" && head[16] == 4, || {
        format!("{} is not an ELF core", dump.core.display())
    })?;
    Ok(&dump.core)
}

/// The crash section of `cargo xtask test`: a kernel that panics on purpose
/// (`panic-test`) and one that hangs (`hang-test`), each dumped and
/// reported.
pub fn e2e(arch: Arch, options: &Options) -> Result<Suite, String> {
    println!("\n== {} guest: kernel panic and hang dumps", arch.name());
    let kernel = cargo::build_kernel(arch, options.release)?;
    let mut checks = Checks::default();
    let guest = |cmdline| Guest {
        crashes: None,
        arch,
        kernel: &kernel,
        cmdline,
        extra: &[],
        gdb: None,
        link: Link::Null,
    };

    let outcome = qemu::run(&guest("panic-test"), options.timeout, options.verbose)?;
    let described = outcome.describe(arch, &kernel);
    checks.check(
        "crash_panic_marker_seen",
        ensure(
            outcome.verdict == Verdict::Panicked && panicked(&outcome.console),
            || described.clone(),
        ),
    );
    let core = saved_core(&outcome);
    checks.check(
        "crash_panic_core_saved",
        core.clone().and_then(readelf_sees_registers),
    );
    checks.check(
        "crash_panic_core_opens_in_gdb",
        core.and_then(|core| gdb_registers(&kernel, core).map(|_| ())),
    );
    let symbolized = symbolize(&outcome.console, &kernel);
    checks.check(
        "crash_panic_backtrace_names_the_function",
        symbolized
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|text| ensure(text.contains("selftest::deliberate_panic"), || text.clone())),
    );
    print!("{described}");

    let timeout = options.timeout.min(HANG_TEST_SECONDS);
    let outcome = qemu::run(&guest("hang-test"), timeout, options.verbose)?;
    let described = outcome.describe(arch, &kernel);
    checks.check(
        "crash_hang_timed_out",
        ensure(
            outcome.verdict == Verdict::TimedOut
                && outcome.console.contains("hang-test: hanging on purpose"),
            || described.clone(),
        ),
    );
    let core = saved_core(&outcome);
    checks.check(
        "crash_hang_core_saved",
        core.clone().and_then(readelf_sees_registers),
    );
    checks.check(
        "crash_hang_core_shows_the_halted_cpu",
        core.and_then(|core| gdb_registers(&kernel, core))
            .and_then(|text| {
                ensure(
                    text.contains("halt") || text.contains("deliberate_hang"),
                    || text.clone(),
                )
            }),
    );
    print!("{described}");
    let suite = Suite {
        arch: arch.name().into(),
        program: "kernel-dump".into(),
        cases: checks.cases,
        ..Suite::default()
    };
    println!(
        "{}: crash: {} passed, {} failed",
        arch.name(),
        suite.passed(),
        suite.failed()
    );
    Ok(suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "boot\n\
        test x ... ok\n\
        \n\
        KERNEL PANIC at kernel/image/src/selftest.rs:76:5: deliberate panic\n\
        {{{reset}}}\n\
        {{{module:0:spinel-kernel:elf:cbf645a28b14422a31ec6168af87e9c8bbe990a6}}}\n\
        {{{mmap:0xffffffff80100000:0x4b000:load:0:rx:0xffffffff80100000}}}\n\
        {{{bt:0:0xffffffff80110e89:ra}}}\n\
        [kernel] PANIC: halted for a whole-machine dump\n";

    #[test]
    fn the_marker_counts_only_as_a_whole_line() {
        assert!(panicked(CONSOLE));
        assert!(!panicked("boot\n[kernel] PANIC: halted"));
        assert!(!panicked("boot\nsaid [kernel] PANIC: here\n"));
        assert!(!panicked("boot\n"));
    }

    #[test]
    fn the_panic_section_runs_from_the_panic_line_to_the_marker() {
        let section = panic_section(CONSOLE).unwrap();
        assert!(section.starts_with("KERNEL PANIC at"), "{section}");
        assert!(
            section.ends_with("[kernel] PANIC: halted for a whole-machine dump\n"),
            "{section}"
        );
        assert!(panic_section("no markup\n").is_none());
        assert_eq!(
            module_build_id(section),
            Some("cbf645a28b14422a31ec6168af87e9c8bbe990a6")
        );
        assert_eq!(module_build_id("{{{module:0:k:elf:}}}"), None);
    }

    #[test]
    fn timestamps_are_utc_and_sort_by_time() {
        assert_eq!(timestamp(Duration::ZERO), "19700101T000000.000Z");
        // 2026-12-06 03:47:09.568 UTC.
        let t = Duration::from_millis(1_796_528_829_568);
        assert_eq!(timestamp(t), "20261206T034709.568Z");
        // A leap day.
        assert_eq!(
            timestamp(Duration::from_secs(951_782_400)),
            "20000229T000000.000Z"
        );
    }

    #[test]
    fn pruning_keeps_the_newest_cores() {
        let dir = std::env::temp_dir().join(format!("spinel-prune-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "kernel-1.core",
            "kernel-2.core",
            "kernel-3.core",
            "notes.txt",
        ] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        prune(&dir, 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["kernel-2.core", "kernel-3.core", "notes.txt"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_crash_section_is_selected_by_its_name() {
        assert!(selected(None));
        assert!(selected(Some("crash")));
        assert!(selected(Some("crash_panic")));
        assert!(!selected(Some("exception")));
    }
}
