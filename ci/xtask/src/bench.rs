//! `cargo xtask bench`: boot each architecture under `-icount shift=0`
//! (one guest instruction = one nanosecond of guest time, repeatable) with
//! init in bench mode, collect the `bench NAME VALUE (N)` lines of the
//! guest's benchmarks, and compare them with stock Linux under the same
//! emulator (figures from shared/spec/platform-notes.md).

use crate::{Arch, Options, cargo, provision, qemu};

/// Flags that make guest time count instructions, identically run to run
/// (the benchmarks and `check`).
pub const ICOUNT: [&str; 8] = [
    "-icount",
    "shift=0,sleep=off",
    "-seed",
    "1",
    "-rtc",
    "base=2024-01-01T00:00:00,clock=vm",
    "-smp",
    "1",
];

/// (benchmark, Linux's figure on x86_64 and aarch64, what it is compared
/// with, the factor Spinel aims to beat it by).
const LINUX: &[(&str, u64, u64, &str, u64)] = &[
    ("null_syscall", 325, 496, "null syscall", 5),
    (
        "channel_round_trip",
        12_939,
        15_431,
        "pipe ping-pong between processes",
        5,
    ),
    (
        "port_round_trip",
        12_939,
        15_431,
        "pipe ping-pong between processes",
        5,
    ),
    (
        "exception_round_trip_process",
        12_861,
        15_566,
        "ptrace stop/waitpid/getregs/continue",
        10,
    ),
    (
        "exception_round_trip_thread",
        3_784,
        5_782,
        "breakpoint to an in-process signal handler",
        5,
    ),
];

pub fn run(options: &Options) -> Result<(), String> {
    provision::ensure_targets(&options.arches)?;
    provision::ensure_qemu(&options.arches)?;
    let mut results: Vec<(Arch, Vec<(String, u64)>)> = Vec::new();
    for &arch in &options.arches {
        // Benchmarks always measure the optimised build (with debug info).
        let kernel = cargo::build_kernel(arch, true)?;
        let extra: Vec<String> = ICOUNT.iter().map(|s| s.to_string()).collect();
        let guest = qemu::Guest {
            arch,
            kernel: &kernel,
            cmdline: "bench",
            extra: &extra,
            gdb: None,
            link: qemu::Link::Null,
            crashes: options.crash_dir.as_deref(),
        };
        println!(
            "\n== {} guest: benchmarks under -icount shift=0",
            arch.name()
        );
        let outcome = qemu::run(&guest, options.timeout.max(300), options.verbose)?;
        let figures = parse(&outcome.console);
        if outcome.verdict != qemu::Verdict::Success || !outcome.console.contains("bench done") {
            return Err(outcome.describe(arch, &kernel));
        }
        results.push((arch, figures));
    }
    print_table(&results);
    Ok(())
}

fn parse(console: &str) -> Vec<(String, u64)> {
    console
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("bench ")?.split_whitespace();
            let name = words.next()?;
            let value = words.next()?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

fn print_table(results: &[(Arch, Vec<(String, u64)>)]) {
    println!("\nguest instructions per operation (-icount shift=0, release build)\n");
    print!("{:<30}", "benchmark");
    for (arch, _) in results {
        print!("{:>10} {:>16}", arch.name(), "vs Linux (aim)");
    }
    println!();
    let mut names: Vec<&str> = Vec::new();
    for (_, figures) in results {
        for (name, _) in figures {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    for name in names {
        print!("{name:<30}");
        for (arch, figures) in results {
            let value = figures.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            let linux = LINUX.iter().find(|l| l.0 == name);
            match (value, linux) {
                (Some(value), Some(&(_, x86, arm, _, aim))) => {
                    let base = if *arch == Arch::X86_64 { x86 } else { arm };
                    let ratio = value as f64 / base as f64;
                    print!("{value:>10} {:>9.3} (1/{aim})", ratio);
                }
                (Some(value), None) => print!("{value:>10} {:>16}", ""),
                (None, _) => print!("{:>10} {:>16}", "-", ""),
            }
        }
        println!();
    }
    println!("\nLinux 6.1 under the same flags, for the ratios:");
    for (name, x86, arm, what, aim) in LINUX {
        println!("  {name}: {what}: {x86} / {arm} (aim: a {aim}th or less)");
    }
}
