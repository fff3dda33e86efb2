//! Stream storage (Redis `stream.h`, the low-level half of t_stream.c): an ordered map from
//! master id to listpack nodes laid out byte for byte as Redis's, so the RDB writer can copy
//! node bytes as they are (RDB_TYPE_STREAM_LISTPACKS_3).
//!
//! A node's listpack holds a master entry, then the entries:
//!
//! ```text
//! master: | count | deleted | num-fields | field_1 | ... | field_N | 0 |
//! entry:  | flags | ms-diff | seq-diff | num-fields | field_1 | value_1 | ... | lp-count |
//! or, with flags & SAMEFIELDS (same fields as the master entry, in order):
//!         | flags | ms-diff | seq-diff | value_1 | ... | value_N | lp-count |
//! ```
//!
//! `count` is the number of live entries, `deleted` the entries flagged DELETED (XDEL and
//! exact trims flag entries; a node whose live count drops to 0 is removed). The ids of
//! entries are deltas from the node's key (its master id, the id of the first entry added to
//! it). Redis keys the nodes in a rax by the 128-bit big-endian id; a `BTreeMap` keyed by
//! [`StreamId`] has the same order. [`rax_nodes`] computes the node count Redis's rax would
//! have for the same keys (XINFO STREAM's `radix-tree-nodes`).
//!
//! Consumer groups ([`Group`]) keep Redis's `streamCG`: last delivered id, entries read, the
//! PEL ordered by id ([`Nack`]: delivery time in unix ms, delivery count, owner), and the
//! consumers ([`Consumer`]: seen/active times in unix ms and their own PEL).

use pyrope_common::listpack::{Listpack, ListpackEntry, Pos};
use pyrope_common::util::string2ll;
use std::collections::{BTreeMap, BTreeSet};

/// Entry flag: deleted (`STREAM_ITEM_FLAG_DELETED`).
pub const FLAG_DELETED: i64 = 1;
/// Entry flag: same fields as the master entry (`STREAM_ITEM_FLAG_SAMEFIELDS`).
pub const FLAG_SAMEFIELDS: i64 = 2;
/// `STREAM_LISTPACK_MAX_SIZE`: a node never grows past 1 GiB.
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;
/// `SCG_INVALID_ENTRIES_READ`.
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A stream entry id `<ms>-<seq>` (`streamID`), ordered as Redis compares them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Unix time in ms (or any number the client chose).
    pub ms: u64,
    /// Sequence within the ms.
    pub seq: u64,
}

impl StreamId {
    /// 0-0.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id (`+`).
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An id.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next id (`streamIncrID`); None past the largest.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous id (`streamDecrID`); None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// True for 0-0.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// `<ms>-<seq>` text (`createStreamIDString`).
    pub fn to_bytes(self) -> Vec<u8> {
        self.text().as_bytes().to_vec()
    }

    /// `<ms>-<seq>` text in a stack buffer (at most 41 bytes: two 20-digit numbers and the
    /// dash), for replies that must not allocate (XADD's reply).
    pub fn text(self) -> IdText {
        /// "00" "01" ... "99".
        const PAIRS: [u8; 200] = {
            let mut t = [0u8; 200];
            let mut i = 0;
            while i < 100 {
                t[i * 2] = b'0' + (i / 10) as u8;
                t[i * 2 + 1] = b'0' + (i % 10) as u8;
                i += 1;
            }
            t
        };
        // Writes v's digits ending before `end`, two at a time; returns where they start.
        fn put(buf: &mut [u8; 41], mut end: usize, mut v: u64) -> usize {
            while v >= 100 {
                let r = (v % 100) as usize;
                v /= 100;
                end -= 2;
                buf[end..end + 2].copy_from_slice(&PAIRS[r * 2..r * 2 + 2]);
            }
            if v >= 10 {
                end -= 2;
                buf[end..end + 2].copy_from_slice(&PAIRS[v as usize * 2..v as usize * 2 + 2]);
            } else {
                end -= 1;
                buf[end] = b'0' + v as u8;
            }
            end
        }
        let mut buf = [0u8; 41];
        let start = put(&mut buf, 41, self.seq) - 1;
        buf[start] = b'-';
        let start = put(&mut buf, start, self.ms);
        IdText {
            buf,
            start: start as u8,
        }
    }

    /// The 128-bit big-endian form Redis keys its rax with (`streamEncodeID`).
    pub fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }
}

/// A [`StreamId`]'s `<ms>-<seq>` text, kept on the stack ([`StreamId::text`]).
#[derive(Clone, Copy)]
pub struct IdText {
    buf: [u8; 41],
    start: u8,
}

impl IdText {
    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start as usize..]
    }
}

/// `lpGetInteger`: an element read as an integer (strings parsed; never fails on our own
/// nodes).
fn int_of(e: ListpackEntry) -> i64 {
    match e {
        ListpackEntry::Int(v) => v,
        ListpackEntry::Str(s) => string2ll(s).unwrap_or(0),
    }
}

fn int_at(lp: &Listpack, p: Pos) -> i64 {
    int_of(lp.entry(p))
}

fn next(lp: &Listpack, p: Pos) -> Pos {
    lp.next_pos(p).expect("stream node layout")
}

/// One entry of a node as scanned: its id, flags, the position of its flags element and
/// where its fields are.
#[derive(Clone, Copy, Debug)]
pub struct RawEntry {
    pub id: StreamId,
    pub flags: i64,
    pub pos: Pos,
    /// Number of fields.
    pub nfields: usize,
    /// First value (SAMEFIELDS) or first field (otherwise); None without fields.
    pub first: Option<Pos>,
    /// First master field (used for SAMEFIELDS entries).
    pub master_field: Option<Pos>,
}

/// A node's master entry, read.
#[derive(Clone, Copy, Debug)]
pub struct NodeHeader {
    /// Live entries.
    pub count: i64,
    /// Entries flagged deleted.
    pub deleted: i64,
    /// Number of master fields.
    pub master_fields: usize,
    /// Position of the first master field (if any).
    pub first_field: Option<Pos>,
    /// Position of the first entry's flags (None for a node without entries).
    pub first_entry: Option<Pos>,
}

/// Reads a node's master entry.
pub fn header(lp: &Listpack) -> NodeHeader {
    let p = lp.first_pos().expect("stream node");
    let count = int_at(lp, p);
    let p = next(lp, p);
    let deleted = int_at(lp, p);
    let p = next(lp, p);
    let master_fields = int_at(lp, p).max(0) as usize;
    let mut p = next(lp, p);
    let first_field = (master_fields > 0).then_some(p);
    for _ in 0..master_fields {
        p = next(lp, p);
    }
    // p is the master terminator.
    NodeHeader {
        count,
        deleted,
        master_fields,
        first_field,
        first_entry: lp.next_pos(p),
    }
}

/// The entries of one node in id order, deleted ones included (`streamIteratorGetID`'s
/// walk of a listpack).
pub struct NodeIter<'a> {
    lp: &'a Listpack,
    master: StreamId,
    h: NodeHeader,
    cur: Option<Pos>,
}

impl<'a> NodeIter<'a> {
    /// Iterates the node `lp` keyed by `master`.
    pub fn new(master: StreamId, lp: &'a Listpack) -> NodeIter<'a> {
        let h = header(lp);
        NodeIter {
            lp,
            master,
            h,
            cur: h.first_entry,
        }
    }
}

impl Iterator for NodeIter<'_> {
    type Item = RawEntry;

    fn next(&mut self) -> Option<RawEntry> {
        let lp = self.lp;
        let p = self.cur?;
        let flags = int_at(lp, p);
        let q = next(lp, p);
        let ms = int_at(lp, q) as u64;
        let q = next(lp, q);
        let seq = int_at(lp, q) as u64;
        let mut q = next(lp, q);
        let (nfields, skip) = if flags & FLAG_SAMEFIELDS != 0 {
            (self.h.master_fields, self.h.master_fields)
        } else {
            let n = int_at(lp, q).max(0) as usize;
            q = next(lp, q);
            (n, n * 2)
        };
        let first = (nfields > 0).then_some(q);
        for _ in 0..skip {
            q = next(lp, q);
        }
        // q is the lp-count.
        self.cur = lp.next_pos(q);
        Some(RawEntry {
            id: StreamId::new(
                self.master.ms.wrapping_add(ms),
                self.master.seq.wrapping_add(seq),
            ),
            flags,
            pos: p,
            nfields,
            first,
            master_field: self.h.first_field,
        })
    }
}

/// Every entry of a node (deleted ones included), in id order.
pub fn scan(master: StreamId, lp: &Listpack) -> Vec<RawEntry> {
    NodeIter::new(master, lp).collect()
}

/// Calls `f(field, value)` for each field of the entry at `e` (of the node `lp`).
pub fn for_each_field<'a>(
    lp: &'a Listpack,
    e: &RawEntry,
    mut f: impl FnMut(ListpackEntry<'a>, ListpackEntry<'a>),
) {
    let Some(mut q) = e.first else {
        return;
    };
    if e.flags & FLAG_SAMEFIELDS != 0 {
        let mut fp = e.master_field;
        for i in 0..e.nfields {
            let fpos = fp.expect("master field");
            f(lp.entry(fpos), lp.entry(q));
            fp = lp.next_pos(fpos);
            if i + 1 < e.nfields {
                q = next(lp, q);
            }
        }
    } else {
        for i in 0..e.nfields {
            let fpos = q;
            q = next(lp, q);
            f(lp.entry(fpos), lp.entry(q));
            if i + 1 < e.nfields {
                q = next(lp, q);
            }
        }
    }
}

/// Number of fields of an entry.
pub fn num_fields(_lp: &Listpack, e: &RawEntry) -> usize {
    e.nfields
}

/// A pending entry of a consumer group (`streamNACK`).
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    /// Last delivery, unix ms.
    pub delivery_time: i64,
    /// Times delivered.
    pub delivery_count: u64,
    /// Name of the consumer that owns it.
    pub consumer: Vec<u8>,
}

/// A consumer of a group (`streamConsumer`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Consumer {
    /// Last interaction (read, claim attempt), unix ms.
    pub seen_time: i64,
    /// Last successful interaction (an entry delivered or claimed), unix ms; -1 never.
    pub active_time: i64,
    /// Its pending ids (details in the group PEL).
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group (`streamCG`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Group {
    /// Last id delivered with `>`.
    pub last_id: StreamId,
    /// Logical read counter (`entries_read`), [`INVALID_ENTRIES_READ`] when unknown.
    pub entries_read: i64,
    /// Pending entries of every consumer, by id.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name (Redis's rax order: bytes).
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

/// A stream (`stream` in stream.h).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Stream {
    /// Nodes by master id.
    pub nodes: BTreeMap<StreamId, Listpack>,
    /// Live entries.
    pub length: u64,
    /// Last id added (or set by XSETID).
    pub last_id: StreamId,
    /// First live id (0-0 when empty).
    pub first_id: StreamId,
    /// Largest id ever deleted by XDEL (`max_deleted_entry_id`).
    pub max_deleted_id: StreamId,
    /// Entries ever added (`entries_added`).
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Vec<u8>, Group>,
}

/// Why an append failed.
#[derive(Debug, PartialEq)]
pub enum AppendError {
    /// The id is not greater than the top item (EDOM).
    IdTooSmall,
    /// The fields would not fit a node (ERANGE).
    TooLarge,
}

/// Node limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: i64,
}

/// How XADD/XTRIM trims (`streamAddTrimArgs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries with ids below this one.
    MinId(StreamId),
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Appends an entry (`streamAppendItem`): `id` None generates one from `now_ms`
    /// (`streamNextID`); `Some((id, seq_given))` uses it (`<ms>-*` when `!seq_given`).
    /// `fields` are field, value pairs. Returns the id added.
    pub fn append(
        &mut self,
        fields: &[&[u8]],
        id: Option<(StreamId, bool)>,
        now_ms: u64,
        lim: NodeLimits,
    ) -> Result<StreamId, AppendError> {
        let id = match id {
            None => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().ok_or(AppendError::IdTooSmall)?
                }
            }
            Some((id, true)) => id,
            Some((id, false)) => {
                if self.last_id.ms == id.ms {
                    if self.last_id.seq == u64::MAX {
                        return Err(AppendError::IdTooSmall);
                    }
                    StreamId::new(id.ms, self.last_id.seq + 1)
                } else {
                    StreamId::new(id.ms, 0)
                }
            }
        };
        if id <= self.last_id {
            return Err(AppendError::IdTooSmall);
        }
        let numfields = fields.len() / 2;
        let totelelen: usize = fields.iter().map(|f| f.len()).sum();
        if totelelen >= LISTPACK_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let mut node_max_bytes = lim.max_bytes;
        if node_max_bytes == 0 || node_max_bytes > LISTPACK_MAX_SIZE {
            node_max_bytes = LISTPACK_MAX_SIZE;
        }
        // The last node's master entry, read once: None when a new node is needed.
        let mut last_header = None;
        if let Some((_, lp)) = self.nodes.last_key_value() {
            if lp.bytes() + totelelen < node_max_bytes {
                let h = header(lp);
                if lim.max_entries <= 0 || h.count + h.deleted < lim.max_entries {
                    last_header = Some(h);
                }
            }
        }
        let mut flags = 0;
        let (master, lp) = if let Some(h) = last_header {
            let (&master, lp) = self.nodes.last_key_value().expect("last node");
            if h.master_fields == numfields {
                let mut p = h.first_field;
                let mut same = true;
                for i in 0..numfields {
                    let fp = p.expect("master field");
                    let e = lp.entry(fp);
                    let eq = match e {
                        ListpackEntry::Str(s) => s == fields[i * 2],
                        ListpackEntry::Int(v) => {
                            let mut b = Vec::with_capacity(20);
                            pyrope_common::util::push_i64(&mut b, v);
                            b == fields[i * 2]
                        }
                    };
                    if !eq {
                        same = false;
                        break;
                    }
                    p = lp.next_pos(fp);
                }
                if same {
                    flags |= FLAG_SAMEFIELDS;
                }
            }
            let lp = self.nodes.get_mut(&master).expect("last node");
            let first = lp.first_pos().expect("master entry");
            lp.replace_int_at(first, h.count + 1);
            (master, lp)
        } else {
            if let Some(mut e) = self.nodes.last_entry() {
                e.get_mut().shrink_to_fit();
            }
            let mut lp = Listpack::new();
            let mut items = Vec::with_capacity(numfields + 4);
            items.push(ListpackEntry::Int(1));
            items.push(ListpackEntry::Int(0));
            items.push(ListpackEntry::Int(numfields as i64));
            for i in 0..numfields {
                items.push(ListpackEntry::Str(fields[i * 2]));
            }
            items.push(ListpackEntry::Int(0));
            lp.push_back_all(&items);
            flags |= FLAG_SAMEFIELDS;
            let lp = self.nodes.entry(id).or_insert(lp);
            (id, lp)
        };
        let same = flags & FLAG_SAMEFIELDS != 0;
        let mut lp_count = numfields as i64 + 3;
        if !same {
            lp_count += numfields as i64 + 1;
        }
        // flags, ms-diff, seq-diff, [numfields, field,] value ..., lp-count.
        let head = [
            ListpackEntry::Int(flags),
            ListpackEntry::Int(id.ms.wrapping_sub(master.ms) as i64),
            ListpackEntry::Int(id.seq.wrapping_sub(master.seq) as i64),
        ];
        let nf = (!same).then_some(ListpackEntry::Int(numfields as i64));
        let body = fields[..numfields * 2]
            .iter()
            .enumerate()
            .filter(move |(i, _)| !same || i % 2 == 1)
            .map(|(_, f)| ListpackEntry::Str(f));
        // Grown to the allocator's size class (the listpack's own growth): the same block an
        // exact realloc gets (and MEMORY USAGE counts), but the next appends that fit in it
        // skip realloc.
        lp.push_back_each(
            head.into_iter()
                .chain(nf)
                .chain(body)
                .chain(std::iter::once(ListpackEntry::Int(lp_count))),
        );
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Visits live entries with ids in `start..=end`, ascending (or descending with `rev`),
    /// while `f` returns true (`streamIterator`).
    pub fn range<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(&'a Listpack, &RawEntry) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let lo = self
                .nodes
                .range(..=start)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(start);
            for (&master, lp) in self.nodes.range(lo..=end) {
                for e in NodeIter::new(master, lp) {
                    if e.flags & FLAG_DELETED != 0 || e.id < start {
                        continue;
                    }
                    if e.id > end || !f(lp, &e) {
                        return;
                    }
                }
            }
        } else {
            for (&master, lp) in self.nodes.range(..=end).rev() {
                for e in scan(master, lp).iter().rev() {
                    if e.flags & FLAG_DELETED != 0 || e.id > end {
                        continue;
                    }
                    if e.id < start || !f(lp, e) {
                        return;
                    }
                }
            }
        }
    }

    /// First (or last) live id (`streamGetEdgeID` skipping tombstones); None when empty.
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, !first, |_, e| {
            out = Some(e.id);
            false
        });
        out
    }

    /// The last live id, or 0-0 (`streamLastValidID`).
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false).unwrap_or_default()
    }

    /// Deletes the entry `id` (`streamDeleteItem`); false if it is not there.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, _)) = self.nodes.range(..=id).next_back() else {
            return false;
        };
        let lp = self.nodes.get_mut(&master).expect("node");
        let Some(e) = scan(master, lp)
            .into_iter()
            .find(|e| e.id == id && e.flags & FLAG_DELETED == 0)
        else {
            return false;
        };
        let h = header(lp);
        if h.count == 1 {
            self.nodes.remove(&master);
        } else {
            lp.replace_int_at(e.pos, e.flags | FLAG_DELETED);
            let p = lp.first_pos().expect("master");
            lp.replace_int_at(p, h.count - 1);
            let p = next(lp, p);
            lp.replace_int_at(p, h.deleted + 1);
        }
        self.length -= 1;
        true
    }

    /// Trims (`streamTrim`): whole nodes first; with `approx` stops at the first node it
    /// cannot remove whole, else flags entries deleted inside it. `limit` (0 = none) bounds
    /// the entries removed in whole nodes. Returns the number of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: i64) -> i64 {
        let mut deleted: i64 = 0;
        loop {
            if let Trim::MaxLen(maxlen) = how {
                if self.length <= maxlen {
                    break;
                }
            }
            let Some((&master, lp)) = self.nodes.first_key_value() else {
                break;
            };
            let h = header(lp);
            let entries = h.count;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(maxlen) => self.length - entries as u64 >= maxlen,
                Trim::MinId(min) => {
                    let all = scan(master, lp);
                    let last = all.last().map(|e| e.id).unwrap_or(master);
                    last < min
                }
            };
            if remove_node {
                self.nodes.remove(&master);
                self.length -= entries as u64;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let all = scan(master, lp);
            let lp = self.nodes.get_mut(&master).expect("node");
            let mut from_lp = 0i64;
            for e in all {
                let stop = match how {
                    Trim::MaxLen(maxlen) => self.length <= maxlen,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if e.flags & FLAG_DELETED == 0 {
                    lp.replace_int_at(e.pos, e.flags | FLAG_DELETED);
                    from_lp += 1;
                    self.length -= 1;
                }
            }
            deleted += from_lp;
            let p = lp.first_pos().expect("master");
            lp.replace_int_at(p, entries - from_lp);
            let p = next(lp, p);
            lp.replace_int_at(p, h.deleted + from_lp);
            break;
        }
        if self.length > 0 {
            self.first_id = self.edge_id(true).unwrap_or_default();
        } else {
            self.first_id = StreamId::MIN;
        }
        deleted
    }

    /// Heap bytes (nodes, their map slots, groups), approximately.
    pub fn heap_size(&self) -> usize {
        let nodes: usize = self
            .nodes
            .values()
            .map(|lp| lp.bytes() + std::mem::size_of::<(StreamId, Listpack)>())
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| {
                n.len()
                    + std::mem::size_of::<Group>()
                    + g.pel.len() * (std::mem::size_of::<(StreamId, Nack)>() + 16)
                    + g.consumers.len() * std::mem::size_of::<Consumer>()
            })
            .sum();
        std::mem::size_of::<Stream>() + nodes + groups
    }

    /// Allocations freeing the stream takes (`lazyfreeGetFreeEffort`: nodes + groups' PEL
    /// sizes... as Redis: rax nodes plus, per group, its PEL size).
    pub fn free_effort(&self) -> usize {
        self.nodes.len() + self.groups.values().map(|g| g.pel.len() + 1).sum::<usize>()
    }

    /// Whether `start..=end` (None: open) may hold a tombstone
    /// (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        let s = start.unwrap_or(StreamId::MIN);
        let e = end.unwrap_or(StreamId::MAX);
        s <= self.max_deleted_id && self.max_deleted_id <= e
    }

    /// The logical read counter of `id` (`streamEstimateDistanceFromFirstEverEntry`), or
    /// None (`SCG_INVALID_ENTRIES_READ`) when it cannot be known.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        } else if id > self.last_id {
            return None;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            } else if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }
}

/// The number of nodes Redis's rax holds for these keys (sorted, distinct, 16 bytes each):
/// the root, every branching point, every child of a branching point and every leaf, with
/// chains of single children compressed into one node (`rax->numnodes` after insertions).
pub fn rax_nodes(keys: &[[u8; 16]]) -> usize {
    fn walk(keys: &[[u8; 16]], depth: usize) -> usize {
        if keys.len() == 1 {
            return usize::from(depth < 16);
        }
        let (a, b) = (&keys[0], &keys[keys.len() - 1]);
        let mut l = depth;
        while l < 16 && a[l] == b[l] {
            l += 1;
        }
        if l > depth {
            1 + branch(keys, l)
        } else {
            branch(keys, depth)
        }
    }
    fn branch(keys: &[[u8; 16]], d: usize) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < keys.len() {
            let mut j = i + 1;
            while j < keys.len() && keys[j][d] == keys[i][d] {
                j += 1;
            }
            n += 1 + walk(&keys[i..j], d + 1);
            i = j;
        }
        n
    }
    if keys.is_empty() {
        return 1;
    }
    1 + walk(keys, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lim(entries: i64) -> NodeLimits {
        NodeLimits {
            max_bytes: 4096,
            max_entries: entries,
        }
    }

    fn model_check(s: &Stream, m: &BTreeMap<StreamId, Vec<Vec<u8>>>) {
        let mut got = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, false, |lp, e| {
            let mut f = Vec::new();
            for_each_field(lp, e, |a, b| {
                f.push(a.to_vec());
                f.push(b.to_vec());
            });
            got.push((e.id, f));
            true
        });
        let want: Vec<_> = m.iter().map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(got, want);
        assert_eq!(s.length as usize, m.len());
        let mut rev = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, true, |_, e| {
            rev.push(e.id);
            true
        });
        rev.reverse();
        assert_eq!(rev, m.keys().copied().collect::<Vec<_>>());
        for lp in s.nodes.values() {
            pyrope_common::listpack::check_listpack_invariants(lp.as_bytes());
            // An exact trim can flag a node's last live entry and keep the node (Redis's
            // streamTrim does; only XDEL removes a node it empties): count may be 0, but a
            // node always holds entries.
            let h = header(lp);
            assert!(h.count + h.deleted > 0);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u64, u8),
        Del(u64),
        TrimLen(u64, bool),
        TrimMin(u64, bool),
    }

    proptest! {
        #[test]
        fn node_storage_matches_a_btreemap(ops in proptest::collection::vec(
            prop_oneof![
                6 => (1u64..4, 0u8..4).prop_map(|(d, f)| Op::Add(d, f)),
                2 => (0u64..200).prop_map(Op::Del),
                1 => (0u64..50, any::<bool>()).prop_map(|(n, a)| Op::TrimLen(n, a)),
                1 => (0u64..400, any::<bool>()).prop_map(|(n, a)| Op::TrimMin(n, a)),
            ], 1..200), entries in 1i64..8) {
            let mut s = Stream::new();
            let mut m: BTreeMap<StreamId, Vec<Vec<u8>>> = BTreeMap::new();
            let mut ms = 0u64;
            for op in ops {
                match op {
                    Op::Add(d, f) => {
                        ms += d;
                        let fields: Vec<Vec<u8>> = match f {
                            0 => vec![b"a".to_vec(), b"1".to_vec()],
                            1 => vec![b"a".to_vec(), b"x".to_vec(), b"b".to_vec(), b"12".to_vec()],
                            2 => vec![b"7".to_vec(), b"v".to_vec()],
                            _ => vec![b"a".to_vec(), ms.to_string().into_bytes()],
                        };
                        let refs: Vec<&[u8]> = fields.iter().map(|v| v.as_slice()).collect();
                        let id = s.append(&refs, Some((StreamId::new(ms, 0), false)), 0, lim(entries)).unwrap();
                        m.insert(id, fields);
                    }
                    Op::Del(i) => {
                        let id = StreamId::new(i, 0);
                        assert_eq!(s.delete(id), m.remove(&id).is_some());
                    }
                    Op::TrimLen(n, approx) => {
                        let removed = s.trim(Trim::MaxLen(n), approx, 0);
                        for _ in 0..removed {
                            let k = *m.keys().next().unwrap();
                            m.remove(&k);
                        }
                        if !approx {
                            assert!(m.len() as u64 <= n);
                        }
                    }
                    Op::TrimMin(n, approx) => {
                        let min = StreamId::new(n, 0);
                        let removed = s.trim(Trim::MinId(min), approx, 0);
                        let before = m.len();
                        let keep = m.split_off(&min);
                        let gone = m.len();
                        if approx {
                            // whole nodes only: what was removed is a prefix
                            let mut all = std::mem::take(&mut m);
                            all.extend(keep);
                            let drop: Vec<_> = all.keys().take(removed as usize).copied().collect();
                            for k in drop { all.remove(&k); }
                            m = all;
                        } else {
                            assert_eq!(removed as usize, gone);
                            m = keep;
                        }
                        assert_eq!(before - m.len(), removed as usize);
                    }
                }
                model_check(&s, &m);
            }
        }
    }

    #[test]
    fn id_text_matches_format() {
        for ms in [0u64, 1, 9, 10, 99, 100, 101, 1_733_540_000_123, u64::MAX] {
            for seq in [0u64, 5, 10, 99, 100, 12345, u64::MAX - 1, u64::MAX] {
                let id = StreamId::new(ms, seq);
                assert_eq!(id.text().as_bytes(), format!("{ms}-{seq}").as_bytes());
                assert_eq!(id.to_bytes(), format!("{ms}-{seq}").into_bytes());
            }
        }
    }

    #[test]
    fn rax_node_counts() {
        assert_eq!(rax_nodes(&[]), 1);
        assert_eq!(rax_nodes(&[StreamId::new(1, 0).encode()]), 2);
    }
}
