//! Active expiry: Redis's adaptive `activeExpireCycle()` (expire.c), so keys with a TTL are
//! reclaimed even when no client touches them, without stalling the event loop.
//!
//! Each db keeps a list of its volatile keys (see `keyspace::dict`); a cycle samples
//! `20 + 5*effort` of them at a time from a rotating cursor, deletes the expired ones, and
//! repeats while more than `10 - effort` percent of a sample was expired and the time budget
//! lasts. The slow cycle runs from the cron with 25% (+2% per effort) of a cron period; the fast
//! cycle runs before the loop sleeps, for at most 1 ms (+0.25 ms per effort), only when the
//! previous cycle ran out of time or left too many stale keys.
//!
//! Hash fields with a TTL (Redis 7.4's HFE) are expired first in each cycle, as
//! `activeExpireHashFieldCycle`: one db per call, the registered hashes whose earliest field
//! TTL has passed visited earliest first, at most `10000 / hz` fields per call (times up to 32
//! while a db keeps having more than a million fields to expire), so a hash of any size is
//! expired incrementally and a call stays bounded.

use crate::keyspace::Probe;
use crate::server::Server;
use std::time::{Duration, Instant};

/// Which cycle to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CycleKind {
    /// From the cron, with a budget proportional to the cron period.
    Slow,
    /// Before sleeping, short, only when the keyspace looks stale.
    Fast,
}

/// Cross-call state of the cycle (kept in a static: the executor is single-threaded).
struct State {
    current_db: usize,
    /// Db the hash-field cycle works on.
    field_db: usize,
    /// Fields expired in `field_db` by consecutive calls that used their whole quota.
    field_sequence: u64,
    timelimit_exit: bool,
    last_fast_end: Option<Instant>,
}

static STATE: std::sync::Mutex<State> = std::sync::Mutex::new(State {
    current_db: 0,
    field_db: 0,
    field_sequence: 0,
    timelimit_exit: false,
    last_fast_end: None,
});

/// Runs one active-expire cycle.
pub fn active_expire_cycle(srv: &mut Server, kind: CycleKind) {
    let effort = (srv.settings.active_expire_effort - 1).clamp(0, 9) as usize;
    let keys_per_loop = 20 + 20 / 4 * effort;
    let fast_duration = Duration::from_micros(1000 + 1000 / 4 * effort as u64);
    let slow_perc = 25 + 2 * effort as u64;
    let acceptable_stale = 10 - effort;

    // CLIENT PAUSE WRITE/ALL suspends expiry (Redis PAUSE_ACTION_EXPIRE).
    if !srv.may_expire() {
        return;
    }
    let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if kind == CycleKind::Slow {
        hash_field_cycle(srv, &mut st);
    }
    if (0..srv.ks.dbs()).all(|d| srv.ks.db(d).volatile_len() == 0) {
        st.timelimit_exit = false;
        return;
    }
    let budget = match kind {
        CycleKind::Fast => {
            // Only when the previous cycle did not finish, and not more often than every
            // two fast durations.
            if !st.timelimit_exit && srv.stats.expired_stale_perc < acceptable_stale as f64 {
                return;
            }
            if st
                .last_fast_end
                .is_some_and(|t| t.elapsed() < fast_duration * 2)
            {
                return;
            }
            fast_duration
        }
        CycleKind::Slow => {
            Duration::from_micros(1_000_000 * slow_perc / srv.hz.max(1) as u64 / 100)
        }
    };
    let start = Instant::now();
    let now = srv.now_ms;
    let dbs = srv.ks.dbs();
    let mut total_sampled = 0usize;
    let mut total_expired = 0usize;
    st.timelimit_exit = false;
    'dbs: for _ in 0..dbs.min(16) {
        let dbi = st.current_db % dbs;
        st.current_db = st.current_db.wrapping_add(1);
        let mut iteration = 0u32;
        loop {
            let len = srv.ks.db(dbi).volatile_len();
            if len == 0 {
                *srv.ks.db_stats_mut(dbi).0 = 0;
                break;
            }
            let mut i = *srv.ks.db_stats_mut(dbi).1 % len;
            let (mut sampled, mut expired) = (0usize, 0usize);
            // TTLs near i64::MAX (PEXPIREAT far in the future) must not overflow the sum.
            let mut ttl_sum: i128 = 0;
            let mut ttl_n: i128 = 0;
            while sampled < keys_per_loop.min(len) {
                let cur_len = srv.ks.db(dbi).volatile_len();
                if cur_len == 0 {
                    break;
                }
                if i >= cur_len {
                    i = 0;
                }
                sampled += 1;
                let t0 = crate::latency::start(srv);
                match srv.ks.expire_probe(dbi, i, now) {
                    // Deleted through the keyspace's expiry path ("expired" event, DEL
                    // propagated by dispatch_signals); the list's last key moved into slot i:
                    // look at it next. Timed as Redis's `expire-del` latency event.
                    Probe::Expired => {
                        crate::latency::end(srv, t0, "expire-del");
                        expired += 1
                    }
                    Probe::Live(ttl) => {
                        ttl_sum += ttl as i128;
                        ttl_n += 1;
                        i += 1;
                    }
                }
            }
            let (avg_ttl, cursor) = srv.ks.db_stats_mut(dbi);
            *cursor = i;
            if ttl_n > 0 {
                let avg = (ttl_sum / ttl_n) as i64;
                // Running average weighted towards the past, as Redis.
                *avg_ttl = if *avg_ttl == 0 {
                    avg
                } else {
                    (*avg_ttl / 50) * 49 + avg / 50
                };
            }
            total_sampled += sampled;
            total_expired += expired;
            srv.dispatch_signals(None);
            iteration += 1;
            if iteration % 16 == 0 && start.elapsed() > budget {
                st.timelimit_exit = true;
                srv.stats.expired_time_cap_reached_count += 1;
                break 'dbs;
            }
            if sampled == 0 || expired * 100 <= sampled * acceptable_stale {
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    srv.stats.expire_cycle_cpu_us += elapsed.as_micros() as u64;
    crate::latency::add_sample_if_needed(srv, "expire-cycle", elapsed.as_millis() as u64);
    if kind == CycleKind::Fast {
        st.last_fast_end = Some(Instant::now());
    }
    let perc = if total_sampled > 0 {
        total_expired as f64 / total_sampled as f64 * 100.0
    } else {
        0.0
    };
    srv.stats.expired_stale_perc = perc * 0.05 + srv.stats.expired_stale_perc * 0.95;
}

/// Redis's base rate of the active expiry of hash fields (`HFE_DB_BASE_ACTIVE_EXPIRE_FIELDS_PER_SEC`).
const FIELDS_PER_SEC: u64 = 10_000;

/// `activeExpireHashFieldCycle`: expires due hash fields of one db, bounded per call (see the
/// module docs); moves on to the next db with registered hashes once this one has nothing
/// due.
fn hash_field_cycle(srv: &mut Server, st: &mut State) {
    const SEQUENCE_STEP: u64 = 1_000_000;
    let dbs = srv.ks.dbs();
    // Unlike Redis (one db per call, even an empty one), skip dbs without registered hashes.
    let Some(db) = (0..dbs)
        .map(|i| (st.field_db + i) % dbs)
        .find(|&d| srv.ks.has_hexpires(d))
    else {
        st.field_sequence = 0;
        return;
    };
    if db != st.field_db % dbs {
        st.field_sequence = 0;
    }
    let mut quota = FIELDS_PER_SEC / srv.hz.max(1) as u64;
    if st.field_sequence > SEQUENCE_STEP {
        quota *= (st.field_sequence / SEQUENCE_STEP).min(32);
    }
    let quota = quota.max(1) as usize;
    let now = srv.now_ms;
    let n = srv.ks.active_expire_fields(db, now, quota);
    srv.dispatch_signals(None);
    if n == quota {
        st.field_sequence += quota as u64;
    } else {
        st.field_sequence = 0;
        st.field_db = (db + 1) % dbs;
    }
}
