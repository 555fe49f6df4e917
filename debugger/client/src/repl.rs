//! The interactive front end: line editing, history, completion of command
//! names, colour on a terminal.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::commands::COMMANDS;
use crate::connection::LinkError;
use crate::session::{Flow, Session};

/// Completes command names (the first word of a line).
#[derive(Debug, Default)]
pub struct CommandHelper;

impl Completer for CommandHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _context: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok((0, complete_command(&line[..pos])))
    }
}

/// Completion candidates for the start of a line.
pub fn complete_command(prefix: &str) -> Vec<Pair> {
    if prefix.contains(char::is_whitespace) {
        return Vec::new();
    }
    COMMANDS
        .iter()
        .filter(|(name, _, _)| name.starts_with(prefix))
        .map(|(name, args, _)| Pair {
            display: format!("{name} {args}"),
            replacement: format!("{name} "),
        })
        .collect()
}

impl Hinter for CommandHelper {
    type Hint = String;
}

impl Highlighter for CommandHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for CommandHelper {}

impl Helper for CommandHelper {}

fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".spinel_debug_history"))
}

/// Reads commands until `quit` or end of input.
pub fn run<W: Write>(session: &mut Session<W>) -> Result<(), LinkError> {
    let mut editor: Editor<CommandHelper, rustyline::history::DefaultHistory> =
        Editor::new().map_err(|e| LinkError::Protocol(e.to_string()))?;
    editor.set_helper(Some(CommandHelper));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let greeting = format!(
        "connected to {} (protocol {}); `help` lists the commands",
        session.connection.agent.software, session.connection.agent.version
    );
    writeln!(session.out(), "{greeting}")?;
    loop {
        session.drain_events()?;
        let line = match editor.readline("(spinel-debug) ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(LinkError::Protocol(error.to_string())),
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
        }
        if session.execute(&line)? == Flow::Quit {
            break;
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}
