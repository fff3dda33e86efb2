//! The append-only file: its command-stream codec and Redis 7's multi-part layout, shared by
//! the server (writing and loading) and `pyrope-check-aof` (validating and repairing).
//!
//! - [`reader`]: a streaming reader of RESP command streams with `#TS:` annotations and an
//!   RDB preamble hook ([`PreambleChecker`]; TODO(rdb-merge): the RDB reader plugs in there).
//! - [`manifest`]: the `appenddirname/<appendfilename>.manifest` parser and writer.
//! - [`writer`]: commands, SELECTs and timestamp annotations as Redis writes them.
//! - [`check_stream`]: redis-check-aof's scan of one file (`checkSingleAof`): how far the file
//!   is well formed, MULTI/EXEC balance, the `--truncate-to-timestamp` cut point.
//!
//! Invariant: nothing here touches a server; files are read through `BufRead + Seek`.

pub mod manifest;
pub mod reader;
pub mod rewrite;
pub mod writer;

pub use manifest::{AofInfo, FileType, Manifest, ManifestError};
pub use reader::{
    AofError, AofReader, ErrorKind, Item, PreambleChecker, PreambleError, SkipPreamble,
};
pub use writer::AofWriter;

use std::io::{BufRead, Seek};

/// The result of scanning one AOF file as redis-check-aof's `checkSingleAof` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCheck {
    /// Offset up to which the file is valid: the start of the first item not completed
    /// outside a MULTI (the whole size when `error` is None and no timestamp cut).
    pub ok_up_to: u64,
    /// The damage found, if any (also "Unexpected MULTI/EXEC" and "Reached EOF before reading
    /// EXEC for MULTI", which redis-check-aof reports in the same way).
    pub error: Option<AofError>,
    /// With a `to_timestamp`: offset of the first `#TS:` annotation later than it.
    pub timestamp_cut: Option<u64>,
    /// Commands read completely.
    pub commands: u64,
}

/// Scans the rest of `reader` (already past any preamble) as `checkSingleAof`: items are read
/// until the end or the first damage; `ok_up_to` advances at each item boundary outside a
/// MULTI; MULTI inside MULTI and EXEC without MULTI are errors (`name` is the file name those
/// messages quote); with `to_timestamp`, the scan stops at the first `#TS:` annotation with a
/// later time.
pub fn check_stream<R: BufRead + Seek>(
    reader: &mut AofReader<R>,
    name: &str,
    to_timestamp: Option<i64>,
) -> StreamCheck {
    let mut multi = 0i32;
    let mut out = StreamCheck {
        ok_up_to: reader.position(),
        error: None,
        timestamp_cut: None,
        commands: 0,
    };
    loop {
        if multi == 0 {
            out.ok_up_to = reader.position();
        }
        let item = match reader.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => break,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        match &item {
            Item::Annotation { start, .. } => {
                if let (Some(to), Some(ts)) = (to_timestamp, item.timestamp()) {
                    if ts > to {
                        out.timestamp_cut = Some(*start);
                        return out;
                    }
                }
            }
            Item::Command { argv, start, .. } => {
                let a0 = &argv[0];
                let bad = if a0.eq_ignore_ascii_case(b"multi") {
                    multi += 1;
                    (multi > 1).then_some("MULTI")
                } else if a0.eq_ignore_ascii_case(b"exec") {
                    multi -= 1;
                    (multi != 0).then_some("EXEC")
                } else {
                    None
                };
                if let Some(which) = bad {
                    out.error = Some(AofError {
                        offset: reader.arg0_offset(),
                        item_start: *start,
                        kind: ErrorKind::Format,
                        reason: format!("Unexpected {which} in AOF {name}"),
                    });
                    return out;
                }
                out.commands += 1;
            }
        }
    }
    if multi != 0 {
        out.error = Some(AofError {
            offset: reader.last_epos(),
            item_start: out.ok_up_to,
            kind: ErrorKind::Truncated,
            reason: "Reached EOF before reading EXEC for MULTI".into(),
        });
    }
    out
}

/// Fuzzing oracle (fuzz/fuzz_targets/aof.rs and the corpus replay test): reading any bytes
/// never panics and never allocates a claimed length; what the reader accepts re-encodes to
/// the same bytes when it was written canonically, and the check's `ok_up_to` never passes
/// the damage.
pub fn check_aof_invariants(data: &[u8]) {
    let mut r = AofReader::new(std::io::Cursor::new(data)).with_max_bulk(1 << 20);
    if r.has_preamble().unwrap_or(false) {
        let _ = r.skip_preamble(&mut SkipPreamble, data.len() as u64);
    }
    let start = r.position();
    let c = check_stream(&mut r, "fuzz", None);
    assert!(c.ok_up_to <= data.len() as u64);
    if let Some(e) = &c.error {
        assert!(e.item_start >= start && e.item_start <= data.len() as u64);
        assert!(c.ok_up_to <= e.item_start);
    }
    // Every complete command re-encodes canonically to a stream the reader gives back.
    let mut r = AofReader::new(std::io::Cursor::new(data)).with_max_bulk(1 << 20);
    let mut again = Vec::new();
    let mut cmds = Vec::new();
    if r.has_preamble().unwrap_or(true) {
        return;
    }
    while let Ok(Some(item)) = r.next_item() {
        if let Item::Command { argv, .. } = item {
            writer::cat_command(&mut again, &argv);
            cmds.push(argv);
        }
    }
    let mut r2 = AofReader::new(std::io::Cursor::new(&again[..]));
    for argv in cmds {
        match r2.next_item() {
            Ok(Some(Item::Command { argv: a, .. })) => assert_eq!(a, argv),
            other => panic!("re-encoded command not read back: {other:?}"),
        }
    }
    assert!(matches!(r2.next_item(), Ok(None)));
}

#[cfg(test)]
mod tests;
