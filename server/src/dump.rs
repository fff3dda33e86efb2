//! DUMP and RESTORE (Redis 7.4 cluster.c `dumpCommand`, `restoreCommand`,
//! `createDumpPayload`, `verifyDumpPayload`).
//!
//! The payload is Redis's: the RDB type byte and the value body exactly as SAVE writes it
//! (`rdb::put_object`, so the same data and encodings give byte-identical payloads), the
//! 2-byte little-endian RDB version (12, what Redis 7.4 writes) and a little-endian CRC64 of
//! everything before it. RESTORE checks the footer and decodes with `common::rdb`'s reader
//! (`payload::decode_payload`), then adopts the value with the RDB loader's conversions
//! (`rdb::adopt`, `rdb::link_adopted`) and links it through the keyspace's mutation path.

use crate::command::{Ctx, Handler};
use crate::keyspace::{ev, Deletion};
use crate::server::LRU_CLOCK_MAX;
use pyrope_common::rdb::{self as crdb, crc64::crc64, payload::PayloadError};

/// The RDB version DUMP writes (Redis 7.4's `RDB_VERSION`).
pub const DUMP_RDB_VERSION: u32 = 12;

/// Redis's `LRU_CLOCK_RESOLUTION` in ms.
const LRU_CLOCK_RESOLUTION: i64 = 1000;

/// The DUMP payload of `v` (`createDumpPayload`): type byte, body, version, CRC64. `compress`
/// is `rdbcompression`; `hfe_min` as for [`crate::rdb::put_object`]. Errors: a value that
/// cannot be written at version 12 (none the keyspace can hold).
pub fn create_payload(
    v: &crate::keyspace::ValueRef,
    compress: bool,
    hfe_min: Option<i64>,
) -> Result<Vec<u8>, crdb::RdbError> {
    let mut out = vec![0u8];
    let t = crate::rdb::put_object(&mut out, v, DUMP_RDB_VERSION, compress, hfe_min)?;
    out[0] = t;
    out.extend_from_slice(&(DUMP_RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn dump(c: &mut Ctx) {
    let Some(h) = c.lookup_read(c.arg(1)) else {
        return c.out.null();
    };
    let compress = c.srv.config.get("rdbcompression") != Some("no");
    let hfe = c.srv.ks.hfe_registered(c.db, c.arg(1));
    match create_payload(&c.srv.ks.get(h).value(), compress, hfe) {
        Ok(p) => c.out.bulk(&p),
        Err(e) => c.out.error(&format!("ERR {}", e.kind)),
    }
}

/// The 24-bit LRU/LFU field RESTORE gives a key (`objectSetLRUOrLFU` with a multiplier of
/// 1000): under an LFU policy `freq` (0-255, if given) with the current minutes clock, else
/// the LRU clock minus `idle` seconds (if given), wrapped as Redis's 24-bit field wraps.
/// `current` is the field of a new key, kept when neither applies.
pub fn lru_or_lfu(current: u32, lfu: bool, minutes: u16, freq: i64, idle: i64, clock: u32) -> u32 {
    if lfu {
        if freq >= 0 {
            return ((minutes as u32) << 8) | (freq as u32 & 0xff);
        }
    } else if idle >= 0 {
        let idle = idle.wrapping_mul(1000) / LRU_CLOCK_RESOLUTION;
        let mut abs = (clock as i64).wrapping_sub(idle);
        if abs < 0 {
            abs = abs.wrapping_add(LRU_CLOCK_MAX as i64);
        }
        return (abs as u64 & LRU_CLOCK_MAX as u64) as u32;
    }
    current
}

fn restore(c: &mut Ctx) {
    let (mut replace, mut absttl) = (false, false);
    let (mut freq, mut idle) = (-1i64, -1i64);
    let argc = c.argc();
    let mut j = 4;
    while j < argc {
        let additional = argc - j - 1;
        let o = crate::command::opt(c.arg(j));
        if o == b"replace" {
            replace = true;
        } else if o == b"absttl" {
            absttl = true;
        } else if o == b"idletime" && additional >= 1 && freq == -1 {
            let Some(v) = c.int_arg(j + 1) else { return };
            if v < 0 {
                return c.out.error("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = v;
            j += 1;
        } else if o == b"freq" && additional >= 1 && idle == -1 {
            let Some(v) = c.int_arg(j + 1) else { return };
            if !(0..=255).contains(&v) {
                return c
                    .out
                    .error("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = v;
            j += 1;
        } else {
            return c.out.syntax_error();
        }
        j += 1;
    }
    let key = c.arg(1);
    if !replace && c.lookup_write(key).is_some() {
        return c.out.error("BUSYKEY Target key name already exists.");
    }
    let Some(mut ttl) = c.int_arg(2) else { return };
    if ttl < 0 {
        return c.out.error("ERR Invalid TTL value, must be >= 0");
    }
    // Always rdbLoadObject's deep sanitization, whatever `sanitize-dump-payload` says: with
    // `no` (the default) Redis takes a damaged listpack or stream on trust and may crash on
    // it later; we refuse it ("Bad data format") instead, as Redis does under `yes`. Only
    // damaged payloads see the difference.
    let value = match crdb::payload::decode_payload(c.arg(3), true) {
        Ok((_, v)) => v,
        Err(e @ PayloadError::VersionOrChecksum) => return c.out.error(&e.to_string()),
        Err(PayloadError::BadFormat(_)) => return c.out.error("ERR Bad data format"),
    };
    let lim = crate::rdb::LoadLimits::of(c.srv);
    let now = c.srv.now_ms;
    // Unlike a file load, RESTORE keeps hash fields whose TTL has passed (Redis 7.4.1: the
    // key is created, HLEN counts them, reads skip them, the field expiry removes them).
    let value = match crate::rdb::adopt(value, &lim, i64::MIN) {
        Ok(Some(v)) => v,
        // An empty collection, a duplicate member, module data: rdbLoadObject fails.
        Ok(None) | Err(_) => return c.out.error("ERR Bad data format"),
    };
    let db = c.db;
    let mut deleted = false;
    if replace {
        // dbDelete without a lookup: a key whose TTL has passed is replaced like any other
        // (no "expired" event), so it is found here whatever its expire.
        let found = c
            .srv
            .ks
            .lookup(db, key, i64::MIN, false, crate::keyspace::Touch::No);
        if let Some(h) = found {
            c.srv.ks.delete(h, Deletion::Server, None);
            deleted = true;
        }
    }
    if ttl != 0 && !absttl {
        ttl = ttl.wrapping_add(now);
    }
    // checkAlreadyExpired (never loading here, and no primary link yet).
    if ttl != 0 && ttl <= now {
        if deleted {
            let verb: &[u8] = if c.srv.settings.lazyfree_lazy_server_del {
                b"UNLINK"
            } else {
                b"DEL"
            };
            c.propagate_one(&[verb, key]);
            c.srv.ks.notify(db, ev::DEL, key);
            c.dirty(1);
        }
        return c.out.ok();
    }
    let lru = lru_or_lfu(
        c.srv.new_key_lru(),
        c.srv.lfu_policy(),
        ((now / 60000) & 0xffff) as u16,
        freq,
        idle,
        c.srv.lruclock,
    );
    let expire = (ttl != 0).then_some(ttl);
    crate::rdb::link_adopted(c.srv, db, key, value, expire, lru, Some(ev::RESTORE));
    if ttl != 0 && !absttl {
        // Propagate the TTL as an absolute time: argv[2] rewritten, ABSTTL appended.
        let t = ttl.to_string();
        let mut args: Vec<&[u8]> = (0..argc).map(|i| c.arg(i)).collect();
        args[2] = t.as_bytes();
        args.push(b"ABSTTL");
        c.propagate_one(&args);
    }
    c.dirty(1);
    c.out.ok();
}

/// Handlers of this module.
/// RESTORE-ASKING is RESTORE for cluster migrations (same handler in Redis; its ASKING
/// flag is the command table's).
pub const COMMANDS: &[(&str, Handler)] = &[
    ("dump", dump),
    ("restore", restore),
    ("restore-asking", restore),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Harness;

    /// The bulk payload of a DUMP reply.
    fn payload_of(reply: &[u8]) -> Vec<u8> {
        let nl = reply.iter().position(|&b| b == b'\n').unwrap();
        reply[nl + 1..reply.len() - 2].to_vec()
    }

    /// Mutated payloads of every type (bit flips, truncations, random bytes) with valid
    /// footers: RESTORE answers OK or an error, and whatever it accepted can be read whole by
    /// the type's commands, DUMP and DEBUG DIGEST-VALUE, with sanitization off and on.
    #[test]
    fn restore_of_mutated_payloads_never_panics() {
        let mut h = Harness::new(&[("enable-debug-command", "yes")]).unwrap();
        let setup: &[&[&[u8]]] = &[
            &[b"SET", b"s", b"hello world hello world hello world"],
            &[b"RPUSH", b"l", b"a", b"b", b"1", b"2", b"300000"],
            &[b"SADD", b"si", b"1", b"2", b"3"],
            &[b"SADD", b"sl", b"a", b"b", b"c"],
            &[b"HSET", b"h", b"f", b"v", b"g", b"2"],
            &[b"HSET", b"hx", b"f", b"v", b"g", b"2"],
            &[
                b"HPEXPIREAT",
                b"hx",
                b"4102444800000",
                b"FIELDS",
                b"1",
                b"f",
            ],
            &[b"ZADD", b"z", b"1", b"a", b"2.5", b"b"],
            &[b"XADD", b"x", b"1-1", b"a", b"1"],
            &[b"XADD", b"x", b"1-2", b"b", b"2"],
            &[b"XGROUP", b"CREATE", b"x", b"g", b"0"],
            &[
                b"XREADGROUP",
                b"GROUP",
                b"g",
                b"c",
                b"COUNT",
                b"1",
                b"STREAMS",
                b"x",
                b">",
            ],
        ];
        for cmd in setup {
            h.run(cmd);
        }
        let keys: &[&[u8]] = &[b"s", b"l", b"si", b"sl", b"h", b"hx", b"z", b"x"];
        let originals: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| payload_of(&h.run(&[b"DUMP", k])))
            .collect();
        let footer = |body: &[u8]| {
            let mut p = body.to_vec();
            p.extend_from_slice(&12u16.to_le_bytes());
            let crc = crc64(0, &p);
            p.extend_from_slice(&crc.to_le_bytes());
            p
        };
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let reads: &[&[&[u8]]] = &[
            &[b"GET", b"t"],
            &[b"STRLEN", b"t"],
            &[b"LRANGE", b"t", b"0", b"-1"],
            &[b"SMEMBERS", b"t"],
            &[b"SRANDMEMBER", b"t", b"-5"],
            &[b"HGETALL", b"t"],
            &[b"HTTL", b"t", b"FIELDS", b"1", b"f"],
            &[b"ZRANGE", b"t", b"0", b"-1", b"WITHSCORES"],
            &[b"XRANGE", b"t", b"-", b"+"],
            &[b"XINFO", b"STREAM", b"t", b"FULL"],
            &[b"DEBUG", b"DIGEST-VALUE", b"t"],
            &[b"DEBUG", b"OBJECT", b"t"],
            &[b"DUMP", b"t"],
            &[b"OBJECT", b"ENCODING", b"t"],
        ];
        let mut accepted = 0;
        for sanitize in [&b"no"[..], b"yes"] {
            h.run(&[b"CONFIG", b"SET", b"sanitize-dump-payload", sanitize]);
            for p in &originals {
                let body = &p[..p.len() - 10];
                let mut cases: Vec<Vec<u8>> = (0..body.len()).map(|n| footer(&body[..n])).collect();
                for _ in 0..1000 {
                    let mut b = body.to_vec();
                    for _ in 0..1 + rnd() % 3 {
                        let i = (rnd() as usize) % b.len();
                        b[i] = if rnd() % 2 == 0 {
                            rnd() as u8
                        } else {
                            b[i] ^ (1 << (rnd() % 8))
                        };
                    }
                    cases.push(footer(&b));
                }
                for case in cases {
                    let r = h.run(&[b"RESTORE", b"t", b"0", &case, b"REPLACE"]);
                    assert!(r == b"+OK\r\n" || r.starts_with(b"-"), "{r:?}");
                    if r == b"+OK\r\n" {
                        accepted += 1;
                        for cmd in reads {
                            h.run(cmd);
                        }
                    }
                }
            }
        }
        assert!(accepted > 0);
    }

    #[test]
    fn lru_field_as_object_set_lru_or_lfu() {
        // LRU: clock minus idle seconds, wrapping below zero into the 24-bit range.
        assert_eq!(lru_or_lfu(7, false, 0, -1, 10, 100), 90);
        assert_eq!(lru_or_lfu(7, false, 0, -1, 0, 100), 100);
        assert_eq!(lru_or_lfu(7, false, 0, -1, 110, 100), LRU_CLOCK_MAX - 10);
        assert_eq!(lru_or_lfu(7, false, 0, -1, -1, 100), 7);
        // FREQ is ignored under an LRU policy, IDLETIME under an LFU one.
        assert_eq!(lru_or_lfu(7, false, 3, 5, -1, 100), 7);
        assert_eq!(lru_or_lfu(7, true, 3, -1, 10, 100), 7);
        assert_eq!(lru_or_lfu(7, true, 3, 5, -1, 100), (3 << 8) | 5);
    }
}
