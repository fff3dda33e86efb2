//! `pyrope-check-aof [--fix] [--yes] [--truncate-to-timestamp TS] FILE|MANIFEST`: validates a
//! single AOF (RESP, or with an RDB preamble) or a Redis 7 multi-part AOF dir given its
//! manifest, as redis-check-aof.c (`checkMultiPartAof`, `checkOldStyleAof`, `checkSingleAof`)
//! does, printing the same lines (`AOF analyzed: filename=..., size=..., ok_up_to=...,
//! ok_up_to_line=..., diff=...`, `... is valid`, the manifest FATAL block) plus one line that
//! names the offset and the reason of any damage. `--fix` shows what will be cut, asks (unless
//! `--yes`), keeps a backup copy and truncates the last file to its last complete command.
//!
//! An RDB preamble (or an RDB base file) is checked record by record with the `common::rdb`
//! reader through `pyrope_check_rdb::check`, which prints redis-check-rdb's report as
//! redis-check-aof does (`redis_check_rdb_main` on the open file); the command tail is then
//! checked from the offset just past the RDB's CRC trailer.

use clap::Parser;
use pyrope_common::aof::{
    check_stream, AofReader, ErrorKind, Manifest, PreambleChecker, PreambleError,
};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Command-line options.
#[derive(Parser, Debug)]
#[command(
    name = "pyrope-check-aof",
    about = "Validate and repair AOF files (redis-check-aof)"
)]
struct Args {
    /// Truncate the damaged tail of the last file to its last complete command.
    #[arg(long)]
    fix: bool,
    /// Do not ask for confirmation before truncating.
    #[arg(long)]
    yes: bool,
    /// Cut the AOF at the first `#TS:` annotation later than this unix time (seconds).
    #[arg(long = "truncate-to-timestamp", value_name = "TS")]
    truncate_to_timestamp: Option<i64>,
    /// An AOF file, or the manifest of a multi-part AOF dir.
    file: PathBuf,
}

/// How one file's check ended (redis-check-aof's AOF_CHECK_*).
enum Outcome {
    Ok,
    Empty,
    Truncated,
    TimestampTruncated,
}

/// Exit: the code to return (every message already printed).
struct Exit(i32);

struct Ctx {
    fix: bool,
    yes: bool,
    to_ts: Option<i64>,
    /// redis-check-aof's global `line` counter (starts at 1, carried across files).
    line: u64,
}

/// Checks an RDB preamble with the RDB reader, printing redis-check-rdb's report (the file
/// named `name`) to stdout; the preamble ends just past its CRC trailer.
struct RdbPreamble {
    name: String,
}

impl PreambleChecker for RdbPreamble {
    fn check_preamble(&mut self, input: &mut dyn BufRead, len: u64) -> Result<u64, PreambleError> {
        let mut out = std::io::stdout();
        let opts = pyrope_check_rdb::CheckOptions::default();
        let rep = pyrope_check_rdb::check(input, &self.name, &opts, &mut out, None);
        match rep.error {
            None if rep.ok => Ok(rep.end_offset),
            Some(e) => Err(PreambleError {
                offset: e.offset,
                reason: pyrope_check_rdb::reason(&e),
            }),
            None => Err(PreambleError {
                offset: len,
                reason: "RDB preamble could not be read".into(),
            }),
        }
    }
}

/// The preamble checker for the file `name`.
fn preamble_checker(name: &str) -> Box<dyn PreambleChecker> {
    Box::new(RdbPreamble { name: name.into() })
}

/// Runs the tool; returns the exit code (0 valid or repaired, 1 otherwise).
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let a = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let mut cx = Ctx {
        fix: a.fix,
        yes: a.yes,
        to_ts: a.truncate_to_timestamp,
        line: 1,
    };
    let r = match input_type(&a.file) {
        Err(e) => Err(e),
        Ok(Kind::Manifest) => check_multi_part(&mut cx, &a.file),
        Ok(k) => check_old_style(&mut cx, &a.file, matches!(k, Kind::Rdb)),
    };
    match r {
        Ok(()) => 0,
        Err(Exit(c)) => c,
    }
}

enum Kind {
    Manifest,
    Rdb,
    Raw,
}

/// `getInputFileType`: a manifest starts with `file` (and has >= 30 bytes), an RDB-preamble
/// AOF with `REDIS` (>= 8 bytes); anything else is a RESP AOF.
fn input_type(p: &Path) -> Result<Kind, Exit> {
    let data = std::fs::read(p).map_err(|e| {
        println!("Cannot open file: {}: {}", p.display(), os_text(&e));
        Exit(1)
    })?;
    Ok(if data.len() >= 30 && data.starts_with(b"file") {
        Kind::Manifest
    } else if data.len() >= 8 && data.starts_with(b"REDIS") {
        Kind::Rdb
    } else {
        Kind::Raw
    })
}

fn os_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

fn check_old_style(cx: &mut Ctx, path: &Path, preamble: bool) -> Result<(), Exit> {
    println!("Start checking Old-Style AOF");
    let name = path.display().to_string();
    match check_single(cx, &name, path, true, preamble)? {
        Outcome::Ok => println!("AOF {name} is valid"),
        Outcome::Empty => println!("AOF {name} is empty"),
        Outcome::TimestampTruncated => println!(
            "Successfully truncated AOF {name} to timestamp {}",
            cx.to_ts.unwrap_or(0)
        ),
        Outcome::Truncated => println!("Successfully truncated AOF {name}"),
    }
    Ok(())
}

fn check_multi_part(cx: &mut Ctx, manifest_path: &Path) -> Result<(), Exit> {
    println!("Start checking Multi Part AOF");
    let dir = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let text = std::fs::read(manifest_path).map_err(|e| {
        println!(
            "Fatal error: can't open the AOF manifest file {} for reading: {}",
            manifest_path.display(),
            os_text(&e)
        );
        Exit(1)
    })?;
    let m = Manifest::parse(&text).map_err(|e| {
        for l in e.redis_lines() {
            println!("{l}");
        }
        Exit(1)
    })?;
    let files: Vec<_> = m.load_order().cloned().collect();
    let total = files.len();
    for (i, ai) in files.iter().enumerate() {
        let last = i + 1 == total;
        let p = dir.join(&ai.file_name);
        let is_base = ai.file_type == pyrope_common::aof::FileType::Base;
        if i == (if m.base.is_some() { 1 } else { 0 }) && !is_base {
            println!("Start to check INCR files.");
        }
        if !p.exists() {
            println!(
                "Cannot open file {}: No such file or directory{}",
                p.display(),
                if is_base { "" } else { ", aborting..." }
            );
            return Err(Exit(1));
        }
        let kind = if is_base {
            let rdb = std::fs::read(&p)
                .map(|d| d.starts_with(b"REDIS"))
                .unwrap_or(false);
            println!(
                "Start to check BASE AOF ({} format).",
                if rdb { "RDB" } else { "RESP" }
            );
            rdb
        } else {
            false
        };
        let label = if is_base { "BASE" } else { "INCR" };
        match check_single(cx, &ai.file_name, &p, last, kind)? {
            Outcome::Ok => println!("{label} AOF {} is valid", ai.file_name),
            Outcome::Empty => println!("{label} AOF {} is empty", ai.file_name),
            Outcome::TimestampTruncated => println!(
                "Successfully truncated AOF {} to timestamp {}",
                ai.file_name,
                cx.to_ts.unwrap_or(0)
            ),
            Outcome::Truncated => println!("Successfully truncated AOF {}", ai.file_name),
        }
    }
    println!("All AOF files and manifest are valid");
    Ok(())
}

/// `checkSingleAof`.
fn check_single(
    cx: &mut Ctx,
    name: &str,
    path: &Path,
    last: bool,
    preamble: bool,
) -> Result<Outcome, Exit> {
    let f = std::fs::File::open(path).map_err(|_| {
        println!("Cannot open file: {name}, aborting...");
        Exit(1)
    })?;
    let size = f.metadata().map(|m| m.len()).map_err(|_| {
        println!("Cannot stat file: {name}, aborting...");
        Exit(1)
    })?;
    if size == 0 {
        return Ok(Outcome::Empty);
    }
    let mut r = AofReader::new(BufReader::new(f)).with_max_bulk(i64::MAX as u64);
    if preamble {
        // The RDB report (redis-check-rdb's lines, its error block on damage) is printed by
        // the checker itself.
        match r.skip_preamble(preamble_checker(name).as_mut(), size) {
            Ok(_) => println!("RDB preamble is OK, proceeding with AOF tail..."),
            Err(_) => {
                println!("RDB preamble of AOF file is not sane, aborting.");
                return Err(Exit(1));
            }
        }
    }
    let c = check_stream(&mut r, &path.display().to_string(), cx.to_ts);
    cx.line += r.lines();
    if let Some(cut) = c.timestamp_cut {
        let ts = cx.to_ts.unwrap_or(0);
        if cut == 0 {
            println!("AOF {name} has nothing before timestamp {ts}, aborting...");
            return Err(Exit(1));
        }
        if !last {
            println!("Failed to truncate AOF {name} to timestamp {ts} to offset {cut} because it is not the last file.");
            println!("If you insist, please delete all files after this file according to the manifest file and delete the corresponding records in manifest file manually. Then re-run redis-check-aof.");
            return Err(Exit(1));
        }
        println!(
            "[offset {cut}] first annotation after timestamp {ts}: cutting {} bytes",
            size - cut
        );
        truncate(cx, name, path, false, cut)?;
        return Ok(Outcome::TimestampTruncated);
    }
    let pos = c.ok_up_to;
    if let Some(e) = &c.error {
        if e.kind == ErrorKind::BadStart {
            println!("AOF {name} format error");
        } else {
            println!("0x{:>16x}: {}", e.offset, e.reason);
        }
        println!(
            "[offset {}] {} ({}; the last complete command ends at offset {})",
            e.offset,
            e.reason,
            match e.kind {
                ErrorKind::Truncated => "truncated",
                ErrorKind::Io => "read error",
                _ => "format error",
            },
            pos
        );
    }
    let diff = size - pos;
    if diff == 0 && cx.to_ts.is_some() {
        println!(
            "Truncate nothing in AOF {name} to timestamp {}",
            cx.to_ts.unwrap_or(0)
        );
        return Ok(Outcome::Ok);
    }
    println!(
        "AOF analyzed: filename={name}, size={size}, ok_up_to={pos}, ok_up_to_line={}, diff={diff}",
        cx.line
    );
    if diff == 0 {
        return Ok(Outcome::Ok);
    }
    if !cx.fix {
        println!("AOF {name} is not valid. Use the --fix option to try fixing it.");
        return Err(Exit(1));
    }
    if !last {
        println!("Failed to truncate AOF {name} because it is not the last file");
        return Err(Exit(1));
    }
    println!(
        "This will shrink the AOF {name} from {size} bytes, with {diff} bytes, to {pos} bytes"
    );
    println!(
        "The cut part starts at offset {pos} with: {}",
        first_line(path, pos)
    );
    truncate(cx, name, path, true, pos)?;
    Ok(Outcome::Truncated)
}

/// The first line of the part that will be cut, quoted (at most 80 bytes).
fn first_line(path: &Path, at: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = vec![0u8; 80];
    let n = std::fs::File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(at))?;
            f.read(&mut buf)
        })
        .unwrap_or(0);
    buf.truncate(n);
    if let Some(i) = buf.iter().position(|&b| b == b'\n') {
        buf.truncate(i + 1);
    }
    pyrope_common::conf::repr(&buf)
}

/// Asks (for `--fix`, unless `--yes`; `--truncate-to-timestamp` does not ask, as Redis), copies the file to a backup that does not exist yet, truncates.
fn truncate(cx: &Ctx, name: &str, path: &Path, ask: bool, to: u64) -> Result<(), Exit> {
    if ask && !cx.yes {
        print!("Continue? [y/N]: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let ok = std::io::stdin().lock().read_line(&mut answer).is_ok()
            && answer.trim_start().to_ascii_lowercase().starts_with('y');
        if !ok {
            println!("Aborting...");
            return Err(Exit(1));
        }
    }
    let backup = backup_path(path);
    if let Err(e) = std::fs::copy(path, &backup) {
        println!(
            "Failed to write the backup {}: {}; nothing truncated",
            backup.display(),
            os_text(&e)
        );
        return Err(Exit(1));
    }
    println!("Backup of the original written to {}", backup.display());
    let r = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(to));
    if r.is_err() {
        println!("Failed to truncate AOF {name}");
        return Err(Exit(1));
    }
    Ok(())
}

/// `FILE.bak`, or `FILE.bak.<unix s>[.<n>]` when that exists: never an existing file.
fn backup_path(path: &Path) -> PathBuf {
    let base = format!("{}.bak", path.display());
    if !Path::new(&base).exists() {
        return base.into();
    }
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut n = 0;
    loop {
        let p = if n == 0 {
            format!("{base}.{ts}")
        } else {
            format!("{base}.{ts}.{n}")
        };
        if !Path::new(&p).exists() {
            return p.into();
        }
        n += 1;
    }
}
