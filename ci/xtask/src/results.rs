//! Test results for CI systems: one model, written as JUnit XML and as JSON.
//!
//! `cargo xtask check` (a user's program) and `cargo xtask test` (Spinel's
//! own suites) both fill a [`Report`]: one [`Suite`] per architecture and
//! program, one [`Case`] per test. The same report is written both ways, so
//! the two files always say the same thing.
//!
//! Rules this module keeps:
//! - **JUnit as CI systems read it**: `<testsuites>` of `<testsuite
//!   name="ARCH/PROGRAM">`, each `<testcase classname="ARCH/PROGRAM">`; a
//!   failed case has a `<failure message="...">` whose body is the useful
//!   text (the reason, then the console tail: GitLab shows only the body);
//!   a skipped case has `<skipped/>`. Attachments (cores) are listed in the
//!   suite's `<system-out>` as `[[ATTACHMENT|PATH]]` lines.
//! - **Crashes have their place already**: [`Suite::crashes`] (the crash
//!   service's symbolized reports and core paths) is empty until that
//!   service exists; both writers already emit it (JSON `crashes`, JUnit
//!   failure bodies and attachments).
//! - Text is escaped for XML 1.0: characters XML cannot carry (escape
//!   sequences of a console, other control characters) are dropped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How a test case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Passed,
    /// Failed, with a one-line reason.
    Failed(String),
    /// Not run (a crash ended the program before it), with why.
    Skipped(String),
}

/// One test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub status: Status,
    /// What the console showed up to the failure (failed cases only).
    pub console_tail: String,
}

impl Case {
    pub fn passed(name: &str) -> Case {
        Case {
            name: name.into(),
            status: Status::Passed,
            console_tail: String::new(),
        }
    }

    pub fn failed(name: &str, reason: &str, console_tail: &str) -> Case {
        Case {
            name: name.into(),
            status: Status::Failed(reason.into()),
            console_tail: console_tail.into(),
        }
    }
}

/// A crash the crash service reported: its symbolized report and the core
/// file it wrote. None are produced yet (the crash service does not exist);
/// `check` will fill [`Suite::crashes`] from the guest's reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crash {
    /// The test that was running, when known.
    pub test: Option<String>,
    /// The symbolized crash report, as text.
    pub report: String,
    /// The core file on the host.
    pub core: Option<PathBuf>,
}

/// The tests of one program on one architecture.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Suite {
    /// `x86_64`, `aarch64` or `host`.
    pub arch: String,
    pub program: String,
    pub cases: Vec<Case>,
    /// The program's exit status, when it ran to the end.
    pub exit_status: Option<i64>,
    /// Guest instructions from reset to the program's end (`-icount`).
    pub guest_instructions: Option<u64>,
    /// Seconds of wall time: building, and running the guest.
    pub build_seconds: f64,
    pub run_seconds: f64,
    /// What the program printed.
    pub output: String,
    /// The crash service's reports (empty until it exists).
    pub crashes: Vec<Crash>,
}

impl Suite {
    pub fn name(&self) -> String {
        format!("{}/{}", self.arch, self.program)
    }

    pub fn passed(&self) -> usize {
        self.count(|s| matches!(s, Status::Passed))
    }

    pub fn failed(&self) -> usize {
        self.count(|s| matches!(s, Status::Failed(_)))
    }

    pub fn skipped(&self) -> usize {
        self.count(|s| matches!(s, Status::Skipped(_)))
    }

    fn count(&self, which: impl Fn(&Status) -> bool) -> usize {
        self.cases.iter().filter(|c| which(&c.status)).count()
    }
}

/// Everything one command ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// `check` or `test`.
    pub name: String,
    pub suites: Vec<Suite>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.suites.iter().map(Suite::passed).sum()
    }

    pub fn failed(&self) -> usize {
        self.suites.iter().map(Suite::failed).sum()
    }

    /// The report as JUnit XML.
    pub fn junit(&self) -> String {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let time: f64 = self
            .suites
            .iter()
            .map(|s| s.build_seconds + s.run_seconds)
            .sum();
        let _ = writeln!(
            xml,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{time:.3}\">",
            escape(&self.name),
            self.suites.iter().map(|s| s.cases.len()).sum::<usize>(),
            self.failed(),
        );
        for suite in &self.suites {
            junit_suite(&mut xml, suite);
        }
        xml.push_str("</testsuites>\n");
        xml
    }

    /// The report as JSON (pretty-printed).
    pub fn json(&self) -> String {
        let suites: Vec<serde_json::Value> = self.suites.iter().map(json_suite).collect();
        let value = serde_json::json!({
            "name": self.name,
            "passed": self.passed(),
            "failed": self.failed(),
            "suites": suites,
        });
        serde_json::to_string_pretty(&value).expect("JSON values serialize") + "\n"
    }

    /// Write the JUnit and JSON files (creating their directories).
    pub fn write(&self, junit: Option<&Path>, json: Option<&Path>) -> Result<(), String> {
        for (path, text) in [(junit, self.junit()), (json, self.json())] {
            let Some(path) = path else { continue };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            std::fs::write(path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

fn junit_suite(xml: &mut String, suite: &Suite) {
    let name = escape(&suite.name());
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        suite.cases.len(),
        suite.failed(),
        suite.skipped(),
        suite.run_seconds,
    );
    xml.push_str("    <properties>\n");
    let mut properties = vec![
        ("arch", suite.arch.clone()),
        ("program", suite.program.clone()),
    ];
    if let Some(code) = suite.exit_status {
        properties.push(("exit_status", code.to_string()));
    }
    if let Some(count) = suite.guest_instructions {
        properties.push(("guest_instructions", count.to_string()));
    }
    properties.push(("build_seconds", format!("{:.3}", suite.build_seconds)));
    for (key, value) in properties {
        let _ = writeln!(
            xml,
            "      <property name=\"{key}\" value=\"{}\"/>",
            escape(&value)
        );
    }
    xml.push_str("    </properties>\n");
    for case in &suite.cases {
        let _ = write!(
            xml,
            "    <testcase name=\"{}\" classname=\"{name}\" time=\"0\"",
            escape(&case.name)
        );
        match &case.status {
            Status::Passed => xml.push_str("/>\n"),
            Status::Skipped(why) => {
                let _ = writeln!(
                    xml,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(why)
                );
            }
            Status::Failed(reason) => {
                let mut body = format!("{reason}\n");
                if !case.console_tail.is_empty() {
                    let _ = write!(body, "\nconsole:\n{}", case.console_tail);
                }
                for crash in suite
                    .crashes
                    .iter()
                    .filter(|c| c.test.as_ref() == Some(&case.name))
                {
                    let _ = write!(body, "\ncrash report:\n{}", crash.report);
                }
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\" type=\"failure\">{}</failure>\n    </testcase>",
                    escape(reason),
                    escape(&body)
                );
            }
        }
    }
    let mut out = suite.output.clone();
    for crash in &suite.crashes {
        if let Some(core) = &crash.core {
            let _ = write!(out, "\n[[ATTACHMENT|{}]]", core.display());
        }
    }
    let _ = writeln!(xml, "    <system-out>{}</system-out>", escape(&out));
    xml.push_str("  </testsuite>\n");
}

fn json_suite(suite: &Suite) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = suite
        .cases
        .iter()
        .map(|case| {
            let (status, reason) = match &case.status {
                Status::Passed => ("passed", None),
                Status::Failed(reason) => ("failed", Some(reason)),
                Status::Skipped(why) => ("skipped", Some(why)),
            };
            serde_json::json!({
                "name": case.name,
                "classname": suite.name(),
                "status": status,
                "reason": reason,
                "console_tail": case.console_tail,
            })
        })
        .collect();
    let crashes: Vec<serde_json::Value> = suite
        .crashes
        .iter()
        .map(|crash| {
            serde_json::json!({
                "test": crash.test,
                "report": crash.report,
                "core": crash.core.as_ref().map(|p| p.display().to_string()),
            })
        })
        .collect();
    serde_json::json!({
        "name": suite.name(),
        "arch": suite.arch,
        "program": suite.program,
        "passed": suite.passed(),
        "failed": suite.failed(),
        "skipped": suite.skipped(),
        "exit_status": suite.exit_status,
        "guest_instructions": suite.guest_instructions,
        "build_seconds": suite.build_seconds,
        "run_seconds": suite.run_seconds,
        "tests": cases,
        "crashes": crashes,
        "output": suite.output,
    })
}

/// Escape text for an XML attribute or element, dropping the characters
/// XML 1.0 cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            name: "check".into(),
            suites: vec![Suite {
                arch: "x86_64".into(),
                program: "hello".into(),
                cases: vec![
                    Case::passed("adds"),
                    Case::failed("fails", "a < b & \"c\"", "line\u{1b}[0m one\n"),
                    Case {
                        name: "later".into(),
                        status: Status::Skipped("not run".into()),
                        console_tail: String::new(),
                    },
                ],
                exit_status: Some(1),
                guest_instructions: Some(123),
                output: "hello <world>\n".into(),
                ..Suite::default()
            }],
        }
    }

    #[test]
    fn junit_escapes_and_counts() {
        let xml = sample().junit();
        assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
        assert!(xml.contains("classname=\"x86_64/hello\""), "{xml}");
        assert!(xml.contains("a &lt; b &amp; &quot;c&quot;"), "{xml}");
        assert!(xml.contains("hello &lt;world&gt;"), "{xml}");
        assert!(!xml.contains('\u{1b}'), "{xml}");
        assert!(xml.contains("<skipped message=\"not run\"/>"), "{xml}");
    }

    #[test]
    fn json_says_the_same() {
        let value: serde_json::Value = serde_json::from_str(&sample().json()).unwrap();
        assert_eq!(value["passed"], 1);
        assert_eq!(value["failed"], 1);
        let suite = &value["suites"][0];
        assert_eq!(suite["name"], "x86_64/hello");
        assert_eq!(suite["tests"][1]["status"], "failed");
        assert_eq!(suite["tests"][2]["status"], "skipped");
        assert_eq!(suite["guest_instructions"], 123);
        assert_eq!(suite["crashes"], serde_json::json!([]));
    }

    #[test]
    fn cores_are_attachments() {
        let mut report = sample();
        report.suites[0].crashes.push(Crash {
            test: Some("fails".into()),
            report: "#0 in main".into(),
            core: Some("/tmp/core.1".into()),
        });
        let xml = report.junit();
        assert!(xml.contains("[[ATTACHMENT|/tmp/core.1]]"), "{xml}");
        assert!(xml.contains("crash report:\n#0 in main"), "{xml}");
    }
}
