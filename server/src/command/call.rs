//! `process_command()` (lookup, arity, auth and pause checks) and `call()` (execute, time,
//! count, slowlog, propagate, reply suppression), as Redis's functions of the same names.

use super::{reject, unknown_command_error, Argv, Ctx, Lookup, OwnedArgv};
use crate::client::flags as cf;
use crate::command::flags;
use crate::keyspace::{EntryPtr, Touch};
use crate::reply::Reply;
use crate::server::Server;
use std::time::Instant;

/// What happened to a command.
pub enum Outcome {
    /// Executed or rejected; the caller consumes it.
    Done,
    /// Not executed now (CLIENT PAUSE): keep it buffered and retry later.
    Postponed,
}

/// Validates and executes one command of client `k`.
pub fn process_command(srv: &mut Server, k: usize, argv: Argv, out: &mut Reply) -> Outcome {
    let lookup = srv.commands.lookup(&argv);
    // As Redis's processCommand sets c->lastcmd: the command about to run (CLIENT INFO shows
    // itself), or none for an unknown command or subcommand.
    srv.clients[k].last_cmd = match lookup {
        Lookup::Found(id) => Some(id),
        _ => None,
    };
    let id = match lookup {
        Lookup::Found(id) => id,
        Lookup::Unknown => {
            reject(srv, None, out, &unknown_command_error(&argv));
            srv.count_errors(&mut out.errors);
            return Outcome::Done;
        }
        Lookup::UnknownSub => {
            let msg = format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                super::trunc(&argv[1], 128),
                String::from_utf8_lossy(&argv[0]).to_ascii_uppercase()
            );
            reject(srv, None, out, &msg);
            srv.count_errors(&mut out.errors);
            return Outcome::Done;
        }
    };
    let cmd = &srv.commands.cmds[id];
    if !cmd.arity_ok(argv.len()) || cmd.handler.is_none() {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.fullname
        );
        reject(srv, Some(id), out, &msg);
        srv.count_errors(&mut out.errors);
        return Outcome::Done;
    }
    if srv.auth_required(k) && !cmd.has(flags::NO_AUTH) {
        reject(srv, Some(id), out, "NOAUTH Authentication required.");
        srv.count_errors(&mut out.errors);
        return Outcome::Done;
    }
    // maxmemory: Pyrope does not evict yet, so every policy behaves as noeviction: commands
    // that may grow memory are refused while used memory is over the limit.
    if srv.settings.maxmemory > 0
        && cmd.has(flags::DENYOOM)
        && srv.mem.used() > srv.settings.maxmemory
    {
        reject(
            srv,
            Some(id),
            out,
            "OOM command not allowed when used memory > 'maxmemory'.",
        );
        srv.count_errors(&mut out.errors);
        return Outcome::Done;
    }
    // Every command waits out a PAUSE ALL, CLIENT UNPAUSE included (as Redis 7.4: only the
    // timeout, or an UNPAUSE sent during a WRITE pause, ends it); a WRITE pause holds the
    // commands that may write or replicate.
    if let Some(write_only) = srv.paused() {
        if !write_only || cmd.has(flags::WRITE) || cmd.has(flags::MAY_REPLICATE) {
            return Outcome::Postponed;
        }
    }
    call(srv, k, id, argv, out);
    Outcome::Done
}

/// Executes command `id` for client `k` and does all the bookkeeping around it.
pub fn call(srv: &mut Server, k: usize, id: usize, argv: Argv, out: &mut Reply) {
    let handler = srv.commands.cmds[id].handler.expect("checked");
    let client_flags = srv.clients[k].flags;
    let skip_this = client_flags & cf::REPLY_SKIP != 0;
    let out_before = out.buf.len();
    let errors_before = out.errors.len();
    let dirty_before = srv.dirty;
    // Within a batch of pipelined commands the previous command's end is this one's start.
    let start = srv.batch_clock.take().unwrap_or_else(Instant::now);
    srv.set_time(start);
    let db = srv.clients[k].db;
    let mut ctx = Ctx {
        srv,
        out,
        argv,
        cid: k,
        db,
        cmd: id,
        propagate_as: None,
        no_propagate: false,
    };
    handler(&mut ctx);
    let Ctx {
        srv,
        out,
        db,
        propagate_as,
        no_propagate,
        ..
    } = ctx;
    let end = Instant::now();
    srv.batch_clock = Some(end);
    let dur = end.saturating_duration_since(start).as_micros() as u64;
    srv.stats.eventloop_duration_cmd_sum_us += dur;

    let failed = out.errors.len() > errors_before;
    {
        let st = &mut srv.commands.cmds[id].stats;
        st.calls += 1;
        st.usec += dur;
        if failed {
            st.failed_calls += 1;
        }
        if srv.settings.latency_tracking {
            st.record_latency(dur);
        }
    }
    srv.count_errors(&mut out.errors);
    srv.stats.total_commands_processed += 1;

    let cmd_flags = srv.commands.cmds[id].flags;
    let (thr, max) = (
        srv.settings.slowlog_log_slower_than_us,
        srv.settings.slowlog_max_len,
    );
    if cmd_flags & flags::SKIP_SLOWLOG == 0 && thr >= 0 && dur as i64 >= thr {
        let c = &srv.clients[k];
        let name = c.name.clone().unwrap_or_default();
        let peer = c.addr.clone();
        srv.slowlog
            .maybe_push(thr, max, dur, srv.now_ms / 1000, &argv, &peer, &name);
    }

    propagate_expired(srv);
    // Building the propagated argv costs a copy: skip it while nothing consumes the stream.
    if srv.dirty > dirty_before && !no_propagate && srv.propagator.consumers > 0 {
        match propagate_as {
            Some(list) => {
                for a in list {
                    srv.propagator.push(db, a);
                }
            }
            None => srv.propagator.push(db, argv.to_owned()),
        }
    }
    srv.propagator.flush();

    // Replies are dropped while REPLY OFF is in force after the command (so CLIENT REPLY ON
    // still answers +OK) or when this command was the one to skip.
    if skip_this || srv.clients[k].flags & cf::REPLY_OFF != 0 {
        out.buf.truncate(out_before);
    }
    let c = &mut srv.clients[k];
    c.db = db;
    c.commands_processed += 1;
    c.last_interaction_ms = srv.now_ms;
    c.flags &= !cf::REPLY_SKIP;
    if c.flags & cf::REPLY_SKIP_NEXT != 0 {
        c.flags = (c.flags & !cf::REPLY_SKIP_NEXT) | cf::REPLY_SKIP;
    }
    let pending = out.buf.len();
    if srv.settings.obuf_limits[0].0 > 0 {
        crate::net::check_output_limit(srv, k, pending);
    }
}

/// Propagates (and frees) keys found expired by lookups of the command that just ran: a DEL
/// (UNLINK with lazyfree-lazy-expire) per key, before the command itself, as Redis does.
pub fn propagate_expired(srv: &mut Server) {
    if !srv.expired_pending {
        return;
    }
    srv.expired_pending = false;
    let lazy = srv.settings.lazyfree_lazy_expire;
    for i in 0..srv.dbs.len() {
        if srv.dbs[i].expired.is_empty() {
            continue;
        }
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let feed = srv.propagator.consumers > 0;
        let n = srv.dbs[i].drain_expired(|k| {
            if feed {
                keys.push(k.to_vec())
            }
        });
        srv.stats.expired_keys += n as u64;
        for key in keys {
            let verb: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
            srv.propagator.push(i, OwnedArgv::from_args(&[verb, &key]));
        }
    }
}

impl<'a> Ctx<'a> {
    /// LRU/LFU update mode for lookups of this client.
    #[inline]
    pub fn touch_mode(&self) -> Touch {
        if self.srv.clients[self.cid].flags & cf::NO_TOUCH != 0 && self.command().name != "touch" {
            Touch::No
        } else {
            self.srv.touch_mode()
        }
    }

    /// Looks a key up for reading: counts keyspace hits/misses and touches LRU/LFU (Redis
    /// `lookupKeyRead`).
    #[inline]
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<EntryPtr> {
        let touch = self.touch_mode();
        self.lookup_counted(key, touch)
    }

    /// Looks a key up for reading without touching LRU/LFU, counting hits/misses (Redis
    /// `lookupKeyReadWithFlags(..., LOOKUP_NOTOUCH)`: TYPE, TTL, EXISTS, OBJECT).
    #[inline]
    pub fn lookup_read_notouch(&mut self, key: &[u8]) -> Option<EntryPtr> {
        self.lookup_counted(key, Touch::No)
    }

    #[inline]
    fn lookup_counted(&mut self, key: &[u8], touch: Touch) -> Option<EntryPtr> {
        let r = self.lookup_in(self.db, key, touch);
        if r.is_some() {
            self.srv.stats.keyspace_hits += 1;
        } else {
            self.srv.stats.keyspace_misses += 1;
        }
        r
    }

    /// Looks a key up for writing (no hit/miss accounting).
    #[inline]
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<EntryPtr> {
        let touch = self.touch_mode();
        self.lookup_in(self.db, key, touch)
    }

    /// Looks a key up without touching anything and without hit/miss accounting (DEL, SCAN
    /// and RANDOMKEY reclaiming expired keys, DEBUG OBJECT).
    #[inline]
    pub fn lookup_notouch(&mut self, key: &[u8]) -> Option<EntryPtr> {
        self.lookup_in(self.db, key, Touch::No)
    }

    /// Looks `key` up in db `db` (no hit/miss accounting); an expired key is reclaimed
    /// unless expiry is paused.
    #[inline]
    pub fn lookup_in(&mut self, db: usize, key: &[u8], touch: Touch) -> Option<EntryPtr> {
        let now = self.srv.now_ms;
        let may_expire = self.srv.may_expire();
        let r = self.srv.dbs[db].lookup(key, now, may_expire, touch);
        if r.is_none() {
            self.note_expired(db);
        }
        r
    }

    /// After a missed lookup in `db`: if it reclaimed an expired key, `call()` must propagate
    /// the deletion (`Server::expired_pending`).
    #[inline]
    fn note_expired(&mut self, db: usize) {
        if !self.srv.dbs[db].expired.is_empty() {
            self.srv.expired_pending = true;
        }
    }

    /// Counts a modification (drives propagation and `rdb_changes_since_last_save`).
    #[inline]
    pub fn dirty(&mut self, n: u64) {
        self.srv.dirty += n;
    }
}
