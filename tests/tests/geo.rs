//! Geospatial commands against Redis 7.4.1 at volume: a few hundred deterministic
//! pseudo-random points (clusters, the whole globe, the poles' limits and the antimeridian,
//! duplicated positions) loaded into both servers, then many GEOSEARCH / GEORADIUS /
//! GEOSEARCHSTORE / GEODIST / GEOPOS / GEOHASH queries with random centres, radii, boxes,
//! units and options, in RESP2 and RESP3; every reply must be byte-identical. Also the
//! propagation stream of GEOADD (rewritten to ZADD) and the STORE forms, compared with what a
//! Redis replica receives.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::Duration;

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi].
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        lo + u * (hi - lo)
    }

    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const LAT: f64 = 85.05112878;

/// A random point: clustered around a few cities, anywhere, near the limits, or on a coarse
/// grid (so that several members share a position).
fn point(r: &mut Rng) -> (f64, f64) {
    match r.below(5) {
        0 => {
            let centres = [(13.36, 38.11), (-0.12, 51.5), (139.7, 35.7), (-74.0, 40.7)];
            let (x, y) = centres[r.below(centres.len() as u64) as usize];
            (x + r.range(-2.0, 2.0), y + r.range(-2.0, 2.0))
        }
        1 => (r.range(-180.0, 180.0), r.range(-LAT, LAT)),
        2 => {
            let x = if r.below(2) == 0 {
                r.range(175.0, 180.0)
            } else {
                r.range(-180.0, -175.0)
            };
            let y = if r.below(2) == 0 {
                r.range(80.0, LAT)
            } else {
                r.range(-LAT, -80.0)
            };
            (x, y)
        }
        3 => (
            (r.range(-180.0, 180.0) / 10.0).round() * 10.0,
            (r.range(-80.0, 80.0) / 10.0).round() * 10.0,
        ),
        _ => (r.range(-10.0, 10.0), r.range(-10.0, 10.0)),
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.6}")
}

/// Sends every command, then reads every reply (raw bytes).
fn batch(c: &mut Client, cmds: &[Vec<String>]) -> Vec<Vec<u8>> {
    for cmd in cmds {
        c.send(cmd).unwrap();
    }
    cmds.iter()
        .map(|_| c.read_reply_raw().expect("reply").1)
        .collect()
}

/// Runs `cmds` on both servers and asserts equal replies; returns (replies checked, replies
/// that were not empty arrays or zero).
fn compare(rc: &mut Client, pc: &mut Client, cmds: &[Vec<String>]) -> (usize, usize) {
    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut nonempty = 0;
    for chunk in cmds.chunks(200) {
        let a = batch(rc, chunk);
        let b = batch(pc, chunk);
        for (i, cmd) in chunk.iter().enumerate() {
            checked += 1;
            if a[i] != b"*0\r\n" && a[i] != b":0\r\n" {
                nonempty += 1;
            }
            if a[i] != b[i] && !same_scores(cmd, &a[i], &b[i]) && mismatches.len() < 10 {
                // Show the replies from a little before their first difference.
                let at = a[i].iter().zip(&b[i]).take_while(|(x, y)| x == y).count();
                let from = at.saturating_sub(100);
                let show = |v: &[u8]| {
                    String::from_utf8_lossy(&v[from..v.len().min(from + 400)]).replace("\r\n", " ")
                };
                let prev = if i > 0 {
                    chunk[i - 1].join(" ")
                } else {
                    String::new()
                };
                mismatches.push(format!(
                    "(after {prev})\n{}\n  (from byte {from})\n  redis : {}\n  pyrope: {}",
                    cmd.join(" "),
                    show(&a[i]),
                    show(&b[i])
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "replies differ from Redis 7.4.1:\n{}",
        mismatches.join("\n")
    );
    (checked, nonempty)
}

/// True when `cmd` is a ZRANGE ... WITHSCORES whose two replies hold the same members and
/// the same score doubles. Pyrope prints the shortest round-trip digits of a score where
/// Redis's Grisu2 (`fpconv_dtoa`) sometimes prints 17 (`211.41807149038561` for
/// `211.4180714903856`, one double): a score-formatting difference of the zset replies, not
/// of the geo maths, which is what STOREDIST checks here.
fn same_scores(cmd: &[String], a: &[u8], b: &[u8]) -> bool {
    if cmd[0] != "ZRANGE" {
        return false;
    }
    let parse = |v: &[u8]| match pyrope_common::resp::parse_frame(v) {
        Ok(Some((Frame::Array(Some(items)), _))) => Some(items),
        _ => None,
    };
    let (Some(x), Some(y)) = (parse(a), parse(b)) else {
        return false;
    };
    x.len() == y.len()
        && x.iter().zip(&y).enumerate().all(|(i, (p, q))| {
            if i % 2 == 0 {
                return p == q;
            }
            let num = |f: &Frame| std::str::from_utf8(f.as_bytes()?).ok()?.parse::<f64>().ok();
            matches!((num(p), num(q)), (Some(u), Some(v)) if u == v)
        })
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A random query: GEOSEARCH / GEORADIUS / GEORADIUSBYMEMBER / GEOSEARCHSTORE with random
/// shape, unit and options.
fn query(r: &mut Rng, n: usize) -> Vec<Vec<String>> {
    let units = ["m", "km", "ft", "mi"];
    let unit = r.pick(&units);
    // Radii from metres to half the globe (in metres, then in the unit).
    let metres = 10f64.powf(r.range(0.0, 7.3));
    let conv = match unit {
        "m" => 1.0,
        "km" => 1000.0,
        "ft" => 0.3048,
        _ => 1609.34,
    };
    let radius = format!("{:.3}", metres / conv);
    let width = format!("{:.3}", metres * r.range(0.2, 3.0) / conv);
    let height = format!("{:.3}", metres * r.range(0.2, 3.0) / conv);
    let (x, y) = point(r);
    let member = format!("p{}", r.below(n as u64));
    let mut opts: Vec<String> = Vec::new();
    for o in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
        if r.below(2) == 0 {
            opts.push(o.into());
        }
    }
    match r.below(4) {
        0 => opts.push("ASC".into()),
        1 => opts.push("DESC".into()),
        _ => {}
    }
    if r.below(3) == 0 {
        opts.push("COUNT".into());
        opts.push((1 + r.below(30)).to_string());
        if r.below(3) == 0 {
            opts.push("ANY".into());
        }
    }
    let from: Vec<String> = if r.below(3) == 0 {
        s(&["FROMMEMBER", &member])
    } else {
        s(&["FROMLONLAT", &fmt(x), &fmt(y)])
    };
    let by: Vec<String> = if r.below(2) == 0 {
        s(&["BYRADIUS", &radius, unit])
    } else {
        s(&["BYBOX", &width, &height, unit])
    };
    let mut out = Vec::new();
    match r.below(5) {
        0 | 1 => {
            let mut c = s(&["GEOSEARCH", "pts"]);
            c.extend(from);
            c.extend(by);
            c.extend(opts);
            out.push(c);
        }
        2 => {
            let mut c = s(&["GEORADIUS", "pts", &fmt(x), &fmt(y), &radius, unit]);
            c.extend(opts);
            out.push(c);
        }
        3 => {
            let mut c = s(&["GEORADIUSBYMEMBER_RO", "pts", &member, &radius, unit]);
            c.extend(opts);
            out.push(c);
        }
        _ => {
            let mut c = s(&["GEOSEARCHSTORE", "dst", "pts"]);
            c.extend(from);
            c.extend(by);
            c.extend(opts.into_iter().filter(|o| !o.starts_with("WITH")));
            if r.below(2) == 0 {
                c.push("STOREDIST".into());
            }
            out.push(c);
            out.push(s(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]));
        }
    }
    out
}

#[test]
fn random_points_and_searches_match_redis() {
    require_reference();
    let redis = TestServer::redis(&[]);
    let pyrope = TestServer::pyrope(&[]);
    let mut rc = redis.client();
    let mut pc = pyrope.client();
    let mut r = Rng(0x6765_6f5f_7465_7374);
    let n = 400;
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let mut add = s(&["GEOADD", "pts"]);
    for i in 0..n {
        let (x, y) = point(&mut r);
        add.extend([fmt(x), fmt(y), format!("p{i}")]);
        if add.len() > 60 {
            cmds.push(std::mem::replace(&mut add, s(&["GEOADD", "pts"])));
        }
    }
    cmds.push(add);
    cmds.push(s(&["ZRANGE", "pts", "0", "-1", "WITHSCORES"]));
    cmds.push(s(&["OBJECT", "ENCODING", "pts"]));
    let mut checked = (0, 0);
    let mut add_up = |(a, b): (usize, usize)| {
        checked.0 += a;
        checked.1 += b;
    };
    add_up(compare(&mut rc, &mut pc, &cmds));

    // Every position, geohash, and distances between random pairs.
    let mut cmds = Vec::new();
    let mut pos = s(&["GEOPOS", "pts"]);
    let mut hash = s(&["GEOHASH", "pts"]);
    for i in 0..n {
        pos.push(format!("p{i}"));
        hash.push(format!("p{i}"));
    }
    cmds.push(pos);
    cmds.push(hash);
    for _ in 0..300 {
        let a = format!("p{}", r.below(n as u64));
        let b = format!("p{}", r.below(n as u64));
        let unit = r.pick(&["m", "km", "ft", "mi"]);
        cmds.push(s(&["GEODIST", "pts", &a, &b, unit]));
    }
    for _ in 0..700 {
        cmds.extend(query(&mut r, n));
    }
    add_up(compare(&mut rc, &mut pc, &cmds));

    // The same in RESP3 (coordinates as doubles).
    for c in [&mut rc, &mut pc] {
        c.call(&["HELLO", "3"]).unwrap();
    }
    let mut cmds = Vec::new();
    let mut pos = s(&["GEOPOS", "pts"]);
    for i in 0..n {
        pos.push(format!("p{i}"));
    }
    cmds.push(pos);
    for _ in 0..300 {
        cmds.extend(query(&mut r, n));
    }
    add_up(compare(&mut rc, &mut pc, &cmds));

    // A skiplist-encoded index answers the same.
    for c in [&mut rc, &mut pc] {
        c.call(&["HELLO", "2"]).unwrap();
        c.call(&["CONFIG", "SET", "zset-max-listpack-entries", "16"])
            .unwrap();
        c.call(&["COPY", "pts", "pts2"]).unwrap();
        c.call(&["DEL", "pts"]).unwrap();
        c.call(&["ZUNIONSTORE", "pts", "1", "pts2"]).unwrap();
    }
    let mut cmds = vec![s(&["OBJECT", "ENCODING", "pts"])];
    for _ in 0..300 {
        cmds.extend(query(&mut r, n));
    }
    add_up(compare(&mut rc, &mut pc, &cmds));
    drop(add_up);
    eprintln!(
        "geo: {} replies identical, {} of them not empty",
        checked.0, checked.1
    );
    assert!(checked.1 > checked.0 / 2, "most queries should find points");
}

/// The commands of a propagation stream, one line each, replica PINGs dropped.
fn commands(stream: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (f, used) = pyrope_common::resp::parse_frame(rest)
            .unwrap()
            .expect("a whole frame");
        rest = &rest[used..];
        let Frame::Array(Some(parts)) = f else {
            panic!("non-command in stream: {f:?}")
        };
        let line = parts
            .iter()
            .map(|p| String::from_utf8_lossy(p.as_bytes().unwrap()).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        if line != "PING" {
            out.push(line);
        }
    }
    out
}

#[test]
fn geo_propagation_matches_a_redis_replica_stream() {
    require_reference();
    let redis = replica_source(&[]);
    let pyrope = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let mut rc = redis.client();
    let mut pc = pyrope.client();
    let mut replica = ReplicaLink::attach(&redis.addr());
    // The first DEBUG REPL-STREAM starts pyrope's capture.
    assert_eq!(
        pc.call(&["DEBUG", "REPL-STREAM"]).unwrap(),
        Frame::Bulk(Some(Vec::new()))
    );
    let steps: &[&[&str]] = &[
        &[
            "GEOADD",
            "g",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
        &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
        &[
            "GEOADD", "g", "ch", "Nx", "13.4", "38.1", "Palermo", "14", "37", "x",
        ],
        &[
            "GEOADD", "g", "XX", "CH", "13.4", "38.1", "Palermo", "14", "37", "y",
        ],
        &["GEOADD", "g", "200", "0", "bad"],
        &["GEOADD", "g", "NX", "XX", "1", "1", "a"],
        &[
            "GEOSEARCH",
            "g",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
        ],
        &["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d1"],
        &[
            "GEORADIUS",
            "g",
            "15",
            "37",
            "200",
            "km",
            "STOREDIST",
            "d1",
            "COUNT",
            "1",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "g",
            "Palermo",
            "200",
            "km",
            "STORE",
            "d2",
        ],
        &["GEORADIUS_RO", "g", "15", "37", "200", "km"],
        &[
            "GEOSEARCHSTORE",
            "d3",
            "g",
            "FROMLONLAT",
            "15",
            "37",
            "BYBOX",
            "400",
            "400",
            "km",
            "STOREDIST",
        ],
        &[
            "GEOSEARCHSTORE",
            "d3",
            "g",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCHSTORE",
            "d3",
            "g",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCHSTORE",
            "d4",
            "nokey",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &["GEORADIUS", "nokey", "0", "0", "1", "km", "STORE", "d1"],
        &["SET", "end", "1"],
    ];
    for step in steps {
        let a = rc.call(step).unwrap();
        let b = pc.call(step).unwrap();
        assert_eq!(a, b, "{step:?}");
    }
    let want = commands(&replica.drain(Duration::from_millis(500)));
    let got = match pc.call(&["DEBUG", "REPL-STREAM"]).unwrap() {
        Frame::Bulk(Some(b)) => commands(&b),
        other => panic!("DEBUG REPL-STREAM: {other:?}"),
    };
    assert_eq!(got, want);
    assert!(
        want.iter().any(|l| l.starts_with("zadd g ch Nx ")),
        "{want:?}"
    );
}
