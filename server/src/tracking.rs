//! Client-side caching (Redis tracking.c and the CLIENT TRACKING family of networking.c):
//! CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO, the table of keys clients read, the
//! prefix table of the broadcasting (BCAST) mode, and the invalidation messages.
//!
//! - **Default mode**: after a read-only command of a tracking client (OPTIN: only after
//!   CLIENT CACHING yes; OPTOUT: unless CLIENT CACHING no) the keys its key specs name are
//!   remembered (`table`: key → ids of the clients that may cache it). When such a key is
//!   modified (the keyspace's modified-key signal, drained by `Server::dispatch_signals`)
//!   every remembered client gets one invalidation message for it and the key leaves the
//!   table. Keys are tracked by name across dbs, as Redis.
//! - **BCAST**: no table; a modified key that matches a registered prefix is recorded in that
//!   prefix's state and the prefix's clients get, before the event loop sleeps, one message
//!   per prefix with every key recorded (sorted, as Redis's radix tree iterates).
//! - **Messages** (`sendTrackingMessage`): RESP3 `>2 invalidate <array of keys>`; a RESP2
//!   client redirecting (REDIRECT id) to a RESP2 connection in Pub/Sub mode gets
//!   `message __redis__:invalidate <array>`; a flush sends a null instead of the array (the
//!   null of the tracking client's protocol). A redirection to a client that is gone sets
//!   the broken-redirect flag (`R`) and, in RESP3, pushes `tracking-redir-broken <id>`.
//! - **Timing**: messages for other clients are delivered when the modification is
//!   drained (as Redis sends them at once); messages for the client running the command
//!   (Redis's `tracking_pending_keys`) are held until the whole top-level command (EXEC,
//!   script) has replied, then written after the reply and before its other push messages.
//! - **tracking-table-max-keys**: before sleeping, while the table holds more keys than the
//!   limit, keys are invalidated (effort 100 × consecutive over-limit runs, as
//!   `trackingLimitUsedSlots`).

use crate::command::{Ctx, Handler};
use crate::reply::Reply;
use crate::server::Server;
use std::collections::{BTreeMap, BTreeSet};

/// Hash maps keyed by key names or ids: foldhash, as the keyspace's dict.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Per-client tracking flag bits ([`ClientTracking::flags`]).
pub mod tf {
    /// CLIENT TRACKING on (`CLIENT_TRACKING`, CLIENT LIST `t`).
    pub const ON: u8 = 1;
    /// BCAST mode (CLIENT LIST `B`).
    pub const BCAST: u8 = 2;
    /// OPTIN mode.
    pub const OPTIN: u8 = 4;
    /// OPTOUT mode.
    pub const OPTOUT: u8 = 8;
    /// NOLOOP: no messages about the client's own modifications.
    pub const NOLOOP: u8 = 16;
    /// CLIENT CACHING yes (OPTIN) / no (OPTOUT) given for the next command.
    pub const CACHING: u8 = 32;
    /// The redirection client is gone (CLIENT LIST `R`).
    pub const BROKEN_REDIR: u8 = 64;
}

/// A client's tracking state (Redis's `CLIENT_TRACKING*` flags,
/// `client_tracking_redirection`, `client_tracking_prefixes`).
#[derive(Default, Debug)]
pub struct ClientTracking {
    /// [`tf`] bits.
    pub flags: u8,
    /// REDIRECT target client id (0: none).
    pub redirect: u64,
    /// BCAST prefixes registered by this client.
    pub prefixes: BTreeSet<Vec<u8>>,
}

impl ClientTracking {
    /// The CLIENT LIST flag letters of the tracking state (`t`, `R`, `B`, in Redis's order).
    pub fn list_flags(&self) -> &'static str {
        let on = self.flags & tf::ON != 0;
        let r = self.flags & tf::BROKEN_REDIR != 0;
        let b = self.flags & tf::BCAST != 0;
        match (on, r, b) {
            (false, false, false) => "",
            (true, false, false) => "t",
            (true, true, false) => "tR",
            (true, false, true) => "tB",
            (true, true, true) => "tRB",
            (false, true, false) => "R",
            (false, false, true) => "B",
            (false, true, true) => "RB",
        }
    }

    /// CLIENT LIST's `redir=`: the redirection id while tracking, else -1.
    pub fn redir(&self) -> i64 {
        if self.flags & tf::ON != 0 {
            self.redirect as i64
        } else {
            -1
        }
    }
}

/// The keys modified under one BCAST prefix since the last broadcast, and its clients.
#[derive(Default)]
struct Bcast {
    /// Key → id of the client whose command modified it last (None: no client), for NOLOOP.
    keys: BTreeMap<Vec<u8>, Option<u64>>,
    /// Ids of the clients registered for the prefix.
    clients: BTreeSet<u64>,
}

/// Server-wide tracking state.
#[derive(Default)]
pub struct Tracking {
    /// Key → ids of the clients that may have cached it (Redis's `TrackingTable`).
    table: HashMap<Vec<u8>, Vec<u64>>,
    /// Sum of the id-list lengths (`tracking_total_items`).
    items: usize,
    /// BCAST prefixes (Redis's `PrefixTable`), sorted as a radix tree iterates.
    prefixes: BTreeMap<Vec<u8>, Bcast>,
    /// Clients with tracking on: id → slab key (`server.tracking_clients` is its length).
    clients: HashMap<u64, usize>,
    /// The client whose top-level command is running (Redis's `server.current_client`),
    /// with its protocol version.
    current: Option<(usize, u8)>,
    /// Whether the running command is a CLIENT subcommand (keeps CLIENT CACHING's flag).
    current_is_client_cmd: bool,
    /// Invalidations for the running client, sent after its command (Redis's
    /// `tracking_pending_keys`).
    pending: Vec<Vec<u8>>,
    /// Flushes by the running client: their null invalidations precede its reply, as Redis
    /// writes them at once into its buffer.
    pending_flushes: usize,
    /// Length of the running client's reply buffer when its command started.
    out_start: usize,
    /// Consecutive before-sleep runs that ended over `tracking-table-max-keys`.
    limit_runs: usize,
    /// `tracking-table-max-keys` (0: no limit), set by `Server::apply_config`.
    pub max_keys: usize,
}

impl Tracking {
    /// Number of clients with tracking on (INFO `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Keys in the tracking table (INFO `tracking_total_keys`).
    pub fn total_keys(&self) -> usize {
        self.table.len()
    }

    /// Client ids summed over the table's keys (INFO `tracking_total_items`).
    pub fn total_items(&self) -> usize {
        self.items
    }

    /// Registered BCAST prefixes (INFO `tracking_total_prefixes`).
    pub fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }

    /// True while some client has tracking on: the keyspace must record modified keys.
    #[inline]
    pub fn active(&self) -> bool {
        !self.clients.is_empty()
    }
}

/// The CLIENT subcommands of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("client|tracking", client_tracking),
    ("client|caching", client_caching),
    ("client|getredir", client_getredir),
    ("client|trackinginfo", client_trackinginfo),
];

/// True if one of `a`, `b` is a prefix of the other (Redis `stringCheckPrefix`).
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// CLIENT TRACKING on|off [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP]:
/// options parsed and checked in Redis's order, with its error texts.
fn client_tracking(c: &mut Ctx) {
    let k = c.cid;
    let mut redir: i64 = 0;
    let mut options = 0u8;
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let argc = c.argc();
    let mut j = 3;
    while j < argc {
        let more = argc - 1 - j;
        let a = crate::command::opt(c.arg(j));
        match a.as_slice() {
            b"redirect" if more > 0 => {
                j += 1;
                if redir != 0 {
                    c.out
                        .error("ERR A client can only redirect to a single other client");
                    return;
                }
                let Some(v) = c.int_arg(j) else {
                    return;
                };
                redir = v;
                if v <= 0 || !c.srv.clients.iter().any(|(_, cl)| cl.id == v as u64) {
                    c.out
                        .error("ERR The client ID you want redirect to does not exist");
                    return;
                }
            }
            b"bcast" => options |= tf::BCAST,
            b"optin" => options |= tf::OPTIN,
            b"optout" => options |= tf::OPTOUT,
            b"noloop" => options |= tf::NOLOOP,
            b"prefix" if more > 0 => {
                j += 1;
                prefixes.push(c.arg(j).to_vec());
            }
            _ => {
                c.out.syntax_error();
                return;
            }
        }
        j += 1;
    }
    match crate::command::opt(c.arg(2)).as_slice() {
        b"on" => {
            let cur = c.srv.clients[k].tracking.flags;
            if options & tf::BCAST == 0 && !prefixes.is_empty() {
                c.out
                    .error("ERR PREFIX option requires BCAST mode to be enabled");
                return;
            }
            if cur & tf::ON != 0 && (cur & tf::BCAST) != (options & tf::BCAST) {
                c.out.error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
                return;
            }
            if options & tf::BCAST != 0 && options & (tf::OPTIN | tf::OPTOUT) != 0 {
                c.out
                    .error("ERR OPTIN and OPTOUT are not compatible with BCAST");
                return;
            }
            if options & tf::OPTIN != 0 && options & tf::OPTOUT != 0 {
                c.out
                    .error("ERR You can't specify both OPTIN mode and OPTOUT mode");
                return;
            }
            if (options & tf::OPTIN != 0 && cur & tf::OPTOUT != 0)
                || (options & tf::OPTOUT != 0 && cur & tf::OPTIN != 0)
            {
                c.out.error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
                return;
            }
            if options & tf::BCAST != 0 && !check_prefix_collisions(c, &prefixes) {
                return;
            }
            enable(c.srv, k, redir as u64, options, &prefixes);
            // Turned on inside EXEC or a script: the rest of the unit remembers keys.
            if c.srv.call_depth > 1 && c.srv.tracking.current.is_none() {
                c.srv.tracking.current = Some((k, c.out.resp));
                c.srv.tracking.out_start = c.out.buf.len();
                c.srv.tracking.current_is_client_cmd = false;
            }
        }
        b"off" => disable(c.srv, k),
        _ => {
            c.out.syntax_error();
            return;
        }
    }
    c.out.ok();
}

/// Redis's `checkPrefixCollisionsOrReply`, including its quirk: an overlap between two new
/// prefixes found for the second prefix or later is reported but does not stop the command
/// (Redis returns the index, which is true), so the error is followed by `+OK`.
fn check_prefix_collisions(c: &mut Ctx, prefixes: &[Vec<u8>]) -> bool {
    let lossy = |b: &[u8]| String::from_utf8_lossy(crate::command::cstr(b)).into_owned();
    for (i, p) in prefixes.iter().enumerate() {
        let existing = &c.srv.clients[c.cid].tracking.prefixes;
        if let Some(e) = existing.iter().find(|e| overlaps(e, p)) {
            let msg = format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                lossy(p),
                lossy(e)
            );
            c.out.error(&msg);
            return false;
        }
        for q in &prefixes[i + 1..] {
            if overlaps(p, q) {
                let msg = format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    lossy(p),
                    lossy(q)
                );
                c.out.error(&msg);
                return i != 0;
            }
        }
    }
    true
}

/// Turns tracking on for client `k` (Redis `enableTracking`).
fn enable(srv: &mut Server, k: usize, redirect: u64, options: u8, prefixes: &[Vec<u8>]) {
    let id = srv.clients[k].id;
    srv.tracking.clients.insert(id, k);
    let t = &mut srv.clients[k].tracking;
    t.flags |= tf::ON;
    t.flags &= !(tf::BROKEN_REDIR | tf::BCAST | tf::OPTIN | tf::OPTOUT | tf::NOLOOP);
    t.redirect = redirect;
    if options & tf::BCAST != 0 {
        t.flags |= tf::BCAST;
        let list: Vec<Vec<u8>> = if prefixes.is_empty() {
            vec![Vec::new()]
        } else {
            prefixes.to_vec()
        };
        for p in list {
            let bs = srv.tracking.prefixes.entry(p.clone()).or_default();
            if bs.clients.insert(id) {
                srv.clients[k].tracking.prefixes.insert(p);
            }
        }
    }
    srv.clients[k].tracking.flags |= options & (tf::OPTIN | tf::OPTOUT | tf::NOLOOP);
    srv.update_signal_wants();
}

/// Turns tracking off for client `k` (Redis `disableTracking`: CLIENT TRACKING off, RESET,
/// disconnection). Keys it read stay in the table until they are invalidated.
pub fn disable(srv: &mut Server, k: usize) {
    let Some(cl) = srv.clients.get_mut(k) else {
        return;
    };
    let id = cl.id;
    if cl.tracking.flags & tf::BCAST != 0 {
        for p in std::mem::take(&mut cl.tracking.prefixes) {
            if let Some(bs) = srv.tracking.prefixes.get_mut(&p) {
                bs.clients.remove(&id);
                if bs.clients.is_empty() {
                    srv.tracking.prefixes.remove(&p);
                }
            }
        }
    }
    let cl = &mut srv.clients[k];
    if cl.tracking.flags & tf::ON != 0 {
        cl.tracking.flags = 0;
        srv.tracking.clients.remove(&id);
        srv.update_signal_wants();
    }
}

/// CLIENT CACHING yes|no.
fn client_caching(c: &mut Ctx) {
    let t = c.srv.clients[c.cid].tracking.flags;
    if t & tf::ON == 0 {
        c.out.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        return;
    }
    match crate::command::opt(c.arg(2)).as_slice() {
        b"yes" => {
            if t & tf::OPTIN == 0 {
                c.out.error(
                    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                );
                return;
            }
        }
        b"no" => {
            if t & tf::OPTOUT == 0 {
                c.out.error(
                    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                );
                return;
            }
        }
        _ => {
            c.out.syntax_error();
            return;
        }
    }
    c.srv.clients[c.cid].tracking.flags |= tf::CACHING;
    c.out.ok();
}

/// CLIENT GETREDIR: the redirection id (0 if none) while tracking, else -1.
fn client_getredir(c: &mut Ctx) {
    let r = c.srv.clients[c.cid].tracking.redir();
    c.out.int(r);
}

/// CLIENT TRACKINGINFO: a map of `flags` (a set), `redirect`, `prefixes`.
fn client_trackinginfo(c: &mut Ctx) {
    let t = &c.srv.clients[c.cid].tracking;
    let mut fl: Vec<&str> = vec![if t.flags & tf::ON != 0 { "on" } else { "off" }];
    if t.flags & tf::BCAST != 0 {
        fl.push("bcast");
    }
    if t.flags & tf::OPTIN != 0 {
        fl.push("optin");
        if t.flags & tf::CACHING != 0 {
            fl.push("caching-yes");
        }
    }
    if t.flags & tf::OPTOUT != 0 {
        fl.push("optout");
        if t.flags & tf::CACHING != 0 {
            fl.push("caching-no");
        }
    }
    if t.flags & tf::NOLOOP != 0 {
        fl.push("noloop");
    }
    if t.flags & tf::BROKEN_REDIR != 0 {
        fl.push("broken_redirect");
    }
    let redir = t.redir();
    let prefixes: Vec<Vec<u8>> = t.prefixes.iter().cloned().collect();
    c.out.map(3);
    c.out.bulk(b"flags");
    c.out.set(fl.len());
    for f in fl {
        c.out.bulk(f.as_bytes());
    }
    c.out.bulk(b"redirect");
    c.out.int(redir);
    c.out.bulk(b"prefixes");
    c.out.array(prefixes.len());
    for p in &prefixes {
        c.out.bulk(p);
    }
}

/// Start of a top-level command of client `k` (called by `call()` before the handler).
#[inline]
pub fn begin(srv: &mut Server, k: usize, id: usize, out: &Reply) {
    if srv.tracking.active() {
        srv.tracking.current = Some((k, out.resp));
        srv.tracking.out_start = out.buf.len();
        srv.tracking.current_is_client_cmd = srv.commands.cmds[id].fullname.starts_with("client|");
    }
}

/// After a command executed (nested or not): remember the keys a read-only command read for
/// the running top-level client when it tracks in default mode (Redis `trackingRememberKeys`,
/// with its OPTIN/OPTOUT and CLIENT CACHING rules; EVAL_RO and FCALL_RO themselves are not
/// looked at, the commands their scripts run are).
#[inline]
pub fn after_call(srv: &mut Server, id: usize, argv: &crate::command::Argv) {
    if !srv.tracking.active() {
        return;
    }
    let Some((cur, _)) = srv.tracking.current else {
        return;
    };
    let cmd = &srv.commands.cmds[id];
    if cmd.flags & crate::command::flags::READONLY == 0
        || matches!(cmd.fullname.as_str(), "eval_ro" | "evalsha_ro" | "fcall_ro")
    {
        return;
    }
    let Some(cl) = srv.clients.get(cur) else {
        return;
    };
    let f = cl.tracking.flags;
    if f & tf::ON == 0 || f & tf::BCAST != 0 {
        return;
    }
    let caching = f & tf::CACHING != 0;
    if (f & tf::OPTIN != 0 && !caching) || (f & tf::OPTOUT != 0 && caching) {
        return;
    }
    if cmd.flags & crate::command::flags::PUBSUB != 0 {
        return;
    }
    let Ok(keys) = crate::command::keyspec::get_keys(&cmd.key_specs, argv) else {
        return;
    };
    let cid = cl.id;
    let t = &mut srv.tracking;
    for i in keys {
        let key = &argv[i];
        let ids = match t.table.get_mut(key) {
            Some(ids) => ids,
            None => t.table.entry(key.to_vec()).or_default(),
        };
        if !ids.contains(&cid) {
            ids.push(cid);
            t.items += 1;
        }
    }
}

/// The end of a top-level command of client `k`: its own invalidations go out after its
/// reply (into `out`, or to its redirection), and CLIENT CACHING's flag is spent unless the
/// client is in MULTI or ran a CLIENT subcommand (Redis `resetClient`).
pub fn end(srv: &mut Server, k: usize, out: &mut Reply) {
    let Some((cur, _)) = srv.tracking.current.take() else {
        return;
    };
    let flushes = std::mem::take(&mut srv.tracking.pending_flushes);
    if flushes > 0 && srv.clients.contains(cur) {
        let mut front = Reply {
            resp: out.resp,
            ..Default::default()
        };
        for _ in 0..flushes {
            send(srv, cur, Payload::Null, Some((k, &mut front)));
        }
        let at = srv.tracking.out_start.min(out.buf.len());
        out.buf.splice(at..at, front.buf);
    }
    let pending = std::mem::take(&mut srv.tracking.pending);
    for key in pending {
        // The client may have closed (CLIENT KILL of itself).
        if srv.clients.contains(cur) {
            send(srv, cur, Payload::Key(&key), Some((k, &mut *out)));
        }
    }
    if let Some(cl) = srv.clients.get_mut(k) {
        if cl.flags & crate::client::flags::MULTI == 0 && !srv.tracking.current_is_client_cmd {
            cl.tracking.flags &= !tf::CACHING;
        }
    }
}

/// What an invalidation message carries.
enum Payload<'a> {
    /// One key: `*1 $key`.
    Key(&'a [u8]),
    /// A flush: the null of the tracking client's protocol.
    Null,
    /// A ready-made array of keys (BCAST).
    Proto(&'a [u8]),
}

/// Finds the slab key of client `id`.
fn find_client(srv: &Server, id: u64) -> Option<usize> {
    if let Some(&k) = srv.tracking.clients.get(&id) {
        return Some(k);
    }
    srv.clients.iter().find(|(_, c)| c.id == id).map(|(k, _)| k)
}

/// The protocol version of client `k` (the running client's `out` is outside it).
fn resp_of(srv: &Server, k: usize) -> u8 {
    match srv.tracking.current {
        Some((cur, resp)) if cur == k => resp,
        _ => srv.clients[k].out.resp,
    }
}

/// Appends `bytes` to client `target`'s output: into `self_out` when it is the running
/// client's reply buffer, after the running client's reply when it is the running client,
/// else into its buffer (with output limits).
fn write(
    srv: &mut Server,
    target: usize,
    bytes: &[u8],
    self_out: &mut Option<(usize, &mut Reply)>,
) {
    if let Some((k, out)) = self_out {
        if *k == target {
            out.raw(bytes);
            return;
        }
    }
    let running = srv
        .tracking
        .current
        .map(|(cid, resp)| crate::pubsub::Running { cid, resp });
    crate::pubsub::deliver(srv, running, target, |r| r.raw(bytes));
}

/// Sends one invalidation message on behalf of tracking client `c` (Redis
/// `sendTrackingMessage`).
fn send(srv: &mut Server, c: usize, payload: Payload, self_out: Option<(usize, &mut Reply)>) {
    let mut self_out = self_out;
    let c_resp = resp_of(srv, c);
    let redirect = srv.clients[c].tracking.redirect;
    let (target, redirected) = if redirect != 0 {
        match find_client(srv, redirect) {
            Some(t) => (t, true),
            None => {
                srv.clients[c].tracking.flags |= tf::BROKEN_REDIR;
                if c_resp > 2 {
                    let msg = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{redirect}\r\n");
                    write(srv, c, msg.as_bytes(), &mut self_out);
                }
                return;
            }
        }
    } else {
        (c, false)
    };
    let t_resp = resp_of(srv, target);
    let mut msg: Vec<u8> = Vec::with_capacity(64);
    if t_resp > 2 {
        msg.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else if redirected && srv.clients[target].subs.any() {
        msg.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    } else {
        return;
    }
    match payload {
        Payload::Key(key) => {
            msg.extend_from_slice(format!("*1\r\n${}\r\n", key.len()).as_bytes());
            msg.extend_from_slice(key);
            msg.extend_from_slice(b"\r\n");
        }
        Payload::Null => {
            msg.extend_from_slice(if c_resp > 2 { b"_\r\n" } else { b"$-1\r\n" });
        }
        Payload::Proto(p) => msg.extend_from_slice(p),
    }
    write(srv, target, &msg, &mut self_out);
}

/// Invalidates `key` (Redis `trackingInvalidateKey`): records it for the matching BCAST
/// prefixes when `bcast`, and sends a message to every client that may have cached it —
/// later for the running client — then forgets it.
fn invalidate_key(srv: &mut Server, key: &[u8], bcast: bool) {
    let current = srv.tracking.current.map(|(k, _)| k);
    if bcast && !srv.tracking.prefixes.is_empty() {
        let modifier = current.and_then(|k| srv.clients.get(k)).map(|c| c.id);
        for (p, bs) in srv.tracking.prefixes.iter_mut() {
            if key.starts_with(p) {
                bs.keys.insert(key.to_vec(), modifier);
            }
        }
    }
    let Some(ids) = srv.tracking.table.remove(key) else {
        return;
    };
    srv.tracking.items -= ids.len();
    for id in ids {
        let Some(&t) = srv.tracking.clients.get(&id) else {
            continue;
        };
        let f = srv.clients[t].tracking.flags;
        if f & tf::BCAST != 0 {
            continue;
        }
        if Some(t) == current {
            if f & tf::NOLOOP != 0 {
                continue;
            }
            srv.tracking.pending.push(key.to_vec());
        } else {
            send(srv, t, Payload::Key(key), None);
        }
    }
}

/// Invalidates the keys the keyspace reported modified (from `Server::dispatch_signals`).
pub fn keys_modified(srv: &mut Server, modified: &[(usize, Vec<u8>, bool)]) {
    if !srv.tracking.active() {
        return;
    }
    for (_, key, _) in modified {
        invalidate_key(srv, key, true);
    }
}

/// A FLUSHDB / FLUSHALL (Redis `trackingInvalidateKeysOnFlush`): every tracking client gets a
/// null invalidation (the running one after its reply), and the whole table is dropped.
pub fn flushed(srv: &mut Server) {
    if srv.tracking.active() {
        let current = srv.tracking.current.map(|(k, _)| k);
        let mut targets: Vec<usize> = srv.tracking.clients.values().copied().collect();
        targets.sort_unstable();
        for t in targets {
            if Some(t) == current {
                srv.tracking.pending_flushes += 1;
            } else {
                send(srv, t, Payload::Null, None);
            }
        }
    }
    srv.tracking.table = HashMap::default();
    srv.tracking.items = 0;
}

/// Before the event loop sleeps: the BCAST messages (Redis
/// `trackingBroadcastInvalidationMessages`) and the `tracking-table-max-keys` limit
/// (`trackingLimitUsedSlots`).
pub fn before_sleep(srv: &mut Server) {
    if !srv.tracking.active() {
        return;
    }
    if srv.tracking.prefixes.values().any(|b| !b.keys.is_empty()) {
        broadcast(srv);
    }
    if !srv.tracking.table.is_empty() {
        limit_table(srv);
    }
}

/// `*N` followed by the keys as bulk strings, skipping those last modified by `skip`.
fn keys_proto(keys: &BTreeMap<Vec<u8>, Option<u64>>, skip: Option<u64>) -> Option<Vec<u8>> {
    let n = keys
        .values()
        .filter(|m| skip.is_none() || **m != skip)
        .count();
    if n == 0 {
        return None;
    }
    let mut p = format!("*{n}\r\n").into_bytes();
    for (k, m) in keys {
        if skip.is_some() && *m == skip {
            continue;
        }
        p.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
        p.extend_from_slice(k);
        p.extend_from_slice(b"\r\n");
    }
    Some(p)
}

fn broadcast(srv: &mut Server) {
    let prefixes: Vec<Vec<u8>> = srv.tracking.prefixes.keys().cloned().collect();
    for p in prefixes {
        let Some(bs) = srv.tracking.prefixes.get_mut(&p) else {
            continue;
        };
        if bs.keys.is_empty() {
            continue;
        }
        let keys = std::mem::take(&mut bs.keys);
        let clients: Vec<u64> = bs.clients.iter().copied().collect();
        let Some(common) = keys_proto(&keys, None) else {
            continue;
        };
        // The whole RESP3 push, built once for the common case (no redirection).
        let mut push = b">2\r\n$10\r\ninvalidate\r\n".to_vec();
        push.extend_from_slice(&common);
        for id in clients {
            let Some(&t) = srv.tracking.clients.get(&id) else {
                continue;
            };
            let ct = &srv.clients[t].tracking;
            if ct.flags & tf::NOLOOP != 0 {
                if let Some(adhoc) = keys_proto(&keys, Some(id)) {
                    send(srv, t, Payload::Proto(&adhoc), None);
                }
            } else if ct.redirect == 0 && srv.clients[t].out.resp > 2 {
                crate::pubsub::deliver(srv, None, t, |r| r.raw(&push));
            } else {
                send(srv, t, Payload::Proto(&common), None);
            }
        }
    }
}

fn limit_table(srv: &mut Server) {
    let max = srv.tracking.max_keys;
    if max == 0 {
        return;
    }
    if srv.tracking.table.len() <= max {
        srv.tracking.limit_runs = 0;
        return;
    }
    let mut effort = 100 * (srv.tracking.limit_runs + 1);
    while effort > 0 {
        effort -= 1;
        let Some(key) = srv.tracking.table.keys().next().cloned() else {
            break;
        };
        invalidate_key(srv, &key, false);
        if srv.tracking.table.len() <= max {
            srv.tracking.limit_runs = 0;
            return;
        }
    }
    srv.tracking.limit_runs += 1;
}
