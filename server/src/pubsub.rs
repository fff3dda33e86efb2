//! Pub/Sub (Redis pubsub.c and notify.c): channel, pattern and shard-channel subscriptions,
//! PUBLISH / SPUBLISH, PUBSUB introspection, keyspace notifications, and [`deliver`] — the
//! one way to write to a client other than through the running command's own reply.
//!
//! Delivery: a message for the client whose command is running (named by [`Running`]) is
//! deferred to `Server::deferred_pushes` and appended after the reply of its top-level
//! command, as Redis 7.2+ does (a RESP3 client that PUBLISHes to its own channel reads `:1`,
//! then the push); its reply buffer is outside the client while the command runs, so this is
//! also what keeps the message from being lost. A message for any other client is appended to
//! its buffer, queued for writing, and checked against its `client-output-buffer-limit` class
//! at once (a subscriber that never reads is cut at the limit while the publisher is still
//! sending).
//!
//! Keyspace events recorded by the keyspace ([`crate::keyspace::Signals`]) are published by
//! [`publish_keyspace_event`] as Redis's `notifyKeyspaceEvent` does: `__keyspace@<db>__:<key>`
//! with the event name (flag K), `__keyevent@<db>__:<event>` with the key (flag E).
//!
//! Order of subscribers: per channel, in subscription order; channels and patterns in the
//! order they were first subscribed, until one empties (Redis iterates hash tables; its order
//! is not specified).

use crate::client::flags as cf;
use crate::command::{Ctx, Handler};
use crate::reply::Reply;
use crate::server::Server;
use indexmap::{IndexMap, IndexSet};
use pyrope_common::glob::glob_match;

/// The client whose command is running.
#[derive(Clone, Copy, Debug)]
pub struct Running {
    /// Its slab key.
    pub cid: usize,
    /// Its protocol version (2 or 3), for formatting what is deferred for it.
    pub resp: u8,
}

/// The three kinds of subscription.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// SUBSCRIBE.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE.
    Shard,
}

impl Kind {
    fn sub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }
    fn unsub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// One client's subscriptions (in subscription order).
#[derive(Default, Debug)]
pub struct ClientSubs {
    pub channels: IndexSet<Vec<u8>>,
    pub patterns: IndexSet<Vec<u8>>,
    pub shard: IndexSet<Vec<u8>>,
}

impl ClientSubs {
    fn of(&mut self, kind: Kind) -> &mut IndexSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// True if the client has any subscription (Redis's CLIENT_PUBSUB flag).
    pub fn any(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty() || !self.shard.is_empty()
    }

    /// The count SUBSCRIBE / PSUBSCRIBE replies with (channels + patterns), or SSUBSCRIBE's
    /// (shard channels).
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }
}

/// Server-wide subscriptions: who listens where.
#[derive(Default)]
pub struct PubSub {
    channels: SubTable,
    patterns: SubTable,
    shard: SubTable,
    /// Clients with at least one subscription (INFO `pubsub_clients`).
    pub clients: usize,
}

impl PubSub {
    fn map(&mut self, kind: Kind) -> &mut SubTable {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Channels with at least one subscriber (INFO `pubsub_channels`).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
    /// Patterns with at least one subscriber (INFO `pubsub_patterns`, PUBSUB NUMPAT).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }
    /// Shard channels with at least one subscriber (INFO `pubsubshard_channels`).
    pub fn shard_count(&self) -> usize {
        self.shard.len()
    }

    /// True if nobody subscribes to anything (PUBLISH's fast path).
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }
}

/// Subscribers per channel (or pattern), each set in subscription order.
type SubTable = IndexMap<Vec<u8>, IndexSet<usize>>;

fn table_add(t: &mut SubTable, name: &[u8], k: usize) {
    t.entry(name.to_vec()).or_default().insert(k);
}

fn table_remove(t: &mut SubTable, name: &[u8], k: usize) {
    if let Some(s) = t.get_mut(name) {
        s.shift_remove(&k);
        if s.is_empty() {
            t.swap_remove(name);
        }
    }
}

/// Writes to client `target`: into the running reply when `target` is the running client,
/// else into its own buffer (queued for writing, output limits enforced at once). Clients
/// being closed get nothing.
pub fn deliver(
    srv: &mut Server,
    running: Option<Running>,
    target: usize,
    f: impl FnOnce(&mut Reply),
) {
    if let Some(r) = running {
        if r.cid == target {
            let mut tmp = Reply {
                resp: r.resp,
                buf: std::mem::take(&mut srv.deferred_pushes),
                ..Default::default()
            };
            f(&mut tmp);
            srv.deferred_pushes = tmp.buf;
            return;
        }
    }
    let Some(c) = srv.clients.get_mut(target) else {
        return;
    };
    if c.flags & (cf::CLOSE_ASAP | cf::REPLY_OFF) != 0 || c.conn.is_none() {
        return;
    }
    f(&mut c.out);
    crate::net::queue_write(srv, target);
    crate::net::enforce_output_limits(srv, target);
}

/// Writes a message push: `message ch msg` (3 parts) or `pmessage pat ch msg` (4).
fn message(r: &mut Reply, kind: &'static [u8], parts: &[&[u8]]) {
    push_header(r, parts.len() + 1);
    r.bulk(kind);
    for p in parts {
        r.bulk(p);
    }
}

/// An out-of-band array header: `>n` in RESP3, `*n` in RESP2.
fn push_header(r: &mut Reply, n: usize) {
    if r.resp >= 3 {
        r.raw(format!(">{n}\r\n").as_bytes());
    } else {
        r.array(n);
    }
}

/// Publishes `msg` on `channel` to channel subscribers (and pattern subscribers unless
/// `shard`); returns the number of receivers (Redis `pubsubPublishMessage`).
pub fn publish(
    srv: &mut Server,
    running: Option<Running>,
    channel: &[u8],
    msg: &[u8],
    shard: bool,
) -> usize {
    if srv.pubsub.is_empty() {
        return 0;
    }
    let mut n = 0;
    let table = if shard {
        &srv.pubsub.shard
    } else {
        &srv.pubsub.channels
    };
    let direct: Vec<usize> = table
        .get(channel)
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    let kind: &'static [u8] = if shard { b"smessage" } else { b"message" };
    for k in direct {
        deliver(srv, running, k, |r| message(r, kind, &[channel, msg]));
        n += 1;
    }
    if shard {
        return n;
    }
    let matched: Vec<(Vec<u8>, Vec<usize>)> = srv
        .pubsub
        .patterns
        .iter()
        .filter(|(p, _)| glob_match(p, channel, false))
        .map(|(p, s)| (p.clone(), s.iter().copied().collect()))
        .collect();
    for (pat, ks) in matched {
        for k in ks {
            deliver(srv, running, k, |r| {
                message(r, b"pmessage", &[&pat, channel, msg])
            });
            n += 1;
        }
    }
    n
}

/// Publishes one keyspace event (Redis `notifyKeyspaceEvent`, whose class filter the keyspace
/// already applied): on `__keyspace@<db>__:<key>` with flag K, `__keyevent@<db>__:<event>`
/// with flag E.
pub fn publish_keyspace_event(
    srv: &mut Server,
    running: Option<Running>,
    db: usize,
    event: &str,
    key: &[u8],
) {
    let flags = srv.settings.notify_keyspace_events;
    if flags & crate::keyspace::notify::KEYSPACE != 0 {
        let mut ch = format!("__keyspace@{db}__:").into_bytes();
        ch.extend_from_slice(key);
        publish(srv, running, &ch, event.as_bytes(), false);
    }
    if flags & crate::keyspace::notify::KEYEVENT != 0 {
        let ch = format!("__keyevent@{db}__:{event}");
        publish(srv, running, ch.as_bytes(), key, false);
    }
}

/// Subscribes the running client to `names` of `kind`, replying once per name.
fn subscribe_generic(c: &mut Ctx, kind: Kind) {
    let k = c.cid;
    for i in 1..c.argc() {
        let name = c.arg(i);
        let subs = &mut c.srv.clients[k].subs;
        let was_any = subs.any();
        if subs.of(kind).insert(name.to_vec()) {
            table_add(c.srv.pubsub.map(kind), name, k);
            if !was_any {
                c.srv.pubsub.clients += 1;
            }
        }
        let count = c.srv.clients[k].subs.count(kind);
        push_header(c.out, 3);
        c.out.bulk(kind.sub_name());
        c.out.bulk(name);
        c.out.int(count as i64);
    }
}

/// Removes one subscription of client `k`; true if it existed.
fn remove_sub(srv: &mut Server, k: usize, kind: Kind, name: &[u8]) -> bool {
    let subs = &mut srv.clients[k].subs;
    if !subs.of(kind).shift_remove(name) {
        return false;
    }
    let now_none = !subs.any();
    table_remove(srv.pubsub.map(kind), name, k);
    if now_none {
        srv.pubsub.clients -= 1;
    }
    true
}

/// Unsubscribes client `k` from `names` of `kind` (all of them when empty), writing one
/// reply per name to `out` (`unsubscribe`, name or null, remaining count) when given.
pub fn unsubscribe(
    srv: &mut Server,
    k: usize,
    kind: Kind,
    names: &[Vec<u8>],
    mut out: Option<&mut Reply>,
) {
    let names: Vec<Vec<u8>> = if names.is_empty() {
        srv.clients[k].subs.of(kind).iter().cloned().collect()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        if let Some(r) = out.as_deref_mut() {
            push_header(r, 3);
            r.bulk(kind.unsub_name());
            r.null();
            r.int(srv.clients[k].subs.count(kind) as i64);
        }
        return;
    }
    for n in names {
        remove_sub(srv, k, kind, &n);
        if let Some(r) = out.as_deref_mut() {
            push_header(r, 3);
            r.bulk(kind.unsub_name());
            r.bulk(&n);
            r.int(srv.clients[k].subs.count(kind) as i64);
        }
    }
}

/// Drops every subscription of client `k` without replying (client closed, RESET).
pub fn unsubscribe_all(srv: &mut Server, k: usize) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        unsubscribe(srv, k, kind, &[], None);
    }
}

fn unsubscribe_cmd(c: &mut Ctx, kind: Kind) {
    let names: Vec<Vec<u8>> = (1..c.argc()).map(|i| c.arg(i).to_vec()).collect();
    unsubscribe(c.srv, c.cid, kind, &names, Some(c.out));
}

fn subscribe(c: &mut Ctx) {
    subscribe_generic(c, Kind::Channel);
}
fn psubscribe(c: &mut Ctx) {
    subscribe_generic(c, Kind::Pattern);
}
fn ssubscribe(c: &mut Ctx) {
    subscribe_generic(c, Kind::Shard);
}
fn unsubscribe_h(c: &mut Ctx) {
    unsubscribe_cmd(c, Kind::Channel);
}
fn punsubscribe(c: &mut Ctx) {
    unsubscribe_cmd(c, Kind::Pattern);
}
fn sunsubscribe(c: &mut Ctx) {
    unsubscribe_cmd(c, Kind::Shard);
}

fn publish_generic(c: &mut Ctx, shard: bool) {
    let (ch, msg) = (c.arg(1), c.arg(2));
    let running = Some(Running {
        cid: c.cid,
        resp: c.out.resp,
    });
    let n = publish(c.srv, running, ch, msg, shard);
    // PUBLISH propagates (replicas deliver to their own subscribers), but it does not
    // dirty the dataset: force it.
    c.force_propagate = true;
    c.out.int(n as i64);
}

fn publish_cmd(c: &mut Ctx) {
    publish_generic(c, false);
}
fn spublish(c: &mut Ctx) {
    publish_generic(c, true);
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern]: active channels matching the pattern.
fn channels_generic(c: &mut Ctx, shard: bool) {
    let pat = if c.argc() > 2 { Some(c.arg(2)) } else { None };
    let map = if shard {
        &c.srv.pubsub.shard
    } else {
        &c.srv.pubsub.channels
    };
    let names: Vec<&Vec<u8>> = map
        .keys()
        .filter(|ch| pat.is_none_or(|p| glob_match(p, ch, false)))
        .collect();
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n);
    }
}

fn numsub_generic(c: &mut Ctx, shard: bool) {
    let n = c.argc() - 2;
    c.out.array(n * 2);
    for i in 2..c.argc() {
        let ch = c.arg(i);
        let map = if shard {
            &c.srv.pubsub.shard
        } else {
            &c.srv.pubsub.channels
        };
        let count = map.get(ch).map_or(0, |s| s.len());
        c.out.bulk(ch);
        c.out.int(count as i64);
    }
}

fn pubsub_channels(c: &mut Ctx) {
    channels_generic(c, false);
}
fn pubsub_shardchannels(c: &mut Ctx) {
    channels_generic(c, true);
}
fn pubsub_numsub(c: &mut Ctx) {
    numsub_generic(c, false);
}
fn pubsub_shardnumsub(c: &mut Ctx) {
    numsub_generic(c, true);
}
fn pubsub_numpat(c: &mut Ctx) {
    let n = c.srv.pubsub.pattern_count();
    c.out.int(n as i64);
}
fn pubsub_help(c: &mut Ctx) {
    c.out.help_lines(crate::help::PUBSUB);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("subscribe", subscribe),
    ("psubscribe", psubscribe),
    ("ssubscribe", ssubscribe),
    ("unsubscribe", unsubscribe_h),
    ("punsubscribe", punsubscribe),
    ("sunsubscribe", sunsubscribe),
    ("publish", publish_cmd),
    ("spublish", spublish),
    ("pubsub|channels", pubsub_channels),
    ("pubsub|shardchannels", pubsub_shardchannels),
    ("pubsub|numsub", pubsub_numsub),
    ("pubsub|shardnumsub", pubsub_shardnumsub),
    ("pubsub|numpat", pubsub_numpat),
    ("pubsub|help", pubsub_help),
];
