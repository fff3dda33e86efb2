//! Value representation: object types and encodings with Redis's numbering and
//! `OBJECT ENCODING` names, and the heap [`Value`] held by boxed keyspace entries.
//!
//! Strings up to 44 bytes live inside the keyspace entry (embstr) and integers as a raw i64
//! (int); everything bigger or structured is a boxed `Value`. Each collection type brings its
//! own variant here (with its compact encoding: listpack, intset, quicklist...) and its file in
//! `types/`.
//!
//! The encoding is a property of the representation, never a tag stored beside it: for a boxed
//! value [`Value::encoding`] derives it from the variant (and, for collections, from which of
//! their representations is live), so a conversion (listpack -> hashtable, intset -> listpack
//! -> hashtable, listpack -> quicklist, listpack -> skiplist) changes `OBJECT ENCODING` by
//! construction. The entry only records how the value is *stored* (int, inline, boxed).

/// Object type, numbered as Redis's `OBJ_*` constants (server.h), which the RDB type codes
/// and `TYPE` reply derive from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ObjType {
    /// OBJ_STRING
    String = 0,
    /// OBJ_LIST
    List = 1,
    /// OBJ_SET
    Set = 2,
    /// OBJ_ZSET
    ZSet = 3,
    /// OBJ_HASH
    Hash = 4,
    /// OBJ_MODULE
    Module = 5,
    /// OBJ_STREAM
    Stream = 6,
}

/// A type or encoding code that Redis does not define (from a file or a corrupted value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not one of Redis's `OBJ_*` type numbers.
    #[error("unknown object type code {0}")]
    Type(u8),
    /// Not one of Redis's `OBJ_ENCODING_*` numbers.
    #[error("unknown object encoding code {0}")]
    Encoding(u8),
}

impl ObjType {
    /// The type for a Redis `OBJ_*` number; unknown numbers are an error, never a default.
    /// (The RDB loader and DUMP/RESTORE of the persistence issue are its callers.)
    #[allow(dead_code)]
    pub(crate) fn from_u8(v: u8) -> Result<ObjType, CodeError> {
        Ok(match v {
            0 => ObjType::String,
            1 => ObjType::List,
            2 => ObjType::Set,
            3 => ObjType::ZSet,
            4 => ObjType::Hash,
            5 => ObjType::Module,
            6 => ObjType::Stream,
            _ => return Err(CodeError::Type(v)),
        })
    }

    /// The name `TYPE` replies with.
    pub fn name(self) -> &'static str {
        match self {
            ObjType::String => "string",
            ObjType::List => "list",
            ObjType::Set => "set",
            ObjType::ZSet => "zset",
            ObjType::Hash => "hash",
            ObjType::Module => "module",
            ObjType::Stream => "stream",
        }
    }

    /// Parses a `SCAN ... TYPE <name>` argument (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<ObjType> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_slice() {
            b"string" => ObjType::String,
            b"list" => ObjType::List,
            b"set" => ObjType::Set,
            b"zset" => ObjType::ZSet,
            b"hash" => ObjType::Hash,
            b"stream" => ObjType::Stream,
            _ => return None,
        })
    }
}

/// Encoding, numbered as Redis 7.4's `OBJ_ENCODING_*` constants (server.h). Every encoding
/// Redis 7.4 reports is modelled; the retired ones (zipmap 3, linkedlist 4, ziplist 5) exist only
/// inside old RDB files and are converted on load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// Plain heap string (`OBJ_ENCODING_RAW`).
    Raw = 0,
    /// String holding a 64-bit integer (`OBJ_ENCODING_INT`).
    Int = 1,
    /// Hash table: big sets and hashes (`OBJ_ENCODING_HT`).
    Hashtable = 2,
    /// Intset: small sets of integers (`OBJ_ENCODING_INTSET`).
    Intset = 6,
    /// Skiplist + dict: big sorted sets (`OBJ_ENCODING_SKIPLIST`).
    Skiplist = 7,
    /// String stored next to its key (`OBJ_ENCODING_EMBSTR`).
    Embstr = 8,
    /// Quicklist of listpacks: big lists (`OBJ_ENCODING_QUICKLIST`).
    Quicklist = 9,
    /// Radix tree of listpacks: streams (`OBJ_ENCODING_STREAM`).
    Stream = 10,
    /// Listpack: small hashes, sets, zsets, lists (`OBJ_ENCODING_LISTPACK`).
    Listpack = 11,
    /// Listpack with field TTLs: small hashes with HEXPIRE'd fields (`OBJ_ENCODING_LISTPACK_EX`).
    ListpackEx = 12,
}

impl Encoding {
    /// The encoding for a Redis `OBJ_ENCODING_*` number; unknown (or retired) numbers are an
    /// error, never a default. (Callers arrive with the persistence issue.)
    #[allow(dead_code)]
    pub(crate) fn from_u8(v: u8) -> Result<Encoding, CodeError> {
        Ok(match v {
            0 => Encoding::Raw,
            1 => Encoding::Int,
            2 => Encoding::Hashtable,
            6 => Encoding::Intset,
            7 => Encoding::Skiplist,
            8 => Encoding::Embstr,
            9 => Encoding::Quicklist,
            10 => Encoding::Stream,
            11 => Encoding::Listpack,
            12 => Encoding::ListpackEx,
            _ => return Err(CodeError::Encoding(v)),
        })
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Int => "int",
            Encoding::Hashtable => "hashtable",
            Encoding::Intset => "intset",
            Encoding::Skiplist => "skiplist",
            Encoding::Embstr => "embstr",
            Encoding::Quicklist => "quicklist",
            Encoding::Stream => "stream",
            Encoding::Listpack => "listpack",
            Encoding::ListpackEx => "listpackex",
        }
    }
}

/// Longest string stored as embstr (Redis `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_SIZE_LIMIT: usize = 44;

/// Integers below this are Redis's shared integers: `OBJECT REFCOUNT` reports
/// `i32::MAX` for them when no LRU/LFU policy is active (`OBJ_SHARED_INTEGERS`).
pub const SHARED_INTEGERS: i64 = 10000;

/// A heap value of a boxed keyspace entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A raw-encoded string (longer than 44 bytes, or grown by APPEND / SETRANGE).
    Str(Vec<u8>),
    /// A list: listpack or quicklist (`types/list.rs`).
    List(crate::types::list::ListValue),
    /// A set in one of Redis's three encodings (operations in `types/set.rs`).
    Set(SetValue),
    /// A hash: listpack (field, value, field, value... as Redis) or hashtable
    /// (`types/hash.rs`, t_hash.c).
    Hash(crate::types::hash::HashValue),
    /// A sorted set: listpack (member, score pairs sorted) or skiplist (`types/zset.rs`,
    /// t_zset.c).
    ZSet(crate::types::zset::ZsetValue),
    /// A stream: listpack nodes by master id and consumer groups (`types/stream.rs`,
    /// t_stream.c). Boxed so that `Value` stays small.
    Stream(Box<crate::types::stream::Stream>),
}

/// The representation of a set, one variant per Redis encoding (t_set.c): `intset` while
/// every member is an integer and there are at most `set-max-intset-entries`, `listpack`
/// while small (`set-max-listpack-entries`, `set-max-listpack-value`), `hashtable` beyond.
/// Conversions only go up (intset -> listpack -> hashtable), as in Redis.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    /// OBJ_ENCODING_INTSET.
    Intset(pyrope_common::intset::Intset),
    /// OBJ_ENCODING_LISTPACK.
    Listpack(pyrope_common::listpack::Listpack),
    /// OBJ_ENCODING_HT: members with empty values. Boxed so that `Value` (the box of every
    /// raw string and compact collection) stays small.
    Hashtable(Box<crate::keyspace::FieldTable>),
}

// The keyspace hands values to the lazy-free thread (UNLINK, FLUSHALL ASYNC, lazyfree-lazy-*):
// every variant must stay `Send`. This fails to compile the day one is not.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Value>();
};

impl Value {
    /// The object type of the value (what `TYPE` reports).
    #[inline]
    pub fn obj_type(&self) -> ObjType {
        match self {
            Value::Str(_) => ObjType::String,
            Value::List(_) => ObjType::List,
            Value::Set(_) => ObjType::Set,
            Value::Hash(_) => ObjType::Hash,
            Value::ZSet(_) => ObjType::ZSet,
            Value::Stream(_) => ObjType::Stream,
        }
    }

    /// The encoding of the value's current representation (what `OBJECT ENCODING` reports).
    #[inline]
    pub fn encoding(&self) -> Encoding {
        match self {
            Value::Str(_) => Encoding::Raw,
            Value::List(crate::types::list::ListValue::Listpack(_)) => Encoding::Listpack,
            Value::List(crate::types::list::ListValue::Quicklist(_)) => Encoding::Quicklist,
            Value::Set(SetValue::Intset(_)) => Encoding::Intset,
            Value::Set(SetValue::Listpack(_)) => Encoding::Listpack,
            Value::Set(SetValue::Hashtable(_)) => Encoding::Hashtable,
            Value::Hash(h) => h.encoding(),
            Value::ZSet(crate::types::zset::ZsetValue::Listpack(_)) => Encoding::Listpack,
            Value::ZSet(crate::types::zset::ZsetValue::Skiplist(_)) => Encoding::Skiplist,
            Value::Stream(_) => Encoding::Stream,
        }
    }

    /// How many allocations freeing the value takes, as Redis's `lazyfreeGetFreeEffort()`:
    /// 1 for strings and every compact encoding (listpack, intset: one buffer); for big
    /// collections the number of elements/nodes. Values above
    /// [`crate::keyspace::LAZYFREE_THRESHOLD`] are freed on the lazy-free thread when the
    /// matching `lazyfree-lazy-*` setting asks for it.
    #[inline]
    pub fn free_effort(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            // A quicklist frees node by node; a listpack is one allocation.
            Value::List(l) => l.nodes(),
            Value::Set(SetValue::Hashtable(t)) => t.len(),
            Value::Set(_) => 1,
            Value::Hash(h) => h.free_effort(),
            Value::ZSet(z) => z.free_effort(),
            Value::Stream(s) => s.free_effort(),
        }
    }

    /// Approximate heap bytes owned by the value (the box plus its buffers).
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::Str(v) => v.capacity(),
                Value::List(l) => l.heap_size(),
                Value::Set(SetValue::Intset(i)) => i.bytes(),
                Value::Set(SetValue::Listpack(l)) => l.bytes(),
                Value::Set(SetValue::Hashtable(t)) => {
                    std::mem::size_of::<crate::keyspace::FieldTable>() + t.heap_size()
                }
                Value::Hash(h) => h.heap_size(),
                Value::ZSet(z) => z.heap_size(),
                Value::Stream(s) => s.heap_size(),
            }
    }
}

/// How a string given by a client is stored, following Redis's `tryObjectEncoding()`:
/// canonical integers of at most 20 characters become `int`, other strings of at most 44 bytes
/// `embstr`, longer ones `raw`.
pub enum StrEncoding {
    /// Store as an integer.
    Int(i64),
    /// Store inline (embstr).
    Embstr,
    /// Store as a heap buffer (raw).
    Raw,
}

/// Chooses the encoding of a string value as `tryObjectEncoding()` does.
pub fn classify_string(s: &[u8]) -> StrEncoding {
    if s.len() <= 20 {
        if let Some(v) = pyrope_common::util::string2ll(s) {
            return StrEncoding::Int(v);
        }
    }
    if s.len() <= EMBSTR_SIZE_LIMIT {
        StrEncoding::Embstr
    } else {
        StrEncoding::Raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_are_errors_not_defaults() {
        for v in [0u8, 1, 2, 6, 7, 8, 9, 10, 11, 12] {
            assert_eq!(Encoding::from_u8(v).unwrap() as u8, v);
        }
        for v in [3u8, 4, 5, 13, 255] {
            assert_eq!(Encoding::from_u8(v), Err(CodeError::Encoding(v)));
        }
        assert_eq!(Encoding::ListpackEx.name(), "listpackex");
        for v in 0..=6u8 {
            assert_eq!(ObjType::from_u8(v).unwrap() as u8, v);
        }
        assert_eq!(ObjType::from_u8(7), Err(CodeError::Type(7)));
    }
}
