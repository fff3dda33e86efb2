//! What the mutation path tells the rest of the server: keyspace notification classes and
//! events (Redis's `NOTIFY_*` flags and event names, notify.c), and the [`Signals`] queue that
//! every [`super::Keyspace`] mutation fills in Redis's order — (a) the modified key, for WATCH
//! and client tracking (`signalModifiedKey`), (b) the ready key, for clients blocked on it
//! (`signalKeyAsReady`), (c) the keyspace event (`notifyKeyspaceEvent`) — plus the keys that
//! expired and big values waiting for the lazy-free thread.
//!
//! Why a queue: the keyspace cannot reach clients or the propagation stream (and must not:
//! it is the data layer). The executor drains the queue right after each handler, after
//! active expiry and after cron work (`Server::dispatch_signals`), so subscribers see events
//! in the order they happened and before the next command runs.
//!
//! Cost while nobody listens: each record is guarded by a bit in [`Signals::want`] (set by
//! the server when `notify-keyspace-events` is non-empty, when keys are watched, when clients
//! are blocked, when something consumes propagation); with no bit set a mutation only sets
//! the `pending` flag when it has something the server must still do (count an expired key,
//! free a big value).

use crate::keyspace::entry::EntryPtr;

/// Keyspace notification classes (Redis 7.4's `NOTIFY_*` bits); parsed and formatted with
/// the `notify-keyspace-events` directive in `config`.
pub use crate::config::notify;

/// A keyspace event: its class (one [`notify`] bit) and Redis's event name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ev {
    /// The [`notify`] class bit.
    pub class: u32,
    /// The event name as Redis publishes it (`set`, `del`, `expired`, ...).
    pub name: &'static str,
}

/// The events of the string and generic commands, with Redis 7.4's names. Each data-type
/// family adds its own next to its commands.
pub mod ev {
    use super::{notify, Ev};
    const fn g(name: &'static str) -> Ev {
        Ev {
            class: notify::GENERIC,
            name,
        }
    }
    const fn s(name: &'static str) -> Ev {
        Ev {
            class: notify::STRING,
            name,
        }
    }
    pub const NEW: Ev = Ev {
        class: notify::NEW,
        name: "new",
    };
    pub const EXPIRED: Ev = Ev {
        class: notify::EXPIRED,
        name: "expired",
    };
    /// `evicted`: a key deleted by maxmemory eviction (evict.c).
    pub const EVICTED: Ev = Ev {
        class: notify::EVICTED,
        name: "evicted",
    };
    pub const KEYMISS: Ev = Ev {
        class: notify::KEY_MISS,
        name: "keymiss",
    };
    pub const DEL: Ev = g("del");
    pub const EXPIRE: Ev = g("expire");
    pub const PERSIST: Ev = g("persist");
    pub const RENAME_FROM: Ev = g("rename_from");
    pub const RENAME_TO: Ev = g("rename_to");
    pub const MOVE_FROM: Ev = g("move_from");
    pub const MOVE_TO: Ev = g("move_to");
    pub const COPY_TO: Ev = g("copy_to");
    /// `restore`: RESTORE created the key (cluster.c).
    pub const RESTORE: Ev = g("restore");
    pub const SET: Ev = s("set");
    pub const SETRANGE: Ev = s("setrange");
    pub const INCRBY: Ev = s("incrby");
    pub const INCRBYFLOAT: Ev = s("incrbyfloat");
    pub const APPEND: Ev = s("append");
    /// `setbit`: SETBIT, and BITFIELD writes that changed the string (bitops.c).
    pub const SETBIT: Ev = s("setbit");
    /// `pfadd`: PFADD that changed a register, and every PFMERGE (hyperloglog.c).
    pub const PFADD: Ev = s("pfadd");
    const fn l(name: &'static str) -> Ev {
        Ev {
            class: notify::LIST,
            name,
        }
    }
    pub const LPUSH: Ev = l("lpush");
    pub const RPUSH: Ev = l("rpush");
    pub const LPOP: Ev = l("lpop");
    pub const RPOP: Ev = l("rpop");
    pub const LINSERT: Ev = l("linsert");
    pub const LSET: Ev = l("lset");
    pub const LREM: Ev = l("lrem");
    pub const LTRIM: Ev = l("ltrim");
    /// `hexpired`: hash fields deleted by their TTL (lazily or by the active expiry), once per
    /// hash and command or cycle visit.
    pub const HEXPIRED: Ev = Ev {
        class: notify::HASH,
        name: "hexpired",
    };
}

/// Bits of [`Signals::want`] besides the [`notify`] classes.
pub mod want {
    /// Record modified keys (WATCH, client tracking).
    pub const MODIFIED: u64 = 1 << 32;
    /// Record ready keys (clients blocked on keys).
    pub const READY: u64 = 1 << 33;
    /// Keep the names of expired keys (something consumes propagation).
    pub const EXPIRED_KEYS: u64 = 1 << 34;
}

/// One recorded keyspace event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// Db index.
    pub db: usize,
    /// The event.
    pub ev: Ev,
    /// The key.
    pub key: Vec<u8>,
}

/// What the mutation path recorded since the last drain (see the module docs).
#[derive(Default)]
pub struct Signals {
    /// What to record: [`notify`] class bits (only when K or E is also set) in the low 32
    /// bits, [`want`] bits above.
    pub want: u64,
    /// Something below needs the server's attention.
    pub pending: bool,
    /// Modified keys (db, key, present in the db right after the change), for WATCH and
    /// tracking. The presence tells WATCH a deletion from another change (Redis's
    /// `touchWatchedKey` looks the key up when it is signalled).
    pub modified: Vec<(usize, Vec<u8>, bool)>,
    /// Dbs whose every key counts as modified (FLUSHDB/FLUSHALL, SWAPDB: `signalFlushedDb`,
    /// `touchAllWatchedKeysInDb`).
    pub flushed: Vec<usize>,
    /// Keys that may unblock clients (db, key).
    pub ready: Vec<(usize, Vec<u8>)>,
    /// Keyspace events in the order they happened.
    pub events: Vec<KeyEvent>,
    /// Keys deleted by expiry (db, key) — names kept only with [`want::EXPIRED_KEYS`].
    pub expired: Vec<(usize, Vec<u8>)>,
    /// Number of keys deleted by expiry (lazy or active) since the last drain.
    pub expired_count: u64,
    /// Hash fields deleted by their TTL (db, key, field), propagated as `HDEL key field` —
    /// names kept only with [`want::EXPIRED_KEYS`].
    pub expired_fields: Vec<(usize, Vec<u8>, Vec<u8>)>,
    /// Number of hash fields deleted by their TTL since the last drain (INFO
    /// `expired_subkeys`).
    pub expired_fields_count: u64,
    /// A FLUSHDB / FLUSHALL happened (recorded with [`want::MODIFIED`]): client tracking
    /// sends its null invalidation once per drain (SWAPDB does not set it).
    pub flush_happened: bool,
    /// Unlinked entries or values big enough for the lazy-free thread.
    pub(crate) to_free: Vec<Box<dyn Send>>,
}

impl Signals {
    /// True if events of `ev`'s class are wanted.
    #[inline]
    pub fn wants_event(&self, ev: Ev) -> bool {
        self.want & ev.class as u64 != 0
    }

    /// Records a keyspace event if its class is wanted.
    #[inline]
    pub fn event(&mut self, db: usize, ev: Ev, key: &[u8]) {
        if self.wants_event(ev) {
            self.events.push(KeyEvent {
                db,
                ev,
                key: key.to_vec(),
            });
            self.pending = true;
        }
    }

    /// Records a modified key (`signalModifiedKey`) if anyone watches; `exists` says whether
    /// the key is in the db after the change (false for deletions).
    #[inline]
    pub fn modified(&mut self, db: usize, key: &[u8], exists: bool) {
        if self.want & want::MODIFIED != 0 {
            self.modified.push((db, key.to_vec(), exists));
            self.pending = true;
        }
    }

    /// Records a key that may unblock clients (`signalKeyAsReady`) if any are blocked.
    #[inline]
    pub fn ready(&mut self, db: usize, key: &[u8]) {
        if self.want & want::READY != 0 {
            self.ready.push((db, key.to_vec()));
            self.pending = true;
        }
    }

    /// Records that every key of `db` changed at once.
    #[inline]
    pub fn flushed(&mut self, db: usize) {
        if self.want & (want::MODIFIED | want::READY) != 0 {
            self.flushed.push(db);
            self.pending = true;
        }
    }

    /// Records a hash field deleted by its TTL (always counted; named when propagation needs
    /// it).
    #[inline]
    pub fn field_expired(&mut self, db: usize, key: &[u8], field: Vec<u8>) {
        self.expired_fields_count += 1;
        if self.want & want::EXPIRED_KEYS != 0 {
            self.expired_fields.push((db, key.to_vec(), field));
        }
        self.pending = true;
    }

    /// Records a key deleted by expiry (always counted; named when propagation needs it).
    #[inline]
    pub fn expired(&mut self, db: usize, key: &[u8]) {
        self.expired_count += 1;
        if self.want & want::EXPIRED_KEYS != 0 {
            self.expired.push((db, key.to_vec()));
        }
        self.pending = true;
    }
}

/// An unlinked entry, freed when dropped (on whichever thread drops it).
pub(crate) struct OwnedEntry(pub(crate) EntryPtr);

impl Drop for OwnedEntry {
    fn drop(&mut self) {
        // SAFETY: an OwnedEntry is made only from an entry just unlinked from its dict, of
        // which no other copy is used again (keyspace invariant).
        unsafe { self.0.free() }
    }
}
