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
//! The consumers of that stream (AOF writer, replication backlog) arrive with their issues;
//! until one attaches, [`Propagator::flush`] drops the batch after counting it.

use crate::command::OwnedArgv;
use pyrope_common::resp::encode;

/// The propagation queue and output stream.
#[derive(Default)]
pub struct Propagator {
    /// (db, argv) queued by the current top-level command.
    pending: Vec<(usize, OwnedArgv)>,
    /// Db of the last command written to the stream.
    stream_db: Option<usize>,
    /// Number of attached consumers (AOF, replication backlog).
    pub consumers: usize,
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

    /// Takes the bytes produced so far (for a consumer).
    pub fn take_stream(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_commands_select_once_and_batches_are_transactions() {
        let mut p = Propagator {
            consumers: 1,
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
    fn without_consumers_nothing_is_buffered() {
        let mut p = Propagator::default();
        p.push(0, OwnedArgv::from_args(&["SET", "a", "1"]));
        p.flush();
        assert!(p.take_stream().is_empty());
        assert!(p.is_empty());
        assert_eq!(p.units, 1);
    }
}
