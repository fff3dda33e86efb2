//! The append-only file of the server (Redis 7's aof.c): the multi-part layout in
//! `appenddirname` (a manifest naming one BASE file — an RDB, or a RESP command stream — and
//! INCR files replayed after it), feeding from the propagation path, writing and fsyncing
//! by `appendfsync`, BGREWRITEAOF in a fork child, the automatic rewrite, loading at start-up,
//! and switching `appendonly` at run time.
//!
//! - **Feeding**: while the AOF is on, `Propagator::flush` appends every propagated unit to
//!   `Propagator::aof` (`AofFeed`: Redis's `aof_buf`, with its own SELECT and `#TS:` state).
//! - **Writing** ([`flush`], `flushAppendOnlyFile`): called from `before_sleep` before any
//!   reply is written, so with `appendfsync always` a client only hears about a write that is
//!   on disk; `everysec` hands the fsync to a background thread ([`FsyncWorker`], Redis's bio
//!   job) at most once a second and never fsyncs on the executor; `no` leaves it to the OS.
//!   While a background fsync is still running, `everysec` postpones the write up to 2 s
//!   (`aof_delayed_fsync`). A failed write keeps the buffer, refuses writes with
//!   `-MISCONF Errors writing to the AOF file: ...` and retries from the cron; under `always`
//!   it is fatal, as in Redis.
//! - **Rewrite** ([`rewrite_background`]): the parent opens a new INCR file first (the manifest
//!   is persisted with it), then forks; the child writes the dataset to
//!   `temp-rewriteaof-bg-<pid>.aof` (an RDB with `aof-base 1` under `aof-use-rdb-preamble`,
//!   else commands as `rewriteAppendOnlyFileRio`) and fsyncs it; on success the parent renames
//!   it to the next BASE name, marks the old base and the INCR files before the new one as
//!   HISTORY, persists the manifest and deletes the history files.
//! - **Loading** ([`load`], `loadAppendOnlyFiles`): the base, then each INCR file in order;
//!   a file starting with `REDIS` is read by the RDB loader (expired keys kept, as in Redis)
//!   and the commands after it are replayed; commands run on a socketless client with the
//!   server in `loading` state (nothing expires, past expire times do not delete), MULTI/EXEC
//!   blocks are applied whole, and a truncated last file (or a MULTI without EXEC at its end)
//!   is cut back to its last complete command under `aof-load-truncated`.

use crate::fork::{Child, ChildExit, ChildKind};
use crate::propagate::AofFeed;
use crate::server::Server;
use pyrope_common::aof::manifest::{self, FileType, Manifest};
use pyrope_common::aof::reader::{AofReader, ErrorKind, Item};
use pyrope_common::aof::writer::AofWriter;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// The AOF's state (Redis `AOF_OFF` / `AOF_ON` / `AOF_WAIT_REWRITE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AofState {
    /// `appendonly no`.
    Off,
    /// Appending to the last INCR file.
    On,
    /// `appendonly` was switched on at run time: the first rewrite is running (or scheduled)
    /// and commands go to a temporary INCR file until it completes.
    WaitRewrite,
}

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync after every write, on the executor, before replies go out.
    Always,
    /// fsync at most once a second on the background thread.
    Everysec,
    /// Never fsync explicitly.
    No,
}

/// The background fsync thread (Redis's `BIO_AOF_FSYNC` worker). Started on first use; a
/// fork child never uses it.
#[derive(Debug, Default)]
pub struct FsyncWorker {
    tx: Option<mpsc::Sender<Arc<File>>>,
    /// Jobs queued or running (`aof_pending_bio_fsync`).
    pending: Arc<AtomicUsize>,
    /// The last background fsync failed (`aof_bio_fsync_status`).
    failed: Arc<AtomicBool>,
}

impl FsyncWorker {
    /// Queues an fsync (fdatasync) of `f`.
    fn submit(&mut self, f: Arc<File>) {
        if self.tx.is_none() {
            let (tx, rx) = mpsc::channel::<Arc<File>>();
            let pending = self.pending.clone();
            let failed = self.failed.clone();
            let spawned = std::thread::Builder::new()
                .name("aof-fsync".into())
                .spawn(move || {
                    for f in rx {
                        let ok = f.sync_data().is_ok();
                        failed.store(!ok, Ordering::Release);
                        pending.fetch_sub(1, Ordering::AcqRel);
                    }
                });
            if spawned.is_err() {
                // No thread: fsync here rather than never.
                let _ = f.sync_data();
                return;
            }
            self.tx = Some(tx);
        }
        self.pending.fetch_add(1, Ordering::AcqRel);
        if let Some(tx) = &self.tx {
            if tx.send(f).is_err() {
                self.pending.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Jobs queued or running.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }
}

/// AOF state kept in `Server` (Redis's `aof_*` fields).
#[derive(Debug)]
pub struct Aof {
    pub state: AofState,
    /// The manifest as last persisted (or loaded).
    pub manifest: Manifest,
    /// The INCR file being appended to (`aof_fd`).
    file: Option<Arc<File>>,
    /// Bytes in the current INCR file (`aof_last_incr_size`).
    pub last_incr_size: u64,
    /// `last_incr_size` at the last fsync (`aof_last_incr_fsync_offset`).
    pub last_incr_fsync_offset: u64,
    /// `aof_current_size`: base + incr bytes.
    pub current_size: u64,
    /// `aof_rewrite_base_size`: the size after the last rewrite.
    pub base_size: u64,
    /// Unix ms of the last fsync (`aof_last_fsync`).
    pub last_fsync_ms: i64,
    /// When a postponed write started waiting (`aof_flush_postponed_start`), unix ms; 0 none.
    pub flush_postponed_start: i64,
    /// `aof_delayed_fsync`.
    pub delayed_fsync: u64,
    /// `aof_rewrite_scheduled`.
    pub rewrite_scheduled: bool,
    /// `aof_last_rewrite_time_sec` (-1 before the first).
    pub last_rewrite_time_sec: i64,
    /// `aof_rewrites`.
    pub rewrites: u64,
    /// `aof_rewrites_consecutive_failures`.
    pub rewrites_consecutive_failures: u64,
    /// `aof_last_bgrewrite_status`.
    pub lastbgrewrite_ok: bool,
    /// `aof_last_write_status`, and the error of the last failed write.
    pub last_write_ok: bool,
    pub last_write_error: String,
    /// `aof_last_cow_size`, bytes.
    pub last_cow_size: u64,
    pub fsync: FsyncWorker,
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            state: AofState::Off,
            manifest: Manifest::default(),
            file: None,
            last_incr_size: 0,
            last_incr_fsync_offset: 0,
            current_size: 0,
            base_size: 0,
            last_fsync_ms: 0,
            flush_postponed_start: 0,
            delayed_fsync: 0,
            rewrite_scheduled: false,
            last_rewrite_time_sec: -1,
            rewrites: 0,
            rewrites_consecutive_failures: 0,
            lastbgrewrite_ok: true,
            last_write_ok: true,
            last_write_error: String::new(),
            last_cow_size: 0,
            fsync: FsyncWorker::default(),
        }
    }
}

/// The name of the temporary INCR file used while the AOF waits for its first rewrite
/// (`getTempIncrAofName`).
fn temp_incr_name(srv: &Server) -> String {
    format!(
        "{}{}.incr",
        manifest::TEMP_FILE_NAME_PREFIX,
        aof_filename(srv)
    )
}

/// `appendfilename`.
pub fn aof_filename(srv: &Server) -> String {
    srv.config
        .get("appendfilename")
        .unwrap_or("appendonly.aof")
        .to_string()
}

/// `appenddirname`.
pub fn aof_dirname(srv: &Server) -> String {
    srv.config
        .get("appenddirname")
        .unwrap_or("appendonlydir")
        .to_string()
}

fn in_dir(srv: &Server, name: &str) -> PathBuf {
    Path::new(&aof_dirname(srv)).join(name)
}

/// `appendfsync`.
pub fn fsync_policy(srv: &Server) -> FsyncPolicy {
    match srv.config.get("appendfsync") {
        Some("always") => FsyncPolicy::Always,
        Some("no") => FsyncPolicy::No,
        _ => FsyncPolicy::Everysec,
    }
}

fn yes(srv: &Server, name: &str) -> bool {
    srv.config.get(name) == Some("yes")
}

fn now_ms() -> i64 {
    crate::server::unix_us() / 1000
}

/// Writes `m` atomically as the manifest (`persistAofManifest`): a temp file in the dir,
/// fsync, rename, fsync of the dir.
fn persist_manifest(srv: &Server, m: &Manifest) -> Result<(), String> {
    let name = aof_filename(srv);
    let dir = aof_dirname(srv);
    let tmp = Path::new(&dir).join(manifest::temp_manifest_name(&name));
    let dst = Path::new(&dir).join(manifest::manifest_name(&name));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(m.to_text().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &dst)?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let msg = format!(
            "Can't persist the AOF manifest file {}: {}",
            manifest::manifest_name(&name),
            crate::os_text(&e)
        );
        crate::log!(Warning, "{msg}");
        msg
    })
}

/// Reads the manifest from disk (`aofLoadManifestFromDisk`): an empty manifest when the dir
/// or the file does not exist. Errors: a manifest Redis would refuse (its lines are logged).
pub fn load_manifest(srv: &mut Server) -> Result<(), ()> {
    srv.aof.manifest = Manifest::default();
    let path = in_dir(srv, &manifest::manifest_name(&aof_filename(srv)));
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(_) => return Ok(()),
    };
    match Manifest::parse(&text) {
        Ok(m) => {
            srv.aof.manifest = m;
            Ok(())
        }
        Err(e) => {
            for l in e.redis_lines() {
                crate::log!(Warning, "{l}");
            }
            Err(())
        }
    }
}

/// Deletes the HISTORY files and persists the manifest (`aofDelHistoryFiles`), unless
/// `aof-disable-auto-gc`.
fn del_history_files(srv: &mut Server) {
    if srv.aof.manifest.history.is_empty() || yes(srv, "aof-disable-auto-gc") {
        return;
    }
    for ai in std::mem::take(&mut srv.aof.manifest.history) {
        crate::log!(
            Notice,
            "Removing the history file {} in the background",
            ai.file_name
        );
        let p = in_dir(srv, &ai.file_name);
        // Unlinking is cheap here (a big file's blocks are freed by the kernel lazily).
        let _ = std::fs::remove_file(p);
    }
    let m = srv.aof.manifest.clone();
    let _ = persist_manifest(srv, &m);
}

/// True when an old single-file AOF (`appendfilename` in the working dir) must be moved into
/// the AOF dir first (the three cases of `loadAppendOnlyFiles`).
fn needs_upgrade(srv: &Server) -> bool {
    let name = aof_filename(srv);
    if !Path::new(&name).is_file() {
        return false;
    }
    let m = &srv.aof.manifest;
    let dir_exists = Path::new(&aof_dirname(srv)).is_dir();
    !dir_exists
        || (m.base.is_none() && m.incr.is_empty())
        || (m.incr.is_empty()
            && m.base.as_ref().is_some_and(|b| b.file_name == name)
            && !in_dir(srv, &name).exists())
}

/// `aofUpgradePrepare`: the old file becomes BASE 1 of the dir.
fn upgrade(srv: &mut Server) -> Result<(), ()> {
    let name = aof_filename(srv);
    let dir = aof_dirname(srv);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        crate::log!(
            Warning,
            "Can't open or create append-only dir {dir}: {}",
            crate::os_text(&e)
        );
        return Err(());
    }
    let m = Manifest {
        curr_base_file_seq: 1,
        base: Some(manifest::AofInfo {
            file_name: name.clone(),
            file_seq: 1,
            file_type: FileType::Base,
        }),
        ..Default::default()
    };
    persist_manifest(srv, &m).map_err(|_| ())?;
    if let Err(e) = std::fs::rename(&name, Path::new(&dir).join(&name)) {
        crate::log!(
            Warning,
            "Error trying to rename the existing AOF to the AOF directory {dir}: {}",
            crate::os_text(&e)
        );
        return Err(());
    }
    crate::log!(
        Notice,
        "Successfully migrated an old-style AOF into the AOF directory {dir}."
    );
    srv.aof.manifest = m;
    Ok(())
}

/// How loading one file ended (`AOF_OK`, `AOF_EMPTY`, `AOF_TRUNCATED`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileLoad {
    Ok,
    Empty,
    Truncated,
    NotExist,
}

/// Loads the AOF (`loadAppendOnlyFiles`) into the (empty) keyspace. `Ok(false)` when there
/// is no AOF at all. Errors (logged): a damaged or missing file that cannot be recovered.
pub fn load(srv: &mut Server) -> Result<bool, ()> {
    if needs_upgrade(srv) {
        upgrade(srv)?;
    }
    let files: Vec<(String, bool)> = {
        let m = &srv.aof.manifest;
        m.base
            .iter()
            .map(|b| (b.file_name.clone(), true))
            .chain(m.incr.iter().map(|i| (i.file_name.clone(), false)))
            .collect()
    };
    if files.is_empty() {
        return Ok(false);
    }
    let mut total = 0u64;
    for (name, _) in &files {
        match std::fs::metadata(in_dir(srv, name)) {
            Ok(md) => total += md.len(),
            Err(e) => {
                crate::log!(
                    Warning,
                    "Unable to obtain the AOF file {name} length. stat: {}",
                    crate::os_text(&e)
                );
                return Err(());
            }
        }
    }
    if total == 0 {
        return Ok(true);
    }
    let t_all = Instant::now();
    let n = files.len();
    let mut base_size = 0;
    for (i, (name, is_base)) in files.iter().enumerate() {
        let last = i + 1 == n;
        let t0 = Instant::now();
        if *is_base {
            base_size = std::fs::metadata(in_dir(srv, name)).map_or(0, |m| m.len());
        }
        let r = load_one(srv, name)?;
        if r == FileLoad::NotExist {
            return Err(());
        }
        if r == FileLoad::Ok || r == FileLoad::Empty || (r == FileLoad::Truncated && last) {
            crate::log!(
                Notice,
                "DB loaded from {} file {name}: {:.3} seconds",
                if *is_base { "base" } else { "incr" },
                t0.elapsed().as_secs_f64()
            );
        }
        if r == FileLoad::Truncated && !last {
            crate::log!(
                Warning,
                "Fatal error: the truncated file is not the last file"
            );
            return Err(());
        }
    }
    srv.aof.current_size = files
        .iter()
        .map(|(f, _)| std::fs::metadata(in_dir(srv, f)).map_or(0, |m| m.len()))
        .sum();
    srv.aof.base_size = base_size;
    crate::log!(
        Notice,
        "DB loaded from append only file: {:.3} seconds",
        t_all.elapsed().as_secs_f64()
    );
    Ok(true)
}

/// Loads one file (`loadSingleAppendOnlyFile`).
fn load_one(srv: &mut Server, name: &str) -> Result<FileLoad, ()> {
    let path = in_dir(srv, name);
    let mut f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::log!(
                Warning,
                "The append log file {name} doesn't exist: {}",
                crate::os_text(&e)
            );
            return Ok(FileLoad::NotExist);
        }
        Err(e) => {
            crate::log!(
                Warning,
                "Fatal error: can't open the append log file {name} for reading: {}",
                crate::os_text(&e)
            );
            return Err(());
        }
    };
    let len = f.metadata().map_or(0, |m| m.len());
    if len == 0 {
        return Ok(FileLoad::Empty);
    }
    let mut sig = [0u8; 5];
    let is_rdb = std::io::Read::read_exact(&mut f, &mut sig).is_ok() && &sig == b"REDIS";
    let _ = f.seek(SeekFrom::Start(0));
    let mut start = 0u64;
    if is_rdb {
        let old_style = name == aof_filename(srv) && srv.aof.manifest.incr.is_empty();
        if old_style {
            crate::log!(Notice, "Reading RDB preamble from AOF file...");
        } else {
            crate::log!(Notice, "Reading RDB base file on AOF loading...");
        }
        match crate::rdb::load_reader(srv, &mut f, true) {
            Ok((stats, end)) => {
                crate::log!(
                    Notice,
                    "Done loading RDB, keys loaded: {}, keys expired: {}.",
                    stats.loaded,
                    stats.expired
                );
                start = end;
                if old_style {
                    crate::log!(Notice, "Reading the remaining AOF tail...");
                }
            }
            Err(e) => {
                crate::log!(Warning, "{e}");
                if old_style {
                    crate::log!(Warning, "Error reading the RDB preamble of the AOF file {name}, AOF loading aborted");
                } else {
                    crate::log!(
                        Warning,
                        "Error reading the RDB base file {name}, AOF loading aborted"
                    );
                }
                return Err(());
            }
        }
        if f.seek(SeekFrom::Start(start)).is_err() {
            return Err(());
        }
    }
    let reader = std::io::BufReader::with_capacity(1 << 16, f);
    replay(srv, name, &path, reader, start)
}

/// Replays the command part of a file from offset `start`.
fn replay(
    srv: &mut Server,
    name: &str,
    path: &Path,
    input: std::io::BufReader<File>,
    start: u64,
) -> Result<FileLoad, ()> {
    let mut rd = AofReader::new(input)
        .with_max_bulk(u64::MAX / 4)
        .at_offset(start);
    let cid = srv.create_socketless_client();
    let was_loading = std::mem::replace(&mut srv.loading, true);
    let dirty = srv.dirty;
    // Commands inside MULTI ... EXEC, applied when EXEC is read.
    let mut multi: Option<Vec<Vec<Vec<u8>>>> = None;
    let mut valid_up_to = start;
    let mut valid_before_multi = start;
    let mut outcome: Result<FileLoad, ()> = Ok(FileLoad::Ok);
    let mut truncated = false;
    loop {
        match rd.next_item() {
            Ok(None) => break,
            Ok(Some(Item::Annotation { end, .. })) => {
                if multi.is_none() {
                    valid_up_to = end;
                }
            }
            Ok(Some(Item::Command { argv, start, end })) => {
                let verb = argv[0].to_ascii_lowercase();
                if verb == b"multi" {
                    valid_before_multi = start;
                    multi = Some(Vec::new());
                    continue;
                }
                if verb == b"exec" {
                    if let Some(cmds) = multi.take() {
                        for a in &cmds {
                            if let Err(e) = run_loaded(srv, cid, a, name) {
                                crate::log!(Warning, "{e}");
                                outcome = Err(());
                                break;
                            }
                        }
                        if outcome.is_err() {
                            break;
                        }
                    }
                    valid_up_to = end;
                    continue;
                }
                if let Some(q) = &mut multi {
                    q.push(argv);
                    continue;
                }
                if let Err(e) = run_loaded(srv, cid, &argv, name) {
                    crate::log!(Warning, "{e}");
                    outcome = Err(());
                    break;
                }
                valid_up_to = end;
            }
            Err(e) if e.kind == ErrorKind::Truncated => {
                truncated = true;
                break;
            }
            Err(e) if e.kind == ErrorKind::Io => {
                crate::log!(
                    Warning,
                    "Unrecoverable error reading the append only file {name}: {}",
                    e.reason
                );
                outcome = Err(());
                break;
            }
            Err(_) => {
                crate::log!(Warning, "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>");
                outcome = Err(());
                break;
            }
        }
    }
    if outcome.is_ok() && !truncated && multi.is_some() {
        crate::log!(
            Warning,
            "Revert incomplete MULTI/EXEC transaction in AOF file {name}"
        );
        valid_up_to = valid_before_multi;
        truncated = true;
    }
    if outcome.is_ok() && truncated {
        outcome = truncate_tail(srv, name, path, valid_up_to);
    }
    srv.propagator.discard_pending();
    srv.loading = was_loading;
    srv.dirty = dirty;
    srv.free_socketless_client(cid);
    outcome
}

/// The short-read branch of `loadSingleAppendOnlyFile`: under `aof-load-truncated` the file
/// is cut at the last complete command and the load goes on; otherwise it fails.
fn truncate_tail(
    srv: &mut Server,
    name: &str,
    path: &Path,
    valid_up_to: u64,
) -> Result<FileLoad, ()> {
    if yes(srv, "aof-load-truncated") {
        crate::log!(
            Warning,
            "!!! Warning: short read while loading the AOF file {name}!!!"
        );
        crate::log!(
            Warning,
            "!!! Truncating the AOF {name} at offset {valid_up_to} !!!"
        );
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(valid_up_to));
        match cut {
            Ok(()) => {
                crate::log!(
                    Warning,
                    "AOF {name} loaded anyway because aof-load-truncated is enabled"
                );
                return Ok(FileLoad::Truncated);
            }
            Err(e) => crate::log!(
                Warning,
                "Error truncating the AOF file {name}: {}",
                crate::os_text(&e)
            ),
        }
    }
    crate::log!(Warning, "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.");
    Err(())
}

/// Runs one replayed command on the loading client (the fake client of
/// `loadSingleAppendOnlyFile`; its reply is dropped). Errors: an unknown command or a wrong
/// number of arguments, which Redis treats as a fatal load error.
fn run_loaded(srv: &mut Server, cid: usize, argv: &[Vec<u8>], file: &str) -> Result<(), String> {
    use crate::command::{Argv, Lookup};
    let mut buf = Vec::new();
    let mut ranges = Vec::with_capacity(argv.len());
    for a in argv {
        let s = buf.len();
        buf.extend_from_slice(a);
        ranges.push(s..buf.len());
    }
    let av = Argv::new(&buf, &ranges);
    let id = match srv.commands.lookup(&av) {
        Lookup::Found(id) => id,
        _ => {
            return Err(format!(
                "Unknown command '{}' reading the append only file {file}",
                String::from_utf8_lossy(&argv[0])
            ))
        }
    };
    let cmd = &srv.commands.cmds[id];
    if !cmd.arity_ok(av.len()) || cmd.handler.is_none() {
        return Err(format!(
            "Wrong number of arguments for '{}' reading the append only file {file}",
            cmd.fullname
        ));
    }
    let mut out = std::mem::take(&mut srv.clients[cid].out);
    crate::command::call::call(
        srv,
        cid,
        id,
        av,
        &mut out,
        crate::command::ctx::DENY_BLOCKING,
    );
    out.buf.clear();
    out.errors.clear();
    srv.clients[cid].out = out;
    srv.propagator.discard_pending();
    Ok(())
}

/// Opens the AOF for appending at start-up (`aofOpenIfNeededOnServerStart`), after loading:
/// with no AOF yet, a BASE file is written from the (loaded) dataset first. Errors are
/// fatal (logged).
pub fn open_on_start(srv: &mut Server) -> Result<(), ()> {
    if !yes(srv, "appendonly") {
        return Ok(());
    }
    let dir = aof_dirname(srv);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        crate::log!(
            Warning,
            "Can't open or create append-only dir {dir}: {}",
            crate::os_text(&e)
        );
        return Err(());
    }
    let name = aof_filename(srv);
    let mut m = srv.aof.manifest.clone();
    if m.base.is_none() && m.incr.is_empty() {
        let base = m.new_base(&name, yes(srv, "aof-use-rdb-preamble"));
        let tmp = format!("temp-rewriteaof-{}.aof", std::process::id());
        write_rewrite_file(srv, &tmp, None).map_err(|_| ())?;
        if let Err(e) = std::fs::rename(&tmp, in_dir(srv, &base)) {
            crate::log!(
                Warning,
                "Error trying to rename the temporary AOF base file {tmp} into {base}: {}",
                crate::os_text(&e)
            );
            let _ = std::fs::remove_file(&tmp);
            return Err(());
        }
        // As Redis, the sizes stay what loading found (0 here) until the next write/rewrite.
        crate::log!(Notice, "Creating AOF base file {base} on server start");
    }
    let opened_existing = !m.incr.is_empty();
    let incr = match m.incr.last() {
        Some(i) => i.file_name.clone(),
        None => m.new_incr(&name),
    };
    let f = match std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(in_dir(srv, &incr))
    {
        Ok(f) => f,
        Err(e) => {
            crate::log!(
                Warning,
                "Can't open the append-only file {incr}: {}",
                crate::os_text(&e)
            );
            return Err(());
        }
    };
    persist_manifest(srv, &m).map_err(|_| ())?;
    srv.aof.manifest = m;
    let size = f.metadata().map_or(0, |m| m.len());
    srv.aof.last_incr_size = size;
    srv.aof.last_incr_fsync_offset = size;
    srv.aof.file = Some(Arc::new(f));
    if opened_existing {
        crate::log!(Notice, "Opening AOF incr file {incr} on server start");
    } else {
        crate::log!(Notice, "Creating AOF incr file {incr} on server start");
    }
    del_history_files(srv);
    attach(srv, AofState::On);
    srv.aof.last_fsync_ms = now_ms();
    Ok(())
}

/// Attaches the AOF to the propagation path.
fn attach(srv: &mut Server, state: AofState) {
    if srv.propagator.aof.is_none() {
        srv.propagator.consumers += 1;
        srv.propagator.aof = Some(AofFeed {
            buf: Vec::new(),
            writer: AofWriter::new(yes(srv, "aof-timestamp-enabled")),
        });
        srv.update_signal_wants();
    }
    srv.aof.state = state;
}

/// Detaches the AOF from the propagation path (its unwritten buffer is dropped).
fn detach(srv: &mut Server) {
    if srv.propagator.aof.take().is_some() {
        srv.propagator.consumers -= 1;
        srv.update_signal_wants();
    }
    srv.aof.state = AofState::Off;
}

/// Writes the AOF buffer to the INCR file and fsyncs by policy (`flushAppendOnlyFile`).
/// `force` writes even while a background fsync is running (shutdown, rewrite start).
pub fn flush(srv: &mut Server, force: bool) {
    // The common case first, without reading any setting: nothing buffered and nothing
    // waiting for its fsync.
    match &srv.propagator.aof {
        None => return,
        Some(f) if f.buf.is_empty() && srv.aof.last_incr_fsync_offset == srv.aof.last_incr_size => {
            return
        }
        _ => {}
    }
    let Some(file) = srv.aof.file.clone() else {
        return;
    };
    let policy = fsync_policy(srv);
    let no_fsync_now = yes(srv, "no-appendfsync-on-rewrite") && srv.persist.child.is_some();
    let latency_on = srv.settings.latency_monitor_threshold_ms > 0;
    let has_child = srv.persist.child.is_some();
    let now = now_ms();
    let Some(feed) = srv.propagator.aof.as_mut() else {
        return;
    };
    let a = &mut srv.aof;
    let in_progress = policy == FsyncPolicy::Everysec && a.fsync.pending() > 0;
    if feed.buf.is_empty() {
        // Data written but not yet fsynced under everysec: fsync it once a second even when
        // no new writes come.
        if policy == FsyncPolicy::Everysec
            && a.last_incr_fsync_offset != a.last_incr_size
            && now - a.last_fsync_ms >= 1000
            && !in_progress
        {
            a.fsync.submit(file);
            a.last_incr_fsync_offset = a.last_incr_size;
            a.last_fsync_ms = now;
        }
        return;
    }
    if in_progress && !force {
        if a.flush_postponed_start == 0 {
            a.flush_postponed_start = now;
            return;
        } else if now - a.flush_postponed_start < 2000 {
            return;
        }
        a.delayed_fsync += 1;
        crate::log!(Notice, "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.");
    }
    a.flush_postponed_start = 0;
    let t0 = latency_on.then(Instant::now);
    let written = (&*file).write_all(&feed.buf);
    let write_ms = t0.map(|t| t.elapsed().as_millis() as u64);
    match written {
        Ok(()) => {
            let n = feed.buf.len() as u64;
            a.last_incr_size += n;
            a.current_size += n;
            if feed.buf.capacity() > 4096 * 4 {
                feed.buf = Vec::new();
            } else {
                feed.buf.clear();
            }
            if !a.last_write_ok {
                crate::log!(
                    Warning,
                    "AOF write error looks solved, Redis can write again."
                );
                a.last_write_ok = true;
            }
        }
        Err(e) => {
            // Partial writes are not undone here: write_all reports the error after writing
            // what it could, and the next attempt appends the whole buffer again, so the
            // file must be cut back to its last known size.
            let _ = file.set_len(a.last_incr_size);
            let _ = (&*file).seek(SeekFrom::End(0));
            a.last_write_error = crate::os_text(&e);
            if a.last_write_ok {
                crate::log!(
                    Warning,
                    "Error writing to the AOF file: {}",
                    a.last_write_error
                );
            }
            a.last_write_ok = false;
            if policy == FsyncPolicy::Always {
                crate::log!(Warning, "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                std::process::exit(1);
            }
            write_latency(srv, write_ms, in_progress, has_child);
            return;
        }
    }
    write_latency(srv, write_ms, in_progress, has_child);
    if no_fsync_now {
        return;
    }
    match policy {
        FsyncPolicy::Always => {
            let t0 = crate::latency::start(srv);
            if let Err(e) = file.sync_data() {
                crate::log!(Warning, "Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...", crate::os_text(&e));
                std::process::exit(1);
            }
            crate::latency::end(srv, t0, "aof-fsync-always");
            let a = &mut srv.aof;
            a.last_incr_fsync_offset = a.last_incr_size;
            a.last_fsync_ms = now;
        }
        FsyncPolicy::Everysec => {
            let a = &mut srv.aof;
            if now - a.last_fsync_ms >= 1000 {
                if a.fsync.pending() == 0 {
                    a.fsync.submit(file);
                    a.last_incr_fsync_offset = a.last_incr_size;
                }
                a.last_fsync_ms = now;
            }
        }
        FsyncPolicy::No => {}
    }
}

/// The latency events of one AOF buffer write (`flushAppendOnlyFile`): `aof-write` and, by
/// what else was going on, `aof-write-pending-fsync` (a background fsync running),
/// `aof-write-active-child` (a fork child alive) or `aof-write-alone`. `write_ms` is None
/// while the monitor is off.
fn write_latency(srv: &mut Server, write_ms: Option<u64>, fsync_pending: bool, child: bool) {
    let Some(ms) = write_ms else { return };
    let event = if fsync_pending {
        "aof-write-pending-fsync"
    } else if child {
        "aof-write-active-child"
    } else {
        "aof-write-alone"
    };
    crate::latency::add_sample_if_needed(srv, event, ms);
    crate::latency::add_sample_if_needed(srv, "aof-write", ms);
}

/// The reason writes are refused for the AOF (`writeCommandsDeniedByDiskError`'s AOF case):
/// a failed write, or a failed background fsync.
pub fn write_error(srv: &Server) -> Option<String> {
    if srv.aof.state == AofState::Off {
        return None;
    }
    if !srv.aof.last_write_ok {
        return Some(format!(
            "MISCONF Errors writing to the AOF file: {}",
            srv.aof.last_write_error
        ));
    }
    if srv.aof.fsync.failed.load(Ordering::Acquire) {
        return Some("MISCONF Errors writing to the AOF file: fsync failed".to_string());
    }
    None
}

/// Writes the dataset as an AOF base to `tmp` and fsyncs it (`rewriteAppendOnlyFile`
/// without the rename): an RDB with `aof-base 1` under `aof-use-rdb-preamble`, else the
/// commands that rebuild each key.
fn write_rewrite_file(
    srv: &Server,
    tmp: &str,
    ctx: Option<&mut crate::fork::ChildCtx>,
) -> Result<(), String> {
    let f = File::create(tmp).map_err(|e| {
        let msg = format!(
            "Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): {}",
            crate::os_text(&e)
        );
        crate::log!(Warning, "{msg}");
        msg
    })?;
    let bw = std::io::BufWriter::with_capacity(1 << 16, f);
    let r = if yes(srv, "aof-use-rdb-preamble") {
        crate::rdb::write_dataset_as(srv, bw, ctx, true)
    } else {
        crate::rdb::write_dataset_commands(srv, bw, ctx, yes(srv, "aof-timestamp-enabled"))
    };
    let r = r
        .and_then(|bw| bw.into_inner().map_err(|e| e.error().to_string()))
        .and_then(|f| f.sync_all().map_err(|e| e.to_string()));
    if let Err(e) = r {
        crate::log!(Warning, "Write error writing append only file on disk: {e}");
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    Ok(())
}

/// Opens the next INCR file and makes it the one appended to (`openNewIncrAofForAppend`):
/// in wait-rewrite state a temporary INCR file instead, not in the manifest.
fn open_new_incr(srv: &mut Server) -> Result<(), ()> {
    if srv.aof.state == AofState::Off {
        return Ok(());
    }
    let name = aof_filename(srv);
    let mut temp_m = None;
    let new_name = if srv.aof.state == AofState::WaitRewrite {
        temp_incr_name(srv)
    } else {
        let mut m = srv.aof.manifest.clone();
        let n = m.new_incr(&name);
        temp_m = Some(m);
        n
    };
    let f = match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(in_dir(srv, &new_name))
    {
        Ok(f) => f,
        Err(e) => {
            crate::log!(
                Warning,
                "Can't open the append-only file {new_name}: {}",
                crate::os_text(&e)
            );
            return Err(());
        }
    };
    if let Some(m) = &temp_m {
        if persist_manifest(srv, m).is_err() {
            let _ = std::fs::remove_file(in_dir(srv, &new_name));
            return Err(());
        }
    }
    crate::log!(
        Notice,
        "Creating AOF incr file {new_name} on background rewrite"
    );
    if let Some(old) = srv.aof.file.take() {
        // The old file's last fsync goes to the background thread, as Redis's
        // `aof_background_fsync_and_close`.
        srv.aof.fsync.submit(old);
        srv.aof.last_fsync_ms = now_ms();
    }
    srv.aof.file = Some(Arc::new(f));
    srv.aof.last_incr_size = 0;
    srv.aof.last_incr_fsync_offset = 0;
    if let Some(feed) = srv.propagator.aof.as_mut() {
        // A new file starts with a SELECT.
        feed.writer.selected_db = None;
    }
    if let Some(m) = temp_m {
        srv.aof.manifest = m;
    }
    Ok(())
}

/// Starts a background rewrite (`rewriteAppendOnlyFileBackground`). Errors: a child is
/// already running, the dir or the new INCR file cannot be created, fork failed (logged).
pub fn rewrite_background(srv: &mut Server) -> Result<(), ()> {
    if srv.persist.child.is_some() {
        return Err(());
    }
    let dir = aof_dirname(srv);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        crate::log!(
            Warning,
            "Can't open or create append-only dir {dir}: {}",
            crate::os_text(&e)
        );
        srv.aof.lastbgrewrite_ok = false;
        return Err(());
    }
    if let Some(feed) = srv.propagator.aof.as_mut() {
        feed.writer.selected_db = None;
    }
    flush(srv, true);
    if open_new_incr(srv).is_err() {
        srv.aof.lastbgrewrite_ok = false;
        return Err(());
    }
    srv.aof.rewrites += 1;
    if srv.aof.state == AofState::WaitRewrite {
        // Everything written so far is in the snapshot the child takes: only what follows
        // the fork goes to the temporary INCR file (Redis feeds the buffer in this state
        // only while the rewrite child exists).
        if let Some(feed) = srv.propagator.aof.as_mut() {
            feed.buf.clear();
        }
    }
    let close = crate::persist::listener_fds(srv);
    let keys: u64 = (0..srv.ks.dbs()).map(|d| srv.ks.db(d).len() as u64).sum();
    let t0 = Instant::now();
    let srv_ref: &Server = srv;
    let forked = crate::fork::fork(ChildKind::Aof, &close, keys, |ctx| {
        let tmp = format!("temp-rewriteaof-bg-{}.aof", std::process::id());
        match write_rewrite_file(srv_ref, &tmp, Some(ctx)) {
            Ok(()) => {
                crate::log!(
                    Notice,
                    "Successfully created the temporary AOF base file {tmp}"
                );
                let cow = crate::fork::private_dirty_bytes();
                crate::log!(
                    Notice,
                    "Fork CoW for AOF rewrite: current {} MB, peak {} MB, average {} MB",
                    cow >> 20,
                    cow >> 20,
                    cow >> 21
                );
                ctx.progress(keys, true);
                true
            }
            Err(_) => false,
        }
    });
    match forked {
        Ok(child) => {
            srv.persist.latest_fork_usec = t0.elapsed().as_micros() as u64;
            srv.persist.total_forks += 1;
            crate::latency::fork_done(srv, srv.persist.latest_fork_usec);
            crate::log!(
                Notice,
                "Background append only file rewriting started by pid {}",
                child.pid
            );
            srv.aof.rewrite_scheduled = false;
            srv.persist.child = Some(child);
            srv.ks.set_resize_paused(true);
            Ok(())
        }
        Err(e) => {
            crate::log!(
                Warning,
                "Can't rewrite append only file in background: fork: {e}"
            );
            srv.aof.lastbgrewrite_ok = false;
            Err(())
        }
    }
}

/// Completion of a background rewrite (`backgroundRewriteDoneHandler`).
pub fn rewrite_done(srv: &mut Server, child: &Child, exit: ChildExit) {
    let tmp = format!("temp-rewriteaof-bg-{}.aof", child.pid);
    let mut ok = false;
    if exit.ok() {
        ok = finish_rewrite(srv, &tmp).is_ok();
        if !ok {
            srv.aof.lastbgrewrite_ok = false;
            srv.aof.rewrites_consecutive_failures += 1;
        }
    } else if let Some(sig) = exit.signal {
        if sig != libc::SIGUSR1 {
            srv.aof.lastbgrewrite_ok = false;
            srv.aof.rewrites_consecutive_failures += 1;
        }
        crate::log!(Warning, "Background AOF rewrite terminated by signal {sig}");
    } else {
        srv.aof.lastbgrewrite_ok = false;
        srv.aof.rewrites_consecutive_failures += 1;
        crate::log!(Warning, "Background AOF rewrite terminated with error");
    }
    let _ = std::fs::remove_file(&tmp);
    if !ok && srv.aof.state == AofState::WaitRewrite {
        // The temp INCR file holds nothing usable without its base: start over.
        if let Some(feed) = srv.propagator.aof.as_mut() {
            feed.buf.clear();
        }
        srv.aof.file = None;
        let _ = std::fs::remove_file(in_dir(srv, &temp_incr_name(srv)));
        srv.aof.rewrite_scheduled = true;
    }
    if let Some(cow) = child.final_cow {
        srv.aof.last_cow_size = cow;
    }
    srv.aof.last_rewrite_time_sec = child.started.elapsed().as_secs() as i64;
}

/// The success path of `backgroundRewriteDoneHandler`: the temp file becomes the new BASE,
/// the temp INCR file (wait-rewrite) the new INCR, older INCR files history; the manifest
/// is persisted and history deleted.
fn finish_rewrite(srv: &mut Server, tmp: &str) -> Result<(), ()> {
    let name = aof_filename(srv);
    let mut m = srv.aof.manifest.clone();
    let base = m.new_base(&name, yes(srv, "aof-use-rdb-preamble"));
    let base_path = in_dir(srv, &base);
    let t0 = crate::latency::start(srv);
    let renamed = std::fs::rename(tmp, &base_path);
    crate::latency::end(srv, t0, "aof-rename");
    if let Err(e) = renamed {
        crate::log!(
            Warning,
            "Error trying to rename the temporary AOF base file {tmp} into {base}: {}",
            crate::os_text(&e)
        );
        return Err(());
    }
    let mut new_incr_path = None;
    if srv.aof.state == AofState::WaitRewrite {
        let temp_incr = in_dir(srv, &temp_incr_name(srv));
        let incr = m.new_incr(&name);
        let p = in_dir(srv, &incr);
        let t0 = crate::latency::start(srv);
        let renamed = std::fs::rename(&temp_incr, &p);
        crate::latency::end(srv, t0, "aof-rename");
        if let Err(e) = renamed {
            crate::log!(
                Warning,
                "Error trying to rename the temporary AOF incr file {} into {incr}: {}",
                temp_incr_name(srv),
                crate::os_text(&e)
            );
            let _ = std::fs::remove_file(&base_path);
            return Err(());
        }
        new_incr_path = Some(p);
    }
    m.mark_rewritten_incr_as_history();
    if persist_manifest(srv, &m).is_err() {
        let _ = std::fs::remove_file(&base_path);
        if let Some(p) = new_incr_path {
            let _ = std::fs::rename(p, in_dir(srv, &temp_incr_name(srv)));
        }
        return Err(());
    }
    srv.aof.manifest = m;
    if srv.aof.state != AofState::Off {
        let t0 = crate::latency::start(srv);
        let base_len = std::fs::metadata(&base_path).map_or(0, |m| m.len());
        crate::latency::end(srv, t0, "aof-fstat");
        srv.aof.current_size = base_len + srv.aof.last_incr_size;
        srv.aof.base_size = srv.aof.current_size;
    }
    del_history_files(srv);
    srv.aof.lastbgrewrite_ok = true;
    srv.aof.rewrites_consecutive_failures = 0;
    crate::log!(Notice, "Background AOF rewrite finished successfully");
    if srv.aof.state == AofState::WaitRewrite {
        srv.aof.state = AofState::On;
        crate::log!(
            Notice,
            "AOF rewrite was started while the AOF was being enabled: the AOF is now on"
        );
    }
    Ok(())
}

/// The cron's part: a scheduled rewrite, the automatic rewrite on growth, a postponed
/// write, a retry after a failed write.
pub fn cron(srv: &mut Server) {
    if srv.persist.child.is_none() && srv.aof.rewrite_scheduled {
        let _ = rewrite_background(srv);
    }
    if srv.aof.state == AofState::On && srv.persist.child.is_none() {
        let perc: i64 = srv
            .config
            .get("auto-aof-rewrite-percentage")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let min = srv
            .config
            .get("auto-aof-rewrite-min-size")
            .and_then(crate::config::memtoull)
            .unwrap_or(0);
        if perc > 0 && srv.aof.current_size > min {
            let base = srv.aof.base_size.max(1);
            let growth = (srv.aof.current_size * 100 / base) as i64 - 100;
            if growth >= perc {
                crate::log!(
                    Notice,
                    "Starting automatic rewriting of AOF on {growth}% growth"
                );
                let _ = rewrite_background(srv);
            }
        }
    }
    if srv.aof.state != AofState::Off
        && (srv.aof.flush_postponed_start != 0 || !srv.aof.last_write_ok)
    {
        flush(srv, false);
    }
}

/// `CONFIG SET appendonly yes` (`startAppendOnly`). Errors: the rewrite could not start.
pub fn start(srv: &mut Server, in_exec: bool) -> Result<(), ()> {
    if srv.aof.state != AofState::Off {
        return Ok(());
    }
    attach(srv, AofState::WaitRewrite);
    let child_kind = srv.persist.child.as_ref().map(|c| c.kind);
    if child_kind.is_some_and(|k| k != ChildKind::Aof) {
        srv.aof.rewrite_scheduled = true;
        crate::log!(Notice, "AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
    } else if in_exec {
        srv.aof.rewrite_scheduled = true;
        crate::log!(Notice, "AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
    } else {
        if child_kind == Some(ChildKind::Aof) {
            crate::log!(Notice, "AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
            crate::persist::kill_child(srv);
        }
        if rewrite_background(srv).is_err() {
            detach(srv);
            crate::log!(Warning, "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
            return Err(());
        }
    }
    srv.aof.last_fsync_ms = now_ms();
    Ok(())
}

/// `CONFIG SET appendonly no` (`stopAppendOnly`): write and fsync what is buffered, close,
/// stop a rewrite.
pub fn stop(srv: &mut Server) {
    if srv.aof.state == AofState::Off {
        return;
    }
    flush(srv, true);
    if let Some(f) = srv.aof.file.take() {
        match f.sync_data() {
            Ok(()) => srv.aof.last_fsync_ms = now_ms(),
            Err(e) => crate::log!(
                Warning,
                "Fail to fsync the AOF file: {}",
                crate::os_text(&e)
            ),
        }
    }
    detach(srv);
    srv.aof.rewrite_scheduled = false;
    srv.aof.last_incr_size = 0;
    srv.aof.last_incr_fsync_offset = 0;
    if srv
        .persist
        .child
        .as_ref()
        .is_some_and(|c| c.kind == ChildKind::Aof)
    {
        crate::log!(Notice, "Killing running AOF rewrite child");
        crate::persist::kill_child(srv);
    }
}

/// SHUTDOWN's part (`prepareForShutdown`): stop a rewrite child, write and fsync the buffer.
/// Errors: the AOF was switched on and its first rewrite is still running (the dataset is
/// not in any AOF yet), without `force` — the shutdown must not happen.
pub fn shutdown(srv: &mut Server, force: bool) -> Result<(), ()> {
    if srv
        .persist
        .child
        .as_ref()
        .is_some_and(|c| c.kind == ChildKind::Aof)
    {
        if srv.aof.state == AofState::WaitRewrite {
            if !force {
                crate::log!(Warning, "Writing initial AOF, can't exit.");
                return Err(());
            }
            crate::log!(Warning, "Writing initial AOF. Exit anyway.");
        }
        crate::log!(Warning, "There is a child rewriting the AOF. Killing it!");
        crate::persist::kill_child(srv);
    }
    if srv.aof.state != AofState::Off {
        crate::log!(Notice, "Calling fsync() on the AOF file.");
        flush(srv, true);
        if let Some(f) = &srv.aof.file {
            if let Err(e) = f.sync_data() {
                crate::log!(
                    Warning,
                    "Fail to fsync the AOF file: {}",
                    crate::os_text(&e)
                );
            }
        }
    }
    Ok(())
}

/// DEBUG LOADAOF: write the buffer, empty the dataset, load the AOF again.
pub fn debug_loadaof(srv: &mut Server) -> Result<(), ()> {
    if srv.aof.state == AofState::On {
        flush(srv, true);
    }
    for db in 0..srv.ks.dbs() {
        // As `emptyData` → `signalFlushedDb`: watchers see the flush.
        crate::multi::touch_all_watched_keys_in_db(srv, db, None);
        let _ = srv.ks.flush_db(db);
    }
    srv.dispatch_signals(None);
    load_manifest(srv)?;
    del_history_files(srv);
    load(srv)?;
    srv.dirty = 0;
    crate::log!(Notice, "Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

/// BGREWRITEAOF.
fn bgrewriteaof(c: &mut crate::command::Ctx) {
    let in_exec = c.flags & crate::command::ctx::IN_MULTI != 0;
    let child = c.srv.persist.child.as_ref().map(|ch| ch.kind);
    if child == Some(ChildKind::Aof) {
        c.out
            .error("ERR Background append only file rewriting already in progress");
    } else if child.is_some() || in_exec {
        c.srv.aof.rewrite_scheduled = true;
        c.srv.aof.rewrites_consecutive_failures = 0;
        c.out
            .simple("Background append only file rewriting scheduled");
    } else if rewrite_background(c.srv).is_ok() {
        c.out
            .simple("Background append only file rewriting started");
    } else {
        c.out.error("ERR Can't execute an AOF background rewriting. Please check the server logs for more information.");
    }
}

/// INFO persistence's AOF fields, from `aof_enabled` through `module_fork_last_cow_size`,
/// plus the `aof_current_size` block when the AOF is on, as Redis prints them.
pub fn info(srv: &Server, o: &mut String) {
    use std::fmt::Write;
    let a = &srv.aof;
    let child = srv
        .persist
        .child
        .as_ref()
        .filter(|c| c.kind == ChildKind::Aof);
    let _ = write!(
        o,
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:{}\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        (a.state != AofState::Off) as u8,
        child.is_some() as u8,
        a.rewrite_scheduled as u8,
        a.last_rewrite_time_sec,
        child.map_or(-1, |c| c.started.elapsed().as_secs() as i64),
        if a.lastbgrewrite_ok { "ok" } else { "err" },
        a.rewrites,
        a.rewrites_consecutive_failures,
        if a.last_write_ok && !a.fsync.failed.load(Ordering::Acquire) {
            "ok"
        } else {
            "err"
        },
        a.last_cow_size,
    );
    if a.state == AofState::On {
        let _ = write!(
            o,
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
            a.current_size,
            a.base_size,
            a.rewrite_scheduled as u8,
            srv.propagator.aof.as_ref().map_or(0, |f| f.buf.len()),
            a.fsync.pending(),
            a.delayed_fsync,
        );
    }
}

/// The AOF commands.
pub const COMMANDS: &[(&str, crate::command::Handler)] = &[("bgrewriteaof", bgrewriteaof)];
