//! MONITOR (Redis `monitorCommand`, `replicationFeedMonitors` in replication.c): clients in
//! monitor mode receive every command the server executes as one simple-string line,
//!
//! ```text
//! +<unix seconds>.<microseconds 6 digits> [<db> <peer>] "arg0" "arg1" ...\r\n
//! ```
//!
//! where `<peer>` is the caller's `ip:port` (`[ipv6]:port`), `lua` for commands of a script,
//! or `unix:<unixsocket>`; arguments are quoted as `sdscatrepr()` does, and the arguments a
//! command redacted ([`crate::command::Ctx::redact_arg`]: AUTH, HELLO AUTH, CONFIG SET of a
//! sensitive parameter, ACL SETUSER) read `"(redacted)"`.
//!
//! As in Redis 7.4, a command is fed after it ran (so `SELECT 2` shows db 2), once (a
//! blocked command is not fed again when it is served), unless it is flagged `admin` or
//! `skip_monitor`; scripts (EVAL*, FCALL*, flagged `skip_monitor`) are fed by the script
//! runner *before* they run, so their commands follow them. Rejected commands (unknown,
//! wrong arity, NOPERM, ...) and the AOF loader's commands are not fed. A monitor client
//! may not run commands that touch the keyspace (`-ERR Replica can't interact with the
//! keyspace`, checked by `process_command`); RESET leaves monitor mode.

use crate::client::flags as cf;
use crate::command::Ctx;
use crate::pubsub::Running;
use crate::server::Server;

/// MONITOR: enters monitor mode (`+OK`); again in monitor mode: no reply; inside MULTI/EXEC
/// (a client that may not block) Redis's DENY BLOCKING error.
fn monitor(c: &mut Ctx) {
    let cl = &c.srv.clients[c.cid];
    if cl.flags & cf::DENY_BLOCKING != 0 || c.flags & crate::command::ctx::DENY_BLOCKING != 0 {
        c.out
            .error("ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    if cl.flags & cf::MONITOR != 0 {
        return;
    }
    c.srv.clients[c.cid].flags |= cf::MONITOR;
    c.srv.monitors.push(c.cid);
    c.out.ok();
}

/// Leaves monitor mode (RESET, closing the connection).
pub fn stop(srv: &mut Server, k: usize) {
    if let Some(cl) = srv.clients.get_mut(k) {
        if cl.flags & cf::MONITOR != 0 {
            cl.flags &= !cf::MONITOR;
            srv.monitors.retain(|&m| m != k);
        }
    }
}

/// Sends `argv`, run by client `k` in `db`, to every monitor (`replicationFeedMonitors`).
/// `redacted` has bit `j` set when argument `j` must read `(redacted)` (bit 63: every
/// argument from 63 on). The running client, if it is a monitor, gets its line after its
/// own reply.
pub fn feed(
    srv: &mut Server,
    k: usize,
    db: usize,
    argv: &[&[u8]],
    redacted: u64,
    running: Running,
) {
    let line = format_line(srv, k, db, argv, redacted);
    for m in srv.monitors.clone() {
        // Nothing more reaches a client closing after its reply (QUIT), as Redis's
        // `prepareClientToWrite`.
        if srv.clients[m].flags & cf::CLOSE_AFTER_REPLY != 0 {
            continue;
        }
        crate::pubsub::deliver(srv, Some(running), m, |r| r.raw(line.as_bytes()));
    }
}

/// The monitor line (with its `+` and CRLF) for one command.
fn format_line(srv: &Server, k: usize, db: usize, argv: &[&[u8]], redacted: u64) -> String {
    use std::fmt::Write;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut s = String::with_capacity(64 + argv.iter().map(|a| a.len() + 3).sum::<usize>());
    let _ = write!(s, "+{}.{:06} ", now.as_secs(), now.subsec_micros());
    let cl = &srv.clients[k];
    if srv.scripting.is_client(k) {
        let _ = write!(s, "[{db} lua] ");
    } else if cl.flags & cf::UNIX_SOCKET != 0 {
        let _ = write!(
            s,
            "[{db} unix:{}] ",
            srv.config.get("unixsocket").unwrap_or("")
        );
    } else {
        let _ = write!(s, "[{db} {}] ", cl.addr);
    }
    for (j, a) in argv.iter().enumerate() {
        if j > 0 {
            s.push(' ');
        }
        if is_redacted(redacted, j) {
            s.push_str("\"(redacted)\"");
        } else {
            s.push_str(&pyrope_common::conf::repr(a));
        }
    }
    s.push_str("\r\n");
    s
}

/// True when argument `j` is redacted in the `redacted` mask (bit 63 covers 63 and above).
#[inline]
pub fn is_redacted(redacted: u64, j: usize) -> bool {
    redacted & (1u64 << j.min(63)) != 0
}

/// The commands of this file.
pub const COMMANDS: &[(&str, crate::command::Handler)] = &[("monitor", monitor)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_mask_covers_high_positions_with_bit_63() {
        assert!(is_redacted(1 << 1, 1));
        assert!(!is_redacted(1 << 1, 2));
        assert!(is_redacted(1 << 63, 63));
        assert!(is_redacted(1 << 63, 200));
        assert!(!is_redacted(1 << 62, 63));
    }
}
