//! The reader's answers to good, malformed and odd files.

use super::*;

/// A minimal ELF64 executable for tests: `segments` are (vaddr, flags,
/// bytes, memsz).
pub fn build(machine: u16, entry: u64, segments: &[(u64, u32, &[u8], u64)]) -> Vec<u8> {
    let mut file = vec![0u8; HEADER_LEN + PROGRAM_HEADER_LEN * segments.len()];
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = ELFCLASS64;
    file[5] = ELFDATA2LSB;
    file[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
    file[18..20].copy_from_slice(&machine.to_le_bytes());
    file[24..32].copy_from_slice(&entry.to_le_bytes());
    file[32..40].copy_from_slice(&(HEADER_LEN as u64).to_le_bytes());
    file[54..56].copy_from_slice(&(PROGRAM_HEADER_LEN as u16).to_le_bytes());
    file[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
    for (index, (vaddr, flags, bytes, memsz)) in segments.iter().enumerate() {
        let offset = file.len() as u64;
        file.extend_from_slice(bytes);
        let ph = HEADER_LEN + index * PROGRAM_HEADER_LEN;
        file[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        file[ph + 4..ph + 8].copy_from_slice(&flags.to_le_bytes());
        file[ph + 8..ph + 16].copy_from_slice(&offset.to_le_bytes());
        file[ph + 16..ph + 24].copy_from_slice(&vaddr.to_le_bytes());
        file[ph + 32..ph + 40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        file[ph + 40..ph + 48].copy_from_slice(&memsz.to_le_bytes());
    }
    file
}

const PAGE: u64 = 4096;

fn parse(file: &[u8]) -> Result<Vec<Segment>, Error> {
    let (header, program) = Program::from_file(file, PAGE)?;
    header.check_executable(EM_X86_64)?;
    Ok(program.segments().collect())
}

#[test]
fn reads_segments_with_their_permissions_and_pages() {
    let file = build(
        EM_X86_64,
        0x20_0010,
        &[
            (0x20_0000, 5, b"\x90\x90\xcc", 3),
            (0x20_1008, 6, b"data", 0x2000),
        ],
    );
    let (header, program) = Program::from_file(&file, PAGE).unwrap();
    assert_eq!(header.entry, 0x20_0010);
    assert_eq!(program.entry, 0x20_0010);
    let segments: Vec<Segment> = program.segments().collect();
    assert_eq!(segments.len(), 2);
    let text = segments[0];
    assert!(text.executable && !text.writable);
    assert_eq!(text.pages(), 0x20_0000..0x20_1000);
    assert_eq!(
        &file[text.file_range().start as usize..][..3],
        b"\x90\x90\xcc"
    );
    let data = segments[1];
    assert!(data.writable && !data.executable);
    assert_eq!(data.pages(), 0x20_1000..0x20_4000);
    assert_eq!(data.pages_len(), 3 * PAGE);
    assert_eq!(data.offset_in_pages(), 8);
    assert_eq!((data.filesz, data.memsz), (4, 0x2000));
}

#[test]
fn reading_in_pieces_agrees_with_the_whole_file() {
    let file = build(EM_AARCH64, 0x20_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
    let header = Header::parse(&file[..HEADER_LEN]).unwrap();
    assert_eq!(header.machine, EM_AARCH64);
    let range = header.program_headers().unwrap();
    let table = &file[range.start as usize..range.end as usize];
    let program = Program::parse(&header, table, file.len() as u64, PAGE).unwrap();
    let (_, whole) = Program::from_file(&file, PAGE).unwrap();
    assert!(program.segments().eq(whole.segments()));
    // The table alone must come with the file's true length.
    assert!(Program::parse(&header, table, 10, PAGE).is_err());
    assert!(Program::parse(&header, &table[..10], file.len() as u64, PAGE).is_err());
}

#[test]
fn bad_magic_class_machine_and_kind_are_refused() {
    let ok = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
    assert!(parse(&ok).is_ok());
    assert_eq!(parse(b"hello"), Err(Error::NotElf));
    assert_eq!(parse(b""), Err(Error::NotElf));
    let mut bad = ok.clone();
    bad[4] = 1; // 32-bit
    assert!(matches!(parse(&bad), Err(Error::Unsupported(_))));
    let mut bad = ok.clone();
    bad[5] = 2; // big-endian
    assert!(matches!(parse(&bad), Err(Error::Unsupported(_))));
    let mut bad = ok.clone();
    bad[16] = 3; // ET_DYN
    assert!(matches!(parse(&bad), Err(Error::Unsupported(_))));
    let arm = build(EM_AARCH64, 0x20_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
    assert_eq!(
        parse(&arm),
        Err(Error::Unsupported("built for another machine"))
    );
}

#[test]
fn truncated_files_are_errors() {
    let ok = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
    assert_eq!(parse(&ok[..20]), Err(TRUNCATED));
    for len in 0..ok.len() {
        assert!(parse(&ok[..len]).is_err(), "{len} bytes");
    }
    let mut bad = ok.clone();
    bad[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // phoff
    assert!(matches!(parse(&bad), Err(Error::Malformed(_))));
    let mut bad = ok.clone();
    bad[54..56].copy_from_slice(&8u16.to_le_bytes()); // phentsize
    assert!(matches!(parse(&bad), Err(Error::Malformed(_))));
    let mut bad = ok.clone();
    bad[56..58].copy_from_slice(&u16::MAX.to_le_bytes()); // phnum
    assert!(matches!(parse(&bad), Err(Error::Unsupported(_))));
}

#[test]
fn odd_segments_are_errors() {
    let no_entry = build(EM_X86_64, 0x30_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
    assert!(matches!(parse(&no_entry), Err(Error::Malformed(_))));
    let entry_in_data = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 6, b"\xcc", 1)]);
    assert!(matches!(parse(&entry_in_data), Err(Error::Malformed(_))));
    let wx = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 7, b"\xcc", 1)]);
    assert!(matches!(parse(&wx), Err(Error::Unsupported(_))));
    let overlap = build(
        EM_X86_64,
        0x20_0000,
        &[(0x20_0000, 5, b"\xcc", 1), (0x20_0800, 4, b"x", 1)],
    );
    assert_eq!(parse(&overlap), Err(Error::Malformed("segments overlap")));
    let small_file_big_memory = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 5, b"\xcc\xcc", 1)]);
    assert!(matches!(
        parse(&small_file_big_memory),
        Err(Error::Malformed(_))
    ));
    let wraps = build(EM_X86_64, 0x20_0000, &[(u64::MAX - 8, 5, b"\xcc", 16)]);
    assert!(matches!(parse(&wraps), Err(Error::Malformed(_))));
    let mut outside = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
    outside[HEADER_LEN + 8..HEADER_LEN + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        parse(&outside),
        Err(Error::Malformed("segment data outside the file"))
    );
    let mut huge = build(EM_X86_64, 0x20_0000, &[(0x20_0000, 5, b"\xcc", 1)]);
    huge[HEADER_LEN + 32..HEADER_LEN + 40].copy_from_slice(&u64::MAX.to_le_bytes()); // filesz
    huge[HEADER_LEN + 40..HEADER_LEN + 48].copy_from_slice(&u64::MAX.to_le_bytes()); // memsz
    assert!(matches!(parse(&huge), Err(Error::Malformed(_))));
}

#[test]
fn empty_and_other_segments_are_skipped() {
    let mut file = build(
        EM_X86_64,
        0x20_0000,
        &[
            (0x20_0000, 5, b"\xcc", 1),
            (0x20_0000, 6, b"", 0),
            (0x40_0000, 6, b"", 8),
        ],
    );
    // Make the third a PT_NOTE: not loaded, not checked for overlap.
    let third = HEADER_LEN + 2 * PROGRAM_HEADER_LEN;
    file[third..third + 4].copy_from_slice(&4u32.to_le_bytes());
    let segments = parse(&file).unwrap();
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].vaddr, 0x20_0000);
}

#[test]
fn every_corrupted_byte_is_an_answer_not_a_panic() {
    let good = build(
        EM_X86_64,
        0x20_0010,
        &[
            (0x20_0000, 5, b"\x90\x90\xcc", 3),
            (0x20_1008, 6, b"data", 0x2000),
        ],
    );
    for at in 0..good.len() {
        for value in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] = value;
            if let Ok(segments) = parse(&bad) {
                for segment in segments {
                    assert!(segment.page_start <= segment.vaddr);
                    assert!(segment.vaddr + segment.memsz <= segment.page_end);
                    assert!(segment.file_range().end <= bad.len() as u64);
                }
            }
        }
    }
}
