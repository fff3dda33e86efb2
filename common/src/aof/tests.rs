use super::*;
use std::io::Cursor;
use std::path::PathBuf;

/// The shared persistence corpus (../shared/corpus from the main checkout; README.md there).
pub(crate) fn corpus() -> PathBuf {
    let p = std::env::var_os("PYROPE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
        })
        .join("corpus");
    assert!(
        p.join("aof").is_dir(),
        "persistence corpus missing at {}",
        p.display()
    );
    p
}

fn items(data: &[u8]) -> Vec<Item> {
    let mut r = AofReader::new(Cursor::new(data));
    let mut v = Vec::new();
    while let Some(i) = r.next_item().unwrap() {
        v.push(i);
    }
    v
}

/// Checks one file as redis-check-aof would (RESP part only; `lines_before` is its running
/// line counter) and returns (error line as printed, ok_up_to, ok_up_to_line).
fn check_file(data: &[u8], lines_before: u64) -> (Option<String>, u64, u64) {
    let mut r = AofReader::new(Cursor::new(data));
    if r.has_preamble().unwrap() {
        r.skip_preamble(&mut SkipPreamble, data.len() as u64)
            .unwrap();
    }
    let c = check_stream(&mut r, "f", None);
    let err = c.error.map(|e| {
        if e.kind == ErrorKind::BadStart {
            "format error".to_string()
        } else {
            format!("0x{:>16x}: {}", e.offset, e.reason)
        }
    });
    (err, c.ok_up_to, lines_before + r.lines())
}

#[test]
fn reads_commands_annotations_and_offsets() {
    let data = b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n";
    let v = items(data);
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].timestamp(), Some(1700000000));
    assert_eq!(v[0].start(), 0);
    assert_eq!(v[0].end(), 16);
    assert_eq!(
        v[2],
        Item::Command {
            argv: vec![b"SET".to_vec(), b"k".to_vec(), b"".to_vec()],
            start: 39,
            end: data.len() as u64
        }
    );
    assert_eq!(v[1].timestamp(), None);
}

#[test]
fn errors_name_offset_and_redis_check_aof_reason() {
    let cases: &[(&[u8], ErrorKind, u64, &str)] = &[
        (
            b"*1\r\n$3\r\nfoo\r\n!x",
            ErrorKind::BadStart,
            13,
            "Expected prefix '*' or '#', got: '!'",
        ),
        (
            b"*1\r\n+3\r\nfoo\r\n",
            ErrorKind::Format,
            4,
            "Expected prefix '$', got: '+'",
        ),
        (
            b"*1\r\n$3\r\nfo",
            ErrorKind::Truncated,
            8,
            "Expected to read 5 bytes, got 2 bytes",
        ),
        (
            b"*1\r\n$3\r\nfooXY",
            ErrorKind::Format,
            8,
            "Expected \\r\\n, got: 5859",
        ),
        (
            b"*1\r\n$-2\r\n",
            ErrorKind::Format,
            4,
            "Expected to read string of -2 bytes, which is not in the suitable range",
        ),
        (
            b"*0\r\n",
            ErrorKind::Format,
            0,
            "Invalid multibulk length 0",
        ),
        (
            b"*2\r\n$",
            ErrorKind::Truncated,
            4,
            "Expected \\r\\n, got: 0000",
        ),
        (
            b"*2\r\n",
            ErrorKind::Truncated,
            4,
            "Reached EOF before reading '$' line",
        ),
        (
            b"*2x\r\n",
            ErrorKind::Format,
            0,
            "Expected \\r\\n, got: 780d",
        ),
    ];
    for (data, kind, off, reason) in cases {
        let mut r = AofReader::new(Cursor::new(*data));
        let e = loop {
            match r.next_item() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {:?}", String::from_utf8_lossy(data)),
                Err(e) => break e,
            }
        };
        assert_eq!(
            (e.kind, e.offset, e.reason.as_str()),
            (*kind, *off, *reason),
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
}

#[test]
fn a_lying_bulk_length_is_refused_or_read_in_chunks() {
    let mut r = AofReader::new(Cursor::new(b"*1\r\n$9999999999999\r\nab".as_slice()));
    let e = r.next_item().unwrap_err();
    assert!(
        e.reason.contains("not in the suitable range"),
        "{}",
        e.reason
    );
    // Under the limit but longer than the input: the reader gives up at the end of the input
    // (no 400 MB allocation happens; the test would be slow and memory-hungry otherwise).
    let mut r = AofReader::new(Cursor::new(b"*1\r\n$400000000\r\nab".as_slice()));
    let e = r.next_item().unwrap_err();
    assert_eq!(e.reason, "Expected to read 400000002 bytes, got 2 bytes");
    assert_eq!(e.kind, ErrorKind::Truncated);
}

#[test]
fn multi_exec_balance_and_ok_up_to() {
    let mut w = Vec::new();
    writer::cat_command(&mut w, &["SET", "a", "1"]);
    let before_multi = w.len() as u64;
    writer::cat_command(&mut w, &["MULTI"]);
    writer::cat_command(&mut w, &["SET", "b", "2"]);
    let mut r = AofReader::new(Cursor::new(&w[..]));
    let c = check_stream(&mut r, "x.aof", None);
    assert_eq!(c.ok_up_to, before_multi);
    assert_eq!(
        c.error.unwrap().reason,
        "Reached EOF before reading EXEC for MULTI"
    );
    writer::cat_command(&mut w, &["MULTI"]);
    let mut r = AofReader::new(Cursor::new(&w[..]));
    let c = check_stream(&mut r, "x.aof", None);
    assert_eq!(c.error.unwrap().reason, "Unexpected MULTI in AOF x.aof");
    let mut r = AofReader::new(Cursor::new(b"*1\r\n$4\r\nexec\r\n".as_slice()));
    let c = check_stream(&mut r, "x.aof", None);
    let e = c.error.unwrap();
    assert_eq!(
        (e.offset, e.reason.as_str()),
        (8, "Unexpected EXEC in AOF x.aof")
    );
}

#[test]
fn truncate_to_timestamp_finds_the_first_later_annotation() {
    let mut w = Vec::new();
    let mut aw = AofWriter::new(true);
    aw.feed(&mut w, Some(0), &["SET", "a", "1"], 100);
    aw.feed(&mut w, Some(0), &["SET", "a", "2"], 100);
    let cut = w.len() as u64;
    aw.feed(&mut w, Some(0), &["SET", "a", "3"], 101);
    assert_eq!(
        String::from_utf8_lossy(&w),
        "#TS:100\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n2\r\n#TS:101\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n3\r\n"
    );
    let mut r = AofReader::new(Cursor::new(&w[..]));
    assert_eq!(
        check_stream(&mut r, "f", Some(100)).timestamp_cut,
        Some(cut)
    );
    let mut r = AofReader::new(Cursor::new(&w[..]));
    assert_eq!(check_stream(&mut r, "f", Some(101)).timestamp_cut, None);
}

#[test]
fn writer_selects_only_on_db_change() {
    let mut w = Vec::new();
    let mut aw = AofWriter::new(false);
    aw.feed(&mut w, Some(3), &["DEL", "x"], 5);
    aw.feed(&mut w, Some(3), &["DEL", "y"], 6);
    aw.feed(&mut w, None, &["MULTI"], 6);
    aw.feed(&mut w, Some(0), &["DEL", "z"], 6);
    assert_eq!(
        String::from_utf8_lossy(&w),
        "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$3\r\nDEL\r\n$1\r\nx\r\n*2\r\n$3\r\nDEL\r\n$1\r\ny\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$3\r\nDEL\r\n$1\r\nz\r\n"
    );
}

#[test]
fn corpus_aof_files_read_completely() {
    let root = corpus().join("aof");
    let mut n = 0;
    for d in std::fs::read_dir(&root).unwrap() {
        let dir = d.unwrap().path().join("appendonlydir");
        if !dir.is_dir() {
            continue;
        }
        let mf = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "manifest"))
            .unwrap();
        let m = Manifest::parse(&std::fs::read(&mf).unwrap()).unwrap();
        assert_eq!(
            m.to_text().as_bytes(),
            std::fs::read(&mf).unwrap(),
            "{}",
            mf.display()
        );
        for ai in m.load_order() {
            let data = std::fs::read(dir.join(&ai.file_name)).unwrap();
            let (err, ok, _) = check_file(&data, 1);
            assert_eq!(err, None, "{}", ai.file_name);
            assert_eq!(ok, data.len() as u64);
            n += 1;
        }
    }
    assert!(n >= 12, "{n} files");
    // The legacy RDB-preamble AOF from the redis repo: the stand-in finds the RESP tail.
    let data = std::fs::read(root.join("redis-tests-assets/rdb-preamble.aof")).unwrap();
    let (err, ok, _) = check_file(&data, 1);
    assert_eq!((err, ok), (None, data.len() as u64));
}

/// What the real redis-check-aof printed for each damaged file (corpus JSON `check_aof`).
#[test]
fn damaged_corpus_files_give_redis_check_aofs_findings() {
    let d = corpus().join("aof/damaged");
    let cases: &[(&str, Option<&str>, u64, u64)] = &[
        (
            "truncated-tail/appendonlydir/appendonly.aof.2.incr.aof",
            Some("0x             473: Expected to read 322 bytes, got 144 bytes"),
            1105,
            183,
        ),
        (
            "timestamps-truncated-tail/appendonlydir/appendonly.aof.2.incr.aof",
            Some("0x             4f3: Expected to read 322 bytes, got 144 bytes"),
            1233,
            183,
        ),
        (
            "two-incr-truncated-first/appendonlydir/appendonly.aof.2.incr.aof",
            Some("0x             1d3: Expected to read 17 bytes, got 0 bytes"),
            430,
            75,
        ),
        (
            "truncated-base/appendonlydir/appendonly.aof.2.base.aof",
            Some("0x           11f95: Expected to read 30 bytes, got 25 bytes"),
            73516,
            5830,
        ),
        (
            "legacy-truncated.aof",
            Some("0x           23eff: Expected \\r\\n, got: 0000"),
            147195,
            12081,
        ),
        (
            "garbage-middle/appendonlydir/appendonly.aof.2.incr.aof",
            Some("format error"),
            505,
            80,
        ),
        (
            "truncated-tail.fixed/appendonlydir/appendonly.aof.2.incr.aof",
            None,
            1105,
            177,
        ),
    ];
    for (f, err, ok, line) in cases {
        let data = std::fs::read(d.join(f)).unwrap();
        assert_eq!(
            check_file(&data, 1),
            (err.map(String::from), *ok, *line),
            "{f}"
        );
    }
}

#[test]
fn manifest_errors_are_redis_texts() {
    let cases: &[(&[u8], Option<usize>, &str)] = &[
        (b"", None, "Found an empty AOF manifest"),
        (
            b"file a.1.base.rdb seq 1 type b",
            None,
            "The AOF manifest file contains too long line",
        ),
        (
            b"file a.1.base.rdb seq 1 type b\n\n",
            Some(2),
            "Invalid AOF manifest file format",
        ),
        (
            b"file a.1.incr.aof seq type i\n",
            Some(1),
            "Invalid AOF manifest file format",
        ),
        (
            b"file a.1.incr.aof seq 1x type i\n",
            Some(1),
            "Invalid AOF manifest file format",
        ),
        (
            b"file a.1.incr.aof seq 0 type i\n",
            Some(1),
            "Invalid AOF manifest file format",
        ),
        (
            b"file a.1.incr.aof seq 2 type x\n",
            Some(1),
            "Unknown AOF file type",
        ),
        (
            b"file d/a.1.incr.aof seq 2 type i\n",
            Some(1),
            "File can't be a path, just a filename",
        ),
        (
            b"file a seq 1 type b\nfile b seq 2 type b\n",
            Some(2),
            "Found duplicate base file information",
        ),
        (
            b"file a seq 2 type i\nfile b seq 2 type i\n",
            Some(2),
            "Found a non-monotonic sequence number",
        ),
        (
            b"file \"a seq 2 type i\n",
            Some(1),
            "Invalid AOF manifest file format",
        ),
    ];
    for (text, line, reason) in cases {
        let e = Manifest::parse(text).unwrap_err();
        assert_eq!(
            (e.line.as_ref().map(|l| l.0), e.reason),
            (*line, *reason),
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }
    // The corpus's damaged manifests, with the lines Redis printed.
    let d = corpus().join("aof/damaged");
    let e = Manifest::parse(
        &std::fs::read(d.join("bad-manifest-line/appendonlydir/appendonly.aof.manifest")).unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        e.redis_lines(),
        vec![
            "\n*** FATAL AOF MANIFEST FILE ERROR ***".to_string(),
            "Reading the manifest file, at line 2".into(),
            ">>> 'file appendonly.aof.2.incr.aof seq type i'".into(),
            "Invalid AOF manifest file format".into()
        ]
    );
    let e = Manifest::parse(
        &std::fs::read(d.join("bad-manifest-type/appendonlydir/appendonly.aof.manifest")).unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.reason, "Unknown AOF file type");
}

#[test]
fn manifest_round_trip_rotation_and_quoting() {
    let text = b"# comment\nfile appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.2.incr.aof seq 2 type i\nfile x seq 3 type i extra ignored\n";
    let mut m = Manifest::parse(text).unwrap();
    assert_eq!(m.curr_base_file_seq, 1);
    assert_eq!(m.curr_incr_file_seq, 3);
    assert_eq!(m.history.len(), 1);
    assert_eq!(
        m.to_text(),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.2.incr.aof seq 2 type i\nfile x seq 3 type i\n"
    );
    // A rewrite: a new incr is opened, then the new base replaces the old one.
    assert_eq!(m.new_incr("appendonly.aof"), "appendonly.aof.4.incr.aof");
    assert_eq!(
        m.new_base("appendonly.aof", false),
        "appendonly.aof.2.base.aof"
    );
    m.mark_rewritten_incr_as_history();
    assert_eq!(
        m.to_text(),
        "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.1.base.rdb seq 1 type h\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.2.incr.aof seq 2 type h\nfile x seq 3 type h\nfile appendonly.aof.4.incr.aof seq 4 type i\n"
    );
    let mut q = Manifest::default();
    q.new_incr("my aof");
    assert_eq!(q.to_text(), "file \"my aof.1.incr.aof\" seq 1 type i\n");
    assert_eq!(Manifest::parse(q.to_text().as_bytes()).unwrap(), q);
    assert_eq!(
        manifest::manifest_name("appendonly.aof"),
        "appendonly.aof.manifest"
    );
    assert_eq!(
        manifest::temp_manifest_name("appendonly.aof"),
        "temp-appendonly.aof.manifest"
    );
}

#[test]
fn fuzz_corpora_replay() {
    crate::listpack::tests::replay_fuzz_corpus("aof", check_aof_invariants);
    crate::listpack::tests::replay_fuzz_corpus("manifest", manifest::check_manifest_invariants);
}
