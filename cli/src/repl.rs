//! The interactive prompt: rustyline with redis-cli's prompt (`127.0.0.1:6379[2]>`,
//! `not connected>`), history file, tab completion and gray as-you-type hints taken from the
//! server's COMMAND DOCS, `help`, `clear`, `connect`, `quit`/`exit`, and the repeat prefix
//! (`3 INCR x`). The same line handling serves commands piped on stdin.

use crate::conn::Conn;
use crate::help::{self, Entry};
use crate::Ctx;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

/// What happened to a line.
pub enum LineResult {
    /// Executed; true if the reply was an error.
    Done(bool),
    /// quit / exit.
    Quit,
    /// Could not talk to the server (message already worded as redis-cli does).
    Error(String),
}

thread_local! {
    static ENTRIES: Rc<RefCell<Vec<Entry>>> = Rc::new(RefCell::new(Vec::new()));
}

/// Fetches the help entries from the server (once per connection) if not loaded yet.
fn load_entries(conn: &mut Conn) -> Rc<RefCell<Vec<Entry>>> {
    let e = ENTRIES.with(|e| e.clone());
    if e.borrow().is_empty() && conn.connect().is_ok() {
        if let Ok(docs) = conn.request(&["COMMAND", "DOCS"]) {
            *e.borrow_mut() = help::entries_from_docs(&docs);
        }
    }
    e
}

/// Commands whose arguments must not reach the history file.
fn sensitive(words: &[String]) -> bool {
    let w = |i: usize| {
        words
            .get(i)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default()
    };
    match w(0).as_str() {
        "auth" => true,
        "hello" => words.iter().any(|x| x.eq_ignore_ascii_case("auth")),
        "acl" => w(1) == "setuser",
        "config" => {
            w(1) == "set" && (w(2) == "masterauth" || w(2) == "masteruser" || w(2) == "requirepass")
        }
        "migrate" => words
            .iter()
            .any(|x| x.eq_ignore_ascii_case("auth") || x.eq_ignore_ascii_case("auth2")),
        _ => false,
    }
}

/// Executes one line as redis-cli's repl does.
pub fn execute_line(ctx: &Ctx, conn: &mut Conn, line: &str, interactive: bool) -> LineResult {
    let line = line.trim();
    if line.is_empty() {
        return LineResult::Done(false);
    }
    let Some(words) = crate::split_line(line) else {
        println!("Invalid argument(s)");
        return LineResult::Done(false);
    };
    if words.is_empty() {
        return LineResult::Done(false);
    }
    let first = words[0].to_ascii_lowercase();
    match first.as_str() {
        "quit" | "exit" => return LineResult::Quit,
        "clear" if words.len() == 1 => {
            print!("\x1b[H\x1b[2J");
            return LineResult::Done(false);
        }
        "help" | "?" => {
            let entries = load_entries(conn);
            if words.len() == 1 {
                print!("{}", help::general(env!("CARGO_PKG_VERSION")));
            } else {
                print!(
                    "{}",
                    help::topic(&entries.borrow(), &words[1..], interactive)
                );
            }
            return LineResult::Done(false);
        }
        "connect" if words.len() >= 2 => {
            conn.settings.host = words[1].clone();
            if let Some(p) = words.get(2).and_then(|p| p.parse().ok()) {
                conn.settings.port = p;
            }
            conn.settings.socket = None;
            conn.disconnect();
            if let Err(e) = conn.connect() {
                return LineResult::Error(e);
            }
            ENTRIES.with(|e| e.borrow_mut().clear());
            return LineResult::Done(false);
        }
        _ => {}
    }
    // A leading number repeats the command.
    let (repeat, argv) = match words[0].parse::<i64>() {
        Ok(n) if words.len() > 1 && !words[0].starts_with('-') && !words[0].starts_with('+') => {
            (n, &words[1..])
        }
        _ => (1, &words[..]),
    };
    if repeat <= 0 {
        return LineResult::Done(false);
    }
    match crate::send_command(ctx, conn, argv, repeat, false) {
        Ok(err) => LineResult::Done(err),
        Err(m) => LineResult::Error(m),
    }
}

/// The prompt: `host:port[db]> `, `not connected> `.
fn prompt(conn: &Conn) -> String {
    if !conn.is_connected() {
        return "not connected> ".into();
    }
    let base = match &conn.settings.socket {
        Some(p) => format!("redis {p}"),
        None => conn.addr(),
    };
    if conn.db != 0 {
        format!("{base}[{}]> ", conn.db)
    } else {
        format!("{base}> ")
    }
}

struct CliHelper {
    entries: Rc<RefCell<Vec<Entry>>>,
}

impl Completer for CliHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let upto = &line[..pos];
        let entries = self.entries.borrow();
        // As redis-cli's completionCallback: the whole line is matched, case-insensitively,
        // against each entry's full name ("GETDEL", "CLIENT KILL"), and replaced by it; after
        // "help " the @groups are candidates too.
        let (help_prefix, rest) = match upto.get(..5) {
            Some(h) if h.eq_ignore_ascii_case("help ") => {
                let r = upto[5..].trim_start();
                (&upto[..upto.len() - r.len()], r)
            }
            _ => ("", upto),
        };
        let starts = |cand: &str| {
            cand.len() >= rest.len()
                && cand.as_bytes()[..rest.len()].eq_ignore_ascii_case(rest.as_bytes())
        };
        let mut out: Vec<String> = Vec::new();
        for e in entries.iter() {
            if starts(&e.full) && !out.iter().any(|o| o[help_prefix.len()..] == e.full) {
                out.push(format!("{help_prefix}{}", e.full));
            }
        }
        if !help_prefix.is_empty() {
            let mut groups: Vec<String> = entries.iter().map(|e| format!("@{}", e.group)).collect();
            groups.sort();
            groups.dedup();
            for g in groups.into_iter().filter(|g| starts(g)) {
                out.push(format!("{help_prefix}{g}"));
            }
        }
        Ok((0, out))
    }
}

impl Hinter for CliHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        help::hint(&self.entries.borrow(), line)
    }
}

impl Highlighter for CliHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
    }
}

impl Validator for CliHelper {}
impl Helper for CliHelper {}

fn history_file() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("PYROPE_CLI_HISTFILE") {
        return (!p.is_empty()).then(|| p.into());
    }
    std::env::var("HOME")
        .ok()
        .map(|h| std::path::Path::new(&h).join(".pyrope_cli_history"))
}

/// Runs the interactive loop; returns the exit code.
pub fn run(ctx: &Ctx, conn: &mut Conn) -> i32 {
    if let Err(e) = conn.connect() {
        // As redis-cli: say so, and try again with every command.
        eprintln!("{e}");
    }
    let entries = load_entries(conn);
    let mut rl = match Editor::<CliHelper, rustyline::history::DefaultHistory>::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the line editor: {e}");
            return 1;
        }
    };
    rl.set_helper(Some(CliHelper { entries }));
    let hist = history_file();
    if let Some(h) = &hist {
        let _ = rl.load_history(h);
    }
    loop {
        let p = prompt(conn);
        match rl.readline(&p) {
            Ok(line) => {
                if let Some(words) = crate::split_line(&line) {
                    if !words.is_empty() && !sensitive(&words) {
                        let _ = rl.add_history_entry(line.as_str());
                        if let Some(h) = &hist {
                            let _ = rl.save_history(h);
                        }
                    }
                }
                match execute_line(ctx, conn, &line, true) {
                    LineResult::Quit => return 0,
                    LineResult::Error(m) => {
                        println!("{m}");
                    }
                    LineResult::Done(_) => {}
                }
                if conn.is_connected() {
                    load_entries(conn);
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => return 0,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
    }
}
