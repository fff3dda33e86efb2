//! The special modes of redis-cli, with its output formats:
//! - [`pipe`]: --pipe (mass insertion);
//! - [`keys`]: --scan, --bigkeys / --memkeys, --hotkeys; [`keystats`]: --keystats;
//! - [`latency`]: --latency / --latency-history / --latency-dist, --intrinsic-latency;
//! - [`cluster`]: --cluster <subcommand> (redis-cli's cluster manager);
//! - [`sync`]: --rdb / --functions-rdb, --replica (the replication handshake);
//! - here: --stat and --eval.
//!
//! Every mode but --eval connects strictly: a failed AUTH or SELECT ends it with exit code 1,
//! as redis-cli's `if (cliConnect(0) == REDIS_ERR) exit(1)`.

pub mod cluster;
pub mod keys;
pub mod keystats;
pub mod latency;
pub mod pipe;
pub mod sync;
pub mod typedict;

use crate::conn::Conn;
use crate::Ctx;
use pyrope_common::resp::Frame;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

/// The `-i` interval, when positive.
fn interval(ctx: &Ctx) -> Option<Duration> {
    ctx.args
        .interval
        .filter(|i| *i > 0.0)
        .map(Duration::from_secs_f64)
}

/// A command whose failure to get a reply ends the mode.
fn request<A: AsRef<[u8]>>(conn: &mut Conn, args: &[A]) -> Result<Frame, String> {
    conn.request(args)
        .map_err(crate::conn::RequestError::message)
}

/// redis-cli's `bytesToHuman`: `1003B`, `4.03K`, `100.00M`, `2.32G`, `3.01T` (negative
/// values with a leading `-`).
pub fn bytes_to_human(n: i64) -> String {
    if n < 0 {
        return format!("-{}", bytes_to_human(n.checked_neg().unwrap_or(i64::MAX)));
    }
    let d = n as f64;
    const K: i64 = 1024;
    if n < K {
        format!("{n}B")
    } else if n < K * K {
        format!("{:.2}K", d / 1024.0)
    } else if n < K * K * K {
        format!("{:.2}M", d / (1024.0 * 1024.0))
    } else if n < K * K * K * K {
        format!("{:.2}G", d / 1024f64.powi(3))
    } else if n < K * K * K * K * K {
        format!("{:.2}T", d / 1024f64.powi(4))
    } else {
        // redis-cli prints nothing beyond terabytes; petabytes are more useful than nothing.
        format!("{:.2}P", d / 1024f64.powi(5))
    }
}

fn info_field(info: &str, field: &str) -> Option<i64> {
    info.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.trim().parse().ok())
}

fn info_text(f: &Frame) -> String {
    f.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// --stat: one line per interval (default 1 s) with keys, memory, clients, requests and
/// connections, a header every 20 lines.
pub fn stat(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect_strict()?;
    let every = interval(ctx).unwrap_or(Duration::from_secs(1));
    let mut last_requests: Option<i64> = None;
    let mut line = 0u64;
    loop {
        let r = request(conn, &["INFO"])?;
        let info = info_text(&r);
        let mut out = String::new();
        if line % 20 == 0 {
            out.push_str(
                "------- data ------ --------------------- load -------------------- - child -\n",
            );
            out.push_str(
                "keys       mem      clients blocked requests            connections          \n",
            );
        }
        line += 1;
        let keys: i64 = (0..20)
            .filter_map(|j| info_field(&info, &format!("db{j}")))
            .sum::<i64>()
            + (0..20)
                .filter_map(|j| {
                    info.lines()
                        .find_map(|l| l.strip_prefix(&format!("db{j}:keys=")))
                        .and_then(|v| v.split(',').next())
                        .and_then(|v| v.parse::<i64>().ok())
                })
                .sum::<i64>();
        out.push_str(&format!("{:<11}", keys));
        out.push_str(&format!(
            "{:<8}",
            bytes_to_human(info_field(&info, "used_memory").unwrap_or(0))
        ));
        out.push_str(&format!(
            " {:<8}",
            info_field(&info, "connected_clients").unwrap_or(0)
        ));
        out.push_str(&format!(
            "{:<8}",
            info_field(&info, "blocked_clients").unwrap_or(0)
        ));
        let req = info_field(&info, "total_commands_processed").unwrap_or(0);
        out.push_str(&format!(
            "{:<19}",
            format!("{req} (+{})", last_requests.map_or(0, |l| req - l))
        ));
        last_requests = Some(req);
        out.push_str(&format!(
            " {:<12}",
            info_field(&info, "total_connections_received").unwrap_or(0)
        ));
        let child = info_field(&info, "rdb_bgsave_in_progress").unwrap_or(0)
            | info_field(&info, "aof_rewrite_in_progress").unwrap_or(0) << 1
            | info_field(&info, "loading").unwrap_or(0) << 2;
        out.push_str(match child {
            1 => "SAVE",
            2 => "AOF",
            3 => "SAVE+AOF",
            4 => "LOAD",
            _ => "",
        });
        out.push('\n');
        print!("{out}");
        let _ = std::io::stdout().flush();
        std::thread::sleep(every);
    }
}

/// --eval FILE keys , args: `EVAL <script> <numkeys> keys... args...`; the first lone `,`
/// separates the keys from the arguments. The script and the arguments are bytes as given.
pub fn eval(ctx: &Ctx, conn: &mut Conn, file: &str) -> Result<i32, String> {
    let script = std::fs::read(file).map_err(|e| {
        format!(
            "Can't open file '{file}': {}",
            pyrope_common::client::os_error_text(&e)
        )
    })?;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut argv: Vec<Vec<u8>> = Vec::new();
    let mut after_comma = false;
    for w in &ctx.args.command {
        let w = w.as_bytes();
        if w == b"," && !after_comma {
            after_comma = true;
            continue;
        }
        if after_comma {
            argv.push(w.to_vec());
        } else {
            keys.push(w.to_vec());
        }
    }
    let mut cmd = vec![
        b"EVAL".to_vec(),
        script,
        keys.len().to_string().into_bytes(),
    ];
    cmd.extend(keys);
    cmd.extend(argv);
    let err = crate::send_command(ctx, conn, &cmd, 1, ctx.args.exit_on_error)?;
    Ok(i32::from(err && ctx.args.exit_on_error))
}

/// The progress bar of the samplers: on stderr, only when it is a terminal, so stdout keeps
/// redis-cli's exact output. Lines printed through it go to stdout above the bar.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(total_keys: u64) -> Progress {
        if !std::io::stderr().is_terminal() || total_keys < 10_000 {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total_keys);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {percent:>3}% {human_pos}/{human_len} keys, {per_sec}, eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress(Some(bar))
    }

    fn println(&self, line: String) {
        match &self.0 {
            Some(b) => b.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    fn set(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.set_position(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Progress in percent, as redis-cli's `100 * (double)sampled / total_keys`.
fn percent(sampled: u64, total: u64) -> f64 {
    if total > 0 {
        100.0 * sampled as f64 / total as f64
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(1000), "1000B");
        assert_eq!(bytes_to_human(2411724), "2.30M");
        assert_eq!(bytes_to_human(-2048), "-2.00K");
    }
}
