//! Lists (Redis t_list.c and quicklist.c): the value type [`ListValue`] with Redis's two
//! encodings, and the list commands LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX
//! LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP, and the blocking BLPOP BRPOP BLMOVE
//! BRPOPLPUSH BLMPOP on the blocking core (`crate::blocking`).
//!
//! Encodings, as Redis 7.2+: a small list is one listpack (`listpack`); when a push or an
//! insertion would take it past one quicklist node's limit (`list-max-listpack-size`: a
//! negative value is a byte size class of 4/8/16/32/64 KiB, a positive one an element
//! count, `quicklistNodeExceedsLimit`) it becomes a `quicklist`: a deque of listpack nodes,
//! each filled up to that limit (`_quicklistNodeAllowInsert`). After deletions a quicklist of
//! one node at most half the limit converts back (`listTypeTryConvertQuicklist` with
//! shrinking). The listpack bytes are Redis's own (`common::listpack`), so the RDB writer and
//! DUMP can copy nodes as they are.
//!
//! Every change goes through the keyspace's mutation path: `touched` with the command's event
//! (lpush, rpush, lpop, rpop, linsert, lset, lrem, ltrim), `add` for a new list, and `delete`
//! with "del" when a list empties, in Redis's order.

use crate::blocking::BlockKind;
use crate::command::{Ctx, Handler};
use crate::keyspace::{ev, Deletion, Ev, KeyRef, NewValue};
use crate::object::{ObjType, Value};
use crate::reply::errors;
use pyrope_common::listpack::{Listpack, ListpackEntry};
use pyrope_common::util::string2ll;
use std::collections::VecDeque;

/// Byte limits of the negative `list-max-listpack-size` classes (quicklist.c
/// `optimization_level`).
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Count-limited nodes still never exceed this many bytes (`SIZE_SAFETY_LIMIT`).
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Per-element overhead estimate added before an insertion (`SIZE_ESTIMATE_OVERHEAD`).
const SIZE_ESTIMATE_OVERHEAD: usize = 8;

/// (byte limit, count limit) of one node for `fill` (`quicklistNodeLimit`).
fn node_limit(fill: i64) -> (usize, usize) {
    if fill >= 0 {
        (usize::MAX, if fill == 0 { 1 } else { fill as usize })
    } else {
        let off = ((-fill) - 1).min(OPTIMIZATION_LEVEL.len() as i64 - 1) as usize;
        (OPTIMIZATION_LEVEL[off], usize::MAX)
    }
}

/// True if a node of `new_sz` bytes and `new_count` elements is over the limit
/// (`quicklistNodeExceedsLimit`).
fn exceeds_limit(fill: i64, new_sz: usize, new_count: usize) -> bool {
    let (sz, count) = node_limit(fill);
    if sz != usize::MAX {
        new_sz > sz
    } else {
        new_sz > SIZE_SAFETY_LIMIT || new_count > count
    }
}

/// True if `node` may take one more element of `sz` bytes (`_quicklistNodeAllowInsert`).
fn allow_insert(node: &Listpack, fill: i64, sz: usize) -> bool {
    !exceeds_limit(
        fill,
        node.bytes() + sz + SIZE_ESTIMATE_OVERHEAD,
        node.len() + 1,
    )
}

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    /// LEFT / head.
    Head,
    /// RIGHT / tail.
    Tail,
}

impl End {
    fn parse(a: &[u8]) -> Option<End> {
        match crate::command::opt(a).as_slice() {
            b"left" => Some(End::Head),
            b"right" => Some(End::Tail),
            _ => None,
        }
    }
    fn push_event(self) -> Ev {
        match self {
            End::Head => ev::LPUSH,
            End::Tail => ev::RPUSH,
        }
    }
    fn pop_event(self) -> Ev {
        match self {
            End::Head => ev::LPOP,
            End::Tail => ev::RPOP,
        }
    }
}

/// A list value in one of Redis's two encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum ListValue {
    /// One listpack (`OBJ_ENCODING_LISTPACK`).
    Listpack(Listpack),
    /// A quicklist: listpack nodes, none empty (`OBJ_ENCODING_QUICKLIST`). Boxed so that
    /// `Value` stays 32 bytes.
    Quicklist(Box<Quicklist>),
}

/// The nodes of a quicklist and their total element count (Redis `quicklist->count`: LLEN
/// and every push reply are O(1), not a walk over thousands of nodes). Reads go through
/// `Deref` to the nodes; every change of the element count is made by a `ListValue` method,
/// which keeps `count` in step.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Quicklist {
    nodes: VecDeque<Listpack>,
    count: usize,
    /// The node limit this list was created with (`quicklist->fill`: a later CONFIG SET of
    /// `list-max-listpack-size` applies to new lists only, as in Redis).
    fill: i64,
}

impl std::ops::Deref for Quicklist {
    type Target = VecDeque<Listpack>;
    fn deref(&self) -> &VecDeque<Listpack> {
        &self.nodes
    }
}

impl std::ops::DerefMut for Quicklist {
    fn deref_mut(&mut self) -> &mut VecDeque<Listpack> {
        &mut self.nodes
    }
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue::Listpack(Listpack::new())
    }
}

impl ListValue {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ListValue::Listpack(lp) => lp.len(),
            ListValue::Quicklist(q) => q.count,
        }
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of quicklist nodes (1 for a listpack): `lazyfreeGetFreeEffort` for lists.
    pub fn nodes(&self) -> usize {
        match self {
            ListValue::Listpack(_) => 1,
            ListValue::Quicklist(q) => q.len(),
        }
    }

    /// (nodes, total listpack bytes, fill) of a quicklist (DEBUG OBJECT's `ql_*` fields),
    /// None for a listpack.
    pub fn quicklist_stats(&self) -> Option<(usize, usize, i64)> {
        match self {
            ListValue::Listpack(_) => None,
            ListValue::Quicklist(q) => Some((q.len(), q.iter().map(|n| n.bytes()).sum(), q.fill)),
        }
    }

    /// Heap bytes of the nodes.
    pub fn heap_size(&self) -> usize {
        match self {
            ListValue::Listpack(lp) => lp.bytes(),
            ListValue::Quicklist(q) => q.iter().map(|n| n.bytes() + 32).sum(),
        }
    }

    /// The nodes in order (a listpack is one node).
    pub fn node_slices(&self) -> (&[Listpack], &[Listpack]) {
        match self {
            ListValue::Listpack(lp) => (std::slice::from_ref(lp), &[]),
            ListValue::Quicklist(q) => q.as_slices(),
        }
    }

    /// Iterates the elements head to tail (double-ended).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = ListpackEntry<'_>> + '_ {
        let (a, b) = self.node_slices();
        a.iter().chain(b.iter()).flat_map(|n| n.iter())
    }

    /// A list built the way SORT ... STORE builds its result (sort.c): a quicklist created
    /// with `fill` (`createQuicklistObject`), every element pushed at the tail, then
    /// `listTypeTryConversion(LIST_CONV_AUTO)` — back to a listpack when it is one node
    /// within the node limits (not halved: this is no shrink).
    pub fn build_stored<'e>(fill: i64, elements: impl IntoIterator<Item = &'e [u8]>) -> ListValue {
        let mut l = ListValue::Quicklist(Box::new(Quicklist {
            nodes: VecDeque::new(),
            count: 0,
            fill,
        }));
        for e in elements {
            l.push(End::Tail, e);
        }
        if let ListValue::Quicklist(q) = &mut l {
            let (sz, count) = node_limit(fill);
            if q.len() == 1 && q[0].bytes() <= sz && q[0].len() <= count {
                let lp = q.pop_front().unwrap_or_default();
                return ListValue::Listpack(lp);
            }
        }
        l
    }

    /// A list loaded from RDB quicklist nodes (none empty), as Redis 7.4's `rdbLoadObject`:
    /// the nodes are kept as they are in a quicklist created with `fill`, then a single node
    /// within the node limits becomes a listpack-encoded list (not halved: no shrink).
    pub fn from_loaded_nodes(fill: i64, nodes: Vec<Listpack>) -> ListValue {
        let count = nodes.iter().map(|n| n.len()).sum();
        let (sz, cnt) = node_limit(fill);
        if nodes.len() == 1 && nodes[0].bytes() <= sz && nodes[0].len() <= cnt {
            return ListValue::Listpack(nodes.into_iter().next().unwrap_or_default());
        }
        ListValue::Quicklist(Box::new(Quicklist {
            nodes: nodes.into(),
            count,
            fill,
        }))
    }

    /// Converts to a quicklist before adding `add_len` elements of `add_bytes` bytes if one
    /// listpack could not hold them (`listTypeTryConvertListpack`).
    pub fn grow_check(&mut self, fill: i64, add_bytes: usize, add_len: usize) {
        if let ListValue::Listpack(lp) = self {
            if exceeds_limit(fill, lp.bytes() + add_bytes, lp.len() + add_len) {
                let lp = std::mem::take(lp);
                let count = lp.len();
                let mut nodes = VecDeque::new();
                if !lp.is_empty() {
                    nodes.push_back(lp);
                }
                *self = ListValue::Quicklist(Box::new(Quicklist { nodes, count, fill }));
            }
        }
    }

    /// Converts a one-node quicklist at most half a node's limit back to a listpack
    /// (`listTypeTryConvertQuicklist` with shrinking).
    pub fn shrink_check(&mut self, fill: i64) {
        if let ListValue::Quicklist(q) = self {
            if q.len() != 1 {
                return;
            }
            let (sz, count) = node_limit(fill);
            let node = &q[0];
            if node.bytes() > sz / 2 || node.len() > count / 2 {
                return;
            }
            let lp = q.pop_front().unwrap_or_default();
            *self = ListValue::Listpack(lp);
        }
    }

    /// Pushes one element at `end` (`quicklistPush`).
    pub fn push(&mut self, end: End, e: &[u8]) {
        match self {
            ListValue::Listpack(lp) => match end {
                End::Head => lp.push_front(e),
                End::Tail => lp.push_back(e),
            },
            ListValue::Quicklist(q) => {
                let fill = q.fill;
                let node = match end {
                    End::Head => q.front_mut(),
                    End::Tail => q.back_mut(),
                };
                match node {
                    Some(n) if allow_insert(n, fill, e.len()) => match end {
                        End::Head => n.push_front(e),
                        End::Tail => n.push_back(e),
                    },
                    _ => {
                        let mut n = Listpack::new();
                        n.push_back(e);
                        match end {
                            End::Head => q.push_front(n),
                            End::Tail => q.push_back(n),
                        }
                    }
                }
                q.count += 1;
            }
        }
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let node = match self {
            ListValue::Listpack(lp) => lp,
            ListValue::Quicklist(q) => match end {
                End::Head => q.front_mut()?,
                End::Tail => q.back_mut()?,
            },
        };
        let pos = match end {
            End::Head => node.first_pos()?,
            End::Tail => node.last_pos()?,
        };
        let v = node.entry(pos).to_vec();
        node.delete_at(pos);
        if let ListValue::Quicklist(q) = self {
            q.count -= 1;
            match end {
                End::Head if q.front().is_some_and(|n| n.is_empty()) => {
                    q.pop_front();
                }
                End::Tail if q.back().is_some_and(|n| n.is_empty()) => {
                    q.pop_back();
                }
                _ => {}
            }
        }
        Some(v)
    }

    /// Iterates the elements from position `i` (< len) to the tail, skipping whole nodes
    /// before it (LRANGE far from the head does not decode what it skips).
    pub fn iter_from(&self, i: usize) -> impl Iterator<Item = ListpackEntry<'_>> + '_ {
        let (k, j) = self.locate(i);
        let (a, b) = self.node_slices();
        a.iter()
            .chain(b.iter())
            .skip(k)
            .flat_map(|n| n.iter())
            .skip(j)
    }

    /// (node, index within node) of element `i` (< len).
    fn locate(&self, mut i: usize) -> (usize, usize) {
        let (a, b) = self.node_slices();
        for (k, n) in a.iter().chain(b.iter()).enumerate() {
            if i < n.len() {
                return (k, i);
            }
            i -= n.len();
        }
        unreachable!("index checked against len")
    }

    fn node_mut(&mut self, k: usize) -> &mut Listpack {
        match self {
            ListValue::Listpack(lp) => lp,
            ListValue::Quicklist(q) => &mut q[k],
        }
    }

    /// Resolves a Redis index (negative from the tail) to a position, None if out of range.
    pub fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The element at position `i` (< len).
    pub fn get(&self, i: usize) -> Vec<u8> {
        let (k, j) = self.locate(i);
        let (a, b) = self.node_slices();
        let n = if k < a.len() { &a[k] } else { &b[k - a.len()] };
        n.get(j).map(|e| e.to_vec()).unwrap_or_default()
    }

    /// Replaces the element at position `i` (< len) (`quicklistReplaceAtIndex`).
    pub fn set(&mut self, i: usize, e: &[u8]) {
        let (k, j) = self.locate(i);
        self.node_mut(k).replace(j, e);
    }

    /// Inserts `e` before (or after) position `i` (< len) (`quicklistInsertBefore/After`):
    /// into the pivot's node if it has room, else into a neighbour at the matching edge, else
    /// by splitting the node.
    pub fn insert(&mut self, i: usize, after: bool, e: &[u8]) {
        let (k, j) = self.locate(i);
        let at = if after { j + 1 } else { j };
        match self {
            ListValue::Listpack(lp) => lp.insert(at, e),
            ListValue::Quicklist(q) => {
                let fill = q.fill;
                if allow_insert(&q[k], fill, e.len()) {
                    q[k].insert(at, e);
                } else if at == q[k].len()
                    && k + 1 < q.len()
                    && allow_insert(&q[k + 1], fill, e.len())
                {
                    q[k + 1].push_front(e);
                } else if at == 0 && k > 0 && allow_insert(&q[k - 1], fill, e.len()) {
                    q[k - 1].push_back(e);
                } else {
                    // Split: [..at] stays, the new element gets its own node, [at..] follows.
                    let mut right = Listpack::new();
                    for x in q[k].iter().skip(at) {
                        right.push_back(&x.to_vec());
                    }
                    let tail = q[k].len() - at;
                    if tail > 0 {
                        q[k].delete_range(at as i64, tail);
                    }
                    let mut mid = Listpack::new();
                    mid.push_back(e);
                    let mut ins = k + 1;
                    if q[k].is_empty() {
                        q[k] = mid;
                    } else {
                        q.insert(ins, mid);
                        ins += 1;
                    }
                    if !right.is_empty() {
                        q.insert(ins, right);
                    }
                }
                q.count += 1;
            }
        }
    }

    /// Removes elements equal to `e`: `count` > 0 from the head, < 0 from the tail, 0 all
    /// (LREM). Returns how many were removed.
    pub fn remove(&mut self, e: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        let n = self.nodes();
        let order: Vec<usize> = if count < 0 {
            (0..n).rev().collect()
        } else {
            (0..n).collect()
        };
        for k in order {
            if removed == limit {
                break;
            }
            let node = self.node_mut(k);
            if count < 0 {
                let mut pos = node.last_pos();
                while let Some(p) = pos {
                    if removed == limit {
                        break;
                    }
                    let prev = node.prev_pos(p);
                    if node.entry(p).eq_bytes(e) {
                        node.delete_at(p);
                        removed += 1;
                    }
                    pos = prev;
                }
            } else {
                let mut pos = node.first_pos();
                while let Some(p) = pos {
                    if removed == limit {
                        break;
                    }
                    if node.entry(p).eq_bytes(e) {
                        pos = node.delete_at(p);
                        removed += 1;
                    } else {
                        pos = node.next_pos(p);
                    }
                }
            }
        }
        if let ListValue::Quicklist(q) = self {
            q.count -= removed;
        }
        self.drop_empty_nodes();
        removed
    }

    fn drop_empty_nodes(&mut self) {
        if let ListValue::Quicklist(q) = self {
            q.retain(|n| !n.is_empty());
        }
    }

    /// Deletes `ltrim` elements from the head and `rtrim` from the tail (LTRIM).
    pub fn trim(&mut self, mut ltrim: usize, mut rtrim: usize) {
        match self {
            ListValue::Listpack(lp) => {
                if ltrim > 0 {
                    lp.delete_range(0, ltrim);
                }
                if rtrim > 0 {
                    lp.delete_range(-(rtrim as i64), rtrim);
                }
            }
            ListValue::Quicklist(q) => {
                while ltrim > 0 {
                    let Some(n) = q.front_mut() else { break };
                    let take = n.len().min(ltrim);
                    if n.len() <= ltrim {
                        q.pop_front();
                    } else {
                        n.delete_range(0, ltrim);
                    }
                    ltrim -= take;
                    q.count -= take;
                }
                while rtrim > 0 {
                    let Some(n) = q.back_mut() else { break };
                    let take = n.len().min(rtrim);
                    if n.len() <= rtrim {
                        q.pop_back();
                    } else {
                        n.delete_range(-(rtrim as i64), rtrim);
                    }
                    rtrim -= take;
                    q.count -= take;
                }
            }
        }
    }
}

/// `list-max-listpack-size`.
fn fill(c: &Ctx) -> i64 {
    c.srv.settings.list_max_listpack_size
}

/// Result of looking up a key that must hold a list (WRONGTYPE replied).
enum ListLookup {
    Missing,
    Found(KeyRef),
    WrongType,
}

fn lookup_list(c: &mut Ctx, key: &[u8], write: bool) -> ListLookup {
    let h = if write {
        c.lookup_write(key)
    } else {
        c.lookup_read(key)
    };
    match h {
        None => ListLookup::Missing,
        Some(h) if c.srv.ks.get(h).obj_type() == ObjType::List => ListLookup::Found(h),
        Some(_) => {
            c.out.wrong_type();
            ListLookup::WrongType
        }
    }
}

/// The list behind a handle (the caller checked the type).
fn list_mut<'a>(c: &'a mut Ctx, h: KeyRef) -> &'a mut ListValue {
    match c.srv.ks.get_mut(h).into_value_mut() {
        Some(Value::List(l)) => l,
        _ => unreachable!("type checked by lookup_list"),
    }
}

fn list_ref<'a>(c: &'a Ctx, h: KeyRef) -> &'a ListValue {
    match c.srv.ks.get(h).value() {
        crate::keyspace::ValueRef::Boxed(Value::List(l)) => l,
        _ => unreachable!("type checked by lookup_list"),
    }
}

/// The list at `key` if `found`, else a new empty one added there ("new" event; the caller
/// reports its push event).
fn existing_or_new(c: &mut Ctx, key: &[u8], found: Option<KeyRef>) -> KeyRef {
    match found {
        Some(h) => h,
        None => {
            let lru = c.srv.new_key_lru();
            let db = c.db;
            let v = NewValue::Boxed(Box::new(Value::List(ListValue::default())));
            c.srv.ks.add(db, key, v, None, lru, None)
        }
    }
}

/// After elements were removed: shrink the encoding if it can, or delete the emptied key
/// ("del" after the command's own event, as `listElementsRemoved`).
fn after_removal(c: &mut Ctx, h: KeyRef) {
    let f = fill(c);
    let l = list_mut(c, h);
    if l.is_empty() {
        c.srv.ks.delete(h, Deletion::Server, Some(ev::DEL));
    } else {
        l.shrink_check(f);
    }
}

fn push_generic(c: &mut Ctx, end: End, only_existing: bool) {
    let key = c.arg(1);
    let h = match lookup_list(c, key, true) {
        ListLookup::WrongType => return,
        ListLookup::Missing if only_existing => return c.out.int(0),
        ListLookup::Missing => None,
        ListLookup::Found(h) => Some(h),
    };
    let f = fill(c);
    let (add_bytes, add_len) = (
        (2..c.argc()).map(|i| c.arg(i).len()).sum::<usize>(),
        c.argc() - 2,
    );
    let h = existing_or_new(c, key, h);
    let argv = c.argv;
    let l = list_mut(c, h);
    l.grow_check(f, add_bytes, add_len);
    for i in 2..argv.len() {
        l.push(end, &argv[i]);
    }
    let len = l.len();
    c.srv.ks.touched(h, end.push_event());
    c.dirty(add_len as u64);
    c.out.int(len as i64);
}

fn lpush(c: &mut Ctx) {
    push_generic(c, End::Head, false);
}
fn rpush(c: &mut Ctx) {
    push_generic(c, End::Tail, false);
}
fn lpushx(c: &mut Ctx) {
    push_generic(c, End::Head, true);
}
fn rpushx(c: &mut Ctx) {
    push_generic(c, End::Tail, true);
}

fn pop_generic(c: &mut Ctx, end: End) {
    if c.argc() > 3 {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            c.command().fullname
        );
        return c.out.error(&msg);
    }
    let count = if c.argc() == 3 {
        match string2ll(c.arg(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return c.out.error("ERR value is out of range, must be positive"),
        }
    } else {
        None
    };
    let key = c.arg(1);
    let h = match lookup_list(c, key, true) {
        ListLookup::WrongType => return,
        ListLookup::Missing => {
            return if count.is_some() {
                c.out.null_array()
            } else {
                c.out.null()
            };
        }
        ListLookup::Found(h) => h,
    };
    let Some(n) = count else {
        let v = list_mut(c, h).pop(end).unwrap_or_default();
        c.out.bulk(&v);
        c.srv.ks.touched(h, end.pop_event());
        after_removal(c, h);
        c.dirty(1);
        return;
    };
    if n == 0 {
        // Redis answers an empty array and changes nothing.
        return c.out.array(0);
    }
    pop_count(c, h, end, n);
}

/// Pops up to `n` elements from `end` of the list at `h`, replies them as an array, reports
/// the pop event (and "del" if the list emptied); returns how many were popped.
fn pop_count(c: &mut Ctx, h: KeyRef, end: End, n: usize) -> usize {
    let l = list_mut(c, h);
    let take = n.min(l.len());
    let vals: Vec<Vec<u8>> = (0..take).filter_map(|_| l.pop(end)).collect();
    c.out.array(vals.len());
    for v in &vals {
        c.out.bulk(v);
    }
    c.srv.ks.touched(h, end.pop_event());
    after_removal(c, h);
    c.dirty(vals.len() as u64);
    vals.len()
}

fn lpop(c: &mut Ctx) {
    pop_generic(c, End::Head);
}
fn rpop(c: &mut Ctx) {
    pop_generic(c, End::Tail);
}

fn llen(c: &mut Ctx) {
    match lookup_list(c, c.arg(1), false) {
        ListLookup::WrongType => {}
        ListLookup::Missing => c.out.int(0),
        ListLookup::Found(h) => {
            let n = list_ref(c, h).len();
            c.out.int(n as i64)
        }
    }
}

/// Clamps a Redis [start, end] range over `len` elements; None when empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

fn lrange(c: &mut Ctx) {
    let Some(start) = c.int_arg(2) else { return };
    let Some(end) = c.int_arg(3) else { return };
    let h = match lookup_list(c, c.arg(1), false) {
        ListLookup::WrongType => return,
        ListLookup::Missing => return c.out.array(0),
        ListLookup::Found(h) => h,
    };
    let l = match c.srv.ks.get(h).value() {
        crate::keyspace::ValueRef::Boxed(Value::List(l)) => l,
        _ => unreachable!(),
    };
    let Some((s, e)) = clamp_range(start, end, l.len()) else {
        return c.out.array(0);
    };
    c.out.array(e - s + 1);
    let mut buf = Vec::new();
    for x in l.iter_from(s).take(e - s + 1) {
        match x {
            ListpackEntry::Str(b) => c.out.bulk(b),
            ListpackEntry::Int(v) => {
                buf.clear();
                pyrope_common::util::push_i64(&mut buf, v);
                c.out.bulk(&buf);
            }
        }
    }
}

fn lindex(c: &mut Ctx) {
    let Some(i) = c.int_arg(2) else { return };
    let h = match lookup_list(c, c.arg(1), false) {
        ListLookup::WrongType => return,
        ListLookup::Missing => return c.out.null(),
        ListLookup::Found(h) => h,
    };
    let l = list_ref(c, h);
    match l.resolve(i) {
        Some(p) => {
            let v = l.get(p);
            c.out.bulk(&v)
        }
        None => c.out.null(),
    }
}

fn lset(c: &mut Ctx) {
    let Some(i) = c.int_arg(2) else { return };
    let key = c.arg(1);
    let h = match lookup_list(c, key, true) {
        ListLookup::WrongType => return,
        ListLookup::Missing => return c.out.error(errors::NO_SUCH_KEY),
        ListLookup::Found(h) => h,
    };
    let f = fill(c);
    let v = c.arg(3);
    let l = list_mut(c, h);
    l.grow_check(f, v.len(), 1);
    let Some(p) = l.resolve(i) else {
        return c.out.error("ERR index out of range");
    };
    l.set(p, v);
    c.srv.ks.touched(h, ev::LSET);
    c.dirty(1);
    c.out.ok();
}

fn linsert(c: &mut Ctx) {
    let after = match crate::command::opt(c.arg(2)).as_slice() {
        b"after" => true,
        b"before" => false,
        _ => return c.out.syntax_error(),
    };
    let key = c.arg(1);
    let h = match lookup_list(c, key, true) {
        ListLookup::WrongType => return,
        ListLookup::Missing => return c.out.int(0),
        ListLookup::Found(h) => h,
    };
    let (pivot, v) = (c.arg(3), c.arg(4));
    let f = fill(c);
    let l = list_mut(c, h);
    let Some(i) = l.iter().position(|x| x.eq_bytes(pivot)) else {
        return c.out.int(-1);
    };
    l.grow_check(f, v.len(), 1);
    l.insert(i, after, v);
    let n = l.len();
    c.srv.ks.touched(h, ev::LINSERT);
    c.dirty(1);
    c.out.int(n as i64);
}

fn lrem(c: &mut Ctx) {
    let Some(count) = c.int_arg(2) else { return };
    let key = c.arg(1);
    let h = match lookup_list(c, key, true) {
        ListLookup::WrongType => return,
        ListLookup::Missing => return c.out.int(0),
        ListLookup::Found(h) => h,
    };
    let e = c.arg(3);
    let removed = list_mut(c, h).remove(e, count);
    if removed > 0 {
        c.srv.ks.touched(h, ev::LREM);
        after_removal(c, h);
        c.dirty(removed as u64);
    }
    c.out.int(removed as i64);
}

fn ltrim(c: &mut Ctx) {
    let Some(start) = c.int_arg(2) else { return };
    let Some(end) = c.int_arg(3) else { return };
    let key = c.arg(1);
    let h = match lookup_list(c, key, true) {
        ListLookup::WrongType => return,
        ListLookup::Missing => return c.out.ok(),
        ListLookup::Found(h) => h,
    };
    let l = list_mut(c, h);
    let len = l.len();
    let (lt, rt) = match clamp_range(start, end, len) {
        Some((s, e)) => (s, len - 1 - e),
        None => (len, 0),
    };
    l.trim(lt, rt);
    c.srv.ks.touched(h, ev::LTRIM);
    after_removal(c, h);
    c.dirty((lt + rt) as u64);
    c.out.ok();
}

fn lpos(c: &mut Ctx) {
    let (mut rank, mut count, mut maxlen): (i64, Option<i64>, i64) = (1, None, 0);
    let mut i = 3;
    while i < c.argc() {
        let o = crate::command::opt(c.arg(i));
        if i + 1 >= c.argc() {
            return c.out.syntax_error();
        }
        match o.as_slice() {
            b"rank" => {
                let Some(r) = c.int_arg(i + 1) else { return };
                if r == 0 {
                    return c.out.error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                }
                if r == i64::MIN {
                    return c.out.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
                }
                rank = r;
            }
            b"count" => {
                let Some(n) = c.int_arg(i + 1) else { return };
                if n < 0 {
                    return c.out.error("ERR COUNT can't be negative");
                }
                count = Some(n);
            }
            b"maxlen" => {
                let Some(n) = c.int_arg(i + 1) else { return };
                if n < 0 {
                    return c.out.error("ERR MAXLEN can't be negative");
                }
                maxlen = n;
            }
            _ => return c.out.syntax_error(),
        }
        i += 2;
    }
    let h = match lookup_list(c, c.arg(1), false) {
        ListLookup::WrongType => return,
        ListLookup::Missing => {
            return if count.is_some() {
                c.out.array(0)
            } else {
                c.out.null()
            };
        }
        ListLookup::Found(h) => h,
    };
    let e = c.arg(2);
    let l = list_ref(c, h);
    let len = l.len();
    let want = match count {
        Some(0) => usize::MAX,
        Some(n) => n as usize,
        None => 1,
    };
    let max = if maxlen == 0 {
        usize::MAX
    } else {
        maxlen as usize
    };
    let mut skip = rank.unsigned_abs() - 1;
    let mut found = Vec::new();
    let mut scan = |idx: usize, x: ListpackEntry| -> bool {
        if x.eq_bytes(e) {
            if skip > 0 {
                skip -= 1;
            } else {
                found.push(idx as i64);
                if found.len() >= want {
                    return false;
                }
            }
        }
        true
    };
    if rank > 0 {
        for (idx, x) in l.iter().enumerate().take(max) {
            if !scan(idx, x) {
                break;
            }
        }
    } else {
        for (k, x) in l.iter().rev().enumerate().take(max) {
            if !scan(len - 1 - k, x) {
                break;
            }
        }
    }
    match count {
        None => match found.first() {
            Some(&p) => c.out.int(p),
            None => c.out.null(),
        },
        Some(_) => {
            c.out.array(found.len());
            for p in found {
                c.out.int(p);
            }
        }
    }
}

/// Moves one element from `src`'s `from` end to `dst`'s `to` end (LMOVE / RPOPLPUSH), with
/// Redis's events (pop on the source, push on the destination) and "del" for an emptied
/// source. Source and destination may be the same key.
fn move_generic(c: &mut Ctx, from: End, to: End) {
    let (src, dst) = (c.arg(1), c.arg(2));
    let sh = match lookup_list(c, src, true) {
        ListLookup::WrongType => return,
        ListLookup::Missing => return c.out.null(),
        ListLookup::Found(h) => h,
    };
    let dh = match lookup_list(c, dst, true) {
        ListLookup::WrongType => return,
        ListLookup::Missing => None,
        ListLookup::Found(h) => Some(h),
    };
    let f = fill(c);
    let v = list_mut(c, sh).pop(from).unwrap_or_default();
    // Redis's order (lmoveGenericCommand): the push and its event, then the pop event, then
    // "del" if the source emptied. With src == dst the list is never empty at the push.
    let dh = existing_or_new(c, dst, dh);
    let l = list_mut(c, dh);
    l.grow_check(f, v.len(), 1);
    l.push(to, &v);
    c.srv.ks.touched(dh, to.push_event());
    c.srv.ks.touched(sh, from.pop_event());
    after_removal(c, sh);
    c.dirty(1);
    c.out.bulk(&v);
}

fn lmove(c: &mut Ctx) {
    let (Some(from), Some(to)) = (End::parse(c.arg(3)), End::parse(c.arg(4))) else {
        return c.out.syntax_error();
    };
    move_generic(c, from, to);
}

fn rpoplpush(c: &mut Ctx) {
    move_generic(c, End::Tail, End::Head);
}

fn lmpop(c: &mut Ctx) {
    mpop_generic(c, 1, None);
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
fn blmpop(c: &mut Ctx) {
    mpop_generic(c, 2, Some(1));
}

/// LMPOP / BLMPOP (Redis `lmpopGenericCommand`): numkeys at `numkeys_idx`, then the keys,
/// the end and COUNT, checked in that order; then (BLMPOP) the timeout at `timeout_idx`.
fn mpop_generic(c: &mut Ctx, numkeys_idx: usize, timeout_idx: Option<usize>) {
    let numkeys = match string2ll(c.arg(numkeys_idx)) {
        Some(v) if v > 0 => v as usize,
        _ => return c.out.error("ERR numkeys should be greater than 0"),
    };
    let where_idx = match numkeys_idx.checked_add(numkeys + 1) {
        Some(i) if i < c.argc() => i,
        _ => return c.out.syntax_error(),
    };
    let Some(end) = End::parse(c.arg(where_idx)) else {
        return c.out.syntax_error();
    };
    let mut count = None;
    let mut i = where_idx + 1;
    while i < c.argc() {
        if crate::command::opt(c.arg(i)) == b"count" && i + 1 < c.argc() && count.is_none() {
            match string2ll(c.arg(i + 1)) {
                Some(v) if v > 0 => count = Some(v as usize),
                _ => return c.out.error("ERR count should be greater than 0"),
            }
            i += 2;
        } else {
            return c.out.syntax_error();
        }
    }
    let keys = numkeys_idx + 1..where_idx;
    let count = Some(count.unwrap_or(1));
    match timeout_idx {
        None => {
            if !serve_pop(c, keys, end, count) {
                c.out.null_array();
            }
        }
        Some(t) => {
            let Some(deadline) = c.timeout_arg(t) else {
                return;
            };
            blocking_pop_or_wait(c, keys, end, count, deadline);
        }
    }
}

/// Pops from the first non-empty list among argument indices `keys` (Redis
/// `blockingPopGenericCommand`'s serving half): with `count` (LMPOP/BLMPOP) up to that many
/// elements as `[key, [elements]]`, propagated as `LPOP|RPOP key n`; without (BLPOP/BRPOP)
/// one element as `[key, element]`, propagated as `LPOP|RPOP key`. Returns false, replying
/// nothing, if every list is missing; true if it replied (a WRONGTYPE error included).
fn serve_pop(c: &mut Ctx, keys: std::ops::Range<usize>, end: End, count: Option<usize>) -> bool {
    let verb: &[u8] = match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    };
    for i in keys {
        let key = c.arg(i);
        let h = match lookup_list(c, key, true) {
            ListLookup::WrongType => return true,
            ListLookup::Missing => continue,
            ListLookup::Found(h) => h,
        };
        c.out.array(2);
        c.out.bulk(key);
        match count {
            Some(n) => {
                let popped = pop_count(c, h, end, n).to_string();
                c.propagate_one(&[verb, key, popped.as_bytes()]);
            }
            None => {
                let v = list_mut(c, h).pop(end).unwrap_or_default();
                c.out.bulk(&v);
                c.srv.ks.touched(h, end.pop_event());
                after_removal(c, h);
                c.dirty(1);
                c.propagate_one(&[verb, key]);
            }
        }
        return true;
    }
    false
}

/// Serves a blocking pop now if a list has elements, else blocks the client on every key
/// (or, where it may not block, answers the timeout reply at once).
fn blocking_pop_or_wait(
    c: &mut Ctx,
    keys: std::ops::Range<usize>,
    end: End,
    count: Option<usize>,
    deadline: i64,
) {
    if serve_pop(c, keys.clone(), end, count) {
        return;
    }
    if !c.may_block() {
        return c.out.null_array();
    }
    let names = keys.map(|i| c.arg(i).to_vec()).collect();
    c.block_for_keys(BlockKind::List, names, deadline, false);
}

/// BLPOP / BRPOP key [key ...] timeout.
fn blocking_pop(c: &mut Ctx, end: End) {
    let last = c.argc() - 1;
    let Some(deadline) = c.timeout_arg(last) else {
        return;
    };
    blocking_pop_or_wait(c, 1..last, end, None, deadline);
}

fn blpop(c: &mut Ctx) {
    blocking_pop(c, End::Head);
}
fn brpop(c: &mut Ctx) {
    blocking_pop(c, End::Tail);
}

/// BLMOVE / BRPOPLPUSH (Redis `blmoveGenericCommand`): an LMOVE if the source list exists
/// (propagated as LMOVE / RPOPLPUSH), else block on the source. The destination's type is
/// checked only when the move happens, as in Redis.
fn blmove_generic(c: &mut Ctx, from: End, to: End, deadline: i64) {
    let src = c.arg(1);
    match lookup_list(c, src, true) {
        ListLookup::WrongType => {}
        ListLookup::Found(_) => {
            let (src, dst) = (c.arg(1), c.arg(2));
            if c.argc() == 6 {
                let (wf, wt) = (c.arg(3), c.arg(4));
                c.propagate_one(&[&b"LMOVE"[..], src, dst, wf, wt]);
            } else {
                c.propagate_one(&[&b"RPOPLPUSH"[..], src, dst]);
            }
            move_generic(c, from, to);
        }
        ListLookup::Missing if !c.may_block() => c.out.null(),
        ListLookup::Missing => {
            c.block_for_keys(BlockKind::List, vec![src.to_vec()], deadline, false)
        }
    }
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout.
fn blmove(c: &mut Ctx) {
    let (Some(from), Some(to)) = (End::parse(c.arg(3)), End::parse(c.arg(4))) else {
        return c.out.syntax_error();
    };
    let Some(deadline) = c.timeout_arg(5) else {
        return;
    };
    blmove_generic(c, from, to, deadline);
}

/// BRPOPLPUSH source destination timeout.
fn brpoplpush(c: &mut Ctx) {
    let Some(deadline) = c.timeout_arg(3) else {
        return;
    };
    blmove_generic(c, End::Tail, End::Head, deadline);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("lpush", lpush),
    ("rpush", rpush),
    ("lpushx", lpushx),
    ("rpushx", rpushx),
    ("lpop", lpop),
    ("rpop", rpop),
    ("llen", llen),
    ("lrange", lrange),
    ("lindex", lindex),
    ("lset", lset),
    ("linsert", linsert),
    ("lrem", lrem),
    ("ltrim", ltrim),
    ("lpos", lpos),
    ("lmove", lmove),
    ("rpoplpush", rpoplpush),
    ("lmpop", lmpop),
    ("blpop", blpop),
    ("brpop", brpop),
    ("blmove", blmove),
    ("brpoplpush", brpoplpush),
    ("blmpop", blmpop),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn model(l: &ListValue) -> Vec<Vec<u8>> {
        l.iter().map(|e| e.to_vec()).collect()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, bool, Vec<u8>),
        Remove(Vec<u8>, i64),
        Trim(usize, usize),
    }

    fn elem() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (0i64..1000).prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(b'a'..b'e', 0..3),
            proptest::collection::vec(any::<u8>(), 0..300),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<bool>(), elem()).prop_map(|(h, e)| Op::Push(h, e)),
            2 => any::<bool>().prop_map(Op::Pop),
            1 => (0usize..400, elem()).prop_map(|(i, e)| Op::Set(i, e)),
            1 => (0usize..400, any::<bool>(), elem()).prop_map(|(i, a, e)| Op::Insert(i, a, e)),
            1 => (elem(), -3i64..3).prop_map(|(e, n)| Op::Remove(e, n)),
            1 => (0usize..5, 0usize..5).prop_map(|(l, r)| Op::Trim(l, r)),
        ]
    }

    proptest! {
        #[test]
        fn both_encodings_behave_as_a_vecdeque(
            ops in proptest::collection::vec(op(), 1..300),
            fill in prop_oneof![Just(-2i64), Just(-1), Just(3), Just(1), Just(128)],
        ) {
            let mut l = ListValue::default();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for o in ops {
                match o {
                    Op::Push(head, e) => {
                        l.grow_check(fill, e.len(), 1);
                        let end = if head { End::Head } else { End::Tail };
                        l.push(end, &e);
                        if head { m.push_front(e) } else { m.push_back(e) }
                    }
                    Op::Pop(head) => {
                        let end = if head { End::Head } else { End::Tail };
                        let got = l.pop(end);
                        let want = if head { m.pop_front() } else { m.pop_back() };
                        prop_assert_eq!(got, want);
                        l.shrink_check(fill);
                    }
                    Op::Set(i, e) if i < m.len() => {
                        l.set(i, &e);
                        m[i] = e;
                    }
                    Op::Insert(i, after, e) if i < m.len() => {
                        l.grow_check(fill, e.len(), 1);
                        l.insert(i, after, &e);
                        m.insert(if after { i + 1 } else { i }, e);
                    }
                    Op::Remove(e, n) => {
                        let removed = l.remove(&e, n);
                        let limit = if n == 0 { usize::MAX } else { n.unsigned_abs() as usize };
                        let mut k = 0;
                        if n < 0 {
                            let mut i = m.len();
                            while i > 0 && k < limit {
                                i -= 1;
                                if m[i] == e { m.remove(i); k += 1; }
                            }
                        } else {
                            let mut i = 0;
                            while i < m.len() && k < limit {
                                if m[i] == e { m.remove(i); k += 1; } else { i += 1; }
                            }
                        }
                        prop_assert_eq!(removed, k);
                        l.shrink_check(fill);
                    }
                    Op::Trim(a, b) => {
                        let a = a.min(m.len());
                        let b = b.min(m.len() - a);
                        l.trim(a, b);
                        for _ in 0..a { m.pop_front(); }
                        for _ in 0..b { m.pop_back(); }
                        l.shrink_check(fill);
                    }
                    _ => {}
                }
                prop_assert_eq!(model(&l), m.iter().cloned().collect::<Vec<_>>());
                prop_assert_eq!(l.len(), m.len());
                for i in [m.len() / 3, m.len().saturating_sub(1)] {
                    if i < m.len() {
                        let from: Vec<Vec<u8>> = l.iter_from(i).map(|e| e.to_vec()).collect();
                        prop_assert_eq!(from, m.iter().skip(i).cloned().collect::<Vec<_>>());
                    }
                }
                if let ListValue::Quicklist(q) = &l {
                    prop_assert!(q.iter().all(|n| !n.is_empty()), "no empty nodes");
                }
            }
        }
    }

    #[test]
    fn conversions_follow_the_node_limits() {
        // -2: 8 KiB nodes. 100 elements of 100 bytes need two nodes.
        let mut l = ListValue::default();
        let e = vec![b'x'; 100];
        for _ in 0..100 {
            l.grow_check(-2, e.len(), 1);
            l.push(End::Tail, &e);
        }
        assert!(matches!(&l, ListValue::Quicklist(q) if q.len() == 2));
        while l.len() > 20 {
            l.pop(End::Head);
            l.shrink_check(-2);
        }
        // The head node is gone; the one left (about 2 KiB) is below half of 8 KiB: back to
        // a listpack (Redis converts only a one-node quicklist).
        assert!(matches!(l, ListValue::Listpack(_)), "{:?}", l.nodes());
        // Count limit 3: the fourth element converts.
        let mut l = ListValue::default();
        for i in 0..4 {
            l.grow_check(3, 1, 1);
            l.push(End::Tail, i.to_string().as_bytes());
        }
        assert!(matches!(&l, ListValue::Quicklist(q) if q.len() == 2));
    }
}
