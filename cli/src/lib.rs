//! pyrope-cli: redis-cli's interactive and scripting client, for Pyrope or any Redis.
//!
//! - [`args`]: options. [`conn`]: connecting, session set-up, reconnects, redirects.
//! - [`format`]: replies printed byte-for-byte as redis-cli prints them.
//! - [`help`]: help, hints and completion from the server's COMMAND DOCS.
//! - [`repl`]: the interactive prompt (rustyline).
//! - [`modes`]: --pipe, --scan, --stat, --latency*, --intrinsic-latency, --bigkeys/--memkeys/
//!   --keystats/--hotkeys, --rdb/--functions-rdb/--replica, --eval.

pub mod args;
pub mod conn;
pub mod format;
pub mod help;
pub mod modes;
pub mod repl;

use clap::Parser;
use format::Mode;
use pyrope_common::resp::Frame;
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

/// Everything the modes need besides the connection.
pub struct Ctx {
    pub args: args::Args,
    pub mode: Mode,
    pub bulk_delim: Vec<u8>,
    pub cmd_delim: Vec<u8>,
}

/// Version string (`--version`).
pub fn version() -> String {
    format!("pyrope-cli {}", env!("CARGO_PKG_VERSION"))
}

/// Splits a line into arguments with redis-cli's quoting rules (sdssplitargs).
pub fn split_line(line: &str) -> Option<Vec<String>> {
    pyrope_common::conf::split_args(line.as_bytes())
        .ok()
        .map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
}

/// Prints one reply in the configured mode; returns true if it was an error.
pub fn print_reply(ctx: &Ctx, argv: &[String], f: &Frame) -> bool {
    let verbatim = format::is_verbatim_command(argv) && ctx.mode == Mode::Standard;
    let out = format::reply(f, ctx.mode, verbatim, &ctx.bulk_delim, &ctx.cmd_delim);
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(&out);
    let _ = so.flush();
    f.is_error()
}

/// Sends `argv` `repeat` times (with the -i interval), printing every reply, as redis-cli's
/// `cliSendCommand`. MONITOR and (P|S)SUBSCRIBE stream replies until the server closes.
/// Returns Err with a message on connection failure, Ok(true) if a reply was an error.
/// With `exit_on_error` (-e on the command line; redis-cli ignores it for stdin and the
/// prompt) the first error reply is returned as Err instead of printed.
pub fn send_command(
    ctx: &Ctx,
    conn: &mut conn::Conn,
    argv: &[String],
    repeat: i64,
    exit_on_error: bool,
) -> Result<bool, String> {
    let mut any_error = false;
    let name = argv
        .first()
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let streaming = matches!(
        name.as_str(),
        "monitor" | "subscribe" | "psubscribe" | "ssubscribe"
    );
    let mut left = repeat;
    while left != 0 {
        if left > 0 {
            left -= 1;
        }
        let r = conn.request(argv).map_err(|e| match e {
            conn::RequestError::Connect(m) => m,
            conn::RequestError::Io(m) => format!("Error: {m}"),
        })?;
        if exit_on_error {
            // redis-cli -e: the error goes to stderr as it is, and nothing more is sent.
            if let Frame::Error(e) = &r {
                return Err(String::from_utf8_lossy(e).into_owned());
            }
        }
        any_error |= print_reply(ctx, argv, &r);
        if streaming && !r.is_error() {
            if name != "monitor" && ctx.mode != Mode::Raw {
                println!("Reading messages... (press Ctrl-C to quit)");
            }
            let c = conn.client()?;
            c.set_read_timeout(None).map_err(|e| e.to_string())?;
            loop {
                match c.read_reply() {
                    Ok(f) => {
                        print_reply(ctx, argv, &f);
                    }
                    Err(e) => return Err(format!("Error: {}", conn::describe(&e))),
                }
            }
        }
        if let Some(i) = ctx.args.interval {
            std::thread::sleep(Duration::from_secs_f64(i.max(0.0)));
        }
    }
    Ok(any_error)
}

fn read_stdin_all() -> Vec<u8> {
    let mut v = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut v);
    v
}

/// Builds the connection settings from the options and the environment.
pub fn settings(a: &args::Args) -> Result<conn::Settings, String> {
    let mut s = conn::Settings {
        host: a.host.clone(),
        port: a.port,
        socket: a.socket.clone(),
        user: a.user.clone(),
        password: None,
        db: a.db.unwrap_or(0),
        resp3: a.resp3 || ((a.json || a.quoted_json) && !a.resp2),
        name: a.name.clone(),
        timeout: a.timeout.filter(|t| *t > 0.0).map(Duration::from_secs_f64),
        cluster: a.cluster_mode,
    };
    // Password precedence: --askpass, then -a / --pass, then PYROPE_CLI_AUTH, REDISCLI_AUTH.
    s.password = a
        .password
        .clone()
        .or_else(|| a.pass.clone())
        .or_else(|| std::env::var("PYROPE_CLI_AUTH").ok())
        .or_else(|| std::env::var("REDISCLI_AUTH").ok());
    if let Some(uri) = &a.uri {
        conn::apply_uri(&mut s, uri)?;
        if let Some(db) = a.db {
            s.db = db;
        }
    }
    if a.askpass {
        s.password = Some(ask_password()?);
    }
    Ok(s)
}

/// Reads a password from the terminal with echo off.
fn ask_password() -> Result<String, String> {
    eprint!("Please input password: ");
    let _ = std::io::stderr().flush();
    let fd = 0;
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    let tty = unsafe { libc::tcgetattr(fd, &mut term) } == 0;
    if tty {
        let mut quiet = term;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let r = std::io::stdin().read_line(&mut line);
    if tty {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) };
    }
    eprintln!();
    r.map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Entry point; returns the exit code.
pub fn run(argv: Vec<String>) -> i32 {
    let a = match args::Args::try_parse_from(&argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    if a.version {
        println!("{}", version());
        return 0;
    }
    // FAKETTY: as redis-cli, act as if stdout were a terminal (used by test suites).
    let tty = std::io::stdout().is_terminal() || std::env::var_os("FAKETTY").is_some();
    let mode = if a.csv {
        Mode::Csv
    } else if a.quoted_json {
        Mode::QuotedJson
    } else if a.json {
        Mode::Json
    } else if a.no_raw {
        Mode::Standard
    } else if a.raw || !tty {
        Mode::Raw
    } else {
        Mode::Standard
    };
    let settings = match settings(&a) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if (a.password.is_some()
        || a.pass.is_some()
        || a.uri.as_deref().is_some_and(|u| u.contains('@')))
        && !a.no_auth_warning
        && !a.askpass
    {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    let ctx = Ctx {
        bulk_delim: a.bulk_delim.clone().into_bytes(),
        cmd_delim: a.cmd_delim.clone().into_bytes(),
        mode,
        args: a.clone(),
    };
    let mut conn = conn::Conn::new(settings);
    let exit = |r: Result<i32, String>| match r {
        Ok(c) => c,
        Err(m) => {
            eprintln!("{m}");
            1
        }
    };
    if a.latency_dist || a.latency || a.latency_history {
        return exit(modes::latency(&ctx, &mut conn));
    }
    if a.replica {
        return exit(modes::replica(&ctx, &mut conn));
    }
    if a.rdb.is_some() || a.functions_rdb.is_some() {
        return exit(modes::rdb(&ctx, &mut conn));
    }
    if a.pipe {
        return exit(modes::pipe(&ctx, &mut conn));
    }
    if a.bigkeys || a.memkeys || a.memkeys_samples.is_some() || a.keystats {
        return exit(modes::bigkeys(&ctx, &mut conn));
    }
    if a.hotkeys {
        return exit(modes::hotkeys(&ctx, &mut conn));
    }
    if a.stat {
        return exit(modes::stat(&ctx, &mut conn));
    }
    if a.scan {
        return exit(modes::scan(&ctx, &mut conn));
    }
    if let Some(secs) = a.intrinsic_latency {
        return exit(modes::intrinsic_latency(secs));
    }
    if a.command.is_empty() && a.eval.is_none() {
        if std::io::stdin().is_terminal() {
            return repl::run(&ctx, &mut conn);
        }
        return exit(stdin_commands(&ctx, &mut conn));
    }
    if let Err(e) = conn.connect() {
        eprintln!("{e}");
        return 1;
    }
    if let Some(file) = &a.eval {
        return exit(modes::eval(&ctx, &mut conn, file));
    }
    let mut words = a.command.clone();
    if a.quoted_input {
        let joined = words
            .iter()
            .map(|w| w.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        match split_line(&joined) {
            Some(w) => words = w,
            None => {
                println!("Invalid quoted string");
                return 1;
            }
        }
    }
    if a.stdin_last_arg {
        words.push(String::from_utf8_lossy(&read_stdin_all()).into_owned());
    } else if let Some(tag) = &a.stdin_tag {
        let data = String::from_utf8_lossy(&read_stdin_all()).into_owned();
        let mut done = false;
        for w in words.iter_mut() {
            if !done && w == tag {
                *w = data.clone();
                done = true;
            }
        }
    }
    let repeat = a.repeat.unwrap_or(1);
    match send_command(&ctx, &mut conn, &words, repeat, a.exit_on_error) {
        Ok(err) => i32::from(err && a.exit_on_error),
        Err(m) => {
            eprintln!("{m}");
            1
        }
    }
}

/// Commands read from a non-tty stdin, one per line, as redis-cli's repl does without a
/// terminal (same repeat prefix and quoting rules, no prompt).
fn stdin_commands(ctx: &Ctx, conn: &mut conn::Conn) -> Result<i32, String> {
    // As redis-cli: connect up front (reporting a failure), then try again per line;
    // connection failures are reported but do not change the exit code.
    if let Err(m) = conn.connect() {
        eprintln!("{m}");
    }
    let text = String::from_utf8_lossy(&read_stdin_all()).into_owned();
    for line in text.lines() {
        match repl::execute_line(ctx, conn, line, false) {
            repl::LineResult::Quit => break,
            repl::LineResult::Error(m) => eprintln!("{m}"),
            // As redis-cli: error replies (even with -e) do not change the exit code here.
            repl::LineResult::Done(_) => {}
        }
    }
    Ok(0)
}
