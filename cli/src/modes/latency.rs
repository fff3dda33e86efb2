//! The latency modes: --latency / --latency-history (PING round trips, min/max/avg),
//! --latency-dist (redis-cli's colour spectrum), --intrinsic-latency (how long this machine
//! stalls a busy loop, no server involved).

use super::interval;
use crate::conn::Conn;
use crate::format::Mode;
use crate::Ctx;
use std::io::Write;
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn latency_line(mode: Mode, min: i64, max: i64, avg: f64, count: u64) -> String {
    match mode {
        Mode::Standard => format!("min: {min}, max: {max}, avg: {avg:.2} ({count} samples)"),
        Mode::Csv => format!("{min},{max},{avg:.2},{count}\n"),
        Mode::Raw => format!("{min} {max} {avg:.2} {count}\n"),
        Mode::Json | Mode::QuotedJson => {
            format!("{{\"min\": {min}, \"max\": {max}, \"avg\": {avg:.2}, \"count\": {count}}}\n")
        }
    }
}

/// --latency, --latency-history, --latency-dist: PING round trips in whole ms, one every
/// 10 ms, as redis-cli's `latencyMode`. On a terminal the line is redrawn after every
/// sample; otherwise --latency prints one line after `-i` seconds (default 1) and exits,
/// and --latency-history prints every sample. History ranges last `-i` seconds (default 15).
pub fn run(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect_strict()?;
    if ctx.args.latency_dist {
        return dist(ctx, conn);
    }
    let history_every = interval(ctx).unwrap_or(Duration::from_millis(15000));
    let single_shot = interval(ctx).unwrap_or(Duration::from_millis(1000));
    let standard = ctx.mode == Mode::Standard;
    let (mut min, mut max, mut tot, mut count) = (0i64, 0i64, 0i64, 0u64);
    let mut history_start = Instant::now();
    let mut out = std::io::stdout();
    loop {
        let t = now_ms();
        if conn.request(&["PING"]).is_err() {
            eprintln!("\nI/O error");
            return Ok(1);
        }
        let lat = now_ms() - t;
        count += 1;
        if count == 1 {
            (min, max, tot) = (lat, lat, lat);
        } else {
            min = min.min(lat);
            max = max.max(lat);
            tot += lat;
        }
        let avg = tot as f64 / count as f64;
        let line = latency_line(ctx.mode, min, max, avg, count);
        if standard {
            let _ = write!(out, "\x1b[0G\x1b[2K{line}");
        } else if ctx.args.latency_history {
            let _ = write!(out, "{line}");
        } else if history_start.elapsed() > single_shot {
            let _ = write!(out, "{line}");
            return Ok(0);
        }
        if ctx.args.latency_history && history_start.elapsed() > history_every {
            let _ = writeln!(
                out,
                " -- {:.2} seconds range",
                history_start.elapsed().as_secs_f64()
            );
            history_start = Instant::now();
            (min, max, tot, count) = (0, 0, 0, 0);
        }
        let _ = out.flush();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// redis-cli's --latency-dist palettes: 256-colour backgrounds from "no sample" to "every
/// sample".
const PALETTE_COLOR: [u8; 19] = [
    0, 233, 234, 235, 237, 239, 241, 243, 245, 247, 144, 143, 142, 184, 226, 214, 208, 202, 196,
];
const PALETTE_MONO: [u8; 13] = [
    0, 233, 234, 235, 237, 239, 241, 243, 245, 247, 249, 251, 253,
];

/// The spectrum's latency ranges (upper bound in microseconds, 0 for the last, open one)
/// and their characters, as redis-cli's `latencyDistMode`: mostly logarithmic, linear over
/// 1-10 ms.
const RANGES: [(u64, u8); 31] = [
    (10, b'.'),
    (125, b'-'),
    (250, b'*'),
    (500, b'#'),
    (1000, b'1'),
    (2000, b'2'),
    (3000, b'3'),
    (4000, b'4'),
    (5000, b'5'),
    (6000, b'6'),
    (7000, b'7'),
    (8000, b'8'),
    (9000, b'9'),
    (10000, b'A'),
    (20000, b'B'),
    (30000, b'C'),
    (40000, b'D'),
    (50000, b'E'),
    (100000, b'F'),
    (200000, b'G'),
    (300000, b'H'),
    (400000, b'I'),
    (500000, b'J'),
    (1000000, b'K'),
    (2000000, b'L'),
    (4000000, b'M'),
    (8000000, b'N'),
    (16000000, b'O'),
    (30000000, b'P'),
    (60000000, b'Q'),
    (0, b'?'),
];

/// The range a latency (microseconds) falls in.
fn range_of(us: u64) -> usize {
    RANGES
        .iter()
        .position(|&(max, _)| max == 0 || us <= max)
        .unwrap_or(RANGES.len() - 1)
}

/// redis-cli's `showLatencyDistLegend`.
pub fn dist_legend(palette: &[u8]) -> String {
    let mut s = String::from(
        "---------------------------------------------\n\
         . - * #          .01 .125 .25 .5 milliseconds\n\
         1,2,3,...,9      from 1 to 9     milliseconds\n\
         A,B,C,D,E        10,20,30,40,50  milliseconds\n\
         F,G,H,I,J        .1,.2,.3,.4,.5       seconds\n\
         K,L,M,N,O,P,Q,?  1,2,4,8,16,30,60,>60 seconds\n\
         From 0 to 100%: ",
    );
    for c in palette {
        s.push_str(&format!("\x1b[48;5;{c}m "));
    }
    s.push_str("\x1b[0m\n---------------------------------------------\n");
    s
}

/// One spectrum row (redis-cli's `showLatencyDistSamples`): black text, one cell per range
/// showing its character on a background as bright as the share of samples that fell in it.
pub fn dist_row(counts: &[u64; 31], total: u64, palette: &[u8]) -> String {
    let mut s = String::from("\x1b[38;5;0m");
    for (i, &(_, ch)) in RANGES.iter().enumerate() {
        let idx = (counts[i] as f64 / total.max(1) as f64 * (palette.len() - 1) as f64).ceil();
        let color = palette[(idx as usize).min(palette.len() - 1)];
        s.push_str(&format!("\x1b[48;5;{color}m{}", ch as char));
    }
    s.push_str("\x1b[0m\n");
    s
}

/// --latency-dist: every interval (default 1 s) one spectrum row, the legend every 20 rows.
fn dist(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    let palette: &[u8] = if ctx.args.mono {
        &PALETTE_MONO
    } else {
        &PALETTE_COLOR
    };
    let every = interval(ctx).unwrap_or(Duration::from_secs(1));
    let mut counts = [0u64; 31];
    let mut count = 0u64;
    let mut outputs = 0u64;
    let mut start = Instant::now();
    let mut out = std::io::stdout();
    loop {
        let t = Instant::now();
        if conn.request(&["PING"]).is_err() {
            eprintln!("\nI/O error");
            return Ok(1);
        }
        counts[range_of(t.elapsed().as_micros() as u64)] += 1;
        count += 1;
        if start.elapsed() > every {
            if outputs % 20 == 0 {
                let _ = out.write_all(dist_legend(palette).as_bytes());
            }
            outputs += 1;
            let _ = out.write_all(dist_row(&counts, count, palette).as_bytes());
            let _ = out.flush();
            counts = [0; 31];
            count = 0;
            start = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// redis-cli's `compute_something_fast`: a small RC4-like loop the compiler cannot remove.
fn compute_something_fast() -> u64 {
    let mut s = [0u8; 256];
    for (k, v) in s.iter_mut().enumerate() {
        *v = k as u8;
    }
    let (mut i, mut j) = (0u8, 0u8);
    let mut output = 0u64;
    for _ in 0..1000 {
        i = i.wrapping_add(1);
        j = j.wrapping_add(s[i as usize]);
        s.swap(i as usize, j as usize);
        output += s[(s[i as usize].wrapping_add(s[j as usize])) as usize] as u64;
    }
    std::hint::black_box(output)
}

/// --intrinsic-latency SECS: the worst stall of a busy loop over SECS seconds, reported as
/// each new maximum is seen, then the run count and average (SECS / runs, as redis-cli).
pub fn intrinsic(secs: u64) -> Result<i32, String> {
    let run_time_us = secs as f64 * 1e6;
    let test_end = Instant::now() + Duration::from_secs(secs);
    let mut max_latency = 0u128;
    let mut runs = 0u64;
    let mut out = std::io::stdout();
    loop {
        let t = Instant::now();
        compute_something_fast();
        let end = Instant::now();
        let lat = (end - t).as_micros();
        runs += 1;
        if lat == 0 {
            continue;
        }
        if lat > max_latency {
            max_latency = lat;
            let _ = writeln!(out, "Max latency so far: {max_latency} microseconds.");
            let _ = out.flush();
        }
        if end > test_end {
            let avg_us = run_time_us / runs as f64;
            let _ = writeln!(
                out,
                "\n{runs} total runs (avg latency: {avg_us:.4} microseconds / {:.2} nanoseconds per run).",
                avg_us * 1e3
            );
            let _ = writeln!(
                out,
                "Worst run took {:.0}x longer than the average latency.",
                max_latency as f64 / avg_us
            );
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectrum_ranges_and_row_as_redis_cli() {
        assert_eq!(RANGES[range_of(0)].1, b'.');
        assert_eq!(RANGES[range_of(10)].1, b'.');
        assert_eq!(RANGES[range_of(11)].1, b'-');
        assert_eq!(RANGES[range_of(1500)].1, b'2');
        assert_eq!(RANGES[range_of(45_000)].1, b'E');
        assert_eq!(RANGES[range_of(61_000_000)].1, b'?');
        let mut counts = [0u64; 31];
        counts[1] = 3;
        counts[2] = 1;
        let row = dist_row(&counts, 4, &PALETTE_COLOR);
        // ceil(3/4 * 18) = 14 -> 226; ceil(1/4 * 18) = 5 -> 239; empty ranges are 0.
        assert!(
            row.starts_with("\x1b[38;5;0m\x1b[48;5;0m.\x1b[48;5;226m-\x1b[48;5;239m*\x1b[48;5;0m#"),
            "{row:?}"
        );
        assert!(row.ends_with("\x1b[48;5;0m?\x1b[0m\n"));
    }
}
