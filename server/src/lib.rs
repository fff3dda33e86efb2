//! pyrope-server: a Redis-compatible data-structure server.
//!
//! Start at [`run`]; the code map is in ARCHITECTURE.md. One thread executes every command
//! (see `net` and `command::call`); background threads only free memory.

pub(crate) mod acl;
pub(crate) mod admin;
pub(crate) mod aof;
pub(crate) mod blocking;
pub(crate) mod client;
pub(crate) mod command;
pub(crate) mod config;
pub(crate) mod connection;
pub(crate) mod digest;
pub(crate) mod dump;
pub(crate) mod evict;
pub(crate) mod expire;
pub(crate) mod fork;
pub mod harness;
pub(crate) mod help;
pub(crate) mod info;
pub(crate) mod keys;
pub(crate) mod keyspace;
pub(crate) mod latency;
pub(crate) mod log;
pub(crate) mod memory;
pub(crate) mod monitor;
pub(crate) mod multi;
pub(crate) mod net;
pub(crate) mod object;
pub(crate) mod persist;
pub(crate) mod propagate;
pub(crate) mod pubsub;
pub(crate) mod rdb;
pub(crate) mod reply;
pub(crate) mod script;
pub(crate) mod server;
pub(crate) mod shutdown;
pub(crate) mod signals;
pub(crate) mod slowlog;
pub(crate) mod tracking;
pub(crate) mod types;

/// Version of Redis whose behaviour we follow (for messages such as the config-file error).
pub const REDIS_VERSION: &str = "7.4.1";
/// Our own version.
pub const PYROPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every command handler, by full name (`get`, `config|get`).
pub fn handlers() -> Vec<(&'static str, command::Handler)> {
    let mut v = Vec::new();
    for list in [
        types::string::COMMANDS,
        types::list::COMMANDS,
        types::set::COMMANDS,
        types::hash::COMMANDS,
        types::zset::COMMANDS,
        types::geo::COMMANDS,
        types::sort::COMMANDS,
        types::bitops::COMMANDS,
        types::hll::COMMANDS,
        types::stream::COMMANDS,
        keys::COMMANDS,
        connection::COMMANDS,
        admin::COMMANDS,
        persist::COMMANDS,
        aof::COMMANDS,
        dump::COMMANDS,
        config::command::COMMANDS,
        info::COMMANDS,
        slowlog::COMMANDS,
        latency::COMMANDS,
        memory::COMMANDS,
        pubsub::COMMANDS,
        multi::COMMANDS,
        tracking::COMMANDS,
        script::COMMANDS,
        script::function::COMMANDS,
        command::introspect::COMMANDS,
        acl::COMMANDS,
        monitor::COMMANDS,
    ] {
        v.extend_from_slice(list);
    }
    v
}

const USAGE: &str = "Usage: ./pyrope-server [/path/to/redis.conf] [options] [-]
       ./pyrope-server - (read config from stdin)
       ./pyrope-server -v or --version
       ./pyrope-server -h or --help

Examples:
       ./pyrope-server (run the server with default conf)
       echo 'maxmemory 128mb' | ./pyrope-server -
       ./pyrope-server /etc/redis/6379.conf
       ./pyrope-server --port 7777
       ./pyrope-server /etc/myredis.conf --loglevel verbose -
       ./pyrope-server /etc/myredis.conf --loglevel verbose

Options are the directives of redis.conf, prefixed with --.
";

/// Turns `--name v1 v2 --other v` command-line options into config text exactly as Redis's
/// `main()` does (so error messages quote the same line): every `--name` starts a line, each
/// value is appended double-quoted (`sdscatrepr`); `--save` without a value means `save ""`;
/// a `--word` right after a name that has no value yet is taken as that value.
pub fn options_to_config(args: &[String]) -> String {
    let mut text = String::new();
    let mut handled_last = true;
    for (j, a) in args.iter().enumerate() {
        let next_is_opt = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
        let last = j + 1 == args.len();
        if handled_last && a.starts_with("--") {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&a[2..]);
            text.push(' ');
            let words = pyrope_common::conf::split_args(a.as_bytes())
                .map(|v| v.len())
                .unwrap_or(1);
            if words == 1 {
                handled_last = false;
                if a.eq_ignore_ascii_case("--save") && (last || next_is_opt) {
                    text.push_str("\"\"");
                    handled_last = !last;
                } else if a.eq_ignore_ascii_case("--sentinel") && (last || next_is_opt) {
                    handled_last = !last;
                }
            } else {
                handled_last = true;
            }
        } else {
            text.push_str(&pyrope_common::conf::repr(a.as_bytes()));
            text.push(' ');
            handled_last = true;
        }
    }
    text
}

/// The process entry point: parses arguments, loads the config, opens the listeners and
/// runs the event loop. Returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let rest = &args[1..];
    if let Some(first) = rest.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "Pyrope server v={} redis_version={} malloc=jemalloc-5.3.0 bits=64",
                    PYROPE_VERSION,
                    server::REDIS_VERSION_REPORTED
                );
                return 0;
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return 0;
            }
            _ => {}
        }
    }
    let mut cfg = config::Config::new();
    let mut i = 0;
    let mut text = String::new();
    if let Some(first) = rest.first() {
        if !first.starts_with("--") {
            let t = if first == "-" {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
                s
            } else {
                match std::fs::read_to_string(first) {
                    Ok(t) => {
                        let p = std::fs::canonicalize(first).unwrap_or_else(|_| first.into());
                        cfg.file = Some(p);
                        t
                    }
                    Err(e) => {
                        // Logged as Redis does before the server role is known (`C`).
                        log::set_role('C');
                        log!(
                            Warning,
                            "Fatal error, can't open config file '{first}': {}",
                            os_text(&e)
                        );
                        return 1;
                    }
                }
            };
            text.push_str(&t);
            i = 1;
        }
    }
    let mut opts: Vec<String> = rest[i..].to_vec();
    let stdin_too = opts.last().is_some_and(|a| a == "-");
    if stdin_too {
        opts.pop();
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
        text.push_str(&s);
    }
    if !opts.is_empty() {
        if !opts[0].starts_with("--") {
            eprintln!(
                "Invalid option '{}': options must start with --. Try pyrope-server --help.",
                opts[0]
            );
            return 1;
        }
        // As loadServerConfig(): file, then stdin, then "\n" and the options.
        text.push('\n');
        text.push_str(&options_to_config(&opts));
    }
    if let Err(e) = cfg.load_text(&text, true) {
        eprintln!("{e}");
        return 1;
    }
    let settings = cfg.settings();
    if settings.daemonize {
        // Redis daemonizes before opening anything: fork, setsid, redirect stdio.
        // SAFETY: no other thread exists yet (fork is safe), and the fds passed to dup2/close
        // are ones this block opened.
        unsafe {
            match libc::fork() {
                -1 => {
                    eprintln!("fork failed: {}", std::io::Error::last_os_error());
                    return 1;
                }
                0 => {}
                _ => libc::_exit(0),
            }
            libc::setsid();
            let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if fd >= 0 {
                libc::dup2(fd, 0);
                libc::dup2(fd, 1);
                libc::dup2(fd, 2);
                if fd > 2 {
                    libc::close(fd);
                }
            }
        }
    }
    if let Err(e) = log::configure(settings.loglevel, &settings.logfile) {
        eprintln!("Can't open the log file: {e}");
        return 1;
    }
    log!(Notice, "oO0OoO0OoO0Oo Pyrope is starting oO0OoO0OoO0Oo");
    log!(
        Notice,
        "Pyrope version={}, redis_version={}, bits=64, pid={}, just started",
        PYROPE_VERSION,
        server::REDIS_VERSION_REPORTED,
        std::process::id()
    );
    if cfg.file.is_none() && i == 0 {
        log!(Warning, "Warning: no config file specified, using the default config. In order to specify a config file use {} /path/to/redis.conf", args[0]);
    } else {
        log!(Notice, "Configuration loaded");
    }
    if !cfg.unsupported_seen.is_empty() {
        log!(
            Warning,
            "These directives are accepted but not supported yet by Pyrope (their value is kept, the feature is inactive): {}",
            cfg.unsupported_seen.join(", ")
        );
    }
    signals::install();
    let maxclients = adjust_open_files_limit(settings.maxclients);
    if maxclients != settings.maxclients {
        cfg.set_from_file("maxclients", &[maxclients.to_string()])
            .expect("a lower maxclients is valid");
    }
    let mut table = command::meta::build(&handlers());
    for (old, new) in &cfg.renames {
        table.rename(old, new);
    }
    let mut srv = server::Server::new(cfg, table);
    if let Err(e) = acl::load_at_startup(&mut srv) {
        log!(Warning, "{e}");
        return 1;
    }
    let mut ev = match net::EventLoop::open(&mut srv) {
        Ok(ev) => ev,
        Err(e) => {
            log!(Warning, "{e}");
            // Redis's closing line for a listener that failed (initListeners).
            match e {
                net::ListenError::Tcp { port, .. } => {
                    log!(Warning, "Failed listening on port {port} (tcp), aborting.")
                }
                _ => {}
            }
            return 1;
        }
    };
    if !settings.pidfile.is_empty() {
        if let Err(e) = std::fs::write(&settings.pidfile, format!("{}\n", std::process::id())) {
            log!(Warning, "Failed to write PID file: {e}");
        }
    }
    srv.used_memory_startup = evict::used_memory(&srv);
    log!(Notice, "Server initialized");
    if persist::load_at_startup(&mut srv).is_err() {
        return 1;
    }
    log!(Notice, "Ready to accept connections tcp");
    let code = ev.run(&mut srv);
    drop(ev);
    code
}

/// File descriptors Redis keeps for itself beyond the clients (`CONFIG_MIN_RESERVED_FDS`).
const MIN_RESERVED_FDS: u64 = 32;

/// Redis's `adjustOpenFilesLimit()`: raises RLIMIT_NOFILE to `maxclients + 32`, or to the
/// highest value the OS grants (trying 16 fewer each time), and returns the maxclients that
/// fits, logging Redis's three warnings when it had to be reduced. Exits (code 1) as Redis
/// when not even the reserved descriptors are available.
pub fn adjust_open_files_limit(maxclients: u64) -> u64 {
    let maxfiles = maxclients + MIN_RESERVED_FDS;
    // SAFETY: rlimit is plain data (all-zero is valid); getrlimit fills the struct we own.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == -1 {
        let e = std::io::Error::last_os_error();
        log!(Warning, "Unable to obtain the current NOFILE limit ({}), assuming 1024 and setting the max clients configuration accordingly.", os_text(&e));
        return 1024 - MIN_RESERVED_FDS;
    }
    let oldlimit = limit.rlim_cur as u64;
    if oldlimit >= maxfiles {
        return maxclients;
    }
    let mut bestlimit = maxfiles;
    let mut error = None;
    while bestlimit > oldlimit {
        let l = libc::rlimit {
            rlim_cur: bestlimit as libc::rlim_t,
            rlim_max: bestlimit as libc::rlim_t,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } != -1 {
            break;
        }
        error = Some(std::io::Error::last_os_error());
        if bestlimit < 16 {
            bestlimit = oldlimit;
            break;
        }
        bestlimit -= 16;
    }
    bestlimit = bestlimit.max(oldlimit);
    if bestlimit < maxfiles {
        if bestlimit <= MIN_RESERVED_FDS {
            log!(Warning, "Your current 'ulimit -n' of {oldlimit} is not enough for the server to start. Please increase your open file limit to at least {maxfiles}. Exiting.");
            std::process::exit(1);
        }
        let reduced = bestlimit - MIN_RESERVED_FDS;
        log!(
            Warning,
            "You requested maxclients of {maxclients} requiring at least {maxfiles} max file descriptors."
        );
        log!(
            Warning,
            "Server can't set maximum open files to {maxfiles} because of OS error: {}.",
            error.as_ref().map(os_text).unwrap_or_default()
        );
        log!(Warning, "Current maximum open files is {bestlimit}. maxclients has been reduced to {reduced} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.");
        reduced
    } else {
        log!(
            Notice,
            "Increased maximum number of open files to {maxfiles} (it was originally set to {oldlimit})."
        );
        maxclients
    }
}

/// An OS error as C's strerror() prints it (without Rust's " (os error N)").
pub(crate) fn os_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_handler_has_metadata() {
        let t = super::command::meta::build(&super::handlers());
        for (name, _) in super::handlers() {
            assert!(t.find_fullname(name).is_some(), "{name}");
        }
        assert!(t.find_fullname("config").is_some());
        assert!(
            t.find_fullname("failover").is_none(),
            "unimplemented commands are not advertised"
        );
    }

    #[test]
    fn command_line_options_become_config() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        // The exact text Redis 7.4 builds (values quoted by sdscatrepr).
        let a = v(&["--port", "7000", "--save", "--bind", "127.0.0.1", "::1"]);
        assert_eq!(
            super::options_to_config(&a),
            "port \"7000\" \nsave \"\"\nbind \"127.0.0.1\" \"::1\" "
        );
        assert_eq!(
            super::options_to_config(&v(&["--save", "60", "1"])),
            "save \"60\" \"1\" "
        );
        assert_eq!(
            super::options_to_config(&v(&["--port 7000", "--save"])),
            "port 7000 \nsave \"\""
        );
        let mut c = super::config::Config::new();
        c.load_text(&format!("\n{}", super::options_to_config(&a)), false)
            .unwrap();
        assert_eq!(c.get("port"), Some("7000"));
        assert_eq!(c.get("save"), Some(""));
        assert_eq!(c.get("bind"), Some("127.0.0.1 ::1"));
    }
}
