//! Command-line options: redis-cli 7's options with the same spelling and meaning (`-h` is the
//! host), parsed by clap. The connection options are `pyrope_common::client::ConnArgs`, the
//! same group as the other tools'. `--cluster` and its `--cluster-*` options are taken out of argv
//! before clap runs (`modes::cluster::split_args`), as redis-cli parses them its own way.

use clap::Parser;
use pyrope_common::client::ConnArgs;
use std::ffi::OsString;

/// pyrope-cli options.
#[derive(Parser, Debug, Clone, Default)]
#[command(
    name = "pyrope-cli",
    disable_help_flag = true,
    disable_version_flag = true,
    about = "Interactive and scripting client for Pyrope and any Redis-compatible server.",
    long_about = "Interactive and scripting client for Pyrope and any Redis-compatible server.\n\
        Options, output formats and modes are redis-cli's, so its scripts keep working.\n\
        When no command is given, pyrope-cli starts in interactive mode; type \"help\" there.",
    after_help = "Examples:\n  \
        cat /etc/passwd | pyrope-cli -x set mypasswd\n  \
        pyrope-cli -r 100 lpush mylist x\n  \
        pyrope-cli -r 100 -i 1 info | grep used_memory_human:\n  \
        pyrope-cli --eval myscript.lua key1 key2 , arg1 arg2 arg3\n  \
        pyrope-cli --scan --pattern '*:12345*'\n\n  \
        (Note: when using --eval the comma separates KEYS[] from ARGV[] items)",
    mut_arg("password", |a| a.help(
        "Password to AUTH with (also from PYROPE_CLI_AUTH or REDISCLI_AUTH; this argument wins)"
    ))
)]
pub struct Args {
    /// -h -p -s -a --user --pass -u -3, shared with the other tools.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Read the password from the terminal without echo (ignores -a and the env vars).
    #[arg(long)]
    pub askpass: bool,
    /// Execute the command N times.
    #[arg(short = 'r', value_name = "repeat")]
    pub repeat: Option<i64>,
    /// Seconds to wait between repeats (-r), and per cycle in --scan, --stat...
    #[arg(short = 'i', value_name = "interval")]
    pub interval: Option<f64>,
    /// Database number.
    #[arg(short = 'n', value_name = "db")]
    pub db: Option<u32>,
    /// Server connection timeout in seconds (decimals allowed; default 0: no limit).
    #[arg(short = 't', value_name = "timeout", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// Read the last argument from stdin.
    #[arg(short = 'x')]
    pub stdin_last_arg: bool,
    /// Read the argument <tag> from stdin.
    #[arg(short = 'X', value_name = "tag")]
    pub stdin_tag: Option<OsString>,
    /// Delimiter between response bulks for raw formatting.
    #[arg(short = 'd', value_name = "delimiter", default_value = "\n")]
    pub bulk_delim: OsString,
    /// Delimiter between responses for raw formatting.
    #[arg(short = 'D', value_name = "delimiter", default_value = "\n")]
    pub cmd_delim: OsString,
    /// Cluster mode: follow -MOVED and -ASK redirections.
    #[arg(short = 'c')]
    pub cluster_mode: bool,
    /// Exit with an error code when a command fails.
    #[arg(short = 'e')]
    pub exit_on_error: bool,
    /// Client name (CLIENT SETNAME) for the connection.
    #[arg(long, value_name = "name")]
    pub name: Option<OsString>,
    /// Raw formatting (default when stdout is not a tty).
    #[arg(long)]
    pub raw: bool,
    /// Formatted output even when stdout is not a tty.
    #[arg(long)]
    pub no_raw: bool,
    /// Handle the input as quoted strings.
    #[arg(long)]
    pub quoted_input: bool,
    /// CSV output.
    #[arg(long)]
    pub csv: bool,
    /// JSON output (RESP3 unless -2).
    #[arg(long)]
    pub json: bool,
    /// JSON with ASCII-safe quoted strings.
    #[arg(long)]
    pub quoted_json: bool,
    /// Use RESP2 (with --json).
    #[arg(short = '2')]
    pub resp2: bool,
    /// Whether to print RESP3 PUSH messages ([y]es/[n]o; default yes when stdout is a tty).
    #[arg(long, value_name = "yn")]
    pub show_pushes: Option<String>,
    /// Rolling server stats.
    #[arg(long)]
    pub stat: bool,
    /// Sample latency continuously.
    #[arg(long)]
    pub latency: bool,
    /// Like --latency, one line per interval (default 15 s, -i).
    #[arg(long)]
    pub latency_history: bool,
    /// Latency spectrum (xterm 256 colors), interval 1 s (-i).
    #[arg(long)]
    pub latency_dist: bool,
    /// --latency-dist in grays instead of colors.
    #[arg(long)]
    pub mono: bool,
    /// Show the replication stream as a replica would receive it.
    #[arg(long)]
    pub replica: bool,
    /// Fetch an RDB dump into this file ("-" for stdout).
    #[arg(long, value_name = "filename")]
    pub rdb: Option<String>,
    /// Like --rdb, functions only.
    #[arg(long, value_name = "filename")]
    pub functions_rdb: Option<String>,
    /// Send raw RESP from stdin to the server (mass insertion).
    #[arg(long)]
    pub pipe: bool,
    /// --pipe: give up this many seconds after the last write without a reply (0 = never).
    #[arg(long, value_name = "n", default_value_t = 30)]
    pub pipe_timeout: u64,
    /// Find the keys with the most elements.
    #[arg(long)]
    pub bigkeys: bool,
    /// Find the keys using the most memory.
    #[arg(long)]
    pub memkeys: bool,
    /// MEMORY USAGE SAMPLES for --memkeys.
    #[arg(long, value_name = "n")]
    pub memkeys_samples: Option<u64>,
    /// Key sizes and lengths (--bigkeys and --memkeys together), top sizes and distributions
    /// (redis-cli 7.4).
    #[arg(long)]
    pub keystats: bool,
    /// --keystats with this MEMORY USAGE SAMPLES count.
    #[arg(long, value_name = "n", allow_hyphen_values = true)]
    pub keystats_samples: Option<String>,
    /// --keystats: start the scan at this cursor (usually after a Ctrl-C).
    #[arg(long, value_name = "n", allow_hyphen_values = true)]
    pub cursor: Option<String>,
    /// --keystats: how many top key sizes to show (default 10).
    #[arg(long, value_name = "n", allow_hyphen_values = true)]
    pub top: Option<String>,
    /// Find the hottest keys (needs an LFU maxmemory-policy).
    #[arg(long)]
    pub hotkeys: bool,
    /// List all keys with SCAN.
    #[arg(long)]
    pub scan: bool,
    /// Key pattern for --scan, --bigkeys, --hotkeys.
    #[arg(long, value_name = "pat")]
    pub pattern: Option<OsString>,
    /// Like --pattern, given as a quoted string (binary-safe).
    #[arg(long, value_name = "pat")]
    pub quoted_pattern: Option<OsString>,
    /// SCAN COUNT for --scan, --bigkeys, --memkeys, --hotkeys.
    #[arg(long, value_name = "count")]
    pub count: Option<u64>,
    /// Measure this machine's intrinsic latency for this many seconds.
    #[arg(long, value_name = "sec")]
    pub intrinsic_latency: Option<u64>,
    /// Run the Lua script in this file with EVAL (keys , args).
    #[arg(long, value_name = "file")]
    pub eval: Option<String>,
    /// Verbose mode: connection events (connects, redirections) on stderr.
    #[arg(long)]
    pub verbose: bool,
    /// Don't warn about passwords on the command line.
    #[arg(long)]
    pub no_auth_warning: bool,
    /// Output this help and exit.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Output version and exit.
    #[arg(long)]
    pub version: bool,
    /// The command and its arguments (interactive mode when absent).
    #[arg(trailing_var_arg = true, value_name = "cmd [arg [arg ...]]")]
    pub command: Vec<OsString>,
}
