//! The blocking core (Redis `blocked.c`): clients that wait for keys (BLPOP BRPOP BLMOVE
//! BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP XREAD/XREADGROUP BLOCK), for replicas
//! (WAIT, with replication) or for a CLIENT PAUSE to end (Redis's `BLOCKED_POSTPONE`).
//!
//! ## Model
//! A handler that cannot be served calls [`crate::command::Ctx::block_for_keys`] and returns
//! without a reply. `call()` then registers the client here (no stats, no propagation: the
//! command has not happened yet) and `net::process_input` leaves the command in the client's
//! query buffer, parser reset; a blocked client reads no further command. Unblocking
//! re-runs that command from the buffer, as Redis 7 re-executes it
//! (`CLIENT_REPROCESSING_COMMAND`), with a [`Resume`] saying how:
//! - **a key became ready** ([`handle_ready_keys`]): the mutation path signals ready keys
//!   (`Signals::ready`, only while someone waits: `want::READY`); after each top-level
//!   command (a whole EXEC or script: `call()` at depth 0) and before the loop sleeps, every
//!   ready key's waiters are visited first-come first-served; a waiter whose key now holds
//!   its type (or any waiter with `unblock_on_nokey`) is unblocked and its command runs again
//!   at once ([`Resume::Run`]). If it still cannot be served it blocks again at the tail,
//!   keeping its original deadline. Waiters served in turn may make other keys ready
//!   (BLMOVE): the loop runs until the ready list is empty; it never nests.
//! - **its deadline passed** ([`handle_timeouts`], before the loop sleeps; the loop's poll
//!   timeout is the nearest deadline, so timeouts are precise to the ms), or **CLIENT UNBLOCK
//!   id TIMEOUT**: [`Resume::TimedOut`], the kind's timeout reply (a null array) replaces the
//!   command.
//! - **CLIENT UNBLOCK id ERROR**: [`Resume::Error`] with Redis's `-UNBLOCKED` text.
//! - **the pause ended**: postponed clients resume in the order they were postponed.
//! - **the connection closed / CLIENT KILL**: [`forget`] drops every trace.
//!
//! A command is counted once (INFO commandstats, slowlog, total_commands_processed) when it
//! completes or times out, with the execution time of all its runs (Redis's
//! `updateStatsOnUnblock`), never for the run that blocked.
//!
//! Per (db, key) the waiting clients are a FIFO of client ids (slab slots are reused, ids
//! are not), resolved through `by_id`. Deadlines are a `BTreeSet<(deadline_ms, id)>`.

use crate::client::flags;
use crate::keyspace::Touch;
use crate::object::ObjType;
use crate::server::Server;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// What a client waits for (Redis `bstate.btype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A list key (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP).
    List,
    /// A sorted-set key (BZPOPMIN BZPOPMAX BZMPOP).
    Zset,
    /// A stream key (XREAD / XREADGROUP BLOCK).
    Stream,
    /// The end of a CLIENT PAUSE (Redis `BLOCKED_POSTPONE`).
    Postpone,
}

impl BlockKind {
    /// True if a key of type `t` can serve a client blocked for this kind
    /// (`getBlockedTypeByType`).
    fn served_by(self, t: ObjType) -> bool {
        matches!(
            (self, t),
            (BlockKind::List, ObjType::List)
                | (BlockKind::Zset, ObjType::ZSet)
                | (BlockKind::Stream, ObjType::Stream)
        )
    }
}

/// What a handler asks for when it must wait (see [`crate::command::Ctx::block_for_keys`]).
#[derive(Debug, Clone)]
pub struct BlockRequest {
    pub kind: BlockKind,
    /// The keys, in the client's db, in the command's order (duplicates allowed).
    pub keys: Vec<Vec<u8>>,
    /// Absolute unix time in ms at which to time out; 0 waits forever.
    pub deadline_ms: i64,
    /// Wake also when a key is deleted or changes type (XREADGROUP: the group is gone).
    pub unblock_on_nokey: bool,
    /// Arguments the command reads differently when it runs again (argument index, value):
    /// XREAD's `$` becomes the last id it saw, as Redis's `rewriteClientCommandArgument`
    /// before `blockForKeys`. Read back with [`crate::command::Ctx::blocked_arg`].
    pub rewrites: Vec<(usize, Vec<u8>)>,
}

/// The state of a blocked client.
#[derive(Debug)]
pub struct BlockedState {
    pub kind: BlockKind,
    pub db: usize,
    /// Distinct keys waited for.
    pub keys: Vec<Vec<u8>>,
    /// Absolute unix ms, 0 = never.
    pub deadline_ms: i64,
    pub unblock_on_nokey: bool,
    /// See [`BlockRequest::rewrites`].
    pub rewrites: Vec<(usize, Vec<u8>)>,
    /// Bytes of the blocked command at the head of the query buffer (CLIENT LIST's `qbuf`
    /// leaves them out, as Redis has them parsed into argv).
    pub cmd_len: usize,
    /// Sum of the blocked command's argument lengths and its argc (CLIENT LIST `argv-mem`).
    pub argv_mem: usize,
    pub argc: usize,
}

/// How a client's blocked command resumes when its input is processed again.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Resume {
    /// Not resuming: the next command is a new one.
    #[default]
    None,
    /// Run it again (a key is ready, the pause ended); if it blocks again it keeps
    /// `deadline_ms` (0 = none); `rewrites` are the arguments it asked to read differently.
    Run {
        deadline_ms: i64,
        rewrites: Vec<(usize, Vec<u8>)>,
    },
    /// Reply the timeout reply of `kind` instead of running it.
    TimedOut(BlockKind),
    /// Reply this error (with its code) instead of running it.
    Error(String),
}

/// Waiters of one (db, key).
#[derive(Default)]
struct KeyWaiters {
    /// Client ids, first come first.
    clients: VecDeque<u64>,
    /// How many of them also wake when the key is deleted.
    nokey: usize,
}

/// The server's blocked-client registry (one per server).
#[derive(Default)]
pub struct Blocking {
    waiting: HashMap<(usize, Vec<u8>), KeyWaiters>,
    /// (deadline_ms, client id) of blocked clients with a timeout.
    timeouts: BTreeSet<(i64, u64)>,
    /// Slab key of every blocked client (postponed ones included), by id.
    by_id: HashMap<u64, usize>,
    /// Clients postponed by CLIENT PAUSE, in arrival order.
    postponed: VecDeque<u64>,
    /// Keys that may serve waiters, in signal order, deduplicated.
    ready: Vec<(usize, Vec<u8>)>,
    ready_set: HashSet<(usize, Vec<u8>)>,
    /// True while `handle_ready_keys` runs (it never nests).
    serving: bool,
}

impl Blocking {
    /// INFO `blocked_clients`: clients blocked for any reason, postponed ones included.
    pub fn blocked_clients(&self) -> usize {
        self.by_id.len()
    }

    /// INFO `total_blocking_keys`: distinct (db, key) with at least one waiter.
    pub fn blocking_keys(&self) -> usize {
        self.waiting.len()
    }

    /// INFO `total_blocking_keys_on_nokey`: those with a waiter that wakes on deletion.
    pub fn blocking_keys_on_nokey(&self) -> usize {
        self.waiting.values().filter(|w| w.nokey > 0).count()
    }

    /// INFO `clients_in_timeout_table`.
    pub fn clients_in_timeout_table(&self) -> usize {
        self.timeouts.len()
    }

    /// True if some client waits for keys (the keyspace must record ready keys).
    pub fn wants_ready_keys(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Queues `(db, key)` as ready if anyone waits for it (`signalKeyAsReady`).
    pub fn key_ready(&mut self, db: usize, key: Vec<u8>) {
        let k = (db, key);
        if self.waiting.contains_key(&k) && self.ready_set.insert(k.clone()) {
            self.ready.push(k);
        }
    }

    /// Queues every waited-for key of `db` (FLUSHDB/FLUSHALL, SWAPDB: Redis's
    /// `scanDatabaseForReadyKeys` / `scanDatabaseForDeletedKeys`; each waiter then checks
    /// its key).
    pub fn db_changed(&mut self, db: usize) {
        let keys: Vec<Vec<u8>> = self
            .waiting
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        for k in keys {
            self.key_ready(db, k);
        }
    }

    /// The nearest deadline (unix ms) of a blocked client, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        self.timeouts.first().map(|&(ms, _)| ms)
    }
}

/// Registers client `k` as blocked by `req` (called by `call()` when the handler asked to
/// block). `cmd_len` is filled in by `net::process_input` once it knows the command's size.
pub fn block(srv: &mut Server, k: usize, req: BlockRequest) {
    let c = &mut srv.clients[k];
    let id = c.id;
    let db = c.db;
    // A command run again keeps the deadline of its first run.
    let deadline_ms = match std::mem::take(&mut c.resume) {
        Resume::Run { deadline_ms, .. } => deadline_ms,
        _ => req.deadline_ms,
    };
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(req.keys.len());
    for key in req.keys {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let b = &mut srv.blocking;
    for key in &keys {
        let w = b.waiting.entry((db, key.clone())).or_default();
        w.clients.push_back(id);
        if req.unblock_on_nokey {
            w.nokey += 1;
        }
    }
    if deadline_ms > 0 {
        b.timeouts.insert((deadline_ms, id));
    }
    b.by_id.insert(id, k);
    c.flags |= flags::BLOCKED;
    c.block = Some(Box::new(BlockedState {
        kind: req.kind,
        db,
        keys,
        deadline_ms,
        unblock_on_nokey: req.unblock_on_nokey,
        rewrites: req.rewrites,
        cmd_len: 0,
        argv_mem: 0,
        argc: 0,
    }));
    srv.ks.signals.want |= crate::keyspace::want::READY;
}

/// Registers client `k` as postponed by CLIENT PAUSE (Redis `blockPostponeClient`).
pub fn postpone(srv: &mut Server, k: usize) {
    let c = &mut srv.clients[k];
    let id = c.id;
    c.flags |= flags::BLOCKED;
    c.block = Some(Box::new(BlockedState {
        kind: BlockKind::Postpone,
        db: c.db,
        keys: Vec::new(),
        deadline_ms: 0,
        unblock_on_nokey: false,
        rewrites: Vec::new(),
        cmd_len: 0,
        argv_mem: 0,
        argc: 0,
    }));
    srv.blocking.by_id.insert(id, k);
    srv.blocking.postponed.push_back(id);
}

/// Removes every trace of client `k`'s blocked state and returns it (None if it was not
/// blocked). The client is not resumed: see [`resume`].
pub fn unblock(srv: &mut Server, k: usize) -> Option<Box<BlockedState>> {
    let c = srv.clients.get_mut(k)?;
    let st = c.block.take()?;
    c.flags &= !flags::BLOCKED;
    let id = c.id;
    let b = &mut srv.blocking;
    b.by_id.remove(&id);
    if st.kind == BlockKind::Postpone {
        if let Some(i) = b.postponed.iter().position(|&x| x == id) {
            b.postponed.remove(i);
        }
    }
    for key in &st.keys {
        let slot = (st.db, key.clone());
        if let Some(w) = b.waiting.get_mut(&slot) {
            if let Some(i) = w.clients.iter().position(|&x| x == id) {
                w.clients.remove(i);
                if st.unblock_on_nokey {
                    w.nokey -= 1;
                }
            }
            if w.clients.is_empty() {
                b.waiting.remove(&slot);
            }
        }
    }
    if st.deadline_ms > 0 {
        b.timeouts.remove(&(st.deadline_ms, id));
    }
    if b.waiting.is_empty() {
        srv.ks.signals.want &= !crate::keyspace::want::READY;
    }
    Some(st)
}

/// Unblocks client `k` and processes its input again with `how` (timeouts, CLIENT UNBLOCK,
/// the end of a pause). Returns false if it was not blocked.
pub fn resume(srv: &mut Server, k: usize, how: Resume) -> bool {
    if unblock(srv, k).is_none() {
        return false;
    }
    srv.clients[k].resume = how;
    srv.pending_input.push(k);
    true
}

/// Drops client `k`'s blocked state (the connection is closing).
pub fn forget(srv: &mut Server, k: usize) {
    unblock(srv, k);
}

/// Resumes every client postponed by CLIENT PAUSE, in the order they were postponed
/// (Redis `unblockPostponedClients`).
pub fn release_postponed(srv: &mut Server) {
    let ids: Vec<u64> = srv.blocking.postponed.iter().copied().collect();
    for id in ids {
        if let Some(&k) = srv.blocking.by_id.get(&id) {
            resume(
                srv,
                k,
                Resume::Run {
                    deadline_ms: 0,
                    rewrites: Vec::new(),
                },
            );
        }
    }
}

/// Times out every blocked client whose deadline has passed (Redis
/// `handleBlockedClientsTimeout`), writing their timeout replies now.
pub fn handle_timeouts(srv: &mut Server) {
    let Some(first) = srv.blocking.next_deadline() else {
        return;
    };
    srv.update_time();
    if first > srv.now_ms {
        return;
    }
    while let Some(&(ms, id)) = srv.blocking.timeouts.first() {
        if ms > srv.now_ms {
            break;
        }
        let Some(&k) = srv.blocking.by_id.get(&id) else {
            srv.blocking.timeouts.pop_first();
            continue;
        };
        let kind = srv.clients[k]
            .block
            .as_ref()
            .map_or(BlockKind::List, |b| b.kind);
        resume(srv, k, Resume::TimedOut(kind));
    }
}

/// Serves the clients blocked on ready keys (Redis `handleClientsBlockedOnKeys`): see the
/// module docs. Called after each top-level command and before the loop sleeps.
pub fn handle_ready_keys(srv: &mut Server) {
    if srv.blocking.serving || srv.blocking.ready.is_empty() {
        return;
    }
    srv.blocking.serving = true;
    while !srv.blocking.ready.is_empty() {
        let ready = std::mem::take(&mut srv.blocking.ready);
        srv.blocking.ready_set.clear();
        for (db, key) in ready {
            serve_key(srv, db, key);
        }
    }
    srv.blocking.serving = false;
}

/// Visits the waiters of one ready key, at most as many as were waiting when it started (a
/// waiter that blocks again goes to the tail and is not visited twice).
fn serve_key(srv: &mut Server, db: usize, key: Vec<u8>) {
    let slot = (db, key);
    let Some(w) = srv.blocking.waiting.get(&slot) else {
        return;
    };
    let waiters: Vec<u64> = w.clients.iter().copied().collect();
    for id in waiters {
        let Some(&k) = srv.blocking.by_id.get(&id) else {
            continue;
        };
        let Some(st) = srv.clients[k].block.as_ref() else {
            continue;
        };
        if st.db != db || !st.keys.contains(&slot.1) {
            continue;
        }
        let (kind, nokey, deadline_ms) = (st.kind, st.unblock_on_nokey, st.deadline_ms);
        // As lookupKeyReadWithFlags(LOOKUP_NOEFFECTS): expired keys read as missing, nothing
        // is deleted, touched or counted.
        let now = srv.now_ms;
        let t = srv
            .ks
            .lookup(db, &slot.1, now, false, Touch::No)
            .map(|h| srv.ks.get(h).obj_type());
        let serve = t.is_some_and(|t| kind.served_by(t)) || nokey;
        if !serve {
            continue;
        }
        let rewrites = unblock(srv, k).map(|st| st.rewrites).unwrap_or_default();
        srv.clients[k].resume = Resume::Run {
            deadline_ms,
            rewrites,
        };
        crate::net::process_blocked_command(srv, k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_served_by_their_type_only() {
        assert!(BlockKind::List.served_by(ObjType::List));
        assert!(!BlockKind::List.served_by(ObjType::String));
        assert!(!BlockKind::List.served_by(ObjType::ZSet));
        assert!(BlockKind::Zset.served_by(ObjType::ZSet));
        assert!(BlockKind::Stream.served_by(ObjType::Stream));
        assert!(!BlockKind::Postpone.served_by(ObjType::List));
    }

    #[test]
    fn ready_keys_are_deduplicated_and_only_for_waited_keys() {
        let mut b = Blocking::default();
        b.waiting.insert((0, b"k".to_vec()), KeyWaiters::default());
        b.key_ready(0, b"k".to_vec());
        b.key_ready(0, b"k".to_vec());
        b.key_ready(0, b"other".to_vec());
        b.key_ready(1, b"k".to_vec());
        assert_eq!(b.ready, vec![(0, b"k".to_vec())]);
        b.ready.clear();
        b.ready_set.clear();
        b.db_changed(0);
        b.db_changed(1);
        assert_eq!(b.ready, vec![(0, b"k".to_vec())]);
    }
}
