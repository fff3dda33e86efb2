//! Propagation: the one path by which a write reaches the AOF and replicas (Redis's
//! `alsoPropagate()` / `propagatePendingCommands()`).
//!
//! `call()` queues what a command propagates (its argv, or the deterministic rewrite the
//! handler chose: `SET k v EX 10` becomes `SET k v PXAT <abs ms>`, EXPIRE becomes PEXPIREAT,
//! INCRBYFLOAT becomes SET ... KEEPTTL), preceded by the DELs of keys the command found expired.
//! When the command finishes, [`Propagator::flush`] emits the batch as one unit: a lone command
//! as is, several wrapped in MULTI/EXEC, with a SELECT whenever the db changes — the byte
//! stream Redis feeds to its replication backlog and AOF buffer.
//!
//! Consumers: the AOF (`aof.rs`) takes each unit as (db, argv) through [`AofFeed`], which
//! keeps its own selected db and `#TS:` annotations (Redis's `feedAppendOnlyFile`); the byte
//! stream (`stream_consumers`: DEBUG REPL-STREAM today, the replication backlog next) keeps
//! its own SELECT state. With no consumer, [`Propagator::flush`] drops the batch after
//! counting it.

use crate::command::OwnedArgv;
use pyrope_common::aof::writer::AofWriter;
use pyrope_common::resp::encode;

/// The AOF's side of propagation (Redis's `server.aof_buf` and `aof_selected_db`): commands
/// are appended to `buf` as the AOF writes them, until `aof::flush` writes the buffer to the
/// incr file (before replies go out, in `before_sleep`).
#[derive(Debug, Default)]
pub struct AofFeed {
    /// Bytes not yet written to the file (`aof_buf`).
    pub buf: Vec<u8>,
    /// The SELECT / `#TS:` state of the file being appended to (reset for each new file).
    pub writer: AofWriter,
}

/// The propagation queue and output stream.
#[derive(Default)]
pub struct Propagator {
    /// (db, argv) queued by the current top-level command.
    pending: Vec<(usize, OwnedArgv)>,
    /// Db of the last command written to the stream.
    stream_db: Option<usize>,
    /// Number of attached consumers (AOF, replication backlog, DEBUG REPL-STREAM): while it
    /// is 0, `call()` does not even queue what commands propagate.
    pub consumers: usize,
    /// Consumers of the byte stream (`stream`): DEBUG REPL-STREAM, the replication backlog.
    pub stream_consumers: usize,
    /// The AOF's feed while `appendonly` is on (state on or wait-rewrite).
    pub aof: Option<AofFeed>,
    /// Bytes produced since the last [`Propagator::take_stream`] (only when consumers > 0).
    stream: Vec<u8>,
    /// Total bytes ever produced (master_repl_offset once replication exists).
    pub offset: u64,
    /// Number of units (commands or transactions) flushed.
    pub units: u64,
}

impl Propagator {
    /// Queues one command for db `db`.
    pub fn push(&mut self, db: usize, argv: OwnedArgv) {
        self.pending.push((db, argv));
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Emits the queued commands as one unit and clears the queue.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.units += 1;
        let batch = std::mem::take(&mut self.pending);
        if self.consumers == 0 {
            return;
        }
        let wrap = batch.len() > 1;
        if let Some(aof) = &mut self.aof {
            // `#TS:` annotations need the wall clock: read it only when they are on.
            let now_s = if aof.writer.timestamps {
                crate::server::unix_us() / 1_000_000
            } else {
                0
            };
            let w = &mut aof.writer;
            if wrap {
                // MULTI carries no SELECT (dbid -1), as for the byte stream below.
                w.feed(&mut aof.buf, None, &[b"MULTI"], now_s);
            }
            for (db, argv) in &batch {
                w.prepare(&mut aof.buf, Some(*db), now_s);
                let av = argv.argv();
                encode::array(&mut aof.buf, av.len());
                for a in av.iter() {
                    encode::bulk(&mut aof.buf, a);
                }
            }
            if wrap {
                w.feed(&mut aof.buf, None, &[b"EXEC"], now_s);
            }
        }
        if self.stream_consumers == 0 {
            return;
        }
        if wrap {
            // As Redis (`propagatePendingCommands` sends MULTI with dbid -1): MULTI carries
            // no SELECT; the first command's SELECT, if needed, goes inside the transaction.
            self.emit(&OwnedArgv::from_args(&["MULTI"]));
        }
        for (db, argv) in &batch {
            self.select(*db);
            self.emit(argv);
        }
        if wrap {
            self.emit(&OwnedArgv::from_args(&["EXEC"]));
        }
    }

    fn select(&mut self, db: usize) {
        if self.stream_db != Some(db) {
            self.stream_db = Some(db);
            self.emit(&OwnedArgv::from_args(&[
                "SELECT".to_string(),
                db.to_string(),
            ]));
        }
    }

    fn emit(&mut self, argv: &OwnedArgv) {
        let start = self.stream.len();
        let a: Vec<&[u8]> = argv.argv().iter().collect();
        encode::command(&mut self.stream, &a);
        self.offset += (self.stream.len() - start) as u64;
    }

    /// Bytes held by the stream buffer (the replicas' share of memory, not counted against
    /// maxmemory).
    pub fn stream_capacity(&self) -> usize {
        self.stream.capacity()
    }

    /// Takes the bytes produced so far (for a consumer).
    pub fn take_stream(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.stream)
    }

    /// Drops what the current unit queued (commands replayed from the AOF must not be
    /// propagated again).
    pub fn discard_pending(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_commands_select_once_and_batches_are_transactions() {
        let mut p = Propagator {
            consumers: 1,
            stream_consumers: 1,
            ..Default::default()
        };
        p.push(0, OwnedArgv::from_args(&["SET", "a", "1"]));
        p.flush();
        p.push(0, OwnedArgv::from_args(&["SET", "b", "2"]));
        p.flush();
        p.push(1, OwnedArgv::from_args(&["DEL", "x"]));
        p.push(1, OwnedArgv::from_args(&["INCR", "y"]));
        p.flush();
        let s = String::from_utf8(p.take_stream()).unwrap();
        assert_eq!(
            s,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*2\r\n$3\r\nDEL\r\n$1\r\nx\r\n*2\r\n$4\r\nINCR\r\n$1\r\ny\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        assert_eq!(p.offset as usize, s.len());
        assert_eq!(p.units, 3);
    }

    #[test]
    fn the_aof_feed_keeps_its_own_select_state_and_wraps_units() {
        let mut p = Propagator {
            consumers: 1,
            aof: Some(AofFeed::default()),
            ..Default::default()
        };
        p.push(2, OwnedArgv::from_args(&["SET", "a", "1"]));
        p.flush();
        p.push(2, OwnedArgv::from_args(&["DEL", "x"]));
        p.push(3, OwnedArgv::from_args(&["INCR", "y"]));
        p.flush();
        let aof = p.aof.as_ref().unwrap();
        let s = String::from_utf8_lossy(&aof.buf).replace("\r\n", " ");
        assert_eq!(
            s,
            "*2 $6 SELECT $1 2 *3 $3 SET $1 a $1 1 *1 $5 MULTI *2 $3 DEL $1 x *2 $6 SELECT $1 3 *2 $4 INCR $1 y *1 $4 EXEC "
        );
        // The byte stream has no consumer of its own: nothing is kept for it.
        assert!(p.take_stream().is_empty());
    }

    #[test]
    fn without_consumers_nothing_is_buffered() {
        let mut p = Propagator::default();
        p.push(0, OwnedArgv::from_args(&["SET", "a", "1"]));
        p.flush();
        assert!(p.take_stream().is_empty());
        assert!(p.is_empty());
        assert_eq!(p.units, 1);
    }
}
