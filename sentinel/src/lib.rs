//! `pyrope-sentinel`: monitoring and automatic failover for Redis-protocol primaries and
//! replicas, a drop-in member of a Redis Sentinel group (Redis's `sentinel.c`).
//!
//! - [`config`]: `sentinel.conf` loading and atomic rewriting in Redis's layout.
//! - [`state`]: the sentinel state, events, votes, hello processing.
//! - [`monitor`]: links, PING/INFO/hello periods, SDOWN/ODOWN, TILT.
//! - [`failover`]: the failover state machine and leader election.
//! - [`server`] and [`commands`]: the RESP server loop (mio) and the commands it answers.
//! - [`link`]: non-blocking outbound connections; [`instance`]: the monitored instances;
//!   [`info`]: INFO; [`log`]: Redis's log line format; [`scripts`]: notification and
//!   client-reconfig scripts.
//!
//! Invariant: one thread owns everything; nothing here blocks the loop except the resolution of
//! a configured host name when a link is opened.

pub mod acl;
pub mod cmdtable;
pub mod commands;
pub mod config;
pub mod failover;
pub mod info;
pub mod instance;
pub mod link;
pub mod log;
pub mod monitor;
pub mod scripts;
pub mod server;
pub mod state;

use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;

/// Command line: `pyrope-sentinel /path/sentinel.conf [--directive value ...]`.
#[derive(Parser, Debug)]
#[command(
    name = "pyrope-sentinel",
    version,
    about = "Monitors Redis-protocol primaries and replicas and fails them over (redis-sentinel compatible)",
    disable_help_flag = false
)]
struct Args {
    /// The sentinel config file (rewritten with the discovered state).
    config: PathBuf,
    /// Config directives as `--name value ...` (e.g. `--port 26380`), applied after the file.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    directives: Vec<String>,
}

/// Runs the sentinel; returns the process exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    // `--sentinel` alone (as given to redis-server) becomes an empty `sentinel` line, which
    // the loader ignores as Redis does; `--sentinel monitor ...` is a sentinel directive.
    let extra = match config::args_to_lines(&args.directives) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let cfg = match config::load(&args.config, &extra) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if let Err(e) = config::check_writable(&cfg.path) {
        eprintln!("{e}");
        return 1;
    }
    if let Some(dir) = &cfg.dir {
        if let Err(e) = std::env::set_current_dir(dir) {
            eprintln!("Can't chdir to '{}': {e}", dir.display());
            return 1;
        }
    }
    if let Err(e) = log::configure(cfg.loglevel, &cfg.logfile) {
        eprintln!("Can't open the log file: {e}");
        return 1;
    }
    server::install_signals();
    crate::log!(Notice, "oO0OoO0OoO0Oo Pyrope is starting oO0OoO0OoO0Oo");
    crate::log!(
        Notice,
        "Pyrope sentinel version={}, pid={}, just started",
        info::PYROPE_VERSION,
        std::process::id()
    );
    crate::log!(Notice, "Configuration loaded");
    let had_id = cfg.myid.is_some();
    let port = cfg.port;
    let mut srv = match server::Server::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            crate::log!(Warning, "{e}");
            crate::log!(Warning, "Failed listening on port {port} (tcp), aborting.");
            return 1;
        }
    };
    if let Some(p) = srv.sentinel.cfg.pidfile.clone() {
        let _ = std::fs::write(p, format!("{}\n", std::process::id()));
    }
    crate::log!(Notice, "Running mode=sentinel, port={port}.");
    // sentinelIsRunning(): save the generated id at once, then the initial +monitor events.
    if srv.sentinel.flush_config().is_err() && !had_id {
        return 1;
    }
    crate::log!(Notice, "Sentinel ID is {}", srv.sentinel.myid);
    for mi in 0..srv.sentinel.masters.len() {
        let q = srv.sentinel.masters[mi].quorum;
        srv.sentinel.event(
            log::Level::Warning,
            "+monitor",
            mi,
            instance::Who::Master,
            &format!(" quorum {q}"),
        );
    }
    srv.run()
}
