//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH (Redis 7.4's multi.c, and the MULTI parts
//! of server.c's `processCommand`, which live in `command::call`).
//!
//! - **Queueing.** A client in MULTI ([`flags::MULTI`]) has every command but EXEC DISCARD
//!   MULTI WATCH QUIT RESET queued by `process_command` ([`queue`], `+QUEUED`), after the same
//!   checks as an executed command; each rejection there (unknown command, arity, NOAUTH,
//!   `no-multi`, OOM, MISCONF, subscribed mode) flags the transaction ([`flag_transaction`],
//!   [`flags::DIRTY_EXEC`]) so EXEC answers `-EXECABORT`. Once the transaction is doomed
//!   (DIRTY_CAS or DIRTY_EXEC) nothing more is stored, but `+QUEUED` is still answered.
//!   The queue holds argv copies ([`ClientMulti`]); `cmd_flags` / `cmd_inv_flags` accumulate
//!   the queued commands' flags so EXEC is re-checked by `process_command` as Redis does
//!   (OOM when a queued command is `denyoom`, MISCONF when one writes; a rejected EXEC
//!   answers `-EXECABORT Transaction discarded because of: <reason>` and discards).
//! - **EXEC** ([`exec`]) runs the queue through the nestable `call()` at depth > 0 with
//!   `ctx::IN_MULTI | ctx::DENY_BLOCKING`: time stays frozen at EXEC's start, blocking
//!   commands answer at once, runtime errors do not roll anything back, the writes are
//!   propagated as one unit (MULTI ... EXEC when more than one; EXEC itself never is), and
//!   clients blocked on keys the transaction made ready are served after the whole EXEC.
//! - **WATCH.** [`Watched`] is Redis's per-db `watched_keys` dict: (db, key) → the clients
//!   watching it, in WATCH order, each with the `expired` bit Redis 7 keeps (the key was
//!   already logically expired when it was watched). Each client keeps its (db, key) list in
//!   [`ClientMulti::watched`]. The keyspace's modified-key signal
//!   ([`crate::keyspace::Signals::modified`], recorded only while [`Watched`] is non-empty:
//!   `Server::update_signal_wants` turns `want::MODIFIED` on) reaches
//!   [`touch_watched_key`] when `Server::dispatch_signals` drains it, right after the handler
//!   that mutated (writes, lazy and active expiry, RENAME, MOVE, COPY, RESTORE, field expiry
//!   deleting a hash...): the watchers get [`flags::DIRTY_CAS`] and are unwatched. FLUSHDB,
//!   FLUSHALL, SWAPDB and DEBUG RELOAD call [`touch_all_watched_keys_in_db`] *before* the
//!   keyspace changes, as Redis does (its rules look at which watched keys exist in the
//!   emptied db and, for SWAPDB, in the db replacing it). At EXEC, [`is_watched_key_expired`]
//!   aborts when a key that was live at WATCH time has logically expired since.
//!
//! Invariant: a client's watch entries are removed before its slab slot is freed
//! ([`free_client`], called by the event loop and the harness), so a watcher's slab key
//! always names the client that watched.

use crate::client::flags;
use crate::command::{ctx, Ctx, Handler, OwnedArgv};
use crate::keyspace::Keyspace;
use crate::server::Server;
use std::collections::HashMap;

/// The MULTI state and watched keys of one client (Redis `multiState` + `watched_keys`).
#[derive(Default, Debug)]
pub struct ClientMulti {
    /// Queued commands: (command id, argv copy), in order.
    pub commands: Vec<(usize, OwnedArgv)>,
    /// Number of queued commands as CLIENT LIST's `multi=` shows it (kept while EXEC runs
    /// them, as Redis's `mstate.count`).
    pub count: usize,
    /// OR of the queued commands' `command::flags` (Redis `mstate.cmd_flags`).
    pub cmd_flags: u64,
    /// OR of the complements of the queued commands' flags (Redis `mstate.cmd_inv_flags`).
    pub cmd_inv_flags: u64,
    /// Bytes of the queued argvs: argument lengths plus 8 per argument (Redis
    /// `mstate.argv_len_sums`, CLIENT LIST `multi-mem=`).
    pub argv_len_sums: usize,
    /// The keys this client watches, (db, key) in WATCH order.
    pub watched: Vec<(usize, Vec<u8>)>,
}

impl ClientMulti {
    /// Bytes of the MULTI state (Redis `multiStateMemOverhead`): the queued arguments, the
    /// queue's slots, the watched keys' entries and names.
    pub fn memory(&self) -> usize {
        self.argv_len_sums
            + self.commands.capacity() * std::mem::size_of::<(usize, OwnedArgv)>()
            + self
                .watched
                .iter()
                .map(|(_, k)| std::mem::size_of::<(usize, Vec<u8>)>() + k.capacity())
                .sum::<usize>()
    }
}

/// One client watching a key.
#[derive(Clone, Copy, Debug)]
struct Watcher {
    /// Slab key of the client.
    cid: usize,
    /// The key was logically expired when WATCH was called (Redis `watchedKey.expired`):
    /// its deletion by expiry is then no change.
    expired: bool,
}

/// Every watched key: per db, key → its watchers in WATCH order (Redis `db->watched_keys`),
/// plus the number of clients watching anything (INFO `watching_clients`).
#[derive(Default)]
pub struct Watched {
    dbs: Vec<HashMap<Vec<u8>, Vec<Watcher>>>,
    /// Watched (db, key) pairs (INFO `total_watched_keys`).
    keys: usize,
    /// Clients with at least one watched key (INFO `watching_clients`).
    clients: usize,
}

impl Watched {
    /// True if no key is watched (then the keyspace need not record modified keys).
    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// Number of distinct watched (db, key) pairs (INFO `total_watched_keys`).
    pub fn total_keys(&self) -> usize {
        self.keys
    }

    /// Number of clients watching keys (INFO `watching_clients`).
    pub fn watching_clients(&self) -> usize {
        self.clients
    }
}

/// The commands of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("multi", multi),
    ("exec", exec),
    ("discard", discard),
    ("watch", watch),
    ("unwatch", unwatch),
];

/// True if client `k` is inside MULTI.
#[inline]
pub fn in_multi(srv: &Server, k: usize) -> bool {
    srv.clients[k].flags & flags::MULTI != 0
}

/// True for the commands a client in MULTI executes instead of queueing (Redis's list in
/// `processCommand`).
pub fn runs_inside_multi(fullname: &str) -> bool {
    matches!(
        fullname,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Marks the transaction of client `k`, if it is in MULTI, as failed (Redis
/// `flagTransaction`): called for every command rejected while queueing.
#[inline]
pub fn flag_transaction(srv: &mut Server, k: usize) {
    let c = &mut srv.clients[k];
    if c.flags & flags::MULTI != 0 {
        c.flags |= flags::DIRTY_EXEC;
    }
}

/// Queues command `id` with `argv` for client `k` (Redis `queueMultiCommand`); the caller
/// replies `+QUEUED`. A doomed transaction stores nothing more.
pub fn queue(srv: &mut Server, k: usize, id: usize, argv: crate::command::Argv) {
    let cmd_flags = srv.commands.cmds[id].flags;
    let c = &mut srv.clients[k];
    if c.flags & (flags::DIRTY_CAS | flags::DIRTY_EXEC) != 0 {
        return;
    }
    let m = &mut c.multi;
    let owned = argv.to_owned();
    m.argv_len_sums += argv.iter().map(|a| a.len()).sum::<usize>() + 8 * argv.len();
    m.commands.push((id, owned));
    m.count += 1;
    m.cmd_flags |= cmd_flags;
    m.cmd_inv_flags |= !cmd_flags;
}

/// Ends the transaction of client `k` without running it (Redis `discardTransaction`):
/// the queue is freed, MULTI / DIRTY_CAS / DIRTY_EXEC cleared, every key unwatched.
pub fn discard_transaction(srv: &mut Server, k: usize) {
    let c = &mut srv.clients[k];
    let m = &mut c.multi;
    m.commands.clear();
    if m.commands.capacity() > 64 {
        m.commands = Vec::new();
    }
    m.count = 0;
    m.cmd_flags = 0;
    m.cmd_inv_flags = 0;
    m.argv_len_sums = 0;
    c.flags &= !(flags::MULTI | flags::DIRTY_CAS | flags::DIRTY_EXEC);
    unwatch_all_keys(srv, k);
}

/// Releases what client `k` holds here before it is freed (Redis `freeClient`: unwatch,
/// free the queue).
pub fn free_client(srv: &mut Server, k: usize) {
    if srv.clients.contains(k) {
        discard_transaction(srv, k);
    }
}

/// The `-EXECABORT` reply of an EXEC rejected by `process_command` (Redis
/// `execCommandAbort`): `reason` is the rejection's error text, shown without a leading
/// `ERR ` (Redis formats those reasons without it).
pub fn exec_abort(srv: &mut Server, k: usize, out: &mut crate::reply::Reply, reason: &str) {
    discard_transaction(srv, k);
    let reason = reason.strip_prefix("ERR ").unwrap_or(reason);
    out.error(&format!(
        "EXECABORT Transaction discarded because of: {reason}"
    ));
}

fn multi(c: &mut Ctx) {
    let cl = &mut c.srv.clients[c.cid];
    if cl.flags & flags::MULTI != 0 {
        return c.out.error("ERR MULTI calls can not be nested");
    }
    cl.flags |= flags::MULTI;
    c.out.ok();
}

fn discard(c: &mut Ctx) {
    if !in_multi(c.srv, c.cid) {
        return c.out.error("ERR DISCARD without MULTI");
    }
    discard_transaction(c.srv, c.cid);
    c.out.ok();
}

/// EXEC (Redis `execCommand`): aborts on a watched key touched or expired (null array) or
/// a queue-time error (EXECABORT); otherwise runs every queued command through `call()`.
fn exec(c: &mut Ctx) {
    // EXEC is never propagated itself: its commands are, as one unit.
    c.no_propagate = true;
    let k = c.cid;
    if !in_multi(c.srv, k) {
        return c.out.error("ERR EXEC without MULTI");
    }
    if is_watched_key_expired(c.srv, k) {
        c.srv.clients[k].flags |= flags::DIRTY_CAS;
    }
    let f = c.srv.clients[k].flags;
    if f & (flags::DIRTY_CAS | flags::DIRTY_EXEC) != 0 {
        if f & flags::DIRTY_EXEC != 0 {
            c.out
                .error("EXECABORT Transaction discarded because of previous errors.");
        } else {
            c.out.null_array();
        }
        discard_transaction(c.srv, k);
        return;
    }
    // Unwatch at once: the transaction's own writes must not touch this client's keys.
    unwatch_all_keys(c.srv, k);
    let mut cmds = std::mem::take(&mut c.srv.clients[k].multi.commands);
    c.out.array(cmds.len());
    for (id, argv) in &cmds {
        if let Some(e) = crate::acl::exec_check(c.srv, k, *id, &argv.argv()) {
            c.out.error(&e);
            continue;
        }
        crate::command::call::call(
            c.srv,
            k,
            *id,
            argv.argv(),
            c.out,
            ctx::IN_MULTI | ctx::DENY_BLOCKING,
        );
    }
    // A SELECT inside the transaction stays in force after it.
    c.db = c.srv.clients[k].db;
    cmds.clear();
    c.srv.clients[k].multi.commands = cmds;
    discard_transaction(c.srv, k);
}

fn watch(c: &mut Ctx) {
    let f = c.srv.clients[c.cid].flags;
    if f & flags::MULTI != 0 {
        return c.out.error("ERR WATCH inside MULTI is not allowed");
    }
    // Watching is pointless once the transaction is doomed.
    if f & flags::DIRTY_CAS == 0 {
        for i in 1..c.argc() {
            watch_for_key(c.srv, c.cid, c.db, c.arg(i));
        }
    }
    c.out.ok();
}

fn unwatch(c: &mut Ctx) {
    unwatch_all_keys(c.srv, c.cid);
    c.srv.clients[c.cid].flags &= !flags::DIRTY_CAS;
    c.out.ok();
}

/// True if `key` of `db` is present but logically expired at `now_ms` (Redis `keyIsExpired`,
/// with the keyspace lookup's own rule: expired when the time is `<= now`).
fn key_is_expired(ks: &Keyspace, db: usize, key: &[u8], now_ms: i64) -> bool {
    ks.peek(db, key)
        .and_then(|e| e.expire())
        .is_some_and(|when| when <= now_ms)
}

/// Adds `key` of `db` to client `k`'s watched keys (Redis `watchForKey`).
fn watch_for_key(srv: &mut Server, k: usize, db: usize, key: &[u8]) {
    let c = &mut srv.clients[k];
    if c.multi.watched.is_empty() {
        srv.watched.clients += 1;
    }
    if c.multi
        .watched
        .iter()
        .any(|(d, w)| *d == db && w.as_slice() == key)
    {
        return;
    }
    c.multi.watched.push((db, key.to_vec()));
    let expired = key_is_expired(&srv.ks, db, key, srv.now_ms);
    let w = &mut srv.watched;
    if w.dbs.len() <= db {
        w.dbs.resize_with(db + 1, HashMap::new);
    }
    let was_empty = w.keys == 0;
    let list = w.dbs[db].entry(key.to_vec()).or_insert_with(|| {
        w.keys += 1;
        Vec::new()
    });
    list.push(Watcher { cid: k, expired });
    if was_empty {
        srv.update_signal_wants();
    }
}

/// Removes every watched key of client `k` (Redis `unwatchAllKeys`); DIRTY_CAS is the
/// caller's to clear.
pub fn unwatch_all_keys(srv: &mut Server, k: usize) {
    let list = std::mem::take(&mut srv.clients[k].multi.watched);
    if list.is_empty() {
        return;
    }
    let w = &mut srv.watched;
    for (db, key) in list {
        let Some(m) = w.dbs.get_mut(db) else { continue };
        if let Some(v) = m.get_mut(key.as_slice()) {
            v.retain(|x| x.cid != k);
            if v.is_empty() {
                m.remove(key.as_slice());
                w.keys -= 1;
            }
        }
    }
    w.clients = w.clients.saturating_sub(1);
    if w.keys == 0 {
        srv.update_signal_wants();
    }
}

/// True if one of client `k`'s watched keys, live when watched, has logically expired since
/// (Redis `isWatchedKeyExpired`, checked by EXEC).
pub fn is_watched_key_expired(srv: &Server, k: usize) -> bool {
    let c = &srv.clients[k];
    c.multi.watched.iter().any(|(db, key)| {
        let was_expired = srv
            .watched
            .dbs
            .get(*db)
            .and_then(|m| m.get(key.as_slice()))
            .and_then(|v| v.iter().find(|w| w.cid == k))
            .is_some_and(|w| w.expired);
        !was_expired && key_is_expired(&srv.ks, *db, key, srv.now_ms)
    })
}

/// A modification of `key` in `db` (Redis `touchWatchedKey`, fed by the keyspace's
/// modified-key signal): every client watching it gets DIRTY_CAS and is unwatched.
/// `exists` says whether the key was in the db right after the modification: a watcher that
/// watched the key already expired sees its deletion as no change (its `expired` bit is
/// cleared), and — as Redis 7.4's loop does with `break` — any other change of such a key
/// ends the walk over the key's watchers.
pub fn touch_watched_key(srv: &mut Server, db: usize, key: &[u8], exists: bool) {
    let Some(list) = srv.watched.dbs.get_mut(db).and_then(|m| m.get_mut(key)) else {
        return;
    };
    let mut dirty = Vec::new();
    for w in list.iter_mut() {
        if w.expired {
            if !exists {
                w.expired = false;
                continue;
            }
            break;
        }
        dirty.push(w.cid);
    }
    for cid in dirty {
        if let Some(c) = srv.clients.get_mut(cid) {
            c.flags |= flags::DIRTY_CAS;
            // Dirty already: no need to watch (and pay for) anything more.
            unwatch_all_keys(srv, cid);
        }
    }
}

/// Db `emptied` is about to be flushed (FLUSHDB, FLUSHALL, DEBUG RELOAD; `replaced_with`
/// None) or swapped with db `replaced_with` (SWAPDB): marks DIRTY_CAS the clients watching a
/// key of `emptied` that exists in it or in `replaced_with` (Redis 7.4
/// `touchAllWatchedKeysInDb`, with its rules for keys that were already expired when
/// watched, or that the swap replaces with an expired key). Call before the keyspace
/// changes: it looks at the keys still there.
pub fn touch_all_watched_keys_in_db(
    srv: &mut Server,
    emptied: usize,
    replaced_with: Option<usize>,
) {
    let now = srv.now_ms;
    let ks = &srv.ks;
    let Some(m) = srv.watched.dbs.get_mut(emptied) else {
        return;
    };
    let mut dirty = Vec::new();
    for (key, list) in m.iter_mut() {
        let in_emptied = ks.peek(emptied, key).is_some();
        let in_replaced = replaced_with.is_some_and(|r| ks.peek(r, key).is_some());
        if !in_emptied && !in_replaced {
            continue;
        }
        for w in list.iter_mut() {
            if w.expired {
                if !in_replaced {
                    // The expired key is deleted: logically no change.
                    w.expired = false;
                    continue;
                } else if replaced_with.is_some_and(|r| key_is_expired(ks, r, key, now)) {
                    // Replaced by a key that is expired too.
                    continue;
                }
            } else if !in_emptied && replaced_with.is_some_and(|r| key_is_expired(ks, r, key, now))
            {
                // A missing key replaced by an expired one.
                w.expired = true;
                continue;
            }
            dirty.push(w.cid);
        }
    }
    for cid in dirty {
        if let Some(c) = srv.clients.get_mut(cid) {
            c.flags |= flags::DIRTY_CAS;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::harness::Harness;

    fn h() -> Harness {
        Harness::new(&[]).expect("harness")
    }

    fn run(h: &mut Harness, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        String::from_utf8_lossy(&h.run(&a)).into_owned()
    }

    /// Queueing, EXEC's array of replies, runtime errors without rollback, EXECABORT after a
    /// queue-time error, and the error replies of misplaced commands.
    #[test]
    fn queue_exec_discard_and_errors() {
        let mut h = h();
        assert_eq!(run(&mut h, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
        assert_eq!(run(&mut h, &["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
        assert_eq!(run(&mut h, &["MULTI"]), "+OK\r\n");
        assert_eq!(
            run(&mut h, &["MULTI"]),
            "-ERR MULTI calls can not be nested\r\n"
        );
        assert_eq!(
            run(&mut h, &["WATCH", "k"]),
            "-ERR WATCH inside MULTI is not allowed\r\n"
        );
        assert_eq!(run(&mut h, &["SET", "k", "v"]), "+QUEUED\r\n");
        assert_eq!(run(&mut h, &["INCR", "k"]), "+QUEUED\r\n");
        assert_eq!(run(&mut h, &["GET", "k"]), "+QUEUED\r\n");
        assert_eq!(
            run(&mut h, &["EXEC"]),
            "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nv\r\n"
        );
        run(&mut h, &["MULTI"]);
        assert_eq!(run(&mut h, &["SET", "k", "w"]), "+QUEUED\r\n");
        assert_eq!(
            run(&mut h, &["GET"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            run(&mut h, &["SAVE"]),
            "-ERR Command not allowed inside a transaction\r\n"
        );
        assert_eq!(
            run(&mut h, &["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        assert_eq!(run(&mut h, &["GET", "k"]), "$1\r\nv\r\n");
        run(&mut h, &["MULTI"]);
        run(&mut h, &["SET", "k", "x"]);
        assert_eq!(run(&mut h, &["DISCARD"]), "+OK\r\n");
        assert_eq!(run(&mut h, &["GET", "k"]), "$1\r\nv\r\n");
        assert_eq!(
            run(&mut h, &["EXEC", "x"]),
            "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
        );
    }

    /// The command fuzz harness with transactions in the mix: random inputs in the fuzz
    /// target's encoding where every few commands is MULTI, EXEC, DISCARD, WATCH or UNWATCH
    /// spelled out, so queues fill with random commands and run inside EXEC. Nothing may
    /// panic and every reply must be well formed (`fuzz_one` checks).
    #[test]
    fn fuzz_inputs_with_transactions_never_panic() {
        crate::harness::quiet_logs();
        let mut h = Harness::for_fuzzing();
        let mut rng = fastrand::Rng::with_seed(0x006d_756c_7469);
        let tx: [&[u8]; 6] = [
            b"MULTI", b"EXEC", b"DISCARD", b"WATCH", b"UNWATCH", b"multi",
        ];
        for _ in 0..1500 {
            let mut input = Vec::new();
            for _ in 0..rng.usize(1..12) {
                if rng.u8(..) < 90 {
                    let name = tx[rng.usize(..tx.len())];
                    input.extend_from_slice(&[0xff, name.len() as u8]);
                    input.extend_from_slice(name);
                    // An argument count by arity, then tokens (keys among the first ones).
                    input.push(rng.u8(..0xe0));
                    for _ in 0..3 {
                        input.push(rng.u8(..0x20));
                    }
                } else {
                    for _ in 0..rng.usize(2..14) {
                        input.push(rng.u8(..0xfe));
                    }
                }
            }
            crate::harness::fuzz_one(&mut h, &input);
        }
    }
}
