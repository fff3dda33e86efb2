//! The interactive prompt: rustyline with redis-cli's prompt (`127.0.0.1:6379[2](TX)>`,
//! `not connected>`), history file, tab completion and gray as-you-type hints taken from the
//! server's COMMAND DOCS, `help`, `clear`, `connect`, `quit`/`exit`, `:set [no]hints`, and the
//! repeat prefix (`3 INCR x`). The same line handling serves commands piped on stdin, as
//! redis-cli runs its prompt loop there too.

use crate::conn::Conn;
use crate::format::Mode;
use crate::help::{self, Entry};
use crate::Ctx;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

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
    /// The server answered the help queries (even with nothing): do not ask again.
    static LOADED: Cell<bool> = const { Cell::new(false) };
    static HINTS: Rc<Cell<bool>> = Rc::new(Cell::new(true));
}

/// Fetches the help entries from the server if not loaded yet: COMMAND DOCS, or for servers
/// without it (Redis < 7) the arities of COMMAND, as redis-cli's legacy help does. Asked
/// again after a failure (not connected, NOAUTH) but never inside MULTI, where the query
/// would be queued.
fn load_entries(conn: &mut Conn) -> Rc<RefCell<Vec<Entry>>> {
    let e = ENTRIES.with(|e| e.clone());
    if LOADED.with(Cell::get) || conn.in_multi || conn.connect().is_err() {
        return e;
    }
    let list = match conn.request(&["COMMAND", "DOCS"]) {
        Ok(f) if !f.is_error() => Some(help::entries_from_docs(&f)),
        Ok(_) => match conn.request(&["COMMAND"]) {
            Ok(f) if !f.is_error() => Some(help::entries_from_command(&f)),
            _ => None,
        },
        Err(_) => None,
    };
    if let Some(list) = list {
        *e.borrow_mut() = list;
        LOADED.with(|l| l.set(true));
    }
    e
}

/// The output of `help [topic...]` (redis-cli's `cliOutputHelp`).
pub fn help_text<A: AsRef<[u8]>>(conn: &mut Conn, words: &[A]) -> String {
    if words.is_empty() {
        return help::general(env!("CARGO_PKG_VERSION"));
    }
    let words: Vec<String> = words
        .iter()
        .map(|w| String::from_utf8_lossy(w.as_ref()).into_owned())
        .collect();
    let entries = load_entries(conn);
    let out = help::topic(&entries.borrow(), &words);
    out
}

/// redis-cli's `isSensitiveCommand`: commands whose arguments must not reach the history file.
fn sensitive(words: &[Vec<u8>]) -> bool {
    let is = |i: usize, s: &str| {
        words
            .get(i)
            .is_some_and(|w| w.eq_ignore_ascii_case(s.as_bytes()))
    };
    let argc = words.len();
    if argc == 0 {
        return false;
    }
    if is(0, "auth") {
        return true;
    }
    if argc > 1 && is(0, "acl") && (is(1, "deluser") || is(1, "setuser") || is(1, "getuser")) {
        return true;
    }
    if argc > 2 && is(0, "config") && is(1, "set") {
        return (2..argc).step_by(2).any(|j| {
            [
                "masterauth",
                "masteruser",
                "tls-key-file-pass",
                "tls-client-key-file-pass",
                "requirepass",
            ]
            .iter()
            .any(|p| is(j, p))
        });
    }
    if argc > 4 && is(0, "hello") {
        let mut j = 2;
        while j < argc {
            let more = argc - 1 - j;
            if is(j, "auth") && more >= 2 {
                return true;
            } else if is(j, "setname") && more > 0 {
                j += 1;
            } else {
                return false;
            }
            j += 1;
        }
        return false;
    }
    if argc > 7 && is(0, "migrate") {
        for j in 6..argc {
            let more = argc - 1 - j;
            if (is(j, "auth") && more > 0) || (is(j, "auth2") && more >= 2) {
                return true;
            }
            if is(j, "keys") && more > 0 {
                return false;
            }
        }
        return false;
    }
    if argc > 4 && is(0, "sentinel") {
        if is(1, "config") && is(2, "set") && (is(3, "sentinel-pass") || is(3, "sentinel-user")) {
            return true;
        }
        if is(1, "set") && (is(3, "auth-pass") || is(3, "auth-user")) {
            return true;
        }
    }
    false
}

/// The repeat prefix as redis-cli reads it: `strtol` of the first word, when there is more
/// than one word and the number is the whole word. Some(Err) for an invalid count.
fn repeat_prefix(words: &[Vec<u8>]) -> Option<Result<i64, ()>> {
    if words.len() < 2 {
        return None;
    }
    let w = std::str::from_utf8(&words[0]).ok()?;
    // strtol: leading blanks, an optional sign, digits; the word must end there.
    let t = w.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.is_empty() {
        // strtol parsed nothing and the word is empty or only a sign: endptr is at the start;
        // it is the whole word only when the word is empty.
        return w.is_empty().then_some(Err(()));
    }
    Some(match t.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(()),
    })
}

/// redis-cli's `cliSetPreferences` for `:set hints` / `:set nohints`.
fn preferences(words: &[Vec<u8>]) {
    let w = |i: usize| String::from_utf8_lossy(&words[i]).into_owned();
    if words[0].eq_ignore_ascii_case(b":set") && words.len() >= 2 {
        if words[1].eq_ignore_ascii_case(b"hints") {
            HINTS.with(|h| h.set(true));
        } else if words[1].eq_ignore_ascii_case(b"nohints") {
            HINTS.with(|h| h.set(false));
        } else {
            println!("unknown redis-cli preference '{}'", w(1));
        }
    } else {
        println!("unknown redis-cli internal command '{}'", w(0));
    }
}

/// Executes one line as redis-cli's prompt loop does (also for lines read from stdin).
pub fn execute_line(ctx: &Ctx, conn: &mut Conn, line: &[u8]) -> LineResult {
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
    let (repeat, skip) = match repeat_prefix(&words) {
        Some(Ok(n)) => (n, 1),
        Some(Err(())) => {
            println!("Invalid redis-cli repeat command option value.");
            return LineResult::Done(false);
        }
        None => (1, 0),
    };
    let first = &words[0];
    if first.eq_ignore_ascii_case(b"quit") || first.eq_ignore_ascii_case(b"exit") {
        return LineResult::Quit;
    }
    if first.first() == Some(&b':') {
        preferences(&words);
        return LineResult::Done(false);
    }
    if first.eq_ignore_ascii_case(b"restart") {
        println!("Use 'restart' only in Lua debugging mode.");
        return LineResult::Done(false);
    }
    if words.len() == 3 && first.eq_ignore_ascii_case(b"connect") {
        let server = &mut conn.settings.server;
        server.host = String::from_utf8_lossy(&words[1]).into_owned();
        server.port = pyrope_common::client::atoi(&words[2]) as u16;
        server.socket = None;
        conn.disconnect();
        ENTRIES.with(|e| e.borrow_mut().clear());
        LOADED.with(|l| l.set(false));
        if let Err(e) = conn.connect() {
            return LineResult::Error(e);
        }
        return LineResult::Done(false);
    }
    if words.len() == 1 && first.eq_ignore_ascii_case(b"clear") {
        print!("\x1b[H\x1b[2J");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        return LineResult::Done(false);
    }
    let start = Instant::now();
    let r = crate::send_command(ctx, conn, &words[skip..], repeat, false);
    let elapsed = start.elapsed();
    // As redis-cli: slow commands show their time (formatted output only).
    if elapsed.as_millis() >= 500 && ctx.mode == Mode::Standard {
        println!("({:.2}s)", elapsed.as_secs_f64());
    }
    match r {
        Ok(err) => LineResult::Done(err),
        Err(m) => LineResult::Error(m),
    }
}

/// The prompt: `host:port[db](TX)> `, `redis /path.sock> `, `not connected> `.
fn prompt(conn: &Conn) -> String {
    if !conn.is_connected() {
        return "not connected> ".into();
    }
    let mut p = match &conn.settings.server.socket {
        Some(path) => format!("redis {path}"),
        None => conn.addr(),
    };
    if conn.db != 0 {
        p.push_str(&format!("[{}]", conn.db));
    }
    if conn.in_multi {
        p.push_str("(TX)");
    }
    p.push_str("> ");
    p
}

struct CliHelper {
    entries: Rc<RefCell<Vec<Entry>>>,
    hints: Rc<Cell<bool>>,
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
        let mut names: Vec<String> = entries.iter().map(|e| e.full.clone()).collect();
        if !help_prefix.is_empty() {
            let mut groups: Vec<String> = entries.iter().map(|e| format!("@{}", e.group)).collect();
            groups.sort();
            groups.dedup();
            names.extend(groups);
            names.sort();
        }
        for n in names {
            if starts(&n) && !out.iter().any(|o| o[help_prefix.len()..] == n) {
                out.push(format!("{help_prefix}{n}"));
            }
        }
        Ok((0, out))
    }
}

impl Hinter for CliHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if pos < line.len() || !self.hints.get() {
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
    if let Some(p) = std::env::var_os("PYROPE_CLI_HISTFILE") {
        if p.is_empty() {
            return None;
        }
        return (p != "/dev/null").then(|| p.into());
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
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
    rl.set_helper(Some(CliHelper {
        entries,
        hints: HINTS.with(|h| h.clone()),
    }));
    let hist = history_file();
    if let Some(h) = &hist {
        let _ = rl.load_history(h);
    }
    loop {
        let p = prompt(conn);
        match rl.readline(&p) {
            Ok(line) => {
                // As redis-cli: every non-empty line is history (invalid ones too), except
                // the commands that carry secrets.
                let keep = match crate::split_line(line.as_bytes()) {
                    Some(words) => {
                        let skip = usize::from(matches!(repeat_prefix(&words), Some(Ok(_))));
                        !words.is_empty() && !sensitive(&words[skip..])
                    }
                    None => true,
                };
                if keep {
                    let _ = rl.add_history_entry(line.as_str());
                    if let Some(h) = &hist {
                        let _ = rl.save_history(h);
                    }
                }
                match execute_line(ctx, conn, line.as_bytes()) {
                    LineResult::Quit => return 0,
                    LineResult::Error(m) => eprintln!("{m}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    #[test]
    fn repeat_prefix_is_strtol_as_redis_cli() {
        assert_eq!(repeat_prefix(&w(&["3", "incr", "x"])), Some(Ok(3)));
        assert_eq!(repeat_prefix(&w(&["+3", "incr"])), Some(Ok(3)));
        assert_eq!(repeat_prefix(&w(&["0", "incr"])), Some(Err(())));
        assert_eq!(repeat_prefix(&w(&["-2", "incr"])), Some(Err(())));
        assert_eq!(
            repeat_prefix(&w(&["99999999999999999999", "incr"])),
            Some(Err(()))
        );
        assert_eq!(repeat_prefix(&w(&["", "incr"])), Some(Err(())));
        assert_eq!(repeat_prefix(&w(&["3x", "incr"])), None);
        assert_eq!(repeat_prefix(&w(&["3"])), None);
        assert_eq!(repeat_prefix(&w(&["-", "incr"])), None);
    }

    #[test]
    fn sensitive_commands_stay_out_of_the_history() {
        assert!(sensitive(&w(&["AUTH", "pw"])));
        assert!(sensitive(&w(&[
            "config",
            "set",
            "maxmemory",
            "1",
            "requirepass",
            "x"
        ])));
        assert!(!sensitive(&w(&["config", "set", "maxmemory", "1"])));
        assert!(sensitive(&w(&[
            "hello", "3", "setname", "n", "auth", "u", "p"
        ])));
        assert!(!sensitive(&w(&["hello", "3", "setname", "n"])));
        assert!(sensitive(&w(&["acl", "getuser", "bob"])));
        assert!(!sensitive(&w(&["get", "auth"])));
    }
}
