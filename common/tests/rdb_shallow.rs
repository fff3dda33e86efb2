//! What the reader checks even without deep sanitization (`sanitize-dump-payload no`, the
//! default): malformed stream nodes crashed pyrope-server on the first XRANGE when they were
//! checked only under deep sanitization, as Redis does. Duplicates in listpack collections
//! stay a deep-only check (the server copes with them), and deep mode still finds them.

use pyrope_common::listpack::Listpack;
use pyrope_common::rdb::read::{KeyRecord, Reader, ReaderOptions, VisitResult, Visitor};
use pyrope_common::rdb::write::{put_len, put_raw_string};

#[derive(Default)]
struct Keys(usize);

impl Visitor for Keys {
    fn key(&mut self, _rec: KeyRecord) -> VisitResult {
        self.0 += 1;
        Ok(())
    }
}

/// A listpack of small ints (< 128) and strings.
fn lp(items: &[&str]) -> Vec<u8> {
    let mut l = Listpack::new();
    for it in items {
        match it.parse::<i64>() {
            Ok(v) if (0..128).contains(&v) => l.push_back_int(v),
            _ => l.push_back(it.as_bytes()),
        }
    }
    l.into_bytes()
}

/// An RDB v11 file holding one stream `st` of one node with master id 1-0 and `node` as its
/// listpack, length 1, last id 1-0, no groups.
fn stream_file(node: &[&str]) -> Vec<u8> {
    let mut out = b"REDIS0011\xfe\x00".to_vec();
    out.push(21); // RDB_TYPE_STREAM_LISTPACKS_3
    put_raw_string(&mut out, b"st");
    put_len(&mut out, 1);
    let mut id = 1u64.to_be_bytes().to_vec();
    id.extend_from_slice(&0u64.to_be_bytes());
    put_raw_string(&mut out, &id);
    put_raw_string(&mut out, &lp(node));
    for n in [1, 1, 0, 1, 0, 0, 0, 1, 0] {
        // length, last id, first id, max deleted id, entries added, groups
        put_len(&mut out, n);
    }
    out.push(0xff);
    out.extend_from_slice(&[0; 8]);
    out
}

fn read(bytes: &[u8], deep: bool) -> Result<usize, String> {
    let mut k = Keys::default();
    let opts = ReaderOptions {
        verify_checksum: true,
        deep,
    };
    Reader::new(bytes, opts)
        .run(&mut k)
        .map(|_| k.0)
        .map_err(|e| e.to_string())
}

#[test]
fn a_well_formed_stream_node_loads() {
    // count 1, deleted 0, one master field "f", 0; entry: SAMEFIELDS, +0, +0, "v", lp-count 4.
    let f = stream_file(&["1", "0", "1", "f", "0", "2", "0", "0", "v", "4"]);
    assert_eq!(read(&f, false), Ok(1));
}

#[test]
fn malformed_stream_nodes_are_refused_without_deep_sanitization() {
    for (what, node) in [
        (
            "count says 3, one entry",
            &["3", "0", "1", "f", "0", "2", "0", "0", "v", "4"][..],
        ),
        (
            "entry cut before its lp-count",
            &["1", "0", "1", "f", "0", "2", "0", "0", "v"],
        ),
        (
            "entry claims 5 fields",
            &["1", "0", "1", "f", "0", "0", "0", "0", "5", "a", "b", "6"],
        ),
    ] {
        for deep in [false, true] {
            let e = read(&stream_file(node), deep).expect_err(what);
            assert!(
                e.contains("Stream listpack integrity check failed"),
                "{what}: {e}"
            );
        }
    }
}

#[test]
fn listpack_duplicates_are_a_deep_check() {
    // A set listpack holding "a" twice, and one holding the integer 5 twice.
    for members in [&["a", "b", "a"][..], &["5", "x", "5"]] {
        let mut out = b"REDIS0011\xfe\x00".to_vec();
        out.push(20); // RDB_TYPE_SET_LISTPACK
        put_raw_string(&mut out, b"s");
        let bytes = lp(members);
        put_raw_string(&mut out, &bytes);
        out.push(0xff);
        out.extend_from_slice(&[0; 8]);
        assert_eq!(read(&out, false), Ok(1), "{members:?}");
        let e = read(&out, true).expect_err("deep finds the duplicate");
        assert!(
            e.contains("Set listpack integrity check failed") || e.contains("Duplicate"),
            "{e}"
        );
    }
}
