//! The RDB writer (rdb.c `rdbSaveRio`, `rdbSaveKeyValuePair`, `rdbSaveObject` and the
//! primitives `rdbSaveLen`, `rdbSaveRawString`, `rdbTryIntegerEncoding`,
//! `rdbSaveLzfStringObject`, `rdbSaveBinaryDoubleValue`, `rdbSaveMillisecondTime`).
//!
//! Two layers:
//! - free functions `put_*` append one encoded item to a `Vec<u8>`; the server maps its own
//!   values onto them (through [`Writer::out`]) without building a [`Value`];
//! - [`Writer`] frames a file: header, AUX/SELECTDB/RESIZEDB/FUNCTION2 records, key records
//!   (`put_value` writes a [`Value`] as Redis 7.4 would), EOF and the CRC64 trailer. It buffers
//!   and flushes in 64 KB chunks, computing the CRC on the way.
//!
//! Versions: a writer is created for one version: 11 by default ([`super::RDB_VERSION_DEFAULT`]),
//! 12 when a hash with field TTLs is written (types 24/25 are refused below 12), 10 for Redis
//! 7.0 (set listpacks become intsets or hashtables, streams type 19).

use std::io::Write;

use super::read::EB_EXPIRE_TIME_MAX;
use super::{
    container, enc_byte, lzf, opcodes, types, ErrorKind, QuicklistNode, RdbError, Result,
    StreamValue, Value,
};
use crate::intset::Intset;
use crate::listpack::ListpackEntry;

/// Appends a length (`rdbSaveLen`): 6-bit, 14-bit, 32-bit or 64-bit form, the shortest.
pub fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(((n >> 8) as u8) | 0x40);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a string as length + bytes, with no integer or LZF encoding.
pub fn put_raw_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends an integer in the RDB integer string encodings (`rdbEncodeInteger`) if it fits in
/// 32 bits; returns false (appending nothing) otherwise.
pub fn put_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if (i8::MIN as i64..=i8::MAX as i64).contains(&v) {
        out.push(enc_byte(super::read::enc::INT8));
        out.push(v as i8 as u8);
    } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
        out.push(enc_byte(super::read::enc::INT16));
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        out.push(enc_byte(super::read::enc::INT32));
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends an integer as a string object (`rdbSaveLongLongAsStringObject`): int-encoded if it
/// fits 32 bits, else its decimal text.
pub fn put_int_string(out: &mut Vec<u8>, v: i64) {
    if !put_int_encoded(out, v) {
        put_raw_string(out, v.to_string().as_bytes());
    }
}

/// Appends a string as `rdbSaveRawString` does: strings of at most 11 bytes that are canonical
/// integers fitting 32 bits are int-encoded (`rdbTryIntegerEncoding`); with `compress`
/// (`rdbcompression yes`) strings longer than 20 bytes are LZF-compressed when that saves at
/// least 4 bytes; anything else is length + bytes.
pub fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = crate::util::string2ll(s) {
            if put_int_encoded(out, v) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(c) = lzf::compress(s) {
            out.push(enc_byte(super::read::enc::LZF));
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    put_raw_string(out, s);
}

/// Appends an 8-byte little-endian IEEE double (`rdbSaveBinaryDoubleValue`).
pub fn put_binary_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends an 8-byte little-endian millisecond time (`rdbSaveMillisecondTime`).
pub fn put_ms_time(out: &mut Vec<u8>, ms: i64) {
    out.extend_from_slice(&ms.to_le_bytes());
}

/// The RDB type [`put_value`] uses for `v` at `version` (Redis 7.4's `rdbSaveObjectType`;
/// below 11 a set listpack is written as an intset or a hashtable set, below 11 a stream as
/// type 19).
pub fn value_type(v: &Value, version: u32) -> u8 {
    match v {
        Value::String(_) => types::STRING,
        Value::List(_) => types::LIST_QUICKLIST_2,
        Value::Set(_) => types::SET,
        Value::SetIntset(_) => types::SET_INTSET,
        Value::SetListpack(lp) => {
            if version >= 11 {
                types::SET_LISTPACK
            } else if set_listpack_as_intset(lp).is_some() {
                types::SET_INTSET
            } else {
                types::SET
            }
        }
        Value::Zset(_) => types::ZSET_2,
        Value::ZsetListpack(_) => types::ZSET_LISTPACK,
        Value::Hash(f) => {
            if f.iter().any(|f| f.expire_ms.is_some()) {
                types::HASH_METADATA
            } else {
                types::HASH
            }
        }
        Value::HashListpack(_) => types::HASH_LISTPACK,
        Value::HashListpackEx(_) => types::HASH_LISTPACK_EX,
        Value::Stream(_) => {
            if version >= 11 {
                types::STREAM_LISTPACKS_3
            } else {
                types::STREAM_LISTPACKS_2
            }
        }
        Value::Module(_) => types::MODULE_2,
    }
}

/// The intset a set listpack becomes for a version-10 file, when every member is an integer
/// and there are at most 512 (`set-max-intset-entries`).
fn set_listpack_as_intset(lp: &crate::listpack::Listpack) -> Option<Intset> {
    if lp.len() > 512 {
        return None;
    }
    let mut is = Intset::new();
    for e in lp.iter() {
        let v = match e {
            ListpackEntry::Int(v) => v,
            ListpackEntry::Str(s) => crate::util::string2ll(s)?,
        };
        is.add(v);
    }
    Some(is)
}

fn unsupported(what: String) -> RdbError {
    RdbError::new(0, "write", ErrorKind::Unsupported(what))
}

/// Appends the body of `v` (no type byte) in the type [`value_type`] gives, as Redis 7.4's
/// `rdbSaveObject` lays it out. Errors: a hash with field TTLs below version 12, or a field
/// TTL above 2^48-1 ms.
pub fn put_value(out: &mut Vec<u8>, v: &Value, version: u32, compress: bool) -> Result<()> {
    match v {
        Value::String(s) => put_string(out, s, compress),
        Value::List(nodes) => {
            put_len(out, nodes.len() as u64);
            for n in nodes {
                match n {
                    QuicklistNode::Plain(b) => {
                        put_len(out, container::PLAIN);
                        put_string(out, b, compress);
                    }
                    QuicklistNode::Packed(lp) => {
                        put_len(out, container::PACKED);
                        put_string(out, lp.as_bytes(), compress);
                    }
                }
            }
        }
        Value::Set(m) => {
            put_len(out, m.len() as u64);
            for s in m {
                put_string(out, s, compress);
            }
        }
        Value::SetIntset(is) => put_string(out, is.as_bytes(), compress),
        Value::SetListpack(lp) => {
            if version >= 11 {
                put_string(out, lp.as_bytes(), compress);
            } else if let Some(is) = set_listpack_as_intset(lp) {
                put_string(out, is.as_bytes(), compress);
            } else {
                put_len(out, lp.len() as u64);
                for e in lp.iter() {
                    put_string(out, &e.to_vec(), compress);
                }
            }
        }
        Value::Zset(m) => {
            put_len(out, m.len() as u64);
            // Redis writes from the skiplist tail so a loader inserts at the head; any order
            // loads.
            for (member, score) in m.iter().rev() {
                put_string(out, member, compress);
                put_binary_double(out, *score);
            }
        }
        Value::ZsetListpack(lp) | Value::HashListpack(lp) => {
            put_string(out, lp.as_bytes(), compress)
        }
        Value::Hash(fields) => {
            let min = fields.iter().filter_map(|f| f.expire_ms).min();
            if let Some(min) = min {
                if version < 12 {
                    return Err(unsupported(format!(
                        "hash field TTLs need RDB version 12 (writing {version})"
                    )));
                }
                if fields
                    .iter()
                    .any(|f| f.expire_ms.unwrap_or(0) > EB_EXPIRE_TIME_MAX)
                {
                    return Err(unsupported("hash field TTL above 2^48-1 ms".into()));
                }
                put_ms_time(out, min as i64);
                put_len(out, fields.len() as u64);
                for f in fields {
                    put_len(out, f.expire_ms.map_or(0, |e| e - min + 1));
                    put_string(out, &f.field, compress);
                    put_string(out, &f.value, compress);
                }
            } else {
                put_len(out, fields.len() as u64);
                for f in fields {
                    put_string(out, &f.field, compress);
                    put_string(out, &f.value, compress);
                }
            }
        }
        Value::HashListpackEx(lp) => {
            if version < 12 {
                return Err(unsupported(format!(
                    "hash field TTLs need RDB version 12 (writing {version})"
                )));
            }
            let min = lp
                .iter()
                .skip(2)
                .step_by(3)
                .filter_map(|e| match e {
                    ListpackEntry::Int(v) if v > 0 => Some(v),
                    _ => None,
                })
                .min()
                .unwrap_or(0);
            put_ms_time(out, min);
            put_string(out, lp.as_bytes(), compress);
        }
        Value::Stream(s) => put_stream(out, s, version, compress),
        Value::Module(m) => {
            put_len(out, m.module_id);
            out.extend_from_slice(&m.raw);
        }
    }
    Ok(())
}

/// Appends a stream body as type 21 (version >= 11) or 19 (without consumer active times).
pub fn put_stream(out: &mut Vec<u8>, s: &StreamValue, version: u32, compress: bool) {
    put_len(out, s.nodes.len() as u64);
    for (master, lp) in &s.nodes {
        put_string(out, &master.to_be_bytes(), compress);
        put_string(out, lp.as_bytes(), compress);
    }
    put_len(out, s.length);
    put_len(out, s.last_id.ms);
    put_len(out, s.last_id.seq);
    put_len(out, s.first_id.ms);
    put_len(out, s.first_id.seq);
    put_len(out, s.max_deleted_id.ms);
    put_len(out, s.max_deleted_id.seq);
    put_len(out, s.entries_added);
    put_len(out, s.groups.len() as u64);
    for g in &s.groups {
        put_string(out, &g.name, compress);
        put_len(out, g.last_id.ms);
        put_len(out, g.last_id.seq);
        put_len(out, g.entries_read as u64);
        put_len(out, g.pel.len() as u64);
        for p in &g.pel {
            out.extend_from_slice(&p.id.to_be_bytes());
            put_ms_time(out, p.delivery_time as i64);
            put_len(out, p.delivery_count);
        }
        put_len(out, g.consumers.len() as u64);
        for c in &g.consumers {
            put_string(out, &c.name, compress);
            put_ms_time(out, c.seen_time as i64);
            if version >= 11 {
                put_ms_time(out, c.active_time);
            }
            put_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

/// Writer settings.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// LZF-compress strings longer than 20 bytes (`rdbcompression`).
    pub compression: bool,
    /// Write the CRC64 trailer; 8 zero bytes when false (`rdbchecksum`).
    pub checksum: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compression: true,
            checksum: true,
        }
    }
}

const FLUSH_AT: usize = 64 * 1024;

/// Frames an RDB file onto `W` (see the module docs).
pub struct Writer<W: Write> {
    w: W,
    buf: Vec<u8>,
    crc: u64,
    version: u32,
    opts: WriterOptions,
    written: u64,
}

impl<W: Write> Writer<W> {
    /// Starts a file of RDB `version` (writes `REDIS%04d`).
    pub fn new(w: W, version: u32, opts: WriterOptions) -> Self {
        let mut buf = Vec::with_capacity(FLUSH_AT * 2);
        buf.extend_from_slice(format!("REDIS{version:04}").as_bytes());
        Writer {
            w,
            buf,
            crc: 0,
            version,
            opts,
            written: 0,
        }
    }

    /// The version being written.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether strings are LZF-compressed.
    pub fn compression(&self) -> bool {
        self.opts.compression
    }

    /// Bytes produced so far (flushed or buffered).
    pub fn bytes_written(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// The pending buffer, for appending with the `put_*` primitives; call
    /// [`Writer::maybe_flush`] after each record.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Flushes the buffer to `W` when it holds 64 KB or more.
    pub fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> std::io::Result<()> {
        if self.opts.checksum {
            self.crc = super::crc64::crc64(self.crc, &self.buf);
        }
        self.w.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// An AUX field with a string value (`rdbSaveAuxFieldStrStr`).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        self.buf.push(opcodes::AUX);
        put_string(&mut self.buf, key, self.opts.compression);
        put_string(&mut self.buf, value, self.opts.compression);
        self.maybe_flush()
    }

    /// The AUX fields Redis 7.4 writes first: `redis-ver` (the given version string),
    /// `redis-bits`, `ctime` (unix seconds), `used-mem`, `aof-base`.
    pub fn default_aux(
        &mut self,
        redis_ver: &str,
        ctime: i64,
        used_mem: u64,
        aof_base: bool,
    ) -> std::io::Result<()> {
        self.aux(b"redis-ver", redis_ver.as_bytes())?;
        self.aux(b"redis-bits", b"64")?;
        self.aux(b"ctime", ctime.to_string().as_bytes())?;
        self.aux(b"used-mem", used_mem.to_string().as_bytes())?;
        self.aux(b"aof-base", if aof_base { b"1" } else { b"0" })
    }

    /// SELECTDB.
    pub fn select_db(&mut self, db: u64) -> std::io::Result<()> {
        self.buf.push(opcodes::SELECTDB);
        put_len(&mut self.buf, db);
        self.maybe_flush()
    }

    /// RESIZEDB: key count and expire count of the db that follows.
    pub fn resize_db(&mut self, db_size: u64, expires_size: u64) -> std::io::Result<()> {
        self.buf.push(opcodes::RESIZEDB);
        put_len(&mut self.buf, db_size);
        put_len(&mut self.buf, expires_size);
        self.maybe_flush()
    }

    /// FUNCTION2: one library's code.
    pub fn function(&mut self, code: &[u8]) -> std::io::Result<()> {
        self.buf.push(opcodes::FUNCTION2);
        put_string(&mut self.buf, code, self.opts.compression);
        self.maybe_flush()
    }

    /// MODULE_AUX with raw opcodes (as the reader delivers them).
    pub fn module_aux(&mut self, module_id: u64, when: u64, raw: &[u8]) -> std::io::Result<()> {
        self.buf.push(opcodes::MODULE_AUX);
        put_len(&mut self.buf, module_id);
        put_len(&mut self.buf, super::module_opcodes::UINT);
        put_len(&mut self.buf, when);
        self.buf.extend_from_slice(raw);
        self.maybe_flush()
    }

    /// SLOT_INFO (cluster mode).
    pub fn slot_info(&mut self, slot: u64, size: u64, expires: u64) -> std::io::Result<()> {
        self.buf.push(opcodes::SLOT_INFO);
        put_len(&mut self.buf, slot);
        put_len(&mut self.buf, size);
        put_len(&mut self.buf, expires);
        self.maybe_flush()
    }

    /// The part of a key record before the value (`rdbSaveKeyValuePair`): EXPIRETIME_MS,
    /// IDLE or FREQ when given, the type byte and the key. The caller then appends the value
    /// body to [`Writer::out`] and calls [`Writer::maybe_flush`].
    pub fn key_header(
        &mut self,
        rdb_type: u8,
        key: &[u8],
        expire_ms: Option<i64>,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
    ) {
        if let Some(e) = expire_ms {
            self.buf.push(opcodes::EXPIRETIME_MS);
            put_ms_time(&mut self.buf, e);
        }
        if let Some(i) = lru_idle {
            self.buf.push(opcodes::IDLE);
            put_len(&mut self.buf, i);
        }
        if let Some(f) = lfu_freq {
            self.buf.push(opcodes::FREQ);
            self.buf.push(f);
        }
        self.buf.push(rdb_type);
        put_string(&mut self.buf, key, self.opts.compression);
    }

    /// A whole key record for a [`Value`]. On error nothing of the record is kept.
    pub fn key(
        &mut self,
        key: &[u8],
        value: &Value,
        expire_ms: Option<i64>,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
    ) -> Result<()> {
        let mark = self.buf.len();
        let t = value_type(value, self.version);
        self.key_header(t, key, expire_ms, lru_idle, lfu_freq);
        if let Err(mut e) = put_value(&mut self.buf, value, self.version, self.opts.compression) {
            self.buf.truncate(mark);
            e.key = Some(key.to_vec());
            return Err(e);
        }
        self.maybe_flush()
            .map_err(|e| RdbError::new(self.bytes_written(), "write", ErrorKind::Io(e.to_string())))
    }

    /// Writes EOF and the trailer (CRC64, or zeros when checksums are off), flushes, and
    /// returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.buf.push(opcodes::EOF);
        if self.opts.checksum {
            let crc = super::crc64::crc64(self.crc, &self.buf);
            self.buf.extend_from_slice(&crc.to_le_bytes());
        } else {
            self.buf.extend_from_slice(&[0u8; 8]);
        }
        self.w.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::read::{Reader, ReaderOptions};

    fn read_back_string(b: &[u8]) -> Vec<u8> {
        Reader::new(b, ReaderOptions::default())
            .read_string()
            .unwrap()
    }

    #[test]
    fn lengths_round_trip() {
        for n in [
            0u64,
            1,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut v = Vec::new();
            put_len(&mut v, n);
            assert_eq!(
                Reader::new(&v[..], ReaderOptions::default())
                    .read_len()
                    .unwrap(),
                n
            );
        }
    }

    #[test]
    fn strings_round_trip() {
        for s in [
            &b""[..],
            b"0",
            b"-1",
            b"127",
            b"128",
            b"-32768",
            b"2147483647",
            b"2147483648",
            b"007",
            b"12345678901",
            b"hello world",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            for c in [false, true] {
                let mut v = Vec::new();
                put_string(&mut v, s, c);
                assert_eq!(read_back_string(&v), s);
            }
        }
        let mut v = Vec::new();
        put_string(&mut v, b"127", false);
        assert_eq!(v, [0xC0, 127]);
        let mut v = Vec::new();
        put_string(&mut v, &[b'a'; 100], true);
        assert_eq!(v[0], 0xC3);
    }
}
