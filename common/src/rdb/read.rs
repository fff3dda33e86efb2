//! The streaming RDB reader (rdb.c `rdbLoadRioWithLoadingCtx`, `rdbLoadObject` and the
//! primitives `rdbLoadLen`, `rdbGenericLoadStringObject`, `rdbLoadDoubleValue`,
//! `rdbLoadBinaryDoubleValue`, `rdbLoadMillisecondTime`).
//!
//! [`Reader`] pulls bytes from any `Read` through its own buffer, keeps the byte offset and
//! the running CRC64, and hands each record to a [`Visitor`]. Errors carry the offset where the
//! failing read started, the key being read and the value type ([`RdbError`]).
//!
//! Bounds: a string's claimed length is never allocated up front; its buffer grows as bytes
//! arrive (so a 4 GB claim in a 100-byte input fails after reading 100 bytes). LZF lengths are
//! checked against the compressed size first ([`super::lzf`]). Every compact blob (listpack,
//! intset, ziplist, zipmap) is validated deeply before it is handed out.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use super::{
    container, lzf, module_opcodes, opcodes, types, ziplist, ErrorKind, HashField, ModuleValue,
    PendingEntry, QuicklistNode, RdbError, Result, StreamConsumer, StreamGroup, StreamId,
    StreamValue, Value, RDB_VERSION_MAX,
};
use crate::intset::Intset;
use crate::listpack::{Listpack, ListpackEntry};

/// Length encodings (`RDB_6BITLEN`, ...), and the special string encodings of `RDB_ENCVAL`.
pub mod enc {
    /// Top two bits 00: 6-bit length in the byte.
    pub const LEN_6BIT: u8 = 0;
    /// Top two bits 01: 14-bit length, big-endian, in this byte and the next.
    pub const LEN_14BIT: u8 = 1;
    /// `0x80`: 32-bit big-endian length follows.
    pub const LEN_32BIT: u8 = 0x80;
    /// `0x81`: 64-bit big-endian length follows.
    pub const LEN_64BIT: u8 = 0x81;
    /// Top two bits 11: a special encoding in the low 6 bits.
    pub const ENCVAL: u8 = 3;
    /// String stored as an 8-bit signed integer.
    pub const INT8: u8 = 0;
    /// String stored as a 16-bit little-endian signed integer.
    pub const INT16: u8 = 1;
    /// String stored as a 32-bit little-endian signed integer.
    pub const INT32: u8 = 2;
    /// LZF-compressed string: compressed length, original length, data.
    pub const LZF: u8 = 3;
}

/// Largest hash field TTL Redis accepts (`EB_EXPIRE_TIME_MAX`, 2^48-1 ms).
pub const EB_EXPIRE_TIME_MAX: u64 = (1 << 48) - 1;

/// Target size of listpack nodes the reader builds for old list encodings (types 1 and 10):
/// 8 KB, the default `list-max-listpack-size -2`.
pub const LIST_NODE_BYTES: usize = 8192;

/// Reader settings.
#[derive(Clone, Copy, Debug)]
pub struct ReaderOptions {
    /// Compare the CRC64 trailer with the computed checksum (Redis: `rdbchecksum yes`).
    pub verify_checksum: bool,
    /// Deep checks beyond structural validity: duplicate members/fields in listpack-encoded
    /// collections (as `sanitize-dump-payload yes` and redis-check-rdb do). Stream nodes and
    /// PEL ownership are checked either way; the server copes with listpack duplicates.
    pub deep: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            verify_checksum: true,
            deep: true,
        }
    }
}

/// What a visitor callback returns: `Err(reason)` stops the reader with
/// [`ErrorKind::Visitor`].
pub type VisitResult = std::result::Result<(), String>;

/// How the CRC64 trailer turned out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// The trailer matched the computed CRC64.
    Ok,
    /// The trailer was 0: the writer had `rdbchecksum no`; nothing was checked.
    Disabled,
    /// Version < 5 (no trailer) or verification was turned off.
    NotChecked,
}

/// One key as read from the file; the value is owned so a loader moves its buffers into its
/// keyspace without copying.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    /// Database number (from the last SELECTDB; 0 before any).
    pub db: u64,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Absolute expire time, unix ms (`EXPIRETIME` seconds are converted).
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (`RDB_OPCODE_IDLE`).
    pub lru_idle: Option<u64>,
    /// LFU counter (`RDB_OPCODE_FREQ`).
    pub lfu_freq: Option<u8>,
    /// The RDB type byte the value was stored with.
    pub rdb_type: u8,
    /// The value.
    pub value: Value,
    /// Offset of the record's type byte.
    pub offset: u64,
    /// Offset just past the value.
    pub end_offset: u64,
}

/// Receives the records of an RDB file in order. Every method but [`Visitor::key`] has a
/// default that ignores the record. `at` is the reader's offset after the record (what
/// redis-check-rdb prints).
pub trait Visitor {
    /// The header was read: RDB version.
    fn header(&mut self, _version: u32) -> VisitResult {
        Ok(())
    }
    /// An AUX field (`redis-ver`, `ctime`, `repl-id`, `lua`, ...).
    fn aux(&mut self, _key: &[u8], _value: &[u8], _at: u64) -> VisitResult {
        Ok(())
    }
    /// SELECTDB.
    fn select_db(&mut self, _db: u64, _at: u64) -> VisitResult {
        Ok(())
    }
    /// RESIZEDB: size hints for the current db's dict and expires.
    fn resize_db(&mut self, _db_size: u64, _expires_size: u64) -> VisitResult {
        Ok(())
    }
    /// A FUNCTION2 record: the library code (`#!lua name=...`).
    fn function(&mut self, _code: &[u8]) -> VisitResult {
        Ok(())
    }
    /// MODULE_AUX: module id, `when` (before/after keys), raw opcodes up to and including EOF.
    fn module_aux(&mut self, _module_id: u64, _when: u64, _raw: &[u8]) -> VisitResult {
        Ok(())
    }
    /// SLOT_INFO (cluster): slot, keys in it, keys with an expire in it.
    fn slot_info(&mut self, _slot: u64, _size: u64, _expires: u64) -> VisitResult {
        Ok(())
    }
    /// A key with its value.
    fn key(&mut self, rec: KeyRecord) -> VisitResult;
    /// A key whose collection is empty. Redis's loader skips it (and logs the count);
    /// redis-check-rdb fails. The default skips it.
    fn empty_key(&mut self, _db: u64, _key: &[u8], _rdb_type: u8) -> VisitResult {
        Ok(())
    }
    /// The EOF opcode and the trailer were read.
    fn end(&mut self, _checksum: Checksum, _at: u64) -> VisitResult {
        Ok(())
    }
}

/// Buffered byte source with offset and running CRC64.
struct Src<R> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    crc: u64,
    /// `buf[crc_from..pos]` is not yet in `crc`.
    crc_from: usize,
}

const BUF_SIZE: usize = 256 * 1024;

impl<R: Read> Src<R> {
    fn new(r: R) -> Self {
        Src {
            r,
            buf: vec![0; BUF_SIZE],
            pos: 0,
            end: 0,
            base: 0,
            crc: 0,
            crc_from: 0,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The CRC64 of everything consumed so far.
    fn crc(&mut self) -> u64 {
        self.crc = super::crc64::crc64(self.crc, &self.buf[self.crc_from..self.pos]);
        self.crc_from = self.pos;
        self.crc
    }

    /// Makes at least `n` (<= BUF_SIZE) bytes available; false on EOF.
    fn ensure(&mut self, n: usize) -> std::io::Result<bool> {
        while self.end - self.pos < n {
            if self.pos > 0 {
                self.crc();
                self.buf.copy_within(self.pos..self.end, 0);
                self.base += self.pos as u64;
                self.end -= self.pos;
                self.pos = 0;
                self.crc_from = 0;
            }
            let got = loop {
                match self.r.read(&mut self.buf[self.end..]) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if got == 0 {
                return Ok(false);
            }
            self.end += got;
        }
        Ok(true)
    }
}

/// The RDB reader. [`Reader::run`] reads a whole file into a visitor; the primitives are
/// public for payloads and tools.
pub struct Reader<R> {
    src: Src<R>,
    version: u32,
    opts: ReaderOptions,
    key: Option<Vec<u8>>,
    rtype: Option<u8>,
    doing: &'static str,
}

impl<R: Read> Reader<R> {
    /// A reader over `r` (wrap files in nothing: the reader buffers).
    pub fn new(r: R, opts: ReaderOptions) -> Self {
        Reader {
            src: Src::new(r),
            version: RDB_VERSION_MAX,
            opts,
            key: None,
            rtype: None,
            doing: "start",
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.src.offset()
    }

    /// The RDB version (from the header; [`RDB_VERSION_MAX`] before it, or as set by
    /// [`Reader::set_version`]).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Sets the version that governs version-dependent reads (for DUMP payload bodies).
    pub fn set_version(&mut self, v: u32) {
        self.version = v;
    }

    /// The CRC64 of every byte consumed so far.
    pub fn crc(&mut self) -> u64 {
        self.src.crc()
    }

    fn err(&self, offset: u64, kind: ErrorKind) -> RdbError {
        RdbError {
            offset,
            key: self.key.clone(),
            rdb_type: self.rtype,
            doing: self.doing,
            kind,
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> RdbError {
        self.err(self.offset(), ErrorKind::Corrupt(reason.into()))
    }

    fn ensure(&mut self, n: usize) -> Result<()> {
        let at = self.offset();
        match self.src.ensure(n) {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.err(at, ErrorKind::Eof)),
            Err(e) => Err(self.err(at, ErrorKind::Io(e.to_string()))),
        }
    }

    /// Reads `N` bytes.
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.ensure(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.src.buf[self.src.pos..self.src.pos + N]);
        self.src.pos += N;
        Ok(a)
    }

    /// Reads one byte (`rdbLoadType`).
    pub fn read_u8(&mut self) -> Result<u8> {
        Ok(self.read_array::<1>()?[0])
    }

    /// Reads `n` bytes into a new vector that grows as bytes arrive (never allocating a
    /// claimed `n` that the input does not hold).
    pub fn read_bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        let at = self.offset();
        let avail = (self.src.end - self.src.pos) as u64;
        if n <= avail {
            let n = n as usize;
            let v = self.src.buf[self.src.pos..self.src.pos + n].to_vec();
            self.src.pos += n;
            return Ok(v);
        }
        let mut out: Vec<u8> = Vec::with_capacity(avail as usize);
        let mut left = n;
        while left > 0 {
            if self.src.pos == self.src.end {
                match self.src.ensure(1) {
                    Ok(true) => {}
                    Ok(false) => return Err(self.err(at, ErrorKind::Eof)),
                    Err(e) => return Err(self.err(at, ErrorKind::Io(e.to_string()))),
                }
            }
            let take = left.min((self.src.end - self.src.pos) as u64) as usize;
            out.extend_from_slice(&self.src.buf[self.src.pos..self.src.pos + take]);
            self.src.pos += take;
            left -= take as u64;
        }
        Ok(out)
    }

    /// Reads a length or a special encoding (`rdbLoadLenByRef`): `(value, is_encoded)`;
    /// when `is_encoded` the value is one of [`enc::INT8`]..[`enc::LZF`]. A first byte of
    /// `0x82..=0xBF` is corrupt ("Unknown length encoding 2", reported after the byte, as
    /// Redis does).
    pub fn read_len_enc(&mut self) -> Result<(u64, bool)> {
        let b = self.read_u8()?;
        match b >> 6 {
            0 => Ok(((b & 0x3f) as u64, false)),
            1 => {
                let n = self.read_u8()?;
                Ok(((((b & 0x3f) as u64) << 8) | n as u64, false))
            }
            3 => Ok(((b & 0x3f) as u64, true)),
            _ => match b {
                enc::LEN_32BIT => Ok((u32::from_be_bytes(self.read_array()?) as u64, false)),
                enc::LEN_64BIT => Ok((u64::from_be_bytes(self.read_array()?), false)),
                _ => Err(self.err(
                    self.offset(),
                    ErrorKind::Corrupt(format!(
                        "Unknown length encoding {} in rdbLoadLen()",
                        b >> 6
                    )),
                )),
            },
        }
    }

    /// Reads a plain length (`rdbLoadLen`). As in Redis, a special-encoding byte (`0xC0 |
    /// e`) here is not an error: its low 6 bits are the length.
    pub fn read_len(&mut self) -> Result<u64> {
        Ok(self.read_len_enc()?.0)
    }

    /// Reads a string in any encoding (`rdbGenericLoadStringObject`): int-encoded strings come
    /// back as their decimal text, LZF strings decompressed.
    pub fn read_string(&mut self) -> Result<Vec<u8>> {
        let (len, encoded) = self.read_len_enc()?;
        if !encoded {
            return self.read_bytes(len);
        }
        let v: i64 = match len as u8 {
            enc::INT8 => self.read_u8()? as i8 as i64,
            enc::INT16 => i16::from_le_bytes(self.read_array()?) as i64,
            enc::INT32 => i32::from_le_bytes(self.read_array()?) as i64,
            enc::LZF => {
                let clen = self.read_len()?;
                let ulen = self.read_len()?;
                let c = self.read_bytes(clen)?;
                // Reported after the compressed bytes, as `rdbLoadLzfStringObject` does.
                return lzf::decompress(&c, ulen)
                    .ok_or_else(|| self.err(self.offset(), ErrorKind::Lzf));
            }
            other => return Err(self.err(self.offset(), ErrorKind::UnknownStringEncoding(other))),
        };
        Ok(v.to_string().into_bytes())
    }

    /// Reads a text double (`rdbLoadDoubleValue`): a length byte (253 NaN, 254 +inf,
    /// 255 -inf) then that many ASCII bytes.
    pub fn read_double(&mut self) -> Result<f64> {
        let at = self.offset();
        let len = self.read_u8()?;
        match len {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            _ => {
                let b = self.read_bytes(len as u64)?;
                std::str::from_utf8(&b)
                    .ok()
                    .and_then(|s| parse_c_double(s.trim()))
                    .ok_or_else(|| self.err(at, ErrorKind::Corrupt("Bad double value".into())))
            }
        }
    }

    /// Reads an 8-byte little-endian IEEE double (`rdbLoadBinaryDoubleValue`).
    pub fn read_binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.read_array()?))
    }

    /// Reads an 8-byte little-endian millisecond time (`rdbLoadMillisecondTime`).
    pub fn read_ms_time(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.read_array()?))
    }

    /// Reads and checks the 9-byte header; returns the version.
    pub fn read_header(&mut self) -> Result<u32> {
        self.doing = "start";
        let h: [u8; 9] = self.read_array()?;
        if &h[..5] != b"REDIS" {
            return Err(self.err(9, ErrorKind::WrongSignature));
        }
        let v = atoi(&h[5..]);
        if v < 1 || v > RDB_VERSION_MAX as i64 {
            return Err(self.err(9, ErrorKind::BadVersion(v.max(0) as u32)));
        }
        self.version = v as u32;
        Ok(self.version)
    }

    /// Reads a whole file: header, every record, EOF and the checksum trailer, calling the
    /// visitor for each. Bytes after the trailer are ignored, as Redis does.
    pub fn run<V: Visitor + ?Sized>(&mut self, v: &mut V) -> Result<Checksum> {
        let version = self.read_header()?;
        self.visit(v.header(version))?;
        let mut db = 0u64;
        let mut expire: Option<i64> = None;
        let mut idle: Option<u64> = None;
        let mut freq: Option<u8> = None;
        loop {
            self.key = None;
            self.rtype = None;
            self.doing = "read-type";
            let rec_at = self.offset();
            let t = self.read_u8()?;
            match t {
                opcodes::EXPIRETIME => {
                    self.doing = "read-expire";
                    expire = Some(i32::from_le_bytes(self.read_array()?) as i64 * 1000);
                }
                opcodes::EXPIRETIME_MS => {
                    self.doing = "read-expire";
                    expire = Some(self.read_ms_time()?);
                }
                opcodes::FREQ => {
                    self.doing = "read-freq";
                    freq = Some(self.read_u8()?);
                }
                opcodes::IDLE => {
                    self.doing = "read-idle";
                    idle = Some(self.read_len()?);
                }
                opcodes::EOF => break,
                opcodes::SELECTDB => {
                    self.doing = "read-selectdb";
                    db = self.read_len()?;
                    let at = self.offset();
                    self.visit(v.select_db(db, at))?;
                }
                opcodes::RESIZEDB => {
                    self.doing = "read-resizedb";
                    let a = self.read_len()?;
                    let b = self.read_len()?;
                    self.visit(v.resize_db(a, b))?;
                }
                opcodes::SLOT_INFO => {
                    self.doing = "read-slot-info";
                    let a = self.read_len()?;
                    let b = self.read_len()?;
                    let c = self.read_len()?;
                    self.visit(v.slot_info(a, b, c))?;
                }
                opcodes::AUX => {
                    self.doing = "read-aux";
                    let k = self.read_string()?;
                    let val = self.read_string()?;
                    let at = self.offset();
                    self.visit(v.aux(&k, &val, at))?;
                }
                opcodes::MODULE_AUX => {
                    self.doing = "read-module-aux";
                    let id = self.read_len()?;
                    let when_op = self.read_len()?;
                    let when = self.read_len()?;
                    if when_op != module_opcodes::UINT {
                        return Err(self.corrupt("bad when_opcode"));
                    }
                    let raw = self.read_module_opcodes(id)?;
                    self.visit(v.module_aux(id, when, &raw))?;
                }
                opcodes::FUNCTION_PRE_GA => {
                    self.doing = "read-functions";
                    return Err(self.err(self.offset(), ErrorKind::FunctionPreGa));
                }
                opcodes::FUNCTION2 => {
                    self.doing = "read-functions";
                    let code = self.read_string()?;
                    self.visit(v.function(&code))?;
                }
                t if types::is_object_type(t) => {
                    // The type is known while the key is read (redis-check-rdb names it).
                    self.rtype = Some(t);
                    self.doing = "read-key";
                    let key = self.read_string()?;
                    self.key = Some(key);
                    self.doing = "read-object-value";
                    let value = self.read_value(t)?;
                    let key = self.key.take().unwrap_or_default();
                    let rec_end = self.offset();
                    match value {
                        Some(value) => {
                            let rec = KeyRecord {
                                db,
                                key,
                                expire_ms: expire,
                                lru_idle: idle,
                                lfu_freq: freq,
                                rdb_type: t,
                                value,
                                offset: rec_at,
                                end_offset: rec_end,
                            };
                            self.visit(v.key(rec))?;
                        }
                        None => {
                            self.key = Some(key);
                            let r = v.empty_key(db, self.key.as_deref().unwrap_or(b""), t);
                            self.visit(r)?;
                        }
                    }
                    expire = None;
                    idle = None;
                    freq = None;
                }
                t => {
                    return Err(self.err(self.offset(), ErrorKind::UnknownType(t)));
                }
            }
        }
        self.doing = "check-sum";
        let mut status = Checksum::NotChecked;
        if version >= 5 {
            let computed = self.src.crc();
            let stored = u64::from_le_bytes(self.read_array()?);
            if self.opts.verify_checksum {
                if stored == 0 {
                    status = Checksum::Disabled;
                } else if stored != computed {
                    return Err(self.err(
                        self.offset(),
                        ErrorKind::Checksum {
                            expected: stored,
                            got: computed,
                        },
                    ));
                } else {
                    status = Checksum::Ok;
                }
            }
        }
        let at = self.offset();
        self.visit(v.end(status, at))?;
        Ok(status)
    }

    fn visit(&self, r: VisitResult) -> Result<()> {
        r.map_err(|reason| self.err(self.offset(), ErrorKind::Visitor(reason)))
    }

    /// Reads the typed opcodes of a module value or MODULE_AUX payload up to its EOF and
    /// returns them re-encoded (`rdbLoadCheckModuleValue`).
    fn read_module_opcodes(&mut self, module_id: u64) -> Result<Vec<u8>> {
        let mut raw = Vec::new();
        loop {
            let op = self.read_len()?;
            super::write::put_len(&mut raw, op);
            match op {
                module_opcodes::EOF => return Ok(raw),
                module_opcodes::SINT | module_opcodes::UINT => {
                    let n = self.read_len()?;
                    super::write::put_len(&mut raw, n);
                }
                module_opcodes::STRING => {
                    let s = self.read_string()?;
                    super::write::put_raw_string(&mut raw, &s);
                }
                module_opcodes::FLOAT => raw.extend_from_slice(&self.read_array::<4>()?),
                module_opcodes::DOUBLE => raw.extend_from_slice(&self.read_array::<8>()?),
                _ => {
                    return Err(self.err(
                        self.offset(),
                        ErrorKind::Module(super::module_type_name(module_id)),
                    ))
                }
            }
        }
    }

    /// Reads a string and validates it as a listpack (`lpValidateIntegrity`, deep).
    fn read_listpack(&mut self, what: &str) -> Result<Listpack> {
        let b = self.read_string()?;
        Listpack::from_vec(b).map_err(|_| self.corrupt(format!("{what} integrity check failed.")))
    }

    /// Reads the value of a record of RDB type `t` (`rdbLoadObject`). `Ok(None)`: an empty
    /// collection (Redis skips such keys).
    pub fn read_value(&mut self, t: u8) -> Result<Option<Value>> {
        let deep = self.opts.deep;
        let v = match t {
            types::STRING => Value::String(self.read_string()?),
            types::LIST => {
                let n = self.read_len()?;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.read_string()?);
                }
                if items.is_empty() {
                    return Ok(None);
                }
                let e: Vec<ListpackEntry<'_>> =
                    items.iter().map(|s| ListpackEntry::Str(s)).collect();
                Value::List(pack_list_nodes(&e))
            }
            types::SET => {
                let n = self.read_len()?;
                if n == 0 {
                    return Ok(None);
                }
                let mut m: Vec<Vec<u8>> = Vec::new();
                let mut seen: HashSet<Vec<u8>> = HashSet::new();
                for _ in 0..n {
                    let e = self.read_string()?;
                    // Found at the duplicate, as Redis's insertion finds it.
                    if deep && !seen.insert(e.clone()) {
                        return Err(self.corrupt("Duplicate set members detected"));
                    }
                    m.push(e);
                }
                Value::Set(m)
            }
            types::ZSET | types::ZSET_2 => {
                let n = self.read_len()?;
                if n == 0 {
                    return Ok(None);
                }
                let mut m = Vec::new();
                let mut seen: HashSet<Vec<u8>> = HashSet::new();
                for _ in 0..n {
                    let ele = self.read_string()?;
                    let score = if t == types::ZSET_2 {
                        self.read_binary_double()?
                    } else {
                        self.read_double()?
                    };
                    if score.is_nan() {
                        return Err(self.corrupt("Zset with NAN score detected"));
                    }
                    if deep && !seen.insert(ele.clone()) {
                        return Err(self.corrupt("Duplicate zset fields detected"));
                    }
                    m.push((ele, score));
                }
                Value::Zset(m)
            }
            types::HASH => {
                let n = self.read_len()?;
                if n == 0 {
                    return Ok(None);
                }
                let mut m = Vec::new();
                let mut seen: HashSet<Vec<u8>> = HashSet::new();
                for _ in 0..n {
                    let field = self.read_string()?;
                    let value = self.read_string()?;
                    if deep && !seen.insert(field.clone()) {
                        return Err(self.corrupt("Duplicate hash fields detected"));
                    }
                    m.push(HashField {
                        field,
                        value,
                        expire_ms: None,
                    });
                }
                Value::Hash(m)
            }
            types::HASH_METADATA | types::HASH_METADATA_PRE_GA => {
                let min_expire = if t == types::HASH_METADATA {
                    Some(eof_as(self.read_ms_time(), "Hash failed loading minExpire")? as u64)
                } else {
                    None
                };
                let n = self.read_len()?;
                if n == 0 {
                    return Ok(None);
                }
                let mut m = Vec::new();
                let mut seen: HashSet<Vec<u8>> = HashSet::new();
                for _ in 0..n {
                    let ttl = self.read_len()?;
                    let expire = match (ttl, min_expire) {
                        (0, _) => None,
                        (ttl, Some(min)) => Some(min.wrapping_add(ttl - 1)),
                        (ttl, None) => Some(ttl),
                    };
                    if let Some(e) = expire {
                        if e > EB_EXPIRE_TIME_MAX {
                            return Err(self.corrupt(format!("invalid expireAt time: {e}")));
                        }
                    }
                    let field = self.read_string()?;
                    let value = self.read_string()?;
                    if deep && !seen.insert(field.clone()) {
                        return Err(self.corrupt("Duplicate hash fields detected"));
                    }
                    m.push(HashField {
                        field,
                        value,
                        expire_ms: expire,
                    });
                }
                Value::Hash(m)
            }
            types::HASH_LISTPACK_EX | types::HASH_LISTPACK_EX_PRE_GA => {
                if t == types::HASH_LISTPACK_EX {
                    let _min_expire = eof_as(
                        self.read_ms_time(),
                        "Hash listpackex integrity check failed.",
                    )?;
                }
                let lp = self.read_listpack("Hash listpack")?;
                if lp.is_empty() {
                    return Ok(None);
                }
                if lp.len() % 3 != 0 {
                    return Err(self.corrupt("Hash listpack integrity check failed."));
                }
                for (i, e) in lp.iter().enumerate() {
                    if i % 3 == 2 {
                        match e {
                            ListpackEntry::Int(v)
                                if (0..=EB_EXPIRE_TIME_MAX as i64).contains(&v) => {}
                            _ => return Err(self.corrupt("Hash listpack integrity check failed.")),
                        }
                    }
                }
                if deep && has_dups_entries(lp.iter().step_by(3)) {
                    return Err(self.corrupt("Hash listpack integrity check failed."));
                }
                Value::HashListpackEx(lp)
            }
            types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
                let n = self.read_len()?;
                let mut nodes = Vec::new();
                for _ in 0..n {
                    let mut cont = container::PACKED;
                    if t == types::LIST_QUICKLIST_2 {
                        cont = self.read_len()?;
                        if cont != container::PACKED && cont != container::PLAIN {
                            return Err(self.corrupt("Quicklist integrity check failed."));
                        }
                    }
                    let data = self.read_string()?;
                    if data.is_empty() {
                        return Err(self.corrupt("Quicklist integrity check failed."));
                    }
                    if cont == container::PLAIN {
                        nodes.push(QuicklistNode::Plain(data));
                        continue;
                    }
                    let lp = if t == types::LIST_QUICKLIST_2 {
                        Listpack::from_vec(data)
                            .map_err(|_| self.corrupt("Listpack integrity check failed."))?
                    } else {
                        ziplist::ziplist_to_listpack(&data)
                            .ok_or_else(|| self.corrupt("Ziplist integrity check failed."))?
                    };
                    if !lp.is_empty() {
                        nodes.push(QuicklistNode::Packed(lp));
                    }
                }
                if nodes.is_empty() {
                    return Ok(None);
                }
                Value::List(nodes)
            }
            types::HASH_ZIPMAP => {
                let b = self.read_string()?;
                let pairs = ziplist::zipmap_pairs(&b)
                    .ok_or_else(|| self.corrupt("Zipmap integrity check failed."))?;
                if has_dups(pairs.iter().map(|p| p.0)) {
                    return Err(self.corrupt("Hash zipmap with dup elements, or big length"));
                }
                if pairs.is_empty() {
                    return Ok(None);
                }
                let mut e = Vec::with_capacity(pairs.len() * 2);
                for (k, v) in &pairs {
                    e.push(ziplist::ZipEntry::Str(k));
                    e.push(ziplist::ZipEntry::Str(v));
                }
                Value::HashListpack(
                    ziplist::listpack_from(&e)
                        .ok_or_else(|| self.corrupt("Zipmap integrity check failed."))?,
                )
            }
            types::LIST_ZIPLIST => {
                let b = self.read_string()?;
                let e = ziplist::ziplist_entries(&b)
                    .ok_or_else(|| self.corrupt("List ziplist integrity check failed."))?;
                if e.is_empty() {
                    return Ok(None);
                }
                let e: Vec<ListpackEntry<'_>> = e
                    .iter()
                    .map(|z| match *z {
                        ziplist::ZipEntry::Str(s) => ListpackEntry::Str(s),
                        ziplist::ZipEntry::Int(v) => ListpackEntry::Int(v),
                    })
                    .collect();
                Value::List(pack_list_nodes(&e))
            }
            types::SET_INTSET => {
                let b = self.read_string()?;
                let is = Intset::from_vec(b)
                    .map_err(|_| self.corrupt("Intset integrity check failed."))?;
                Value::SetIntset(is)
            }
            types::ZSET_ZIPLIST | types::HASH_ZIPLIST => {
                let b = self.read_string()?;
                let what = if t == types::ZSET_ZIPLIST {
                    "Zset ziplist integrity check failed."
                } else {
                    "Hash ziplist integrity check failed."
                };
                let e = ziplist::ziplist_entries(&b).ok_or_else(|| self.corrupt(what))?;
                if e.len() % 2 != 0 {
                    return Err(self.corrupt(what));
                }
                if e.is_empty() {
                    return Ok(None);
                }
                let lp = ziplist::listpack_from(&e).ok_or_else(|| self.corrupt(what))?;
                if has_dups_entries(lp.iter().step_by(2)) {
                    return Err(self.corrupt(what));
                }
                if t == types::ZSET_ZIPLIST {
                    check_zset_listpack_scores(&lp).ok_or_else(|| self.corrupt(what))?;
                    Value::ZsetListpack(lp)
                } else {
                    Value::HashListpack(lp)
                }
            }
            types::HASH_LISTPACK | types::ZSET_LISTPACK | types::SET_LISTPACK => {
                let what = match t {
                    types::HASH_LISTPACK => "Hash listpack",
                    types::ZSET_LISTPACK => "Zset listpack",
                    _ => "Set listpack",
                };
                let lp = self.read_listpack(what)?;
                if lp.is_empty() {
                    return Ok(None);
                }
                let bad = || format!("{what} integrity check failed.");
                match t {
                    types::SET_LISTPACK => {
                        if deep && has_dups_entries(lp.iter()) {
                            return Err(self.corrupt(bad()));
                        }
                        Value::SetListpack(lp)
                    }
                    _ => {
                        if lp.len() % 2 != 0 {
                            return Err(self.corrupt(bad()));
                        }
                        if deep && has_dups_entries(lp.iter().step_by(2)) {
                            return Err(self.corrupt(bad()));
                        }
                        if t == types::ZSET_LISTPACK {
                            check_zset_listpack_scores(&lp).ok_or_else(|| self.corrupt(bad()))?;
                            Value::ZsetListpack(lp)
                        } else {
                            Value::HashListpack(lp)
                        }
                    }
                }
            }
            types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
                Value::Stream(Box::new(self.read_stream(t)?))
            }
            types::MODULE_PRE_GA => {
                let id = self.read_len()?;
                return Err(self.err(
                    self.offset(),
                    ErrorKind::Module(super::module_type_name(id)),
                ));
            }
            types::MODULE_2 => {
                let id = self.read_len()?;
                let raw = self.read_module_opcodes(id)?;
                Value::Module(ModuleValue { module_id: id, raw })
            }
            t => return Err(self.err(self.offset(), ErrorKind::UnknownType(t))),
        };
        Ok(Some(v))
    }

    fn read_stream_id(&mut self) -> Result<StreamId> {
        let ms = self.read_len()?;
        let seq = self.read_len()?;
        Ok(StreamId { ms, seq })
    }

    fn read_raw_id(&mut self) -> Result<StreamId> {
        let b: [u8; 16] = self.read_array()?;
        Ok(StreamId::from_be_bytes(&b))
    }

    fn read_stream(&mut self, t: u8) -> Result<StreamValue> {
        let n = eof_as(self.read_len(), "Stream listpacks len loading failed.")?;
        let mut nodes: Vec<(StreamId, Listpack)> = Vec::new();
        for _ in 0..n {
            let key = eof_as(
                self.read_string(),
                "Stream master ID loading failed: invalid encoding or I/O error.",
            )?;
            let key: [u8; 16] = key.as_slice().try_into().map_err(|_| {
                self.corrupt("Stream node key entry is not the size of a stream ID")
            })?;
            let master = StreamId::from_be_bytes(&key);
            let lp = eof_as(
                self.read_listpack("Stream listpack"),
                "Stream listpacks loading failed.",
            )?;
            if lp.is_empty() {
                return Err(self.corrupt("Empty listpack inside stream"));
            }
            // Always, unlike Redis without `sanitize-dump-payload yes`: the server trusts
            // these counts when it walks a node, and a bad file must not crash it.
            if !stream_node_is_valid(&master, &lp) {
                return Err(self.corrupt("Stream listpack integrity check failed."));
            }
            if let Some((last, _)) = nodes.last() {
                if *last >= master {
                    return Err(self.corrupt("Listpack re-added with existing key"));
                }
            }
            nodes.push((master, lp));
        }
        const META: &str = "Stream object metadata loading failed.";
        let length = eof_as(self.read_len(), META)?;
        let last_id = eof_as(self.read_stream_id(), META)?;
        let (first_id, max_deleted_id, entries_added) = if t >= types::STREAM_LISTPACKS_2 {
            let f = eof_as(self.read_stream_id(), META)?;
            let m = eof_as(self.read_stream_id(), META)?;
            let a = eof_as(self.read_len(), META)?;
            (f, m, a)
        } else {
            let first = nodes
                .iter()
                .find_map(|(m, lp)| stream_node_entries(m, lp)?.into_iter().find(|e| !e.deleted))
                .map(|e| e.id)
                .unwrap_or_default();
            (first, StreamId::default(), length)
        };
        if length > 0 && nodes.is_empty() {
            return Err(self.corrupt("Stream length inconsistent with rax entries"));
        }
        let mut s = StreamValue {
            nodes,
            length,
            last_id,
            first_id,
            max_deleted_id,
            entries_added,
            groups: Vec::new(),
        };
        let ngroups = eof_as(self.read_len(), "Stream cgroup count loading failed.")?;
        for _ in 0..ngroups {
            let name = eof_as(
                self.read_string(),
                "Error reading the consumer group name from Stream",
            )?;
            let last = eof_as(self.read_stream_id(), "Stream cgroup ID loading failed.")?;
            let entries_read = if t >= types::STREAM_LISTPACKS_2 {
                eof_as(self.read_len(), "Stream cgroup offset loading failed.")? as i64
            } else {
                estimate_entries_read(&s, &last)
            };
            if s.groups.iter().any(|g| g.name == name) {
                return Err(self.corrupt("Duplicated consumer group name"));
            }
            let npel = eof_as(self.read_len(), "Stream PEL size loading failed.")?;
            let mut pel: Vec<PendingEntry> = Vec::new();
            let mut pel_ids: HashSet<StreamId> = HashSet::new();
            for _ in 0..npel {
                let id = eof_as(self.read_raw_id(), "Stream PEL ID loading failed.")?;
                const NACK: &str = "Stream PEL NACK loading failed.";
                let delivery_time = eof_as(self.read_ms_time(), NACK)? as u64;
                let delivery_count = eof_as(self.read_len(), NACK)?;
                if !pel_ids.insert(id) {
                    return Err(
                        self.corrupt("Duplicated global PEL entry loading stream consumer group")
                    );
                }
                pel.push(PendingEntry {
                    id,
                    delivery_time,
                    delivery_count,
                });
            }
            let ncons = eof_as(self.read_len(), "Stream consumers num loading failed.")?;
            let mut consumers = Vec::new();
            let mut owned: HashSet<StreamId> = HashSet::new();
            for _ in 0..ncons {
                let cname = eof_as(
                    self.read_string(),
                    "Error reading the consumer name from Stream group.",
                )?;
                let seen_time =
                    eof_as(self.read_ms_time(), "Stream short read reading seen time.")? as u64;
                let active_time = if t >= types::STREAM_LISTPACKS_3 {
                    eof_as(
                        self.read_ms_time(),
                        "Stream short read reading active time.",
                    )?
                } else {
                    seen_time as i64
                };
                let n = eof_as(self.read_len(), "Stream consumer PEL num loading failed.")?;
                let mut cpel = Vec::new();
                for _ in 0..n {
                    let id = eof_as(
                        self.read_raw_id(),
                        "Stream short read reading PEL streamID.",
                    )?;
                    if !pel_ids.contains(&id) {
                        return Err(self.corrupt("Consumer entry not found in group global PEL"));
                    }
                    if !owned.insert(id) {
                        return Err(self.corrupt(
                            "Duplicated consumer PEL entry  loading a stream consumer group",
                        ));
                    }
                    cpel.push(id);
                }
                consumers.push(StreamConsumer {
                    name: cname,
                    seen_time,
                    active_time,
                    pel: cpel,
                });
            }
            // Always (Redis checks only under deep sanitization, then dereferences the
            // missing consumer later): a PEL entry must have an owner.
            if owned.len() != pel_ids.len() {
                return Err(self.corrupt("Stream CG PEL entry without consumer"));
            }
            s.groups.push(StreamGroup {
                name,
                last_id: last,
                entries_read,
                pel,
                consumers,
            });
        }
        Ok(s)
    }
}

/// Turns an end-of-input error into the corruption Redis reports at that point
/// (`rdbReportReadError` texts of `rdbLoadObject` for streams and hashes with field TTLs), keeping
/// its offset, key and type.
fn eof_as<T>(r: Result<T>, reason: &str) -> Result<T> {
    r.map_err(|mut e| {
        if e.kind == ErrorKind::Eof {
            e.kind = ErrorKind::Corrupt(reason.into());
        }
        e
    })
}

/// `streamEstimateDistanceFromFirstEverEntry` (t_stream.c): the entries-read counter Redis
/// derives for groups of type-15 streams.
fn estimate_entries_read(s: &StreamValue, id: &StreamId) -> i64 {
    if s.entries_added == 0 {
        return 0;
    }
    if s.length == 0 && *id <= s.last_id {
        return s.entries_added as i64;
    }
    if *id == s.last_id {
        return s.entries_added as i64;
    } else if *id > s.last_id {
        return -1;
    }
    let zero = StreamId::default();
    if s.max_deleted_id == zero || s.max_deleted_id < s.first_id {
        if *id < s.first_id {
            return (s.entries_added - s.length) as i64;
        } else if *id == s.first_id {
            return (s.entries_added - s.length + 1) as i64;
        }
    }
    -1
}

/// One entry of a stream listpack node.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEntry {
    /// Entry id (master id + deltas).
    pub id: StreamId,
    /// Deleted flag (`STREAM_ITEM_FLAG_DELETED`).
    pub deleted: bool,
    /// Field/value pairs.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Stream listpack entry flags (t_stream.c).
const STREAM_ITEM_FLAG_DELETED: i64 = 1;
const STREAM_ITEM_FLAG_SAMEFIELDS: i64 = 2;

/// Decodes a stream listpack node (the layout of t_stream.c: master entry `count deleted
/// nfields field... 0`, then per entry `flags ms-delta seq-delta [nfields] [field] value ...
/// lp-count`), validating it as `streamValidateListpackIntegrity` does: counts match the
/// master entry, every entry ends with its element count. `None` when malformed.
pub fn stream_node_entries(master: &StreamId, lp: &Listpack) -> Option<Vec<StreamEntry>> {
    let mut out = Vec::new();
    walk_stream_node(master, lp, Some(&mut out))?;
    Some(out)
}

/// True when `lp` is a well-formed stream node ([`stream_node_entries`]'s checks, without
/// decoding anything): the reader runs it on every node it loads, whatever `deep` says,
/// because the server walks nodes trusting these counts.
pub fn stream_node_is_valid(master: &StreamId, lp: &Listpack) -> bool {
    walk_stream_node(master, lp, None).is_some()
}

/// The one walk behind [`stream_node_entries`] and [`stream_node_is_valid`]: entries are
/// decoded into `out` only when it is given.
fn walk_stream_node(
    master: &StreamId,
    lp: &Listpack,
    mut out: Option<&mut Vec<StreamEntry>>,
) -> Option<()> {
    let mut it = lp.iter();
    let int = |e: Option<ListpackEntry<'_>>| -> Option<i64> {
        match e? {
            ListpackEntry::Int(v) => Some(v),
            ListpackEntry::Str(s) => crate::util::string2ll(s),
        }
    };
    let count = int(it.next())?;
    let deleted = int(it.next())?;
    let nmaster = int(it.next())?;
    if count < 0 || deleted < 0 || nmaster < 0 || nmaster as usize > lp.len() {
        return None;
    }
    let mut mfields = Vec::new();
    for _ in 0..nmaster {
        let f = it.next()?;
        if out.is_some() {
            mfields.push(f.to_vec());
        }
    }
    if int(it.next())? != 0 {
        return None;
    }
    let mut live = 0i64;
    let mut dead = 0i64;
    while let Some(flags) = it.next() {
        let flags = int(Some(flags))?;
        let ms = int(it.next())?;
        let seq = int(it.next())?;
        let mut fields = Vec::new();
        let lpcount = if flags & STREAM_ITEM_FLAG_SAMEFIELDS != 0 {
            for i in 0..nmaster as usize {
                let v = it.next()?;
                if out.is_some() {
                    fields.push((mfields[i].clone(), v.to_vec()));
                }
            }
            nmaster + 3
        } else {
            let nf = int(it.next())?;
            if nf < 0 || nf as usize > lp.len() {
                return None;
            }
            for _ in 0..nf {
                let f = it.next()?;
                let v = it.next()?;
                if out.is_some() {
                    fields.push((f.to_vec(), v.to_vec()));
                }
            }
            nf * 2 + 4
        };
        if int(it.next())? != lpcount {
            return None;
        }
        let del = flags & STREAM_ITEM_FLAG_DELETED != 0;
        if del {
            dead += 1;
        } else {
            live += 1;
        }
        if let Some(out) = out.as_deref_mut() {
            out.push(StreamEntry {
                id: StreamId {
                    ms: master.ms.wrapping_add(ms as u64),
                    seq: master.seq.wrapping_add(seq as u64),
                },
                deleted: del,
                fields,
            });
        }
    }
    if live != count || dead != deleted {
        return None;
    }
    Some(())
}

/// Packs list elements into listpack nodes of about [`LIST_NODE_BYTES`] each.
pub fn pack_list_nodes(items: &[ListpackEntry<'_>]) -> Vec<QuicklistNode> {
    let mut nodes = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, it) in items.iter().enumerate() {
        let sz = match it {
            ListpackEntry::Str(s) => s.len() + 11,
            ListpackEntry::Int(_) => 10,
        };
        if i > start && bytes + sz > LIST_NODE_BYTES {
            let mut lp = Listpack::new();
            lp.push_back_all(&items[start..i]);
            nodes.push(QuicklistNode::Packed(lp));
            start = i;
            bytes = 0;
        }
        bytes += sz;
    }
    if start < items.len() {
        let mut lp = Listpack::new();
        lp.push_back_all(&items[start..]);
        nodes.push(QuicklistNode::Packed(lp));
    }
    nodes
}

fn has_dups<'a>(it: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut seen = HashSet::new();
    for x in it {
        if !seen.insert(x) {
            return true;
        }
    }
    false
}

/// True when two listpack elements have the same string form (an integer-encoded 5 equals a
/// string "5", as Redis's sds-keyed check sees them). Sorts borrowed keys instead of hashing
/// owned copies: no allocation per element.
fn has_dups_entries<'a>(it: impl Iterator<Item = ListpackEntry<'a>>) -> bool {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Key<'a> {
        Int(i64),
        Str(&'a [u8]),
    }
    let mut keys: Vec<Key<'a>> = it
        .map(|e| match e {
            ListpackEntry::Int(v) => Key::Int(v),
            ListpackEntry::Str(s) => match crate::util::string2ll(s) {
                Some(v) => Key::Int(v),
                None => Key::Str(s),
            },
        })
        .collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

/// Every second element of a zset listpack must be a score (an integer or a double in text
/// form, as `zzlGetScore` reads it).
fn check_zset_listpack_scores(lp: &Listpack) -> Option<()> {
    for (i, e) in lp.iter().enumerate() {
        if i % 2 == 1 {
            if let ListpackEntry::Str(s) = e {
                let v = parse_c_double(std::str::from_utf8(s).ok()?)?;
                if v.is_nan() {
                    return None;
                }
            }
        }
    }
    Some(())
}

/// Parses a double as `strtod` would accept Redis's own output (`inf`, `-inf`, `nan`, decimal
/// and exponent forms).
pub fn parse_c_double(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

/// C's `atoi` on the version digits (leading digits; garbage gives 0).
fn atoi(b: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            break;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    v
}

/// Reads the RDB file at `path` into `visitor`. I/O errors opening it are reported as
/// [`ErrorKind::Io`] at offset 0.
pub fn read_file<V: Visitor + ?Sized>(
    path: &Path,
    visitor: &mut V,
    opts: ReaderOptions,
) -> Result<Checksum> {
    let f = std::fs::File::open(path)
        .map_err(|e| RdbError::new(0, "start", ErrorKind::Io(e.to_string())))?;
    Reader::new(f, opts).run(visitor)
}
