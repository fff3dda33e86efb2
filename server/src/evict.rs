//! maxmemory eviction (Redis 7.4's evict.c): what counts as used memory, the eviction pool,
//! `performEvictions()` with its time limit and timer, and the statistics INFO shows.
//!
//! - **Used memory** is the allocator's count ([`used_memory`], the one function INFO's
//!   `used_memory` and the maxmemory check share) minus what Redis does not count against
//!   the limit ([`not_counted`]: the AOF buffer and the replication stream waiting for its
//!   consumers, `freeMemoryGetNotCountedMemory`).
//! - **Which key:** the LRU, LFU and volatile-ttl policies keep Redis's eviction pool of 16
//!   candidates sorted by "idle" score (LRU: ms since the 24-bit clock of the entry header;
//!   LFU: 255 minus the decayed logarithmic counter; TTL: `u64::MAX` minus the expire time).
//!   Each refill samples `maxmemory-samples` keys of every non-empty db (the whole db for
//!   allkeys-*, the keys with a TTL for volatile-*) and the best candidate still present is
//!   evicted. The random policies pick a random key, visiting the dbs round-robin.
//! - **How:** through the keyspace's one mutation path (`Keyspace::delete` with
//!   `Deletion::Evict`: WATCH, blocked clients, the `evicted` event, `lazyfree-lazy-eviction`)
//!   and propagated as DEL (UNLINK when lazy), each its own unit, as
//!   `deleteEvictedKeyAndPropagate`.
//! - **How long:** one run stops after `maxmemory-eviction-tenacity`'s time limit
//!   (`evictionTimeLimitUs`, checked every 16 keys); the rest is done by the eviction timer
//!   ([`Evict::timer`], run by the event loop every iteration without sleeping, Redis's
//!   `evictionTimeProc`) and by the next commands.
//!
//! `process_command` calls [`perform_evictions`] before every command while `maxmemory` is
//! set and refuses the `denyoom` ones with `-OOM ...` when it fails.

use crate::command::OwnedArgv;
use crate::keyspace::{ev, Deletion, KeyRef};
use crate::pubsub::Running;
use crate::server::Server;
use std::time::Instant;

/// Size of the eviction pool (Redis `EVPOOL_SIZE`).
pub const EVPOOL_SIZE: usize = 16;

/// The text of the OOM refusal (Redis `shared.oomerr`, without the leading `-`).
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The `maxmemory-policy` values (Redis `MAXMEMORY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl Policy {
    /// The policy named `name` (the config layer only lets valid names through; anything
    /// else reads as noeviction).
    pub fn parse(name: &str) -> Policy {
        match name {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    /// True for the allkeys-* policies (`MAXMEMORY_FLAG_ALLKEYS`).
    fn allkeys(self) -> bool {
        matches!(
            self,
            Policy::AllkeysLru | Policy::AllkeysLfu | Policy::AllkeysRandom
        )
    }

    /// True for the random policies.
    fn random(self) -> bool {
        matches!(self, Policy::AllkeysRandom | Policy::VolatileRandom)
    }
}

/// What one eviction run achieved (Redis `EVICT_OK` / `EVICT_RUNNING` / `EVICT_FAIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Under the limit (or eviction not allowed right now).
    Ok,
    /// Over the limit, but the eviction timer keeps evicting.
    Running,
    /// Over the limit and nothing (more) can be evicted: writes are refused.
    Fail,
}

/// One slot of the eviction pool (Redis `struct evictionPoolEntry`): the key's bytes are a
/// copy kept in a buffer that is reused, as Redis's cached sds.
#[derive(Default, Clone)]
struct PoolEntry {
    /// Empty slot (Redis: `key == NULL`).
    empty: bool,
    /// Score: the higher, the better a candidate.
    idle: u64,
    db: usize,
    key: Vec<u8>,
}

/// Eviction state kept by the server.
pub struct Evict {
    /// Candidates sorted by ascending `idle`; empty slots at the end.
    pool: Vec<PoolEntry>,
    /// Round-robin db cursor of the random policies (`static next_db`).
    next_db: usize,
    /// The eviction timer is armed (Redis's `isEvictionProcRunning`): the event loop calls
    /// [`timer_proc`] every iteration, without sleeping, until memory is under the limit.
    pub timer: bool,
    /// The last [`perform_evictions`] before a command failed (Redis's `server.script_oom`,
    /// saved at command start: scripts refuse their `denyoom` calls by it).
    pub oom: bool,
}

impl Default for Evict {
    fn default() -> Evict {
        Evict {
            pool: vec![
                PoolEntry {
                    empty: true,
                    ..Default::default()
                };
                EVPOOL_SIZE
            ],
            next_db: 0,
            timer: false,
            oom: false,
        }
    }
}

impl Evict {
    /// Inserts a candidate as `evictionPoolPopulate` does: the pool stays sorted by
    /// ascending idle; when it is full a candidate worse than all is dropped, otherwise the
    /// worst (leftmost) entry makes room.
    fn insert(&mut self, idle: u64, db: usize, key: &[u8]) {
        let pool = &mut self.pool;
        let mut k = 0;
        while k < EVPOOL_SIZE && !pool[k].empty && pool[k].idle < idle {
            k += 1;
        }
        if k == 0 && !pool[EVPOOL_SIZE - 1].empty {
            return;
        } else if k < EVPOOL_SIZE && pool[k].empty {
            // An empty slot: nothing to move.
        } else if pool[EVPOOL_SIZE - 1].empty {
            // Free space on the right: shift k.. right (the empty last slot comes to k).
            pool[k..].rotate_right(1);
        } else {
            // Full: drop the leftmost (smallest idle), inserting at k - 1.
            k -= 1;
            pool[..=k].rotate_left(1);
        }
        let e = &mut pool[k];
        e.empty = false;
        e.idle = idle;
        e.db = db;
        e.key.clear();
        e.key.extend_from_slice(key);
    }
}

/// Bytes allocated by the server, as Redis's `zmalloc_used_memory()`: what INFO reports as
/// `used_memory` and the maxmemory check compares. jemalloc's per-thread counters of the
/// executor and the lazy-free thread (exact and cheap: no stats epoch to refresh).
#[inline]
pub fn used_memory(srv: &Server) -> u64 {
    srv.mem.used()
}

/// Memory Redis does not count against maxmemory (`freeMemoryGetNotCountedMemory`): the
/// AOF buffer and the replication stream waiting for its consumers (the stand-in for the
/// replicas' output buffers). INFO `mem_not_counted_for_evict`.
pub fn not_counted(srv: &Server) -> u64 {
    let mut n = srv.propagator.stream_capacity() as u64;
    if let Some(aof) = &srv.propagator.aof {
        n += aof.buf.capacity() as u64;
    }
    n
}

/// `getMaxmemoryState`: None when under the limit (or no limit), else the bytes to free.
#[inline]
pub fn over_limit(srv: &Server) -> Option<u64> {
    let max = srv.settings.maxmemory;
    if max == 0 {
        return None;
    }
    let reported = used_memory(srv);
    if reported <= max {
        return None;
    }
    let used = reported.saturating_sub(not_counted(srv));
    (used > max).then(|| used - max)
}

/// Bytes that may still be allocated before used memory passes `maxmemory` (`usize::MAX`
/// without a limit): the keyspace's tables do not double past it (`overMaxmemoryAfterAlloc`
/// as Redis's `dictResizeAllowed` asks it).
pub fn headroom(srv: &Server) -> usize {
    let max = srv.settings.maxmemory;
    if max == 0 {
        return usize::MAX;
    }
    let used = used_memory(srv).saturating_sub(not_counted(srv));
    max.saturating_sub(used) as usize
}

/// The time limit of one eviction run in µs (`evictionTimeLimitUs`): 50 µs per unit up to
/// tenacity 10, then 15% more per unit (about 2 minutes at 99), unlimited at 100.
pub fn time_limit_us(tenacity: u32) -> u64 {
    if tenacity <= 10 {
        50 * tenacity as u64
    } else if tenacity < 100 {
        (500.0 * 1.15f64.powf(tenacity as f64 - 10.0)) as u64
    } else {
        u64::MAX
    }
}

/// The decayed LFU counter of a 24-bit LFU field at minute clock `now` (`LFUDecrAndReturn`).
fn lfu_decr(lru: u32, now: u16, decay_time: u32) -> u64 {
    let ldt = (lru >> 8) as u16;
    let counter = (lru & 0xff) as u64;
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    } as u64;
    let periods = if decay_time > 0 {
        elapsed / decay_time as u64
    } else {
        0
    };
    counter.saturating_sub(periods)
}

/// Samples db `db` into the pool (`evictionPoolPopulate`).
fn populate(srv: &mut Server, db: usize, policy: Policy) {
    let samples = srv.settings.maxmemory_samples;
    let clock = srv.lruclock;
    let minutes = ((srv.now_ms / 60000) & 0xffff) as u16;
    let decay = srv.settings.lfu_decay_time;
    let volatile = !policy.allkeys();
    let evict = &mut srv.evict;
    srv.ks.evict_sample(db, volatile, samples, |e| {
        let idle = match policy {
            Policy::AllkeysLru | Policy::VolatileLru => crate::server::idle_ms(clock, e.lru()),
            Policy::AllkeysLfu | Policy::VolatileLfu => 255 - lfu_decr(e.lru(), minutes, decay),
            // Sampled from the keys with a TTL: the sooner, the better.
            _ => u64::MAX - e.expire().unwrap_or(i64::MAX) as u64,
        };
        evict.insert(idle, db, e.key());
    });
}

/// Picks the next key to evict under a pool policy: refills the pool from every db, then
/// takes the best candidate still present (candidates deleted meanwhile are "ghosts",
/// dropped). None when no db has a key to evict.
fn pick_from_pool(srv: &mut Server, policy: Policy) -> Option<KeyRef> {
    let allkeys = policy.allkeys();
    loop {
        let mut total = 0;
        for i in 0..srv.ks.dbs() {
            let d = srv.ks.db(i);
            let n = if allkeys { d.len() } else { d.volatile_len() };
            if n != 0 {
                populate(srv, i, policy);
                total += n;
            }
        }
        if total == 0 {
            return None;
        }
        for k in (0..EVPOOL_SIZE).rev() {
            let e = &mut srv.evict.pool[k];
            if e.empty {
                continue;
            }
            e.empty = true;
            let db = e.db;
            let key = std::mem::take(&mut e.key);
            let found = srv.ks.evict_find(db, &key, !allkeys);
            srv.evict.pool[k].key = key;
            if found.is_some() {
                return found;
            }
        }
    }
}

/// Picks a random key under a random policy, visiting the dbs round-robin.
fn pick_random(srv: &mut Server, policy: Policy) -> Option<KeyRef> {
    let n = srv.ks.dbs();
    let volatile = !policy.allkeys();
    for _ in 0..n {
        srv.evict.next_db = srv.evict.next_db.wrapping_add(1);
        let j = srv.evict.next_db % n;
        if let Some(h) = srv.ks.evict_random(j, volatile) {
            return Some(h);
        }
    }
    None
}

/// Deletes an evicted key and tells everyone (`deleteEvictedKeyAndPropagate`): the
/// keyspace's delete path with `lazyfree-lazy-eviction` (modified key, ready key, the
/// `evicted` event), `evicted_keys`, a DEL (UNLINK when lazy) as its own propagation unit.
/// Returns the bytes the delete itself freed.
fn delete_evicted(srv: &mut Server, h: KeyRef, running: Option<Running>) -> i64 {
    let db = h.db();
    let key = if srv.propagator.consumers > 0 {
        Some(srv.ks.get(h).key().to_vec())
    } else {
        None
    };
    let before = used_memory(srv) as i64;
    srv.ks.delete(h, Deletion::Evict, Some(ev::EVICTED));
    let freed = before - used_memory(srv) as i64;
    srv.stats.evicted_keys += 1;
    if srv.ks.signals.pending {
        srv.dispatch_signals(running);
    }
    if let Some(key) = key {
        let verb: &[u8] = if srv.settings.lazyfree_lazy_eviction {
            b"UNLINK"
        } else {
            b"DEL"
        };
        srv.propagator
            .push(db, OwnedArgv::from_args(&[verb, key.as_slice()]));
        if srv.call_depth == 0 {
            srv.propagator.flush();
        }
    }
    freed
}

/// Evicts keys until used memory is under `maxmemory` or the run's time limit passes
/// (Redis `performEvictions`). `running` is the client whose command is about to run (its
/// own keyspace-event messages are deferred to it). Does nothing while loading or while
/// clients are paused (Redis's `PAUSE_ACTION_EVICT`).
pub fn perform_evictions(srv: &mut Server, running: Option<Running>) -> Outcome {
    if srv.loading || srv.paused().is_some() {
        return Outcome::Ok;
    }
    let Some(to_free) = over_limit(srv) else {
        return update_metrics(srv, Outcome::Ok);
    };
    let policy = Policy::parse(&srv.settings.maxmemory_policy);
    if policy == Policy::NoEviction {
        return update_metrics(srv, Outcome::Fail);
    }
    let limit_us = time_limit_us(srv.settings.maxmemory_eviction_tenacity);
    let start = Instant::now();
    let lazy = srv.settings.lazyfree_lazy_eviction;
    let mut freed: i64 = 0;
    let mut keys_freed: u64 = 0;
    let mut result = Outcome::Fail;
    let mut stopped_early = false;
    let mut exhausted = false;
    while freed < to_free as i64 {
        let best = if policy.random() {
            pick_random(srv, policy)
        } else {
            pick_from_pool(srv, policy)
        };
        let Some(h) = best else {
            exhausted = true;
            break;
        };
        let t0 = crate::latency::start(srv);
        freed += delete_evicted(srv, h, running);
        crate::latency::end(srv, t0, "eviction-del");
        keys_freed += 1;
        if keys_freed.is_multiple_of(16) {
            // Lazily freed memory comes back on another thread: check the real figure.
            if lazy && over_limit(srv).is_none() {
                break;
            }
            if start.elapsed().as_micros() as u64 > limit_us {
                srv.evict.timer = true;
                stopped_early = true;
                break;
            }
        }
    }
    if !exhausted {
        result = if stopped_early || srv.evict.timer {
            Outcome::Running
        } else {
            Outcome::Ok
        };
    } else {
        // Nothing left to evict: values may still be on their way out on the lazy-free
        // thread; wait for them a little, never beyond the run's time limit.
        use std::sync::atomic::Ordering::Relaxed;
        let t0 = crate::latency::start(srv);
        while srv.lazyfree_pending.load(Relaxed) > 0
            && (start.elapsed().as_micros() as u64) < limit_us
        {
            if over_limit(srv).is_none() {
                result = Outcome::Ok;
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(limit_us.min(1000)));
        }
        crate::latency::end(srv, t0, "eviction-lazyfree");
    }
    if srv.settings.latency_monitor_threshold_ms > 0 {
        let ms = start.elapsed().as_millis() as u64;
        crate::latency::add_sample_if_needed(srv, "eviction-cycle", ms);
    }
    update_metrics(srv, result)
}

/// The eviction-exceeded timers of INFO stats (`update_metrics` of `performEvictions`).
fn update_metrics(srv: &mut Server, result: Outcome) -> Outcome {
    let st = &mut srv.stats;
    match result {
        Outcome::Running | Outcome::Fail => {
            if st.eviction_exceeded_since.is_none() {
                st.eviction_exceeded_since = Some(Instant::now());
            }
        }
        Outcome::Ok => {
            if let Some(t) = st.eviction_exceeded_since.take() {
                st.total_eviction_exceeded_us += t.elapsed().as_micros() as u64;
            }
        }
    }
    result
}

/// The eviction timer (`evictionTimeProc`): called by the event loop every iteration while
/// [`Evict::timer`] is armed; disarms it once a run is not left running.
pub fn timer_proc(srv: &mut Server) {
    if !srv.evict.timer {
        return;
    }
    srv.update_time();
    if perform_evictions(srv, None) != Outcome::Running {
        srv.evict.timer = false;
    }
}

/// Arms the eviction timer (`startEvictionTimeProc`).
pub fn start_timer(srv: &mut Server) {
    srv.evict.timer = true;
}

/// CONFIG SET maxmemory (`updateMaxmemory`): warns when the new limit is below the memory
/// in use, and lets the eviction timer work towards it.
pub fn maxmemory_changed(srv: &mut Server) {
    srv.ks.grow_headroom = headroom(srv);
    let max = srv.settings.maxmemory;
    if max == 0 {
        return;
    }
    let used = used_memory(srv).saturating_sub(not_counted(srv));
    if max < used {
        crate::log!(
            Warning,
            "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
        );
    }
    start_timer(srv);
}

/// INFO stats' `(total_eviction_exceeded_time, current_eviction_exceeded_time)` in ms.
pub fn exceeded_time_ms(srv: &Server) -> (u64, u64) {
    let current = srv
        .stats
        .eviction_exceeded_since
        .map(|t| t.elapsed().as_micros() as u64)
        .unwrap_or(0);
    (
        (srv.stats.total_eviction_exceeded_us + current) / 1000,
        current / 1000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(e: &Evict) -> Vec<(u64, String)> {
        e.pool
            .iter()
            .filter(|p| !p.empty)
            .map(|p| (p.idle, String::from_utf8_lossy(&p.key).into_owned()))
            .collect()
    }

    /// The pool stays sorted, keeps the 16 best and drops a candidate worse than all of a
    /// full pool, as `evictionPoolPopulate`.
    #[test]
    fn pool_keeps_the_best_sorted() {
        let mut e = Evict::default();
        e.insert(5, 0, b"five");
        e.insert(1, 0, b"one");
        e.insert(9, 0, b"nine");
        assert_eq!(
            keys(&e),
            [(1, "one".into()), (5, "five".into()), (9, "nine".into())]
        );
        for i in 10..30u64 {
            e.insert(i, 1, format!("k{i}").as_bytes());
        }
        let k = keys(&e);
        assert_eq!(k.len(), EVPOOL_SIZE);
        assert!(k.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(k[EVPOOL_SIZE - 1], (29, "k29".into()));
        assert_eq!(k[0], (14, "k14".into()));
        // Worse than everything in a full pool: ignored.
        e.insert(0, 0, b"zero");
        assert_eq!(keys(&e), k);
    }

    #[test]
    fn time_limit_follows_tenacity() {
        assert_eq!(time_limit_us(0), 0);
        assert_eq!(time_limit_us(10), 500);
        assert_eq!(time_limit_us(11), 575);
        assert!(time_limit_us(99) > 100_000_000);
        assert_eq!(time_limit_us(100), u64::MAX);
    }

    #[test]
    fn lfu_counter_decays_by_periods() {
        let f = (100u32 << 8) | 20;
        assert_eq!(lfu_decr(f, 100, 1), 20);
        assert_eq!(lfu_decr(f, 105, 1), 15);
        assert_eq!(lfu_decr(f, 105, 2), 18);
        assert_eq!(lfu_decr(f, 200, 1), 0);
        assert_eq!(lfu_decr(f, 200, 0), 20);
        // The 16-bit minute clock wraps.
        assert_eq!(lfu_decr((65530 << 8) | 20, 4, 1), 11);
    }
}
