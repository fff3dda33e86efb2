//! Value representation: object types and encodings with Redis's numbering and
//! `OBJECT ENCODING` names, and the heap [`Value`] held by boxed keyspace entries.
//!
//! Strings up to 44 bytes live inside the keyspace entry (embstr) and integers as a raw i64
//! (int); everything bigger or structured is a boxed `Value`. Each collection type brings its
//! own variant here (with its compact encoding: listpack, intset, quicklist...) and its file in
//! `types/`; the entry stores the type and encoding so TYPE / OBJECT ENCODING never touch the
//! value.

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

impl ObjType {
    pub(crate) fn from_u8(v: u8) -> ObjType {
        match v {
            0 => ObjType::String,
            1 => ObjType::List,
            2 => ObjType::Set,
            3 => ObjType::ZSet,
            4 => ObjType::Hash,
            5 => ObjType::Module,
            _ => ObjType::Stream,
        }
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

/// Encoding, numbered as Redis's `OBJ_ENCODING_*` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// Plain heap string.
    Raw = 0,
    /// String holding a 64-bit integer.
    Int = 1,
    /// Hash table (sets, hashes).
    Hashtable = 2,
    /// Intset (sets of integers).
    Intset = 6,
    /// Skiplist (sorted sets).
    Skiplist = 7,
    /// String stored next to its key.
    Embstr = 8,
    /// Quicklist (big lists).
    Quicklist = 9,
    /// Stream.
    Stream = 10,
    /// Listpack (small hashes, sets, zsets, lists).
    Listpack = 11,
}

impl Encoding {
    pub(crate) fn from_u8(v: u8) -> Encoding {
        match v {
            0 => Encoding::Raw,
            1 => Encoding::Int,
            2 => Encoding::Hashtable,
            6 => Encoding::Intset,
            7 => Encoding::Skiplist,
            8 => Encoding::Embstr,
            9 => Encoding::Quicklist,
            10 => Encoding::Stream,
            _ => Encoding::Listpack,
        }
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
}

impl Value {
    /// Approximate heap bytes owned by the value (the box plus its buffers).
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::Str(v) => v.capacity(),
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
