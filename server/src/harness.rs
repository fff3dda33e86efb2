//! An in-process server with no sockets, for the command-level fuzz target and tests: the
//! real command table and `process_command()` run on a socketless client (the same kind of
//! client the Lua client, the AOF loader and the master link will be), and the cron can be
//! driven by hand. Nothing listens; the lazy-free thread runs as in the real server.

use crate::client::Client;
use crate::command::Argv;
use crate::server::Server;

/// A server state plus one socketless client.
pub struct Harness {
    srv: Server,
    cid: usize,
}

impl Harness {
    /// A fresh server configured with `directives` (`(name, value)` pairs as in redis.conf),
    /// with the DEBUG command enabled. Errors name the directive that was refused.
    pub fn new(directives: &[(&str, &str)]) -> Result<Harness, String> {
        let mut cfg = crate::config::Config::new();
        cfg.set_from_file("enable-debug-command", &["yes".into()])?;
        for (k, v) in directives {
            cfg.set_from_file(k, &[v.to_string()])
                .map_err(|e| format!("{k}: {e}"))?;
        }
        let table = crate::command::meta::build(&crate::handlers());
        let mut srv = Server::new(cfg, table);
        let cid = srv.create_socketless_client();
        Ok(Harness { srv, cid })
    }

    /// Runs one command as the client would send it and returns the reply bytes it produced
    /// (empty for CLIENT REPLY OFF, or a command postponed by CLIENT PAUSE).
    pub fn run(&mut self, argv: &[&[u8]]) -> Vec<u8> {
        if argv.is_empty() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let mut ranges = Vec::with_capacity(argv.len());
        for a in argv {
            let s = buf.len();
            buf.extend_from_slice(a);
            ranges.push(s..buf.len());
        }
        let mut out = std::mem::take(&mut self.srv.clients[self.cid].out);
        let start = out.buf.len();
        self.srv.batch_clock = None;
        crate::command::call::process_command(
            &mut self.srv,
            self.cid,
            Argv::new(&buf, &ranges),
            &mut out,
        );
        let reply = out.buf.split_off(start);
        out.buf.clear();
        self.srv.clients[self.cid].out = out;
        if self.srv.shutdown.is_some() {
            // SHUTDOWN asked the loop to stop; there is no loop: forget it.
            self.srv.shutdown = None;
        }
        reply
    }

    /// Runs the periodic work once (`serverCron` and the fast expire cycle).
    pub fn cron(&mut self) {
        self.srv.cron();
        crate::expire::active_expire_cycle(&mut self.srv, crate::expire::CycleKind::Fast);
    }

    /// Number of keys in db `db`.
    pub fn dbsize(&self, db: usize) -> usize {
        self.srv.ks.db(db).len()
    }
}

impl Server {
    /// Adds a client without a socket (see `Client::conn`) and returns its slab key. It is
    /// not counted in INFO/CLIENT LIST, never written to by the event loop, and its owner
    /// reads its replies from its `out` buffer.
    pub fn create_socketless_client(&mut self) -> usize {
        let id = self.next_id();
        let need_auth = !self.settings.requirepass.is_empty();
        let c = Client::new(id, None, String::new(), String::new(), self.now_ms, need_auth);
        self.clients.insert(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socketless_client_runs_commands_and_receives_its_messages() {
        let mut h = Harness::new(&[]).unwrap();
        assert_eq!(h.run(&[b"SET", b"k", b"v"]), b"+OK\r\n");
        assert_eq!(h.run(&[b"GET", b"k"]), b"$1\r\nv\r\n");
        assert_eq!(h.run(&[b"HELLO", b"3"]).first(), Some(&b'%'));
        assert_eq!(
            h.run(&[b"SUBSCRIBE", b"c"]),
            b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
        );
        // PUBLISH to its own channel: the reply, then the message (Redis 7.2+ order).
        assert_eq!(
            h.run(&[b"PUBLISH", b"c", b"m"]),
            b":1\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
        );
        assert_eq!(h.dbsize(0), 1);
        h.cron();
    }
}
