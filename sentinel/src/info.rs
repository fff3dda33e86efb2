//! INFO of the sentinel (`sentinelInfoCommand`): the server, clients, stats and CPU sections
//! with Redis's field names, then `# Sentinel` with one `masterN:` line per master. Sections
//! are chosen as Redis does: none or `default`/`all`/`everything` give all five.

use crate::instance::{SRI_O_DOWN, SRI_S_DOWN};
use crate::log::mstime;
use crate::server::Server;
use std::fmt::Write;

/// The Redis version we report (clients gate features on it).
pub const REDIS_VERSION: &str = "7.4.0";
/// Our own version, reported beside it.
pub const PYROPE_VERSION: &str = env!("CARGO_PKG_VERSION");

const SECTIONS: [&str; 5] = ["server", "clients", "stats", "cpu", "sentinel"];

fn uname() -> String {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let f = |b: &[libc::c_char]| {
        let bytes: Vec<u8> = b
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
}

fn cpu() -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

/// The INFO text for `argv` (`INFO [section ...]`).
pub fn info(srv: &Server, argv: &[Vec<u8>]) -> String {
    let asked: Vec<String> = argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = asked.is_empty()
        || asked
            .iter()
            .any(|a| matches!(a.as_str(), "default" | "all" | "everything"));
    let mut out = String::new();
    for sec in SECTIONS {
        if !all && !asked.iter().any(|a| a == sec) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section(srv, sec, &mut out);
    }
    out
}

fn section(srv: &Server, sec: &str, o: &mut String) {
    let now = mstime();
    let uptime = (now - srv.start_time) / 1000;
    let st = &srv.sentinel;
    match sec {
        "server" => {
            let _ = write!(
                o,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\npyrope_version:{PYROPE_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:sentinel\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:10\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                uname(),
                std::process::id(),
                srv.run_id,
                srv.port(),
                now * 1000,
                uptime,
                uptime / 86400,
                srv.hz,
                (now / 1000) & ((1 << 24) - 1),
                srv.executable,
                st.cfg.path.display(),
            );
            for (i, b) in srv.bind.iter().enumerate() {
                let _ = write!(o, "listener{i}:name=tcp,bind={b},port={}\r\n", srv.port());
            }
        }
        "clients" => {
            let pubsub = srv
                .clients
                .values()
                .filter(|c| c.subscriptions() > 0)
                .count();
            let _ = write!(
                o,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:10000\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:0\r\ntracking_clients:0\r\npubsub_clients:{pubsub}\r\nwatching_clients:0\r\nclients_in_timeout_table:0\r\ntotal_watched_keys:0\r\ntotal_blocking_keys:0\r\ntotal_blocking_keys_on_nokey:0\r\n",
                srv.connected_clients()
            );
        }
        "stats" => {
            let s = &srv.stats;
            let channels: std::collections::HashSet<&String> = srv
                .clients
                .values()
                .flat_map(|c| c.channels.iter())
                .collect();
            let patterns: std::collections::HashSet<&String> = srv
                .clients
                .values()
                .flat_map(|c| c.patterns.iter())
                .collect();
            let _ = write!(o, "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\n",
                s.connections_received, s.commands_processed, s.net_input_bytes, s.net_output_bytes, s.rejected_connections);
            for k in [
                "sync_full",
                "sync_partial_ok",
                "sync_partial_err",
                "expired_subkeys",
                "expired_keys",
            ] {
                let _ = write!(o, "{k}:0\r\n");
            }
            o.push_str("expired_stale_perc:0.00\r\n");
            for k in [
                "expired_time_cap_reached_count",
                "expire_cycle_cpu_milliseconds",
                "evicted_keys",
                "evicted_clients",
                "evicted_scripts",
                "total_eviction_exceeded_time",
                "current_eviction_exceeded_time",
                "keyspace_hits",
                "keyspace_misses",
            ] {
                let _ = write!(o, "{k}:0\r\n");
            }
            let _ = write!(
                o,
                "pubsub_channels:{}\r\npubsub_patterns:{}\r\n",
                channels.len(),
                patterns.len()
            );
            for k in [
                "pubsubshard_channels",
                "latest_fork_usec",
                "total_forks",
                "migrate_cached_sockets",
                "slave_expires_tracked_keys",
                "active_defrag_hits",
                "active_defrag_misses",
                "active_defrag_key_hits",
                "active_defrag_key_misses",
                "total_active_defrag_time",
                "current_active_defrag_time",
                "tracking_total_keys",
                "tracking_total_items",
                "tracking_total_prefixes",
                "unexpected_error_replies",
            ] {
                let _ = write!(o, "{k}:0\r\n");
            }
            let _ = write!(o, "total_error_replies:{}\r\n", s.error_replies);
            for k in [
                "dump_payload_sanitizations",
                "total_reads_processed",
                "total_writes_processed",
                "io_threaded_reads_processed",
                "io_threaded_writes_processed",
                "client_query_buffer_limit_disconnections",
                "client_output_buffer_limit_disconnections",
                "reply_buffer_shrinks",
                "reply_buffer_expands",
                "eventloop_cycles",
                "eventloop_duration_sum",
                "eventloop_duration_cmd_sum",
                "instantaneous_eventloop_cycles_per_sec",
                "instantaneous_eventloop_duration_usec",
                "acl_access_denied_key",
                "acl_access_denied_channel",
            ] {
                if k == "acl_access_denied_key" {
                    let acl = &srv.sentinel.acl;
                    let _ = write!(
                        o,
                        "acl_access_denied_auth:{}\r\nacl_access_denied_cmd:{}\r\n",
                        acl.denied_auth, acl.denied_cmd
                    );
                }
                let _ = write!(o, "{k}:0\r\n");
            }
        }
        "cpu" => {
            let (sys, user) = cpu();
            let _ = write!(o, "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{sys:.6}\r\nused_cpu_user_main_thread:{user:.6}\r\n");
        }
        "sentinel" => {
            let _ = write!(
                o,
                "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{}\r\nsentinel_running_scripts:{}\r\nsentinel_scripts_queue_length:{}\r\nsentinel_simulate_failure_flags:{}\r\n",
                st.masters.len(),
                st.tilt as i32,
                if st.tilt { (now - st.tilt_start_time) / 1000 } else { -1 },
                st.scripts.running(),
                st.scripts.queue.len(),
                st.simfailure_flags,
            );
            for (i, m) in st.masters.iter().enumerate() {
                let status = if m.inst.flags & SRI_O_DOWN != 0 {
                    "odown"
                } else if m.inst.flags & SRI_S_DOWN != 0 {
                    "sdown"
                } else {
                    "ok"
                };
                let _ = write!(
                    o,
                    "master{i}:name={},status={status},address={}:{},slaves={},sentinels={}\r\n",
                    m.inst.name,
                    m.inst.addr.shown(),
                    m.inst.addr.port,
                    m.replicas.len(),
                    m.sentinels.len() + 1
                );
            }
        }
        _ => {}
    }
}
