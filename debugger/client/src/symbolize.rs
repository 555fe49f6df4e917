//! `spinel-debug symbolize`: llvm-symbolizer's command line and output.
//!
//! For each address the inline chain is printed innermost first, one
//! `function` line and one `file:line:column` line per frame, then a blank
//! line; `??` and `??:0:0` stand for what is unknown. Addresses come from
//! the command line or, when there are none, one per line from standard
//! input, read the way llvm-symbolizer 14 reads them: the first word of the
//! line, optionally after `CODE` or `DATA`; `0x` for hex, a leading `0` for
//! octal, decimal otherwise. A line that is not an address is echoed back
//! and answered with nothing else, as llvm-symbolizer does; so is an empty
//! line.

use std::io::{BufRead, Write};

use spinel_symbolize::{NameStyle, Symbolizer};

/// What one input asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Query {
    Code(u64),
    Data(u64),
}

/// Parses one input as llvm-symbolizer 14 does (`[CODE|DATA] ADDRESS ...`).
fn parse_query(input: &str) -> Option<Query> {
    let delimiters = [' ', '\n', '\r'];
    let mut rest = input.trim_start_matches(delimiters);
    let mut data = false;
    if let Some(after) = rest.strip_prefix("CODE ") {
        rest = after;
    } else if let Some(after) = rest.strip_prefix("DATA ") {
        rest = after;
        data = true;
    }
    let rest = rest.trim_start_matches(delimiters);
    let word = rest.split(delimiters).next().unwrap_or("");
    let address = parse_auto_radix(word)?;
    Some(if data {
        Query::Data(address)
    } else {
        Query::Code(address)
    })
}

/// LLVM's `getAsInteger(0, …)`: `0x`/`0X` hex, `0b`/`0B` binary, `0o`/`0`
/// octal, decimal otherwise; the whole word must be digits.
pub fn parse_auto_radix(word: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = word.strip_prefix("0x").or(word.strip_prefix("0X")) {
        (hex, 16)
    } else if let Some(binary) = word.strip_prefix("0b").or(word.strip_prefix("0B")) {
        (binary, 2)
    } else if let Some(octal) = word.strip_prefix("0o") {
        (octal, 8)
    } else if word.len() > 1 && word.starts_with('0') {
        (&word[1..], 8)
    } else {
        (word, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Options of one `symbolize` run (from `cli::SymbolizeArgs`).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub elf: Option<String>,
    pub print_addresses: bool,
    pub demangle: bool,
    pub readable: bool,
    pub inputs: Vec<String>,
}

/// Writes the answer for one input line.
fn answer(
    symbolizer: Option<&Symbolizer>,
    options: &Options,
    input: &str,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let Some(query) = parse_query(input) else {
        return writeln!(out, "{input}");
    };
    if options.print_addresses {
        let (Query::Code(address) | Query::Data(address)) = query;
        writeln!(out, "{address:#x}")?;
    }
    let mut text = String::new();
    match (query, symbolizer) {
        (Query::Code(address), Some(symbolizer)) => {
            symbolizer
                .write_llvm(address, &mut text)
                .expect("writing to a String");
        }
        (Query::Data(address), Some(symbolizer)) => match symbolizer.data_symbol_for(address) {
            Some((name, start, size)) => text = format!("{name}\n{start} {size}\n"),
            None => text.push_str("??\n0 0\n"),
        },
        (Query::Code(_), None) => text.push_str("??\n??:0:0\n"),
        (Query::Data(_), None) => text.push_str("??\n0 0\n"),
    }
    writeln!(out, "{text}")
}

/// Answers one line of standard input (without its `\n`).
fn answer_line(
    symbolizer: Option<&Symbolizer>,
    options: &Options,
    line: &[u8],
    out: &mut impl Write,
) -> std::io::Result<()> {
    let line = String::from_utf8_lossy(line);
    let input = line.strip_suffix('\r').unwrap_or(&line);
    answer(symbolizer, options, input, out)
}

/// Runs the command; returns the process exit code.
pub fn run(
    options: &Options,
    stdin: &mut dyn BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<i32> {
    let path = options.elf.as_deref().unwrap_or_default();
    // As llvm-symbolizer 19: a file that cannot be read or is no ELF it
    // handles is an error on stderr and exit status 1, with no answers.
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            writeln!(err, "spinel-debug: error: '{path}': {error}")?;
            return Ok(1);
        }
    };
    // Split DWARF, found where llvm-symbolizer finds it: `FILE.dwp`, else
    // each unit's .dwo by its compilation directory.
    let package = std::fs::read(format!("{path}.dwp")).ok();
    let split = spinel_symbolize::SplitDwarf {
        package: package.as_deref(),
        load_dwo: Some(Box::new(|comp_dir: Option<&str>, name: &str| {
            std::fs::read(std::path::Path::new(comp_dir.unwrap_or("")).join(name)).ok()
        })),
    };
    let style = if !options.demangle {
        NameStyle::Raw
    } else if options.readable {
        NameStyle::Readable
    } else {
        NameStyle::Llvm
    };
    let symbolizer = match Symbolizer::with_split_dwarf(&bytes, split) {
        Ok(symbolizer) => symbolizer.with_style(style),
        Err(error) => {
            writeln!(err, "spinel-debug: error: '{path}': {error}")?;
            return Ok(1);
        }
    };
    if let Some(problem) = symbolizer.dwarf_problem() {
        writeln!(err, "spinel-debug: warning: '{path}': {problem}")?;
    }
    let symbolizer = Some(&symbolizer);
    // Answers are buffered and flushed whenever the input read so far is
    // answered (before waiting for more): one write per chunk of input, not
    // per line, and still an answer for every line a pipe has sent.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    if options.inputs.is_empty() {
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let chunk = stdin.fill_buf()?;
            let read = chunk.len();
            let end = read == 0;
            pending.extend_from_slice(chunk);
            stdin.consume(read);
            let mut start = 0;
            while let Some(length) = pending[start..].iter().position(|&b| b == b'\n') {
                answer_line(
                    symbolizer,
                    options,
                    &pending[start..start + length],
                    &mut out,
                )?;
                start += length + 1;
            }
            pending.drain(..start);
            if end {
                if !pending.is_empty() {
                    answer_line(symbolizer, options, &pending, &mut out)?;
                }
                break;
            }
            out.flush()?;
        }
    } else {
        for input in &options.inputs {
            answer(symbolizer, options, input, &mut out)?;
        }
    }
    out.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_file_is_an_error_and_exit_status_1() {
        for path in ["/nonexistent/elf", "/proc/self/cmdline"] {
            let options = Options {
                elf: Some(path.into()),
                demangle: true,
                inputs: vec!["0x10".into()],
                ..Options::default()
            };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = run(&options, &mut &b""[..], &mut out, &mut err).unwrap();
            assert_eq!(code, 1, "{path}");
            assert!(out.is_empty(), "{path}: no answers");
            let err = String::from_utf8(err).unwrap();
            assert!(
                err.starts_with(&format!("spinel-debug: error: '{path}': ")),
                "{err}"
            );
        }
    }

    #[test]
    fn addresses_parse_like_llvm() {
        assert_eq!(parse_query("0x1139"), Some(Query::Code(0x1139)));
        assert_eq!(parse_query("0X1139"), Some(Query::Code(0x1139)));
        assert_eq!(parse_query("4409"), Some(Query::Code(4409)));
        assert_eq!(parse_query("01000"), Some(Query::Code(0o1000)));
        assert_eq!(parse_query("0"), Some(Query::Code(0)));
        assert_eq!(parse_query("  0x10  junk"), Some(Query::Code(0x10)));
        assert_eq!(parse_query("CODE 0x10"), Some(Query::Code(0x10)));
        assert_eq!(parse_query("DATA 0x10"), Some(Query::Data(0x10)));
        assert_eq!(parse_query("zzz"), None);
        assert_eq!(parse_query(""), None);
        assert_eq!(parse_query("0x"), None);
        assert_eq!(parse_query("09"), None);
        assert_eq!(parse_query("0x1g"), None);
    }
}
