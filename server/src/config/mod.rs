//! Configuration: every Redis 7.4 directive with its type, bounds, flags and default (the
//! table of Redis's config.c, in our own form), `redis.conf` loading, and the CONFIG command
//! (GET with glob patterns, atomic multi-parameter SET, RESETSTAT, REWRITE that keeps the
//! file's comments and layout).
//!
//! Values are kept in their canonical CONFIG GET form; the handful the server reads on hot
//! paths are mirrored into [`Settings`] by [`Config::settings`] after every change.
//! Directives whose feature Pyrope does not implement yet are accepted and stored (so
//! Debian's stock redis.conf loads), and listed in the startup log as not yet supported.

pub mod command;

use pyrope_common::glob::glob_match;
use pyrope_common::util::string2ll;

/// CONFIG SET refuses to change it.
pub const IMMUTABLE: u8 = 1;
/// Never shown in logs (passwords).
pub const SENSITIVE: u8 = 2;
/// Several words in one value (`save 3600 1 300 100`).
pub const MULTI_ARG: u8 = 4;
/// Only with `enable-protected-configs`.
pub const PROTECTED: u8 = 8;
/// Redis's `HIDDEN_CONFIG`: answered by CONFIG GET of its exact name only, never by a pattern
/// (debugging and test knobs).
pub const HIDDEN: u8 = 16;

/// The type of a directive's value, with Redis's validation rules.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// yes / no.
    Bool,
    /// A plain integer in `min..=max`.
    Int(i64, i64),
    /// An octal integer in `min..=max` (unixsocketperm).
    Octal(i64, i64),
    /// A byte count with optional unit (`1gb`, `100mb`, `5k`), in `min..=max`; with `percent`,
    /// also `N%` (stored negative, as Redis).
    Memory { min: i64, max: u64, percent: bool },
    /// One of the names; with `multi`, a space-separated set of them.
    Enum(&'static [&'static str], bool),
    /// Free text.
    Str,
    /// Hand-validated multi-word values (save, bind, client-output-buffer-limit, ...).
    Special,
}

/// One directive.
#[derive(Debug)]
pub struct Param {
    /// Canonical name.
    pub name: &'static str,
    /// Old name (slaveof, hash-max-ziplist-entries, ...).
    pub alias: Option<&'static str>,
    /// Value type.
    pub kind: Kind,
    /// IMMUTABLE | SENSITIVE | MULTI_ARG | PROTECTED.
    pub flags: u8,
    /// Default in canonical form.
    pub default: &'static str,
    /// True if Pyrope implements what the directive controls.
    pub supported: bool,
}

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const YES_NO_LOCAL: &[&str] = &["no", "yes", "local"];
const SHUTDOWN: &[&str] = &["default", "save", "nosave", "now", "force"];

macro_rules! p {
    ($name:expr, $alias:expr, $kind:expr, $flags:expr, $def:expr, $sup:expr) => {
        Param {
            name: $name,
            alias: $alias,
            kind: $kind,
            flags: $flags,
            default: $def,
            supported: $sup,
        }
    };
}

const IMAX: i64 = i32::MAX as i64;
const LMAX: u64 = i64::MAX as u64;

use Kind::*;

/// Every directive of Redis 7.4 that CONFIG GET * lists, plus the ones only config files use.
pub static PARAMS: &[Param] = &[
    // Hidden (Redis 7.4's HIDDEN_CONFIG set, found by asking the oracle for each name its
    // binary holds): accepted and kept; Pyrope's loading and saving do not use them yet.
    p!("use-exit-on-panic", None, Bool, HIDDEN, "no", false),
    p!("aof-disable-auto-gc", None, Bool, HIDDEN, "no", true),
    p!(
        "key-load-delay",
        None,
        Int(i32::MIN as i64, IMAX),
        HIDDEN,
        "0",
        false
    ),
    p!(
        "rdb-key-save-delay",
        None,
        Int(i32::MIN as i64, IMAX),
        HIDDEN,
        "0",
        true
    ),
    p!(
        "loading-process-events-interval-bytes",
        None,
        Int(1024, IMAX),
        HIDDEN,
        "2097152",
        false
    ),
    p!("watchdog-period", None, Int(0, IMAX), HIDDEN, "0", false),
    p!(
        "cluster-ping-interval",
        None,
        Int(0, i64::MAX),
        HIDDEN,
        "0",
        false
    ),
    // Booleans
    p!("rdbchecksum", None, Bool, IMMUTABLE, "yes", true),
    p!("daemonize", None, Bool, IMMUTABLE, "no", true),
    p!("io-threads-do-reads", None, Bool, IMMUTABLE, "no", false),
    p!("always-show-logo", None, Bool, IMMUTABLE, "no", true),
    p!("protected-mode", None, Bool, 0, "yes", true),
    p!("rdbcompression", None, Bool, 0, "yes", true),
    p!("rdb-del-sync-files", None, Bool, 0, "no", false),
    p!("activerehashing", None, Bool, 0, "yes", true),
    p!("stop-writes-on-bgsave-error", None, Bool, 0, "yes", true),
    p!("set-proc-title", None, Bool, IMMUTABLE, "yes", false),
    p!("dynamic-hz", None, Bool, 0, "yes", true),
    p!("lazyfree-lazy-eviction", None, Bool, 0, "no", false),
    p!("lazyfree-lazy-expire", None, Bool, 0, "no", true),
    p!("lazyfree-lazy-server-del", None, Bool, 0, "no", true),
    p!("lazyfree-lazy-user-del", None, Bool, 0, "no", true),
    p!("lazyfree-lazy-user-flush", None, Bool, 0, "no", true),
    p!("repl-disable-tcp-nodelay", None, Bool, 0, "no", false),
    p!("repl-diskless-sync", None, Bool, 0, "yes", false),
    p!("aof-rewrite-incremental-fsync", None, Bool, 0, "yes", true),
    p!("no-appendfsync-on-rewrite", None, Bool, 0, "no", true),
    p!("cluster-require-full-coverage", None, Bool, 0, "yes", false),
    p!("rdb-save-incremental-fsync", None, Bool, 0, "yes", false),
    p!("aof-load-truncated", None, Bool, 0, "yes", true),
    p!("aof-use-rdb-preamble", None, Bool, 0, "yes", true),
    p!("aof-timestamp-enabled", None, Bool, 0, "no", true),
    p!(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        Bool,
        0,
        "no",
        false
    ),
    p!(
        "replica-lazy-flush",
        Some("slave-lazy-flush"),
        Bool,
        0,
        "no",
        false
    ),
    p!(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        Bool,
        0,
        "yes",
        false
    ),
    p!(
        "replica-read-only",
        Some("slave-read-only"),
        Bool,
        0,
        "yes",
        false
    ),
    p!(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        Bool,
        0,
        "yes",
        false
    ),
    p!("jemalloc-bg-thread", None, Bool, 0, "yes", false),
    p!("activedefrag", None, Bool, 0, "no", false),
    p!("syslog-enabled", None, Bool, IMMUTABLE, "no", false),
    p!("cluster-enabled", None, Bool, IMMUTABLE, "no", false),
    p!("appendonly", None, Bool, 0, "no", true),
    p!("cluster-allow-reads-when-down", None, Bool, 0, "no", false),
    p!(
        "cluster-allow-pubsubshard-when-down",
        None,
        Bool,
        0,
        "yes",
        false
    ),
    p!("crash-log-enabled", None, Bool, 0, "yes", false),
    p!("crash-memcheck-enabled", None, Bool, 0, "yes", false),
    p!("disable-thp", None, Bool, IMMUTABLE, "yes", false),
    p!(
        "cluster-allow-replica-migration",
        None,
        Bool,
        0,
        "yes",
        false
    ),
    p!("replica-announced", None, Bool, 0, "yes", false),
    p!("latency-tracking", None, Bool, 0, "yes", true),
    p!(
        "replica-ignore-disk-write-errors",
        None,
        Bool,
        0,
        "no",
        false
    ),
    p!("hide-user-data-from-log", None, Bool, 0, "no", false),
    p!("io-threads", None, Int(1, 128), IMMUTABLE, "1", false),
    // Strings
    p!("aclfile", None, Str, IMMUTABLE, "", false),
    p!("unixsocket", None, Str, IMMUTABLE, "", true),
    p!("pidfile", None, Str, IMMUTABLE, "", true),
    p!(
        "replica-announce-ip",
        Some("slave-announce-ip"),
        Str,
        0,
        "",
        false
    ),
    p!("masteruser", None, Str, SENSITIVE, "", false),
    p!("cluster-announce-ip", None, Str, 0, "", false),
    p!(
        "cluster-config-file",
        None,
        Str,
        IMMUTABLE,
        "nodes.conf",
        false
    ),
    p!("cluster-announce-hostname", None, Str, 0, "", false),
    p!("cluster-announce-human-nodename", None, Str, 0, "", false),
    p!("syslog-ident", None, Str, IMMUTABLE, "redis", false),
    p!("dbfilename", None, Str, PROTECTED, "dump.rdb", true),
    p!(
        "appendfilename",
        None,
        Str,
        IMMUTABLE,
        "appendonly.aof",
        true
    ),
    p!("appenddirname", None, Str, IMMUTABLE, "appendonlydir", true),
    p!(
        "server-cpulist",
        Some("server_cpulist"),
        Str,
        IMMUTABLE,
        "",
        false
    ),
    p!(
        "bio-cpulist",
        Some("bio_cpulist"),
        Str,
        IMMUTABLE,
        "",
        false
    ),
    p!(
        "aof-rewrite-cpulist",
        Some("aof_rewrite_cpulist"),
        Str,
        IMMUTABLE,
        "",
        false
    ),
    p!(
        "bgsave-cpulist",
        Some("bgsave_cpulist"),
        Str,
        IMMUTABLE,
        "",
        false
    ),
    p!("ignore-warnings", None, Str, 0, "", false),
    p!(
        "proc-title-template",
        None,
        Str,
        0,
        "{title} {listen-addr} {server-mode}",
        false
    ),
    p!("bind-source-addr", None, Str, 0, "", false),
    p!("logfile", None, Str, IMMUTABLE, "", true),
    p!("locale-collate", None, Str, 0, "", false),
    p!("masterauth", None, Str, SENSITIVE, "", false),
    p!("requirepass", None, Str, SENSITIVE, "", true),
    // Enums
    p!(
        "supervised",
        None,
        Enum(&["upstart", "systemd", "auto", "no"], false),
        IMMUTABLE,
        "no",
        false
    ),
    p!(
        "syslog-facility",
        None,
        Enum(
            &[
                "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
                "local7"
            ],
            false
        ),
        IMMUTABLE,
        "local0",
        false
    ),
    p!(
        "repl-diskless-load",
        None,
        Enum(&["disabled", "on-empty-db", "swapdb"], false),
        0,
        "disabled",
        false
    ),
    p!("loglevel", None, Enum(LOGLEVELS, false), 0, "notice", true),
    p!(
        "maxmemory-policy",
        None,
        Enum(POLICIES, false),
        0,
        "noeviction",
        true
    ),
    p!(
        "appendfsync",
        None,
        Enum(&["everysec", "always", "no"], false),
        0,
        "everysec",
        true
    ),
    p!(
        "oom-score-adj",
        None,
        Enum(&["no", "yes", "relative", "absolute"], false),
        0,
        "no",
        false
    ),
    p!(
        "acl-pubsub-default",
        None,
        Enum(&["allchannels", "resetchannels"], false),
        0,
        "resetchannels",
        true
    ),
    p!(
        "sanitize-dump-payload",
        None,
        Enum(&["no", "yes", "clients"], false),
        0,
        "no",
        false
    ),
    p!(
        "enable-protected-configs",
        None,
        Enum(YES_NO_LOCAL, false),
        IMMUTABLE,
        "no",
        true
    ),
    p!(
        "enable-debug-command",
        None,
        Enum(YES_NO_LOCAL, false),
        IMMUTABLE,
        "no",
        true
    ),
    p!(
        "enable-module-command",
        None,
        Enum(YES_NO_LOCAL, false),
        IMMUTABLE,
        "no",
        false
    ),
    p!(
        "cluster-preferred-endpoint-type",
        None,
        Enum(&["ip", "hostname", "unknown-endpoint"], false),
        0,
        "ip",
        false
    ),
    p!(
        "propagation-error-behavior",
        None,
        Enum(&["ignore", "panic", "panic-on-replicas"], false),
        0,
        "ignore",
        false
    ),
    p!(
        "shutdown-on-sigint",
        None,
        Enum(SHUTDOWN, true),
        0,
        "default",
        false
    ),
    p!(
        "shutdown-on-sigterm",
        None,
        Enum(SHUTDOWN, true),
        0,
        "default",
        false
    ),
    p!(
        "tls-auth-clients",
        None,
        Enum(&["no", "yes", "optional"], false),
        0,
        "yes",
        false
    ),
    // Integers
    p!("databases", None, Int(1, IMAX), IMMUTABLE, "16", true),
    p!("port", None, Int(0, 65535), 0, "6379", true),
    p!(
        "auto-aof-rewrite-percentage",
        None,
        Int(0, IMAX),
        0,
        "100",
        true
    ),
    p!(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        Int(0, IMAX),
        0,
        "10",
        false
    ),
    p!(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        Int(i32::MIN as i64, IMAX),
        0,
        "-2",
        false
    ),
    p!("tcp-keepalive", None, Int(0, IMAX), 0, "300", true),
    p!(
        "cluster-migration-barrier",
        None,
        Int(0, IMAX),
        0,
        "1",
        false
    ),
    p!("active-defrag-cycle-min", None, Int(1, 99), 0, "1", false),
    p!("active-defrag-cycle-max", None, Int(1, 99), 0, "25", false),
    p!(
        "active-defrag-threshold-lower",
        None,
        Int(0, 1000),
        0,
        "10",
        false
    ),
    p!(
        "active-defrag-threshold-upper",
        None,
        Int(0, 1000),
        0,
        "100",
        false
    ),
    p!("lfu-log-factor", None, Int(0, IMAX), 0, "10", true),
    p!("lfu-decay-time", None, Int(0, IMAX), 0, "1", true),
    p!(
        "replica-priority",
        Some("slave-priority"),
        Int(0, IMAX),
        0,
        "100",
        false
    ),
    p!(
        "repl-diskless-sync-delay",
        None,
        Int(0, IMAX),
        0,
        "5",
        false
    ),
    p!("maxmemory-samples", None, Int(1, 64), 0, "5", false),
    p!(
        "maxmemory-eviction-tenacity",
        None,
        Int(0, 100),
        0,
        "10",
        false
    ),
    p!("timeout", None, Int(0, IMAX), 0, "0", true),
    p!(
        "replica-announce-port",
        Some("slave-announce-port"),
        Int(0, 65535),
        0,
        "0",
        false
    ),
    p!("tcp-backlog", None, Int(0, IMAX), IMMUTABLE, "511", true),
    p!("cluster-port", None, Int(0, 65535), IMMUTABLE, "0", false),
    p!(
        "cluster-announce-bus-port",
        None,
        Int(0, 65535),
        0,
        "0",
        false
    ),
    p!("cluster-announce-port", None, Int(0, 65535), 0, "0", false),
    p!(
        "cluster-announce-tls-port",
        None,
        Int(0, 65535),
        0,
        "0",
        false
    ),
    p!("repl-timeout", None, Int(1, IMAX), 0, "60", false),
    p!(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        Int(1, IMAX),
        0,
        "10",
        false
    ),
    p!("list-compress-depth", None, Int(0, IMAX), 0, "0", false),
    p!("active-expire-effort", None, Int(1, 10), 0, "1", true),
    p!("hz", None, Int(0, IMAX), 0, "10", true),
    p!(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        Int(0, IMAX),
        0,
        "0",
        false
    ),
    p!(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        Int(0, IMAX),
        0,
        "10",
        false
    ),
    p!("shutdown-timeout", None, Int(0, IMAX), 0, "10", false),
    p!(
        "repl-diskless-sync-max-replicas",
        None,
        Int(0, IMAX),
        0,
        "0",
        false
    ),
    p!(
        "max-new-connections-per-cycle",
        None,
        Int(1, 1000),
        0,
        "10",
        true
    ),
    p!(
        "max-new-tls-connections-per-cycle",
        None,
        Int(1, 1000),
        0,
        "1",
        false
    ),
    p!(
        "socket-mark-id",
        None,
        Int(0, u32::MAX as i64),
        0,
        "0",
        false
    ),
    p!(
        "maxclients",
        None,
        Int(1, u32::MAX as i64),
        0,
        "10000",
        true
    ),
    p!(
        "unixsocketperm",
        None,
        Octal(0, 0o777),
        IMMUTABLE,
        "0",
        true
    ),
    p!(
        "active-defrag-max-scan-fields",
        None,
        Int(1, i64::MAX),
        0,
        "1000",
        false
    ),
    p!("slowlog-max-len", None, Int(0, i64::MAX), 0, "128", true),
    p!("acllog-max-len", None, Int(0, i64::MAX), 0, "128", false),
    p!(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        Int(0, i64::MAX),
        0,
        "5000",
        false
    ),
    p!(
        "cluster-node-timeout",
        None,
        Int(0, i64::MAX),
        0,
        "15000",
        false
    ),
    p!(
        "slowlog-log-slower-than",
        None,
        Int(-1, i64::MAX),
        0,
        "10000",
        true
    ),
    p!(
        "latency-monitor-threshold",
        None,
        Int(0, i64::MAX),
        0,
        "0",
        true
    ),
    p!(
        "proto-max-bulk-len",
        None,
        Memory {
            min: 1024 * 1024,
            max: LMAX,
            percent: false
        },
        0,
        "536870912",
        true
    ),
    p!(
        "stream-node-max-entries",
        None,
        Int(0, i64::MAX),
        0,
        "100",
        false
    ),
    p!(
        "repl-backlog-size",
        None,
        Memory {
            min: 1,
            max: LMAX,
            percent: false
        },
        0,
        "1048576",
        false
    ),
    p!(
        "maxmemory",
        None,
        Memory {
            min: 0,
            max: u64::MAX,
            percent: false
        },
        0,
        "0",
        false
    ),
    p!(
        "cluster-link-sendbuf-limit",
        None,
        Memory {
            min: 0,
            max: u64::MAX,
            percent: false
        },
        0,
        "0",
        false
    ),
    p!(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        Int(0, i64::MAX),
        0,
        "512",
        false
    ),
    p!(
        "set-max-intset-entries",
        None,
        Int(0, i64::MAX),
        0,
        "512",
        false
    ),
    p!(
        "set-max-listpack-entries",
        None,
        Int(0, i64::MAX),
        0,
        "128",
        false
    ),
    p!(
        "set-max-listpack-value",
        None,
        Int(0, i64::MAX),
        0,
        "64",
        false
    ),
    p!(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        Int(0, i64::MAX),
        0,
        "128",
        false
    ),
    p!(
        "active-defrag-ignore-bytes",
        None,
        Memory {
            min: 1,
            max: LMAX,
            percent: false
        },
        0,
        "104857600",
        false
    ),
    p!(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        Memory {
            min: 0,
            max: LMAX,
            percent: false
        },
        0,
        "64",
        false
    ),
    p!(
        "stream-node-max-bytes",
        None,
        Memory {
            min: 0,
            max: LMAX,
            percent: false
        },
        0,
        "4096",
        false
    ),
    p!(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        Memory {
            min: 0,
            max: LMAX,
            percent: false
        },
        0,
        "64",
        false
    ),
    p!(
        "hll-sparse-max-bytes",
        None,
        Memory {
            min: 0,
            max: LMAX,
            percent: false
        },
        0,
        "3000",
        false
    ),
    p!(
        "tracking-table-max-keys",
        None,
        Int(0, i64::MAX),
        0,
        "1000000",
        false
    ),
    p!(
        "client-query-buffer-limit",
        None,
        Memory {
            min: 1024 * 1024,
            max: LMAX,
            percent: false
        },
        0,
        "1073741824",
        true
    ),
    p!(
        "maxmemory-clients",
        None,
        Memory {
            min: -100,
            max: LMAX,
            percent: true
        },
        0,
        "0",
        true
    ),
    p!("repl-backlog-ttl", None, Int(0, i64::MAX), 0, "3600", false),
    p!(
        "auto-aof-rewrite-min-size",
        None,
        Memory {
            min: 0,
            max: LMAX,
            percent: false
        },
        0,
        "67108864",
        true
    ),
    p!("tls-port", None, Int(0, 65535), 0, "0", false),
    p!(
        "tls-session-cache-size",
        None,
        Int(0, IMAX),
        0,
        "20480",
        false
    ),
    p!(
        "tls-session-cache-timeout",
        None,
        Int(0, IMAX),
        0,
        "300",
        false
    ),
    p!("tls-cluster", None, Bool, 0, "no", false),
    p!("tls-replication", None, Bool, 0, "no", false),
    p!("tls-prefer-server-ciphers", None, Bool, 0, "no", false),
    p!("tls-session-caching", None, Bool, 0, "yes", false),
    p!("tls-cert-file", None, Str, 0, "", false),
    p!("tls-key-file", None, Str, 0, "", false),
    p!("tls-key-file-pass", None, Str, SENSITIVE, "", false),
    p!("tls-client-cert-file", None, Str, 0, "", false),
    p!("tls-client-key-file", None, Str, 0, "", false),
    p!("tls-client-key-file-pass", None, Str, SENSITIVE, "", false),
    p!("tls-dh-params-file", None, Str, 0, "", false),
    p!("tls-ca-cert-file", None, Str, 0, "", false),
    p!("tls-ca-cert-dir", None, Str, 0, "", false),
    p!("tls-protocols", None, Str, 0, "", false),
    p!("tls-ciphers", None, Str, 0, "", false),
    p!("tls-ciphersuites", None, Str, 0, "", false),
    // Special
    p!("dir", None, Special, PROTECTED, "", true),
    p!(
        "save",
        None,
        Special,
        MULTI_ARG,
        "3600 1 300 100 60 10000",
        true
    ),
    p!(
        "client-output-buffer-limit",
        None,
        Special,
        MULTI_ARG,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true
    ),
    p!(
        "oom-score-adj-values",
        None,
        Special,
        MULTI_ARG,
        "0 200 800",
        false
    ),
    p!("notify-keyspace-events", None, Special, 0, "", false),
    p!("bind", None, Special, MULTI_ARG, "* -::*", true),
    p!(
        "replicaof",
        Some("slaveof"),
        Special,
        IMMUTABLE | MULTI_ARG,
        "",
        false
    ),
    p!(
        "latency-tracking-info-percentiles",
        None,
        Special,
        MULTI_ARG,
        "50 99 99.9",
        false
    ),
];

/// Config-file-only directives (not CONFIG GET parameters).
const FILE_ONLY: &[&str] = &[
    "include",
    "rename-command",
    "user",
    "loadmodule",
    "sentinel",
];

/// Hot settings, mirrored from the values after every change.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `notify-keyspace-events` as [`notify`] bits.
    pub notify_keyspace_events: u32,
    /// `list-max-listpack-size`: a quicklist node's limit (negative: byte class, positive:
    /// element count).
    pub list_max_listpack_size: i64,
    /// `list-compress-depth`: quicklist nodes kept raw at each end of a new quicklist (0: no
    /// compression; `quicklist->compress`, clamped to 65535 by the list).
    pub list_compress_depth: i64,
    pub port: u16,
    pub bind: Vec<String>,
    pub tcp_backlog: i32,
    pub unixsocket: String,
    pub unixsocketperm: u32,
    pub timeout_s: i64,
    pub tcp_keepalive_s: i64,
    pub maxclients: u64,
    pub databases: usize,
    pub hz: i64,
    pub dynamic_hz: bool,
    pub protected_mode: bool,
    pub requirepass: String,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    /// (hard, soft, soft seconds) for class normal, replica, pubsub, in bytes / s.
    pub obuf_limits: [(u64, u64, u64); 3],
    pub slowlog_log_slower_than_us: i64,
    pub slowlog_max_len: usize,
    /// `latency-monitor-threshold`, ms: the latency monitor samples events at least this
    /// long (0: off, nothing is measured).
    pub latency_monitor_threshold_ms: u64,
    /// `busy-reply-threshold` (alias `lua-time-limit`), ms: a script running longer makes
    /// the server answer -BUSY to others (0: never).
    pub busy_reply_threshold_ms: u64,
    pub active_expire_effort: i64,
    pub activerehashing: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_server_del: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    pub maxmemory_policy: String,
    /// maxmemory-policy is one of the *-lfu policies (keys carry LFU counters, not LRU clocks).
    pub lfu: bool,
    /// `maxmemory` in bytes (0 = no limit).
    pub maxmemory: u64,
    /// `maxmemory-clients`: bytes, or a negative percentage of `maxmemory` (0: off).
    pub maxmemory_clients: i64,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// `maxmemory-samples`: keys sampled per db and eviction-pool refill (1..=64).
    pub maxmemory_samples: usize,
    /// `maxmemory-eviction-tenacity` (0..=100): the time limit of one eviction run
    /// (`evictionTimeLimitUs`).
    pub maxmemory_eviction_tenacity: u32,
    /// `latency-tracking`: per-command latency histograms for INFO latencystats.
    pub latency_tracking: bool,
    /// `latency-tracking-info-percentiles` (0..=100).
    pub latency_percentiles: Vec<f64>,
    pub loglevel: usize,
    pub logfile: String,
    pub pidfile: String,
    pub daemonize: bool,
    pub always_show_logo: bool,
    pub max_new_connections_per_cycle: usize,
    /// `set-max-intset-entries`, `set-max-listpack-entries`, `set-max-listpack-value` (bytes).
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    /// `hash-max-listpack-entries` (alias `hash-max-ziplist-entries`).
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value` in bytes (alias `hash-max-ziplist-value`).
    pub hash_max_listpack_value: usize,
    /// `zset-max-listpack-entries` (alias `zset-max-ziplist-entries`).
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value` in bytes (alias `zset-max-ziplist-value`).
    pub zset_max_listpack_value: usize,
    /// `hll-sparse-max-bytes`: the largest sparse HyperLogLog (header included) before it is
    /// promoted to the dense representation (hyperloglog.c `server.hll_sparse_max_bytes`).
    pub hll_sparse_max_bytes: usize,
    /// `stream-node-max-entries`: entries (live + deleted) per stream node; 0 = no limit.
    pub stream_node_max_entries: i64,
    /// `stream-node-max-bytes`: listpack bytes per stream node; 0 = no limit (1 GiB cap).
    pub stream_node_max_bytes: usize,
}

/// The live configuration.
pub struct Config {
    values: Vec<String>,
    /// Directives as read from the config file with their line (for REWRITE).
    pub file: Option<std::path::PathBuf>,
    /// Directives seen in the config file / command line that are accepted but whose feature
    /// is not implemented yet.
    pub unsupported_seen: Vec<String>,
    /// The `user` directives, each `[name, rules...]` (applied by `acl::load_at_startup`).
    pub user_lines: Vec<Vec<String>>,
    /// Renamed commands from `rename-command` (old lowercase name, new name or "" to disable).
    pub renames: Vec<(String, String)>,
    /// A `save` line was already read from the file (later lines add to it).
    file_save_seen: bool,
    /// `notify-keyspace-events` classes that are on but that Redis's canonical string does not
    /// show (`n` next to `A`: `KEAn` reads back as `AKE`, yet new-key events are sent).
    notify_hidden: u32,
}

/// An error while setting a value: CONFIG SET puts it after "possibly related to argument".
pub type SetError = String;

/// Finds a parameter by name or alias (case-insensitive). Returns (index, via_alias).
pub fn lookup(name: &str) -> Option<usize> {
    let n = name.to_ascii_lowercase();
    PARAMS
        .iter()
        .position(|p| p.name == n || p.alias == Some(n.as_str()))
}

/// Parses a memory value as Redis's `memtoull()`: digits then an optional unit
/// (`b`, `k`=1000, `kb`=1024, `m`, `mb`, `g`, `gb`, case-insensitive). Returns None on error.
pub fn memtoull(s: &str) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    let digits_end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // strtoull() saturates at ULLONG_MAX on overflow, and memtoull() does not check ERANGE.
    let v: u64 = digits.bytes().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add((d - b'0') as u64)
    });
    v.checked_mul(mul)
}

fn yes_no(s: &str) -> Result<bool, SetError> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// Validates `raw` for `p` and returns its canonical CONFIG GET form.
fn canonical(p: &Param, raw: &str) -> Result<String, SetError> {
    // Redis reads booleans, enums (strcasecmp), memory values (memtoull) and octals
    // (strtoll) as C strings, so they stop at a NUL; plain integers use the full length.
    let raw = match p.kind {
        Bool | Enum(..) | Memory { .. } | Octal(..) => raw.split('\0').next().unwrap_or_default(),
        _ => raw,
    };
    match p.kind {
        Bool => Ok(if yes_no(raw)? { "yes" } else { "no" }.to_string()),
        Int(min, max) => {
            let v = string2ll(raw.as_bytes())
                .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            // Redis clamps hz to its supported range (CONFIG_MIN_HZ..CONFIG_MAX_HZ).
            if p.name == "hz" {
                return Ok(v.clamp(1, 500).to_string());
            }
            Ok(v.to_string())
        }
        Octal(min, max) => {
            let v = i64::from_str_radix(raw, 8)
                .map_err(|_| "argument couldn't be parsed as an octal number".to_string())?;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(format!("{v:o}"))
        }
        Memory { min, max, percent } => {
            if let Some(v) = memtoull(raw) {
                if (v as i128) < min as i128 || v > max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                return Ok(v.to_string());
            }
            if percent && raw.len() > 1 && raw.ends_with('%') {
                if let Some(v) = string2ll(raw[..raw.len() - 1].as_bytes()).filter(|v| *v >= 0) {
                    if -v < min {
                        return Err(format!(
                            "percentage argument must be less or equal to {}",
                            -min
                        ));
                    }
                    return Ok(format!("{v}%"));
                }
            }
            Err(if percent {
                "argument must be a memory or percent value"
            } else {
                "argument must be a memory value"
            }
            .into())
        }
        Enum(names, multi) => {
            let err = || {
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            };
            let words: Vec<String> = if multi {
                raw.split_whitespace()
                    .map(|w| w.to_ascii_lowercase())
                    .collect()
            } else {
                vec![raw.to_ascii_lowercase()]
            };
            if words.is_empty() || words.iter().any(|w| !names.contains(&w.as_str())) {
                return Err(err());
            }
            Ok(words.join(" "))
        }
        Str => Ok(raw.to_string()),
        Special => canonical_special(p.name, raw),
    }
}

fn canonical_special(name: &str, raw: &str) -> Result<String, SetError> {
    let words: Vec<&str> = raw.split_whitespace().collect();
    match name {
        "save" => {
            if words.len() % 2 != 0 {
                return Err("Invalid save parameters".into());
            }
            let mut out = Vec::new();
            for w in &words {
                // strtoll() on a C string: the number ends at a NUL byte.
                let w = w.split('\0').next().unwrap_or_default();
                if string2ll(w.as_bytes()).is_none_or(|v| v < 1) {
                    return Err("Invalid save parameters".into());
                }
                out.push(w);
            }
            Ok(out.join(" "))
        }
        "bind" => {
            if words.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            Ok(words.join(" "))
        }
        "client-output-buffer-limit" => {
            if words.len() % 4 != 0 {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            let mut limits = parse_obuf(DEFAULT_OBUF).expect("default");
            for chunk in words.chunks(4) {
                let class = match chunk[0].to_ascii_lowercase().as_str() {
                    "normal" => 0,
                    "slave" | "replica" => 1,
                    "pubsub" => 2,
                    _ => {
                        return Err(
                            "Invalid client class specified in buffer limit configuration.".into(),
                        )
                    }
                };
                let hard = memtoull(chunk[1]);
                let soft = memtoull(chunk[2]);
                let secs = string2ll(chunk[3].as_bytes()).filter(|v| *v >= 0);
                match (hard, soft, secs) {
                    (Some(h), Some(s), Some(t)) => limits[class] = (h, s, t as u64),
                    _ => return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into()),
                }
            }
            Ok(format_obuf(&limits))
        }
        "oom-score-adj-values" => {
            if words.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            for w in &words {
                if string2ll(w.as_bytes()).is_none_or(|v| !(-2000..=2000).contains(&v)) {
                    return Err(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                            .into(),
                    );
                }
            }
            Ok(words.join(" "))
        }
        "notify-keyspace-events" => {
            let flags = keyspace_events_parse(raw).ok_or_else(|| {
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
            })?;
            Ok(keyspace_events_format(flags))
        }
        "replicaof" => {
            if words.is_empty()
                || (words.len() == 2
                    && words[0].eq_ignore_ascii_case("no")
                    && words[1].eq_ignore_ascii_case("one"))
            {
                return Ok(String::new());
            }
            if words.len() != 2
                || string2ll(words[1].as_bytes()).is_none_or(|p| !(0..=65535).contains(&p))
            {
                return Err("Invalid master port".into());
            }
            Ok(words.join(" "))
        }
        "latency-tracking-info-percentiles" => {
            let mut out = Vec::new();
            for w in &words {
                let v: f64 = w.parse().map_err(|_| {
                    "Invalid latency-tracking-info-percentiles parameters".to_string()
                })?;
                if !(0.0..=100.0).contains(&v) {
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                }
                out.push(pyrope_common::util::format_double(v));
            }
            Ok(out.join(" "))
        }
        "dir" => {
            if raw.is_empty() {
                return Err("No such file or directory".into());
            }
            std::env::set_current_dir(raw).map_err(|e| crate::os_text(&e))?;
            Ok(std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default())
        }
        _ => Ok(raw.to_string()),
    }
}

const DEFAULT_OBUF: &str = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

fn parse_obuf(s: &str) -> Option<[(u64, u64, u64); 3]> {
    let w: Vec<&str> = s.split_whitespace().collect();
    let mut out = [(0, 0, 0); 3];
    for (i, c) in w.chunks(4).enumerate().take(3) {
        out[i] = (c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?);
    }
    Some(out)
}

fn format_obuf(l: &[(u64, u64, u64); 3]) -> String {
    format!(
        "normal {} {} {} slave {} {} {} pubsub {} {} {}",
        l[0].0, l[0].1, l[0].2, l[1].0, l[1].1, l[1].2, l[2].0, l[2].1, l[2].2
    )
}

/// Keyspace notification classes, as Redis's `NOTIFY_*` bits.
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 12;
    pub const NEW: u32 = 1 << 13;
    /// The `A` alias: g$lshzxetd.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Parses `notify-keyspace-events` classes (`KEA`, `Ex`...). None on an unknown character.
pub fn keyspace_events_parse(s: &str) -> Option<u32> {
    use notify::*;
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// Formats keyspace event flags as Redis's `keyspaceEventsFlagsToString()`.
pub fn keyspace_events_format(f: u32) -> String {
    use notify::*;
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    if f & KEYSPACE != 0 {
        s.push('K');
    }
    if f & KEYEVENT != 0 {
        s.push('E');
    }
    if f & KEY_MISS != 0 {
        s.push('m');
    }
    s
}

/// A config-file problem, reported as Redis's "FATAL CONFIG FILE ERROR" block.
#[derive(Debug)]
pub struct FileError {
    /// 1-based line, 0 for command-line arguments.
    pub line: usize,
    /// The offending line as written.
    pub text: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
            crate::REDIS_VERSION,
            self.line,
            self.text.trim(),
            self.reason
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Defaults for every parameter (`dir` is the current directory).
    pub fn new() -> Config {
        let mut values: Vec<String> = PARAMS.iter().map(|p| p.default.to_string()).collect();
        if let Some(i) = lookup("dir") {
            values[i] = std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
        }
        Config {
            values,
            file: None,
            unsupported_seen: Vec::new(),
            user_lines: Vec::new(),
            renames: Vec::new(),
            file_save_seen: false,
            notify_hidden: 0,
        }
    }

    /// Records `rename-command old new` with Redis's checks, against the command names as
    /// earlier renames left them: `old` must name a command ("No such command in
    /// rename-command"), `new` must not ("Target command name already exists").
    fn rename_command(&mut self, old: &str, new: &str) -> Result<(), &'static str> {
        let current = |n: &str, renames: &[(String, String)]| -> bool {
            let n = n.to_ascii_lowercase();
            let mut exists = crate::command::meta::redis_command_names().contains(&n);
            for (o, w) in renames {
                if *o == n {
                    exists = false;
                }
                if w.to_ascii_lowercase() == n {
                    exists = true;
                }
            }
            exists
        };
        if !current(old, &self.renames) {
            return Err("No such command in rename-command");
        }
        if !new.is_empty() && current(new, &self.renames) && !new.eq_ignore_ascii_case(old) {
            return Err("Target command name already exists");
        }
        self.renames
            .push((old.to_ascii_lowercase(), new.to_string()));
        Ok(())
    }

    /// The canonical value of parameter `name` (or alias).
    pub fn get(&self, name: &str) -> Option<&str> {
        lookup(name).map(|i| self.values[i].as_str())
    }

    /// Sets one parameter from config-file / command-line words (no IMMUTABLE check).
    pub fn set_from_file(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let Some(i) = lookup(name) else {
            return Err("Bad directive or wrong number of arguments".into());
        };
        let p = &PARAMS[i];
        let raw = if p.flags & MULTI_ARG != 0 || matches!(p.kind, Enum(_, true)) {
            args.join(" ")
        } else if args.len() == 1 {
            args[0].clone()
        } else {
            return Err("wrong number of arguments".into());
        };
        let val = if p.name == "save" || p.name == "client-output-buffer-limit" || p.name == "bind"
        {
            // In files these directives accumulate over several lines.
            self.accumulate(p, &raw)?
        } else {
            canonical(p, &raw)?
        };
        // `save ""` asks for no snapshots: for an unsupported `save` only a schedule would be
        // worth a warning.
        let asks_for_feature = if p.name == "save" {
            !val.is_empty()
        } else {
            val != p.default
        };
        if !p.supported && asks_for_feature && !self.unsupported_seen.iter().any(|n| n == p.name) {
            self.unsupported_seen.push(p.name.to_string());
        }
        self.note_hidden(i, &raw);
        self.values[i] = val;
        Ok(())
    }

    /// Remembers the classes of a `notify-keyspace-events` value its canonical string hides.
    fn note_hidden(&mut self, i: usize, raw: &str) {
        if PARAMS[i].name == "notify-keyspace-events" {
            let f = keyspace_events_parse(raw).unwrap_or(0);
            let shown = keyspace_events_parse(&keyspace_events_format(f)).unwrap_or(0);
            self.notify_hidden = f & !shown;
        }
    }

    fn accumulate(&mut self, p: &Param, raw: &str) -> Result<String, String> {
        let i = lookup(p.name).unwrap();
        let cur = &self.values[i];
        match p.name {
            "client-output-buffer-limit" => {
                // Each line changes one class, the others keep their current values.
                let mut merged =
                    parse_obuf(cur).unwrap_or_else(|| parse_obuf(DEFAULT_OBUF).unwrap());
                let one = canonical(p, raw)?;
                let w: Vec<&str> = raw.split_whitespace().collect();
                let parsed = parse_obuf(&one).unwrap();
                for c in w.chunks(4) {
                    let class = match c[0].to_ascii_lowercase().as_str() {
                        "normal" => 0,
                        "pubsub" => 2,
                        _ => 1,
                    };
                    merged[class] = parsed[class];
                }
                Ok(format_obuf(&merged))
            }
            "save" => {
                // `save ""` resets; several `save a b` lines add up (after the first resets
                // the default).
                let v = canonical(p, raw)?;
                if v.is_empty() || !self.file_save_seen {
                    self.file_save_seen = true;
                    return Ok(v);
                }
                Ok(format!("{cur} {v}").trim().to_string())
            }
            _ => canonical(p, raw),
        }
    }

    /// Loads config-file text (and then `--directive value` command-line pairs, which Redis
    /// appends to the file's text).
    pub fn load_text(&mut self, text: &str, from_file: bool) -> Result<(), FileError> {
        let directives = pyrope_common::conf::parse_config_text(text).map_err(|e| FileError {
            line: e.line,
            text: e.raw.clone(),
            reason: "Unbalanced quotes in configuration line".into(),
        })?;
        for d in directives {
            let args: Vec<String> = d
                .args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let err = |reason: String| FileError {
                line: d.line,
                text: d.raw.clone(),
                reason,
            };
            match d.name.as_str() {
                "include" => {
                    if args.len() != 1 {
                        return Err(err("Bad directive or wrong number of arguments".into()));
                    }
                    let t = std::fs::read_to_string(&args[0]).map_err(|e| {
                        err(format!(
                            "Fatal error, can't open config file '{}': {}",
                            args[0],
                            crate::os_text(&e)
                        ))
                    })?;
                    self.load_text(&t, from_file)?;
                }
                "rename-command" => {
                    if args.len() != 2 {
                        return Err(err("Bad directive or wrong number of arguments".into()));
                    }
                    self.rename_command(&args[0], &args[1])
                        .map_err(|e| err(e.into()))?;
                }
                "user" => {
                    if args.is_empty() {
                        return Err(err("Bad directive or wrong number of arguments".into()));
                    }
                    self.user_lines.push(args);
                }
                n if FILE_ONLY.contains(&n) => {
                    if !self.unsupported_seen.iter().any(|x| x == n) {
                        self.unsupported_seen.push(n.to_string());
                    }
                }
                name => {
                    if args.is_empty() {
                        return Err(err("Bad directive or wrong number of arguments".into()));
                    }
                    self.set_from_file(name, &args).map_err(err)?;
                }
            }
        }
        let _ = from_file;
        Ok(())
    }

    /// The hot settings derived from the values.
    pub fn settings(&self) -> Settings {
        let g = |n: &str| self.get(n).unwrap_or("");
        let i = |n: &str| g(n).parse::<i64>().unwrap_or(0);
        let b = |n: &str| g(n) == "yes";
        Settings {
            notify_keyspace_events: keyspace_events_parse(g("notify-keyspace-events")).unwrap_or(0)
                | self.notify_hidden,
            list_max_listpack_size: i("list-max-listpack-size"),
            list_compress_depth: i("list-compress-depth"),
            port: i("port") as u16,
            bind: g("bind").split_whitespace().map(str::to_string).collect(),
            tcp_backlog: i("tcp-backlog") as i32,
            unixsocket: g("unixsocket").to_string(),
            unixsocketperm: u32::from_str_radix(g("unixsocketperm"), 8).unwrap_or(0),
            timeout_s: i("timeout"),
            tcp_keepalive_s: i("tcp-keepalive"),
            maxclients: i("maxclients") as u64,
            databases: i("databases") as usize,
            hz: i("hz").clamp(1, 500),
            dynamic_hz: b("dynamic-hz"),
            protected_mode: b("protected-mode"),
            requirepass: g("requirepass").to_string(),
            proto_max_bulk_len: i("proto-max-bulk-len") as u64,
            client_query_buffer_limit: i("client-query-buffer-limit") as u64,
            obuf_limits: parse_obuf(g("client-output-buffer-limit")).unwrap_or_default(),
            slowlog_log_slower_than_us: i("slowlog-log-slower-than"),
            slowlog_max_len: i("slowlog-max-len") as usize,
            latency_monitor_threshold_ms: i("latency-monitor-threshold").max(0) as u64,
            busy_reply_threshold_ms: i("busy-reply-threshold").max(0) as u64,
            active_expire_effort: i("active-expire-effort"),
            activerehashing: b("activerehashing"),
            lazyfree_lazy_expire: b("lazyfree-lazy-expire"),
            lazyfree_lazy_eviction: b("lazyfree-lazy-eviction"),
            lazyfree_lazy_server_del: b("lazyfree-lazy-server-del"),
            lazyfree_lazy_user_del: b("lazyfree-lazy-user-del"),
            lazyfree_lazy_user_flush: b("lazyfree-lazy-user-flush"),
            maxmemory_policy: g("maxmemory-policy").to_string(),
            lfu: g("maxmemory-policy").ends_with("lfu"),
            maxmemory: g("maxmemory").parse().unwrap_or(0),
            maxmemory_clients: g("maxmemory-clients").parse().unwrap_or(0),
            lfu_log_factor: i("lfu-log-factor") as u32,
            lfu_decay_time: i("lfu-decay-time") as u32,
            maxmemory_samples: i("maxmemory-samples").clamp(1, 64) as usize,
            maxmemory_eviction_tenacity: i("maxmemory-eviction-tenacity").clamp(0, 100) as u32,
            latency_tracking: b("latency-tracking"),
            latency_percentiles: g("latency-tracking-info-percentiles")
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect(),
            loglevel: LOGLEVELS
                .iter()
                .position(|l| *l == g("loglevel"))
                .unwrap_or(2),
            logfile: g("logfile").to_string(),
            pidfile: g("pidfile").to_string(),
            daemonize: b("daemonize"),
            always_show_logo: b("always-show-logo"),
            max_new_connections_per_cycle: i("max-new-connections-per-cycle") as usize,
            set_max_intset_entries: i("set-max-intset-entries") as usize,
            set_max_listpack_entries: i("set-max-listpack-entries") as usize,
            set_max_listpack_value: i("set-max-listpack-value") as usize,
            hash_max_listpack_entries: i("hash-max-listpack-entries") as usize,
            hash_max_listpack_value: i("hash-max-listpack-value") as usize,
            zset_max_listpack_entries: i("zset-max-listpack-entries") as usize,
            zset_max_listpack_value: i("zset-max-listpack-value") as usize,
            hll_sparse_max_bytes: i("hll-sparse-max-bytes") as usize,
            stream_node_max_entries: i("stream-node-max-entries"),
            stream_node_max_bytes: i("stream-node-max-bytes") as usize,
        }
    }

    /// CONFIG GET: (name, value) pairs for every parameter or alias matching any pattern, each
    /// at most once, in table order (Redis's order is its dict order, which clients do not rely
    /// on).
    pub fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        // As Redis: an exact name is answered under the spelling the client used; glob
        // matches under the canonical names; duplicates (same spelling) once.
        let mut out: Vec<(String, String)> = Vec::new();
        let push = |name: String, v: &str, out: &mut Vec<(String, String)>| {
            if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                out.push((name, v.to_string()));
            }
        };
        for pat in patterns {
            let pat = crate::command::cstr(pat);
            let exact = !pat.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
            if exact {
                let typed = String::from_utf8_lossy(pat).into_owned();
                if let Some(i) = lookup(&typed) {
                    push(typed, &self.values[i], &mut out);
                }
                continue;
            }
            for (i, p) in PARAMS.iter().enumerate() {
                if p.flags & HIDDEN != 0 {
                    continue;
                }
                let v = &self.values[i];
                if glob_match(pat, p.name.as_bytes(), true) {
                    push(p.name.to_string(), v, &mut out);
                }
                if let Some(a) = p.alias {
                    if glob_match(pat, a.as_bytes(), true) {
                        push(a.to_string(), v, &mut out);
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET of several (name, value) pairs, all or nothing. `protected_ok` says whether
    /// PROTECTED parameters may be changed by this client. Returns the changed names.
    pub fn set_many(
        &mut self,
        pairs: &[(String, String)],
        protected_ok: bool,
    ) -> Result<Vec<&'static str>, String> {
        let mut staged: Vec<(usize, String, String)> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in pairs {
            // Redis uses names and scalar values as C strings (up to a NUL byte).
            let name = name.split('\0').next().unwrap_or_default();
            let Some(i) = lookup(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            let p = &PARAMS[i];
            let fail = |why: &str| {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
            };
            // Duplicates are the same name twice (an alias and its canonical name are not).
            if seen.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(fail("duplicate parameter"));
            }
            seen.push(name.to_string());
            if p.flags & IMMUTABLE != 0 {
                return Err(fail("can't set immutable config"));
            }
            if p.flags & PROTECTED != 0 && !protected_ok {
                return Err(fail("can't set protected config"));
            }
            staged.push((i, String::new(), value.clone()));
            let v = canonical(p, value).map_err(|e| fail(&e))?;
            staged.last_mut().unwrap().1 = v;
        }
        let mut names = Vec::new();
        for (i, v, raw) in staged {
            self.note_hidden(i, &raw);
            self.values[i] = v;
            names.push(PARAMS[i].name);
        }
        Ok(names)
    }

    /// A snapshot of every value (for rolling back a CONFIG SET whose effect failed).
    pub fn clone_values(&self) -> Vec<String> {
        self.values.clone()
    }

    /// Restores a snapshot taken with [`Config::clone_values`].
    pub fn restore_values(&mut self, v: Vec<String>) {
        self.values = v;
    }

    /// Sets a parameter bypassing IMMUTABLE (startup, tests). Validates like CONFIG SET.
    pub fn force_set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let i = lookup(name).ok_or_else(|| format!("unknown parameter {name}"))?;
        self.values[i] = canonical(&PARAMS[i], value)?;
        self.note_hidden(i, value);
        Ok(())
    }

    /// CONFIG REWRITE: rewrites the config file keeping comments, blank lines, unknown and
    /// file-only directives in place; each parameter's first line is replaced by its current
    /// value, later duplicates are dropped, and parameters that differ from their default but
    /// were not in the file are appended after a `# Generated by CONFIG REWRITE` line.
    ///
    /// `users`: the `user` lines to write (ACL LIST's), or None with an aclfile (the file's
    /// `user` lines are then dropped).
    pub fn rewrite(&self, users: Option<&[String]>) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("ERR The server is running without a config file".into());
        };
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let text = self.rewritten_text(&old, users.unwrap_or(&[]));
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, text.as_bytes())
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("ERR Rewriting config file: {e}"))
    }

    /// The new config-file text, as Redis's `rewriteConfig()` builds it: the old file is split
    /// on `\n` (so a final newline leaves an empty last line, which separates the appended
    /// block), each line trimmed; a directive's first line is replaced by its current value
    /// and its further lines blanked; directives not in the file whose value is not the
    /// default are appended, after `# Generated by CONFIG REWRITE` unless the file already
    /// has that line; runs of empty lines collapse to one. Lines Pyrope does not rewrite
    /// (comments, `rename-command`, `include`) are kept. `user` lines are replaced in place by
    /// `users` in order (the old ones left over are dropped, the new ones left over appended
    /// after the parameters), as `rewriteConfigUserOption`.
    fn rewritten_text(&self, old: &str, users: &[String]) -> String {
        let mut users = users.iter();
        const SIGNATURE: &str = "# Generated by CONFIG REWRITE";
        let mut done = vec![false; PARAMS.len()];
        let mut lines: Vec<String> = Vec::new();
        let mut needs_signature = true;
        let old_lines: Vec<&str> = if old.is_empty() {
            Vec::new()
        } else {
            old.split('\n').collect()
        };
        for raw in old_lines {
            let line = raw.trim_matches(|c| matches!(c, '\r' | '\n' | '\t' | ' '));
            if line.is_empty() || line.starts_with('#') {
                if line == SIGNATURE {
                    needs_signature = false;
                }
                lines.push(line.to_string());
                continue;
            }
            let name = pyrope_common::conf::split_args(line.as_bytes())
                .ok()
                .and_then(|a| a.into_iter().next())
                .map(|n| String::from_utf8_lossy(&n).to_ascii_lowercase());
            if name.as_deref() == Some("user") {
                lines.push(users.next().cloned().unwrap_or_default());
                continue;
            }
            match name.as_deref().and_then(lookup) {
                Some(i) if done[i] => lines.push(String::new()),
                Some(i) => {
                    done[i] = true;
                    lines.extend(self.rewrite_lines(i));
                }
                None => lines.push(line.to_string()),
            }
        }
        for (i, p) in PARAMS.iter().enumerate() {
            // `dir` is always written (Redis rewriteConfigDirOption: the current directory).
            if done[i] || (self.values[i] == p.default && p.name != "dir") {
                continue;
            }
            if needs_signature {
                lines.push(SIGNATURE.to_string());
                needs_signature = false;
            }
            lines.extend(self.rewrite_lines(i));
        }
        for u in users {
            if needs_signature {
                lines.push(SIGNATURE.to_string());
                needs_signature = false;
            }
            lines.push(u.clone());
        }
        let mut s = String::new();
        let mut was_empty = false;
        for l in &lines {
            if l.is_empty() {
                if was_empty {
                    continue;
                }
                was_empty = true;
            } else {
                was_empty = false;
            }
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// The config-file lines that express parameter `i`'s current value.
    fn rewrite_lines(&self, i: usize) -> Vec<String> {
        let p = &PARAMS[i];
        let v = &self.values[i];
        let q = |s: &str| pyrope_common::conf::quote_arg(s.as_bytes());
        match p.name {
            "save" if !v.is_empty() => v
                .split_whitespace()
                .collect::<Vec<_>>()
                .chunks(2)
                .map(|c| format!("save {} {}", c[0], c[1]))
                .collect(),
            "client-output-buffer-limit" => {
                let l = parse_obuf(v).unwrap_or_default();
                ["normal", "replica", "pubsub"]
                    .iter()
                    .enumerate()
                    .map(|(k, class)| {
                        format!(
                            "client-output-buffer-limit {class} {} {} {}",
                            mem_unit(l[k].0),
                            mem_unit(l[k].1),
                            l[k].2
                        )
                    })
                    .collect()
            }
            _ if p.flags & MULTI_ARG != 0 && !v.is_empty() => {
                vec![format!(
                    "{} {}",
                    p.name,
                    v.split_whitespace().map(q).collect::<Vec<_>>().join(" ")
                )]
            }
            // String options are always written quoted (Redis rewriteConfigStringOption uses
            // sdscatrepr), as are `dir` and `notify-keyspace-events`.
            "dir" | "notify-keyspace-events" => {
                vec![format!(
                    "{} {}",
                    p.name,
                    pyrope_common::conf::repr(v.as_bytes())
                )]
            }
            _ => match p.kind {
                Memory { .. } if !v.ends_with('%') => {
                    vec![format!("{} {}", p.name, mem_unit(v.parse().unwrap_or(0)))]
                }
                Str => vec![format!(
                    "{} {}",
                    p.name,
                    pyrope_common::conf::repr(v.as_bytes())
                )],
                _ => vec![format!("{} {}", p.name, q(v))],
            },
        }
    }
}

/// Formats bytes with the largest exact binary unit (`1gb`, `64mb`, `5kb`), as Redis's
/// `rewriteConfigFormatMemory()`.
pub fn mem_unit(v: u64) -> String {
    const GB: u64 = 1024 * 1024 * 1024;
    const MB: u64 = 1024 * 1024;
    if v != 0 && v % GB == 0 {
        format!("{}gb", v / GB)
    } else if v != 0 && v % MB == 0 {
        format!("{}mb", v / MB)
    } else if v != 0 && v % 1024 == 0 {
        format!("{}kb", v / 1024)
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(memtoull("1gb"), Some(1 << 30));
        assert_eq!(memtoull("1GB"), Some(1 << 30));
        assert_eq!(memtoull("5k"), Some(5000));
        assert_eq!(memtoull("100"), Some(100));
        assert_eq!(memtoull("1x"), None);
        assert_eq!(memtoull("-1"), None);
        assert_eq!(memtoull("100000000000000000000"), Some(u64::MAX));
        assert_eq!(memtoull("100000000000000000000k"), None);
        assert_eq!(mem_unit(256 << 20), "256mb");
        assert_eq!(mem_unit(1000), "1000");
    }

    #[test]
    fn set_validation_messages() {
        let mut c = Config::new();
        let e = |c: &mut Config, n: &str, v: &str| {
            c.set_many(&[(n.to_string(), v.to_string())], false)
                .unwrap_err()
        };
        assert_eq!(e(&mut c, "port", "abc"), "ERR CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer");
        assert_eq!(e(&mut c, "port", "70000"), "ERR CONFIG SET failed (possibly related to argument 'port') - argument must be between 0 and 65535 inclusive");
        assert_eq!(e(&mut c, "maxmemory", "1x"), "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value");
        assert_eq!(e(&mut c, "maxmemory-clients", "200%"), "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100");
        assert_eq!(e(&mut c, "daemonize", "yes"), "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config");
        assert_eq!(
            e(&mut c, "foo", "bar"),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        assert!(e(&mut c, "maxmemory-policy", "foo").ends_with("argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"));
        // Atomic: a bad second pair leaves the first unchanged.
        let r = c.set_many(
            &[("hz".into(), "20".into()), ("port".into(), "x".into())],
            false,
        );
        assert!(r.is_err());
        assert_eq!(c.get("hz"), Some("10"));
        c.set_many(
            &[
                ("hz".into(), "20".into()),
                ("maxmemory".into(), "1GB".into()),
            ],
            false,
        )
        .unwrap();
        assert_eq!(c.get("hz"), Some("20"));
        assert_eq!(c.get("maxmemory"), Some("1073741824"));
        assert_eq!(c.get("slave-read-only"), Some("yes"));
    }

    #[test]
    fn special_values() {
        let mut c = Config::new();
        c.set_many(&[("notify-keyspace-events".into(), "KEA".into())], false)
            .unwrap();
        assert_eq!(c.get("notify-keyspace-events"), Some("AKE"));
        c.set_many(
            &[(
                "client-output-buffer-limit".into(),
                "normal 1mb 2mb 3".into(),
            )],
            false,
        )
        .unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit"),
            Some("normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        );
        assert!(c
            .set_many(&[("save".into(), "1 2 3".into())], false)
            .unwrap_err()
            .ends_with("Invalid save parameters"));
    }

    #[test]
    fn debian_style_file_loads_and_rewrite_keeps_comments() {
        let mut c = Config::new();
        let text = "# top comment\nbind 127.0.0.1 -::1\nport 7000\nsave 900 1\nsave 300 10\nclient-output-buffer-limit replica 256mb 64mb 60\nappendonly no\n# tail\n";
        c.load_text(text, true).unwrap();
        assert_eq!(c.get("port"), Some("7000"));
        assert_eq!(c.get("save"), Some("900 1 300 10"));
        assert_eq!(c.get("bind"), Some("127.0.0.1 -::1"));
        c.set_many(
            &[("hz".into(), "15".into()), ("port".into(), "7001".into())],
            false,
        )
        .unwrap();
        let out = c.rewritten_text(text, &[]);
        assert!(
            out.starts_with(
                "# top comment\nbind 127.0.0.1 -::1\nport 7001\nsave 900 1\nsave 300 10\n"
            ),
            "{out}"
        );
        assert!(out.contains("# tail\n"));
        assert!(out.contains("# Generated by CONFIG REWRITE\n"));
        assert!(out.contains("\nhz 15\n"));
        let mut again = Config::new();
        again.load_text(&out, true).unwrap();
        assert_eq!(again.get("port"), Some("7001"));
        assert_eq!(again.get("hz"), Some("15"));
    }

    /// The layout Redis 7.4.1's CONFIG REWRITE produces (observed on the oracle): a blank
    /// line before the appended block, one signature ever, quoted strings, blank runs
    /// collapsed, extra occurrences of a directive blanked.
    #[test]
    fn rewrite_layout_follows_redis() {
        let mut c = Config::new();
        let text = "# my\nport 7000\n";
        c.load_text(text, true).unwrap();
        c.set_many(&[("maxmemory".into(), "5mb".into())], false)
            .unwrap();
        let dir = pyrope_common::conf::repr(c.get("dir").unwrap().as_bytes());
        let once = c.rewritten_text(text, &[]);
        assert!(
            once.starts_with("# my\nport 7000\n\n# Generated by CONFIG REWRITE\n"),
            "{once}"
        );
        assert!(once.contains(&format!("\ndir {dir}\n")), "{once}");
        assert!(once.contains("\nmaxmemory 5mb\n"), "{once}");
        // Rewriting a rewritten file: no second signature; the file's final newline leaves
        // one blank line, which separates newly appended directives.
        c.set_many(&[("hz".into(), "20".into())], false).unwrap();
        let twice = c.rewritten_text(&once, &[]);
        assert_eq!(twice.matches("# Generated by CONFIG REWRITE").count(), 1);
        assert!(twice.starts_with(&once), "{twice}");
        assert!(twice.ends_with("\n\nhz 20\n"), "{twice}");
        let thrice = c.rewritten_text(&twice, &[]);
        assert_eq!(thrice, format!("{twice}\n"));
        assert_eq!(
            c.rewritten_text(&thrice, &[]),
            thrice,
            "blank runs collapse"
        );
        // Strings are quoted; a repeated directive keeps its first place.
        let mut d = Config::new();
        let t = "pidfile /a.pid\nmaxmemory 1mb\n\n\nmaxmemory 2mb\n# end\n";
        d.load_text(t, true).unwrap();
        let out = d.rewritten_text(t, &[]);
        assert!(
            out.starts_with("pidfile \"/a.pid\"\nmaxmemory 2mb\n\n# end\n"),
            "{out}"
        );
    }

    #[test]
    fn misspelt_directive_is_refused() {
        let mut c = Config::new();
        let e = c.load_text("port 6379\nmaxmemroy 1gb\n", true).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.reason, "Bad directive or wrong number of arguments");
        assert!(e.to_string().contains(">>> 'maxmemroy 1gb'"));
    }
}
