//! The order in which redis-cli lists key types in --bigkeys / --memkeys / --keystats.
//!
//! redis-cli keeps its per-type totals in a Redis `dict` keyed by the type name and prints
//! them in the dict's iteration order. That order is deterministic but not simple: the names
//! are hashed with SipHash-1-2 (Redis's `siphash.c`) under redis-cli's all-zero seed, the
//! table grows from 4 to 8 buckets while the six built-in types are added, and that growth
//! is an *incremental* rehash that advances one bucket per lookup, so the order depends on
//! how many keys were looked up (e.g. a database with one key lists `string` first). This
//! module replays exactly that (dict.c of Redis 7: head insertion, `_dictRehashStep` on
//! add and find, new entries in the new table while rehashing, iteration over table 0 then
//! table 1) so the summaries come out in redis-cli's order, module types included.

/// SipHash-1-2 as Redis's `siphash()` (case-sensitive), with a 16-byte key.
pub fn siphash(data: &[u8], key: &[u8; 16]) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().unwrap());
    let k1 = u64::from_le_bytes(key[8..].try_into().unwrap());
    let mut v = [
        0x736f6d6570736575u64 ^ k0,
        0x646f72616e646f6du64 ^ k1,
        0x6c7967656e657261u64 ^ k0,
        0x7465646279746573u64 ^ k1,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes(c.try_into().unwrap());
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let mut b = (data.len() as u64) << 56;
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        b |= (byte as u64) << (8 * i);
    }
    v[3] ^= b;
    round(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn hash(name: &str) -> u64 {
    siphash(name.as_bytes(), &[0; 16])
}

/// A replay of a Redis dict holding type names; values are indices into [`TypeDict::names`].
pub struct TypeDict {
    names: Vec<String>,
    /// Two tables of buckets, each bucket a chain (head first) of name indices.
    tables: [Option<Vec<Vec<usize>>>; 2],
    used: [usize; 2],
    rehash_idx: Option<usize>,
}

impl TypeDict {
    /// The dict after redis-cli's `typeinfo_add` of the six built-in types, in its order.
    pub fn builtin() -> TypeDict {
        let mut d = TypeDict {
            names: Vec::new(),
            tables: [None, None],
            used: [0, 0],
            rehash_idx: None,
        };
        for t in ["string", "list", "set", "hash", "zset", "stream"] {
            d.add(t);
        }
        d
    }

    /// The names, indexed as [`TypeDict::find`] and [`TypeDict::add`] return them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// `_dictRehashStep`: moves one non-empty bucket (visiting at most 10 empty ones).
    fn rehash_step(&mut self) {
        let Some(mut idx) = self.rehash_idx else {
            return;
        };
        if self.used[0] != 0 {
            let t0 = self.tables[0].as_mut().unwrap();
            let mut empty_visits = 10;
            while t0[idx].is_empty() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return;
                }
            }
            let chain = std::mem::take(&mut t0[idx]);
            let t1 = self.tables[1].as_mut().unwrap();
            let mask = t1.len() as u64 - 1;
            for e in chain {
                t1[(hash(&self.names[e]) & mask) as usize].insert(0, e);
                self.used[0] -= 1;
                self.used[1] += 1;
            }
            idx += 1;
        }
        self.rehash_idx = Some(idx);
        if self.used[0] == 0 {
            self.tables[0] = self.tables[1].take();
            self.used = [self.used[1], 0];
            self.rehash_idx = None;
        }
    }

    /// `dictFind`: a rehash step, then the lookup.
    pub fn find(&mut self, name: &str) -> Option<usize> {
        if self.used[0] + self.used[1] == 0 {
            return None;
        }
        self.rehash_step();
        self.names.iter().position(|n| n == name)
    }

    /// `dictAdd` of a name not present: a rehash step, growth when the table is full (from
    /// 0 to 4 buckets at once, then doubling through an incremental rehash), head insertion.
    pub fn add(&mut self, name: &str) -> usize {
        self.rehash_step();
        if self.rehash_idx.is_none() {
            match &self.tables[0] {
                None => self.tables[0] = Some(vec![Vec::new(); 4]),
                Some(t) if self.used[0] >= t.len() => {
                    let size = (self.used[0] + 1).next_power_of_two().max(4);
                    self.tables[1] = Some(vec![Vec::new(); size]);
                    self.rehash_idx = Some(0);
                }
                Some(_) => {}
            }
        }
        let ht = usize::from(self.rehash_idx.is_some());
        let idx = self.names.len();
        self.names.push(name.to_string());
        let t = self.tables[ht].as_mut().unwrap();
        let mask = t.len() as u64 - 1;
        t[(hash(name) & mask) as usize].insert(0, idx);
        self.used[ht] += 1;
        idx
    }

    /// The name indices in iteration order (`dictNext`: table 0, then table 1).
    pub fn order(&self) -> Vec<usize> {
        self.tables
            .iter()
            .flatten()
            .flat_map(|t| t.iter().flatten().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(d: &TypeDict) -> Vec<&str> {
        d.order()
            .into_iter()
            .map(|i| d.names()[i].as_str())
            .collect()
    }

    #[test]
    fn siphash_is_redis_siphash_1_2() {
        // Bucket indices redis-cli's dict gives these names (checked against its output).
        assert_eq!(hash("string") & 7, 2);
        assert_eq!(hash("list") & 7, 1);
        assert_eq!(hash("set") & 7, 4);
        assert_eq!(hash("zset") & 7, 7);
        assert_eq!(hash(""), 3604268065564183773);
    }

    #[test]
    fn order_follows_the_incremental_rehash_as_redis_cli_7() {
        // What redis-cli 7.0.15 --bigkeys prints for 0, 1 and 2+ keys looked up.
        let mut d = TypeDict::builtin();
        assert_eq!(
            order(&d),
            ["hash", "list", "string", "stream", "set", "zset"]
        );
        d.find("string");
        assert_eq!(
            order(&d),
            ["string", "list", "hash", "stream", "set", "zset"]
        );
        d.find("none");
        assert_eq!(
            order(&d),
            ["list", "hash", "string", "stream", "set", "zset"]
        );
        for _ in 0..10 {
            d.find("list");
        }
        assert_eq!(
            order(&d),
            ["list", "hash", "string", "stream", "set", "zset"]
        );
        // A module type joins in its own bucket.
        let i = d.add("MBbloom--");
        assert!(d.order().contains(&i));
        assert_eq!(d.find("MBbloom--"), Some(i));
    }
}
