//! Batch mode against the in-process fake agent, over the real protocol:
//! JSON lines, text with source lines, the handshake refusing mismatched
//! peers, and malformed frames answered without breaking the link.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::Value;
use spinel_debug::connection::{Connection, LinkError};
use spinel_debug::fake_agent::{self, PROCESS, THREAD};
use spinel_debug::render::Style;
use spinel_debug::session::{Output, Session, run_batch};
use spinel_debug_protocol::{
    AgentMessage, Command, FrameDecoder, FrameFault, HandshakeError, Hello, HostMessage, Request,
    decode, encode,
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn connect(arch: &str, hello: Option<Hello>) -> Result<Connection, LinkError> {
    let elf = std::fs::read(common::rust_fixture(arch, 0)).unwrap();
    let (link, _agent) = fake_agent::spawn(elf, hello).unwrap();
    Connection::handshake(Box::new(link), "batch-test", TIMEOUT)
}

fn batch(arch: &str, output: Output, script: &str) -> (String, usize) {
    let connection = connect(arch, None).unwrap();
    let mut out = Vec::new();
    let mut session = Session::new(connection, output, &mut out);
    let failures = run_batch(&mut session, &mut script.as_bytes()).unwrap();
    (String::from_utf8(out).unwrap(), failures)
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// The reply object of the line for `command`.
fn reply<'a>(lines: &'a [Value], command: &str) -> &'a Value {
    let line = lines
        .iter()
        .find(|line| line["command"] == command)
        .unwrap_or_else(|| panic!("no line for `{command}` in {lines:#?}"));
    assert_eq!(line["ok"], true, "{line}");
    &line["reply"]
}

fn events(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter_map(|line| line.get("event")).collect()
}

fn innermost_function(frame: &Value) -> String {
    let locations = frame["locations"].as_array().unwrap();
    locations.last().unwrap()["function"]
        .as_str()
        .unwrap()
        .to_string()
}

const SCRIPT: &str = "\
# a whole session
jobs
ps
threads 1030
attach 1030
bt
regs
setreg rax 0x1234
break checksum
breaks
read 0x7ffeff00 16
continue
step
detach --leave-stopped
attach 1030
pass
";

#[test]
fn a_session_in_json_lines_on_both_arches() {
    for arch in ["x86_64", "aarch64"] {
        let script = if arch == "aarch64" {
            SCRIPT.replace("setreg rax", "setreg x0")
        } else {
            SCRIPT.to_string()
        };
        let (text, failures) = batch(arch, Output::Json, &script);
        assert_eq!(failures, 0, "{text}");
        let lines = json_lines(&text);

        // The watched job, with its parent (the agent lists the jobs it
        // watches and those of the processes it caught).
        let jobs = reply(&lines, "jobs")["Jobs"].as_array().unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0]["koid"], fake_agent::JOB);
        assert_eq!(jobs[0]["parent"], fake_agent::ROOT_JOB);
        assert_eq!(reply(&lines, "ps")["Processes"][0]["koid"], PROCESS);
        let threads = reply(&lines, "threads 1030")["Threads"].as_array().unwrap();
        assert_eq!(threads[0]["state"]["InException"]["exception_type"], 0x108);

        // The stop that was there before attaching, symbolized.
        let attached = &reply(&lines, "attach 1030")["Attached"];
        let stop = &attached["stops"][0];
        assert_eq!(stop["thread"], THREAD);
        assert_eq!(stop["exception"]["exception_type"], 0x108);
        let facts = &stop["exception"]["arch"];
        match arch {
            "x86_64" => assert_eq!(facts["X86_64"]["vector"], 14),
            _ => assert_eq!(facts["Aarch64"]["far"], fake_agent::FAULT_ADDRESS),
        }
        assert_eq!(innermost_function(&stop["backtrace"][0]), "shapes::pick");
        assert_eq!(innermost_function(&stop["backtrace"][1]), "_start");
        let location = &stop["backtrace"][0]["locations"][0];
        assert!(
            location["file"]
                .as_str()
                .unwrap()
                .ends_with("fixtures/shapes.rs")
        );

        let backtrace = reply(&lines, "bt")["Backtrace"].as_array().unwrap();
        assert_eq!(backtrace.len(), 2);
        let registers = &reply(&lines, "regs")["Registers"];
        assert_eq!(
            registers["arch"],
            if arch == "x86_64" {
                "X86_64"
            } else {
                "Aarch64"
            }
        );

        let breakpoint = &reply(&lines, "break checksum")["Breakpoint"];
        assert_eq!(breakpoint["id"], 1);
        assert_eq!(breakpoint["location"]["Function"], "checksum");
        assert_eq!(
            reply(&lines, "breaks")["Breakpoints"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            reply(&lines, "read 0x7ffeff00 16")["Memory"]
                .as_array()
                .unwrap()
                .len(),
            16
        );

        // continue → stop at the breakpoint; step → stop one instruction on;
        // detach leaving it stopped → attach finds the same stop; pass →
        // nobody else handles the fault, the process dies.
        let events = events(&lines);
        let stops: Vec<_> = events.iter().filter_map(|e| e.get("Stopped")).collect();
        assert_eq!(stops.len(), 2, "{events:#?}");
        assert_eq!(stops[0]["breakpoint"], 1);
        assert_eq!(stops[0]["exception"]["exception_type"], 0x308);
        assert_eq!(
            innermost_function(&stops[0]["backtrace"][0]),
            "shapes::checksum"
        );
        assert_eq!(stops[1]["exception"]["exception_type"], 0x408);
        let again = lines
            .iter()
            .filter(|line| line["command"] == "attach 1030")
            .nth(1)
            .unwrap();
        assert_eq!(again["reply"]["Attached"]["stops"][0], *stops[1]);
        let exited = events.iter().find_map(|e| e.get("ProcessExited")).unwrap();
        assert_eq!(exited["return_code"], -1028);
    }
}

#[test]
fn memory_and_registers_are_written_through() {
    let script = "attach 1030\nbreak checksum\nsetreg rax 0x1234\nregs\n";
    let (text, failures) = batch("x86_64", Output::Json, script);
    assert_eq!(failures, 0, "{text}");
    let lines = json_lines(&text);
    let address = reply(&lines, "break checksum")["Breakpoint"]["addresses"][0]
        .as_u64()
        .unwrap();
    let values = reply(&lines, "regs")["Registers"]["values"]
        .as_array()
        .unwrap();
    assert_eq!(values[0], 0x1234);

    // Reads show the program's own bytes through the breakpoint (not the
    // `int3` in memory), before and after `delete`; a write lands.
    let script = format!(
        "attach 1030\nbreak checksum\nread {address:#x} 1\ndelete 1\nread {address:#x} 1\n\
         write {address:#x} 90\nread {address:#x} 1\n"
    );
    let (text, failures) = batch("x86_64", Output::Json, &script);
    assert_eq!(failures, 0, "{text}");
    let reads: Vec<Value> = json_lines(&text)
        .into_iter()
        .filter(|line| line["command"].as_str().unwrap().starts_with("read"))
        .map(|line| line["reply"]["Memory"][0].clone())
        .collect();
    assert_ne!(reads[0], 0xcc);
    assert_eq!(reads[0], reads[1]);
    assert_eq!(reads[2], 0x90);
}

#[test]
fn failures_are_reported_and_counted() {
    let script = "regs\nattach 999\nfrobnicate\nread 1030 0x50000000 4\nbreak 1030 no_such_fn\nwait 0.05\njobs\n";
    let (text, failures) = batch("x86_64", Output::Json, script);
    let lines = json_lines(&text);
    assert_eq!(failures, 6, "{text}");
    let line = |command: &str| lines.iter().find(|l| l["command"] == command).unwrap();
    assert!(
        line("regs")["error"]
            .as_str()
            .unwrap()
            .contains("which thread")
    );
    assert_eq!(line("attach 999")["reply"]["Error"]["code"], "NotFound");
    assert!(
        line("frobnicate")["error"]
            .as_str()
            .unwrap()
            .contains("unknown command")
    );
    assert_eq!(
        line("read 1030 0x50000000 4")["reply"]["Error"]["code"]["Status"],
        -4
    );
    assert_eq!(
        line("break 1030 no_such_fn")["reply"]["Error"]["code"],
        "NotAttached"
    );
    assert!(
        line("wait 0.05")["error"]
            .as_str()
            .unwrap()
            .contains("no event")
    );
    // The session went on after every failure.
    assert_eq!(line("jobs")["ok"], true);
}

#[test]
fn text_output_shows_the_stop_with_source_and_backtrace() {
    let style = Style { color: false };
    let (text, failures) = batch("x86_64", Output::Text(style), "attach 1030\nbt\nhelp\n");
    assert_eq!(failures, 0, "{text}");
    assert!(text.contains("(spinel-debug) attach 1030"), "{text}");
    assert!(text.contains("stopped: FATAL_PAGE_FAULT (0x108)"), "{text}");
    assert!(text.contains("#PF page fault (vector 14)"), "{text}");
    assert!(text.contains("cr2 0x10"), "{text}");
    assert!(
        text.contains("fn pick(data: &[u64; 16], index: usize) -> u64"),
        "{text}"
    );
    assert!(text.contains("backtrace:"), "{text}");
    assert!(text.contains("in shapes::pick at"), "{text}");
    assert!(text.contains("in _start at"), "{text}");
    assert!(text.contains("continue [TID]"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when asked for none");

    let (text, _) = batch(
        "aarch64",
        Output::Text(Style { color: true }),
        "attach 1030\n",
    );
    assert!(text.contains("data abort from a lower EL"), "{text}");
    assert!(text.contains("\x1b[1;31m"), "colour when asked for");
}

#[test]
fn the_binary_runs_a_batch_file() {
    let elf = common::rust_fixture("x86_64", 2);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let script = dir.join("batch-script.txt");
    std::fs::write(
        &script,
        "attach 1030\nbreak checksum\ncontinue\nkill 1030\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_spinel-debug"))
        .arg("--fake-agent")
        .arg(&elf)
        .arg("--batch")
        .arg(&script)
        .arg("--json")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&text);
    assert_eq!(lines.iter().filter(|l| l["ok"] == true).count(), 4);
    assert!(
        events(&lines)
            .iter()
            .any(|e| e.get("ProcessExited").is_some())
    );

    // A failing command makes the exit status 1; stdin works as the input.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_spinel-debug"))
        .arg("--fake-agent")
        .arg(&elf)
        .args(["--batch", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"jobs\nregs 1\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 2);
}

#[test]
fn mismatched_agents_are_refused_with_a_clear_message() {
    let mut newer = Hello::ours("spinel-agent 9.9");
    newer.version += 1;
    match connect("x86_64", Some(newer)) {
        Err(LinkError::Handshake(HandshakeError::VersionMismatch { theirs, .. })) => {
            assert_eq!(theirs, spinel_debug_protocol::PROTOCOL_VERSION + 1);
        }
        other => panic!("{other:?}"),
    }
    let mut different = Hello::ours("spinel-agent");
    different.schema_hash ^= 1;
    let error = connect("x86_64", Some(different)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("message schema mismatch"), "{message}");
    assert!(
        message.contains("rebuild both from one Spinel tree"),
        "{message}"
    );
}

/// Raw frames to the fake agent, and what comes back.
struct Raw {
    link: UnixStream,
    decoder: FrameDecoder,
}

impl Raw {
    fn new(hello: Option<Hello>) -> Raw {
        let elf = std::fs::read(common::rust_fixture("x86_64", 0)).unwrap();
        let (link, _agent) = fake_agent::spawn(elf, hello).unwrap();
        link.set_read_timeout(Some(TIMEOUT)).unwrap();
        Raw {
            link,
            decoder: FrameDecoder::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.link.write_all(bytes).unwrap();
    }

    fn receive(&mut self) -> AgentMessage {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                return decode(&frame.unwrap()).unwrap();
            }
            let count = self.link.read(&mut buffer).unwrap();
            assert!(count > 0, "the agent hung up");
            self.decoder.push(&buffer[..count]);
        }
    }

    fn request(id: u32, command: Command) -> Vec<u8> {
        encode(&HostMessage::Request(Request { id, command })).unwrap()
    }
}

#[test]
fn malformed_frames_get_error_replies_and_the_link_keeps_working() {
    let mut raw = Raw::new(None);
    raw.send(&encode(&HostMessage::Hello(Hello::ours("raw"))).unwrap());
    assert!(matches!(raw.receive(), AgentMessage::Hello(_)));

    // Garbage, a truncated request (with a readable id), an oversized one.
    raw.send(b"\x02\x00\x00");
    match raw.receive() {
        AgentMessage::MalformedFrame(report) => {
            assert_eq!(report.kind, FrameFault::BadCobs);
            assert_eq!(report.id, None);
        }
        other => panic!("{other:?}"),
    }
    let mut cut = Raw::request(
        41,
        Command::WriteMemory {
            process: 1030,
            address: 0,
            bytes: vec![7; 100],
        },
    );
    cut.truncate(30);
    cut.push(0);
    raw.send(&cut);
    match raw.receive() {
        AgentMessage::MalformedFrame(report) => {
            assert_eq!(report.kind, FrameFault::BadCobs);
            assert_eq!(report.id, Some(41));
        }
        other => panic!("{other:?}"),
    }
    let huge = postcard::to_allocvec_cobs(&HostMessage::Request(Request {
        id: 42,
        command: Command::WriteMemory {
            process: 1030,
            address: 0,
            bytes: vec![1; spinel_debug_protocol::MAX_FRAME_LEN],
        },
    }))
    .unwrap();
    raw.send(&huge);
    match raw.receive() {
        AgentMessage::MalformedFrame(report) => {
            assert_eq!(report.kind, FrameFault::Oversized);
            assert_eq!(report.id, Some(42));
        }
        other => panic!("{other:?}"),
    }
    // The link still works.
    raw.send(&Raw::request(43, Command::ListJobs));
    match raw.receive() {
        AgentMessage::Response(response) => assert_eq!(response.id, 43),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refusing_agent_refuses_every_request() {
    let mut newer = Hello::ours("future agent");
    newer.version += 7;
    let mut raw = Raw::new(Some(newer.clone()));
    raw.send(&encode(&HostMessage::Hello(Hello::ours("raw"))).unwrap());
    assert_eq!(raw.receive(), AgentMessage::Hello(newer));
    let AgentMessage::Refused(refusal) = raw.receive() else {
        panic!("expected a refusal");
    };
    assert!(
        refusal.reason.contains("protocol version mismatch"),
        "{}",
        refusal.reason
    );
    raw.send(&Raw::request(1, Command::ListJobs));
    assert!(matches!(raw.receive(), AgentMessage::Refused(_)));
}
