//! Lists (Redis t_list.c and quicklist.c): the value type [`ListValue`] with Redis's two
//! encodings, and the list commands LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX
//! LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP, and the blocking BLPOP BRPOP BLMOVE
//! BRPOPLPUSH BLMPOP on the blocking core (`crate::blocking`).
//!
//! Encodings, as Redis 7.2+: a small list is one listpack (`listpack`); when a push or an
//! insertion would take it past one quicklist node's limit (`list-max-listpack-size`: a
//! negative value is a byte size class of 4/8/16/32/64 KiB, a positive one an element
//! count, `quicklistNodeExceedsLimit`) it becomes a `quicklist`: a deque of listpack nodes,
//! each filled up to that limit (`_quicklistNodeAllowInsert`), and PLAIN nodes: one element
//! too large for a node (`isLargeElement`: over the size class, over 8 KiB for count fills,
//! or at least DEBUG QUICKLIST-PACKED-THRESHOLD when that is set) stored as is. Insertions
//! split and merge nodes as `_quicklistInsert` does, so DEBUG OBJECT's `ql_nodes` and the
//! RDB payload match Redis's. After deletions a quicklist of one packed node at most half the
//! limit converts back (`listTypeTryConvertQuicklist` with shrinking). The listpack bytes are
//! Redis's own (`common::listpack`), so the RDB writer and DUMP can copy nodes as they are.
//!
//! `list-compress-depth` (taken by a quicklist when it is created, as `quicklist->compress`):
//! each node carries Redis's compression state (`NodeState`), moved by the same calls as
//! quicklist.c (`__quicklistCompress` after node insertions and deletions,
//! `quicklistDecompressNodeForUse` / `quicklistRecompressOnly` around changes, the iterator's
//! `quicklistCompress` of each node it passes, reads included), and the nodes it marks
//! compressed really are: `QlNode::Lzf` holds the LZF bytes, the raw length, the element
//! count and the container where Redis holds a `quicklistLZF` (`__quicklistCompressNode`'s
//! output kept, not computed twice), so a compressed list takes about a quarter of the
//! memory. Changes decompress for use and compress again as the state says; reads (LRANGE,
//! LINDEX, LPOS, LINSERT's pivot search, SORT, DEBUG DIGEST) go through
//! [`ListValue::scan`], which decompresses a compressed node into a [`Scratch`] buffer and
//! leaves the list as it is (readers through `&`, the fork child included, need no
//! mutation; a Redis iterator would compress each node again to the same bytes, so only
//! the depth rule's re-attempts on raw nodes are applied afterwards, by `visit_range`;
//! DEBUG DIGEST does not apply them). RDB and DUMP write a compressed node's stored bytes as
//! its LZF blob (`rdbSaveLzfBlob`); the loader gets raw nodes and compresses them by the
//! depth rule, as `quicklistAppendListpack`; COPY copies compressed nodes as they are
//! (`quicklistDup`); MEMORY USAGE counts the compressed size. The end nodes are never
//! compressed, so the push/pop paths see only raw nodes. At depth 0, where Redis compresses
//! nothing, Pyrope compresses the middle nodes out of sight ([`HIDDEN_DEPTH`]).
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
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Byte limits of the negative `list-max-listpack-size` classes (quicklist.c
/// `optimization_level`).
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Count-limited nodes still never exceed this many bytes (`SIZE_SAFETY_LIMIT`).
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Per-element overhead estimate added before an insertion (`SIZE_ESTIMATE_OVERHEAD`).
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// quicklist.c's `packed_threshold` (Redis 7.2+), process-wide as in Redis: 0 (the default)
/// when unset, else the size from which an element gets a PLAIN node of its own. Set by
/// DEBUG QUICKLIST-PACKED-THRESHOLD (test suites only).
static PACKED_THRESHOLD: AtomicUsize = AtomicUsize::new(0);

/// Sets the packed threshold in bytes (`quicklistSetPackedThreshold`): 0 unsets it; false
/// (nothing changed) above 4 GB - 1 MB.
pub fn set_packed_threshold(sz: u64) -> bool {
    if sz > (1u64 << 32) - (1 << 20) {
        return false;
    }
    PACKED_THRESHOLD.store(sz as usize, Ordering::Relaxed);
    true
}

/// True if an element of `sz` bytes goes into a PLAIN quicklist node of a quicklist whose
/// fill is `fill` (`isLargeElement`, Redis 7.2+): at least the packed threshold when one is
/// set, else more than a node may hold (`SIZE_SAFETY_LIMIT` for count fills, the size class
/// for negative ones).
fn is_large(sz: usize, fill: i64) -> bool {
    let t = PACKED_THRESHOLD.load(Ordering::Relaxed);
    if t != 0 {
        return sz >= t;
    }
    let (limit, _) = node_limit(fill);
    if fill >= 0 {
        sz > SIZE_SAFETY_LIMIT
    } else {
        sz > limit
    }
}

/// The fill a new quicklist keeps (`quicklistSetFill`: clamped to -5..=32767).
fn clamp_fill(fill: i64) -> i64 {
    fill.clamp(-5, (1 << 15) - 1)
}

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

/// True if `node` exists, is packed and may take one more element of `sz` bytes, which is
/// not large (`_quicklistNodeAllowInsert`).
fn allow_insert(node: Option<&QlNode>, fill: i64, sz: usize) -> bool {
    match node.and_then(QlNode::packed_dims) {
        Some((bytes, len)) if !is_large(sz, fill) => {
            !exceeds_limit(fill, bytes + sz + SIZE_ESTIMATE_OVERHEAD, len + 1)
        }
        _ => false,
    }
}

/// True if two packed nodes may become one (`_quicklistNodeAllowMerge`: their bytes less
/// one listpack header and terminator, and their counts, within the node limits).
fn allow_merge(a: &QlNode, b: &QlNode, fill: i64) -> bool {
    let (Some((a_sz, a_len)), Some((b_sz, b_len))) = (a.packed_dims(), b.packed_dims()) else {
        return false;
    };
    let merge_sz = (a_sz + b_sz).saturating_sub(7);
    !exceeds_limit(fill, merge_sz, a_len + b_len)
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

/// One quicklist node (`quicklistNode`'s container): a listpack (`PACKED`), or one element
/// of at least the packed threshold stored as its bytes (`PLAIN`, `__quicklistCreatePlainNode`;
/// written to RDB with container 1), or either of those LZF-compressed (`Lzf`: what Redis
/// keeps as a `quicklistLZF` in `node->entry`). Same size as a `Listpack`: packed nodes cost
/// nothing more.
#[derive(Clone, Debug, PartialEq)]
pub enum QlNode {
    /// `QUICKLIST_NODE_CONTAINER_PACKED`: a listpack of one or more elements.
    Packed(Listpack),
    /// `QUICKLIST_NODE_CONTAINER_PLAIN`: one element, as is (never integer-encoded).
    Plain(Box<[u8]>),
    /// `QUICKLIST_NODE_ENCODING_LZF`: a packed or plain node compressed by
    /// `__quicklistCompressNode`. Only the middle nodes of a quicklist with a compress depth
    /// ever are (never the `depth` nodes at either end).
    Lzf(Box<LzfNode>),
}

// A packed node costs what a bare listpack did: the enum takes `Vec`'s capacity niche.
const _: () = assert!(std::mem::size_of::<QlNode>() == std::mem::size_of::<Listpack>());

/// A compressed quicklist node: the LZF bytes (`quicklistLZF.compressed`) and what Redis's
/// `quicklistNode` keeps beside them (`sz`, the raw length; `count`; `container`).
#[derive(Clone, Debug)]
pub struct LzfNode {
    /// The raw node's length in bytes (`node->sz`: listpack bytes, or the plain element's).
    sz: usize,
    /// Elements in the node (`node->count`; 1 for a plain node).
    count: usize,
    /// `QUICKLIST_NODE_CONTAINER_PLAIN`.
    plain: bool,
    /// The LZF output of the raw bytes (liblzf format, what `rdbSaveLzfBlob` writes).
    data: Box<[u8]>,
    /// Names these bytes for the cache of decompressed nodes (see [`inflated`]): taken from
    /// a process-wide counter when the node is compressed, never reused, shared by clones
    /// (which hold the same bytes; a node's bytes never change in place).
    id: u64,
}

impl PartialEq for LzfNode {
    /// The same node: the same bytes and shape, whatever the cache id.
    fn eq(&self, o: &LzfNode) -> bool {
        (self.sz, self.count, self.plain, &self.data) == (o.sz, o.count, o.plain, &o.data)
    }
}

static NEXT_LZF_ID: AtomicU64 = AtomicU64::new(1);

/// A compressed node's raw form, shared between the cache and readers.
#[derive(Debug)]
enum Inflated {
    Packed(Listpack),
    Plain(Vec<u8>),
}

/// Nodes up to this raw size go through the cache (a packed node's largest size class; a
/// big plain element is decompressed for each read and not kept).
const INFLATED_MAX: usize = 65536;

thread_local! {
    /// The two compressed nodes this thread decompressed last, by [`LzfNode::id`]: a run of
    /// reads in the same middle region of a big list (LRANGE paging, LINDEX near one
    /// place, LPOS after LINDEX) decompresses each node once, not once per command.
    /// Holds at most 2 x 64 KB.
    static INFLATED_CACHE: RefCell<[Option<(u64, Rc<Inflated>)>; 2]> =
        const { RefCell::new([None, None]) };
    /// The last node [`LzfNode::element`] read by a partial decompression: a second read of
    /// the same node in a row takes the whole node into [`INFLATED_CACHE`] instead.
    static PARTIAL_LAST: Cell<u64> = const { Cell::new(0) };
    /// Partial reads done by this thread (tests check the path runs).
    #[cfg(test)]
    static PARTIAL_READS: Cell<usize> = const { Cell::new(0) };
}

/// The raw form of `z`, from the cache or decompressed (and cached when small enough).
fn inflated(z: &LzfNode) -> Rc<Inflated> {
    let make = || {
        let raw = z.raw_bytes();
        Rc::new(if z.plain {
            Inflated::Plain(raw)
        } else {
            Inflated::Packed(Listpack::from_trusted_vec(raw))
        })
    };
    if z.sz > INFLATED_MAX {
        return make();
    }
    INFLATED_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((_, hit)) = c.iter().flatten().find(|(id, _)| *id == z.id) {
            return hit.clone();
        }
        let v = make();
        c[1] = c[0].take();
        c[0] = Some((z.id, v.clone()));
        v
    })
}

impl LzfNode {
    /// The LZF bytes.
    pub fn lzf(&self) -> &[u8] {
        &self.data
    }

    /// The raw length (`node->sz`).
    pub fn raw_len(&self) -> usize {
        self.sz
    }

    /// True for a compressed PLAIN node.
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// The raw bytes (LZF decompression of our own output: it cannot fail).
    fn raw_bytes(&self) -> Vec<u8> {
        pyrope_common::rdb::lzf::decompress(&self.data, self.sz as u64)
            .expect("a quicklist node's own LZF bytes decompress")
    }

    /// Element `j` of a compressed packed node, read from a partial decompression (about
    /// `(j + 1) / count` of the node's bytes, plus a margin) when `j` is in the node's first
    /// half: a random read of a big list decompresses a quarter of a node on average instead
    /// of all of it. `None` (the caller reads the whole node, through the cache) for a plain
    /// node, an element in the second half (reached from the tail, which needs the whole
    /// node), a node the thread's cache holds, a node read this way just before (a run of
    /// reads in one region: the whole node goes into the cache), and when the estimate of the
    /// element's offset fell short.
    fn element(&self, j: usize) -> Option<Vec<u8>> {
        use pyrope_common::listpack::{entry_in_prefix, LP_EMPTY_BYTES, LP_HDR_SIZE};
        if self.plain || 2 * j >= self.count {
            return None;
        }
        let cached =
            INFLATED_CACHE.with(|c| c.borrow().iter().flatten().any(|(id, _)| *id == self.id));
        if cached
            || (PARTIAL_LAST.with(|l| l.replace(self.id)) == self.id && self.sz <= INFLATED_MAX)
        {
            return None;
        }
        let before = (self.sz.saturating_sub(LP_EMPTY_BYTES)) * (j + 1) / self.count;
        let want = LP_HDR_SIZE + before + before / 4 + 64;
        let prefix = pyrope_common::rdb::lzf::decompress_prefix(&self.data, self.sz as u64, want)
            .expect("a quicklist node's own LZF bytes decompress");
        #[cfg(test)]
        PARTIAL_READS.with(|n| n.set(n.get() + 1));
        entry_in_prefix(&prefix, j).map(|e| e.to_vec())
    }

    /// The raw node again (`__quicklistDecompressNode`).
    fn decompress(&self) -> QlNode {
        let raw = self.raw_bytes();
        if self.plain {
            QlNode::Plain(raw.into_boxed_slice())
        } else {
            QlNode::Packed(Listpack::from_trusted_vec(raw))
        }
    }
}

/// A borrowed node: what the RDB writer and iterators see of a list, for both encodings
/// (a listpack-encoded list is one packed node). A compressed node is read through
/// [`NodeRef::raw`].
#[derive(Clone, Copy, Debug)]
pub enum NodeRef<'a> {
    /// A listpack.
    Packed(&'a Listpack),
    /// One element stored as is.
    Plain(&'a [u8]),
    /// A compressed node.
    Lzf(&'a LzfNode),
}

/// A node's uncompressed form, borrowed from the list or from a [`Scratch`].
#[derive(Clone, Copy, Debug)]
pub enum RawNode<'a> {
    /// A listpack.
    Packed(&'a Listpack),
    /// One element stored as is.
    Plain(&'a [u8]),
}

/// The buffer a read-only consumer decompresses compressed nodes into (the list itself is
/// not changed: the fork child and `&`-borrowing readers can read compressed lists).
#[derive(Default, Debug)]
pub struct Scratch {
    /// The last node decompressed through it (shared with the thread's cache of
    /// decompressed nodes); None until then, so reads of raw nodes allocate nothing.
    held: Option<Rc<Inflated>>,
}

impl<'a> NodeRef<'a> {
    /// True if an element equals `e` (LREM's `quicklistCompare`: a packed node's entries as
    /// `lpFind` compares them, a plain node's bytes exactly); a compressed node is
    /// decompressed into a buffer of its own for the look.
    pub fn contains(self, e: &[u8]) -> bool {
        let mut scratch = Scratch::default();
        match self.raw(&mut scratch) {
            RawNode::Packed(lp) => lp.first_pos().is_some_and(|p| lp.find(p, e, 0).is_some()),
            RawNode::Plain(v) => v == e,
        }
    }

    /// Elements in the node (1 for a plain node).
    pub fn len(self) -> usize {
        match self {
            NodeRef::Packed(lp) => lp.len(),
            NodeRef::Plain(_) => 1,
            NodeRef::Lzf(z) => z.count,
        }
    }

    /// True if the node holds no element (never for a node of a quicklist).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The node uncompressed: as it is, or decompressed into `scratch` (replacing what it
    /// held).
    pub fn raw<'b>(self, scratch: &'b mut Scratch) -> RawNode<'b>
    where
        'a: 'b,
    {
        match self {
            NodeRef::Packed(lp) => RawNode::Packed(lp),
            NodeRef::Plain(v) => RawNode::Plain(v),
            NodeRef::Lzf(z) => match &**scratch.held.insert(inflated(z)) {
                Inflated::Packed(lp) => RawNode::Packed(lp),
                Inflated::Plain(v) => RawNode::Plain(v),
            },
        }
    }
}

impl<'a> RawNode<'a> {
    /// Elements in the node (1 for a plain node).
    pub fn len(self) -> usize {
        match self {
            RawNode::Packed(lp) => lp.len(),
            RawNode::Plain(_) => 1,
        }
    }

    /// True if the node holds no element.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Its elements head to tail (double-ended).
    pub fn iter(self) -> NodeIter<'a> {
        match self {
            RawNode::Packed(lp) => NodeIter::Packed(lp.iter()),
            RawNode::Plain(v) => NodeIter::Plain(Some(v)),
        }
    }
}

/// Iterator over one node's elements (see [`RawNode::iter`]).
#[derive(Clone, Debug)]
pub enum NodeIter<'a> {
    /// A listpack's elements.
    Packed(pyrope_common::listpack::Iter<'a>),
    /// A plain node's element, until taken.
    Plain(Option<&'a [u8]>),
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = ListpackEntry<'a>;
    fn next(&mut self) -> Option<ListpackEntry<'a>> {
        match self {
            NodeIter::Packed(it) => it.next(),
            NodeIter::Plain(v) => v.take().map(ListpackEntry::Str),
        }
    }
}

impl DoubleEndedIterator for NodeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            NodeIter::Packed(it) => it.next_back(),
            NodeIter::Plain(v) => v.take().map(ListpackEntry::Str),
        }
    }
}

impl QlNode {
    /// A packed node holding `e`.
    fn packed_with(e: &[u8]) -> QlNode {
        let mut lp = Listpack::new();
        lp.push_back(e);
        QlNode::Packed(lp)
    }

    /// Elements in the node (1 for a plain node).
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// True if the node holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The node's raw bytes (`node->sz`: the listpack's bytes, or the plain element's
    /// length; a compressed node's uncompressed length).
    pub fn bytes(&self) -> usize {
        match self {
            QlNode::Packed(lp) => lp.bytes(),
            QlNode::Plain(v) => v.len(),
            QlNode::Lzf(z) => z.sz,
        }
    }

    /// True for a PLAIN node (compressed or not).
    pub fn is_plain(&self) -> bool {
        match self {
            QlNode::Packed(_) => false,
            QlNode::Plain(_) => true,
            QlNode::Lzf(z) => z.plain,
        }
    }

    /// True for a compressed node.
    pub fn is_lzf(&self) -> bool {
        matches!(self, QlNode::Lzf(_))
    }

    /// (bytes, elements) of a packed node, compressed or not (what `_quicklistNodeAllowInsert`
    /// and `_quicklistNodeAllowMerge` read: `node->sz`, `node->count`); None for a plain one.
    fn packed_dims(&self) -> Option<(usize, usize)> {
        match self {
            QlNode::Packed(lp) => Some((lp.bytes(), lp.len())),
            QlNode::Lzf(z) if !z.plain => Some((z.sz, z.count)),
            _ => None,
        }
    }

    /// The node borrowed.
    pub fn as_ref(&self) -> NodeRef<'_> {
        match self {
            QlNode::Packed(lp) => NodeRef::Packed(lp),
            QlNode::Plain(v) => NodeRef::Plain(v),
            QlNode::Lzf(z) => NodeRef::Lzf(z),
        }
    }

    /// The listpack of a raw packed node (None for plain and compressed nodes).
    fn lp_mut(&mut self) -> Option<&mut Listpack> {
        match self {
            QlNode::Packed(lp) => Some(lp),
            QlNode::Plain(_) | QlNode::Lzf(_) => None,
        }
    }

    /// The node's bytes as stored: the listpack, the plain element, or the LZF bytes.
    pub fn data(&self) -> &[u8] {
        match self {
            QlNode::Packed(lp) => lp.as_bytes(),
            QlNode::Plain(v) => v,
            QlNode::Lzf(z) => &z.data,
        }
    }

    /// The node compressed (`__quicklistCompressNode` on a raw node): None when `lzf_of`
    /// refuses (too small, incompressible) or the node already is compressed.
    fn compressed(&self) -> Option<QlNode> {
        let plain = match self {
            QlNode::Packed(_) => false,
            QlNode::Plain(_) => true,
            QlNode::Lzf(_) => return None,
        };
        let raw = self.data();
        let c = lzf_of(raw)?;
        Some(QlNode::Lzf(Box::new(LzfNode {
            sz: raw.len(),
            count: self.len(),
            plain,
            data: c.into_boxed_slice(),
            id: NEXT_LZF_ID.fetch_add(1, Ordering::Relaxed),
        })))
    }
}

/// The nodes of a quicklist and their total element count (Redis `quicklist->count`: LLEN
/// and every push reply are O(1), not a walk over thousands of nodes). Reads go through
/// `Deref` to the nodes; every change of the element count is made by a `ListValue` method,
/// which keeps `count` in step.
#[derive(Debug, PartialEq, Default)]
pub struct Quicklist {
    nodes: VecDeque<QlNode>,
    /// Each node's compression state, index for index with `nodes`.
    st: VecDeque<NodeState>,
    count: usize,
    /// The node limit this list was created with (`quicklist->fill`, clamped to -5..=32767:
    /// a later CONFIG SET of `list-max-listpack-size` applies to new lists only, as in Redis).
    fill: i64,
    /// Nodes kept uncompressed at each end (`quicklist->compress`, clamped to 0..=65535).
    /// Like `fill`, fixed when the quicklist is created. For a list created at
    /// `list-compress-depth 0` this is [`HIDDEN_DEPTH`] and `hidden` is set.
    depth: usize,
    /// Created at `list-compress-depth 0`, where Redis compresses nothing: the middle nodes
    /// are compressed all the same, out of sight (see [`HIDDEN_DEPTH`]).
    hidden: bool,
}

/// The nodes kept raw at each end of a list created at `list-compress-depth 0`, whose
/// middle nodes Pyrope keeps LZF-compressed where Redis keeps them raw. Nothing a client can
/// see differs from Redis at depth 0: DEBUG OBJECT says `ql_compressed:0`, the node layout is
/// the same (it never depends on compression), and RDB/DUMP write what Redis writes (with
/// `rdbcompression yes` Redis writes each node as the same LZF blob; with `no` a hidden node
/// is decompressed and written raw). Only the physical policy differs from a visible depth:
/// - a node is compressed when it moves past the end nodes (a node added at an end, one
///   removed), as `__quicklistCompress` compresses the first node past the depth;
/// - a middle node changed by LSET/LINSERT/LREM/LTRIM is decompressed and left raw
///   (`quicklistDecompressNode`, not `...ForUse`): writes in the middle cost one
///   decompression per node, not a compression per write, and the list never takes more
///   memory than Redis's;
/// - reads never re-attempt compression (an iterator's `quicklistCompress` only moves the
///   visible state, which is all raw here).
///
/// Two nodes per end, not one, so that a read of up to one node's worth of elements from
/// either end (LRANGE 0 599 on a list whose head node is partly filled) never decompresses.
/// Measured (bench/memory.sh (c), 1M `element:N` strings): 16 bytes per element raw, about
/// 8 compressed. The price is one LZF decompression of a node (~8 KB) per read in the
/// middle of a big list (LINDEX, LRANGE, LPOS past the end nodes).
pub const HIDDEN_DEPTH: usize = 2;

/// A quicklist node's compression state (`quicklistNode`'s `encoding`, `recompress` and
/// `dont_compress`). A node marked `lzf` is one Redis keeps LZF-compressed, and is a
/// `QlNode::Lzf` holding its LZF bytes (the two always agree).
/// The state follows quicklist.c's calls exactly, since which nodes Redis compresses depends
/// on the path (a node too small to compress stays raw until something re-attempts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodeState {
    /// `QUICKLIST_NODE_ENCODING_LZF`.
    pub lzf: bool,
    /// Decompressed for use; compress again afterwards (`recompress`).
    recompress: bool,
    /// `dont_compress` (set by `quicklistReplaceEntry` around its insertion).
    dont_compress: bool,
    /// Elements in the node (`node->count`), kept beside the node so that an index walk
    /// (`locate`) reads this small array instead of every node's heap header or LZF box
    /// (one cache line and TLB entry per node). Set by [`Quicklist::recount`] after every
    /// change of a node's elements; debug builds check it on every walk.
    count: u32,
}

impl NodeState {
    /// The state of a raw node just added: nothing but its element count.
    fn of(node: &QlNode) -> NodeState {
        NodeState {
            count: node.len() as u32,
            ..NodeState::default()
        }
    }
}

/// Nodes smaller than this are never compressed (quicklist.c `MIN_COMPRESS_BYTES`).
const MIN_COMPRESS_BYTES: usize = 48;
/// Compression must save at least this many bytes (`MIN_COMPRESS_IMPROVE`).
const MIN_COMPRESS_IMPROVE: usize = 8;

/// The LZF form Redis keeps of a node's bytes (`__quicklistCompressNode`): None when the node
/// is smaller than `MIN_COMPRESS_BYTES`, when `lzf_compress` gives up within an output of
/// the input's size, or when it saves less than `MIN_COMPRESS_IMPROVE` bytes.
pub fn lzf_of(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < MIN_COMPRESS_BYTES {
        return None;
    }
    let c = pyrope_common::rdb::lzf::compress_bounded(data, data.len())?;
    (c.len() + MIN_COMPRESS_IMPROVE < data.len()).then_some(c)
}

impl Clone for Quicklist {
    /// `quicklistDup` (COPY): the same fill and depth, each node copied with its encoding
    /// and appended as `_quicklistInsertNodeAfter` does, so the depth rule runs again (a raw
    /// middle node the original never re-attempted may come out compressed, as in Redis).
    fn clone(&self) -> Quicklist {
        if self.hidden {
            // The hidden policy keeps no path-dependent state: the copy is the same nodes.
            return Quicklist {
                nodes: self.nodes.clone(),
                st: self.st.clone(),
                count: self.count,
                fill: self.fill,
                depth: self.depth,
                hidden: true,
            };
        }
        let mut q = Quicklist::new(self.fill, self.depth as i64);
        for (n, st) in self.nodes.iter().zip(&self.st) {
            q.nodes.push_back(n.clone());
            q.st.push_back(NodeState {
                lzf: st.lzf,
                count: st.count,
                ..NodeState::default()
            });
            let k = q.nodes.len() - 1;
            if k > 0 {
                q.compress(k - 1);
            }
            q.compress(k);
        }
        q.count = self.count;
        q
    }
}

impl std::ops::Deref for Quicklist {
    type Target = VecDeque<QlNode>;
    fn deref(&self) -> &VecDeque<QlNode> {
        &self.nodes
    }
}

impl Quicklist {
    /// An empty quicklist of `fill` and `list-compress-depth` `depth` (0 or less: the hidden
    /// policy of [`HIDDEN_DEPTH`]).
    fn new(fill: i64, depth: i64) -> Quicklist {
        let depth = depth.clamp(0, (1 << 16) - 1) as usize;
        Quicklist {
            nodes: VecDeque::new(),
            st: VecDeque::new(),
            count: 0,
            fill: clamp_fill(fill),
            depth: if depth == 0 { HIDDEN_DEPTH } else { depth },
            hidden: depth == 0,
        }
    }

    /// The compress depth Redis would have (`quicklist->compress`): 0 under the hidden
    /// policy.
    pub fn visible_depth(&self) -> usize {
        if self.hidden {
            0
        } else {
            self.depth
        }
    }

    /// True when the compressed nodes are Pyrope's own (created at depth 0), not Redis's.
    pub fn hides_compression(&self) -> bool {
        self.hidden
    }

    /// The compression state of each node, head to tail.
    pub fn states(&self) -> impl Iterator<Item = NodeState> + '_ {
        self.st.iter().copied()
    }

    /// (node, index within node) of element `i` (< count), walking the cached counts from
    /// the nearer end (`quicklistGetIteratorAtIdx`).
    fn locate(&self, i: usize) -> (usize, usize) {
        let check = |k: usize, c: usize| {
            debug_assert_eq!(c, self.nodes[k].len(), "node {k}'s cached count");
            c
        };
        if i >= self.count / 2 {
            let mut after = self.count - 1 - i;
            for (k, st) in self.st.iter().enumerate().rev() {
                let c = check(k, st.count as usize);
                if after < c {
                    return (k, c - 1 - after);
                }
                after -= c;
            }
        } else {
            let mut i = i;
            for (k, st) in self.st.iter().enumerate() {
                let c = check(k, st.count as usize);
                if i < c {
                    return (k, i);
                }
                i -= c;
            }
        }
        unreachable!("index checked against count")
    }

    /// Sets node `k`'s cached element count after a change of its elements.
    fn recount(&mut self, k: usize) {
        self.st[k].count = self.nodes[k].len() as u32;
    }

    /// `__quicklistCompressNode` on a raw node (`quicklistCompressNode`).
    fn compress_node(&mut self, k: usize) {
        let Some(st) = self.st.get_mut(k) else { return };
        if st.lzf || st.dont_compress {
            return;
        }
        st.recompress = false;
        if let Some(c) = self.nodes[k].compressed() {
            self.nodes[k] = c;
            self.st[k].lzf = true;
        }
    }

    /// Replaces compressed node `k` by its raw form (`__quicklistDecompressNode`).
    fn inflate(&mut self, k: usize) {
        if let QlNode::Lzf(z) = &self.nodes[k] {
            self.nodes[k] = z.decompress();
        }
    }

    /// `quicklistDecompressNode`.
    fn decompress_node(&mut self, k: usize) {
        if let Some(st) = self.st.get_mut(k) {
            if st.lzf {
                st.lzf = false;
                st.recompress = false;
                self.inflate(k);
            }
        }
    }

    /// `quicklistDecompressNodeForUse`: decompressed, to be compressed again after use
    /// (under the hidden policy: decompressed and left raw).
    fn decompress_for_use(&mut self, k: usize) {
        if let Some(st) = self.st.get_mut(k) {
            if st.lzf {
                st.lzf = false;
                st.recompress = !self.hidden;
                self.inflate(k);
            }
        }
    }

    /// `quicklistRecompressOnly`.
    fn recompress_only(&mut self, k: usize) {
        if self.st.get(k).is_some_and(|s| s.recompress) {
            self.compress_node(k);
        }
    }

    /// `quicklistCompress`: a node decompressed for use is compressed again, any other
    /// re-applies the depth rule around it.
    /// Under the hidden policy only the nodes just past the ends are compressed, never `k`
    /// itself (a middle node written stays raw).
    fn compress(&mut self, k: usize) {
        if self.hidden {
            self.compress_all(None);
        } else if self.st.get(k).is_some_and(|s| s.recompress) {
            self.compress_node(k);
        } else if k < self.nodes.len() {
            self.compress_all(Some(k));
        }
    }

    /// `__quicklistCompress`: the `depth` nodes at each end are decompressed; `node` (unless
    /// within them) and the first node past the depth at each end are compressed. Nothing
    /// when the list has fewer than 2 * depth nodes.
    fn compress_all(&mut self, node: Option<usize>) {
        let len = self.nodes.len();
        if len == 0 || self.depth == 0 || len < self.depth * 2 {
            return;
        }
        let (mut fwd, mut rev) = (0, len - 1);
        let mut in_depth = false;
        for _ in 0..self.depth {
            self.decompress_node(fwd);
            self.decompress_node(rev);
            if node == Some(fwd) || node == Some(rev) {
                in_depth = true;
            }
            if fwd == rev || fwd + 1 == rev {
                return;
            }
            fwd += 1;
            rev -= 1;
        }
        if !in_depth {
            if let Some(k) = node {
                self.compress_node(k);
            }
        }
        self.compress_node(fwd);
        self.compress_node(rev);
    }

    /// What a read through a quicklist iterator leaves behind on node `k`
    /// (`quicklistDecompressNodeForUse` on arrival, `quicklistCompress` on leaving): a
    /// compressed node is compressed again, a raw one re-applies the depth rule.
    pub fn visit(&mut self, k: usize) {
        // A compressed node would be decompressed and compressed again to the same bytes:
        // nothing changes, so skip the work (readers decompress into a `Scratch` instead).
        // Under the hidden policy reads move no state at all.
        if self.hidden || self.st.get(k).is_some_and(|s| s.lzf) {
            return;
        }
        self.compress(k);
    }

    /// Inserts `node` after (or before) node `k` (`__quicklistInsertNode`, with its
    /// `quicklistCompress` of both nodes); returns its index.
    fn insert_node(&mut self, k: usize, node: QlNode, after: bool) -> usize {
        let at = if after { k + 1 } else { k };
        self.st.insert(at, NodeState::of(&node));
        self.nodes.insert(at, node);
        let old = if after { k } else { k + 1 };
        self.compress(old);
        self.compress(at);
        at
    }

    /// Adds `node` at an end (`__quicklistInsertNode` next to the head or tail, or as the
    /// only node).
    fn insert_at_end(&mut self, end: End, node: QlNode) {
        if self.nodes.is_empty() {
            self.st.push_back(NodeState::of(&node));
            self.nodes.push_back(node);
            self.compress(0);
            return;
        }
        match end {
            End::Head => self.insert_node(0, node, false),
            End::Tail => self.insert_node(self.nodes.len() - 1, node, true),
        };
    }

    /// Removes node `k` and its elements (`__quicklistDelNode`, which re-applies the depth
    /// rule).
    fn del_node(&mut self, k: usize) -> Option<QlNode> {
        let n = self.nodes.remove(k)?;
        self.st.remove(k);
        self.count -= n.len();
        self.compress_all(None);
        Some(n)
    }

    /// Splits packed node `k` at `offset` (`_quicklistSplitNode`): with `after` the returned
    /// node has the elements after `offset` and node `k` keeps [0, offset]; without it the
    /// returned node has [0, offset) and node `k` keeps [offset, end]. The returned node is
    /// not in the list yet.
    fn split(&mut self, k: usize, offset: usize, after: bool) -> QlNode {
        let Some(lp) = self.nodes[k].lp_mut() else {
            unreachable!("plain nodes are never split")
        };
        let len = lp.len();
        let mut new = lp.clone();
        let (orig_start, new_start) = if after { (offset + 1, 0) } else { (0, offset) };
        let orig_n = if after { len - orig_start } else { offset };
        let new_n = if after { offset + 1 } else { len - offset };
        if orig_n > 0 {
            lp.delete_range(orig_start as i64, orig_n);
        }
        if new_n > 0 {
            new.delete_range(new_start as i64, new_n);
        }
        self.recount(k);
        QlNode::Packed(new)
    }

    /// Merges node `i + 1` into node `i` (`_quicklistListpackMerge`; both packed).
    /// Both are decompressed, the emptied node is deleted (`__quicklistDelNode`) and the kept
    /// one compressed where the depth rule says (`quicklistCompress`).
    fn merge_pair(&mut self, i: usize) {
        self.decompress_node(i);
        self.decompress_node(i + 1);
        let Some(QlNode::Packed(right)) = self.nodes.remove(i + 1) else {
            unreachable!("allow_merge checked both nodes")
        };
        let right_st = self.st.remove(i + 1).unwrap_or_default();
        if let Some(lp) = self.nodes[i].lp_mut() {
            // lpMerge keeps the larger listpack's node.
            if right.bytes() > lp.bytes() {
                self.st[i] = right_st;
            }
            let items: Vec<ListpackEntry> = right.iter().collect();
            lp.push_back_all(&items);
        }
        self.recount(i);
        self.st[i].recompress = false;
        self.compress_all(None);
        self.compress(i);
    }

    /// `_quicklistMergeNodes` around node `center`: (prev_prev, prev), (next, next_next),
    /// then (prev, center) and the result with its next.
    fn merge_around(&mut self, center: usize) -> usize {
        let fill = self.fill;
        let mut c = center;
        if c >= 2 && allow_merge(&self.nodes[c - 1], &self.nodes[c - 2], fill) {
            self.merge_pair(c - 2);
            c -= 1;
        }
        if c + 2 < self.nodes.len() && allow_merge(&self.nodes[c + 1], &self.nodes[c + 2], fill) {
            self.merge_pair(c + 1);
        }
        let target = if c >= 1 && allow_merge(&self.nodes[c], &self.nodes[c - 1], fill) {
            self.merge_pair(c - 1);
            c - 1
        } else {
            c
        };
        if target + 1 < self.nodes.len()
            && allow_merge(&self.nodes[target], &self.nodes[target + 1], fill)
        {
            self.merge_pair(target);
        }
        target
    }

    /// Pushes one element at `end` (`quicklistPushHead` / `quicklistPushTail`).
    fn push(&mut self, end: End, e: &[u8]) {
        let fill = self.fill;
        if is_large(e.len(), fill) {
            self.insert_at_end(end, QlNode::Plain(e.into()));
        } else {
            let node = match end {
                End::Head => self.nodes.front_mut(),
                End::Tail => self.nodes.back_mut(),
            };
            if allow_insert(node.as_deref(), fill, e.len()) {
                if let Some(lp) = node.and_then(|n| n.lp_mut()) {
                    match end {
                        End::Head => lp.push_front(e),
                        End::Tail => lp.push_back(e),
                    }
                }
                let k = match end {
                    End::Head => 0,
                    End::Tail => self.nodes.len() - 1,
                };
                self.recount(k);
            } else {
                self.insert_at_end(end, QlNode::packed_with(e));
            }
        }
        self.count += 1;
    }

    /// Inserts `e` after (or before) element `offset` of node `k` (`_quicklistInsert`): a
    /// large element gets a plain node next to the pivot's node (splitting a packed node when
    /// the pivot is inside it); a small one goes into the pivot's node if it has room, else
    /// into the neighbour at the matching edge, else a new node at that edge, else the node
    /// is split, the element joins the split-off part, and the nodes around are merged.
    /// Node `k` was decompressed for use by the caller (the iterator that found it). Returns
    /// the pivot node's index when the iterator is left on it (the large-element paths do
    /// not reset it: its release compresses that node).
    fn insert_at(&mut self, k: usize, offset: usize, after: bool, e: &[u8]) -> Option<usize> {
        let fill = self.fill;
        let sz = e.len();
        let node_len = self.nodes[k].len();
        let full = !allow_insert(Some(&self.nodes[k]), fill, sz);
        let at_tail = after && offset == node_len - 1;
        let at_head = !after && offset == 0;
        let avail_next = at_tail && allow_insert(self.nodes.get(k + 1), fill, sz);
        let avail_prev = at_head && k > 0 && allow_insert(self.nodes.get(k - 1), fill, sz);
        self.count += 1;
        if is_large(sz, fill) {
            let plain = QlNode::Plain(e.into());
            if self.nodes[k].is_plain() || at_tail || at_head {
                self.insert_node(k, plain, after);
                return Some(if after { k } else { k + 1 });
            } else {
                self.decompress_for_use(k);
                let new = self.split(k, offset, after);
                let p = self.insert_node(k, plain, after);
                self.insert_node(p, new, after);
                return Some(if after { k } else { k + 2 });
            }
        }
        if !full {
            self.decompress_for_use(k);
            if let Some(lp) = self.nodes[k].lp_mut() {
                lp.insert(if after { offset + 1 } else { offset }, e);
            }
            self.recount(k);
            self.recompress_only(k);
        } else if at_tail && avail_next {
            self.decompress_for_use(k + 1);
            if let Some(lp) = self.nodes[k + 1].lp_mut() {
                lp.push_front(e);
            }
            self.recount(k + 1);
            self.recompress_only(k + 1);
            self.recompress_only(k);
        } else if at_head && avail_prev {
            self.decompress_for_use(k - 1);
            if let Some(lp) = self.nodes[k - 1].lp_mut() {
                lp.push_back(e);
            }
            self.recount(k - 1);
            self.recompress_only(k - 1);
            self.recompress_only(k);
        } else if at_tail || at_head {
            self.insert_node(k, QlNode::packed_with(e), after);
        } else {
            self.decompress_for_use(k);
            let mut new = self.split(k, offset, after);
            if let Some(lp) = new.lp_mut() {
                if after {
                    lp.push_front(e);
                } else {
                    lp.push_back(e);
                }
            }
            self.insert_node(k, new, after);
            // The pivot's node moved one place right when the new node went before it.
            self.merge_around(if after { k } else { k + 1 });
        }
        None
    }

    /// Replaces element `j` of node `k` with `e` (`quicklistReplaceEntry`, Redis 7.2+): in
    /// place unless the node is plain and `e` is not large (then `e` is inserted after it and
    /// the plain node deleted) or the node is packed and `e` is large: then the node is split
    /// after the element (unless it is the last), `e` gets a plain node between the parts,
    /// the element is deleted (with its node if it was alone), and the nodes around the new
    /// one are merged where they may be.
    /// Node `k` was decompressed for use by the caller; the compression calls are
    /// `quicklistReplaceEntry`'s.
    fn replace(&mut self, k: usize, j: usize, e: &[u8]) {
        let large = is_large(e.len(), self.fill);
        match &mut self.nodes[k] {
            QlNode::Packed(lp) if !large => {
                lp.replace(j, e);
                self.compress(k);
            }
            QlNode::Plain(v) if large => {
                *v = e.into();
                self.compress(k);
            }
            QlNode::Plain(_) => {
                self.insert_at(k, 0, true, e);
                self.del_node(k);
            }
            QlNode::Lzf(_) => unreachable!("decompressed for use by the caller"),
            QlNode::Packed(lp) => {
                let last = lp.len() - 1;
                self.st[k].dont_compress = true;
                let split = (j != last).then(|| self.split(k, j, true));
                self.insert_node(k, QlNode::Plain(e.into()), true);
                if let Some(split) = split {
                    self.insert_node(k + 1, split, true);
                }
                self.count += 1;
                if self.nodes[k].len() == 1 {
                    self.del_node(k);
                } else {
                    if let Some(lp) = self.nodes[k].lp_mut() {
                        lp.delete_range(-1, 1);
                    }
                    self.recount(k);
                    self.count -= 1;
                    self.st[k].dont_compress = false;
                    let n = self.merge_around(k + 1);
                    self.compress(n);
                    if n > 0 {
                        self.compress(n - 1);
                    }
                    if n + 1 < self.nodes.len() {
                        self.compress(n + 1);
                    }
                }
            }
        }
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

    /// (nodes, total node bytes, fill) of a quicklist (DEBUG OBJECT's `ql_*` fields; a plain
    /// node counts its element's length, as `node->sz`), None for a listpack.
    pub fn quicklist_stats(&self) -> Option<(usize, usize, i64)> {
        match self {
            ListValue::Listpack(_) => None,
            ListValue::Quicklist(q) => Some((q.len(), q.iter().map(|n| n.bytes()).sum(), q.fill)),
        }
    }

    /// The compress depth of a quicklist as Redis would have it (`quicklist->compress`;
    /// DEBUG OBJECT's `ql_compressed` is whether it is not 0; 0 under the hidden policy),
    /// None for a listpack.
    pub fn compress_depth(&self) -> Option<usize> {
        match self {
            ListValue::Listpack(_) => None,
            ListValue::Quicklist(q) => Some(q.visible_depth()),
        }
    }

    /// True when the list's compressed nodes are hidden ones (see [`HIDDEN_DEPTH`]): RDB
    /// writes them as Redis writes raw nodes.
    pub fn hides_compression(&self) -> bool {
        matches!(self, ListValue::Quicklist(q) if q.hides_compression())
    }

    /// What a read through a quicklist iterator over elements `from..=to` (head to tail)
    /// leaves behind: every node it passes is compressed again or re-attempted
    /// (`quicklistNext` / `quicklistReleaseIterator`). Nothing for a listpack.
    pub fn visit_range(&mut self, from: usize, to: usize) {
        // A listpack has no compression state; the hidden policy's reads move none.
        let moves_state = matches!(self, ListValue::Quicklist(q) if !q.hidden);
        if !moves_state || from > to || to >= self.len() {
            return;
        }
        let (a, _) = self.locate(from);
        let (b, _) = self.locate(to);
        if let ListValue::Quicklist(q) = self {
            for k in a..=b {
                q.visit(k);
            }
        }
    }

    /// Heap bytes of the nodes.
    pub fn heap_size(&self) -> usize {
        match self {
            ListValue::Listpack(lp) => lp.bytes(),
            ListValue::Quicklist(q) => q.iter().map(|n| n.data().len() + 32).sum(),
        }
    }

    /// The nodes in order (a listpack is one packed node): what RDB writes.
    pub fn node_refs(&self) -> impl DoubleEndedIterator<Item = NodeRef<'_>> + '_ {
        let (lp, q) = match self {
            ListValue::Listpack(lp) => (Some(lp), None),
            ListValue::Quicklist(q) => (None, Some(&q.nodes)),
        };
        lp.into_iter()
            .map(NodeRef::Packed)
            .chain(q.into_iter().flat_map(|q| q.iter().map(QlNode::as_ref)))
    }

    /// Node `k` (< `nodes()`).
    fn node_at(&self, k: usize) -> NodeRef<'_> {
        match self {
            ListValue::Listpack(lp) => NodeRef::Packed(lp),
            ListValue::Quicklist(q) => q.nodes[k].as_ref(),
        }
    }

    /// Calls `f` on the elements from position `from` (< len) toward the tail, or toward the
    /// head when `rev`, until `f` returns false. Compressed nodes are decompressed into a
    /// scratch buffer: the list is not changed (the compression state a Redis iterator would
    /// move is the caller's `visit_range`).
    pub fn scan(&self, from: usize, rev: bool, mut f: impl FnMut(ListpackEntry<'_>) -> bool) {
        if from >= self.len() {
            return;
        }
        let (k0, j) = self.locate(from);
        let mut scratch = Scratch::default();
        if !rev {
            for k in k0..self.nodes() {
                let node = self.node_at(k).raw(&mut scratch);
                let skip = if k == k0 { j } else { 0 };
                for e in node.iter().skip(skip) {
                    if !f(e) {
                        return;
                    }
                }
            }
        } else {
            for k in (0..=k0).rev() {
                let node = self.node_at(k).raw(&mut scratch);
                let skip = if k == k0 { node.len() - 1 - j } else { 0 };
                for e in node.iter().rev().skip(skip) {
                    if !f(e) {
                        return;
                    }
                }
            }
        }
    }

    /// Every element head to tail, into `f` (see [`ListValue::scan`]).
    pub fn for_each(&self, mut f: impl FnMut(ListpackEntry<'_>)) {
        self.scan(0, false, |e| {
            f(e);
            true
        });
    }

    /// A list built the way SORT ... STORE builds its result (sort.c): a quicklist created
    /// with `fill` (`createQuicklistObject`), every element pushed at the tail, then
    /// `listTypeTryConversion(LIST_CONV_AUTO)` — back to a listpack when it is one packed
    /// node within the node limits (not halved: this is no shrink).
    pub fn build_stored<'e>(
        fill: i64,
        depth: i64,
        elements: impl IntoIterator<Item = &'e [u8]>,
    ) -> ListValue {
        let mut q = Quicklist::new(fill, depth);
        for e in elements {
            q.push(End::Tail, e);
        }
        let mut l = ListValue::Quicklist(Box::new(q));
        l.try_convert_quicklist(fill, false);
        l
    }

    /// A list loaded from RDB quicklist nodes (none empty), as Redis 7.4's `rdbLoadObject`:
    /// the nodes are kept as they are in a quicklist created with `fill`, then a single
    /// packed node within the node limits becomes a listpack-encoded list (not halved).
    /// Each node is appended as `quicklistAppendListpack` does, compressed by the depth rule
    /// (`depth` is `list-compress-depth`).
    pub fn from_loaded_nodes(fill: i64, depth: i64, nodes: Vec<QlNode>) -> ListValue {
        let count = nodes.iter().map(|n| n.len()).sum();
        let mut q = Quicklist::new(fill, depth);
        for n in nodes {
            q.insert_at_end(End::Tail, n);
        }
        q.count = count;
        let mut l = ListValue::Quicklist(Box::new(q));
        l.try_convert_quicklist(fill, false);
        l
    }

    /// Converts to a quicklist before adding `add_len` elements of `add_bytes` bytes if one
    /// listpack could not hold them (`listTypeTryConvertListpack`).
    /// The new quicklist takes `depth` (`list-compress-depth`) as its compress depth.
    pub fn grow_check(&mut self, fill: i64, depth: i64, add_bytes: usize, add_len: usize) {
        if let ListValue::Listpack(lp) = self {
            if exceeds_limit(fill, lp.bytes() + add_bytes, lp.len() + add_len) {
                let lp = std::mem::take(lp);
                let mut q = Quicklist::new(fill, depth);
                q.count = lp.len();
                if !lp.is_empty() {
                    q.insert_at_end(End::Tail, QlNode::Packed(lp));
                }
                *self = ListValue::Quicklist(Box::new(q));
            }
        }
    }

    /// `listTypeTryConvertQuicklist`: a quicklist of one packed node within the limits of
    /// `fill` (halved when `shrinking`) becomes a listpack.
    fn try_convert_quicklist(&mut self, fill: i64, shrinking: bool) {
        if let ListValue::Quicklist(q) = self {
            if q.len() != 1 {
                return;
            }
            let QlNode::Packed(node) = &q.nodes[0] else {
                return;
            };
            let (mut sz, mut count) = node_limit(fill);
            if shrinking {
                sz /= 2;
                count /= 2;
            }
            if node.bytes() > sz || q.count > count {
                return;
            }
            q.st.clear();
            if let Some(QlNode::Packed(lp)) = q.nodes.pop_front() {
                *self = ListValue::Listpack(lp);
            }
        }
    }

    /// Converts a one-node quicklist at most half a node's limit back to a listpack
    /// (`listTypeTryConvertQuicklist` with shrinking; a plain node stays a quicklist).
    pub fn shrink_check(&mut self, fill: i64) {
        self.try_convert_quicklist(fill, true);
    }

    /// Pushes one element at `end` (`quicklistPush`; an element of at least the packed
    /// threshold gets a plain node of its own in a quicklist).
    pub fn push(&mut self, end: End, e: &[u8]) {
        match self {
            ListValue::Listpack(lp) => match end {
                End::Head => lp.push_front(e),
                End::Tail => lp.push_back(e),
            },
            ListValue::Quicklist(q) => q.push(end, e),
        }
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let node = match self {
            ListValue::Listpack(lp) => lp,
            ListValue::Quicklist(q) => {
                let k = match end {
                    End::Head => 0,
                    End::Tail => q.nodes.len().checked_sub(1)?,
                };
                match q.nodes.get_mut(k)? {
                    QlNode::Packed(lp) => lp,
                    QlNode::Plain(_) => {
                        return match q.del_node(k) {
                            Some(QlNode::Plain(v)) => Some(v.into_vec()),
                            _ => None,
                        };
                    }
                    // The end nodes are never compressed (the depth rule keeps `depth` >= 1
                    // raw nodes at each end, as `quicklistPopCustom` relies on): only as a
                    // guard, decompress and pop again.
                    QlNode::Lzf(_) => {
                        q.decompress_node(k);
                        q.inflate(k);
                        return self.pop(end);
                    }
                }
            }
        };
        let pos = match end {
            End::Head => node.first_pos()?,
            End::Tail => node.last_pos()?,
        };
        let v = node.entry(pos).to_vec();
        node.delete_at(pos);
        if let ListValue::Quicklist(q) = self {
            q.count -= 1;
            let k = match end {
                End::Head => 0,
                End::Tail => q.nodes.len() - 1,
            };
            if q.nodes[k].is_empty() {
                q.del_node(k);
            } else {
                q.recount(k);
            }
        }
        Some(v)
    }

    /// (node, index within node) of element `i` (< len), walking from the nearer end.
    fn locate(&self, mut i: usize) -> (usize, usize) {
        if let ListValue::Quicklist(q) = self {
            return q.locate(i);
        }
        let len = self.len();
        if i >= len / 2 {
            let mut after = len - 1 - i;
            for k in (0..self.nodes()).rev() {
                let n = self.node_at(k).len();
                if after < n {
                    return (k, n - 1 - after);
                }
                after -= n;
            }
        } else {
            for (k, n) in self.node_refs().enumerate() {
                if i < n.len() {
                    return (k, i);
                }
                i -= n.len();
            }
        }
        unreachable!("index checked against len")
    }

    /// Resolves a Redis index (negative from the tail) to a position, None if out of range.
    pub fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The element at position `i` (< len): its node found from the nearer end of the list,
    /// the element from the nearer end of the node (`quicklistGetIteratorAtIdx`, `lpSeek`).
    /// A compressed node is read only as far as the element when it can be
    /// ([`LzfNode::element`]).
    pub fn get(&self, i: usize) -> Vec<u8> {
        let (k, j) = self.locate(i);
        let node = self.node_at(k);
        if let NodeRef::Lzf(z) = node {
            if let Some(v) = z.element(j) {
                return v;
            }
        }
        let mut scratch = Scratch::default();
        match node.raw(&mut scratch) {
            RawNode::Packed(lp) => lp.get(j).map(|e| e.to_vec()).unwrap_or_default(),
            RawNode::Plain(v) => v.to_vec(),
        }
    }

    /// Replaces the element at position `i` (< len) (`quicklistReplaceAtIndex`).
    pub fn set(&mut self, i: usize, e: &[u8]) {
        let (k, j) = self.locate(i);
        match self {
            ListValue::Listpack(lp) => lp.replace(j, e),
            ListValue::Quicklist(q) => {
                q.decompress_for_use(k);
                q.replace(k, j, e)
            }
        }
    }

    /// Inserts `e` before (or after) position `i` (< len) (`quicklistInsertBefore/After`,
    /// see `Quicklist::insert_at`).
    /// The pivot was found by iterating from the head: the nodes before its node were
    /// passed (see [`ListValue::visit_range`]).
    pub fn insert(&mut self, i: usize, after: bool, e: &[u8]) {
        let (k, j) = self.locate(i);
        match self {
            ListValue::Listpack(lp) => lp.insert(if after { j + 1 } else { j }, e),
            ListValue::Quicklist(q) => {
                for p in 0..k {
                    q.visit(p);
                }
                q.decompress_for_use(k);
                if let Some(c) = q.insert_at(k, j, after, e) {
                    q.compress(c);
                }
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
        match self {
            ListValue::Listpack(lp) => remove_in(lp, e, count < 0, limit, &mut removed),
            ListValue::Quicklist(q) => {
                // An iterator from the head (or tail): each node is decompressed for use,
                // compressed again when left (`quicklistNext`), deleted when emptied
                // (`quicklistDelIndex`); the node the iterator stops at is compressed by
                // `quicklistReleaseIterator`.
                let tail = count < 0;
                let mut k = if tail {
                    q.nodes.len().checked_sub(1)
                } else {
                    Some(0)
                };
                while let Some(at) = k.filter(|&at| at < q.nodes.len()) {
                    // Under the hidden policy a compressed node without `e` is passed by
                    // (decompressing it would leave it raw).
                    if q.hidden && q.nodes[at].is_lzf() && !q.nodes[at].as_ref().contains(e) {
                        k = if tail {
                            at.checked_sub(1)
                        } else {
                            Some(at + 1)
                        };
                        continue;
                    }
                    q.decompress_for_use(at);
                    let before = removed;
                    match &mut q.nodes[at] {
                        QlNode::Packed(lp) => remove_in(lp, e, tail, limit, &mut removed),
                        // `quicklistCompare` of a plain node: the bytes, exactly.
                        node @ QlNode::Plain(_) => {
                            if matches!(node, QlNode::Plain(v) if **v == *e) {
                                *node = QlNode::Packed(Listpack::new());
                                removed += 1;
                            }
                        }
                        QlNode::Lzf(_) => unreachable!("decompressed for use"),
                    }
                    q.count -= removed - before;
                    let next = if q.nodes[at].is_empty() {
                        q.del_node(at);
                        let next = if tail { at.checked_sub(1) } else { Some(at) };
                        if removed == limit {
                            if let Some(n) = next.filter(|&n| n < q.nodes.len()) {
                                q.compress(n);
                            }
                            break;
                        }
                        next
                    } else {
                        q.recount(at);
                        q.compress(at);
                        if removed == limit {
                            break;
                        }
                        if tail {
                            at.checked_sub(1)
                        } else {
                            Some(at + 1)
                        }
                    };
                    k = next;
                }
            }
        }
        removed
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
                // `quicklistDelRange(0, ltrim)` then `quicklistDelRange(-rtrim, rtrim)`: the
                // start node is compressed when the seeking iterator is released, then nodes
                // are deleted whole or cut (decompressed for use, compressed again) toward
                // the tail.
                if ltrim > 0 && ltrim <= q.count {
                    q.compress(0);
                    while ltrim > 0 {
                        let take = q.nodes[0].len().min(ltrim);
                        q.decompress_for_use(0);
                        match q.nodes[0].lp_mut() {
                            Some(lp) if lp.len() > take => {
                                lp.delete_range(0, take);
                                q.count -= take;
                                q.recount(0);
                                q.recompress_only(0);
                            }
                            _ => {
                                q.del_node(0);
                            }
                        }
                        ltrim -= take;
                    }
                }
                if rtrim > 0 && rtrim <= q.count {
                    let mut k = 0;
                    let mut before = q.count - rtrim;
                    while before >= q.nodes[k].len() {
                        before -= q.nodes[k].len();
                        k += 1;
                    }
                    q.compress(k);
                    let mut offset = before;
                    while rtrim > 0 {
                        let n = q.nodes[k].len();
                        let take = (n - offset).min(rtrim);
                        q.decompress_for_use(k);
                        match q.nodes[k].lp_mut() {
                            Some(lp) if lp.len() > take => {
                                lp.delete_range(offset as i64, take);
                                q.count -= take;
                                q.recount(k);
                                q.recompress_only(k);
                                k += 1;
                            }
                            _ => {
                                q.del_node(k);
                            }
                        }
                        rtrim -= take;
                        offset = 0;
                    }
                }
            }
        }
    }
}

/// LREM within one listpack: up to `limit` (less `removed` so far) elements equal to `e`,
/// from the tail if `from_tail`.
fn remove_in(lp: &mut Listpack, e: &[u8], from_tail: bool, limit: usize, removed: &mut usize) {
    if from_tail {
        let mut pos = lp.last_pos();
        while let Some(p) = pos {
            if *removed == limit {
                break;
            }
            let prev = lp.prev_pos(p);
            if lp.entry(p).eq_bytes(e) {
                lp.delete_at(p);
                *removed += 1;
            }
            pos = prev;
        }
    } else {
        let mut pos = lp.first_pos();
        while let Some(p) = pos {
            if *removed == limit {
                break;
            }
            if lp.entry(p).eq_bytes(e) {
                pos = lp.delete_at(p);
                *removed += 1;
            } else {
                pos = lp.next_pos(p);
            }
        }
    }
}

/// `list-max-listpack-size`.
fn fill(c: &Ctx) -> i64 {
    c.srv.settings.list_max_listpack_size
}

/// `list-compress-depth` (taken by quicklists created from now on).
fn depth(c: &Ctx) -> i64 {
    c.srv.settings.list_compress_depth
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
    let d = depth(c);
    let (add_bytes, add_len) = (
        (2..c.argc()).map(|i| c.arg(i).len()).sum::<usize>(),
        c.argc() - 2,
    );
    let h = existing_or_new(c, key, h);
    let argv = c.argv;
    let l = list_mut(c, h);
    l.grow_check(f, d, add_bytes, add_len);
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
    let mut left = e - s + 1;
    let out = &mut c.out;
    l.scan(s, false, |x| {
        match x {
            ListpackEntry::Str(b) => out.bulk(b),
            ListpackEntry::Int(v) => {
                buf.clear();
                pyrope_common::util::push_i64(&mut buf, v);
                out.bulk(&buf);
            }
        }
        left -= 1;
        left > 0
    });
    list_mut(c, h).visit_range(s, e);
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
            c.out.bulk(&v);
            list_mut(c, h).visit_range(p, p);
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
    let d = depth(c);
    let v = c.arg(3);
    let l = list_mut(c, h);
    l.grow_check(f, d, v.len(), 1);
    let Some(p) = l.resolve(i) else {
        return c.out.error("ERR index out of range");
    };
    l.set(p, v);
    // A big element replaced by a small one may leave a small quicklist (lsetCommand's
    // LIST_CONV_SHRINKING).
    l.shrink_check(f);
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
    let d = depth(c);
    let l = list_mut(c, h);
    // linsertCommand converts before it looks for the pivot: a listpack may become a
    // quicklist even when the pivot is missing.
    l.grow_check(f, d, v.len(), 1);
    let mut found = None;
    let mut idx = 0;
    l.scan(0, false, |x| {
        if x.eq_bytes(pivot) {
            found = Some(idx);
            return false;
        }
        idx += 1;
        true
    });
    let Some(i) = found else {
        // The search passed every node.
        if !l.is_empty() {
            l.visit_range(0, l.len() - 1);
        }
        return c.out.int(-1);
    };
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
    // Elements the iterator fetched: lposCommand fetches one more before it checks MAXLEN.
    let mut fetched = 0;
    if len > 0 {
        let (from, rev) = if rank > 0 {
            (0, false)
        } else {
            (len - 1, true)
        };
        l.scan(from, rev, |x| {
            let k = fetched;
            fetched += 1;
            k < max && scan(if rev { len - 1 - k } else { k }, x)
        });
    }
    if fetched > 0 {
        let l = list_mut(c, h);
        if rank > 0 {
            l.visit_range(0, fetched - 1);
        } else {
            l.visit_range(len - fetched, len - 1);
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
    let d = depth(c);
    let v = list_mut(c, sh).pop(from).unwrap_or_default();
    // Redis's order (lmoveGenericCommand): the push and its event, then the pop event, then
    // "del" if the source emptied. With src == dst the list is never empty at the push.
    let dh = existing_or_new(c, dst, dh);
    let l = list_mut(c, dh);
    l.grow_check(f, d, v.len(), 1);
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
        let mut v = Vec::new();
        l.for_each(|e| v.push(e.to_vec()));
        v
    }

    fn from(l: &ListValue, i: usize, rev: bool) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        l.scan(i, rev, |e| {
            v.push(e.to_vec());
            true
        });
        v
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
            4 => (0i64..1000).prop_map(|v| v.to_string().into_bytes()),
            4 => proptest::collection::vec(b'a'..b'e', 0..3),
            4 => proptest::collection::vec(any::<u8>(), 0..300),
            // Compressible: nodes of these get LZF-compressed under a depth.
            3 => (20usize..300).prop_map(|n| vec![b'q'; n]),
            // Large for a node of fill -1 (4 KiB) or a count fill (8 KiB): plain nodes.
            1 => (4000usize..9000).prop_map(|n| vec![b'z'; n]),
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
            depth in prop_oneof![Just(0i64), Just(1), Just(2)],
        ) {
            let mut l = ListValue::default();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for o in ops {
                match o {
                    Op::Push(head, e) => {
                        l.grow_check(fill, depth, e.len(), 1);
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
                        l.grow_check(fill, depth, e.len(), 1);
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
                        prop_assert_eq!(from(&l, i, false), m.iter().skip(i).cloned().collect::<Vec<_>>());
                        prop_assert_eq!(
                            from(&l, i, true),
                            m.iter().take(i + 1).rev().cloned().collect::<Vec<_>>()
                        );
                    }
                }
                if let ListValue::Quicklist(q) = &l {
                    prop_assert!(q.iter().all(|n| !n.is_empty()), "no empty nodes");
                    prop_assert!(
                        q.iter().zip(q.states()).all(|(n, st)| n.len() == st.count as usize),
                        "cached counts"
                    );
                    prop_assert!(
                        q.iter().zip(q.states()).all(|(n, st)| n.is_lzf() == st.lzf),
                        "compressed exactly where the state says"
                    );
                    let d = q.depth;
                    prop_assert_eq!(q.hides_compression(), depth == 0);
                    prop_assert!(
                        q.iter().enumerate().all(|(k, n)| !n.is_lzf() || (k >= d && k + d < q.len())),
                        "never within depth of an end"
                    );
                }
            }
        }
    }

    #[test]
    fn compressed_middle_nodes_hold_lzf_bytes_and_read_back() {
        let elems: Vec<Vec<u8>> = (0..20_000)
            .map(|i| format!("element-{:06}", i % 5000).into_bytes())
            .collect();
        let build = |depth| {
            let mut l = ListValue::default();
            for e in &elems {
                l.grow_check(-2, depth, e.len(), 1);
                l.push(End::Tail, e);
            }
            l
        };
        let mut z = build(1);
        let ListValue::Quicklist(q) = &z else {
            panic!("a quicklist")
        };
        let raw_size: usize = q.iter().map(|n| n.bytes() + 32).sum();
        let n = q.len();
        assert!(n > 4);
        assert!(!q[0].is_lzf() && !q[n - 1].is_lzf());
        assert!(
            q.iter().skip(1).take(n - 2).all(QlNode::is_lzf),
            "middle nodes compressed"
        );
        assert!(
            z.heap_size() * 2 < raw_size,
            "{} vs {}",
            z.heap_size(),
            raw_size
        );
        assert_eq!(model(&z), elems);
        assert_eq!(z.get(9_999), elems[9_999]);
        // A copy keeps the compressed nodes; changes in the middle decompress for use and
        // compress again.
        let c = z.clone();
        assert_eq!(model(&c), elems);
        let mut m = elems.clone();
        z.set(7_000, b"changed");
        m[7_000] = b"changed".to_vec();
        z.insert(12_000, true, b"inserted");
        m.insert(12_001, b"inserted".to_vec());
        assert_eq!(z.remove(b"element-000003", 2), 2);
        m.retain({
            let mut k = 0;
            move |e| {
                let drop = e == b"element-000003" && k < 2;
                k += usize::from(drop);
                !drop
            }
        });
        z.trim(1_000, 1_000);
        m.drain(..1_000);
        m.truncate(m.len() - 1_000);
        assert_eq!(model(&z), m);
        let ListValue::Quicklist(q) = &z else {
            panic!("a quicklist")
        };
        assert!(q.iter().zip(q.states()).all(|(n, st)| n.is_lzf() == st.lzf));
        assert!(q.iter().filter(|n| n.is_lzf()).count() > n / 2);
    }

    #[test]
    fn depth_zero_hides_compression_of_middle_nodes() {
        let elems: Vec<Vec<u8>> = (0..20_000)
            .map(|i| format!("element:{i}").into_bytes())
            .collect();
        let mut l = ListValue::default();
        for e in &elems {
            l.grow_check(-2, 0, e.len(), 1);
            l.push(End::Tail, e);
        }
        assert_eq!(l.compress_depth(), Some(0), "Redis's depth shows");
        assert!(l.hides_compression());
        let lzf_count = |l: &ListValue| {
            let ListValue::Quicklist(q) = l else {
                panic!("a quicklist")
            };
            let n = q.len();
            assert!(n > 2 * HIDDEN_DEPTH + 2, "{n} nodes");
            assert!(
                q.iter()
                    .take(HIDDEN_DEPTH)
                    .chain(q.iter().skip(n - HIDDEN_DEPTH))
                    .all(|n| !n.is_lzf()),
                "the end nodes stay raw"
            );
            q.iter().filter(|n| n.is_lzf()).count()
        };
        let before = lzf_count(&l);
        let ListValue::Quicklist(q) = &l else {
            panic!("a quicklist")
        };
        assert_eq!(
            before,
            q.len() - 2 * HIDDEN_DEPTH,
            "every middle node compressed"
        );
        let raw_size: usize = q.iter().map(|n| n.bytes() + 32).sum();
        assert!(
            l.heap_size() * 3 < raw_size * 2,
            "{} vs {raw_size}",
            l.heap_size()
        );
        // Reads leave it as it is; a write in the middle leaves that node raw.
        assert_eq!(l.get(10_000), elems[10_000]);
        l.visit_range(0, l.len() - 1);
        assert_eq!(lzf_count(&l), before);
        l.set(10_000, b"changed");
        assert_eq!(lzf_count(&l), before - 1);
        let mut m = elems.clone();
        m[10_000] = b"changed".to_vec();
        assert_eq!(model(&l), m);
        // LREM over the whole list decompresses only the node that holds a match.
        assert_eq!(l.remove(b"element:15000", 0), 1);
        m.retain(|e| e != b"element:15000");
        assert_eq!(lzf_count(&l), before - 2);
        assert_eq!(l.remove(b"no such element", 0), 0);
        assert_eq!(lzf_count(&l), before - 2);
        assert_eq!(model(&l), m);
        // A copy is the same nodes; pushes past a node's limit compress the node that moves
        // past the end nodes.
        let c = l.clone();
        assert_eq!(lzf_count(&c), before - 2);
        assert_eq!(model(&c), m);
        for e in &elems[..2_000] {
            l.push(End::Head, e);
            m.insert(0, e.clone());
        }
        assert!(lzf_count(&l) > before);
        assert_eq!(model(&l), m);
    }

    /// Reads of one compressed node decompress it once (the thread's two-node cache); a
    /// node compressed again after a change is a new cache entry, never the old bytes.
    #[test]
    fn repeated_reads_of_a_compressed_node_share_one_decompression() {
        let mut l = ListValue::default();
        for i in 0..20_000 {
            let e = format!("element:{i}");
            l.grow_check(-2, 1, e.len(), 1);
            l.push(End::Tail, e.as_bytes());
        }
        let ListValue::Quicklist(q) = &l else {
            panic!("a quicklist")
        };
        let (a, b) = (q[3].as_ref(), q[4].as_ref());
        assert!(matches!(a, NodeRef::Lzf(_)) && matches!(b, NodeRef::Lzf(_)));
        let (mut s1, mut s2, mut s3) = (Scratch::default(), Scratch::default(), Scratch::default());
        a.raw(&mut s1);
        b.raw(&mut s3);
        a.raw(&mut s2);
        assert!(Rc::ptr_eq(
            s1.held.as_ref().unwrap(),
            s2.held.as_ref().unwrap()
        ));
        assert!(!Rc::ptr_eq(
            s1.held.as_ref().unwrap(),
            s3.held.as_ref().unwrap()
        ));
        // Change an element of node 3 (decompressed for use, compressed again).
        let (k, j) = l.locate(10_000);
        let i = 10_000 - j;
        assert!(k >= 1);
        let before = l.get(10_000);
        l.set(10_000, b"changed");
        assert_eq!(l.get(10_000), b"changed");
        assert_ne!(before, b"changed");
        assert_eq!(
            l.get(i),
            if j == 0 {
                b"changed".to_vec()
            } else {
                format!("element:{i}").into_bytes()
            }
        );
    }

    #[test]
    fn single_reads_of_compressed_nodes_match_the_elements() {
        // Elements of several sizes and encodings, so a node's entries are uneven and the
        // offset estimate sometimes falls short.
        let elem = |i: usize| -> Vec<u8> {
            match i % 5 {
                0 => i.to_string().into_bytes(),
                1 => format!("element:{i}").into_bytes(),
                2 => vec![b'a' + (i % 26) as u8; i % 300],
                3 => (i as i64 * -7919).to_string().into_bytes(),
                _ => format!("{i:>40}").into_bytes(),
            }
        };
        let mut l = ListValue::default();
        let n = 30_000;
        for i in 0..n {
            let e = elem(i);
            l.grow_check(-2, 1, e.len(), 1);
            l.push(End::Tail, &e);
        }
        assert!(
            l.node_refs()
                .filter(|r| matches!(r, NodeRef::Lzf(_)))
                .count()
                > 10
        );
        let before = PARTIAL_READS.with(|c| c.get());
        // Every element, in an order that mixes runs in one node with jumps between nodes.
        let mut i = 0usize;
        for step in 0..n {
            i = (i + if step % 3 == 0 { 1 } else { 7919 }) % n;
            assert_eq!(l.get(i), elem(i), "element {i}");
        }
        assert!(PARTIAL_READS.with(|c| c.get()) > before + 1000);
    }

    #[test]
    fn conversions_follow_the_node_limits() {
        // -2: 8 KiB nodes. 100 elements of 100 bytes need two nodes.
        let mut l = ListValue::default();
        let e = vec![b'x'; 100];
        for _ in 0..100 {
            l.grow_check(-2, 0, e.len(), 1);
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
            l.grow_check(3, 0, 1, 1);
            l.push(End::Tail, i.to_string().as_bytes());
        }
        assert!(matches!(&l, ListValue::Quicklist(q) if q.len() == 2));
    }
}
