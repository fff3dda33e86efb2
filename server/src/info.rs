//! INFO: the sections and field names of Redis 7.4 (`genRedisInfoString()`), so monitoring
//! tools that parse them keep working. Memory figures come from jemalloc's own statistics.

use crate::command::{Ctx, Handler};
use crate::server::Server;
use std::fmt::Write;

/// Bytes allocated by the process through jemalloc (`stats.allocated`).
pub fn used_memory() -> u64 {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    stats::allocated::read().unwrap_or(0) as u64
}

fn jemalloc_stat(kind: &str) -> u64 {
    use tikv_jemalloc_ctl::stats;
    match kind {
        "active" => stats::active::read().unwrap_or(0) as u64,
        "resident" => stats::resident::read().unwrap_or(0) as u64,
        _ => 0,
    }
}

/// Resident set size in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|p| p * page)
        .unwrap_or(0)
}

/// Redis's `bytesToHuman()`: B, K, M, G, T, P with two decimals.
pub fn bytes_to_human(n: u64) -> String {
    let d = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", d / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", d / (1024.0 * 1024.0))
    } else if n < 1024u64.pow(4) {
        format!("{:.2}G", d / 1024f64.powi(3))
    } else if n < 1024u64.pow(5) {
        format!("{:.2}T", d / 1024f64.powi(4))
    } else {
        format!("{:.2}P", d / 1024f64.powi(5))
    }
}

fn rusage(who: i32) -> (f64, f64) {
    // SAFETY: rusage is plain data (all-zero is valid) and getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(who, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) } as u64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

fn uname() -> String {
    // SAFETY: utsname is plain data (all-zero is valid) and uname fills the struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::uname(&mut u) };
    let f = |a: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field (zeroed before the call anyway).
        unsafe { std::ffi::CStr::from_ptr(a.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
}

/// Redis's `struct redisMemOverhead` (`getMemoryOverheadData`, object.c): the figures INFO
/// memory and MEMORY STATS / DOCTOR share. Bytes unless noted.
pub struct MemOverhead {
    /// `used_memory` ([`crate::evict::used_memory`]).
    pub total_allocated: u64,
    /// `used_memory_startup`.
    pub startup_allocated: u64,
    /// `used_memory_peak` (at least the current usage).
    pub peak_allocated: u64,
    /// Query and output buffers of the (normal) clients.
    pub clients_normal: u64,
    /// The AOF buffer's reserved bytes (0 with the AOF off).
    pub aof_buffer: u64,
    /// The EVAL script cache (`used_memory_scripts_eval`).
    pub lua_caches: u64,
    /// The functions' overhead (`used_memory_functions`).
    pub functions_caches: u64,
    /// Per non-empty db: (index, main table overhead, expires overhead). The main table is
    /// Pyrope's bucket arrays and overflow blocks; "expires" is its volatile list (8 bytes
    /// per key with a TTL: Pyrope has no second table).
    pub dbs: Vec<(usize, u64, u64)>,
    /// Old-table bytes of dbs in the middle of a rehash.
    pub db_rehashing: u64,
    /// Number of db tables rehashing.
    pub db_rehashing_count: u64,
    /// Sum of the overheads above plus the start-up memory.
    pub overhead_total: u64,
    /// Keys in every db.
    pub total_keys: u64,
    /// `total_allocated - overhead_total`.
    pub dataset: u64,
    /// Process RSS (`/proc/self/statm`).
    pub rss: u64,
    /// jemalloc's `stats.allocated` / `stats.active` / `stats.resident`.
    pub allocator_allocated: u64,
    pub allocator_active: u64,
    pub allocator_resident: u64,
}

impl MemOverhead {
    /// Gathers the figures now (refreshes jemalloc's stats epoch).
    pub fn compute(srv: &Server) -> MemOverhead {
        Self::compute_at(srv, crate::evict::used_memory(srv))
    }

    /// As [`MemOverhead::compute`] with `used_memory` read by the caller (INFO reads it
    /// before allocating its own arguments and text, so its scratch is not reported).
    pub fn compute_at(srv: &Server, used: u64) -> MemOverhead {
        let mut mh = MemOverhead {
            total_allocated: used,
            startup_allocated: srv.used_memory_startup,
            peak_allocated: srv.used_memory_peak.max(used),
            clients_normal: srv
                .clients
                .iter()
                .map(|(_, c)| c.input.qbuf.capacity() + c.out.buf.capacity())
                .sum::<usize>() as u64,
            aof_buffer: srv.propagator.aof.as_ref().map_or(0, |a| a.buf.capacity()) as u64,
            lua_caches: srv.scripting.cache_memory() as u64,
            functions_caches: srv.scripting.functions.overhead() as u64,
            dbs: Vec::new(),
            db_rehashing: 0,
            db_rehashing_count: 0,
            overhead_total: 0,
            total_keys: 0,
            dataset: 0,
            rss: rss_bytes(),
            allocator_allocated: used_memory(),
            allocator_active: jemalloc_stat("active"),
            allocator_resident: jemalloc_stat("resident"),
        };
        let mut total = mh.startup_allocated
            + mh.clients_normal
            + mh.aof_buffer
            + mh.lua_caches
            + mh.functions_caches;
        for d in 0..srv.ks.dbs() {
            let db = srv.ks.db(d);
            if db.is_empty() {
                continue;
            }
            mh.total_keys += db.len() as u64;
            let all = db.overhead_bytes() as u64;
            let expires = (db.volatile_len() as u64 * 8).min(all);
            mh.dbs.push((d, all - expires, expires));
            total += all;
            if db.is_rehashing() {
                mh.db_rehashing_count += 1;
            }
        }
        mh.overhead_total = total;
        mh.dataset = used.saturating_sub(total);
        mh
    }

    /// `used - startup`, at least 1 (Redis's `net_usage`).
    pub fn net_usage(&self) -> u64 {
        if self.total_allocated > self.startup_allocated {
            self.total_allocated - self.startup_allocated
        } else {
            1
        }
    }
}

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_EXTRA: &[&str] = &["commandstats", "latencystats"];

/// Builds the INFO text for the requested section names (lowercase; `default`, `all`,
/// `everything` expand as in Redis). `used` is `used_memory`, read by the caller before it allocated anything for the command.
pub fn info_string(srv: &Server, sections: &[String], used: u64) -> String {
    let mut want: Vec<&str> = Vec::new();
    if sections.is_empty() {
        want.extend(DEFAULT);
    }
    for s in sections {
        match s.as_str() {
            "default" => want.extend(DEFAULT),
            "all" | "everything" => {
                want.extend(DEFAULT);
                want.extend(ALL_EXTRA);
            }
            other => want.push(other),
        }
    }
    let order = [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "module_list",
        "commandstats",
        "errorstats",
        "latencystats",
        "cluster",
        "keyspace",
    ];
    let mut out = String::new();
    for sec in order {
        if !want
            .iter()
            .any(|w| *w == sec || (sec == "module_list" && *w == "modules"))
        {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section(srv, sec, &mut out, used);
    }
    out
}

fn section(srv: &Server, sec: &str, o: &mut String, used: u64) {
    let s = &srv.settings;
    match sec {
        "server" => {
            let _ = write!(
                o,
                "# Server\r\nredis_version:{}\r\npyrope_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                crate::server::REDIS_VERSION_REPORTED,
                crate::PYROPE_VERSION,
                uname(),
                std::process::id(),
                srv.run_id,
                s.port,
                srv.now_us,
                srv.uptime_s(),
                srv.uptime_s() / 86400,
                srv.hz,
                s.hz,
                srv.lruclock,
                srv.executable,
                srv.config.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            );
            for (i, l) in srv.listeners_info.iter().enumerate() {
                let _ = write!(o, "listener{i}:{l}\r\n");
            }
        }
        "clients" => {
            let tc = srv.tracking.clients();
            let _ = write!(
                o,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\ntracking_clients:{tc}\r\npubsub_clients:{}\r\nwatching_clients:{}\r\nclients_in_timeout_table:{}\r\ntotal_watched_keys:{}\r\ntotal_blocking_keys:{}\r\ntotal_blocking_keys_on_nokey:{}\r\n",
                srv.clients.iter().filter(|(_, c)| c.conn.is_some()).count(),
                s.maxclients,
                srv.recent_max_buffers().0,
                srv.recent_max_buffers().1,
                srv.blocking.blocked_clients(),
                srv.pubsub.clients,
                srv.watched.watching_clients(),
                srv.blocking.clients_in_timeout_table(),
                srv.watched.total_keys(),
                srv.blocking.blocking_keys(),
                srv.blocking.blocking_keys_on_nokey(),
            );
        }
        "memory" => {
            // What maxmemory compares (`zmalloc_used_memory`); allocator_allocated is
            // jemalloc's global figure (thread caches included).
            let mh = MemOverhead::compute_at(srv, used);
            let (used, peak, rss, overhead, dataset) = (
                mh.total_allocated,
                mh.peak_allocated,
                mh.rss,
                mh.overhead_total,
                mh.dataset,
            );
            let (allocated, active, resident) = (
                mh.allocator_allocated,
                mh.allocator_active,
                mh.allocator_resident,
            );
            let maxmemory: u64 = srv
                .config
                .get("maxmemory")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let frag = if used > 0 {
                rss as f64 / used as f64
            } else {
                0.0
            };
            let scripts = scripts_memory_fields(srv);
            let _ = write!(
                o,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{overhead}\r\nused_memory_startup:{}\r\nused_memory_dataset:{dataset}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{allocated}\r\nallocator_active:{active}\r\nallocator_resident:{resident}\r\nallocator_muzzy:0\r\ntotal_system_memory:{}\r\ntotal_system_memory_human:{}\r\n{scripts}maxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{frag:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{}\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:{}\r\nmem_cluster_links:0\r\nmem_aof_buffer:{}\r\nmem_allocator:jemalloc-5.3.0\r\nmem_overhead_db_hashtable_rehashing:0\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
                bytes_to_human(used),
                bytes_to_human(rss),
                bytes_to_human(peak),
                if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 0.0 },
                srv.used_memory_startup,
                if used > srv.used_memory_startup { dataset as f64 * 100.0 / (used - srv.used_memory_startup) as f64 } else { 0.0 },
                total_system_memory(),
                bytes_to_human(total_system_memory()),
                bytes_to_human(maxmemory),
                s.maxmemory_policy,
                if used > 0 { active as f64 / used as f64 } else { 0.0 },
                active.saturating_sub(used),
                if active > 0 { resident as f64 / active as f64 } else { 0.0 },
                resident.saturating_sub(active),
                if resident > 0 { rss as f64 / resident as f64 } else { 0.0 },
                rss.saturating_sub(resident),
                rss.saturating_sub(used),
                crate::evict::not_counted(srv),
                mh.clients_normal,
                mh.aof_buffer,
                srv.lazyfree_pending.load(std::sync::atomic::Ordering::Relaxed),
                srv.stats.lazyfreed_objects,
            );
        }
        "persistence" => {
            o.push_str("# Persistence\r\n");
            crate::persist::info_rdb(srv, o);
            crate::aof::info(srv, o);
        }
        "stats" => {
            let st = &srv.stats;
            let inst = srv.instantaneous();
            let (ops, ikbps, okbps) = (inst.ops_per_sec, inst.input_kbps, inst.output_kbps);
            let exceeded = crate::evict::exceeded_time_ms(srv);
            let (tk, ti, tp) = (
                srv.tracking.total_keys(),
                srv.tracking.total_items(),
                srv.tracking.total_prefixes(),
            );
            let _ = write!(
                o,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{ops}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{ikbps:.2}\r\ninstantaneous_output_kbps:{okbps:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_subkeys:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\nevicted_scripts:{}\r\ntotal_eviction_exceeded_time:{}\r\ncurrent_eviction_exceeded_time:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:{}\r\ntotal_forks:{}\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{tk}\r\ntracking_total_items:{ti}\r\ntracking_total_prefixes:{tp}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\nreply_buffer_shrinks:{}\r\nreply_buffer_expands:{}\r\neventloop_cycles:{}\r\neventloop_duration_sum:{}\r\neventloop_duration_cmd_sum:{}\r\ninstantaneous_eventloop_cycles_per_sec:{}\r\ninstantaneous_eventloop_duration_usec:{}\r\nacl_access_denied_auth:{}\r\nacl_access_denied_cmd:{}\r\nacl_access_denied_key:{}\r\nacl_access_denied_channel:{}\r\n",
                st.total_connections_received,
                st.total_commands_processed,
                st.total_net_input_bytes,
                st.total_net_output_bytes,
                st.rejected_connections,
                st.expired_subkeys,
                st.expired_keys,
                st.expired_stale_perc,
                st.expired_time_cap_reached_count,
                st.expire_cycle_cpu_us / 1000,
                st.evicted_keys,
                st.evicted_clients,
                srv.scripting.evicted_scripts,
                exceeded.0,
                exceeded.1,
                st.keyspace_hits,
                st.keyspace_misses,
                srv.pubsub.channel_count(),
                srv.pubsub.pattern_count(),
                srv.pubsub.shard_count(),
                srv.persist.latest_fork_usec,
                srv.persist.total_forks,
                st.total_error_replies,
                st.total_reads_processed,
                st.total_writes_processed,
                st.client_query_buffer_limit_disconnections,
                st.client_output_buffer_limit_disconnections,
                st.reply_buffer_shrinks,
                st.reply_buffer_expands,
                st.eventloop_cycles,
                st.eventloop_duration_sum_us,
                st.eventloop_duration_cmd_sum_us,
                inst.el_cycles_per_sec,
                inst.el_duration_us,
                srv.acl.denied_auth,
                srv.acl.denied_cmd,
                srv.acl.denied_key,
                srv.acl.denied_channel,
            );
        }
        "replication" => {
            let _ = write!(
                o,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                srv.replid
            );
        }
        "cpu" => {
            let (sys, user) = rusage(libc::RUSAGE_SELF);
            let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
            let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
            let _ = write!(
                o,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\nused_cpu_user_children:{cuser:.6}\r\nused_cpu_sys_main_thread:{tsys:.6}\r\nused_cpu_user_main_thread:{tuser:.6}\r\n"
            );
        }
        "module_list" => o.push_str("# Modules\r\n"),
        "commandstats" => {
            o.push_str("# Commandstats\r\n");
            for c in &srv.commands.cmds {
                let st = &c.stats;
                if st.calls == 0 && st.failed_calls == 0 && st.rejected_calls == 0 {
                    continue;
                }
                let per = if st.calls > 0 {
                    st.usec as f64 / st.calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    o,
                    "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                    c.fullname, st.calls, st.usec, per, st.rejected_calls, st.failed_calls
                );
            }
        }
        "errorstats" => {
            o.push_str("# Errorstats\r\n");
            let mut v: Vec<_> = srv.stats.errorstats.iter().collect();
            v.sort();
            for (code, n) in v {
                let _ = write!(o, "errorstat_{code}:count={n}\r\n");
            }
        }
        "latencystats" => {
            // latency_percentiles_usec_<cmd>:p50=..,p99=..,p99.9=.. (values in µs, 3
            // decimals, from ns histograms), for every command called since the last reset.
            o.push_str("# Latencystats\r\n");
            let cmds = if srv.settings.latency_tracking {
                &srv.commands.cmds[..]
            } else {
                &[]
            };
            for c in cmds {
                let Some(h) = &c.stats.latency else { continue };
                let _ = write!(o, "latency_percentiles_usec_{}:", c.fullname);
                for (j, p) in srv.settings.latency_percentiles.iter().enumerate() {
                    if j > 0 {
                        o.push(',');
                    }
                    let v = h.value_at_quantile(p / 100.0) as f64 / 1000.0;
                    let _ = write!(o, "p{}={v:.3}", pyrope_common::util::format_double(*p));
                }
                o.push_str("\r\n");
            }
        }
        "cluster" => o.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            for i in 0..srv.ks.dbs() {
                let d = srv.ks.db(i);
                if d.len() > 0 {
                    let _ = write!(
                        o,
                        "db{}:keys={},expires={},avg_ttl={},subexpiry={}\r\n",
                        i,
                        d.len(),
                        d.volatile_len(),
                        d.avg_ttl,
                        d.subexpiry()
                    );
                }
            }
        }
        _ => {}
    }
}

fn info(c: &mut Ctx) {
    // Read before this command allocates anything, as the maxmemory check before it did.
    let used = crate::evict::used_memory(c.srv);
    let sections: Vec<String> = c
        .argv
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let text = info_string(c.srv, &sections, used);
    c.out.verbatim(text.as_bytes());
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[("info", info)];
/// The scripting lines of INFO memory (`used_memory_lua` ... `used_memory_scripts_human`),
/// in Redis 7.4's order.
fn scripts_memory_fields(srv: &Server) -> String {
    let vm_eval = srv.scripting.vm_memory();
    let scripts_eval = srv.scripting.cache_memory();
    let vm_functions = srv.scripting.functions.vm_memory();
    let functions = srv.scripting.functions.overhead();
    format!(
        "used_memory_lua:{vm_eval}\r\nused_memory_vm_eval:{vm_eval}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{scripts_eval}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\nused_memory_vm_functions:{vm_functions}\r\nused_memory_vm_total:{}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{functions}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\n",
        bytes_to_human(vm_eval as u64),
        srv.scripting.cached_scripts(),
        srv.scripting.functions.count(),
        srv.scripting.functions.libraries_count(),
        vm_eval + vm_functions,
        bytes_to_human((vm_eval + vm_functions) as u64),
        scripts_eval + functions,
        bytes_to_human((scripts_eval + functions) as u64),
    )
}
