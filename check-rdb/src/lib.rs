//! `pyrope-check-rdb [--stats] [--json] [--salvage OUT [--force]] [--target-version N OUT
//! [--force]] FILE`: validates an RDB file with the `common::rdb` reader and prints what
//! redis-check-rdb (7.4.1, `redis-check-rdb.c`) prints: `[offset N] Checking RDB file F`, one
//! line per AUX field and SELECTDB, `Checksum OK` (or the checksum-disabled note), `\o/ RDB
//! looks OK! \o/` and the `[info]` counters (keys read, expires, already expired, subexpires);
//! on damage the `--- RDB ERROR DETECTED ---` block with the offset, the reason, what was being
//! done, the key and type being read. Exit 0 when the file is sound, 1 when it is damaged or
//! cannot be read, 2 for usage errors or a failed write of OUT.
//!
//! Beyond Redis:
//! - `--stats`: keys, serialized bytes and elements per RDB type, and the 10 biggest keys.
//! - `--json`: one JSON object per key on stdout (the check report goes to stderr); see
//!   [`json`] for the shape and the byte-string escaping.
//! - `--salvage OUT`: a new valid RDB with every record read before the damage (the key being
//!   read when it was hit is dropped). Written at the input's version clamped to 10..=12.
//! - `--target-version N OUT` (N in 10..=12): the same content for an older server (v10 for
//!   Redis 7.0: set listpacks become intsets or hashtables, streams type 19 without consumer
//!   active times; v11 for Redis 7.2 / Valkey 8). Hashes with field TTLs need v12: the first
//!   such key is named and nothing is written. A damaged input also writes nothing.
//!
//! OUT is written to a temporary file next to it and renamed; an existing OUT is refused
//! unless `--force`, and OUT may never be the input. A progress bar (indicatif, on stderr)
//! shows on inputs over 100 MB when stderr is a terminal.
//!
//! Error reasons: Redis's `rdbReportCorruptRDB` texts (`Internal error in RDB reading offset
//! 0, function at rdb.c:LINE -> REASON`) are printed as `Internal error in RDB reading ->
//! REASON` (the rdb.c line is meaningless here); an empty collection is, as in redis-check-rdb,
//! `Unexpected EOF reading RDB file`, followed by an `[additional info]` line saying why. A key
//! is printed as Redis's `%s` does (up to its first NUL byte), then escaped in full on one
//! more `[additional info]` line when that cut it.

pub mod json;
pub mod stats;

use clap::Parser;
use pyrope_common::listpack::{Listpack, ListpackEntry};
use pyrope_common::rdb::read::{Checksum, VisitResult};
use pyrope_common::rdb::{
    types, ErrorKind, KeyRecord, RdbError, Reader, ReaderOptions, Value, Visitor, Writer,
    WriterOptions,
};
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Inputs larger than this get a progress bar (when stderr is a terminal): 100 MB.
pub const PROGRESS_MIN_BYTES: u64 = 100 * 1000 * 1000;

/// Command-line options.
#[derive(Parser, Debug)]
#[command(
    name = "pyrope-check-rdb",
    about = "Validate, inspect, salvage and down-convert RDB files (redis-check-rdb)"
)]
struct Args {
    /// Print sizes per type and the biggest keys after the check.
    #[arg(long)]
    stats: bool,
    /// Print one JSON object per key on stdout (the report goes to stderr).
    #[arg(long, conflicts_with = "stats")]
    json: bool,
    /// Write every record that could be read into a new RDB file OUT.
    #[arg(long, value_name = "OUT", conflicts_with = "target_version")]
    salvage: Option<PathBuf>,
    /// Rewrite the file for RDB version N (10, 11 or 12) into OUT.
    #[arg(long = "target-version", num_args = 2, value_names = ["N", "OUT"])]
    target_version: Option<Vec<OsString>>,
    /// Overwrite an existing OUT.
    #[arg(long)]
    force: bool,
    /// The RDB file to check.
    file: PathBuf,
}

/// Receives the records the checker reads (after it has counted them); an `Err` stops the
/// reading and is reported as the sink's failure, not as damage of the file.
pub trait Sink {
    /// The header was read.
    fn header(&mut self, _version: u32) -> VisitResult {
        Ok(())
    }
    /// An AUX field.
    fn aux(&mut self, _k: &[u8], _v: &[u8]) -> VisitResult {
        Ok(())
    }
    /// A FUNCTION2 library.
    fn function(&mut self, _code: &[u8]) -> VisitResult {
        Ok(())
    }
    /// A MODULE_AUX record (raw opcodes as the reader gives them).
    fn module_aux(&mut self, _id: u64, _when: u64, _raw: &[u8]) -> VisitResult {
        Ok(())
    }
    /// A SLOT_INFO record.
    fn slot_info(&mut self, _slot: u64, _size: u64, _expires: u64) -> VisitResult {
        Ok(())
    }
    /// A key.
    fn key(&mut self, rec: &KeyRecord) -> VisitResult;
}

/// How a check ended.
#[derive(Debug, Default)]
pub struct Report {
    /// The file is sound (every record, EOF and the checksum).
    pub ok: bool,
    /// Offset just past the CRC trailer (or the EOF opcode below v5) when `ok`: where an AOF
    /// tail after an RDB preamble starts.
    pub end_offset: u64,
    /// Keys read completely.
    pub keys: u64,
    /// The damage, when not `ok` and the sink did not stop the reading.
    pub error: Option<RdbError>,
    /// The sink's reason, when it stopped the reading.
    pub sink_error: Option<String>,
    /// The file's RDB version (0 when the header could not be read).
    pub version: u32,
}

/// Settings of [`check`].
#[derive(Default)]
pub struct CheckOptions {
    /// Total input size, for the progress bar; `None`: no bar.
    pub progress_len: Option<u64>,
}

struct Checker<'a> {
    out: &'a mut dyn Write,
    sink: Option<&'a mut dyn Sink>,
    sink_error: Option<String>,
    empty_key: bool,
    keys: u64,
    expires: u64,
    already_expired: u64,
    subexpires: u64,
    /// redis-check-rdb's `key_type` outside a key: 0 before the first key, -1 after one.
    last_type: i32,
    now_ms: i64,
    version: u32,
    bar: Option<indicatif::ProgressBar>,
}

impl Checker<'_> {
    fn line(&mut self, at: u64, msg: &[u8]) {
        let _ = write!(self.out, "[offset {at}] ");
        let _ = self.out.write_all(msg);
        let _ = self.out.write_all(b"\n");
    }

    fn sink<F: FnOnce(&mut dyn Sink) -> VisitResult>(&mut self, f: F) -> VisitResult {
        if let Some(s) = self.sink.as_deref_mut() {
            if let Err(e) = f(s) {
                self.sink_error = Some(e.clone());
                return Err(e);
            }
        }
        Ok(())
    }

    fn info(&mut self) {
        let _ = writeln!(self.out, "[info] {} keys read", self.keys);
        let _ = writeln!(self.out, "[info] {} expires", self.expires);
        let _ = writeln!(self.out, "[info] {} already expired", self.already_expired);
        let _ = writeln!(self.out, "[info] {} subexpires", self.subexpires);
    }
}

impl Visitor for Checker<'_> {
    fn header(&mut self, version: u32) -> VisitResult {
        self.version = version;
        self.sink(|s| s.header(version))
    }
    fn aux(&mut self, key: &[u8], value: &[u8], at: u64) -> VisitResult {
        let mut m = b"AUX FIELD ".to_vec();
        m.extend_from_slice(key);
        m.extend_from_slice(b" = '");
        m.extend_from_slice(value);
        m.push(b'\'');
        self.line(at, &m);
        self.sink(|s| s.aux(key, value))
    }
    fn select_db(&mut self, db: u64, at: u64) -> VisitResult {
        self.line(at, format!("Selecting DB ID {db}").as_bytes());
        Ok(())
    }
    fn function(&mut self, code: &[u8]) -> VisitResult {
        self.sink(|s| s.function(code))
    }
    fn module_aux(&mut self, module_id: u64, when: u64, raw: &[u8]) -> VisitResult {
        let name = pyrope_common::rdb::module_type_name(module_id);
        let _ = writeln!(self.out, "[info] MODULE AUX for: {name}");
        self.sink(|s| s.module_aux(module_id, when, raw))
    }
    fn slot_info(&mut self, slot: u64, size: u64, expires: u64) -> VisitResult {
        self.sink(|s| s.slot_info(slot, size, expires))
    }
    fn key(&mut self, rec: KeyRecord) -> VisitResult {
        self.keys += 1;
        if let Some(e) = rec.expire_ms {
            self.expires += 1;
            if e < self.now_ms {
                self.already_expired += 1;
            }
        }
        if rec.value.needs_v12() {
            self.subexpires += 1;
        }
        self.last_type = -1;
        if let Some(b) = &self.bar {
            b.set_position(rec.end_offset);
        }
        self.sink(|s| s.key(&rec))
    }
    fn empty_key(&mut self, _db: u64, _key: &[u8], _rdb_type: u8) -> VisitResult {
        self.empty_key = true;
        Err("empty key".into())
    }
    fn end(&mut self, checksum: Checksum, at: u64) -> VisitResult {
        match checksum {
            Checksum::Ok => self.line(at, b"Checksum OK"),
            Checksum::Disabled => self.line(
                at,
                b"RDB file was saved with checksum disabled: no check performed.",
            ),
            Checksum::NotChecked => {}
        }
        Ok(())
    }
}

/// The reason text redis-check-rdb prints for `e` (see the module docs).
pub fn reason(e: &RdbError) -> String {
    match &e.kind {
        ErrorKind::Checksum { .. } => "RDB CRC error".into(),
        ErrorKind::UnknownType(t) if e.doing == "read-type" => format!("Invalid object type: {t}"),
        // `rdbFunctionLoad` fails with this text when the library string cannot be read.
        ErrorKind::Eof if e.doing == "read-functions" => {
            "Failed loading library, Failed loading library payload".into()
        }
        ErrorKind::Corrupt(_) | ErrorKind::Lzf | ErrorKind::UnknownStringEncoding(_) => {
            format!("Internal error in RDB reading -> {}", e.kind)
        }
        k => k.to_string(),
    }
}

/// redis-check-rdb's "While doing" name for the reader's `doing` (FREQ and IDLE are read while
/// doing `read-type`; SELECTDB, RESIZEDB and SLOT_INFO lengths while doing `read-len`).
fn doing_name(d: &str) -> &str {
    match d {
        "read-freq" | "read-idle" => "read-type",
        "read-selectdb" | "read-resizedb" | "read-slot-info" => "read-len",
        d => d,
    }
}

/// Checks the RDB in `input` (named `name` in the report), printing redis-check-rdb's report
/// to `out` and handing every record to `sink`. Never panics on bad input.
pub fn check<'a, R: Read>(
    input: R,
    name: &str,
    opts: &CheckOptions,
    out: &'a mut dyn Write,
    sink: Option<&'a mut dyn Sink>,
) -> Report {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let bar = opts.progress_len.map(|len| {
        let b = indicatif::ProgressBar::new(len);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let _ = writeln!(out, "[offset 0] Checking RDB file {name}");
    let mut c = Checker {
        out,
        sink,
        sink_error: None,
        empty_key: false,
        keys: 0,
        expires: 0,
        already_expired: 0,
        subexpires: 0,
        last_type: 0,
        now_ms,
        version: 0,
        bar,
    };
    let mut r = Reader::new(input, ReaderOptions::default());
    let res = r.run(&mut c);
    if let Some(b) = c.bar.take() {
        b.finish_and_clear();
    }
    let mut rep = Report {
        keys: c.keys,
        version: c.version,
        ..Report::default()
    };
    match res {
        Ok(_) => {
            let end = r.offset();
            c.line(end, b"\\o/ RDB looks OK! \\o/");
            c.info();
            rep.ok = true;
            rep.end_offset = end;
        }
        Err(_) if c.sink_error.is_some() => {
            rep.sink_error = c.sink_error.take();
        }
        Err(e) => {
            let _ = writeln!(c.out, "--- RDB ERROR DETECTED ---");
            let why = if c.empty_key {
                "Unexpected EOF reading RDB file".to_string()
            } else {
                reason(&e)
            };
            c.line(e.offset, why.as_bytes());
            let _ = writeln!(
                c.out,
                "[additional info] While doing: {}",
                doing_name(e.doing)
            );
            if let Some(k) = &e.key {
                // Redis prints the key with `%s`: up to its first NUL byte. The whole key,
                // escaped, follows when that hides something.
                let shown = k.split(|&b| b == 0).next().unwrap_or(&[]);
                let _ = c.out.write_all(b"[additional info] Reading key '");
                let _ = c.out.write_all(shown);
                let _ = c.out.write_all(b"'\n");
                if shown.len() != k.len() {
                    let _ = writeln!(
                        c.out,
                        "[additional info] The whole key (escaped as in --json): '{}'",
                        json::esc(k)
                    );
                }
            }
            let t = e.rdb_type.map(i32::from).unwrap_or(c.last_type);
            if t >= 0 {
                let _ = writeln!(
                    c.out,
                    "[additional info] Reading type {t} ({})",
                    types::name(t as u8)
                );
            }
            // redis-check-rdb counts a key as read once its name is read.
            if e.key.is_some() {
                c.keys += 1;
            }
            if c.empty_key {
                let _ = writeln!(
                    c.out,
                    "[additional info] The value is an empty collection (Redis's loader skips such keys)"
                );
            }
            c.info();
            rep.error = Some(e);
        }
    }
    let _ = c.out.flush();
    rep
}

/// Writes a new RDB through a [`Writer`] (the `--salvage` and `--target-version` sink).
pub struct RewriteSink<W: Write> {
    writer: Option<Writer<W>>,
    make: Option<W>,
    /// The fixed output version, or `None`: the input's, clamped to 10..=12.
    target: Option<u32>,
    db: Option<u64>,
    /// Keys written.
    pub keys: u64,
}

impl<W: Write> RewriteSink<W> {
    /// A sink writing onto `w` at version `target` (or the input's version clamped to
    /// 10..=12 when `None`).
    pub fn new(w: W, target: Option<u32>) -> Self {
        RewriteSink {
            writer: None,
            make: Some(w),
            target,
            db: None,
            keys: 0,
        }
    }

    fn w(&mut self) -> Result<&mut Writer<W>, String> {
        self.writer
            .as_mut()
            .ok_or_else(|| "no RDB header was read".to_string())
    }

    /// Finishes the file (EOF + CRC64) and returns the inner writer; `None` when no header
    /// was read (nothing to salvage).
    pub fn finish(self) -> Option<std::io::Result<W>> {
        self.writer.map(|w| w.finish())
    }
}

/// `v` rewritten for `version` where that is lossless: a listpackex hash whose fields carry
/// no TTL becomes a plain listpack hash below version 12.
fn lower(v: &Value, version: u32) -> Option<Value> {
    let Value::HashListpackEx(lp) = v else {
        return None;
    };
    if version >= 12 {
        return None;
    }
    let mut out = Listpack::new();
    let mut items: Vec<ListpackEntry<'_>> = Vec::new();
    for (i, e) in lp.iter().enumerate() {
        match i % 3 {
            2 => {
                if !matches!(e, ListpackEntry::Int(0)) {
                    return None;
                }
            }
            _ => items.push(e),
        }
    }
    out.push_back_all(&items);
    Some(Value::HashListpack(out))
}

impl<W: Write> Sink for RewriteSink<W> {
    fn header(&mut self, version: u32) -> VisitResult {
        let v = self.target.unwrap_or(version.clamp(10, 12));
        if let Some(w) = self.make.take() {
            self.writer = Some(Writer::new(w, v, WriterOptions::default()));
        }
        Ok(())
    }
    fn aux(&mut self, k: &[u8], v: &[u8]) -> VisitResult {
        self.w()?.aux(k, v).map_err(|e| e.to_string())
    }
    fn function(&mut self, code: &[u8]) -> VisitResult {
        self.w()?.function(code).map_err(|e| e.to_string())
    }
    fn module_aux(&mut self, id: u64, when: u64, raw: &[u8]) -> VisitResult {
        self.w()?
            .module_aux(id, when, raw)
            .map_err(|e| e.to_string())
    }
    fn slot_info(&mut self, slot: u64, size: u64, expires: u64) -> VisitResult {
        self.w()?
            .slot_info(slot, size, expires)
            .map_err(|e| e.to_string())
    }
    fn key(&mut self, rec: &KeyRecord) -> VisitResult {
        if self.db != Some(rec.db) {
            self.db = Some(rec.db);
            self.w()?.select_db(rec.db).map_err(|e| e.to_string())?;
        }
        let w = self.w()?;
        let version = w.version();
        let lowered = lower(&rec.value, version);
        let value = lowered.as_ref().unwrap_or(&rec.value);
        if version < 12 && value.needs_v12() {
            return Err(format!(
                "key '{}' (db {}) is a hash with field TTLs, which RDB version {version} cannot hold (it needs version 12, Redis 7.4)",
                json::esc(&rec.key),
                rec.db
            ));
        }
        w.key(&rec.key, value, rec.expire_ms, rec.lru_idle, rec.lfu_freq)
            .map_err(|e| format!("key '{}': {}", json::esc(&rec.key), e.kind))?;
        self.keys += 1;
        Ok(())
    }
}

/// Fans records out to several sinks.
struct Tee<'a>(Vec<&'a mut dyn Sink>);

impl Sink for Tee<'_> {
    fn header(&mut self, v: u32) -> VisitResult {
        self.0.iter_mut().try_for_each(|s| s.header(v))
    }
    fn aux(&mut self, k: &[u8], v: &[u8]) -> VisitResult {
        self.0.iter_mut().try_for_each(|s| s.aux(k, v))
    }
    fn function(&mut self, c: &[u8]) -> VisitResult {
        self.0.iter_mut().try_for_each(|s| s.function(c))
    }
    fn module_aux(&mut self, id: u64, when: u64, raw: &[u8]) -> VisitResult {
        self.0
            .iter_mut()
            .try_for_each(|s| s.module_aux(id, when, raw))
    }
    fn slot_info(&mut self, a: u64, b: u64, c: u64) -> VisitResult {
        self.0.iter_mut().try_for_each(|s| s.slot_info(a, b, c))
    }
    fn key(&mut self, rec: &KeyRecord) -> VisitResult {
        self.0.iter_mut().try_for_each(|s| s.key(rec))
    }
}

/// Where OUT is written before the rename: `OUT.tmp-<pid>` next to it.
fn temp_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(s)
}

/// Runs the tool; returns the exit code (0 sound, 1 damaged or unreadable, 2 usage or write
/// error).
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let a = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let name = a.file.display().to_string();
    let input = match File::open(&a.file) {
        Ok(f) => f,
        Err(e) => {
            println!("Cannot check RDB that is not available: {name}: {e}");
            return 1;
        }
    };
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);

    // The output file, if any.
    let target = match &a.target_version {
        Some(v) => {
            let n = v[0].to_str().and_then(|s| s.parse::<u32>().ok());
            match n {
                Some(n) if (10..=12).contains(&n) => Some((n, PathBuf::from(&v[1]))),
                _ => {
                    eprintln!(
                        "--target-version: N must be 10 (Redis 7.0), 11 (Redis 7.2, Valkey 8) or 12 (Redis 7.4); got {:?}",
                        v[0]
                    );
                    return 2;
                }
            }
        }
        None => None,
    };
    let out_path = a
        .salvage
        .clone()
        .or_else(|| target.as_ref().map(|t| t.1.clone()));
    let mut tmp: Option<PathBuf> = None;
    let mut rewrite: Option<RewriteSink<BufWriter<File>>> = None;
    if let Some(out) = &out_path {
        let same = match (std::fs::canonicalize(out), std::fs::canonicalize(&a.file)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        };
        if same {
            eprintln!("Refusing to write {}: it is the input file", out.display());
            return 2;
        }
        if out.exists() && !a.force {
            eprintln!(
                "Refusing to overwrite {} (use --force to replace it)",
                out.display()
            );
            return 2;
        }
        let t = temp_path(out);
        match File::create(&t) {
            Ok(f) => {
                rewrite = Some(RewriteSink::new(
                    BufWriter::new(f),
                    target.as_ref().map(|t| t.0),
                ));
                tmp = Some(t);
            }
            Err(e) => {
                eprintln!("Cannot create {}: {e}", t.display());
                return 2;
            }
        }
    }
    let mut stats = a.stats.then(stats::Stats::default);
    let stdout = std::io::stdout();
    let mut json_sink = a
        .json
        .then(|| json::JsonSink::new(BufWriter::new(stdout.lock())));

    let mut sinks: Vec<&mut dyn Sink> = Vec::new();
    if let Some(s) = stats.as_mut() {
        sinks.push(s);
    }
    if let Some(s) = json_sink.as_mut() {
        sinks.push(s);
    }
    if let Some(s) = rewrite.as_mut() {
        sinks.push(s);
    }
    let mut tee = Tee(sinks);
    let opts = CheckOptions {
        progress_len: (size > PROGRESS_MIN_BYTES && std::io::stderr().is_terminal())
            .then_some(size),
    };
    let mut report_out: Box<dyn Write> = if a.json {
        Box::new(std::io::stderr())
    } else {
        Box::new(BufWriter::new(std::io::stdout()))
    };
    let rep = check(input, &name, &opts, &mut report_out, Some(&mut tee));
    drop(tee);
    let _ = report_out.flush();
    if let Some(mut j) = json_sink.take() {
        if let Err(e) = j.flush() {
            eprintln!("Writing JSON failed: {e}");
            return 2;
        }
    }
    if let Some(s) = &stats {
        s.print(&mut report_out);
        let _ = report_out.flush();
    }
    let mut code = if rep.ok { 0 } else { 1 };
    if let Some(e) = &rep.sink_error {
        let _ = writeln!(report_out, "--- STOPPED ---");
        let _ = writeln!(report_out, "{e}");
        let _ = report_out.flush();
        code = if e.contains("field TTLs") { 1 } else { 2 };
    }
    if let (Some(sink), Some(tmp), Some(out)) = (rewrite, tmp, out_path) {
        let keys = sink.keys;
        let salvage = a.salvage.is_some();
        let keep = rep.sink_error.is_none() && (rep.ok || salvage);
        let finished = if keep { sink.finish() } else { None };
        let written = match finished {
            Some(Ok(mut w)) => w
                .flush()
                .and_then(|_| w.get_ref().sync_all())
                .and_then(|_| std::fs::rename(&tmp, &out))
                .map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(String::new()),
        };
        match written {
            Ok(()) => {
                let _ = writeln!(
                    report_out,
                    "[info] {keys} keys written to {} (RDB version {})",
                    out.display(),
                    target.map(|t| t.0).unwrap_or(rep.version.clamp(10, 12))
                );
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                if !e.is_empty() {
                    let _ = writeln!(report_out, "Writing {} failed: {e}", out.display());
                    code = 2;
                } else {
                    let _ = writeln!(report_out, "[info] nothing written to {}", out.display());
                }
            }
        }
        let _ = report_out.flush();
    }
    code
}
