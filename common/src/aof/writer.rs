//! Writing AOF command streams exactly as Redis 7 does (aof.c: `feedAppendOnlyFile`,
//! `catAppendOnlyGenericCommand`, `genAofTimestampAnnotationIfNeeded`): each command as a
//! RESP multibulk of bulk strings, a `SELECT <db>` before a command whose db differs from the
//! last one written, and, with `aof-timestamp-enabled`, a `#TS:<unix seconds>\r\n` annotation
//! before the first command of each new second.

use crate::resp::encode;

/// `catAppendOnlyGenericCommand`: appends `*<argc>\r\n` then `$<len>\r\n<arg>\r\n` per argument.
pub fn cat_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    encode::command(out, argv);
}

/// Appends the annotation `#TS:<unix_s>\r\n`.
pub fn cat_timestamp(out: &mut Vec<u8>, unix_s: i64) {
    out.extend_from_slice(b"#TS:");
    out.extend_from_slice(unix_s.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The per-file state of `feedAppendOnlyFile`: the db last selected in the file and the second
/// of the last timestamp annotation. Start a fresh one for every new file (a new incr file
/// begins with a SELECT, as Redis resets `aof_selected_db` to -1 when it opens one).
#[derive(Debug, Clone, Default)]
pub struct AofWriter {
    /// Db of the last SELECT written (None: none yet in this file).
    pub selected_db: Option<usize>,
    /// Write `#TS:` annotations (`aof-timestamp-enabled`).
    pub timestamps: bool,
    /// Unix second of the last annotation written (Redis's `aof_cur_timestamp`).
    pub cur_timestamp: i64,
}

impl AofWriter {
    /// A writer for a new file.
    pub fn new(timestamps: bool) -> Self {
        AofWriter {
            selected_db: None,
            timestamps,
            cur_timestamp: 0,
        }
    }

    /// `genAofTimestampAnnotationIfNeeded(0)`: appends `#TS:<now_s>` if enabled and the second
    /// advanced since the last annotation.
    pub fn timestamp_if_needed(&mut self, out: &mut Vec<u8>, now_s: i64) {
        if self.timestamps && self.cur_timestamp < now_s {
            self.cur_timestamp = now_s;
            cat_timestamp(out, now_s);
        }
    }

    /// `feedAppendOnlyFile(dictid, argv)`: the timestamp annotation if due, a SELECT if `db`
    /// (None = a command with no db, such as MULTI/EXEC) differs from the selected one, then
    /// the command.
    pub fn feed<A: AsRef<[u8]>>(
        &mut self,
        out: &mut Vec<u8>,
        db: Option<usize>,
        argv: &[A],
        now_s: i64,
    ) {
        self.prepare(out, db, now_s);
        cat_command(out, argv);
    }

    /// The part of [`AofWriter::feed`] before the command itself: the timestamp annotation if
    /// due and a SELECT if `db` changed. For callers that encode the command themselves.
    pub fn prepare(&mut self, out: &mut Vec<u8>, db: Option<usize>, now_s: i64) {
        self.timestamp_if_needed(out, now_s);
        if let Some(db) = db {
            if self.selected_db != Some(db) {
                let d = db.to_string();
                cat_command(out, &[b"SELECT".as_slice(), d.as_bytes()]);
                self.selected_db = Some(db);
            }
        }
    }
}
