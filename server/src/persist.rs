//! RDB persistence of the server (rdb.c's command and cron side): SAVE, BGSAVE [SCHEDULE],
//! the `save` rules checked by the cron, the background save's completion, loading at
//! start-up, `stop-writes-on-bgsave-error`, and the INFO persistence fields. The dataset's
//! bytes are written and read by `rdb.rs` over `common::rdb`; fork children by `fork.rs`.

use crate::command::{Ctx, Handler};
use crate::fork::{Child, ChildExit, ChildKind};
use crate::server::Server;
use std::time::Instant;

/// Seconds between two attempts of a failed automatic BGSAVE (`CONFIG_BGSAVE_RETRY_DELAY`).
const BGSAVE_RETRY_DELAY_S: i64 = 5;

/// Persistence state kept in `Server` (Redis's `rdb_*` / `lastbgsave_*` / `stat_fork*`
/// fields).
#[derive(Debug)]
pub struct Persist {
    /// The live fork child (BGSAVE, BGREWRITEAOF), if any.
    pub child: Option<Child>,
    /// `rdb_last_bgsave_status`: false after a failed background save.
    pub lastbgsave_ok: bool,
    /// Unix seconds of the last BGSAVE attempt (`lastbgsave_try`).
    pub lastbgsave_try_s: i64,
    /// `rdb_last_bgsave_time_sec` (-1 before the first).
    pub last_bgsave_time_sec: i64,
    /// `rdb_saves`: saves done (SAVE and BGSAVE).
    pub rdb_saves: u64,
    /// `rdb_last_cow_size`, bytes.
    pub last_cow_size: u64,
    /// `total_forks`.
    pub total_forks: u64,
    /// `latest_fork_usec`.
    pub latest_fork_usec: u64,
    /// A BGSAVE asked for while another child ran (`rdb_bgsave_scheduled`).
    pub bgsave_scheduled: bool,
    /// `dirty` when the running BGSAVE started (`dirty_before_bgsave`).
    pub dirty_before_bgsave: u64,
    /// `rdb_last_load_keys_loaded` / `rdb_last_load_keys_expired`.
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
}

impl Default for Persist {
    fn default() -> Self {
        Persist {
            child: None,
            lastbgsave_ok: true,
            lastbgsave_try_s: 0,
            last_bgsave_time_sec: -1,
            rdb_saves: 0,
            last_cow_size: 0,
            total_forks: 0,
            latest_fork_usec: 0,
            bgsave_scheduled: false,
            dirty_before_bgsave: 0,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
        }
    }
}

impl Persist {
    /// True while a BGSAVE child runs.
    pub fn rdb_child(&self) -> bool {
        self.child
            .as_ref()
            .is_some_and(|c| c.kind == ChildKind::Rdb)
    }
}

/// `save` as (seconds, changes) pairs.
fn save_params(srv: &Server) -> Vec<(i64, u64)> {
    let v = srv.config.get("save").unwrap_or("");
    let nums: Vec<i64> = v
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    nums.chunks_exact(2)
        .map(|p| (p[0], p[1].max(0) as u64))
        .collect()
}

/// The RDB file's path (`dbfilename`, relative to `dir`, which is the process's cwd).
pub fn rdb_filename(srv: &Server) -> String {
    srv.config
        .get("dbfilename")
        .unwrap_or("dump.rdb")
        .to_string()
}

/// Foreground save (Redis `rdbSave`): writes `temp-<pid>.rdb`, fsyncs, renames over the
/// target, fsyncs the directory. On success updates `dirty`/`lastsave`/status as Redis does.
/// Errors are logged with Redis's wording and returned.
pub fn save_foreground(srv: &mut Server) -> Result<(), String> {
    let path = rdb_filename(srv);
    match crate::rdb::save_file(srv, &path, None) {
        Ok(()) => {
            crate::log!(Notice, "DB saved on disk");
            srv.dirty = 0;
            srv.lastsave_s = crate::server::unix_us() / 1_000_000;
            srv.persist.lastbgsave_ok = true;
            srv.persist.rdb_saves += 1;
            Ok(())
        }
        Err(e) => {
            srv.persist.lastbgsave_ok = false;
            Err(e)
        }
    }
}

/// Descriptors a child must close: the listening sockets.
pub fn listener_fds(srv: &Server) -> Vec<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    let mut v: Vec<_> = srv.listeners.tcp.iter().map(|l| l.as_raw_fd()).collect();
    if let Some(u) = &srv.listeners.unix {
        v.push(u.as_raw_fd());
    }
    v
}

/// Starts a background save (Redis `rdbSaveBackground`). Errors: a fork failure (logged,
/// status set to err).
pub fn bgsave_start(srv: &mut Server) -> Result<(), String> {
    srv.persist.dirty_before_bgsave = srv.dirty;
    srv.persist.lastbgsave_try_s = crate::server::unix_us() / 1_000_000;
    let path = rdb_filename(srv);
    let close = listener_fds(srv);
    let keys: u64 = (0..srv.ks.dbs()).map(|d| srv.ks.db(d).len() as u64).sum();
    let t0 = Instant::now();
    let srv_ref: &Server = srv;
    let forked = crate::fork::fork(
        ChildKind::Rdb,
        &close,
        keys,
        |ctx| match crate::rdb::save_file(srv_ref, &path, Some(ctx)) {
            Ok(()) => {
                crate::log!(Notice, "DB saved on disk");
                let cow = crate::fork::private_dirty_bytes();
                crate::log!(
                    Notice,
                    "Fork CoW for RDB: current {} MB, peak {} MB, average {} MB",
                    cow >> 20,
                    cow >> 20,
                    cow >> 21
                );
                ctx.progress(keys, true);
                true
            }
            Err(_) => false,
        },
    );
    match forked {
        Ok(child) => {
            srv.persist.latest_fork_usec = t0.elapsed().as_micros() as u64;
            srv.persist.total_forks += 1;
            crate::latency::fork_done(srv, srv.persist.latest_fork_usec);
            crate::log!(Notice, "Background saving started by pid {}", child.pid);
            srv.persist.child = Some(child);
            srv.ks.set_resize_paused(true);
            Ok(())
        }
        Err(e) => {
            srv.persist.lastbgsave_ok = false;
            let msg = format!("Can't save in background: fork: {e}");
            crate::log!(Warning, "{msg}");
            Err(msg)
        }
    }
}

/// Completion of a background save (Redis `backgroundSaveDoneHandlerDisk`).
fn bgsave_done(srv: &mut Server, child: &Child, exit: ChildExit) {
    let now_s = crate::server::unix_us() / 1_000_000;
    if exit.ok() {
        crate::log!(Notice, "Background saving terminated with success");
        srv.dirty = srv.dirty.saturating_sub(srv.persist.dirty_before_bgsave);
        srv.lastsave_s = now_s;
        srv.persist.lastbgsave_ok = true;
        srv.persist.rdb_saves += 1;
    } else if let Some(sig) = exit.signal {
        crate::log!(Warning, "Background saving terminated by signal {sig}");
        // SIGUSR1 is how the server itself stops a child: not an error.
        if sig != libc::SIGUSR1 {
            srv.persist.lastbgsave_ok = false;
        }
        let t0 = crate::latency::start(srv);
        let _ = std::fs::remove_file(format!("temp-{}.rdb", child.pid));
        crate::latency::end(srv, t0, "rdb-unlink-temp-file");
    } else {
        crate::log!(Warning, "Background saving error");
        srv.persist.lastbgsave_ok = false;
    }
    srv.persist.last_bgsave_time_sec = child.started.elapsed().as_secs() as i64;
    if let Some(cow) = child.final_cow {
        srv.persist.last_cow_size = cow;
    }
}

/// Stops a running child (SHUTDOWN, FLUSHALL, DEBUG RELOAD): kills it, removes its temp
/// file, and records no error.
pub fn kill_child(srv: &mut Server) {
    if let Some(mut child) = srv.persist.child.take() {
        let kind = child.kind;
        let exit = child.kill();
        match kind {
            ChildKind::Rdb => bgsave_done(srv, &child, exit),
            ChildKind::Aof => crate::aof::rewrite_done(srv, &child, exit),
        }
        srv.ks.set_resize_paused(false);
    }
}

/// The cron's part (serverCron): reap a finished child, start a scheduled BGSAVE, and check
/// the `save` rules.
pub fn cron(srv: &mut Server) {
    if let Some(child) = srv.persist.child.as_mut() {
        child.read_info();
        let Some(exit) = child.try_wait() else {
            return;
        };
        let child = srv.persist.child.take().expect("child present");
        match child.kind {
            ChildKind::Rdb => bgsave_done(srv, &child, exit),
            ChildKind::Aof => crate::aof::rewrite_done(srv, &child, exit),
        }
        srv.ks.set_resize_paused(false);
    }
    let now_s = crate::server::unix_us() / 1_000_000;
    if srv.persist.bgsave_scheduled {
        srv.persist.bgsave_scheduled = false;
        let _ = bgsave_start(srv);
        return;
    }
    for (secs, changes) in save_params(srv) {
        if srv.dirty >= changes
            && now_s - srv.lastsave_s > secs
            && (now_s - srv.persist.lastbgsave_try_s > BGSAVE_RETRY_DELAY_S
                || srv.persist.lastbgsave_ok)
        {
            crate::log!(Notice, "{changes} changes in {secs} seconds. Saving...");
            let _ = bgsave_start(srv);
            break;
        }
    }
}

/// True when writes must be refused with `-MISCONF` (`stop-writes-on-bgsave-error` with
/// save rules and a failed last save).
pub fn writes_refused(srv: &Server) -> bool {
    !srv.persist.lastbgsave_ok
        && srv.config.get("stop-writes-on-bgsave-error") == Some("yes")
        && !save_params(srv).is_empty()
}

/// The `-MISCONF` error text, as Redis's `shared.bgsaveerr`.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Loads the RDB file at start-up if it exists (Redis `loadDataFromDisk`). Errors (a
/// damaged file) are logged and returned: the server must not start with partial data.
pub fn load_at_startup(srv: &mut Server) -> Result<(), ()> {
    // With `appendonly yes` the AOF is the dataset (Redis `loadDataFromDisk`): the RDB
    // file is not read, even when there is no AOF yet.
    if srv.config.get("appendonly") == Some("yes") {
        crate::aof::load_manifest(srv)?;
        crate::aof::load(srv)?;
        return crate::aof::open_on_start(srv);
    }
    let path = rdb_filename(srv);
    if !std::path::Path::new(&path).exists() {
        return Ok(());
    }
    let t0 = Instant::now();
    match crate::rdb::load_file(srv, &path) {
        Ok(stats) => {
            crate::log!(
                Notice,
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                stats.loaded,
                stats.expired
            );
            crate::log!(
                Notice,
                "DB loaded from disk: {:.3} seconds",
                t0.elapsed().as_secs_f64()
            );
            srv.persist.last_load_keys_loaded = stats.loaded;
            srv.persist.last_load_keys_expired = stats.expired;
            Ok(())
        }
        Err(e) => {
            crate::log!(Warning, "{e}");
            crate::log!(
                Warning,
                "Fatal error loading the DB, check server logs. Exiting."
            );
            Err(())
        }
    }
}

/// SAVE.
fn save(c: &mut Ctx) {
    if c.srv.persist.rdb_child() {
        return c.out.error("ERR Background save already in progress");
    }
    match save_foreground(c.srv) {
        Ok(()) => c.out.ok(),
        Err(_) => c.out.error("ERR"),
    }
}

/// BGSAVE [SCHEDULE].
fn bgsave(c: &mut Ctx) {
    let mut schedule = false;
    if c.argc() > 1 {
        if c.argc() == 2 && crate::command::opt(c.arg(1)).as_slice() == b"schedule" {
            schedule = true;
        } else {
            return c.out.syntax_error();
        }
    }
    let in_exec = c.flags & crate::command::ctx::IN_MULTI != 0;
    if c.srv.persist.rdb_child() {
        c.out.error("ERR Background save already in progress");
    } else if c.srv.persist.child.is_some() || in_exec {
        if schedule || in_exec {
            c.srv.persist.bgsave_scheduled = true;
            c.out.simple("Background saving scheduled");
        } else {
            c.out.error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
        }
    } else {
        match bgsave_start(c.srv) {
            Ok(()) => c.out.simple("Background saving started"),
            Err(_) => c.out.error("ERR"),
        }
    }
}

/// INFO persistence's RDB fields, in Redis's order, from `loading` through
/// `rdb_last_load_keys_loaded` (the AOF fields follow).
pub fn info_rdb(srv: &Server, o: &mut String) {
    use std::fmt::Write;
    let p = &srv.persist;
    let child = p.child.as_ref();
    let (cow_peak, cow_size, cow_age, perc, processed, total) = match child {
        Some(c) => (
            c.cow_peak,
            c.cow_size,
            c.cow_updated.map_or(0, |t| t.elapsed().as_secs()),
            if c.keys_total > 0 {
                c.keys_processed as f64 * 100.0 / c.keys_total as f64
            } else {
                0.0
            },
            c.keys_processed,
            c.keys_total,
        ),
        None => (0, 0, 0, 0.0, 0, 0),
    };
    let current = match child {
        Some(c) if c.kind == ChildKind::Rdb => c.started.elapsed().as_secs() as i64,
        _ => -1,
    };
    let _ = write!(
        o,
        "loading:0\r\nasync_loading:0\r\ncurrent_cow_peak:{cow_peak}\r\ncurrent_cow_size:{cow_size}\r\ncurrent_cow_size_age:{cow_age}\r\ncurrent_fork_perc:{perc:.2}\r\ncurrent_save_keys_processed:{processed}\r\ncurrent_save_keys_total:{total}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{current}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
        srv.dirty,
        p.rdb_child() as u8,
        srv.lastsave_s,
        if p.lastbgsave_ok { "ok" } else { "err" },
        p.last_bgsave_time_sec,
        p.rdb_saves,
        p.last_cow_size,
        p.last_load_keys_expired,
        p.last_load_keys_loaded,
    );
}

/// The persistence commands.
pub const COMMANDS: &[(&str, Handler)] = &[("save", save), ("bgsave", bgsave)];
