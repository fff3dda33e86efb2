//! The server's global state ([`Server`]), its statistics, the cached clocks, the background
//! lazy-free thread, and `serverCron()`: the periodic work run `hz` times a second (client
//! timeouts and buffer limits, active expiry, incremental rehashing, stats sampling).
//!
//! Everything in `Server` is touched only by the executor thread.

use crate::client::Client;
use crate::command::CommandTable;
use crate::config::{Config, Settings};
use crate::keyspace::{Keyspace, Touch};
use crate::log;
use crate::propagate::Propagator;
use crate::slowlog::Slowlog;
use slab::Slab;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Instant;

/// The version we report as `redis_version` (clients gate features on it).
pub const REDIS_VERSION_REPORTED: &str = "7.4.0";

/// Server-wide counters (INFO stats).
#[derive(Default, Debug)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub expired_keys: u64,
    /// Hash fields deleted by their TTL, lazily or actively (INFO `expired_subkeys`).
    pub expired_subkeys: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    pub expire_cycle_cpu_us: u64,
    pub evicted_keys: u64,
    /// Since when used memory has been over `maxmemory` without eviction catching up (Redis
    /// `stat_last_eviction_exceeded_time`), and the total of such periods in µs.
    pub eviction_exceeded_since: Option<Instant>,
    pub total_eviction_exceeded_us: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_error_replies: u64,
    pub errorstats: HashMap<String, u64>,
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    pub client_query_buffer_limit_disconnections: u64,
    pub client_output_buffer_limit_disconnections: u64,
    /// Reply buffers the cron shrank / grew (INFO `reply_buffer_shrinks` / `_expands`).
    pub reply_buffer_shrinks: u64,
    /// Clients freed by `maxmemory-clients` (INFO `evicted_clients`).
    pub evicted_clients: u64,
    pub reply_buffer_expands: u64,
    pub lazyfreed_objects: u64,
    pub eventloop_cycles: u64,
    pub eventloop_duration_sum_us: u64,
    pub eventloop_duration_cmd_sum_us: u64,
    /// Ring of samples for the instantaneous_* metrics (the last ~1.6 s).
    pub samples: std::collections::VecDeque<StatsSample>,
}

/// `CLIENT PAUSE` state.
#[derive(Default, Debug, Clone, Copy)]
pub struct Pause {
    /// Unix ms until which clients are paused (0 = not paused).
    pub until_ms: i64,
    /// true for `WRITE` mode (only writes are paused), false for `ALL`.
    pub write_only: bool,
}

/// Counters sampled every 100 ms by the cron, for the instantaneous_* INFO fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsSample {
    /// Unix time of the sample, ms.
    pub ms: i64,
    pub commands: u64,
    /// Network bytes in / out.
    pub net_in: u64,
    pub net_out: u64,
    /// Event-loop iterations, and the sum of their durations in µs.
    pub el_cycles: u64,
    pub el_duration_us: u64,
}

/// The instantaneous_* INFO fields: rates over the sample window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Instantaneous {
    pub ops_per_sec: u64,
    pub input_kbps: f64,
    pub output_kbps: f64,
    pub el_cycles_per_sec: u64,
    /// Mean duration of an event-loop iteration, µs.
    pub el_duration_us: u64,
}

/// Work handed to the lazy-free thread: anything whose drop may be slow.
pub type LazyFreeJob = Box<dyn Send>;

/// A cheap running total of heap bytes in use, for the per-command maxmemory check (Redis
/// reads its `used_memory` counter there too): jemalloc's per-thread allocated/deallocated
/// counters of the executor, plus those of the lazy-free thread, which frees what the
/// executor allocated. INFO's `used_memory` uses jemalloc's global stats instead.
pub struct MemCounter {
    alloc: Option<tikv_jemalloc_ctl::thread::ThreadLocal<u64>>,
    dealloc: Option<tikv_jemalloc_ctl::thread::ThreadLocal<u64>>,
    lazy_alloc: std::sync::Arc<std::sync::atomic::AtomicU64>,
    lazy_dealloc: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl MemCounter {
    /// Bytes currently allocated by the executor and lazy-free threads together.
    #[inline]
    pub fn used(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        let (Some(a), Some(d)) = (self.alloc, self.dealloc) else {
            return 0;
        };
        (a.get() + self.lazy_alloc.load(Relaxed))
            .saturating_sub(d.get() + self.lazy_dealloc.load(Relaxed))
    }
}

/// All server state.
pub struct Server {
    pub config: Config,
    pub settings: Settings,
    /// Every db, and the signals their mutations record (drained by `dispatch_signals`).
    pub ks: Keyspace,
    /// Channel and pattern subscriptions.
    pub pubsub: crate::pubsub::PubSub,
    pub clients: Slab<Client>,
    pub commands: CommandTable,
    pub stats: Stats,
    pub slowlog: Slowlog,
    /// The latency monitor's events (LATENCY).
    pub latency: crate::latency::Latency,
    pub propagator: Propagator,
    /// Cached wall clock, unix ms / us (updated per event-loop iteration and per command).
    pub now_ms: i64,
    pub now_us: i64,
    /// Maps monotonic instants to wall-clock time, so a command reads one clock, not two.
    pub clock: Clock,
    /// The instant the previous command of the current input batch ended (set by `call`,
    /// cleared by `net::process_input` around each batch): the next command of the batch
    /// starts then, which saves a clock read per pipelined command.
    pub batch_clock: Option<Instant>,
    /// Nesting depth of `call()`: 1 inside a top-level command, more inside EXEC or a script.
    /// Time is frozen and propagation accumulates while it is above 1.
    pub call_depth: u32,
    /// Pub/sub messages for the running client, appended after its command's reply.
    pub deferred_pushes: Vec<u8>,
    /// Slab keys of the clients in MONITOR mode, in the order they entered it.
    pub monitors: Vec<usize>,
    /// The buffers of the client whose commands `net` is processing (CLIENT LIST reads them).
    pub running_io: crate::client::RunningIo,
    /// DEBUG REPLYBUFFER settings: how often a client's reply-buffer peak resets (ms; -1
    /// never) and whether the cron resizes reply buffers (Redis `reply_buffer_peak_reset_time`,
    /// `reply_buffer_resizing_enabled`).
    pub reply_buffer_peak_reset_ms: i64,
    pub reply_buffer_resizing: bool,
    /// DEBUG REPL-STREAM attached its capture consumer to the propagation stream.
    pub stream_capture: bool,
    /// Redis's 24-bit LRU clock (seconds resolution).
    pub lruclock: u32,
    pub start_ms: i64,
    pub started: Instant,
    pub run_id: String,
    pub replid: String,
    /// Writes since the last save (rdb_changes_since_last_save).
    pub dirty: u64,
    pub lastsave_s: i64,
    /// RDB persistence state: the fork child, save statistics (`persist.rs`).
    pub persist: crate::persist::Persist,
    /// AOF state (`aof.rs`).
    pub aof: crate::aof::Aof,
    /// Replaying the AOF (Redis's `server.loading` for the AOF): keys do not expire and
    /// expire times in the past do not delete, as in Redis while loading.
    pub loading: bool,
    pub next_client_id: u64,
    pub pause: Pause,
    pub active_expire_enabled: bool,
    pub executable: String,
    /// Clients with output waiting to be written.
    pub pending_writes: Vec<usize>,
    /// Clients that must be freed before the loop sleeps.
    pub to_close: Vec<usize>,
    /// Clients whose buffered input must be processed again (unpaused).
    pub pending_input: Vec<usize>,
    /// Clients whose socket became readable while a busy script protected them: read on
    /// the next loop iteration (the edge-triggered poll reports it only once).
    pub reread: Vec<usize>,
    /// Blocked clients: waiters per key, deadlines, postponed clients, ready keys.
    pub blocking: crate::blocking::Blocking,
    /// Watched keys (WATCH), per db and key (`crate::multi`).
    pub watched: crate::multi::Watched,
    /// Client-side caching: the tracking table, BCAST prefixes (`crate::tracking`).
    pub tracking: crate::tracking::Tracking,
    /// EVAL's Lua state, script cache and Lua client (`crate::script`).
    pub scripting: crate::script::Scripting,
    /// ACL users, log and denial counters.
    pub acl: crate::acl::Acl,
    /// Shutdown requested (SHUTDOWN command or signal), with the exit code.
    pub shutdown: Option<i32>,
    pub cron_loops: u64,
    /// Current hz (dynamic-hz may raise it with many clients).
    pub hz: i64,
    pub lazyfree_tx: Option<mpsc::Sender<(LazyFreeJob, u64)>>,
    pub lazyfree_pending: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Fast used-memory counter for the maxmemory check.
    pub mem: MemCounter,
    /// maxmemory eviction: the pool, the timer (`crate::evict`).
    pub evict: crate::evict::Evict,
    /// The listening sockets.
    pub listeners: crate::net::Listeners,
    /// The event loop's registry (set once the loop exists), to switch a client's interest in
    /// writability on and off.
    pub registry: Option<mio::Registry>,
    /// Description of listeners for INFO (`listener0:name=tcp,bind=...`).
    pub listeners_info: Vec<String>,
    /// Peak of used_memory.
    pub used_memory_peak: u64,
    /// used_memory right after startup.
    pub used_memory_startup: u64,
    /// Peak query / output buffer sizes seen by the clients cron, per second over the last 8
    /// seconds (Redis `CLIENTS_PEAK_MEM_USAGE_SLOTS`), and the second of the current slot.
    pub recent_peaks: [(usize, usize); 8],
    pub recent_peaks_sec: i64,
}

/// Wall-clock time derived from the monotonic clock: `unix_us(t) = base_unix_us + (t -
/// base_mono)`. Reading `Instant::now()` alone is one vDSO call instead of two (realtime and
/// monotonic); the mapping is re-read from the system clock by `Server::cron` (every 1/hz s),
/// so a wall-clock step is followed within one cron period, as Redis follows it per command.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_mono: Instant,
    base_unix_us: i64,
}

impl Clock {
    /// A mapping read from the system clocks now.
    pub fn sync() -> Clock {
        Clock {
            base_mono: Instant::now(),
            base_unix_us: unix_us(),
        }
    }

    /// Unix time in microseconds at monotonic instant `t` (instants before the base map to
    /// the base: they cannot happen after a sync).
    #[inline]
    pub fn unix_us_at(&self, t: Instant) -> i64 {
        self.base_unix_us + t.saturating_duration_since(self.base_mono).as_micros() as i64
    }
}

/// Current unix time in microseconds.
pub fn unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// 40 random hex characters (run_id, replid).
pub fn random_hex40() -> String {
    (0..40)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap())
        .collect()
}

impl Server {
    /// CLIENT LIST's line for client `k`, measuring the running client's taken-out buffers.
    pub fn client_info_line(&self, k: usize) -> String {
        let io = (self.running_io.k == k).then_some(&self.running_io);
        self.clients[k].info_line(self.now_ms, &self.commands, io)
    }

    /// Builds the state from a loaded configuration (no sockets yet).
    pub fn new(config: Config, commands: CommandTable) -> Server {
        let settings = config.settings();
        let now_us = unix_us();
        let (tx, rx) = mpsc::channel::<(LazyFreeJob, u64)>();
        let pending = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let p2 = pending.clone();
        let lazy_alloc = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let lazy_dealloc = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (la, ld) = (lazy_alloc.clone(), lazy_dealloc.clone());
        std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                use std::sync::atomic::Ordering::Relaxed;
                let my_alloc = tikv_jemalloc_ctl::thread::allocatedp::read().ok();
                let my_dealloc = tikv_jemalloc_ctl::thread::deallocatedp::read().ok();
                for (job, objects) in rx {
                    drop(job);
                    if let (Some(a), Some(d)) = (my_alloc, my_dealloc) {
                        la.store(a.get(), Relaxed);
                        ld.store(d.get(), Relaxed);
                    }
                    p2.fetch_sub(objects, Relaxed);
                }
            })
            .expect("spawn lazyfree thread");
        let mem = MemCounter {
            alloc: tikv_jemalloc_ctl::thread::allocatedp::read().ok(),
            dealloc: tikv_jemalloc_ctl::thread::deallocatedp::read().ok(),
            lazy_alloc,
            lazy_dealloc,
        };
        let ks = Keyspace::new(settings.databases);
        let hz = settings.hz;
        let acl = crate::acl::Acl::new(&commands);
        let mut s = Server {
            config,
            ks,
            pubsub: Default::default(),
            clients: Slab::with_capacity(64),
            commands,
            stats: Stats::default(),
            slowlog: Slowlog::default(),
            latency: crate::latency::Latency::default(),
            propagator: Propagator::default(),
            now_ms: now_us / 1000,
            now_us,
            clock: Clock::sync(),
            batch_clock: None,
            call_depth: 0,
            deferred_pushes: Vec::new(),
            monitors: Vec::new(),
            running_io: Default::default(),
            reply_buffer_peak_reset_ms: 5000,
            reply_buffer_resizing: true,
            stream_capture: false,
            lruclock: 0,
            start_ms: now_us / 1000,
            started: Instant::now(),
            run_id: random_hex40(),
            replid: random_hex40(),
            dirty: 0,
            lastsave_s: now_us / 1_000_000,
            persist: Default::default(),
            aof: Default::default(),
            loading: false,
            next_client_id: 1,
            pause: Pause::default(),
            active_expire_enabled: true,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            pending_writes: Vec::new(),
            to_close: Vec::new(),
            pending_input: Vec::new(),
            reread: Vec::new(),
            blocking: Default::default(),
            watched: Default::default(),
            tracking: Default::default(),
            scripting: Default::default(),
            acl,
            shutdown: None,
            cron_loops: 0,
            hz,
            lazyfree_tx: Some(tx),
            lazyfree_pending: pending,
            mem,
            evict: Default::default(),
            listeners: Default::default(),
            registry: None,
            listeners_info: Vec::new(),
            used_memory_peak: 0,
            used_memory_startup: 0,
            recent_peaks: [(0, 0); 8],
            recent_peaks_sec: 0,
            settings,
        };
        s.update_time();
        s.apply_config();
        let pass = s.settings.requirepass.clone();
        if !pass.is_empty() {
            s.acl.set_requirepass(&s.commands, &pass);
        }
        s
    }

    /// Refreshes the cached clocks (one monotonic clock read).
    #[inline]
    pub fn update_time(&mut self) {
        self.set_time(Instant::now());
    }

    /// Sets the cached clocks to monotonic instant `t` (wall time through `clock`).
    #[inline]
    pub fn set_time(&mut self, t: Instant) {
        self.now_us = self.clock.unix_us_at(t);
        self.now_ms = self.now_us / 1000;
        self.lruclock = ((self.now_ms / 1000) as u32) & LRU_CLOCK_MAX;
    }

    /// True when keys are tracked by LFU (maxmemory-policy *-lfu).
    pub fn lfu_policy(&self) -> bool {
        self.settings.lfu
    }

    /// The initial LRU/LFU field of a new key.
    #[inline]
    pub fn new_key_lru(&self) -> u32 {
        if self.lfu_policy() {
            (self.lfu_minutes() as u32) << 8 | crate::keyspace::LFU_INIT_VAL
        } else {
            self.lruclock
        }
    }

    /// The decayed LFU counter of a key's 24-bit LFU field, without the probabilistic
    /// increment (Redis `LFUDecrAndReturn`): what OBJECT FREQ shows and RDB's FREQ saves.
    pub fn lfu_decayed(&self, lru: u32) -> u32 {
        let ldt = (lru >> 8) as u16;
        let counter = lru & 0xff;
        let now = self.lfu_minutes();
        let elapsed = if now >= ldt {
            now - ldt
        } else {
            65535 - ldt + now
        } as u32;
        let decay = self.settings.lfu_decay_time;
        let periods = if decay > 0 { elapsed / decay } else { 0 };
        counter.saturating_sub(periods)
    }

    /// What RDB saves with a key under the current `maxmemory-policy` (`rdbSaveKeyValuePair`):
    /// `(idle seconds, None)` for an LRU policy, `(None, counter)` for an LFU one, nothing else.
    pub fn rdb_lru_info(&self, lru: u32) -> (Option<u64>, Option<u8>) {
        let p = self.settings.maxmemory_policy.as_str();
        if p.ends_with("lru") {
            (Some(idle_ms(self.lruclock, lru) / 1000), None)
        } else if p.ends_with("lfu") {
            (None, Some(self.lfu_decayed(lru).min(255) as u8))
        } else {
            (None, None)
        }
    }

    /// The LRU/LFU field of a key loaded with RDB's IDLE (seconds) / FREQ, or restored with
    /// IDLETIME / FREQ (Redis `objectSetLRUOrLFU`): FREQ counts under an LFU policy, IDLE
    /// under any other; `None` when neither applies (the key gets a new key's field).
    pub fn lru_from_rdb(&self, idle_s: Option<u64>, freq: Option<u8>) -> Option<u32> {
        if self.lfu_policy() {
            return freq.map(|f| (self.lfu_minutes() as u32) << 8 | f as u32);
        }
        let idle = idle_s? as i64;
        let mut abs = self.lruclock as i64 - idle;
        if abs < 0 {
            abs += LRU_CLOCK_MAX as i64;
        }
        Some((abs as u32) & LRU_CLOCK_MAX)
    }

    fn lfu_minutes(&self) -> u16 {
        ((self.now_ms / 60000) & 0xffff) as u16
    }

    /// How lookups update access metadata for a normal command. Not at all while a fork
    /// child lives (Redis `lookupKey`: writing the LRU/LFU field of every key read would
    /// copy its page, "copy on write madness").
    #[inline]
    pub fn touch_mode(&self) -> Touch {
        if self.persist.child.is_some() {
            Touch::No
        } else if self.lfu_policy() {
            Touch::Lfu {
                minutes: self.lfu_minutes(),
                log_factor: self.settings.lfu_log_factor,
                decay_time: self.settings.lfu_decay_time,
            }
        } else {
            Touch::Lru(self.lruclock)
        }
    }

    /// Re-derives the hot settings after a configuration change and applies the ones with
    /// runtime effects.
    pub fn apply_config(&mut self) {
        let old_pass = std::mem::take(&mut self.settings.requirepass);
        self.settings = self.config.settings();
        crate::acl::PUBSUB_DEFAULT_ALL.store(
            self.config.get("acl-pubsub-default") == Some("allchannels"),
            std::sync::atomic::Ordering::Relaxed,
        );
        if self.settings.requirepass != old_pass {
            self.acl
                .set_requirepass(&self.commands, &self.settings.requirepass);
        }
        self.hz = self.settings.hz;
        // canUseSharedObject(): no shared integers when maxmemory is set with LRU/LFU.
        let maxmemory = self.config.get("maxmemory").is_some_and(|v| v != "0");
        let p = &self.settings.maxmemory_policy;
        let share = !maxmemory || !(p.contains("lru") || p.contains("lfu"));
        self.ks.share_ints = share;
        self.ks.keep_lfu = self.settings.lfu;
        self.tracking.max_keys = self
            .config
            .get("tracking-table-max-keys")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let st = &self.settings;
        self.ks.lazy = crate::keyspace::LazyFree {
            user_del: st.lazyfree_lazy_user_del,
            server_del: st.lazyfree_lazy_server_del,
            expire: st.lazyfree_lazy_expire,
            eviction: st.lazyfree_lazy_eviction,
        };
        self.update_signal_wants();
        log::set_level(self.settings.loglevel);
    }

    /// Recomputes what the keyspace records ([`crate::keyspace::Signals::want`]): the
    /// `notify-keyspace-events` classes when K or E is on, the names of expired keys when the
    /// propagation stream has a consumer, modified keys while a client watches keys, ready
    /// keys while clients are blocked on keys. Call after a config change, a consumer
    /// change, the first WATCH or the last unwatch. (Tracking will add its bit.)
    pub fn update_signal_wants(&mut self) {
        use crate::keyspace::{notify, want};
        let n = self.settings.notify_keyspace_events;
        let mut w = 0u64;
        if n & (notify::KEYSPACE | notify::KEYEVENT) != 0 {
            w |= (n & !(notify::KEYSPACE | notify::KEYEVENT)) as u64;
        }
        if self.propagator.consumers > 0 {
            w |= want::EXPIRED_KEYS;
        }
        if self.blocking.wants_ready_keys() {
            w |= want::READY;
        }
        if !self.watched.is_empty() || self.tracking.active() {
            w |= want::MODIFIED;
        }
        self.ks.signals.want = w;
    }

    /// Serves what the keyspace recorded since the last drain: expired keys are counted and
    /// their DEL (UNLINK under `lazyfree-lazy-expire`) propagated — inside a command as part
    /// of its unit, before it; outside one (active expiry) each as its own unit — parked
    /// entries and big values go to the lazy-free thread or are freed, and keyspace events are
    /// published. `running` is the client whose command is executing, if any (its reply
    /// buffer is outside it). Called by `call()` after each handler, and after active expiry
    /// and cron work.
    pub fn dispatch_signals(&mut self, running: Option<crate::pubsub::Running>) {
        use crate::command::OwnedArgv;
        if !self.ks.signals.pending {
            return;
        }
        let s = &mut self.ks.signals;
        let events = std::mem::take(&mut s.events);
        let expired = std::mem::take(&mut s.expired);
        let n = std::mem::take(&mut s.expired_count);
        let fields = std::mem::take(&mut s.expired_fields);
        self.stats.expired_subkeys += std::mem::take(&mut s.expired_fields_count);
        // Ready keys (and flushed or swapped dbs) go to the blocking core, served after the
        // top-level command. Modified keys feed WATCH (tracking will read them too).
        let modified = std::mem::take(&mut s.modified);
        for (db, key) in s.ready.drain(..) {
            self.blocking.key_ready(db, key);
        }
        for db in s.flushed.drain(..) {
            self.blocking.db_changed(db);
        }
        let flush = std::mem::take(&mut s.flush_happened);
        if flush {
            crate::tracking::flushed(self);
        }
        if !modified.is_empty() {
            let mut modified = modified;
            for (db, key, exists) in &modified {
                crate::multi::touch_watched_key(self, *db, key, *exists);
            }
            crate::tracking::keys_modified(self, &modified);
            // Keep the allocation for the next command's records.
            modified.clear();
            if self.ks.signals.modified.is_empty() {
                self.ks.signals.modified = modified;
            }
        }
        self.stats.expired_keys += n;
        self.ks.free_parked();
        for job in self.ks.take_lazy_frees() {
            self.lazy_free(job, 1);
        }
        let verb: &str = if self.settings.lazyfree_lazy_expire {
            "UNLINK"
        } else {
            "DEL"
        };
        for (db, key) in expired {
            self.propagator
                .push(db, OwnedArgv::from_args(&[verb.as_bytes(), &key]));
            if self.call_depth == 0 {
                self.propagator.flush();
            }
        }
        // Hash fields deleted by their TTL: `HDEL key field` each (propagateHashFieldDeletion),
        // one unit per field outside a command, as the active expiry of Redis 7.4.1.
        for (db, key, field) in fields {
            self.propagator
                .push(db, OwnedArgv::from_args(&[&b"HDEL"[..], &key, &field]));
            if self.call_depth == 0 {
                self.propagator.flush();
            }
        }
        self.ks.signals.pending = false;
        for e in events {
            crate::pubsub::publish_keyspace_event(self, running, e.db, e.ev.name, &e.key);
        }
    }

    /// Hands a value holding `objects` keys or values (1 for a value, the key count for a
    /// whole db) to the lazy-free thread, or drops it here if the thread is gone. INFO's
    /// `lazyfree_pending_objects` / `lazyfreed_objects` count objects, as Redis's.
    pub fn lazy_free(&mut self, job: LazyFreeJob, objects: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.stats.lazyfreed_objects += objects;
        match &self.lazyfree_tx {
            Some(tx) => {
                self.lazyfree_pending.fetch_add(objects, Relaxed);
                if let Err(e) = tx.send((job, objects)) {
                    self.lazyfree_pending.fetch_sub(objects, Relaxed);
                    drop(e.0);
                }
            }
            None => drop(job),
        }
    }

    /// Counts an error reply for INFO errorstats.
    pub fn count_errors(&mut self, codes: &mut Vec<String>) {
        for code in codes.drain(..) {
            self.stats.total_error_replies += 1;
            // Redis caps the number of distinct error codes tracked at 128.
            if self.stats.errorstats.len() < 128 || self.stats.errorstats.contains_key(&code) {
                *self.stats.errorstats.entry(code).or_insert(0) += 1;
            }
        }
    }

    /// Allocates the next client id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_client_id;
        self.next_client_id += 1;
        id
    }

    /// Number of seconds since start.
    pub fn uptime_s(&self) -> i64 {
        self.started.elapsed().as_secs() as i64
    }

    /// True when client `k` must authenticate before running commands (Redis
    /// `authRequired()`): the default user has a password and the client has not logged in.
    #[inline]
    pub fn auth_required(&self, k: usize) -> bool {
        !self.clients[k].authenticated && self.acl.default_needs_auth()
    }

    /// False while expiry is suspended (CLIENT PAUSE WRITE or ALL, as Redis's
    /// `PAUSE_ACTION_EXPIRE`): expired keys then read as missing but are not deleted, so no
    /// DEL is propagated during a failover pause. Also false while a file loads: Redis's
    /// `hashTypeGetValue` lets an expired hash field read as missing during `server.loading`
    /// but never deletes it there (keys do not expire at all while loading: `lookup_in`).
    #[inline]
    pub fn may_expire(&self) -> bool {
        !self.loading && self.paused().is_none()
    }

    /// True while clients are paused (for all commands, or only writes).
    pub fn paused(&self) -> Option<bool> {
        if self.pause.until_ms > self.now_ms {
            Some(self.pause.write_only)
        } else {
            None
        }
    }

    /// The periodic tasks (Redis `serverCron`), called about `hz` times per second.
    pub fn cron(&mut self) {
        self.clock = Clock::sync();
        self.update_time();
        self.cron_loops += 1;
        // Stats samples every 100 ms.
        if self
            .stats
            .samples
            .back()
            .is_none_or(|s| self.now_ms - s.ms >= 100)
        {
            let s = StatsSample {
                ms: self.now_ms,
                commands: self.stats.total_commands_processed,
                net_in: self.stats.total_net_input_bytes,
                net_out: self.stats.total_net_output_bytes,
                el_cycles: self.stats.eventloop_cycles,
                el_duration_us: self.stats.eventloop_duration_sum_us,
            };
            self.stats.samples.push_back(s);
            if self.stats.samples.len() > 17 {
                self.stats.samples.pop_front();
            }
            // Refreshing jemalloc's stats costs ~100k instructions: once a second is enough.
            if self.cron_loops % (self.hz.max(1) as u64) == 0 {
                let used = crate::evict::used_memory(self);
                self.used_memory_peak = self.used_memory_peak.max(used);
                // Start-up scratch (the command table's metadata, thread caches) is released
                // after the measurement: the baseline never exceeds what is in use.
                self.used_memory_startup = self.used_memory_startup.min(used);
            }
        }
        crate::net::clients_cron(self);
        if self.active_expire_enabled {
            crate::expire::active_expire_cycle(self, crate::expire::CycleKind::Slow);
        }
        let rehash = self
            .settings
            .activerehashing
            .then_some(std::time::Duration::from_millis(1));
        self.ks.cron_resize(rehash);
        crate::persist::cron(self);
        crate::aof::cron(self);
        self.dispatch_signals(None);
        if self.pause.until_ms != 0 && self.pause.until_ms <= self.now_ms {
            crate::client::unpause(self);
        }
    }

    /// Records this cron's largest client query / output buffers in the per-second ring.
    pub fn track_recent_buffers(&mut self, input: usize, output: usize) {
        let sec = self.now_ms / 1000;
        let slot = (sec % 8) as usize;
        if sec != self.recent_peaks_sec {
            // Entering a new second: forget what this slot held 8 seconds ago.
            self.recent_peaks_sec = sec;
            self.recent_peaks[slot] = (0, 0);
        }
        let p = &mut self.recent_peaks[slot];
        *p = (p.0.max(input), p.1.max(output));
    }

    /// (client_recent_max_input_buffer, client_recent_max_output_buffer) over 8 seconds.
    pub fn recent_max_buffers(&self) -> (usize, usize) {
        self.recent_peaks
            .iter()
            .fold((0, 0), |a, p| (a.0.max(p.0), a.1.max(p.1)))
    }

    /// Instantaneous metrics from the samples (Redis `getInstantaneousMetric`).
    pub fn instantaneous(&self) -> Instantaneous {
        let (Some(a), Some(b)) = (self.stats.samples.front(), self.stats.samples.back()) else {
            return Instantaneous::default();
        };
        let dt = (b.ms - a.ms) as f64 / 1000.0;
        if dt <= 0.0 {
            return Instantaneous::default();
        }
        // CONFIG RESETSTAT zeroes the counters while older samples remain: a window across a
        // reset reads as 0, never as an underflow (found by the command fuzz target).
        let cycles = b.el_cycles.saturating_sub(a.el_cycles);
        Instantaneous {
            ops_per_sec: (b.commands.saturating_sub(a.commands) as f64 / dt) as u64,
            input_kbps: b.net_in.saturating_sub(a.net_in) as f64 / dt / 1024.0,
            output_kbps: b.net_out.saturating_sub(a.net_out) as f64 / dt / 1024.0,
            el_cycles_per_sec: (cycles as f64 / dt) as u64,
            el_duration_us: b
                .el_duration_us
                .saturating_sub(a.el_duration_us)
                .checked_div(cycles)
                .unwrap_or(0),
        }
    }
}

/// Mask of the 24-bit LRU clock (Redis `LRU_CLOCK_MAX`).
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// Idle time in ms of an object with LRU field `lru` at clock `now` (Redis
/// `estimateObjectIdleTime`, resolution 1000 ms).
pub fn idle_ms(now: u32, lru: u32) -> u64 {
    if now >= lru {
        (now - lru) as u64 * 1000
    } else {
        (now as u64 + (LRU_CLOCK_MAX - lru) as u64) * 1000
    }
}
