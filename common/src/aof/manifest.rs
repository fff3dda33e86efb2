//! The Redis 7 multi-part AOF manifest (aof.c: `aofLoadManifestFromFile`,
//! `getAofManifestAsString`, `getNewBaseFileNameAndMarkPreAsHistory`, `getNewIncrAofName`,
//! `markRewrittenIncrAofAsHistory`).
//!
//! The manifest `<appendfilename>.manifest` in `appenddirname` lists the files that make up
//! the AOF, one a line: `file <name> seq <n> type <b|h|i>` — at most one BASE (`b`, an RDB
//! `.base.rdb` or a RESP `.base.aof`), HISTORY files (`h`, a former base and incr files kept
//! until deleted), and INCR files (`i`, `.incr.aof`, strictly increasing seq) replayed after
//! the base in order. Names needing quotes are written with `sdscatrepr` and read back with
//! `sdssplitargs`. Parsing errors carry Redis's exact texts.

use crate::conf::{repr, split_args};

/// Longest manifest line (Redis's `MANIFEST_MAX_LINE`).
pub const MANIFEST_MAX_LINE: usize = 1024;
/// Suffix of the manifest's name after `appendfilename`.
pub const MANIFEST_NAME_SUFFIX: &str = ".manifest";
/// Prefix of the temporary manifest written before the rename.
pub const TEMP_FILE_NAME_PREFIX: &str = "temp-";

/// The type of one AOF file in the manifest (aof.h `aof_file_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// `b`: the snapshot of the last rewrite.
    Base,
    /// `h`: a file superseded by a rewrite, deleted when no longer needed.
    History,
    /// `i`: commands written since the base.
    Incr,
}

impl FileType {
    /// The manifest letter.
    pub fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One manifest line (aof.h `aofInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofInfo {
    /// File name inside `appenddirname` (never a path).
    pub file_name: String,
    /// Sequence number (> 0 for base and incr files).
    pub file_seq: i64,
    pub file_type: FileType,
}

impl AofInfo {
    /// The manifest line for this file, with its `\n` (aof.c `aofInfoFormat`).
    pub fn format(&self) -> String {
        let name = if needs_repr(self.file_name.as_bytes()) {
            repr(self.file_name.as_bytes())
        } else {
            self.file_name.clone()
        };
        format!(
            "file {} seq {} type {}\n",
            name,
            self.file_seq,
            self.file_type.letter()
        )
    }
}

/// The manifest (aof.h `aofManifest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofInfo>,
    /// Incr files in replay order.
    pub incr: Vec<AofInfo>,
    pub history: Vec<AofInfo>,
    /// Seq of the current base (0 when none).
    pub curr_base_file_seq: i64,
    /// Seq of the last incr file (0 when none).
    pub curr_incr_file_seq: i64,
}

/// A manifest Redis would refuse: the reason (Redis's text) and, when a line was being read,
/// its number (1-based) and its trimmed text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ManifestError {
    pub line: Option<(usize, String)>,
    pub reason: &'static str,
}

impl ManifestError {
    /// The lines Redis logs for this error, in order (without the `\n` each ends with):
    /// `"\n*** FATAL AOF MANIFEST FILE ERROR ***"`, `"Reading the manifest file, at line N"`,
    /// `">>> '<line>'"`, the reason.
    pub fn redis_lines(&self) -> Vec<String> {
        let mut v = vec!["\n*** FATAL AOF MANIFEST FILE ERROR ***".to_string()];
        if let Some((n, text)) = &self.line {
            v.push(format!("Reading the manifest file, at line {n}"));
            v.push(format!(">>> '{text}'"));
        }
        v.push(self.reason.to_string());
        v
    }
}

/// `sdsneedsrepr()` (sds.c): true if the name must be quoted in the manifest.
/// (Also true for an empty name, which Redis would write unquoted and then fail to read.)
pub fn needs_repr(s: &[u8]) -> bool {
    s.is_empty()
        || s.iter().any(|&b| {
            matches!(b, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 7 | 8)
                || !(0x20..0x7f).contains(&b)
                || b == b' '
        })
}

fn strtoll_strict(s: &[u8]) -> Option<i64> {
    let (v, used) = super::reader::strtol(s);
    if used != s.len() || s.is_empty() {
        return None;
    }
    // strtoll reports ERANGE on overflow: refuse the saturated values it returns then.
    let text = std::str::from_utf8(s).ok()?.trim_start();
    text.parse::<i64>()
        .ok()
        .or(if v == i64::MAX || v == i64::MIN {
            None
        } else {
            Some(v)
        })
}

impl Manifest {
    /// Parses a manifest as `aofLoadManifestFromFile` does (and redis-check-aof's copy of it,
    /// whose strict `seq` parsing this follows): `#` lines are skipped, every line must end
    /// with `\n` and hold at most [`MANIFEST_MAX_LINE`] bytes, have an even number >= 6 of
    /// words, name a file (not a path), a non-zero seq and a type; one base at most; incr
    /// seqs strictly increasing.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut am = Manifest::default();
        let mut maxseq = 0i64;
        let mut linenum = 0usize;
        let mut rest = text;
        let fail = |line: Option<(usize, String)>, reason| ManifestError { line, reason };
        loop {
            if rest.is_empty() {
                if linenum == 0 {
                    return Err(fail(None, "Found an empty AOF manifest"));
                }
                break;
            }
            // fgets(buf, MANIFEST_MAX_LINE+1): at most 1024 bytes, through the '\n'.
            let cap = rest.len().min(MANIFEST_MAX_LINE);
            let buf = match memchr::memchr(b'\n', &rest[..cap]) {
                Some(i) => &rest[..=i],
                None => &rest[..cap],
            };
            rest = &rest[buf.len()..];
            linenum += 1;
            // fgets stops at a NUL for the C string functions that follow.
            let cbuf = match memchr::memchr(0, buf) {
                Some(i) => &buf[..i],
                None => buf,
            };
            if cbuf.first() == Some(&b'#') {
                continue;
            }
            if !cbuf.contains(&b'\n') {
                return Err(fail(None, "The AOF manifest file contains too long line"));
            }
            let trimmed = trim(cbuf);
            let shown = String::from_utf8_lossy(trimmed).into_owned();
            let here = || Some((linenum, shown.clone()));
            if trimmed.is_empty() {
                return Err(fail(here(), "Invalid AOF manifest file format"));
            }
            let argv = match split_args(trimmed) {
                Ok(v) if v.len() >= 6 && v.len() % 2 == 0 => v,
                _ => return Err(fail(here(), "Invalid AOF manifest file format")),
            };
            let mut name: Option<Vec<u8>> = None;
            let mut seq = 0i64;
            let mut ty = 0u8;
            for pair in argv.chunks(2) {
                let (k, v) = (&pair[0], &pair[1]);
                if k.eq_ignore_ascii_case(b"file") {
                    if v.contains(&b'/') || v.contains(&b'\\') {
                        return Err(fail(here(), "File can't be a path, just a filename"));
                    }
                    name = Some(v.clone());
                } else if k.eq_ignore_ascii_case(b"seq") {
                    match strtoll_strict(v) {
                        Some(s) => seq = s,
                        None => return Err(fail(here(), "Invalid AOF manifest file format")),
                    }
                } else if k.eq_ignore_ascii_case(b"type") {
                    ty = v.first().copied().unwrap_or(0);
                }
            }
            let name = match name {
                Some(n) if seq != 0 && ty != 0 => n,
                _ => return Err(fail(here(), "Invalid AOF manifest file format")),
            };
            let file_name = String::from_utf8_lossy(&name).into_owned();
            match ty {
                b'b' => {
                    if am.base.is_some() {
                        return Err(fail(here(), "Found duplicate base file information"));
                    }
                    am.curr_base_file_seq = seq;
                    am.base = Some(AofInfo {
                        file_name,
                        file_seq: seq,
                        file_type: FileType::Base,
                    });
                }
                b'h' => am.history.push(AofInfo {
                    file_name,
                    file_seq: seq,
                    file_type: FileType::History,
                }),
                b'i' => {
                    if seq <= maxseq {
                        return Err(fail(here(), "Found a non-monotonic sequence number"));
                    }
                    am.incr.push(AofInfo {
                        file_name,
                        file_seq: seq,
                        file_type: FileType::Incr,
                    });
                    am.curr_incr_file_seq = seq;
                    maxseq = seq;
                }
                _ => return Err(fail(here(), "Unknown AOF file type")),
            }
        }
        Ok(am)
    }

    /// The manifest text (`getAofManifestAsString`): the base, then history, then incr files.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for ai in self.base.iter().chain(&self.history).chain(&self.incr) {
            s.push_str(&ai.format());
        }
        s
    }

    /// The base and incr files in load order.
    pub fn load_order(&self) -> impl Iterator<Item = &AofInfo> {
        self.base.iter().chain(&self.incr)
    }

    /// `getNewBaseFileNameAndMarkPreAsHistory`: the current base becomes history, a new base
    /// `<aof_filename>.<seq+1>.base.rdb` (`.aof` without the RDB preamble) takes its place.
    /// Returns the new name.
    pub fn new_base(&mut self, aof_filename: &str, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.file_type = FileType::History;
            self.history.insert(0, old);
        }
        self.curr_base_file_seq += 1;
        let name = format!(
            "{aof_filename}.{}.base.{}",
            self.curr_base_file_seq,
            if rdb { "rdb" } else { "aof" }
        );
        self.base = Some(AofInfo {
            file_name: name.clone(),
            file_seq: self.curr_base_file_seq,
            file_type: FileType::Base,
        });
        name
    }

    /// `getNewIncrAofName`: appends incr file `<aof_filename>.<seq+1>.incr.aof`; returns it.
    pub fn new_incr(&mut self, aof_filename: &str) -> String {
        self.curr_incr_file_seq += 1;
        let name = format!("{aof_filename}.{}.incr.aof", self.curr_incr_file_seq);
        self.incr.push(AofInfo {
            file_name: name.clone(),
            file_seq: self.curr_incr_file_seq,
            file_type: FileType::Incr,
        });
        name
    }

    /// `markRewrittenIncrAofAsHistory`: after a rewrite, every incr file but the last (the one
    /// opened when the rewrite started) becomes history.
    pub fn mark_rewritten_incr_as_history(&mut self) {
        if self.incr.len() <= 1 {
            return;
        }
        let keep = self.incr.pop().expect("len > 1");
        for mut ai in self.incr.drain(..) {
            ai.file_type = FileType::History;
            self.history.push(ai);
        }
        self.incr.push(keep);
    }
}

/// The manifest's file name for `appendfilename` (`getAofManifestFileName`).
pub fn manifest_name(aof_filename: &str) -> String {
    format!("{aof_filename}{MANIFEST_NAME_SUFFIX}")
}

/// The temporary manifest's name (`getTempAofManifestFileName`).
pub fn temp_manifest_name(aof_filename: &str) -> String {
    format!("{TEMP_FILE_NAME_PREFIX}{aof_filename}{MANIFEST_NAME_SUFFIX}")
}

/// `sdstrim(s, " \t\r\n")`.
fn trim(mut s: &[u8]) -> &[u8] {
    let set = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while s.first().is_some_and(set) {
        s = &s[1..];
    }
    while s.last().is_some_and(set) {
        s = &s[..s.len() - 1];
    }
    s
}

/// Fuzzing oracle (fuzz/fuzz_targets/manifest.rs and the corpus replay test): parsing never
/// panics, and a parsed manifest written back parses to the same manifest.
pub fn check_manifest_invariants(data: &[u8]) {
    if let Ok(m) = Manifest::parse(data) {
        let text = m.to_text();
        if text.is_empty() {
            return;
        }
        let again = Manifest::parse(text.as_bytes()).expect("written manifest parses");
        assert_eq!(again.base, m.base);
        assert_eq!(again.incr, m.incr);
        assert_eq!(again.history, m.history);
    }
}
