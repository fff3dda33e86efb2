//! pyrope-cli: redis-cli's interactive and scripting client, for Pyrope or any Redis.
//!
//! - [`args`]: options. [`conn`]: the session (set-up, reconnects, pushes, redirects,
//!   prompt state) over `pyrope_common::client`, which owns the connection options, URIs,
//!   sockets and the reply reader.
//! - [`format`]: replies printed byte-for-byte as redis-cli prints them.
//! - [`help`]: help, hints and completion from the server's COMMAND DOCS.
//! - [`repl`]: the prompt (rustyline), and the same line handling for commands on stdin.
//! - [`modes`]: --pipe, --scan, --stat, --latency*, --intrinsic-latency, --bigkeys/--memkeys/
//!   --keystats/--hotkeys, --rdb/--functions-rdb/--replica, --eval.
//!
//! Arguments are bytes end to end (argv, stdin, `\xHH` escapes): a value is never
//! re-encoded on its way to the server.

pub mod args;
pub mod conn;
pub mod format;
pub mod help;
pub mod modes;
pub mod repl;

use clap::Parser;
use format::Mode;
use pyrope_common::resp::Frame;
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

/// Everything the modes need besides the connection.
pub struct Ctx {
    pub args: args::Args,
    pub mode: Mode,
    pub bulk_delim: Vec<u8>,
    pub cmd_delim: Vec<u8>,
    /// stdout is a terminal (or FAKETTY is set), as redis-cli decides its defaults.
    pub tty: bool,
}

/// Version string (`--version`).
pub fn version() -> String {
    format!("pyrope-cli {}", env!("CARGO_PKG_VERSION"))
}

/// Splits a line into arguments with redis-cli's quoting rules (sdssplitargs), bytes in,
/// bytes out; None for unbalanced quotes.
pub fn split_line(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    pyrope_common::conf::split_args(line).ok()
}

/// redis-cli's `unquoteCString`: a quoted string that must split into exactly one argument
/// (--quoted-input, --quoted-pattern).
pub fn unquote(arg: &[u8]) -> Option<Vec<u8>> {
    let mut v = split_line(arg)?;
    (v.len() == 1).then(|| v.pop().unwrap())
}

/// Prints one reply in the configured mode; returns true if it was an error. The commands
/// redis-cli prints as human-readable text (INFO, CLIENT LIST...) are raw in every mode.
pub fn print_reply<A: AsRef<[u8]>>(ctx: &Ctx, argv: &[A], f: &Frame) -> bool {
    let verbatim = format::is_verbatim_command(argv);
    let out = format::reply(f, ctx.mode, verbatim, &ctx.bulk_delim, &ctx.cmd_delim);
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(&out);
    let _ = so.flush();
    f.is_error()
}

fn is_any(name: &[u8], names: &[&str]) -> bool {
    names
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// Runs `argv` as redis-cli's `issueCommandRepeat` + `cliSendCommand`: `help` locally,
/// MONITOR and (P|S)SUBSCRIBE as endless streams, anything else `repeat` times (negative:
/// forever) with the -i interval, printing every reply.
/// Returns Err with the message on connection failure, Ok(true) if a reply was an error.
/// With `exit_on_error` (-e on the command line; redis-cli ignores it for stdin and the
/// prompt) the first error reply is returned as Err instead of printed.
pub fn send_command(
    ctx: &Ctx,
    conn: &mut conn::Conn,
    argv: &[Vec<u8>],
    repeat: i64,
    exit_on_error: bool,
) -> Result<bool, String> {
    let Some(name) = argv.first() else {
        return Ok(false);
    };
    if is_any(name, &["help", "?"]) {
        let out = repl::help_text(conn, &argv[1..]);
        let mut so = std::io::stdout().lock();
        let _ = so.write_all(out.as_bytes());
        let _ = so.flush();
        return Ok(false);
    }
    if is_any(name, &["monitor"]) {
        conn.send(argv).map_err(conn::RequestError::message)?;
        // Every line until the connection ends (or MONITOR is refused).
        loop {
            let f = conn
                .next_reply(false)
                .map_err(conn::RequestError::message)?;
            let err = print_reply(ctx, argv, &f);
            if err {
                return Ok(true);
            }
        }
    }
    if is_any(name, &["subscribe", "psubscribe", "ssubscribe"]) {
        // As redis-cli 7.0: announced before any reply, then every message (RESP3 pushes
        // included) is a reply, until the connection ends.
        if ctx.mode != Mode::Raw {
            println!("Reading messages... (press Ctrl-C to quit)");
            let _ = std::io::stdout().flush();
        }
        conn.send(argv).map_err(conn::RequestError::message)?;
        loop {
            let f = conn.next_reply(true).map_err(conn::RequestError::message)?;
            print_reply(ctx, argv, &f);
        }
    }
    let unsubscribe = is_any(name, &["unsubscribe", "punsubscribe", "sunsubscribe"]);
    let mut any_error = false;
    let mut left = repeat;
    while left != 0 {
        if left > 0 {
            left -= 1;
        }
        let replies = if unsubscribe && conn.resp3 {
            // In RESP3 the confirmations are pushes: one per channel named, at least one.
            conn.send(argv).map_err(conn::RequestError::message)?;
            let mut v = Vec::new();
            for _ in 0..argv.len().saturating_sub(1).max(1) {
                v.push(conn.next_reply(true).map_err(conn::RequestError::message)?);
            }
            v
        } else {
            vec![conn.request(argv).map_err(conn::RequestError::message)?]
        };
        for r in replies {
            if exit_on_error {
                // redis-cli -e: the error goes to stderr as it is, and nothing more is sent.
                if let Frame::Error(e) = &r {
                    return Err(conn::cstr(e));
                }
            }
            any_error |= print_reply(ctx, argv, &r);
        }
        if let Some(i) = ctx.args.interval {
            if i > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(i));
            }
        }
    }
    Ok(any_error)
}

fn read_stdin_all() -> Vec<u8> {
    let mut v = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut v);
    v
}

fn bytes(s: &OsString) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Builds the connection settings from the options and the environment.
pub fn settings(a: &args::Args) -> Result<conn::Settings, String> {
    let timeout = match &a.timeout {
        None => None,
        Some(t) => {
            // As redis-cli: strtod of the whole string, not negative, not NaN.
            let v: f64 = t
                .trim_start()
                .parse()
                .ok()
                .filter(|v: &f64| !v.is_nan() && *v >= 0.0)
                .ok_or("Invalid connection timeout for -t.")?;
            (v > 0.0).then(|| Duration::from_secs_f64(v))
        }
    };
    let json = a.json || a.quoted_json;
    let mut server = a.conn.conn_info().map_err(|e| e.to_string())?;
    // Password precedence: --askpass, then the URI's, -a / --pass, PYROPE_CLI_AUTH,
    // REDISCLI_AUTH; the db: -n, then the URI's.
    if server.password.is_none() {
        server.password = std::env::var_os("PYROPE_CLI_AUTH")
            .or_else(|| std::env::var_os("REDISCLI_AUTH"))
            .map(OsStringExt::into_vec);
    }
    if let Some(db) = a.db {
        server.db = db;
    }
    let mut s = conn::Settings {
        server,
        resp3: !a.resp2 && (a.conn.resp3 || json),
        resp3_explicit: a.conn.resp3,
        name: a.name.as_ref().map(bytes),
        timeout,
        cluster: a.cluster_mode,
        verbose: a.verbose,
    };
    if a.askpass {
        s.server.password = Some(ask_password()?);
    }
    Ok(s)
}

/// --askpass: reads the password from stdin. On a terminal the prompt goes to stdout and
/// the typed text is not echoed (redis-cli masks it); from a pipe it is just the first
/// line, with no prompt, as redis-cli's line editor does without a terminal.
fn ask_password() -> Result<Vec<u8>, String> {
    let fd = 0;
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    let tty = unsafe { libc::tcgetattr(fd, &mut term) } == 0;
    if tty {
        print!("Please input password: ");
        let _ = std::io::stdout().flush();
        let mut quiet = term;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = Vec::new();
    let r = std::io::stdin().lock().read_until(b'\n', &mut line);
    if tty {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) };
        println!();
    }
    r.map_err(|e| e.to_string())?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(line)
}

/// Whether pushes are shown: `--show-pushes` ([y]es/[n]o, first letter, any case), else when
/// stdout is a terminal. An unknown value is reported and ignored, as redis-cli does.
fn show_pushes(a: &args::Args, tty: bool) -> bool {
    match a.show_pushes.as_deref() {
        None => tty,
        Some(v) if v.get(..1).is_some_and(|c| c.eq_ignore_ascii_case("n")) => false,
        Some(v) if v.get(..1).is_some_and(|c| c.eq_ignore_ascii_case("y")) => true,
        Some(v) => {
            eprintln!("Unknown --show-pushes value '{v}' (valid: '[y]es', '[n]o')");
            tty
        }
    }
}

/// Entry point with the raw program arguments; returns the exit code.
pub fn run(argv: Vec<OsString>) -> i32 {
    // The cluster manager's options follow redis-cli's own parsing rules (a subcommand with a
    // variable number of words, options in any order), so they are taken out first.
    let (cluster, argv) = match modes::cluster::split_args(argv) {
        modes::cluster::Split::Plain(v) => (None, v),
        modes::cluster::Split::Cluster(o, v) => (Some(*o), v),
        modes::cluster::Split::Usage => {
            let _ = args::Args::try_parse_from(["pyrope-cli", "--help"])
                .map_err(|e| eprint!("{}", e.render()));
            return 1;
        }
    };
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
    if a.resp2 && a.conn.resp3 {
        eprintln!("Options -2 and -3 are mutually exclusive.");
        return 1;
    }
    if a.rdb.is_some() && a.functions_rdb.is_some() {
        eprintln!("Option --functions-rdb and --rdb are mutually exclusive.");
        return 1;
    }
    if a.stdin_last_arg && a.stdin_tag.is_some() {
        eprintln!("Options -x and -X are mutually exclusive.");
        return 1;
    }
    if a.conn.socket.is_some() && a.cluster_mode {
        eprintln!("Options -c and -s are mutually exclusive.");
        return 1;
    }
    let settings = match settings(&a) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if a.conn.password_on_command_line() && !a.no_auth_warning && !a.askpass {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    if let Some(mut opts) = cluster {
        if a.stdin_last_arg {
            opts.argv.push(read_stdin_all());
        } else if let Some(tag) = &a.stdin_tag {
            match opts
                .argv
                .iter_mut()
                .find(|w| w.as_slice() == tag.as_bytes())
            {
                Some(w) => *w = read_stdin_all(),
                None => {
                    eprintln!("Using -X option but stdin tag not match.");
                    return 1;
                }
            }
        }
        let auth = modes::cluster::node::Auth {
            user: settings.server.user.clone(),
            password: settings.server.password.clone(),
            timeout: settings.timeout,
        };
        return modes::cluster::run(opts, auth, a.verbose);
    }
    let ctx = Ctx {
        bulk_delim: bytes(&a.bulk_delim),
        cmd_delim: bytes(&a.cmd_delim),
        mode,
        tty,
        args: a.clone(),
    };
    let mut conn = conn::Conn::new(settings);
    if show_pushes(&a, tty) {
        conn.pushes = Some(conn::PushStyle {
            mode,
            bulk_delim: ctx.bulk_delim.clone(),
            cmd_delim: ctx.cmd_delim.clone(),
        });
    }
    let exit = |r: Result<i32, String>| match r {
        Ok(c) => c,
        Err(m) => {
            // An empty message was already reported (a failed AUTH in a special mode).
            if !m.is_empty() {
                eprintln!("{m}");
            }
            1
        }
    };
    if a.latency_dist || a.latency || a.latency_history {
        return exit(modes::latency::run(&ctx, &mut conn));
    }
    if a.replica {
        return exit(modes::sync::replica(&ctx, &mut conn));
    }
    if a.rdb.is_some() || a.functions_rdb.is_some() {
        return exit(modes::sync::rdb(&ctx, &mut conn));
    }
    if a.pipe {
        return exit(modes::pipe::run(&ctx, &mut conn));
    }
    if a.bigkeys || a.memkeys || a.memkeys_samples.is_some() {
        return exit(modes::keys::bigkeys(&ctx, &mut conn));
    }
    if a.keystats || a.keystats_samples.is_some() {
        return exit(modes::keystats::run(&ctx, &mut conn));
    }
    if a.hotkeys {
        return exit(modes::keys::hotkeys(&ctx, &mut conn));
    }
    if a.stat {
        return exit(modes::stat(&ctx, &mut conn));
    }
    if a.scan {
        return exit(modes::keys::scan(&ctx, &mut conn));
    }
    if let Some(secs) = a.intrinsic_latency {
        return exit(modes::latency::intrinsic(secs));
    }
    if a.command.is_empty() && a.eval.is_none() {
        conn.interactive = true;
        if std::io::stdin().is_terminal() {
            return repl::run(&ctx, &mut conn);
        }
        return exit(stdin_commands(&ctx, &mut conn));
    }
    if let Some(file) = &a.eval {
        if let Err(e) = conn.connect_strict() {
            return exit(Err(e));
        }
        return exit(modes::eval(&ctx, &mut conn, file));
    }
    exit(noninteractive(&ctx, &mut conn))
}

/// The command given on the command line (redis-cli's `noninteractive`).
fn noninteractive(ctx: &Ctx, conn: &mut conn::Conn) -> Result<i32, String> {
    let a = &ctx.args;
    let mut words: Vec<Vec<u8>> = Vec::with_capacity(a.command.len() + 1);
    for w in &a.command {
        if a.quoted_input {
            match unquote(w.as_bytes()) {
                Some(u) => words.push(u),
                None => {
                    println!("Invalid quoted string");
                    return Ok(1);
                }
            }
        } else {
            words.push(bytes(w));
        }
    }
    if a.stdin_last_arg {
        words.push(read_stdin_all());
    } else if let Some(tag) = &a.stdin_tag {
        match words.iter_mut().find(|w| w.as_slice() == tag.as_bytes()) {
            Some(w) => *w = read_stdin_all(),
            None => {
                eprintln!("Using -X option but stdin tag not match.");
                return Ok(1);
            }
        }
    }
    // As redis-cli: connect quietly first; the command's own attempt reports a failure.
    let _ = conn.connect();
    let repeat = a.repeat.unwrap_or(1);
    match send_command(ctx, conn, &words, repeat, a.exit_on_error) {
        Ok(err) => Ok(i32::from(err && a.exit_on_error)),
        Err(m) => Err(m),
    }
}

/// Commands read from a non-tty stdin, one per line, executed as each line arrives (redis-cli
/// runs its prompt loop without a prompt: same repeat prefix and quoting rules, `quit`).
fn stdin_commands(ctx: &Ctx, conn: &mut conn::Conn) -> Result<i32, String> {
    // As redis-cli: connect up front (reporting a failure), then try again per line;
    // connection failures are reported but do not change the exit code.
    if let Err(m) = conn.connect() {
        eprintln!("{m}");
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        match repl::execute_line(ctx, conn, &line) {
            repl::LineResult::Quit => break,
            repl::LineResult::Error(m) => eprintln!("{m}"),
            // As redis-cli: error replies (even with -e) do not change the exit code here.
            repl::LineResult::Done(_) => {}
        }
    }
    Ok(0)
}
