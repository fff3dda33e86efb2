//! `process_command()` (lookup, arity, auth, subscribed-mode and pause checks, reply
//! suppression) and `call()` (execute, time, count, slowlog, drain the keyspace's signals,
//! propagate), as Redis's functions of the same names. `call()` nests (EXEC, scripts).

use super::{reject, unknown_command_error, Argv, Ctx, Lookup};
use crate::blocking::{BlockKind, Resume};
use crate::client::flags as cf;
use crate::command::flags;
use crate::keyspace::{KeyRef, Touch};
use crate::pubsub::Running;
use crate::reply::Reply;
use crate::server::Server;
use std::time::Instant;

/// What happened to a command.
pub enum Outcome {
    /// Executed or rejected; the caller consumes it.
    Done,
    /// Not executed now (CLIENT PAUSE): keep it buffered and retry later.
    Postponed,
    /// The command blocked the client (`blocking`): keep it buffered, it runs again when
    /// the client is unblocked.
    Blocked,
}

/// Validates and executes one command of client `k` (Redis `processCommand`), then resets
/// the per-command reply state (`resetClient`): under CLIENT REPLY OFF or SKIP nothing this
/// command wrote reaches the client, its rejection errors included.
pub fn process_command(srv: &mut Server, k: usize, argv: Argv, out: &mut Reply) -> Outcome {
    let out_before = out.buf.len();
    let skip_this = srv.clients[k].flags & cf::REPLY_SKIP != 0;
    let outcome = match std::mem::take(&mut srv.clients[k].resume) {
        Resume::TimedOut(kind) => {
            // Redis `replyToBlockedClientTimedOut` + `updateStatsOnUnblock`.
            match kind {
                BlockKind::Postpone => {}
                _ => out.null_array(),
            }
            count_unblocked(srv, k, argv, false);
            Outcome::Done
        }
        Resume::Error(msg) => {
            out.error(&msg);
            srv.count_errors(&mut out.errors);
            count_unblocked(srv, k, argv, true);
            Outcome::Done
        }
        r => {
            // Run (again): `blocking::block` reads a kept deadline from `resume`.
            srv.clients[k].resume = r;
            let outcome = check_and_call(srv, k, argv, out);
            if srv.clients[k].flags & cf::BLOCKED != 0 {
                return Outcome::Blocked;
            }
            srv.clients[k].resume = Resume::None;
            outcome
        }
    };
    if let Outcome::Postponed = outcome {
        return outcome;
    }
    // Replies are dropped while REPLY OFF is in force after the command (so CLIENT REPLY ON
    // still answers +OK) or when this command was the one to skip.
    let c = &mut srv.clients[k];
    if skip_this || c.flags & cf::REPLY_OFF != 0 {
        out.buf.truncate(out_before);
    }
    c.flags &= !cf::REPLY_SKIP;
    if c.flags & cf::REPLY_SKIP_NEXT != 0 {
        c.flags = (c.flags & !cf::REPLY_SKIP_NEXT) | cf::REPLY_SKIP;
    }
    outcome
}

fn check_and_call(srv: &mut Server, k: usize, argv: Argv, out: &mut Reply) -> Outcome {
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
            reject_command(srv, k, None, out, &unknown_command_error(&argv));
            return Outcome::Done;
        }
        Lookup::UnknownSub => {
            let msg = format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                super::trunc(&argv[1], 128),
                String::from_utf8_lossy(&argv[0]).to_ascii_uppercase()
            );
            reject_command(srv, k, None, out, &msg);
            return Outcome::Done;
        }
    };
    let cmd = &srv.commands.cmds[id];
    if !cmd.arity_ok(argv.len()) || cmd.handler.is_none() {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.fullname
        );
        reject_command(srv, k, Some(id), out, &msg);
        return Outcome::Done;
    }
    let mut cmd_flags = cmd.flags;
    // A script with a shebang is checked with the flags it declares (`evalGetCommandFlags`).
    if cmd_flags & flags::NOSCRIPT != 0 && is_script_call(&cmd.fullname) {
        cmd_flags = crate::script::command_flags(srv, &argv, cmd_flags);
    }
    let has = |f: u64| cmd_flags & f != 0;
    let in_multi = srv.clients[k].flags & cf::MULTI != 0;
    // Protected commands (DEBUG; MODULE has no handler) per `enable-debug-command` (the
    // metadata does not carry Redis's CMD_PROTECTED: DEBUG is found by name, admin first).
    if has(flags::ADMIN) && cmd_name(srv, id) == "debug" {
        let allowed = match srv.config.get("enable-debug-command").unwrap_or("no") {
            "yes" => true,
            "local" => srv.clients[k].is_local(),
            _ => false,
        };
        if !allowed {
            reject_command(srv, k, Some(id), out, "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
            return Outcome::Done;
        }
    }
    // EXEC is checked with the flags of the commands it would run (Redis's
    // `mstate.cmd_flags` terms of `is_write_command`, `is_denyoom_command`, ...; outside
    // MULTI nothing is queued).
    let queued_flags = if in_multi && cmd.fullname == "exec" {
        srv.clients[k].multi.cmd_flags
    } else {
        0
    };
    if srv.auth_required(k) && !has(flags::NO_AUTH) {
        reject_command(srv, k, Some(id), out, "NOAUTH Authentication required.");
        return Outcome::Done;
    }
    if in_multi && has(flags::NO_MULTI) {
        reject_command(
            srv,
            k,
            Some(id),
            out,
            "ERR Command not allowed inside a transaction",
        );
        return Outcome::Done;
    }
    // The ACL check (`ACLCheckAllPerm`), after the auth and MULTI checks as in Redis.
    let ctx = if in_multi { "multi" } else { "toplevel" };
    if let Err(msg) = crate::acl::check_command(srv, k, k, id, &argv, ctx) {
        reject_command(srv, k, Some(id), out, &format!("NOPERM {msg}"));
        return Outcome::Done;
    }
    // Clients over `maxmemory-clients` go first, this one possibly (Redis's `evictClients`
    // before key eviction).
    if srv.settings.maxmemory_clients != 0 && crate::net::evict_clients(srv, Some(k)) {
        return Outcome::Done;
    }
    // maxmemory: evict first (`performEvictions`); if memory stays over the limit, commands
    // that may grow memory are refused, EXEC when one of its commands may. (Redis 7.4.1
    // queues the other commands of a MULTI even then.)
    // Not while a busy script runs (Redis's `isInsideYieldingLongCommand`): only the
    // allow-busy commands run then, and the script's own state must not change under it.
    if srv.settings.maxmemory > 0 && srv.scripting.busy.is_none() {
        let running = Some(Running {
            cid: k,
            resp: out.resp,
        });
        let oom = crate::evict::perform_evictions(srv, running) == crate::evict::Outcome::Fail;
        srv.evict.oom = oom;
        srv.ks.grow_headroom = crate::evict::headroom(srv);
        if srv.call_depth == 0 && !srv.deferred_pushes.is_empty() {
            // This client's own `evicted` messages precede its command's reply.
            out.buf.append(&mut srv.deferred_pushes);
        }
        if oom && (has(flags::DENYOOM) || queued_flags & flags::DENYOOM != 0) {
            reject_command(srv, k, Some(id), out, crate::evict::OOM_ERROR);
            return Outcome::Done;
        }
    }
    // A failed background save with `stop-writes-on-bgsave-error`: writes (and PING, as
    // Redis's `writeCommandsDeniedByDiskError` check) are refused until a save succeeds.
    if has(flags::WRITE) || queued_flags & flags::WRITE != 0 || cmd_name(srv, id) == "ping" {
        // The AOF's write errors refuse writes the same way (`DISK_ERROR_TYPE_AOF`).
        let refusal = if crate::persist::writes_refused(srv) {
            Some(crate::persist::MISCONF.to_string())
        } else {
            crate::aof::write_error(srv)
        };
        if let Some(msg) = refusal {
            reject_command(srv, k, Some(id), out, &msg);
            return Outcome::Done;
        }
    }
    // A RESP2 connection with subscriptions is in subscribed mode: only the pub/sub commands,
    // PING, QUIT and RESET (RESP3 has no such limit).
    if out.resp == 2
        && srv.clients[k].subs.any()
        && !ALLOWED_SUBSCRIBED.contains(&cmd_name(srv, id))
    {
        let msg = format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", srv.commands.cmds[id].fullname);
        reject_command(srv, k, Some(id), out, &msg);
        return Outcome::Done;
    }
    // A script running past `busy-reply-threshold`: only the commands flagged `allow-busy`
    // (SCRIPT KILL, FUNCTION KILL/STATS, SHUTDOWN, MULTI/DISCARD/WATCH...), as Redis.
    if let Some(is_eval) = srv.scripting.busy {
        if !has(flags::ALLOW_BUSY) {
            let msg = if is_eval {
                crate::script::BUSY_EVAL
            } else {
                crate::script::BUSY_FUNCTION
            };
            reject_command(srv, k, Some(id), out, msg);
            return Outcome::Done;
        }
    }
    // A monitor is a replica to Redis (CLIENT_SLAVE|CLIENT_MONITOR): it may not touch the
    // keyspace, and it is never paused.
    let monitor = srv.clients[k].flags & cf::MONITOR != 0;
    if monitor
        && (cmd_flags | queued_flags) & (flags::WRITE | flags::READONLY | flags::MAY_REPLICATE) != 0
    {
        reject_command(
            srv,
            k,
            Some(id),
            out,
            "ERR Replica can't interact with the keyspace",
        );
        return Outcome::Done;
    }
    // Every command waits out a PAUSE ALL, CLIENT UNPAUSE included (as Redis 7.4: only the
    // timeout, or an UNPAUSE sent during a WRITE pause, ends it); a WRITE pause holds the
    // commands that may write or replicate (an EXEC: if one of its commands may).
    if let Some(write_only) = srv.paused().filter(|_| !monitor) {
        if !write_only || (cmd_flags | queued_flags) & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
            return Outcome::Postponed;
        }
    }
    if in_multi && !crate::multi::runs_inside_multi(cmd_name(srv, id)) {
        crate::multi::queue(srv, k, id, argv);
        out.raw(b"+QUEUED\r\n");
        srv.clients[k].last_interaction_ms = srv.now_ms;
        return Outcome::Done;
    }
    call(srv, k, id, argv, out, 0);
    Outcome::Done
}

/// EVAL, EVALSHA, FCALL and their _RO forms: commands whose checks depend on the
/// script's declared flags.
#[inline]
fn is_script_call(fullname: &str) -> bool {
    matches!(
        fullname,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// The full name of command `id` (`get`, `config|get`).
#[inline]
fn cmd_name(srv: &Server, id: usize) -> &str {
    &srv.commands.cmds[id].fullname
}

/// Rejects a command before it runs (Redis `rejectCommand`): counts it rejected (errorstats
/// too), flags the transaction of a client in MULTI, and turns the rejection of EXEC into
/// the transaction's abort (`-EXECABORT Transaction discarded because of: <reason>`).
fn reject_command(srv: &mut Server, k: usize, id: Option<usize>, out: &mut Reply, msg: &str) {
    crate::multi::flag_transaction(srv, k);
    match id {
        Some(id) if srv.commands.cmds[id].fullname == "exec" => {
            srv.commands.cmds[id].stats.rejected_calls += 1;
            crate::multi::exec_abort(srv, k, out, msg);
        }
        _ => reject(srv, id, out, msg),
    }
    srv.count_errors(&mut out.errors);
}

/// Commands a RESP2 client in subscribed mode may run.
const ALLOWED_SUBSCRIBED: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Executes command `id` for client `k` and does all the bookkeeping around it (Redis
/// `call()`). It nests: EXEC, scripts, the AOF loader and the master link run their commands
/// through it with `ctx_flags` (`ctx::IN_MULTI`, `ctx::IN_SCRIPT`, `ctx::DENY_BLOCKING`)
/// saying where. Inside a nested call time stays frozen at the top-level command's start,
/// propagation accumulates and is flushed once at depth 0 (several commands wrapped in
/// MULTI/EXEC), and the work that must follow a whole unit (ready keys, tracking) runs only
/// then.
pub fn call(srv: &mut Server, k: usize, id: usize, argv: Argv, out: &mut Reply, ctx_flags: u32) {
    let handler = srv.commands.cmds[id].handler.expect("checked");
    let errors_before = out.errors.len();
    let dirty_before = srv.dirty;
    srv.call_depth += 1;
    let top = srv.call_depth == 1;
    let start = if top {
        // Within a batch of pipelined commands the previous command's end is this one's start.
        let t = srv.batch_clock.take().unwrap_or_else(Instant::now);
        srv.set_time(t);
        t
    } else {
        Instant::now()
    };
    let db = srv.clients[k].db;
    if top {
        crate::tracking::begin(srv, k, id, out);
    }
    // Monitors see a script before the commands it runs (Redis feeds EVAL and FCALL, flagged
    // `skip_monitor`, as they start); every other command after it ran.
    let feed_monitors = !srv.monitors.is_empty()
        && !srv.loading
        && !matches!(srv.clients[k].resume, Resume::Run { .. });
    let cmd_flags = srv.commands.cmds[id].flags;
    if feed_monitors && cmd_flags & flags::SKIP_MONITOR != 0 && is_script_call(cmd_name(srv, id)) {
        let args: Vec<&[u8]> = argv.iter().collect();
        let running = Running {
            cid: k,
            resp: out.resp,
        };
        crate::monitor::feed(srv, k, db, &args, 0, running);
    }
    let mut ctx = Ctx {
        srv,
        out,
        argv,
        cid: k,
        db,
        cmd: id,
        flags: ctx_flags,
        propagate_as: None,
        no_propagate: false,
        force_propagate: false,
        block: None,
        redacted: 0,
    };
    handler(&mut ctx);
    let Ctx {
        srv,
        out,
        db,
        propagate_as,
        no_propagate,
        force_propagate,
        block,
        redacted,
        ..
    } = ctx;
    if feed_monitors && cmd_flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 {
        let args: Vec<&[u8]> = argv.iter().collect();
        let running = Running {
            cid: k,
            resp: out.resp,
        };
        crate::monitor::feed(srv, k, db, &args, redacted, running);
    }
    let end = Instant::now();
    if top {
        srv.batch_clock = Some(end);
    }
    let mut dur = end.saturating_duration_since(start).as_micros() as u64;
    if top {
        srv.stats.eventloop_duration_cmd_sum_us += dur;
    }
    // The latency monitor's `command` / `fast-command` events (this run's time, as Redis's
    // call(); not while loading the AOF).
    if srv.settings.latency_monitor_threshold_ms > 0 && !srv.loading {
        let event = if srv.commands.cmds[id].flags & flags::FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        crate::latency::add_sample_if_needed(srv, event, dur / 1000);
    }
    if let Some(req) = block {
        // Not executed yet: counted (with this run's time) when it completes or times out.
        srv.clients[k].blocked_us += dur;
        // What the run that blocked changed and explicitly propagates still goes out (Redis
        // flushes `also_propagate` whether or not the command blocked): XREADGROUP NOACK's
        // `XGROUP CREATECONSUMER` for a consumer it created before blocking.
        if let Some(list) = propagate_as {
            if srv.dirty > dirty_before
                && !no_propagate
                && ctx_flags & crate::command::ctx::NO_PROPAGATE == 0
                && srv.propagator.consumers > 0
            {
                for a in list {
                    srv.propagator.push(db, a);
                }
            }
        }
        crate::blocking::block(srv, k, req);
        finish_call(
            srv,
            k,
            out,
            top,
            db,
            Running {
                cid: k,
                resp: out.resp,
            },
        );
        return;
    }
    dur += std::mem::take(&mut srv.clients[k].blocked_us);

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

    slowlog_push(srv, k, id, argv, dur, redacted);

    // What the keyspace recorded (events, expired keys' DELs, lazy frees) goes out before
    // the command's own propagation, as Redis orders them.
    let running = Running {
        cid: k,
        resp: out.resp,
    };
    if srv.ks.signals.pending {
        srv.dispatch_signals(Some(running));
    }
    // Client-side caching remembers the keys a read-only command read.
    crate::tracking::after_call(srv, id, &argv);
    // Building the propagated argv costs a copy: skip it while nothing consumes the stream.
    if (srv.dirty > dirty_before || force_propagate)
        && !no_propagate
        && ctx_flags & crate::command::ctx::NO_PROPAGATE == 0
        && srv.propagator.consumers > 0
    {
        match propagate_as {
            Some(list) => {
                for a in list {
                    srv.propagator.push(db, a);
                }
            }
            None => srv.propagator.push(db, argv.to_owned()),
        }
    }
    finish_call(srv, k, out, top, db, running);
}

/// The end of every `call()`, executed or blocked: leave the nesting level; at depth 0 flush
/// the unit's propagation, append the client's own messages after its reply, serve the
/// clients blocked on keys this unit made ready (after the whole unit — a MULTI/EXEC, a
/// script — never in its middle; the client's own tracking invalidations too), check the
/// client's output limit.
fn finish_call(
    srv: &mut Server,
    k: usize,
    out: &mut Reply,
    top: bool,
    db: usize,
    running: Running,
) {
    if srv.ks.signals.pending {
        srv.dispatch_signals(Some(running));
    }
    srv.call_depth -= 1;
    if top {
        srv.propagator.flush();
        // Its own tracking invalidations follow the reply, before its other messages.
        crate::tracking::end(srv, k, out);
        // Messages for this client produced by its own command follow the reply.
        if !srv.deferred_pushes.is_empty() {
            out.buf.append(&mut srv.deferred_pushes);
        }
        crate::blocking::handle_ready_keys(srv);
    }

    let c = &mut srv.clients[k];
    c.db = db;
    c.commands_processed += 1;
    c.last_interaction_ms = srv.now_ms;
    if top {
        let pending = out.buf.len();
        crate::net::check_output_limit(srv, k, pending);
    }
}

/// Counts a blocked command that ends without running again (timed out, or CLIENT UNBLOCK
/// ERROR): one call with the time of its runs, in commandstats, the slowlog and
/// total_commands_processed (Redis `updateStatsOnUnblock`).
fn count_unblocked(srv: &mut Server, k: usize, argv: Argv, failed: bool) {
    let dur = std::mem::take(&mut srv.clients[k].blocked_us);
    let Some(id) = srv.clients[k].last_cmd else {
        return;
    };
    let st = &mut srv.commands.cmds[id].stats;
    st.calls += 1;
    st.usec += dur;
    if failed {
        st.failed_calls += 1;
    }
    if srv.settings.latency_tracking {
        st.record_latency(dur);
    }
    srv.stats.total_commands_processed += 1;
    slowlog_push(srv, k, id, argv, dur, 0);
    let c = &mut srv.clients[k];
    c.commands_processed += 1;
    c.last_interaction_ms = srv.now_ms;
}

/// Logs the command in the slowlog if it took long enough.
/// `redacted` marks the arguments logged as `(redacted)` ([`Ctx::redact_arg`]).
fn slowlog_push(srv: &mut Server, k: usize, id: usize, argv: Argv, dur: u64, redacted: u64) {
    let cmd_flags = srv.commands.cmds[id].flags;
    let (thr, max) = (
        srv.settings.slowlog_log_slower_than_us,
        srv.settings.slowlog_max_len,
    );
    if cmd_flags & flags::SKIP_SLOWLOG == 0 && thr >= 0 && dur as i64 >= thr {
        let c = &srv.clients[k];
        let name = c.name.clone().unwrap_or_default();
        let peer = c.addr.clone();
        srv.slowlog.maybe_push(
            thr,
            max,
            dur,
            srv.now_ms / 1000,
            &argv,
            redacted,
            &peer,
            &name,
        );
    }
}

impl<'a> Ctx<'a> {
    /// Shows argument `j` as `(redacted)` in MONITOR and the slowlog (Redis
    /// `redactClientCommandArgument`): passwords of AUTH, HELLO, CONFIG SET, ACL SETUSER.
    pub fn redact_arg(&mut self, j: usize) {
        self.redacted |= 1u64 << j.min(63);
    }

    /// LRU/LFU update mode for lookups of this client.
    #[inline]
    pub fn touch_mode(&self) -> Touch {
        if self.srv.clients[self.cid].flags & cf::NO_TOUCH != 0 && self.command().name != "touch" {
            Touch::No
        } else {
            self.srv.touch_mode()
        }
    }

    /// Looks a key up for reading: counts keyspace hits/misses, touches LRU/LFU, and reports
    /// a miss as a `keymiss` event (Redis `lookupKeyRead`).
    #[inline]
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<KeyRef> {
        let touch = self.touch_mode();
        self.lookup_counted(key, touch)
    }

    /// Looks a key up for reading without touching LRU/LFU, counting hits/misses (Redis
    /// `lookupKeyReadWithFlags(..., LOOKUP_NOTOUCH)`: TYPE, TTL, EXISTS, OBJECT).
    #[inline]
    pub fn lookup_read_notouch(&mut self, key: &[u8]) -> Option<KeyRef> {
        self.lookup_counted(key, Touch::No)
    }

    #[inline]
    pub(crate) fn lookup_counted(&mut self, key: &[u8], touch: Touch) -> Option<KeyRef> {
        let r = self.lookup_in(self.db, key, touch);
        if r.is_some() {
            self.srv.stats.keyspace_hits += 1;
        } else {
            self.srv.stats.keyspace_misses += 1;
            self.srv
                .ks
                .notify(self.db, crate::keyspace::ev::KEYMISS, key);
        }
        r
    }

    /// Looks `key` up for reading (`write` false: hits/misses, `keymiss`) or writing, and
    /// checks it holds a `ty` value: `Ok(None)` when missing, `Err(())` after replying
    /// WRONGTYPE (Redis's `lookupKey*` + `checkType`).
    pub fn lookup_typed(
        &mut self,
        key: &[u8],
        ty: crate::object::ObjType,
        write: bool,
    ) -> Result<Option<KeyRef>, ()> {
        let h = if write {
            self.lookup_write(key)
        } else {
            self.lookup_read(key)
        };
        match h {
            Some(h) if self.srv.ks.get(h).obj_type() != ty => {
                self.out.wrong_type();
                Err(())
            }
            h => Ok(h),
        }
    }

    /// Looks a key up for writing (no hit/miss accounting).
    #[inline]
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<KeyRef> {
        let touch = self.touch_mode();
        self.lookup_in(self.db, key, touch)
    }

    /// Looks a key up without touching anything and without hit/miss accounting (DEL, SCAN
    /// and RANDOMKEY reclaiming expired keys, DEBUG OBJECT).
    #[inline]
    pub fn lookup_notouch(&mut self, key: &[u8]) -> Option<KeyRef> {
        self.lookup_in(self.db, key, Touch::No)
    }

    /// Looks `key` up in db `db` (no hit/miss accounting); an expired key is deleted through
    /// the expiry path unless expiry is paused.
    #[inline]
    pub fn lookup_in(&mut self, db: usize, key: &[u8], touch: Touch) -> Option<KeyRef> {
        // Nothing expires while the AOF is replayed (Redis's `keyIsExpired` under loading).
        let now = if self.srv.loading {
            i64::MIN
        } else {
            self.srv.now_ms
        };
        let may_expire = self.srv.may_expire();
        self.srv.ks.lookup(db, key, now, may_expire, touch)
    }

    /// Counts a modification (drives propagation and `rdb_changes_since_last_save`).
    #[inline]
    pub fn dirty(&mut self, n: u64) {
        self.srv.dirty += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{ctx, OwnedArgv};

    fn server() -> (Server, usize) {
        let mut cfg = crate::config::Config::new();
        cfg.set_from_file("enable-debug-command", &["yes".into()])
            .unwrap();
        let table = crate::command::meta::build(&crate::handlers());
        let mut srv = Server::new(cfg, table);
        let k = srv.create_socketless_client();
        (srv, k)
    }

    fn run(srv: &mut Server, k: usize, args: &[&str], flags: u32) -> Vec<u8> {
        let a = OwnedArgv::from_args(args);
        let id = match srv.commands.lookup(&a.argv()) {
            Lookup::Found(id) => id,
            _ => panic!("no command {args:?}"),
        };
        let mut out = Reply::new();
        call(srv, k, id, a.argv(), &mut out, flags);
        out.buf
    }

    /// Inside EXEC or a script (DENY_BLOCKING), and from a client that never blocks, a
    /// blocking command answers at once as if its timeout had elapsed, and nothing blocks.
    #[test]
    fn blocking_commands_do_not_block_where_blocking_is_denied() {
        let (mut srv, k) = server();
        let deny = ctx::IN_MULTI | ctx::DENY_BLOCKING;
        srv.clients[k].flags &= !cf::DENY_BLOCKING;
        assert_eq!(
            run(&mut srv, k, &["BLPOP", "a", "b", "0"], deny),
            b"*-1\r\n"
        );
        assert_eq!(
            run(&mut srv, k, &["BLMPOP", "0", "1", "a", "LEFT"], deny),
            b"*-1\r\n"
        );
        assert_eq!(
            run(
                &mut srv,
                k,
                &["BLMOVE", "a", "b", "LEFT", "LEFT", "0"],
                deny
            ),
            b"$-1\r\n"
        );
        assert_eq!(
            run(&mut srv, k, &["BRPOPLPUSH", "a", "b", "1"], deny),
            b"$-1\r\n"
        );
        assert_eq!(srv.blocking.blocked_clients(), 0);
        // The socketless client denies blocking by itself.
        srv.clients[k].flags |= cf::DENY_BLOCKING;
        assert_eq!(run(&mut srv, k, &["BRPOP", "a", "0"], 0), b"*-1\r\n");
        assert_eq!(srv.blocking.blocked_clients(), 0);
        // Errors still come first.
        assert_eq!(
            run(&mut srv, k, &["BLPOP", "a", "-1"], deny),
            b"-ERR timeout is negative\r\n"
        );
        // Allowed: the client blocks (no reply), and is registered on both keys.
        srv.clients[k].flags &= !cf::DENY_BLOCKING;
        assert_eq!(run(&mut srv, k, &["BLPOP", "a", "b", "0"], 0), b"");
        assert_eq!(srv.blocking.blocked_clients(), 1);
        assert_eq!(srv.blocking.blocking_keys(), 2);
        crate::blocking::forget(&mut srv, k);
        assert_eq!(srv.blocking.blocking_keys(), 0);
        assert_eq!(srv.ks.signals.want & crate::keyspace::want::READY, 0);
    }

    /// What EXEC and scripts will do: an outer unit runs several commands through `call()`.
    /// Time stays frozen, propagation is held until depth 0 and goes out as one MULTI/EXEC,
    /// the keyspace's signals (an expired key's DEL) join the unit before the command.
    #[test]
    fn nested_calls_freeze_time_and_propagate_one_unit() {
        let (mut srv, k) = server();
        srv.propagator.consumers = 1;
        srv.propagator.stream_consumers = 1;
        srv.update_signal_wants();
        run(&mut srv, k, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"], 0);
        run(&mut srv, k, &["SET", "gone", "v", "PX", "1"], 0);
        srv.propagator.take_stream();
        std::thread::sleep(std::time::Duration::from_millis(5));
        // The outer unit (EXEC) starts: depth 1, its time is now.
        srv.call_depth = 1;
        srv.set_time(Instant::now());
        let t0 = srv.now_ms;
        assert_eq!(
            run(&mut srv, k, &["SET", "a", "1"], ctx::IN_MULTI),
            b"+OK\r\n"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(run(&mut srv, k, &["INCR", "a"], ctx::IN_MULTI), b":2\r\n");
        assert_eq!(
            run(&mut srv, k, &["GET", "gone"], ctx::IN_MULTI),
            b"$-1\r\n"
        );
        assert_eq!(srv.now_ms, t0, "time is frozen inside the unit");
        assert!(
            srv.propagator.take_stream().is_empty(),
            "nothing flushed at depth > 0"
        );
        srv.call_depth = 0;
        srv.propagator.flush();
        let s = String::from_utf8(srv.propagator.take_stream()).unwrap();
        let words: Vec<&str> = s
            .split("\r\n")
            .filter(|w| !w.starts_with(['*', '$']) && !w.is_empty())
            .collect();
        assert_eq!(
            words,
            ["MULTI", "SET", "a", "1", "INCR", "a", "DEL", "gone", "EXEC"]
        );
    }
}
