//! The RDB file format (Redis's rdb.c / rdb.h, versions 1 to 12): a streaming reader, a writer,
//! and the DUMP/RESTORE payload helpers, shared by the server's loader and SAVE, DUMP/RESTORE,
//! `pyrope-check-rdb` and (later) replication and `pyrope-cli --rdb`.
//!
//! Layout of a file: `REDIS` + 4 ASCII version digits, then a sequence of opcodes (AUX,
//! SELECTDB, RESIZEDB, EXPIRETIME(_MS), IDLE, FREQ, FUNCTION2, MODULE_AUX, SLOT_INFO) and key
//! records (`[expire/idle/freq opcodes] <type byte> <key string> <value>`), `RDB_OPCODE_EOF`,
//! and (version >= 5) an 8-byte little-endian CRC-64/Jones of everything before it (zero when
//! the writer had `rdbchecksum no`).
//!
//! The value model ([`Value`]) is what a Redis 7.4 server holds in memory, so a loader adopts
//! it without re-encoding: compact encodings are delivered as Redis 7.4's exact bytes (old
//! ziplists and zipmaps are converted to listpacks at load, as Redis 7 does; every blob is
//! validated deeply first), hashtable/skiplist encodings as element lists, lists as quicklist
//! nodes, streams as their listpack nodes plus metadata and consumer groups.
//!
//! Modules: [`crc64`], [`lzf`] (bounded LZF), [`ziplist`] (ziplist/zipmap validation and
//! conversion), [`read`] (primitives and [`Reader`]), [`write`] (primitives and [`Writer`]),
//! [`payload`] (DUMP/RESTORE payloads).
//!
//! Invariant: nothing here trusts a length read from the input: every allocation is bounded
//! by bytes actually read (strings grow as data arrives) or by a validated ratio (LZF).

pub mod crc64;
pub mod lzf;
pub mod payload;
pub mod read;
pub mod write;
pub mod ziplist;

pub use payload::{decode_payload, dump_payload, dump_payload_with, verify_payload, PayloadError};
pub use read::{read_file, KeyRecord, Reader, ReaderOptions, Visitor};
pub use write::{Writer, WriterOptions};

use crate::intset::Intset;
use crate::listpack::Listpack;

/// The newest RDB version this code reads (Redis 7.4's `RDB_VERSION`).
pub const RDB_VERSION_MAX: u32 = 12;
/// The version the writer produces unless a version-12-only value (a hash with field TTLs) is
/// present (Redis 7.2's `RDB_VERSION`, which Valkey 8 also reads).
pub const RDB_VERSION_DEFAULT: u32 = 11;

/// RDB value types (the byte before a key), as in Redis 7.4 rdb.h.
pub mod types {
    /// String: an RDB string (int-encoded, LZF or raw).
    pub const STRING: u8 = 0;
    /// List as a linked list of strings (before 3.2).
    pub const LIST: u8 = 1;
    /// Set as a hashtable: count then members.
    pub const SET: u8 = 2;
    /// Sorted set with text scores (`rdbLoadDoubleValue`).
    pub const ZSET: u8 = 3;
    /// Hash as a hashtable: count then field/value pairs.
    pub const HASH: u8 = 4;
    /// Sorted set with binary (8-byte LE) scores.
    pub const ZSET_2: u8 = 5;
    /// Module value, pre-GA format (not self-describing: cannot be skipped).
    pub const MODULE_PRE_GA: u8 = 6;
    /// Module value with typed opcodes and an EOF marker.
    pub const MODULE_2: u8 = 7;
    /// Hash as a zipmap (Redis 2.x).
    pub const HASH_ZIPMAP: u8 = 9;
    /// List as one ziplist.
    pub const LIST_ZIPLIST: u8 = 10;
    /// Set as an intset.
    pub const SET_INTSET: u8 = 11;
    /// Sorted set as a ziplist (member, score pairs).
    pub const ZSET_ZIPLIST: u8 = 12;
    /// Hash as a ziplist (field, value pairs).
    pub const HASH_ZIPLIST: u8 = 13;
    /// List as a quicklist of ziplists.
    pub const LIST_QUICKLIST: u8 = 14;
    /// Stream, first format (Redis 5/6).
    pub const STREAM_LISTPACKS: u8 = 15;
    /// Hash as a listpack.
    pub const HASH_LISTPACK: u8 = 16;
    /// Sorted set as a listpack.
    pub const ZSET_LISTPACK: u8 = 17;
    /// List as a quicklist of listpack (PACKED) or plain (PLAIN) nodes.
    pub const LIST_QUICKLIST_2: u8 = 18;
    /// Stream with first id, max deleted id, entries added, group entries-read (Redis 7.0).
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// Set as a listpack (Redis 7.2).
    pub const SET_LISTPACK: u8 = 20;
    /// Stream with consumer active-time (Redis 7.2).
    pub const STREAM_LISTPACKS_3: u8 = 21;
    /// Hash with field TTLs, hashtable, 7.4 release-candidate form (absolute TTLs).
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    /// Hash with field TTLs, listpack triplets, 7.4 release-candidate form.
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    /// Hash with field TTLs, hashtable: `[minExpire 8B][n]{[ttl len][field][value]}`.
    pub const HASH_METADATA: u8 = 24;
    /// Hash with field TTLs, listpack of (field, value, ttl) triplets after `[minExpire 8B]`.
    pub const HASH_LISTPACK_EX: u8 = 25;

    /// redis-check-rdb's name of a type (`rdb_type_string` in redis-check-rdb.c, 7.4.1).
    pub fn name(t: u8) -> &'static str {
        match t {
            STRING => "string",
            LIST => "list-linked",
            SET => "set-hashtable",
            ZSET => "zset-v1",
            HASH => "hash-hashtable",
            ZSET_2 => "zset-v2",
            MODULE_PRE_GA => "module-pre-release",
            MODULE_2 => "module-value",
            HASH_ZIPMAP => "hash-zipmap",
            LIST_ZIPLIST => "list-ziplist",
            SET_INTSET => "set-intset",
            ZSET_ZIPLIST => "zset-ziplist",
            HASH_ZIPLIST => "hash-ziplist",
            LIST_QUICKLIST => "quicklist",
            STREAM_LISTPACKS => "stream",
            HASH_LISTPACK => "hash-listpack",
            ZSET_LISTPACK => "zset-listpack",
            LIST_QUICKLIST_2 => "quicklist-v2",
            STREAM_LISTPACKS_2 => "stream-v2",
            SET_LISTPACK => "set-listpack",
            STREAM_LISTPACKS_3 => "stream-v3",
            HASH_METADATA_PRE_GA => "hash-hashtable-md-pre-ga",
            HASH_LISTPACK_EX_PRE_GA => "hash-listpack-md-pre-ga",
            HASH_METADATA => "hash-hashtable-md",
            HASH_LISTPACK_EX => "hash-listpack-md",
            _ => "unknown",
        }
    }

    /// Whether `t` is a value type this reader knows (`rdbIsObjectType`).
    pub fn is_object_type(t: u8) -> bool {
        t <= 7 || (9..=25).contains(&t)
    }
}

/// RDB opcodes (rdb.h `RDB_OPCODE_*`).
pub mod opcodes {
    /// Cluster slot info: slot id, slot size, expires slot size (Redis 7.4).
    pub const SLOT_INFO: u8 = 244;
    /// A function library: one string, its code (Redis 7.0 GA).
    pub const FUNCTION2: u8 = 245;
    /// The 7.0 release-candidate function format (refused, as Redis does).
    pub const FUNCTION_PRE_GA: u8 = 246;
    /// Module auxiliary data.
    pub const MODULE_AUX: u8 = 247;
    /// LRU idle time of the next key, seconds (a length).
    pub const IDLE: u8 = 248;
    /// LFU counter of the next key (one byte).
    pub const FREQ: u8 = 249;
    /// Auxiliary field: two strings.
    pub const AUX: u8 = 250;
    /// Hash table size hints: db size, expires size.
    pub const RESIZEDB: u8 = 251;
    /// Expire of the next key in ms (8 bytes LE).
    pub const EXPIRETIME_MS: u8 = 252;
    /// Expire of the next key in s (4 bytes LE).
    pub const EXPIRETIME: u8 = 253;
    /// Select a database (a length).
    pub const SELECTDB: u8 = 254;
    /// End of the records; the CRC64 trailer follows (version >= 5).
    pub const EOF: u8 = 255;
}

/// Module value opcodes of a `MODULE_2` value or a MODULE_AUX payload (`RDB_MODULE_OPCODE_*`).
pub mod module_opcodes {
    /// End of the module value.
    pub const EOF: u64 = 0;
    /// A signed integer (a length).
    pub const SINT: u64 = 1;
    /// An unsigned integer (a length).
    pub const UINT: u64 = 2;
    /// A float (4 bytes).
    pub const FLOAT: u64 = 3;
    /// A double (8 bytes).
    pub const DOUBLE: u64 = 4;
    /// A string.
    pub const STRING: u64 = 5;
}

/// Quicklist node container kinds in RDB type 18 (`QUICKLIST_NODE_CONTAINER_*`, quicklist.h).
pub mod container {
    /// One element stored as is (an element larger than a node may hold, `isLargeElement`).
    pub const PLAIN: u64 = 1;
    /// A listpack.
    pub const PACKED: u64 = 2;
}

/// A stream entry id (`streamID`): milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The 16-byte big-endian form used as rax keys and stream master ids (`streamEncodeID`).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Inverse of [`StreamId::to_be_bytes`] (`streamDecodeID`).
    pub fn from_be_bytes(b: &[u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId {
            ms: u64::from_be_bytes(ms),
            seq: u64::from_be_bytes(seq),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One node of a quicklist (RDB type 18; types 10 and 14 are converted into these).
#[derive(Clone, Debug, PartialEq)]
pub enum QuicklistNode {
    /// A listpack of elements (`QUICKLIST_NODE_CONTAINER_PACKED`); never empty.
    Packed(Listpack),
    /// One large element stored as is (`QUICKLIST_NODE_CONTAINER_PLAIN`).
    Plain(Vec<u8>),
}

/// One field of a hash in the hashtable encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashField {
    /// Field name.
    pub field: Vec<u8>,
    /// Value.
    pub value: Vec<u8>,
    /// Absolute field expire time in unix ms (Redis 7.4 hash field TTLs), if any.
    pub expire_ms: Option<u64>,
}

/// A pending entry of a consumer group's PEL (`streamNACK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry id.
    pub id: StreamId,
    /// Last delivery time, unix ms.
    pub delivery_time: u64,
    /// Number of deliveries.
    pub delivery_count: u64,
}

/// A consumer of a group (`streamConsumer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConsumer {
    /// Consumer name.
    pub name: Vec<u8>,
    /// Last time the consumer was seen (any command), unix ms.
    pub seen_time: u64,
    /// Last successful read/claim time, unix ms (`-1` never; set to `seen_time` for v1/v2
    /// streams, as Redis 7.2 does when loading them).
    pub active_time: i64,
    /// Ids of the group PEL entries owned by this consumer (each is in the group's `pel`).
    pub pel: Vec<StreamId>,
}

/// A consumer group (`streamCG`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamGroup {
    /// Group name.
    pub name: Vec<u8>,
    /// Last delivered id.
    pub last_id: StreamId,
    /// Logical read counter (`entries_read`); `-1` (`SCG_INVALID_ENTRIES_READ`) when unknown.
    /// For type-15 streams it is estimated at load as Redis does
    /// (`streamEstimateDistanceFromFirstEverEntry`).
    pub entries_read: i64,
    /// The group's PEL in id order.
    pub pel: Vec<PendingEntry>,
    /// Consumers in the order of the file (Redis writes them in rax = name order).
    pub consumers: Vec<StreamConsumer>,
}

/// A stream (`stream` in stream.h): its rax of listpack nodes keyed by master id, plus
/// metadata and consumer groups. For type-15 streams the v2 fields are derived as Redis 7 does
/// (first id from the first live entry, max deleted id 0-0, entries added = length).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamValue {
    /// `(master id, listpack)` nodes in id order; each listpack is Redis's stream node layout
    /// (master entry, then entries with flags and deltas), validated as a listpack.
    pub nodes: Vec<(StreamId, Listpack)>,
    /// Number of live entries (XLEN).
    pub length: u64,
    /// Last generated id.
    pub last_id: StreamId,
    /// First live entry's id (0-0 when empty).
    pub first_id: StreamId,
    /// Maximal id ever deleted (0-0 when none).
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups in name order.
    pub groups: Vec<StreamGroup>,
}

/// A module value: the 64-bit module type id and, for `MODULE_2` values, the raw bytes of its
/// opcode sequence (everything after the id up to and including the EOF opcode), so a writer
/// can copy it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleValue {
    /// The module type id: 9 characters of 6 bits each then a 10-bit encoding version.
    pub module_id: u64,
    /// The raw opcodes (typed items + EOF), as found after the id.
    pub raw: Vec<u8>,
}

/// The 9-character module type name encoded in a module id (`moduleTypeNameByID`).
pub fn module_type_name(module_id: u64) -> String {
    const CSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = module_id >> 10;
    let mut name = [0u8; 9];
    for j in (0..9).rev() {
        name[j] = CSET[(id & 63) as usize];
        id >>= 6;
    }
    String::from_utf8_lossy(&name).into_owned()
}

/// A value as a Redis 7.4 server holds it (see the module docs). Each variant names the RDB type
/// the [`Writer`] uses for it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string's bytes (int-encoded RDB strings are delivered as their decimal text, as
    /// `rdbLoadEncodedStringObject` + `tryObjectEncoding` would see them). Written as type 0.
    String(Vec<u8>),
    /// A list as quicklist nodes (types 1, 10, 14 and 18 all load into this). Written as
    /// type 18. A loader keeps one small packed node as a listpack-encoded list.
    List(Vec<QuicklistNode>),
    /// A set of members in the hashtable encoding (type 2). Written as type 2.
    Set(Vec<Vec<u8>>),
    /// A set as an intset (type 11). Written as type 11.
    SetIntset(Intset),
    /// A set as a listpack of members (type 20). Written as type 20.
    SetListpack(Listpack),
    /// A sorted set as (member, score) pairs, skiplist encoding (types 3 and 5). Written as 5.
    Zset(Vec<(Vec<u8>, f64)>),
    /// A sorted set as a listpack of member, score pairs in score order (types 12, 17).
    /// Written as type 17.
    ZsetListpack(Listpack),
    /// A hash in the hashtable encoding (types 4, 22, 24). Written as type 4, or 24 when a
    /// field has a TTL.
    Hash(Vec<HashField>),
    /// A hash as a listpack of field, value pairs (types 9, 13, 16). Written as type 16.
    HashListpack(Listpack),
    /// A hash with field TTLs as a listpack of (field, value, expire ms or 0) triplets, the
    /// `listpackex` encoding (types 23, 25). Written as type 25.
    HashListpackEx(Listpack),
    /// A stream (types 15, 19, 21). Written as type 21 (19 for a version-10 target).
    Stream(Box<StreamValue>),
    /// A module value (type 7; type 6 is refused). Written as type 7.
    Module(ModuleValue),
}

impl Value {
    /// The `TYPE` name of the value: `string`, `list`, `set`, `zset`, `hash`, `stream`, or
    /// the module type's name.
    pub fn type_name(&self) -> String {
        match self {
            Value::String(_) => "string".into(),
            Value::List(_) => "list".into(),
            Value::Set(_) | Value::SetIntset(_) | Value::SetListpack(_) => "set".into(),
            Value::Zset(_) | Value::ZsetListpack(_) => "zset".into(),
            Value::Hash(_) | Value::HashListpack(_) | Value::HashListpackEx(_) => "hash".into(),
            Value::Stream(_) => "stream".into(),
            Value::Module(m) => module_type_name(m.module_id),
        }
    }

    /// Whether writing this value needs RDB version 12 (a hash with field TTLs).
    pub fn needs_v12(&self) -> bool {
        match self {
            Value::Hash(f) => f.iter().any(|f| f.expire_ms.is_some()),
            Value::HashListpackEx(_) => true,
            _ => false,
        }
    }
}

/// What went wrong, with the wording of Redis's loader and redis-check-rdb where they have one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The input ended inside a record (`rdbReportReadError`'s "Unexpected EOF").
    #[error("Unexpected EOF reading RDB file")]
    Eof,
    /// An I/O error from the underlying reader.
    #[error("I/O error: {0}")]
    Io(String),
    /// The file does not start with `REDIS`.
    #[error("Wrong signature trying to load DB from file")]
    WrongSignature,
    /// The version is 0 or newer than [`RDB_VERSION_MAX`].
    #[error("Can't handle RDB format version {0}")]
    BadVersion(u32),
    /// The stored CRC64 differs from the computed one.
    #[error("Wrong RDB checksum expected: ({expected:#x}) but got ({got:#x})")]
    Checksum {
        /// The trailer's value.
        expected: u64,
        /// The CRC64 computed over the file.
        got: u64,
    },
    /// A type byte that is neither an opcode nor a known value type.
    #[error("Unknown RDB encoding type {0}")]
    UnknownType(u8),
    /// A string encoding other than INT8/16/32/LZF (`rdbGenericLoadStringObject`).
    #[error("Unknown RDB string encoding type {0}")]
    UnknownStringEncoding(u8),
    /// LZF data that does not decompress to the announced length.
    #[error("Invalid LZF compressed string")]
    Lzf,
    /// A corrupt structure (`rdbReportCorruptRDB`), with Redis's reason text.
    #[error("{0}")]
    Corrupt(String),
    /// A module value this code cannot represent (type 6, or a MODULE_2 value with a bad
    /// opcode), naming the module type.
    #[error("The RDB file contains module data I can't load: no matching module type '{0}'")]
    Module(String),
    /// The 7.0 release-candidate function format.
    #[error("Pre-release function format not supported.")]
    FunctionPreGa,
    /// A key with an empty collection (Redis's loader skips these; `redis-check-rdb` fails).
    #[error("Empty keys skipped")]
    EmptyKey,
    /// The visitor asked to stop, with its reason.
    #[error("{0}")]
    Visitor(String),
    /// A value the writer cannot express at the requested version.
    #[error("{0}")]
    Unsupported(String),
}

/// An RDB error: where it happened, which key was being read and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("[offset {offset}] {kind}")]
pub struct RdbError {
    /// Byte offset in the input where the failing read started (for checksum errors, the
    /// file size).
    pub offset: u64,
    /// The key being read (its bytes), if the error happened inside a key record.
    pub key: Option<Vec<u8>>,
    /// The value type being read, if any.
    pub rdb_type: Option<u8>,
    /// What redis-check-rdb calls "While doing": `read-type`, `read-key`,
    /// `read-object-value`, `read-aux`, `check-sum`, `read-expire`, ...
    pub doing: &'static str,
    /// The reason.
    pub kind: ErrorKind,
}

impl RdbError {
    /// An error with no key context.
    pub fn new(offset: u64, doing: &'static str, kind: ErrorKind) -> RdbError {
        RdbError {
            offset,
            key: None,
            rdb_type: None,
            doing,
            kind,
        }
    }
}

/// Shorthand for results of this module.
pub type Result<T, E = RdbError> = std::result::Result<T, E>;

/// The byte that introduces a special string encoding `e` (`RDB_ENCVAL << 6 | e`).
pub(crate) fn enc_byte(e: u8) -> u8 {
    0xC0 | e
}

/// Fuzzing oracle (fuzz/fuzz_targets/rdb.rs and the corpus replay test in
/// common/tests/rdb_fuzz.rs): reading any bytes as an RDB file (checksum verified or not,
/// deep checks on or off) or as a DUMP payload never panics and never allocates a claimed
/// length before the bytes are there; error offsets lie within the input; every value the
/// reader accepts is written by the writer into a payload that the reader accepts again.
pub fn check_rdb_invariants(data: &[u8]) {
    struct Keys(Vec<Value>);
    impl Visitor for Keys {
        fn key(&mut self, rec: KeyRecord) -> read::VisitResult {
            self.0.push(rec.value);
            Ok(())
        }
    }
    let rewritable = |v: &Value| {
        let p = dump_payload(v);
        if let Err(e) = decode_payload(&p, true) {
            panic!("a value the reader accepted does not read back: {e:?} {v:?}");
        }
    };
    for (verify_checksum, deep) in [(true, true), (false, false)] {
        let mut keys = Keys(Vec::new());
        let r = Reader::new(
            data,
            ReaderOptions {
                verify_checksum,
                deep,
            },
        )
        .run(&mut keys);
        if let Err(e) = r {
            assert!(
                e.offset <= data.len() as u64,
                "offset {} past the input",
                e.offset
            );
        }
        if deep {
            keys.0.iter().for_each(rewritable);
        }
    }
    // As a DUMP payload, and as a payload body with a valid footer (so the value decoder is
    // reached past the CRC check).
    if let Ok((_, v)) = decode_payload(data, true) {
        rewritable(&v);
    }
    let mut p = data.to_vec();
    p.extend_from_slice(&(RDB_VERSION_MAX as u16).to_le_bytes());
    let crc = crc64::crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    for deep in [true, false] {
        match decode_payload(&p, deep) {
            Ok((_, v)) if deep => rewritable(&v),
            Ok(_) => {}
            Err(PayloadError::BadFormat(Some(e))) => {
                // The decoder reads the whole payload, as Redis does (a value may run into
                // the 10-byte footer): an error lies within it.
                assert!(
                    e.offset <= p.len() as u64,
                    "payload offset {} past the payload",
                    e.offset
                )
            }
            Err(_) => {}
        }
    }
}
