//! The persistence corpus (../shared/corpus/rdb): every RDB file written by real Redis 6.2 /
//! 7.0 / 7.4 and Valkey 8.1 parses, its keys (db, key, type, string values, expire times) equal
//! the JSON expectation recorded from the loading server, damaged files are rejected with an
//! offset and a reason, and a file rewritten by our writer reads back to the same content.

use std::path::{Path, PathBuf};

use pyrope_common::rdb::read::{Checksum, KeyRecord, Reader, ReaderOptions, VisitResult, Visitor};
use pyrope_common::rdb::{ErrorKind, Value, Writer, WriterOptions};

fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("PYROPE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
        })
        .join("corpus/rdb");
    p.is_dir().then_some(p)
}

/// The corpus "esc" form decoder: `\\` is a backslash, `\xHH` a byte.
fn esc_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'\\' {
            out.push(b'\\');
            i += 2;
        } else if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[derive(Default)]
struct Collect {
    keys: Vec<KeyRecord>,
    functions: Vec<Vec<u8>>,
    aux: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Visitor for Collect {
    fn key(&mut self, rec: KeyRecord) -> VisitResult {
        self.keys.push(rec);
        Ok(())
    }
    fn function(&mut self, code: &[u8]) -> VisitResult {
        self.functions.push(code.to_vec());
        Ok(())
    }
    fn aux(&mut self, k: &[u8], v: &[u8], _at: u64) -> VisitResult {
        self.aux.push((k.to_vec(), v.to_vec()));
        Ok(())
    }
}

fn read(bytes: &[u8]) -> Result<(Collect, Checksum), pyrope_common::rdb::RdbError> {
    let mut c = Collect::default();
    let s = Reader::new(bytes, ReaderOptions::default()).run(&mut c)?;
    Ok((c, s))
}

/// The list elements / set members / hash pairs of a value, for comparing with the JSON.
fn flat(v: &Value) -> serde_json::Value {
    use pyrope_common::rdb::QuicklistNode;
    use serde_json::json;
    let e = |b: &[u8]| b.to_vec();
    match v {
        Value::String(s) => json!(s),
        Value::List(nodes) => {
            let mut out = Vec::new();
            for n in nodes {
                match n {
                    QuicklistNode::Plain(b) => out.push(e(b)),
                    QuicklistNode::Packed(lp) => out.extend(lp.iter().map(|x| x.to_vec())),
                }
            }
            json!(out)
        }
        Value::Set(m) => {
            let mut m = m.clone();
            m.sort();
            json!(m)
        }
        Value::SetIntset(is) => {
            let mut m: Vec<Vec<u8>> = is.iter().map(|v| v.to_string().into_bytes()).collect();
            m.sort();
            json!(m)
        }
        Value::SetListpack(lp) => {
            let mut m: Vec<Vec<u8>> = lp.iter().map(|x| x.to_vec()).collect();
            m.sort();
            json!(m)
        }
        Value::Zset(m) => {
            let mut m = m.clone();
            m.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then(a.0.cmp(&b.0)));
            json!(m.iter().map(|(k, s)| (k.clone(), *s)).collect::<Vec<_>>())
        }
        Value::ZsetListpack(lp) => {
            let v: Vec<Vec<u8>> = lp.iter().map(|x| x.to_vec()).collect();
            let m: Vec<(Vec<u8>, f64)> = v
                .chunks(2)
                .map(|c| {
                    (
                        c[0].clone(),
                        pyrope_common::rdb::read::parse_c_double(
                            std::str::from_utf8(&c[1]).unwrap(),
                        )
                        .unwrap(),
                    )
                })
                .collect();
            json!(m)
        }
        Value::Hash(f) => {
            let mut m: Vec<(Vec<u8>, Vec<u8>)> = f
                .iter()
                .map(|f| (f.field.clone(), f.value.clone()))
                .collect();
            m.sort();
            json!(m)
        }
        Value::HashListpack(lp) | Value::HashListpackEx(lp) => {
            let step = if matches!(v, Value::HashListpackEx(_)) {
                3
            } else {
                2
            };
            let v: Vec<Vec<u8>> = lp.iter().map(|x| x.to_vec()).collect();
            let mut m: Vec<(Vec<u8>, Vec<u8>)> = v
                .chunks(step)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            m.sort();
            json!(m)
        }
        Value::Stream(s) => json!(s.length),
        Value::Module(_) => json!(null),
    }
}

/// The JSON expectation's value in the same shape as [`flat`].
fn expected(k: &serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    let d = |v: &serde_json::Value| esc_decode(v.as_str().unwrap());
    let v = &k["value"];
    match k["type"].as_str().unwrap() {
        "string" => json!(d(v)),
        "list" | "set" => json!(v.as_array().unwrap().iter().map(d).collect::<Vec<_>>()),
        "zset" => json!(v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (
                d(&p[0]),
                pyrope_common::rdb::read::parse_c_double(p[1].as_str().unwrap()).unwrap()
            ))
            .collect::<Vec<_>>()),
        "hash" => json!(v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (d(&p[0]), d(&p[1])))
            .collect::<Vec<_>>()),
        "stream" => v["xinfo_stream"]["length"].clone(),
        _ => json!(null),
    }
}

fn rdb_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
        .collect();
    v.sort();
    v
}

fn check_against_json(path: &Path, c: &Collect) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap())
            .unwrap();
    let Some(dbs) = json["dbs"].as_object() else {
        return;
    };
    let mut total = 0;
    for (db, d) in dbs {
        let db: u64 = db.parse().unwrap();
        for k in d["keys"].as_array().unwrap() {
            total += 1;
            let key = esc_decode(k["key"].as_str().unwrap());
            let rec = c
                .keys
                .iter()
                .find(|r| r.db == db && r.key == key)
                .unwrap_or_else(|| panic!("{path:?}: db {db} key {:?} missing", k["key"]));
            assert_eq!(
                rec.value.type_name(),
                k["type"].as_str().unwrap(),
                "{path:?} {:?}",
                k["key"]
            );
            assert_eq!(flat(&rec.value), expected(k), "{path:?} {:?}", k["key"]);
            assert_eq!(
                rec.expire_ms.is_some(),
                k["ttl"] == "has-ttl",
                "{path:?} {:?}",
                k["key"]
            );
            if let Some(e) = k["expire_at_ms"].as_i64() {
                assert_eq!(rec.expire_ms, Some(e), "{path:?} {:?}", k["key"]);
            }
            if let Some(f) = k["object_freq"].as_u64() {
                assert_eq!(
                    rec.lfu_freq.map(u64::from),
                    Some(f),
                    "{path:?} {:?}",
                    k["key"]
                );
            }
        }
    }
    // Keys the loader skipped (expired) are the only difference allowed.
    assert!(
        c.keys.len() >= total,
        "{path:?}: {} keys read, {total} expected",
        c.keys.len()
    );
}

#[test]
fn corpus_files_match_their_expectations_and_round_trip() {
    let Some(dir) = corpus() else { return };
    let mut files = rdb_files(&dir);
    files.extend(rdb_files(&dir.join("redis-tests-assets")));
    let mut checked = 0;
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("corrupt_") {
            assert!(
                read(&bytes).is_err() || name == "corrupt_empty_keys.rdb",
                "{name} parsed"
            );
            continue;
        }
        let (c, _) = read(&bytes).unwrap_or_else(|e| panic!("{name}: {e} key {:?}", e.key));
        check_against_json(&f, &c);
        // Round trip through the writer (v12 only when field TTLs need it).
        let v12 = c.keys.iter().any(|k| k.value.needs_v12());
        let mut w = Writer::new(
            Vec::new(),
            if v12 { 12 } else { 11 },
            WriterOptions::default(),
        );
        for a in &c.aux {
            w.aux(&a.0, &a.1).unwrap();
        }
        for code in &c.functions {
            w.function(code).unwrap();
        }
        let mut db = u64::MAX;
        for k in &c.keys {
            if k.db != db {
                db = k.db;
                w.select_db(db).unwrap();
            }
            w.key(&k.key, &k.value, k.expire_ms, k.lru_idle, k.lfu_freq)
                .unwrap();
        }
        let out = w.finish().unwrap();
        let (c2, st) = read(&out).unwrap_or_else(|e| panic!("{name} rewritten: {e}"));
        assert_eq!(st, Checksum::Ok);
        assert_eq!(c2.keys.len(), c.keys.len());
        for (a, b) in c.keys.iter().zip(&c2.keys) {
            assert_eq!((a.db, &a.key, a.expire_ms), (b.db, &b.key, b.expire_ms));
            assert_eq!(
                flat(&a.value),
                flat(&b.value),
                "{name} {:?}",
                String::from_utf8_lossy(&a.key)
            );
            if let (Value::Stream(x), Value::Stream(y)) = (&a.value, &b.value) {
                assert_eq!(x, y);
            }
        }
        checked += 1;
    }
    eprintln!("{checked} corpus files checked");
    assert!(checked >= 14, "only {checked} files checked");
}

#[test]
fn damaged_files_are_rejected_with_offset_and_reason() {
    let Some(dir) = corpus() else { return };
    let d = dir.join("damaged");
    type Want = Option<(u64, fn(&ErrorKind) -> bool)>;
    let expect: &[(&str, Want)] = &[
        ("truncated.rdb", Some((23733, |k| *k == ErrorKind::Eof))),
        (
            "truncated-no-checksum.rdb",
            Some((49529, |k| *k == ErrorKind::Eof)),
        ),
        (
            "flipped-byte.rdb",
            Some((49537, |k| matches!(k, ErrorKind::Checksum { .. }))),
        ),
        (
            "flipped-byte-lzf.rdb",
            Some((49537, |k| matches!(k, ErrorKind::Checksum { .. }))),
        ),
        (
            "wrong-magic.rdb",
            Some((9, |k| *k == ErrorKind::WrongSignature)),
        ),
        (
            "bad-version.rdb",
            Some((9, |k| *k == ErrorKind::BadVersion(99))),
        ),
        (
            "bad-type-byte.rdb",
            Some((12645, |k| *k == ErrorKind::UnknownType(99))),
        ),
        (
            "v12-truncated-in-hfe.rdb",
            Some((16768, |k| *k == ErrorKind::Eof)),
        ),
        (
            "v12-bad-crc.rdb",
            Some((66337, |k| matches!(k, ErrorKind::Checksum { .. }))),
        ),
        (
            "v12-hfe-ttl-lenbyte.rdb",
            Some((
                0,
                |k| matches!(k, ErrorKind::Corrupt(r) if r.starts_with("invalid expireAt time")),
            )),
        ),
        ("zeroed-checksum.rdb", None),
        ("trailing-garbage.rdb", None),
    ];
    for (name, want) in expect {
        let bytes = std::fs::read(d.join(name)).unwrap();
        match (read(&bytes), want) {
            (Ok((_, st)), None) => {
                if *name == "zeroed-checksum.rdb" {
                    assert_eq!(st, Checksum::Disabled);
                }
            }
            (Err(e), Some((off, pred))) => {
                assert!(pred(&e.kind), "{name}: {e}");
                if *off != 0 {
                    assert_eq!(e.offset, *off, "{name}: {e}");
                }
            }
            (r, _) => panic!("{name}: unexpected {:?}", r.map(|x| x.1)),
        }
    }
}

/// Every key's `dump_b64` (a DUMP payload from the real server) verifies, decodes to the
/// expected value, and our own payload of that value decodes back to it.
#[test]
fn dump_payloads_of_the_corpus_decode() {
    use base64::Engine;
    let Some(dir) = corpus() else { return };
    let mut n = 0;
    for f in rdb_files(&dir) {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f.with_extension("json")).unwrap())
                .unwrap();
        let Some(dbs) = json["dbs"].as_object() else {
            continue;
        };
        for d in dbs.values() {
            for k in d["keys"].as_array().unwrap() {
                let Some(b64) = k["dump_b64"].as_str() else {
                    continue;
                };
                let p = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                let (_, v) = pyrope_common::rdb::decode_payload(&p, true)
                    .unwrap_or_else(|e| panic!("{f:?} {:?}: {e}", k["key"]));
                // HLL payloads were taken after PFCOUNT refreshed the cached cardinality.
                if k.get("hll").is_none() {
                    assert!(flat(&v) == expected(k), "{f:?} {:?}", k["key"]);
                }
                let ours = pyrope_common::rdb::dump_payload(&v);
                let (_, v2) = pyrope_common::rdb::decode_payload(&ours, true).unwrap();
                assert_eq!(flat(&v2), flat(&v));
                let mut bad = p.clone();
                let last = bad.len() - 1;
                bad[last] ^= 0x55;
                assert!(pyrope_common::rdb::verify_payload(&bad).is_err());
                n += 1;
            }
        }
    }
    assert!(n > 500, "{n} payloads");
}

/// Rewrites `src` with our writer into `dst` (v12 only when field TTLs need it).
fn rewrite(src: &Path, dst: &Path) -> u32 {
    let (c, _) = read(&std::fs::read(src).unwrap()).unwrap();
    let v12 = c.keys.iter().any(|k| k.value.needs_v12());
    let ver = if v12 { 12 } else { 11 };
    let mut w = Writer::new(Vec::new(), ver, WriterOptions::default());
    w.default_aux("7.4.1", 0, 0, false).unwrap();
    for code in &c.functions {
        w.function(code).unwrap();
    }
    let mut db = u64::MAX;
    for k in &c.keys {
        if k.db != db {
            db = k.db;
            w.select_db(db).unwrap();
        }
        w.key(&k.key, &k.value, k.expire_ms, None, None).unwrap();
    }
    std::fs::write(dst, w.finish().unwrap()).unwrap();
    ver
}

/// Starts `server` on `dir/file`, returns `DEBUG DIGEST` and the summed key count.
fn digest_of(server: &str, dir: &Path, file: &str) -> Option<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    // Spawned directly (not under `timeout`) so `kill` reaches the server itself.
    let mut child = std::process::Command::new(server)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "yes",
        ])
        .arg("--dir")
        .arg(dir)
        .args(["--dbfilename", file])
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut out = None;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let o = std::process::Command::new("/usr/bin/redis-cli")
            .args(["-p", &port.to_string(), "DEBUG", "DIGEST"])
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && s.len() == 40 {
            out = Some(s);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    out
}

#[test]
fn real_servers_load_rewritten_files_with_the_same_digest() {
    let Some(dir) = corpus() else { return };
    let tmp = std::env::temp_dir().join(format!("pyrope-rdb-digest-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let redis74 = "/opt/redis-7.4/redis-server";
    // install-references.sh puts Valkey in $VALKEY_DIR (default /opt/valkey).
    let valkey_dir = std::env::var("VALKEY_DIR").unwrap_or_else(|_| "/opt/valkey".into());
    let valkey_path = format!("{valkey_dir}/valkey-server");
    let valkey = valkey_path.as_str();
    for (name, server) in [
        ("redis-7.4.1-default.rdb", redis74),
        ("redis-7.0.15-default.rdb", redis74),
        ("redis-6.2.14-default.rdb", redis74),
        ("valkey-8.1.8-default.rdb", valkey),
        ("redis-7.0.15-default.rdb", valkey),
    ] {
        if !Path::new(server).exists() {
            continue;
        }
        std::fs::copy(dir.join(name), tmp.join("orig.rdb")).unwrap();
        let ver = rewrite(&dir.join(name), &tmp.join("ours.rdb"));
        if server == valkey {
            assert_eq!(ver, 11);
        }
        let a = digest_of(server, &tmp, "orig.rdb").expect("original loads");
        let b = digest_of(server, &tmp, "ours.rdb")
            .unwrap_or_else(|| panic!("{server} refused our {name}"));
        assert_eq!(a, b, "{server} {name}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
