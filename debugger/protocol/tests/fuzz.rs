//! Random input never panics the decoder, and random payloads survive COBS.

use proptest::prelude::*;
use spinel_debug_protocol::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_streams_never_panic(stream in proptest::collection::vec(any::<u8>(), 0..600),
                                  chunk in 1usize..64) {
        let mut decoder = FrameDecoder::with_limit(256);
        for piece in stream.chunks(chunk) {
            decoder.push(piece);
            while let Some(frame) = decoder.next_frame() {
                match frame {
                    Ok(frame) => {
                        prop_assert!(frame.len() <= 256);
                        let _ = decode_host_message(&frame);
                        let _ = decode::<AgentMessage>(&frame);
                    }
                    Err(error) => {
                        let _ = error.to_decode_error();
                    }
                }
            }
            prop_assert!(decoder.pending() <= 256);
        }
    }

    #[test]
    fn random_frames_never_panic(frame in proptest::collection::vec(1u8..=255, 0..300)) {
        let _ = decode_host_message(&frame);
        let _ = decode::<AgentMessage>(&frame);
        let _ = peek_request_id(&frame);
    }

    #[test]
    fn mutated_requests_never_panic(id in any::<u32>(), address in any::<u64>(),
                                    data in proptest::collection::vec(any::<u8>(), 0..64),
                                    flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let message = HostMessage::Request(Request {
            id,
            command: Command::WriteMemory { process: 3, address, bytes: data },
        });
        let mut frame = encode(&message).unwrap();
        frame.pop();
        prop_assert_eq!(decode_host_message(&frame), Ok(message));
        for (at, value) in flips {
            let at = at % frame.len();
            frame[at] = value;
        }
        let _ = decode_host_message(&frame);
    }

    #[test]
    fn cobs_round_trips_any_payload(payload in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let message = Reply::Memory(payload);
        let frame = encode(&message).unwrap();
        prop_assert!(!frame[..frame.len() - 1].contains(&0));
        prop_assert_eq!(decode::<Reply>(&frame[..frame.len() - 1]), Ok(message));
    }
}
