//! DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis's order-independent SHA1 digest of the dataset
//! (debug.c `computeDatasetDigest`, `xorObjectDigest`), byte-identical to Redis's so a dataset
//! can be compared across servers (after a reload, a replication, a migration).
//!
//! - `xor(d, bytes)`: d ^= SHA1(bytes) — order-independent accumulation.
//! - `mix(d, bytes)`: xor, then d = SHA1(d) — order-dependent mixing.
//! - Per key: `mix(key)`, `mix(htonl(type))`, the value (per type; a string mixes its bytes,
//!   an integer-encoded one its decimal text), and `xor("!!expire!!")` when it has a TTL.
//! - Per non-empty db: `mix(final, htonl(db index))`, then `xor(final, key digest)` per key.
//!
//! Each collection type adds its value digest here as it arrives.

use crate::keyspace::{string_bytes, Entry, Keyspace, ValueRef};
use crate::object::Value;
use sha1::{Digest, Sha1};

/// A 20-byte digest.
pub type Digest20 = [u8; 20];

fn sha1(bytes: &[u8]) -> Digest20 {
    Sha1::digest(bytes).into()
}

/// `xorDigest`: `d ^= SHA1(bytes)`.
fn xor(d: &mut Digest20, bytes: &[u8]) {
    for (a, b) in d.iter_mut().zip(sha1(bytes)) {
        *a ^= b;
    }
}

/// `mixDigest`: `xor(d, bytes)`, then `d = SHA1(d)`.
fn mix(d: &mut Digest20, bytes: &[u8]) {
    xor(d, bytes);
    *d = sha1(&d[..]);
}

/// Redis's `xorObjectDigest`: mixes the value's type and content into `d`, and xors the
/// expire marker when the key has a TTL.
fn mix_object(d: &mut Digest20, e: &Entry) {
    mix(d, &(e.obj_type() as u32).to_be_bytes());
    let mut buf = Vec::new();
    if let Some(s) = string_bytes(&e.value(), &mut buf) {
        mix(d, s);
    }
    match e.value() {
        // Lists: each element mixed in order (`mixStringObjectDigest` per element).
        ValueRef::Boxed(Value::List(l)) => {
            // Compressed nodes are read through a scratch buffer: unlike Redis's iterator
            // (which compresses again, or re-attempts, each node it passes), DEBUG DIGEST
            // leaves the compression state as it is.
            l.for_each(|x| {
                buf.clear();
                x.write_to(&mut buf);
                mix(d, &buf);
            });
        }
        // Sets: every member's SHA1 xored in (order-independent), integers as decimal text.
        ValueRef::Boxed(Value::Set(s)) => {
            s.for_each(|m| {
                buf.clear();
                m.write_to(&mut buf);
                xor(d, &buf);
            });
        }
        // Hashes: per field, mix the field then the value into a fresh digest, xor
        // "!!hexpire!!" into it when the field has a TTL (its presence, not its time; expired
        // fields not yet deleted included, as `hashTypeNext(hi, 0)`), xor it in.
        ValueRef::Boxed(Value::Hash(h)) => {
            let (mut fb, mut vb) = (Vec::new(), Vec::new());
            h.for_each_ex(|f, v, ttl| {
                let mut ed = [0u8; 20];
                fb.clear();
                f.write_to(&mut fb);
                mix(&mut ed, &fb);
                vb.clear();
                v.write_to(&mut vb);
                mix(&mut ed, &vb);
                if ttl.is_some() {
                    xor(&mut ed, b"!!hexpire!!");
                }
                xor(d, &ed);
            });
        }
        // Sorted sets: per element, mix the member then the score (`fpconv_dtoa` text) into
        // a fresh digest, xor it in.
        ValueRef::Boxed(Value::ZSet(z)) => {
            let mut mb = Vec::new();
            z.for_each(|m, s| {
                let mut ed = [0u8; 20];
                mb.clear();
                m.write_to(&mut mb);
                mix(&mut ed, &mb);
                mix(&mut ed, crate::types::zset::digest_score(s).as_bytes());
                xor(d, &ed);
            });
        }
        // Streams: per live entry, mix "<ms>.<seq>" then each field and value
        // (`xorObjectDigest`'s OBJ_STREAM branch); groups are not part of the digest.
        ValueRef::Boxed(Value::Stream(s)) => {
            let mut fb = Vec::new();
            s.range(
                crate::types::stream::StreamId::MIN,
                crate::types::stream::StreamId::MAX,
                false,
                |lp, en| {
                    mix(d, format!("{}.{}", en.id.ms, en.id.seq).as_bytes());
                    crate::types::stream::store::for_each_field(lp, en, |f, v| {
                        fb.clear();
                        f.write_to(&mut fb);
                        mix(d, &fb);
                        fb.clear();
                        v.write_to(&mut fb);
                        mix(d, &fb);
                    });
                    true
                },
            );
        }
        _ => {}
    }
    if e.expire().is_some() {
        xor(d, b"!!expire!!");
    }
}

/// The digest of one value without its key (DEBUG DIGEST-VALUE).
pub fn value_digest(e: &Entry) -> Digest20 {
    let mut d = [0u8; 20];
    mix_object(&mut d, e);
    d
}

/// The digest of a whole dataset (dbs in index order), as DEBUG DIGEST; all zeros when
/// every db is empty.
pub fn dataset_digest(ks: &Keyspace) -> Digest20 {
    let mut fin = [0u8; 20];
    for j in 0..ks.dbs() {
        if ks.db(j).is_empty() {
            continue;
        }
        mix(&mut fin, &(j as u32).to_be_bytes());
        ks.for_each(j, |e| {
            let mut d = [0u8; 20];
            mix(&mut d, e.key());
            mix_object(&mut d, &e);
            xor(&mut fin, &d);
        });
    }
    fin
}

/// Lowercase hex of a digest (the status reply's text).
pub fn hex(d: &Digest20) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
