//! Byte-exactness of `listpack` and `intset` against Redis 7.4.1 itself.
//!
//! Each scenario is a short sequence of Redis commands that builds one small key. The same
//! commands are replayed on a [`Listpack`] / [`Intset`] by a tiny interpreter (RPUSH ->
//! `push_back`, LINSERT -> `find` + `insert_before/after`, HSET -> `find(skip=1)` + `replace_at`
//! or two `push_back`s, ZADD -> sorted insertion with `d2string` scores, SADD of integers ->
//! `Intset::add`...), and the bytes must equal the blob Redis holds for that key.
//!
//! How the expected blobs were obtained: `/opt/redis-7.4/redis-server` (7.4.1) was started with
//! `--port <free> --bind 127.0.0.1 --save '' --appendonly no --rdbcompression no
//! --hash-max-listpack-value 3000000` (no compression, so DUMP carries the blobs raw; a larger
//! value limit so a hash can hold the 16 KB and 2 MB backlen-boundary strings), the scenario's
//! commands were sent, `OBJECT ENCODING` checked, and `DUMP key` parsed: type byte, then for
//! RDB_TYPE_LIST_QUICKLIST_2 (18) one PACKED node holding the listpack, for
//! RDB_TYPE_HASH_LISTPACK (16), RDB_TYPE_ZSET_LISTPACK (17), RDB_TYPE_SET_LISTPACK (20) and
//! RDB_TYPE_SET_INTSET (11) one length-prefixed string holding the blob, then the 2-byte RDB
//! version (12) and the 8-byte CRC64. [`live_redis_matches`] does exactly that; run it with
//! `PYROPE_PRINT_REDIS_BLOBS=1 cargo test -p pyrope-common --test redis_compact_bytes -- --nocapture`
//! to print the table below again (and to write the small blobs as fuzz seeds into
//! `fuzz/corpus/{listpack,intset}/`). Blobs are written as hex with runs of 8+ equal bytes
//! shortened to `BB*N`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pyrope_common::intset::Intset;
use pyrope_common::listpack::{Listpack, ListpackEntry};
use pyrope_common::resp::encode;
use pyrope_common::resp::frame::{parse_frame, Frame};
use pyrope_common::util::format_double;

const REDIS: &str = "/opt/redis-7.4/redis-server";

/// One key built by a few commands; `encoding` is what `OBJECT ENCODING` must say.
struct Scenario {
    key: &'static str,
    encoding: &'static str,
    commands: Vec<Vec<String>>,
}

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn a(n: usize) -> String {
    "a".repeat(n)
}

fn scenarios() -> Vec<Scenario> {
    let ints = [
        "0",
        "1",
        "127",
        "128",
        "-1",
        "4095",
        "4096",
        "-4096",
        "-4097",
        "32767",
        "32768",
        "-32768",
        "-32769",
        "8388607",
        "8388608",
        "-8388608",
        "-8388609",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    let not_ints = [
        "007",
        "-0",
        "+1",
        " 1",
        "1.5",
        "9223372036854775808",
        "-",
        "0x10",
    ];
    let s63 = a(63);
    let s64 = a(64);
    let mut boundary = vec!["RPUSH", "list_boundaries", "", "x"];
    boundary.extend(ints);
    boundary.extend(not_ints);
    boundary.push(&s63);
    boundary.push(&s64);
    let l = |k: &'static str, cmds: Vec<Vec<String>>| Scenario {
        key: k,
        encoding: "listpack",
        commands: cmds,
    };
    vec![
        l("list_boundaries", vec![cmd(&boundary)]),
        l(
            "list_4095",
            vec![cmd(&["RPUSH", "list_4095", "", &a(4095), "tail"])],
        ),
        l(
            "list_4096",
            vec![cmd(&["RPUSH", "list_4096", &a(4096), "-1"])],
        ),
        // entry sizes 127 and 128: the last 1-byte and the first 2-byte backlen
        l(
            "list_backlen_127_128",
            vec![cmd(&[
                "RPUSH",
                "list_backlen_127_128",
                &a(125),
                &a(126),
                "1",
            ])],
        ),
        l(
            "list_ops",
            vec![
                cmd(&["RPUSH", "list_ops", "a", "b", "c", "1", "2", "3", "b"]),
                cmd(&["LPUSH", "list_ops", "x", "-700"]),
                cmd(&["LINSERT", "list_ops", "BEFORE", "c", "500"]),
                cmd(&["LINSERT", "list_ops", "AFTER", "3", &a(80)]),
                cmd(&["LSET", "list_ops", "0", "70000"]),
                cmd(&["LSET", "list_ops", "3", &a(100)]),
                cmd(&["LREM", "list_ops", "0", "b"]),
                cmd(&["LTRIM", "list_ops", "1", "7"]),
                cmd(&["LPOP", "list_ops"]),
                cmd(&["RPOP", "list_ops"]),
                cmd(&["RPUSH", "list_ops", "end"]),
            ],
        ),
        Scenario {
            key: "hash_small",
            encoding: "listpack",
            commands: vec![
                cmd(&[
                    "HSET",
                    "hash_small",
                    "f1",
                    "v1",
                    "f2",
                    "12",
                    "num",
                    "-5",
                    "big",
                    "2147483648",
                ]),
                cmd(&["HSET", "hash_small", "f1", &a(64), "12", "twelve"]),
                cmd(&["HDEL", "hash_small", "f2"]),
            ],
        },
        Scenario {
            key: "hash_backlen_big",
            encoding: "listpack",
            commands: vec![cmd(&[
                "HSET",
                "hash_backlen_big",
                // entry sizes 16382 / 16383 (2 / 3 backlen bytes), 2097150 / 2097151 (3 / 4)
                "a",
                &a(16377),
                "b",
                &a(16378),
                "c",
                &a(2097145),
                "d",
                &a(2097146),
            ])],
        },
        Scenario {
            key: "set_listpack",
            encoding: "listpack",
            commands: vec![
                cmd(&["SADD", "set_listpack", "a", "b", "1", "-2", "c", "1"]),
                cmd(&["SREM", "set_listpack", "b"]),
                cmd(&["SADD", "set_listpack", "100000"]),
            ],
        },
        Scenario {
            key: "zset_listpack",
            encoding: "listpack",
            commands: vec![
                cmd(&[
                    "ZADD",
                    "zset_listpack",
                    "1",
                    "a",
                    "2.5",
                    "b",
                    "-3",
                    "c",
                    "100000",
                    "d",
                ]),
                cmd(&["ZADD", "zset_listpack", "1", "0", "1", "b0", "-0.125", "e"]),
            ],
        },
        Scenario {
            key: "intset16",
            encoding: "intset",
            commands: vec![cmd(&[
                "SADD", "intset16", "5", "1", "3", "-7", "32767", "-32768", "3",
            ])],
        },
        Scenario {
            key: "intset32",
            encoding: "intset",
            commands: vec![
                cmd(&["SADD", "intset32", "5", "1", "-7"]),
                cmd(&["SADD", "intset32", "70000"]),
                cmd(&["SADD", "intset32", "-70000", "2147483647", "-2147483648"]),
            ],
        },
        Scenario {
            key: "intset64",
            encoding: "intset",
            commands: vec![
                cmd(&["SADD", "intset64", "5", "40000"]),
                cmd(&["SADD", "intset64", "-9223372036854775808"]),
                cmd(&[
                    "SADD",
                    "intset64",
                    "9223372036854775807",
                    "4294967296",
                    "-2147483649",
                ]),
            ],
        },
        Scenario {
            key: "intset_srem",
            encoding: "intset",
            commands: vec![
                cmd(&["SADD", "intset_srem", "1", "2", "3", "100000"]),
                cmd(&["SREM", "intset_srem", "100000", "2"]),
            ],
        },
    ]
}

// --- the interpreter: Redis commands as Listpack / Intset operations --------------------------

fn apply_listpack(lp: &mut Listpack, args: &[String]) {
    let v: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    let find =
        |lp: &Listpack, s: &[u8], skip: usize| lp.first_pos().and_then(|f| lp.find(f, s, skip));
    match args[0].as_str() {
        "RPUSH" => v[2..].iter().for_each(|e| lp.push_back(e)),
        "LPUSH" => v[2..].iter().for_each(|e| lp.push_front(e)),
        "LINSERT" => {
            let pivot = find(lp, v[3], 0).expect("pivot");
            if args[2] == "BEFORE" {
                lp.insert_before(pivot, v[4]);
            } else {
                lp.insert_after(pivot, v[4]);
            }
        }
        "LSET" => lp.replace(args[2].parse().unwrap(), v[3]),
        "LREM" => {
            assert_eq!(args[2], "0", "only LREM 0 is modelled");
            let mut p = lp.first_pos();
            while let Some(pos) = p {
                p = if lp.entry(pos).eq_bytes(v[3]) {
                    lp.delete_at(pos)
                } else {
                    lp.next_pos(pos)
                };
            }
        }
        "LTRIM" => {
            // ltrimCommand: lpDeleteRange(0, ltrim) then lpDeleteRange(-rtrim, rtrim).
            let (start, end): (usize, usize) = (args[2].parse().unwrap(), args[3].parse().unwrap());
            let rtrim = lp.len() - end - 1;
            lp.delete_range(0, start);
            lp.delete_range(-(rtrim as i64), rtrim);
        }
        "LPOP" => lp.delete_range(0, 1),
        "RPOP" => lp.delete_range(-1, 1),
        "HSET" => {
            for pair in v[2..].chunks(2) {
                match find(lp, pair[0], 1) {
                    Some(f) => {
                        let val = lp.next_pos(f).unwrap();
                        lp.replace_at(val, pair[1]);
                    }
                    None => {
                        lp.push_back(pair[0]);
                        lp.push_back(pair[1]);
                    }
                }
            }
        }
        "HDEL" => {
            for f in &v[2..] {
                if let Some(p) = find(lp, f, 1) {
                    let val = lp.delete_at(p).unwrap();
                    lp.delete_at(val);
                }
            }
        }
        "SADD" => {
            for m in &v[2..] {
                if find(lp, m, 0).is_none() {
                    lp.push_back(m);
                }
            }
        }
        "SREM" => {
            for m in &v[2..] {
                if let Some(p) = find(lp, m, 0) {
                    lp.delete_at(p);
                }
            }
        }
        "ZADD" => {
            // zzlInsert: before the first element with a greater score, or an equal score and a
            // greater member; the score stored as d2string() text (an integer when integral).
            for i in (2..args.len()).step_by(2) {
                let score: f64 = args[i].parse().unwrap();
                let (member, score_s) = (v[i + 1], format_double(score));
                let mut p = lp.first_pos();
                let mut at = None;
                while let Some(mpos) = p {
                    let spos = lp.next_pos(mpos).unwrap();
                    let s: f64 = match lp.entry(spos) {
                        ListpackEntry::Int(i) => i as f64,
                        ListpackEntry::Str(s) => std::str::from_utf8(s).unwrap().parse().unwrap(),
                    };
                    let m = lp.entry(mpos).to_vec();
                    if s > score || (s == score && m.as_slice() > member) {
                        at = Some(mpos);
                        break;
                    }
                    p = lp.next_pos(spos);
                }
                match at {
                    Some(mpos) => {
                        let m = lp.insert_before(mpos, member);
                        lp.insert_after(m, score_s.as_bytes());
                    }
                    None => {
                        lp.push_back(member);
                        lp.push_back(score_s.as_bytes());
                    }
                }
            }
        }
        other => panic!("command {other} not modelled"),
    }
}

fn apply_intset(is: &mut Intset, args: &[String]) {
    for m in &args[2..] {
        let v: i64 = m.parse().unwrap();
        match args[0].as_str() {
            "SADD" => {
                is.add(v);
            }
            "SREM" => {
                is.remove(v);
            }
            other => panic!("command {other} not modelled"),
        }
    }
}

/// The bytes our builders produce for a scenario.
fn build(sc: &Scenario) -> Vec<u8> {
    if sc.encoding == "intset" {
        let mut is = Intset::new();
        sc.commands.iter().for_each(|c| apply_intset(&mut is, c));
        is.into_bytes()
    } else {
        let mut lp = Listpack::new();
        sc.commands.iter().for_each(|c| apply_listpack(&mut lp, c));
        lp.into_bytes()
    }
}

// --- hex with run-length tokens --------------------------------------------------------------

fn to_rle_hex(b: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().take_while(|&&x| x == b[i]).count();
        if run >= 8 {
            out.push_str(&format!(" {:02x}*{run} ", b[i]));
            i += run;
        } else {
            out.push_str(&format!("{:02x}", b[i]));
            i += 1;
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn from_rle_hex(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if let Some((byte, n)) = tok.split_once('*') {
            let byte = u8::from_str_radix(byte, 16).unwrap();
            out.resize(out.len() + n.parse::<usize>().unwrap(), byte);
        } else {
            for i in (0..tok.len()).step_by(2) {
                out.push(u8::from_str_radix(&tok[i..i + 2], 16).unwrap());
            }
        }
    }
    out
}

/// Redis 7.4.1's blobs for [`scenarios`], obtained as the file's opening comment says.
const EXPECTED: &[(&str, &str)] = &[
    (
        "list_boundaries",
        "3a01000023008001817802000101017f01c08002dfff02cfff02f1001003d00002f1ffef03f1ff7f \
         03f200800004f1008003f2ff7fff04f2ffff7f04f30000800005f200008004f3ffff7fff05f3ffff \
         ff7f05f4000000800000000009f30000008005f4ffffff7fffffffff09f4ffffffffffffff7f09f4 \
         0000000000000080098330303704822d3003822b31038220310383312e3504933932323333373230 \
         333638353437373538303814812d02843078313005bf 61*63 40e040 61*64 42ff",
    ),
    (
        "list_4095",
        "1210000003008001efff 61*4095 2081847461696c05ff",
    ),
    ("list_4096", "111000000200f000100000 61*4096 2085dfff02ff"),
    (
        "list_backlen_127_128",
        "0b0100000300e07d 61*125 7fe07e 61*126 01800101ff",
    ),
    (
        "list_ops",
        "7e0000000600816102e064 61*100 66c1f402816302010183656e6404ff",
    ),
    (
        "hash_small",
        "6f000000080082663103e040 61*64 \
         42836e756d04dffb028362696704f40000008000000000090c01867477656c766507ff",
    ),
    (
        "hash_backlen_big",
        "198040000800816102f0f93f0000 61*16377 7ffe816202f0fa3f0000 61*16378 \
         00ffff816302f0f9ff1f00 61*2097145 7ffffe816402f0faff1f00 61*2097146 00ffffffff",
    ),
    (
        "set_listpack",
        "1700000005008161020101dffe02816302f2a0860104ff",
    ),
    (
        "zset_listpack",
        "370000000e00816302dffd02816502862d302e313235070001010181610201018262300301018162 \
         0283322e3504816402f2a0860104ff",
    ),
    ("intset16", "02000000060000000080f9ff010003000500ff7f"),
    (
        "intset32",
        "04000000070000000000008090eefefff9ffffff010000000500000070110100ffffff7f",
    ),
    (
        "intset64",
        "0800000006 00*10 80ffffff7fffffffff0500000000000000409c 00*10 \
         01000000ffffffffffffff7f",
    ),
    ("intset_srem", "04000000020000000100000003000000"),
];

fn expected(key: &str) -> Vec<u8> {
    let (_, hex) = EXPECTED
        .iter()
        .find(|(k, _)| *k == key)
        .unwrap_or_else(|| panic!("no expected blob for {key}"));
    from_rle_hex(hex)
}

#[test]
fn builders_match_redis_blobs() {
    for sc in scenarios() {
        let want = expected(sc.key);
        let got = build(&sc);
        assert!(
            got == want,
            "{}:\n ours  {}\n redis {}",
            sc.key,
            to_rle_hex(&got),
            to_rle_hex(&want)
        );
        // and the blob is valid, iterates the same both ways, and round-trips
        if sc.encoding == "intset" {
            assert_eq!(Intset::from_bytes(&want).unwrap().as_bytes(), &want[..]);
        } else {
            let lp = Listpack::from_bytes(&want).unwrap();
            assert_eq!(lp.as_bytes(), &want[..]);
            assert!(lp
                .iter()
                .rev()
                .eq(lp.iter().collect::<Vec<_>>().into_iter().rev()));
        }
    }
}

#[test]
fn rle_hex_roundtrip() {
    let b = [vec![1u8, 2, 3], vec![0x61; 20], vec![0xff]].concat();
    assert_eq!(from_rle_hex(&to_rle_hex(&b)), b);
}

// --- the live comparison ---------------------------------------------------------------------

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(REDIS)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--rdbcompression", "no"])
        .args(["--hash-max-listpack-value", "3000000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    Server { child, port }
}

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => return Conn { s, buf: Vec::new() },
                Err(e) if Instant::now() > deadline => panic!("redis-server not reachable: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Frame {
        let mut out = Vec::new();
        encode::command(&mut out, args);
        self.s.write_all(&out).unwrap();
        loop {
            if let Some((f, n)) = parse_frame(&self.buf).unwrap() {
                self.buf.drain(..n);
                return f;
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).unwrap();
            assert!(n > 0, "redis-server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Reads an RDB length (rdbLoadLen); encoded strings (LZF, integers) are not expected here.
fn rdb_len(b: &[u8], p: &mut usize) -> usize {
    let t = b[*p];
    match t >> 6 {
        0 => {
            *p += 1;
            (t & 0x3f) as usize
        }
        1 => {
            *p += 2;
            (((t & 0x3f) as usize) << 8) | b[*p - 1] as usize
        }
        2 if t == 0x80 => {
            *p += 5;
            u32::from_be_bytes(b[*p - 4..*p].try_into().unwrap()) as usize
        }
        2 if t == 0x81 => {
            *p += 9;
            u64::from_be_bytes(b[*p - 8..*p].try_into().unwrap()) as usize
        }
        _ => panic!("unexpected RDB length/encoding byte {t:#04x} (is rdbcompression off?)"),
    }
}

fn rdb_string(b: &[u8], p: &mut usize) -> Vec<u8> {
    let n = rdb_len(b, p);
    *p += n;
    b[*p - n..*p].to_vec()
}

/// The listpack / intset blob inside a DUMP payload (see the file's opening comment).
fn dump_blob(payload: &[u8]) -> (u8, Vec<u8>) {
    let body = &payload[..payload.len() - 10];
    let version = u16::from_le_bytes([payload[payload.len() - 10], payload[payload.len() - 9]]);
    assert_eq!(version, 12, "RDB version of a 7.4 DUMP");
    let t = body[0];
    let mut p = 1;
    let blob = match t {
        18 => {
            assert_eq!(rdb_len(body, &mut p), 1, "one quicklist node");
            assert_eq!(rdb_len(body, &mut p), 2, "QUICKLIST_NODE_CONTAINER_PACKED");
            rdb_string(body, &mut p)
        }
        11 | 16 | 17 | 20 => rdb_string(body, &mut p),
        _ => panic!("unexpected DUMP type {t}"),
    };
    assert_eq!(p, body.len(), "trailing bytes in the DUMP payload");
    (t, blob)
}

#[test]
fn live_redis_matches() {
    if !Path::new(REDIS).exists() {
        eprintln!("note: {REDIS} not found; skipping the live comparison with Redis 7.4.1");
        return;
    }
    let server = start_redis();
    let mut c = Conn::open(server.port);
    let print = std::env::var_os("PYROPE_PRINT_REDIS_BLOBS").is_some();
    let mut failures = Vec::new();
    for sc in scenarios() {
        for args in &sc.commands {
            let r = c.call(args);
            assert!(!r.is_error(), "{}: {:?} -> {r:?}", sc.key, args[0]);
        }
        let enc = c.call(&["OBJECT", "ENCODING", sc.key]);
        assert_eq!(enc.as_bytes(), Some(sc.encoding.as_bytes()), "{}", sc.key);
        let dump = c.call(&["DUMP", sc.key]);
        let (t, blob) = dump_blob(dump.as_bytes().expect("DUMP payload"));
        let want_type = match (sc.encoding, sc.key.split('_').next().unwrap()) {
            ("intset", _) => 11,
            (_, "list") => 18,
            (_, "hash") => 16,
            (_, "zset") => 17,
            _ => 20,
        };
        assert_eq!(t, want_type, "{}", sc.key);
        if print {
            println!("    (\"{}\", \"{}\"),", sc.key, to_rle_hex(&blob));
            if blob.len() < 65536 {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../fuzz/corpus")
                    .join(if sc.encoding == "intset" {
                        "intset"
                    } else {
                        "listpack"
                    });
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(format!("redis-{}", sc.key)), &blob).unwrap();
            }
        }
        let ours = build(&sc);
        if ours != blob {
            failures.push(format!(
                "{}:\n ours  {}\n redis {}",
                sc.key,
                to_rle_hex(&ours),
                to_rle_hex(&blob)
            ));
        }
        if !print && EXPECTED.iter().any(|(k, _)| *k == sc.key) {
            assert!(
                expected(sc.key) == blob,
                "{}: embedded blob is stale",
                sc.key
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
