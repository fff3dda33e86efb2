//! The slow log (SLOWLOG GET / LEN / RESET / HELP): commands whose execution took longer
//! than `slowlog-log-slower-than` microseconds, newest first, capped at `slowlog-max-len`.
//! Arguments are trimmed as Redis does: at most 32 (the last one saying how many more), each
//! at most 128 bytes (with "... (N more bytes)").

use crate::command::{Argv, Ctx};
use std::collections::VecDeque;

const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

/// One slow-log entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: u64,
    /// Unix time, seconds.
    pub time_s: i64,
    /// Execution time, microseconds.
    pub duration_us: u64,
    pub argv: Vec<Vec<u8>>,
    pub peer: String,
    pub name: Vec<u8>,
}

/// The log.
#[derive(Default)]
pub struct Slowlog {
    pub entries: VecDeque<Entry>,
    pub next_id: u64,
}

impl Slowlog {
    /// Records a command if it is slow enough.
    pub fn maybe_push(
        &mut self,
        threshold_us: i64,
        max_len: usize,
        duration_us: u64,
        now_s: i64,
        argv: &Argv,
        redacted: u64,
        peer: &str,
        name: &[u8],
    ) {
        // As Redis: a zero-length log records nothing and leaves old entries alone.
        if threshold_us < 0 || (duration_us as i64) < threshold_us || max_len == 0 {
            return;
        }
        let argc = argv.len().min(MAX_ARGC);
        let mut args = Vec::with_capacity(argc);
        for (i, a) in argv.iter().enumerate().take(argc) {
            if argc != argv.len() && i == argc - 1 {
                args.push(format!("... ({} more arguments)", argv.len() - argc + 1).into_bytes());
            } else if crate::monitor::is_redacted(redacted, i) {
                args.push(b"(redacted)".to_vec());
            } else if a.len() > MAX_STRING {
                let mut s = a[..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                args.push(s);
            } else {
                args.push(a.to_vec());
            }
        }
        self.entries.push_front(Entry {
            id: self.next_id,
            time_s: now_s,
            duration_us,
            argv: args,
            peer: peer.to_string(),
            name: name.to_vec(),
        });
        self.next_id += 1;
        while self.entries.len() > max_len {
            self.entries.pop_back();
        }
    }
}

/// SLOWLOG GET [count]
pub fn slowlog_get(c: &mut Ctx) {
    let mut count: i64 = 10;
    if c.argc() > 3 {
        return c.subcommand_syntax_error();
    }
    if c.argc() == 3 {
        match pyrope_common::util::string2ll(c.arg(2)) {
            Some(n) if n >= -1 => count = n,
            _ => {
                c.out
                    .error("ERR count should be greater than or equal to -1");
                return;
            }
        }
    }
    let log = &c.srv.slowlog;
    let n = if count == -1 {
        log.entries.len()
    } else {
        (count as usize).min(log.entries.len())
    };
    c.out.array(n);
    for e in log.entries.iter().take(n) {
        c.out.array(6);
        c.out.int(e.id as i64);
        c.out.int(e.time_s);
        c.out.int(e.duration_us as i64);
        c.out.array(e.argv.len());
        for a in &e.argv {
            c.out.bulk(a);
        }
        c.out.bulk(e.peer.as_bytes());
        c.out.bulk(&e.name);
    }
}

/// SLOWLOG LEN
pub fn slowlog_len(c: &mut Ctx) {
    let n = c.srv.slowlog.entries.len();
    c.out.int(n as i64);
}

/// SLOWLOG RESET
pub fn slowlog_reset(c: &mut Ctx) {
    c.srv.slowlog.entries.clear();
    c.out.ok();
}

/// SLOWLOG HELP
pub fn slowlog_help(c: &mut Ctx) {
    c.out.help_lines(crate::help::SLOWLOG);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, crate::command::Handler)] = &[
    ("slowlog|get", slowlog_get),
    ("slowlog|len", slowlog_len),
    ("slowlog|reset", slowlog_reset),
    ("slowlog|help", slowlog_help),
];
