//! Command-line options: every flag of redis-benchmark 7 with the same spelling and defaults
//! (`-h` is the host, as there; the connection options are `pyrope_common::client::ConnArgs`,
//! the same group as pyrope-cli's, so `-u` takes the same URIs and `--pass` is there), plus
//! the open-loop, SLO, mix, key-pattern and output options that redis-benchmark lacks.

use clap::Parser;
use pyrope_common::client::ConnArgs;
use serde::Serialize;

/// pyrope-benchmark options. Serialized (secrets redacted) as the `config` of `--json`.
#[derive(Parser, Serialize, Debug, Clone)]
#[command(
    name = "pyrope-benchmark",
    disable_help_flag = true,
    disable_version_flag = true,
    about = "Measures throughput and latency of any RESP server (Pyrope or Redis).",
    long_about = "Measures throughput and latency of any RESP server (Pyrope or Redis).\n\
        Accepts every redis-benchmark option and prints the same report, -q and --csv lines, \
        so scripts that parse redis-benchmark parse this too. Adds HdrHistogram percentiles \
        up to p99.99, an open-loop mode corrected for coordinated omission (--rps), a \
        saturation search against a latency SLO (--slo), command mixes, key distributions, \
        duration-bound runs and JSON output.",
    after_help = "Examples:\n  \
        pyrope-benchmark -t set,get -n 1000000 -P 16 -q\n  \
        pyrope-benchmark -r 100000 -n 100000 lpush mylist __rand_int__\n  \
        pyrope-benchmark --rps 50000 --test-time 10 -t get\n  \
        pyrope-benchmark --slo p99.9=1ms -t get --test-time 3\n  \
        pyrope-benchmark --ratio 1:10 --key-pattern zipf:0.99 -r 1000000 --test-time 30 --json out.json"
)]
pub struct Args {
    /// -h -p -s -a --user --pass -u -3, shared with the other tools (in the JSON config
    /// with the password and the URI's password redacted).
    #[command(flatten)]
    #[serde(flatten, serialize_with = "conn_config")]
    pub conn: ConnArgs,
    /// Number of parallel connections.
    #[arg(short = 'c', value_name = "clients", default_value_t = 50)]
    pub clients: usize,
    /// Total number of requests per test.
    #[arg(short = 'n', value_name = "requests", default_value_t = 100000)]
    pub requests: u64,
    /// Data size of SET/GET values in bytes, or a range MIN-MAX picked uniformly per request.
    #[arg(short = 'd', value_name = "size", default_value = "3")]
    pub data_size: String,
    /// SELECT this db number before benchmarking (wins over a -u URI's db).
    #[arg(long, value_name = "db", default_value_t = 0)]
    pub dbnum: u32,
    /// Number of load-generating threads (each runs its own event loop); 0 = one thread.
    #[arg(long, value_name = "num", default_value_t = 0)]
    pub threads: usize,
    /// Cluster mode: spread the clients over the masters; keys in custom commands need "{tag}".
    #[arg(long)]
    pub cluster: bool,
    /// Send CLIENT TRACKING on before starting.
    #[arg(long)]
    pub enable_tracking: bool,
    /// Send CLIENT TRACKING on BCAST before starting (broadcasting mode, every key).
    #[arg(long)]
    pub tracking_bcast: bool,
    /// 1 = keep connections alive, 0 = reconnect after every request.
    #[arg(short = 'k', value_name = "boolean", default_value_t = 1)]
    pub keepalive: u8,
    /// Expand `__rand_int__` to 12-digit numbers in 0..keyspacelen-1.
    #[arg(short = 'r', value_name = "keyspacelen")]
    pub keyspacelen: Option<u64>,
    /// Pipeline this many requests per connection.
    #[arg(short = 'P', value_name = "numreq", default_value_t = 1)]
    pub pipeline: usize,
    /// Show server errors on stdout (at most one per second).
    #[arg(short = 'e')]
    pub show_errors: bool,
    /// Quiet: one line per test.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// HdrHistogram significant figures (1-5).
    #[arg(long, value_name = "digits", default_value_t = 3)]
    pub precision: u8,
    /// Output in CSV format.
    #[arg(long)]
    pub csv: bool,
    /// Loop: run the tests forever.
    #[arg(short = 'l')]
    pub loop_forever: bool,
    /// Only run these comma-separated tests (names as printed; ignored with a custom command).
    #[arg(short = 't', value_name = "tests")]
    pub tests: Option<String>,
    /// Idle mode: open N idle connections and wait.
    #[arg(short = 'I')]
    pub idle: bool,
    /// Read the last argument of the custom command from stdin.
    #[arg(short = 'x')]
    pub last_arg_from_stdin: bool,
    /// Seed of the random generator (keys, values, mixes).
    #[arg(long, value_name = "seed")]
    pub seed: Option<u64>,
    /// Open loop: send this many requests per second on a fixed schedule and measure latency
    /// from the intended send time (corrects coordinated omission).
    #[arg(long, value_name = "N")]
    pub rps: Option<u64>,
    /// Saturation search: raise the open-loop rate until the percentile breaks the bound, e.g.
    /// `p99.9=1ms` (units us, ms, s); report the highest rate that held.
    #[arg(long, value_name = "pXX=LIMIT")]
    pub slo: Option<String>,
    /// Mix SET and GET in this ratio (e.g. 1:10) as one test.
    #[arg(long, value_name = "SET:GET")]
    pub ratio: Option<String>,
    /// How `__rand_int__` picks keys (needs -r): sequential, uniform (default),
    /// zipf:<exponent>, gaussian.
    #[arg(long, value_name = "pattern")]
    pub key_pattern: Option<String>,
    /// Run each test for this many seconds instead of -n requests.
    #[arg(long, value_name = "seconds")]
    #[serde(rename = "test_time_s")]
    pub test_time: Option<f64>,
    /// Run each test this many seconds first and discard those results (they neither count
    /// nor use the -n budget).
    #[arg(long, value_name = "seconds")]
    #[serde(rename = "warmup_s")]
    pub warmup: Option<f64>,
    /// Write the latency distribution (HdrHistogram percentile format) to this file; with
    /// several tests, one file per test: FILE.<test>.hgrm (test title in lowercase, other
    /// characters than letters, digits, '.' and '-' as '_').
    #[arg(long, value_name = "file")]
    pub hdr_log: Option<String>,
    /// Write every figure of the run as JSON to this file (rewritten after each test, and
    /// on error).
    #[arg(long, value_name = "file")]
    pub json: Option<String>,
    /// Output this help and exit.
    #[arg(long, action = clap::ArgAction::Help)]
    #[serde(skip)]
    pub help: Option<bool>,
    /// Output version and exit.
    #[arg(long)]
    #[serde(skip)]
    pub version: bool,
    /// A command to benchmark instead of the default tests.
    #[arg(trailing_var_arg = true, value_name = "COMMAND ARGS")]
    pub command: Vec<String>,
}

/// The connection options as the JSON config shows them: every option under its own name,
/// a password as `(set)`, the URI without its password (`redis://user:(set)@host:port/db`).
fn conn_config<S: serde::Serializer>(c: &ConnArgs, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Conn<'a> {
        host: &'a str,
        port: u16,
        socket: Option<&'a str>,
        password: Option<&'static str>,
        user: Option<String>,
        pass: Option<&'static str>,
        uri: Option<String>,
        resp3: bool,
    }
    let set = |v: &Option<std::ffi::OsString>| v.as_ref().map(|_| "(set)");
    Conn {
        host: &c.host,
        port: c.port,
        socket: c.socket.as_deref(),
        password: set(&c.password),
        user: c.user.as_ref().map(|u| u.to_string_lossy().into_owned()),
        pass: set(&c.pass),
        uri: c.uri.as_deref().map(redacted_uri),
        resp3: c.resp3,
    }
    .serialize(s)
}

/// The URI without its password: `redis://user:(set)@host:port/db`.
fn redacted_uri(u: &str) -> String {
    match u.rsplit_once('@') {
        Some((auth, rest)) => match auth.split_once("://") {
            Some((scheme, cred)) => {
                let user = cred.split_once(':').map(|(u, _)| u).unwrap_or("");
                format!("{scheme}://{user}:(set)@{rest}")
            }
            None => format!("(set)@{rest}"),
        },
        None => u.to_string(),
    }
}
