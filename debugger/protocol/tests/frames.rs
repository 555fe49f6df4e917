//! Round trips, framing, malformed / truncated / oversized frames and the
//! handshake.

use spinel_debug_protocol::hello::MAGIC;
use spinel_debug_protocol::*;

fn location(function: &str, line: u32) -> SourceLocation {
    SourceLocation {
        function: Some(function.into()),
        file: Some("/src/main.rs".into()),
        line,
        column: 5,
    }
}

fn stop() -> Stop {
    Stop {
        process: 1030,
        thread: 1031,
        exception: ExceptionFacts {
            exception_type: spinel_abi::exception::EXCP_FATAL_PAGE_FAULT,
            arch: ArchFacts::Aarch64 {
                esr: 0x9200_0046,
                far: 0xdead_0000,
            },
            synth_code: 0,
            synth_data: 0,
        },
        breakpoint: None,
        backtrace: vec![
            StackFrame {
                pc: 0x4000_1234,
                locations: vec![location("inner", 3), location("outer", 10)],
            },
            StackFrame {
                pc: 0,
                locations: vec![],
            },
        ],
    }
}

fn registers() -> Registers {
    Registers {
        arch: Arch::X86_64,
        values: (0..20).map(|i| i * 0x1111).collect(),
    }
}

fn every_command() -> Vec<Command> {
    vec![
        Command::ListJobs,
        Command::ListProcesses { job: None },
        Command::ListProcesses { job: Some(7) },
        Command::ListThreads { process: 1 },
        Command::Attach { process: 1 },
        Command::Detach {
            process: 1,
            leave_stopped: true,
        },
        Command::ReadRegisters { thread: 2 },
        Command::WriteRegisters {
            thread: 2,
            registers: registers(),
        },
        Command::ReadMemory {
            process: 1,
            address: u64::MAX - 8,
            length: MAX_MEMORY_TRANSFER,
        },
        Command::WriteMemory {
            process: 1,
            address: 0x1000,
            bytes: vec![0, 1, 2, 0, 0xff],
        },
        Command::SetBreakpoint {
            process: 1,
            location: BreakpointLocation::Address(0x4000),
        },
        Command::SetBreakpoint {
            process: 1,
            location: BreakpointLocation::Function("app::main".into()),
        },
        Command::SetBreakpoint {
            process: 1,
            location: BreakpointLocation::Line {
                file: "main.rs".into(),
                line: 12,
            },
        },
        Command::ClearBreakpoint {
            process: 1,
            breakpoint: 3,
        },
        Command::ListBreakpoints { process: 1 },
        Command::Step { thread: 2 },
        Command::Continue { thread: 2 },
        Command::PassOn { thread: 2 },
        Command::Kill { task: 1 },
        Command::Backtrace { thread: 2 },
        Command::Symbolize {
            process: 1,
            addresses: vec![1, 2, u64::MAX],
        },
    ]
}

fn every_agent_message() -> Vec<AgentMessage> {
    let replies = vec![
        Reply::Done,
        Reply::Jobs(vec![JobInfo {
            koid: 1,
            parent: None,
            name: "root".into(),
        }]),
        Reply::Processes(vec![ProcessInfo {
            koid: 2,
            job: 1,
            name: "init".into(),
            attached: true,
        }]),
        Reply::Threads(vec![ThreadInfo {
            koid: 3,
            name: "main".into(),
            state: ThreadState::InException {
                exception_type: 0x108,
            },
        }]),
        Reply::Attached(Attached {
            process: 2,
            stops: vec![stop()],
        }),
        Reply::Registers(registers()),
        Reply::Memory(vec![0; 4096]),
        Reply::Breakpoint(Breakpoint {
            id: 1,
            location: BreakpointLocation::Address(4),
            addresses: vec![4],
        }),
        Reply::Breakpoints(vec![]),
        Reply::Backtrace(stop().backtrace),
        Reply::Symbols(stop().backtrace),
        Reply::Error(Error::new(ErrorCode::Status(-11), "bad handle")),
        Reply::Error(Error::new(ErrorCode::NotAttached, "attach first")),
    ];
    let mut messages: Vec<AgentMessage> = replies
        .into_iter()
        .enumerate()
        .map(|(id, reply)| {
            AgentMessage::Response(Response {
                id: id as u32,
                reply,
            })
        })
        .collect();
    messages.extend([
        AgentMessage::Hello(Hello::ours("agent")),
        AgentMessage::Refused(Refusal {
            reason: "no".into(),
        }),
        AgentMessage::Event(Event::Stopped(stop())),
        AgentMessage::Event(Event::ThreadStarted {
            process: 1,
            thread: 2,
        }),
        AgentMessage::Event(Event::ThreadExited {
            process: 1,
            thread: 2,
        }),
        AgentMessage::Event(Event::ProcessExited {
            process: 1,
            return_code: -1,
        }),
        AgentMessage::Event(Event::Log("hello".into())),
        AgentMessage::MalformedFrame(MalformedFrame {
            id: Some(4),
            kind: FrameFault::BadCobs,
            detail: "x".into(),
        }),
    ]);
    messages
}

fn every_host_message() -> Vec<HostMessage> {
    let mut messages = vec![HostMessage::Hello(Hello::ours("client"))];
    messages.extend(
        every_command()
            .into_iter()
            .enumerate()
            .map(|(id, command)| {
                HostMessage::Request(Request {
                    id: id as u32 * 1000,
                    command,
                })
            }),
    );
    messages
}

/// Feeds `stream` to a decoder in chunks of `chunk` bytes.
fn frames_of(stream: &[u8], chunk: usize) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    for piece in stream.chunks(chunk) {
        decoder.push(piece);
        while let Some(frame) = decoder.next_frame() {
            out.push(frame);
        }
    }
    assert_eq!(decoder.pending(), 0);
    out
}

#[test]
fn every_message_round_trips() {
    for message in every_host_message() {
        let frame = encode(&message).unwrap();
        assert_eq!(frame.last(), Some(&0));
        assert!(!frame[..frame.len() - 1].contains(&0));
        assert_eq!(decode_host_message(&frame[..frame.len() - 1]), Ok(message));
    }
    for message in every_agent_message() {
        let frame = encode(&message).unwrap();
        assert_eq!(
            decode::<AgentMessage>(&frame[..frame.len() - 1]),
            Ok(message)
        );
    }
}

#[test]
fn our_cobs_decoder_agrees_with_postcards() {
    for message in every_agent_message() {
        let mut frame = encode(&message).unwrap();
        let ours = frame::cobs_decode(&frame[..frame.len() - 1], false).unwrap();
        assert_eq!(ours, postcard::to_allocvec(&message).unwrap());
        let theirs: AgentMessage = postcard::from_bytes_cobs(&mut frame).unwrap();
        assert_eq!(theirs, message);
    }
}

#[test]
fn a_stream_splits_into_frames_at_any_chunk_size() {
    let messages = every_host_message();
    let stream: Vec<u8> = messages.iter().flat_map(|m| encode(m).unwrap()).collect();
    for chunk in [1, 2, 3, 7, 64, 1000, stream.len()] {
        let frames = frames_of(&stream, chunk);
        let decoded: Vec<HostMessage> = frames
            .into_iter()
            .map(|frame| decode_host_message(&frame.unwrap()).unwrap())
            .collect();
        assert_eq!(decoded, messages, "chunk size {chunk}");
    }
}

#[test]
fn garbage_between_frames_costs_only_itself() {
    let good = HostMessage::Request(Request {
        id: 9,
        command: Command::ListJobs,
    });
    let mut stream = b"\x03noise\x00\x00\xff\xfe".to_vec();
    stream.push(0);
    stream.extend(encode(&good).unwrap());
    stream.extend(b"\x05ab"); // a frame cut short by a delimiter
    stream.push(0);
    stream.extend(encode(&good).unwrap());
    let frames = frames_of(&stream, 5);
    let results: Vec<_> = frames
        .iter()
        .map(|f| decode_host_message(f.as_ref().unwrap()))
        .collect();
    // Two garbage frames (the empty one between them is skipped), the good
    // one, the cut one, the good one.
    assert_eq!(results.len(), 5);
    assert!(results[0].is_err());
    assert!(results[1].is_err());
    assert_eq!(results[2], Ok(good.clone()));
    assert_eq!(results[3].as_ref().unwrap_err().kind, FrameFault::BadCobs);
    assert_eq!(results[4], Ok(good));
}

#[test]
fn truncated_frames_are_errors_with_their_request_id() {
    let message = HostMessage::Request(Request {
        id: 300,
        command: Command::WriteMemory {
            process: 5,
            address: 0x1000,
            bytes: vec![1; 40],
        },
    });
    let frame = encode(&message).unwrap();
    let body = &frame[..frame.len() - 1];
    for cut in 1..body.len() {
        let error = decode_host_message(&body[..cut]).unwrap_err();
        assert!(matches!(
            error.kind,
            FrameFault::BadCobs | FrameFault::BadMessage
        ));
        // The variant and the id sit in the first bytes.
        if cut >= 4 {
            assert_eq!(error.request_id, Some(300), "cut at {cut}");
        }
        let reply = error.to_agent_message();
        assert!(matches!(
            reply,
            AgentMessage::MalformedFrame(MalformedFrame { .. })
        ));
    }
}

#[test]
fn bad_variants_and_trailing_bytes_are_errors() {
    // Variant 7 of HostMessage does not exist.
    let frame = postcard::to_allocvec_cobs(&(7u32, 1u32)).unwrap();
    let error = decode_host_message(&frame[..frame.len() - 1]).unwrap_err();
    assert_eq!(error.kind, FrameFault::BadMessage);
    assert_eq!(error.request_id, None);

    // Command variant 99 inside a request with id 42: the id is recovered.
    let frame = postcard::to_allocvec_cobs(&(1u32, 42u32, 99u32)).unwrap();
    let error = decode_host_message(&frame[..frame.len() - 1]).unwrap_err();
    assert_eq!(error.kind, FrameFault::BadMessage);
    assert_eq!(error.request_id, Some(42));

    // A valid message followed by junk.
    let mut bytes = postcard::to_allocvec(&HostMessage::Request(Request {
        id: 1,
        command: Command::ListJobs,
    }))
    .unwrap();
    bytes.extend([1, 2, 3]);
    let frame = postcard::to_allocvec_cobs(&Raw(bytes)).unwrap();
    let error = decode_host_message(&frame[..frame.len() - 1]).unwrap_err();
    assert!(error.detail.contains("3 trailing bytes"), "{error}");
    assert_eq!(error.request_id, Some(1));
}

/// Serializes its bytes with no length prefix, to build arbitrary frames.
struct Raw(Vec<u8>);

impl serde::Serialize for Raw {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for byte in &self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

#[test]
fn huge_lengths_inside_a_frame_do_not_allocate_or_panic() {
    // A WriteMemory whose byte count claims 2^32-1 bytes but has 3.
    let frame = postcard::to_allocvec_cobs(&Raw(vec![
        1, 5, 8, 1, 0x80, 0x20, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3,
    ]))
    .unwrap();
    let error = decode_host_message(&frame[..frame.len() - 1]).unwrap_err();
    assert_eq!(error.kind, FrameFault::BadMessage);
    assert_eq!(error.request_id, Some(5));
}

#[test]
fn oversized_frames_are_dropped_and_the_link_recovers() {
    let big = HostMessage::Request(Request {
        id: 77,
        command: Command::WriteMemory {
            process: 1,
            address: 0,
            bytes: vec![0xaa; MAX_FRAME_LEN + 10],
        },
    });
    // The encoder refuses it ...
    assert!(matches!(encode(&big), Err(EncodeError::TooLarge { .. })));
    // ... and a peer that sends it anyway loses only that frame.
    let mut stream = postcard::to_allocvec_cobs(&big).unwrap();
    let small = HostMessage::Request(Request {
        id: 78,
        command: Command::ListJobs,
    });
    stream.extend(encode(&small).unwrap());
    for chunk in [1, 4096, stream.len()] {
        let frames = frames_of(&stream, chunk);
        assert_eq!(frames.len(), 2);
        let error = frames[0].as_ref().unwrap_err().to_decode_error();
        assert_eq!(error.kind, FrameFault::Oversized);
        assert_eq!(error.request_id, Some(77));
        assert_eq!(
            decode_host_message(frames[1].as_ref().unwrap()),
            Ok(small.clone())
        );
    }
    // decode() itself also refuses a frame over the limit.
    let long = vec![1u8; MAX_FRAME_LEN + 1];
    assert_eq!(
        decode::<HostMessage>(&long).unwrap_err().kind,
        FrameFault::Oversized
    );
}

#[test]
fn a_smaller_limit_is_enforced() {
    let mut decoder = FrameDecoder::with_limit(8);
    decoder.push(&[1; 9]);
    decoder.push(&[1; 100]);
    decoder.push(&[0, 2, 7, 0]);
    assert!(matches!(
        decoder.next_frame(),
        Some(Err(FrameError::Oversized { .. }))
    ));
    assert_eq!(decoder.next_frame(), Some(Ok(vec![2, 7])));
    assert_eq!(decoder.next_frame(), None);
}

#[test]
fn the_largest_memory_reply_fits_in_a_frame() {
    let reply = AgentMessage::Response(Response {
        id: u32::MAX,
        reply: Reply::Memory(vec![0; MAX_MEMORY_TRANSFER as usize]),
    });
    let frame = encode(&reply).unwrap();
    assert!(frame.len() - 1 <= MAX_FRAME_LEN);
    let request = HostMessage::Request(Request {
        id: u32::MAX,
        command: Command::WriteMemory {
            process: u64::MAX,
            address: u64::MAX,
            bytes: vec![0xff; MAX_MEMORY_TRANSFER as usize],
        },
    });
    assert!(encode(&request).is_ok());
}

#[test]
fn hello_bytes_are_frozen() {
    let hello = Hello {
        magic: MAGIC,
        version: 1,
        schema_hash: 0x0102_0304_0506_0708,
        software: "ab".into(),
    };
    let bytes = postcard::to_allocvec(&HostMessage::Hello(hello.clone())).unwrap();
    // variant 0, magic "SPDB" as a varint, version 1, hash varint, "ab".
    let mut expected = vec![0];
    expected.extend([0xc2, 0x88, 0xc1, 0x9a, 0x05]);
    expected.push(1);
    expected.extend([0x88, 0x8e, 0x98, 0xa8, 0xc0, 0xe0, 0x80, 0x81, 0x01]);
    expected.extend([2, b'a', b'b']);
    assert_eq!(bytes, expected);
    // The agent's Hello has the same bytes after its own variant index.
    let agent = postcard::to_allocvec(&AgentMessage::Hello(hello)).unwrap();
    assert_eq!(agent, expected);
}

#[test]
fn matching_hellos_are_accepted() {
    let ours = Hello::ours("client");
    assert_eq!(ours.check(&Hello::ours("agent")), Ok(()));
    assert_eq!(ours.version, PROTOCOL_VERSION);
    assert_eq!(ours.schema_hash, SCHEMA_HASH);
}

#[test]
fn version_and_schema_mismatches_are_refused_clearly() {
    let ours = Hello::ours("spinel-debug 0.1.0");
    let mut newer = Hello::ours("spinel-debug-agent 0.2.0");
    newer.version = PROTOCOL_VERSION + 1;
    newer.schema_hash ^= 1;
    // A newer peer's Hello still decodes: its shape is frozen.
    let frame = encode(&AgentMessage::Hello(newer.clone())).unwrap();
    let decoded: AgentMessage = decode(&frame[..frame.len() - 1]).unwrap();
    assert_eq!(decoded, AgentMessage::Hello(newer.clone()));

    let error = ours.check(&newer).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("protocol version mismatch"), "{text}");
    assert!(
        text.contains(&format!("version {}", PROTOCOL_VERSION + 1)),
        "{text}"
    );
    assert!(text.contains("spinel-debug-agent 0.2.0"), "{text}");

    let mut same_version = Hello::ours("agent");
    same_version.schema_hash ^= 0xff;
    let text = ours.check(&same_version).unwrap_err().to_string();
    assert!(text.contains("schema mismatch"), "{text}");
    assert!(text.contains(&format!("{:#018x}", SCHEMA_HASH)), "{text}");

    let mut stranger = Hello::ours("x");
    stranger.magic = 0x1234_5678;
    let error = ours.check(&stranger).unwrap_err();
    assert!(error.to_string().contains("not a Spinel debugger"));
    assert!(error.refusal().reason.contains("not a Spinel debugger"));
}

#[test]
fn errors_display_statuses_by_name() {
    let error = Error::new(ErrorCode::Status(-11), "thread handle");
    assert_eq!(error.to_string(), "BAD_HANDLE (-11): thread handle");
    assert_eq!(exception_name(0x108), "FATAL_PAGE_FAULT");
}
