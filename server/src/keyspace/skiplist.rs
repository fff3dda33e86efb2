//! [`SkipTable`]: the `skiplist` encoding of big sorted sets (Redis's `OBJ_ENCODING_SKIPLIST`,
//! t_zset.c's `zset` = `zskiplist` + `dict`), with Redis's algorithms: a skiplist ordered by
//! (score, member) whose links carry spans (so rank, select-by-rank and range deletion are
//! O(log n)), and a [`Dict`] from member to node for O(1) ZSCORE / ZADD lookups.
//!
//! Memory: each element is **one** allocation shared by the skiplist and the dict, where
//! Redis has three (an sds, a skiplist node with 16-byte levels, a dictEntry):
//! `[score f64][backward ptr][level u8][level x (forward ptr, span u32)][varint len][member]`.
//! The dict's 8-byte buckets point at the same nodes (the dict owns them: it frees them when
//! they are removed or when the table is dropped). A 13-byte member at level 1 is 43 bytes
//! (jemalloc's 48 class) plus ~8-12 bytes of buckets, against ~120 bytes in Redis 7.4.
//!
//! Algorithms follow t_zset.c (`zslInsert`, `zslDeleteNode`, `zslUpdateScore`, `zslGetRank`,
//! `zslGetElementByRank`, `zslDeleteRangeByRank`, `zslRandomLevel` with p = 1/4 and 32
//! levels). Range queries by score or lex are expressed as ranks: [`SkipTable::count_while`]
//! counts the leading elements that satisfy a monotone predicate (what `zslFirstInRange` /
//! `zslLastInRange` find, as a rank), then [`SkipTable::iter_from`] walks from a rank either
//! way. Raw node pointers never leave this file; callers get `&[u8]` members borrowed from
//! the table.

use super::dict::{Dict, DictItem};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// `ZSKIPLIST_MAXLEVEL`.
const MAX_LEVEL: usize = 32;
/// Offset of the level byte; the levels follow it.
const LEVEL_OFF: usize = 16;
/// Bytes of one level: forward pointer (8, unaligned) + span (u32).
const LEVEL_SIZE: usize = 12;

/// A skiplist node (see the module docs for the layout). Private to this file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
struct Node(NonNull<u8>);

// SAFETY: a node is plain memory exclusively owned by one table; moving the table (to the
// lazy-free thread) moves that ownership.
unsafe impl Send for Node {}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

impl Node {
    fn alloc(level: usize, score: f64, member: &[u8]) -> Node {
        debug_assert!((1..=MAX_LEVEL).contains(&level));
        let size = LEVEL_OFF + 1 + LEVEL_SIZE * level + varint_len(member.len()) + member.len();
        let layout = Layout::from_size_align(size, 8).expect("node layout");
        // SAFETY: non-zero size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            handle_alloc_error(layout);
        }
        // SAFETY: every write stays inside the `size` bytes just allocated.
        unsafe {
            std::ptr::write_unaligned(p as *mut f64, score);
            std::ptr::write_unaligned(p.add(8) as *mut *mut u8, std::ptr::null_mut());
            *p.add(LEVEL_OFF) = level as u8;
            for i in 0..level {
                let l = p.add(LEVEL_OFF + 1 + LEVEL_SIZE * i);
                std::ptr::write_unaligned(l as *mut *mut u8, std::ptr::null_mut());
                std::ptr::write_unaligned(l.add(8) as *mut u32, 0);
            }
            let mut q = p.add(LEVEL_OFF + 1 + LEVEL_SIZE * level);
            let mut v = member.len();
            while v >= 0x80 {
                *q = (v as u8) | 0x80;
                q = q.add(1);
                v >>= 7;
            }
            *q = v as u8;
            q = q.add(1);
            std::ptr::copy_nonoverlapping(member.as_ptr(), q, member.len());
            Node(NonNull::new_unchecked(p))
        }
    }

    #[inline]
    fn ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }

    #[inline]
    fn from_raw(p: *mut u8) -> Option<Node> {
        NonNull::new(p).map(Node)
    }

    // Accessors. Each is sound for a live node (allocated by `alloc`, not yet freed): the
    // table only calls them on the header or on nodes linked in its skiplist/dict.

    #[inline]
    fn score(self) -> f64 {
        // SAFETY: live node, offset 0 holds the score.
        unsafe { std::ptr::read_unaligned(self.ptr() as *const f64) }
    }
    #[inline]
    fn set_score(self, s: f64) {
        // SAFETY: live node, offset 0 holds the score.
        unsafe { std::ptr::write_unaligned(self.ptr() as *mut f64, s) }
    }
    #[inline]
    fn backward(self) -> Option<Node> {
        // SAFETY: live node, offset 8 holds the backward pointer.
        Node::from_raw(unsafe { std::ptr::read_unaligned(self.ptr().add(8) as *const *mut u8) })
    }
    #[inline]
    fn set_backward(self, b: Option<Node>) {
        let v = b.map_or(std::ptr::null_mut(), Node::ptr);
        // SAFETY: live node, offset 8 holds the backward pointer.
        unsafe { std::ptr::write_unaligned(self.ptr().add(8) as *mut *mut u8, v) }
    }
    #[inline]
    fn level(self) -> usize {
        // SAFETY: live node, the level byte.
        unsafe { *self.ptr().add(LEVEL_OFF) as usize }
    }
    #[inline]
    fn lvl(self, i: usize) -> *mut u8 {
        debug_assert!(i < self.level());
        // SAFETY: level `i` < the node's level lies inside the allocation.
        unsafe { self.ptr().add(LEVEL_OFF + 1 + LEVEL_SIZE * i) }
    }
    #[inline]
    fn fwd(self, i: usize) -> Option<Node> {
        // SAFETY: see `lvl`.
        Node::from_raw(unsafe { std::ptr::read_unaligned(self.lvl(i) as *const *mut u8) })
    }
    #[inline]
    fn set_fwd(self, i: usize, f: Option<Node>) {
        let v = f.map_or(std::ptr::null_mut(), Node::ptr);
        // SAFETY: see `lvl`.
        unsafe { std::ptr::write_unaligned(self.lvl(i) as *mut *mut u8, v) }
    }
    #[inline]
    fn span(self, i: usize) -> usize {
        // SAFETY: see `lvl`.
        unsafe { std::ptr::read_unaligned(self.lvl(i).add(8) as *const u32) as usize }
    }
    #[inline]
    fn set_span(self, i: usize, s: usize) {
        // SAFETY: see `lvl`.
        unsafe { std::ptr::write_unaligned(self.lvl(i).add(8) as *mut u32, s as u32) }
    }

    /// (member, total allocation size).
    ///
    /// # Safety
    /// The node must be live for `'a`.
    #[inline]
    unsafe fn member_and_size<'a>(self) -> (&'a [u8], usize) {
        let base = self.ptr();
        // SAFETY: layout written by `alloc`.
        unsafe {
            let (len, p) =
                super::entry::read_varint(base.add(LEVEL_OFF + 1 + LEVEL_SIZE * self.level()));
            let m = std::slice::from_raw_parts(p, len);
            (m, p.add(len) as usize - base as usize)
        }
    }

    /// # Safety
    /// The node must be live for `'a`.
    #[inline]
    unsafe fn member<'a>(self) -> &'a [u8] {
        // SAFETY: forwarded contract.
        unsafe { self.member_and_size().0 }
    }
}

// SAFETY: transparent over a non-null pointer to an 8-aligned allocation, live from `alloc`
// to `free_item`. Members never expire (no volatile list use).
unsafe impl DictItem for Node {
    unsafe fn item_key<'a>(self) -> &'a [u8] {
        // SAFETY: forwarded contract.
        unsafe { self.member() }
    }
    fn has_expire(self) -> bool {
        false
    }
    fn volatile_index(self) -> usize {
        unreachable!("zset members have no expire")
    }
    fn set_volatile_index(self, _: usize) {
        unreachable!("zset members have no expire")
    }
    unsafe fn free_item(self) {
        // SAFETY: same size/alignment as in `alloc`; the caller frees each node once.
        unsafe {
            let (_, size) = self.member_and_size();
            dealloc(self.ptr(), Layout::from_size_align_unchecked(size, 8));
        }
    }
}

/// `zslRandomLevel`: 1 + the number of successes of a p = 1/4 coin, at most 32.
fn random_level() -> usize {
    let mut level = 1;
    while level < MAX_LEVEL && fastrand::u32(..) < u32::MAX / 4 {
        level += 1;
    }
    level
}

/// The `skiplist` encoding of a sorted set: Redis's skiplist ordered by (score, member)
/// plus a member -> node dict, sharing one allocation per element.
pub struct SkipTable {
    /// Header node (level 32, empty member); not in the dict.
    header: Node,
    tail: Option<Node>,
    /// Highest level in use (>= 1).
    level: usize,
    /// Owns every element node.
    dict: Dict<Node>,
    /// Bytes of member data (for size estimates).
    bytes: usize,
    /// (1-based rank, node) of the element just after the end of the last
    /// [`SkipTable::count_while`] descent, so that the `iter_from` / `at` of that rank which
    /// usually follows (a ZRANGEBYSCORE: the first element in range) skips a second walk.
    /// Cleared by every change of the list's structure (`link_at`, `unlink`).
    seek_hint: Cell<Option<(usize, Node)>>,
}

// SAFETY: the table exclusively owns the header and (through the dict) every node.
unsafe impl Send for SkipTable {}

impl Drop for SkipTable {
    fn drop(&mut self) {
        // The dict frees the element nodes when it drops; the header is ours.
        // SAFETY: the header is live and freed once, here.
        unsafe { self.header.free_item() };
    }
}

impl Default for SkipTable {
    fn default() -> Self {
        SkipTable::new()
    }
}

impl std::fmt::Debug for SkipTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipTable")
            .field("len", &self.len())
            .finish()
    }
}

impl Clone for SkipTable {
    fn clone(&self) -> Self {
        let mut t = SkipTable::new();
        t.reserve(self.len());
        for (m, s) in self.iter_from(0, false) {
            t.insert(m, s);
        }
        t
    }
}

impl PartialEq for SkipTable {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter_from(0, false)
                .zip(other.iter_from(0, false))
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
    }
}

/// Asks the CPU to start loading the first cache line of `n` (a hint: no effect on
/// results; a no-op off x86_64).
#[inline(always)]
fn prefetch(n: Option<Node>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(n) = n {
        // SAFETY: a prefetch is only a hint: it never faults or changes memory, whatever the
        // address (here a live node anyway). SSE is part of the x86_64 baseline.
        unsafe {
            core::arch::x86_64::_mm_prefetch(n.ptr() as *const i8, core::arch::x86_64::_MM_HINT_T0)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = n;
}

/// In a descent standing on `n` at level `i` and about to compare `n.fwd(i)`, prefetches
/// the other possible next candidate, `n.fwd(i - 1)` (the one compared if the walk drops a
/// level), so that its miss overlaps the comparison's instead of following it.
#[inline(always)]
fn prefetch_below(n: Node, i: usize) {
    if i > 0 {
        prefetch(n.fwd(i - 1));
    }
}

/// One `zslInsert`-style descent toward (score, member), taken a step at a time so that two
/// can run interleaved ([`SkipTable::find_two`]): per level, the last node before the key
/// and its 1-based rank (header = 0).
struct Walk<'k> {
    score: f64,
    member: &'k [u8],
    /// Levels left to descend; the current level is `left - 1`.
    left: usize,
    node: Node,
    rank: usize,
    update: [Node; MAX_LEVEL],
    ranks: [usize; MAX_LEVEL],
}

impl<'k> Walk<'k> {
    fn new(t: &SkipTable, score: f64, member: &'k [u8]) -> Self {
        Walk {
            score,
            member,
            left: t.level,
            node: t.header,
            rank: 0,
            update: [t.header; MAX_LEVEL],
            ranks: [0; MAX_LEVEL],
        }
    }

    /// One step: move forward on the current level, or record it and drop a level. Returns
    /// false once every level is done.
    #[inline(always)]
    fn step(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        let i = self.left - 1;
        prefetch_below(self.node, i);
        match self.node.fwd(i) {
            Some(f) if before(f, self.score, self.member) => {
                self.rank += self.node.span(i);
                self.node = f;
            }
            _ => {
                self.update[i] = self.node;
                self.ranks[i] = self.rank;
                self.left = i;
            }
        }
        true
    }

    /// Runs the descent to the end.
    fn run(mut self) -> Self {
        while self.step() {}
        self
    }
}

/// True if node `x` sorts before (score, member) (`x->score < score || (== && ele < member)`).
#[inline]
fn before(x: Node, score: f64, member: &[u8]) -> bool {
    let s = x.score();
    // SAFETY: x is a linked node, live during the call.
    s < score || (s == score && unsafe { x.member() } < member)
}

impl SkipTable {
    /// An empty table (`zslCreate` + `dictCreate`).
    pub fn new() -> SkipTable {
        SkipTable {
            header: Node::alloc(MAX_LEVEL, 0.0, b""),
            tail: None,
            level: 1,
            dict: Dict::new(),
            bytes: 0,
            seek_hint: Cell::new(None),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Pre-sizes the dict for `n` members (`dictExpand` in `zsetTypeCreate` /
    /// `zsetConvertAndExpand`); sizes that cannot be allocated are ignored.
    pub fn reserve(&mut self, n: usize) {
        let _ = self.dict.try_expand(n);
    }

    /// The score of `member`, if present (`zsetScore`: a dict lookup).
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict.get(member).map(Node::score)
    }

    /// Inserts a member that is not present (`zslInsert` + `dictAdd`). The caller checks
    /// absence (a duplicate would corrupt the table, so it panics).
    pub fn insert(&mut self, member: &[u8], score: f64) {
        assert!(
            self.dict.get(member).is_none(),
            "zset member inserted twice"
        );
        let x = Node::alloc(random_level(), score, member);
        self.link(x);
        self.dict.insert(x);
        self.bytes += member.len();
    }

    /// Links node `x` (its score and member set) into the skiplist: the body of `zslInsert`.
    /// The dict must not count `x` yet.
    fn link(&mut self, x: Node) {
        // SAFETY: x is live (allocated by the caller, not yet freed).
        let member = unsafe { x.member() };
        let w = Walk::new(self, x.score(), member).run();
        self.link_at(x, w.update, w.ranks, self.len());
    }

    /// The second half of `zslInsert`: links `x` after `update[i]` at each of its levels,
    /// given the 1-based ranks of the update nodes (header = 0) for the levels below
    /// `self.level`, and `others`, the number of elements linked (not counting `x`).
    fn link_at(
        &mut self,
        x: Node,
        mut update: [Node; MAX_LEVEL],
        mut rank: [usize; MAX_LEVEL],
        others: usize,
    ) {
        self.seek_hint.set(None);
        let lvl = x.level();
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = self.header;
                self.header.set_span(i, others);
            }
            self.level = lvl;
        }
        for i in 0..lvl {
            x.set_fwd(i, update[i].fwd(i));
            update[i].set_fwd(i, Some(x));
            x.set_span(i, update[i].span(i) - (rank[0] - rank[i]));
            update[i].set_span(i, rank[0] - rank[i] + 1);
        }
        for (i, u) in update.iter().enumerate().take(self.level).skip(lvl) {
            u.set_span(i, u.span(i) + 1);
        }
        x.set_backward(if update[0] == self.header {
            None
        } else {
            Some(update[0])
        });
        match x.fwd(0) {
            Some(f) => f.set_backward(Some(x)),
            None => self.tail = Some(x),
        }
    }

    /// The update vector of (score, member): per level, the last node before it.
    fn find_update(&self, score: f64, member: &[u8]) -> [Node; MAX_LEVEL] {
        Walk::new(self, score, member).run().update
    }

    /// `zslDeleteNode`: unlinks `x` given its update vector (does not free it). The dict
    /// length still counts `x` while this runs, so header spans use `len - 1` implicitly.
    fn unlink(&mut self, x: Node, update: &[Node; MAX_LEVEL]) {
        self.seek_hint.set(None);
        for (i, u) in update.iter().enumerate().take(self.level) {
            if u.fwd(i) == Some(x) {
                u.set_span(i, u.span(i) + x.span(i) - 1);
                u.set_fwd(i, x.fwd(i));
            } else {
                u.set_span(i, u.span(i) - 1);
            }
        }
        match x.fwd(0) {
            Some(f) => f.set_backward(x.backward()),
            None => self.tail = x.backward(),
        }
        while self.level > 1 && self.header.fwd(self.level - 1).is_none() {
            self.level -= 1;
        }
    }

    /// Removes `member`; returns its score if it was present (`zsetRemoveFromSkiplist`).
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.dict.find(member)?;
        let score = x.score();
        let update = self.find_update(score, member);
        debug_assert_eq!(update[0].fwd(0), Some(x));
        self.unlink(x, &update);
        self.dict.remove_entry(x);
        self.bytes -= member.len();
        // SAFETY: unlinked from both structures just above; freed once.
        unsafe { x.free_item() };
        Some(score)
    }

    /// Changes the score of a present `member` (`zslUpdateScore`): in place when the order
    /// is unchanged, else the same node is unlinked and linked at its new place. Panics if
    /// `member` is absent (callers look it up first).
    ///
    /// Redis walks the list twice (the old position's update vector, then after the unlink
    /// the new position's). Both walks are independent reads of the unmodified list, so they
    /// run here interleaved step by step ([`SkipTable::find_two`]), overlapping their cache
    /// misses; the new position's update vector and ranks are then corrected for the unlink.
    pub fn update_score(&mut self, member: &[u8], new: f64) {
        let x = self.dict.find(member).expect("zset member present");
        let cur = x.score();
        let (b, f) = (x.backward(), x.fwd(0));
        // Both neighbours' misses at once (the check below may read only one).
        prefetch(b);
        prefetch(f);
        if b.is_none_or(|b| b.score() < new) && f.is_none_or(|f| f.score() > new) {
            x.set_score(new);
            return;
        }
        let old_level = self.level;
        let (old, new_pos) = self.find_two((cur, member), (new, member));
        let (upd_old, rank_old) = (old.update, old.ranks);
        let (mut upd_new, mut rank_new) = (new_pos.update, new_pos.ranks);
        debug_assert_eq!(upd_old[0].fwd(0), Some(x));
        // x's 1-based rank.
        let rx = rank_old[0] + 1;
        self.unlink(x, &upd_old);
        // The new position's vector as a walk of the list without x would find it: where x
        // itself was the last node before the new place, its predecessor at that level is;
        // nodes after x move one rank down.
        for i in 0..old_level {
            if upd_new[i] == x {
                upd_new[i] = upd_old[i];
                rank_new[i] = rank_old[i];
            } else if rank_new[i] > rx {
                rank_new[i] -= 1;
            }
        }
        for i in 0..x.level() {
            x.set_fwd(i, None);
            x.set_span(i, 0);
        }
        x.set_backward(None);
        x.set_score(new);
        // The dict still counts x.
        let others = self.len() - 1;
        self.link_at(x, upd_new, rank_new, others);
    }

    /// Two descents toward `a` and `b` ([`Walk`]), interleaved one step of each at a time so
    /// that the cache misses of the two pointer chains overlap.
    fn find_two<'k>(&self, a: (f64, &'k [u8]), b: (f64, &'k [u8])) -> (Walk<'k>, Walk<'k>) {
        let mut wa = Walk::new(self, a.0, a.1);
        let mut wb = Walk::new(self, b.0, b.1);
        while wa.step() | wb.step() {}
        (wa, wb)
    }

    /// 0-based rank of `member` in ascending order (`zslGetRank` - 1), with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let score = self.score(member)?;
        let r = self.count_while(|s, m| s < score || (s == score && m <= member));
        Some((r - 1, score))
    }

    /// The number of leading elements (in ascending order) for which `pred(score, member)`
    /// holds; `pred` must be monotone (true on a prefix, false after). O(log n) with spans.
    /// With "score < min" it is the rank of the first element of a score range
    /// (`zslNthInRange` / `zslFirstInRange`), with "score <= max" one past its last.
    pub fn count_while(&self, mut pred: impl FnMut(f64, &[u8]) -> bool) -> usize {
        let mut n = self.header;
        let mut rank = 0;
        for i in (0..self.level).rev() {
            while let Some(f) = n.fwd(i) {
                prefetch_below(n, i);
                // SAFETY: linked node, live while `self` is borrowed.
                if !pred(f.score(), unsafe { f.member() }) {
                    break;
                }
                rank += n.span(i);
                n = f;
            }
        }
        self.seek_hint.set(n.fwd(0).map(|f| (rank + 1, f)));
        rank
    }

    /// The node at 1-based `rank` (`zslGetElementByRank`), without a walk for the first
    /// and last ranks and the rank just after the last `count_while`.
    fn by_rank(&self, rank: usize) -> Option<Node> {
        if rank == 1 {
            return self.header.fwd(0);
        }
        if rank != 0 && rank == self.len() {
            return self.tail;
        }
        if let Some((r, n)) = self.seek_hint.get() {
            if r == rank {
                return Some(n);
            }
        }
        self.by_rank_walk(rank)
    }

    /// `zslGetElementByRank` proper: the descent.
    fn by_rank_walk(&self, rank: usize) -> Option<Node> {
        let mut n = self.header;
        let mut traversed = 0;
        for i in (0..self.level).rev() {
            while let Some(f) = n.fwd(i) {
                if traversed + n.span(i) > rank {
                    break;
                }
                traversed += n.span(i);
                n = f;
            }
            if traversed == rank {
                return (n != self.header).then_some(n);
            }
        }
        None
    }

    /// Iterates (member, score) from the element of 0-based `rank`: ascending, or
    /// descending when `rev` (the element at `rank`, then lower ranks). Empty past the end.
    pub fn iter_from(&self, rank: usize, rev: bool) -> Iter<'_> {
        let node = if rank < self.len() {
            self.by_rank(rank + 1)
        } else {
            None
        };
        Iter {
            node,
            rev,
            _t: PhantomData,
        }
    }

    /// Removes `count` elements from 0-based rank `start` on (`zslDeleteRangeByRank`);
    /// returns how many were removed.
    pub fn delete_range(&mut self, start: usize, count: usize) -> usize {
        let start = start + 1;
        let mut update = [self.header; MAX_LEVEL];
        let mut n = self.header;
        let mut traversed = 0;
        for i in (0..self.level).rev() {
            while let Some(f) = n.fwd(i) {
                if traversed + n.span(i) >= start {
                    break;
                }
                traversed += n.span(i);
                n = f;
            }
            update[i] = n;
        }
        let mut removed = 0;
        let mut x = n.fwd(0);
        while let Some(node) = x {
            if removed == count {
                break;
            }
            let next = node.fwd(0);
            self.unlink(node, &update);
            self.dict.remove_entry(node);
            // SAFETY: unlinked from both structures; freed once.
            unsafe {
                self.bytes -= node.member().len();
                node.free_item();
            }
            removed += 1;
            x = next;
        }
        removed
    }

    /// A uniformly random (member, score) (`dictGetFairRandomKey`), None if empty.
    pub fn random(&mut self) -> Option<(&[u8], f64)> {
        let n = self.dict.random()?;
        // SAFETY: linked, live while `self` is borrowed.
        Some((unsafe { n.member() }, n.score()))
    }

    /// One ZSCAN step from `cursor` over the dict; calls `f(member, score)` per element of
    /// the visited buckets and returns the next cursor (0 when done). `dictScan`'s guarantee.
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a [u8], f64)) -> u64 {
        self.dict.scan(cursor, |n| {
            // SAFETY: linked, live while `self` is borrowed for 'a.
            f(unsafe { n.member() }, n.score())
        })
    }

    /// MEMORY USAGE sampling: calls `f(bytes)` with the allocation size (requested bytes) of
    /// the first `limit` element nodes in rank order (Redis's walk of `level[0].forward`).
    pub fn sample_node_sizes(&self, limit: usize, mut f: impl FnMut(usize)) {
        let mut n = self.header.fwd(0);
        let mut seen = 0;
        while let Some(node) = n {
            if seen >= limit {
                break;
            }
            // SAFETY: linked, live while `self` is borrowed.
            let (_, size) = unsafe { node.member_and_size() };
            f(size);
            seen += 1;
            n = node.fwd(0);
        }
    }

    /// Allocation size (requested bytes) of the header node (level 32, empty member).
    pub fn header_alloc_size(&self) -> usize {
        // SAFETY: the header is live while `self` is borrowed.
        unsafe { self.header.member_and_size() }.1
    }

    /// Bytes of the member dict's bucket arrays and overflow blocks.
    pub fn table_overhead_bytes(&self) -> usize {
        self.dict.overhead_bytes()
    }

    /// Approximate heap bytes (nodes, buckets, header).
    pub fn heap_size(&self) -> usize {
        self.bytes + self.len() * 40 + self.dict.overhead_bytes() + 400
    }

    /// Incremental rehash work for the cron (returns true if more is left).
    #[allow(dead_code)]
    pub fn rehash_for(&mut self, budget: std::time::Duration) -> bool {
        self.dict.rehash_for(budget)
    }

    /// Checks every structural invariant (tests): order, spans, backward links, tail,
    /// level, dict agreement. Panics on a violation.
    #[cfg(test)]
    pub fn check(&self) {
        let mut n = self.header;
        let mut count = 0;
        let mut prev: Option<Node> = None;
        while let Some(f) = n.fwd(0) {
            assert_eq!(f.backward(), prev);
            assert_eq!(n.span(0), 1);
            if let Some(p) = prev {
                // SAFETY: linked nodes.
                unsafe {
                    assert!(
                        (p.score(), p.member()) < (f.score(), f.member())
                            || (p.score() == f.score() && p.member() < f.member())
                    );
                }
            }
            // SAFETY: linked node.
            assert_eq!(self.dict.get(unsafe { f.member() }), Some(f));
            prev = Some(f);
            n = f;
            count += 1;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(count, self.len());
        // Spans: at each level, the sum of spans to the last node equals its rank.
        for i in 0..self.level {
            let mut n = self.header;
            let mut rank = 0;
            while let Some(f) = n.fwd(i) {
                rank += n.span(i);
                assert_eq!(self.by_rank_walk(rank), Some(f), "level {i} rank {rank}");
                n = f;
            }
        }
        assert!(self.level == 1 || self.header.fwd(self.level - 1).is_some());
    }
}

/// Iterator over a [`SkipTable`] from a rank (see [`SkipTable::iter_from`]).
pub struct Iter<'a> {
    node: Option<Node>,
    rev: bool,
    _t: PhantomData<&'a SkipTable>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<(&'a [u8], f64)> {
        let n = self.node?;
        self.node = if self.rev {
            n.backward()
        } else {
            // A node of level >= 2 knows the next such node, about four ahead: start its
            // miss now so that it overlaps the level-0 chain's (ZRANGEBYSCORE ... LIMIT).
            if n.level() >= 2 {
                prefetch(n.fwd(1));
            }
            n.fwd(0)
        };
        // SAFETY: linked, live while the table is borrowed for 'a.
        Some((unsafe { n.member() }, n.score()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_node_sizes_in_rank_order() {
        let mut t = SkipTable::new();
        for i in 0..50 {
            t.insert(format!("m{i:02}").as_bytes(), i as f64);
        }
        let mut n = 0;
        t.sample_node_sizes(7, |_| n += 1);
        assert_eq!(n, 7);
        let mut all = Vec::new();
        t.sample_node_sizes(usize::MAX, |s| all.push(s));
        assert_eq!(all.len(), 50);
        // score, backward link, level byte, 12 bytes per level, length 1, 3 member bytes.
        let fixed = LEVEL_OFF + 1 + 1 + 3;
        for s in all {
            assert!(
                s >= fixed + LEVEL_SIZE && (s - fixed).is_multiple_of(LEVEL_SIZE),
                "{s}"
            );
        }
        assert_eq!(
            t.header_alloc_size(),
            LEVEL_OFF + 1 + LEVEL_SIZE * MAX_LEVEL + 1
        );
    }
    use std::collections::BTreeMap;

    /// Total order key of the model: (score, member) with scores as ordered bits.
    fn model_order(m: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Score updates only (the interleaved two-walk path of `update_score`), against a model:
    /// few distinct scores (ties broken by member), moves to either end, across levels, on
    /// tables of 1 to a few hundred members, with spans checked.
    #[test]
    fn score_updates_match_a_model() {
        for seed in 0..40u64 {
            fastrand::seed(1000 + seed);
            let n = match seed {
                0..=3 => 1,
                4..=7 => 2,
                _ => 3 + fastrand::usize(..400),
            };
            let distinct = 1 + fastrand::i32(0..(n as i32).min(30));
            let mut t = SkipTable::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for j in 0..n {
                let k = format!("k{j}").into_bytes();
                let s = fastrand::i32(0..distinct) as f64;
                t.insert(&k, s);
                model.insert(k, s);
            }
            for step in 0..2000 {
                let k = format!("k{}", fastrand::usize(..n)).into_bytes();
                let s = match fastrand::u8(..8) {
                    0 => -1e9 - step as f64,
                    1 => 1e9 + step as f64,
                    2 => f64::NEG_INFINITY,
                    3 => f64::INFINITY,
                    _ => fastrand::i32(-1..=distinct) as f64,
                };
                // A count_while leaves a seek hint that the update must invalidate.
                let bound = fastrand::i32(-1..=distinct) as f64;
                let r = t.count_while(|s, _| s < bound);
                t.update_score(&k, s);
                model.insert(k, s);
                if step % 7 == 0 {
                    let order = model_order(&model);
                    let r = if step % 14 == 0 {
                        r.min(n - 1)
                    } else {
                        t.count_while(|s, _| s < bound)
                    };
                    let want = order.get(r).map(|(m, s)| (&m[..], *s));
                    assert_eq!(
                        t.iter_from(r, false).next(),
                        want,
                        "seed {seed} step {step}"
                    );
                }
                if n < 50 || step % 53 == 0 {
                    t.check();
                }
                if step % 101 == 0 {
                    let order = model_order(&model);
                    let got: Vec<(Vec<u8>, f64)> = t
                        .iter_from(0, false)
                        .map(|(m, s)| (m.to_vec(), s))
                        .collect();
                    assert_eq!(got, order, "seed {seed} step {step}");
                    for (i, (m, s)) in order.iter().enumerate() {
                        assert_eq!(t.rank(m), Some((i, *s)));
                    }
                }
            }
            t.check();
            let got: Vec<(Vec<u8>, f64)> = t
                .iter_from(0, false)
                .map(|(m, s)| (m.to_vec(), s))
                .collect();
            assert_eq!(got, model_order(&model));
        }
    }

    #[test]
    fn random_ops_match_a_btreemap_model() {
        for seed in 0..20u64 {
            fastrand::seed(seed);
            let mut t = SkipTable::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let keyspace = 50 + seed as usize * 40;
            for step in 0..3000 {
                let k = format!("m{}", fastrand::usize(..keyspace)).into_bytes();
                let score = (fastrand::i32(-20..20) as f64) / 2.0;
                match fastrand::u8(..10) {
                    0..=3 => {
                        if model.contains_key(&k) {
                            t.update_score(&k, score);
                        } else {
                            t.insert(&k, score);
                        }
                        model.insert(k, score);
                    }
                    4..=5 => assert_eq!(t.remove(&k), model.remove(&k)),
                    6 => {
                        let order = model_order(&model);
                        if !order.is_empty() {
                            let start = fastrand::usize(..order.len());
                            let count = fastrand::usize(..5);
                            let n = t.delete_range(start, count);
                            assert_eq!(n, count.min(order.len() - start));
                            for (m, _) in &order[start..start + n] {
                                model.remove(m);
                            }
                        }
                    }
                    _ => {
                        assert_eq!(t.score(&k), model.get(&k).copied());
                    }
                }
                if step % 97 == 0 {
                    t.check();
                }
                assert_eq!(t.len(), model.len());
            }
            t.check();
            let order = model_order(&model);
            // Ranks, iteration both ways, counts by score.
            for (i, (m, s)) in order.iter().enumerate() {
                assert_eq!(t.rank(m), Some((i, *s)));
            }
            let fwd: Vec<(Vec<u8>, f64)> = t
                .iter_from(0, false)
                .map(|(m, s)| (m.to_vec(), s))
                .collect();
            assert_eq!(fwd, order);
            if !order.is_empty() {
                let mut bwd: Vec<(Vec<u8>, f64)> = t
                    .iter_from(order.len() - 1, true)
                    .map(|(m, s)| (m.to_vec(), s))
                    .collect();
                bwd.reverse();
                assert_eq!(bwd, order);
                let mid = order.len() / 2;
                assert_eq!(t.iter_from(mid, false).next().unwrap().0, &order[mid].0[..]);
            }
            assert_eq!(t.iter_from(order.len(), false).next(), None);
            for bound in [-11.0, -3.5, 0.0, 2.5, 11.0] {
                let below = order.iter().filter(|(_, s)| *s < bound).count();
                let upto = order.iter().filter(|(_, s)| *s <= bound).count();
                assert_eq!(t.count_while(|s, _| s < bound), below);
                assert_eq!(t.count_while(|s, _| s <= bound), upto);
            }
            let c = t.clone();
            assert_eq!(c, t);
            c.check();
            // Scan covers everything.
            let mut seen = std::collections::HashSet::new();
            let mut cur = 0;
            loop {
                cur = t.scan(cur, |m, _| {
                    seen.insert(m.to_vec());
                });
                if cur == 0 {
                    break;
                }
            }
            assert_eq!(seen.len(), model.len());
            let all = t.len();
            assert_eq!(t.delete_range(0, usize::MAX), all);
            assert!(t.is_empty());
            t.check();
            assert!(t.random().is_none());
        }
    }
}

/// In-process micro-benchmark of the two big-zset hot paths (the shape of
/// `bench/collections.sh`'s 1M-member zset): `cargo test --release -p pyrope-server --lib
/// skiplist_micro_bench -- --ignored --nocapture`. Prints ns/op; asserts nothing useful.
#[cfg(test)]
mod bench {
    use super::*;
    use std::time::Instant;

    /// splitmix64: deterministic, independent of fastrand's global state.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const N: u64 = 1_000_000;
    const OPS: usize = 2_000_000;

    fn build() -> SkipTable {
        fastrand::seed(7);
        let mut t = SkipTable::new();
        t.reserve(N as usize);
        for j in 0..N {
            let score = ((j * 2_654_435_761) % 1_000_003) as f64;
            t.insert(format!("m:{j}").as_bytes(), score);
        }
        t
    }

    #[test]
    #[ignore]
    fn skiplist_micro_bench() {
        let mut t = build();
        let mut rng = Rng(42);
        let members: Vec<Vec<u8>> = (0..OPS)
            .map(|_| format!("m:{}", rng.below(N)).into_bytes())
            .collect();
        let scores: Vec<f64> = (0..OPS).map(|_| rng.below(1_000_004) as f64).collect();
        let start = Instant::now();
        for (m, s) in members.iter().zip(&scores) {
            t.update_score(m, *s);
        }
        let upd = start.elapsed().as_nanos() as f64 / OPS as f64;
        let mins: Vec<f64> = (0..OPS).map(|_| rng.below(1_000_004) as f64).collect();
        let start = Instant::now();
        let mut sink = 0usize;
        for min in &mins {
            let r = t.count_while(|s, _| s < *min);
            for (m, _) in t.iter_from(r, false).take(10) {
                sink += m.len();
            }
        }
        let rng_ns = start.elapsed().as_nanos() as f64 / OPS as f64;
        println!("BENCH update_score {upd:.1} ns/op  range10 {rng_ns:.1} ns/op  (sink {sink})");
        assert_eq!(t.len(), N as usize);
    }
}
