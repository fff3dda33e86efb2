//! Replays the cargo-fuzz corpus and crash regressions of the `rdb` target
//! (fuzz/corpus/rdb, fuzz/regressions/rdb) through `check_rdb_invariants`: bad bytes give an
//! error, never a panic or an allocation of a claimed length.

use std::path::PathBuf;

fn files(sub: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(sub);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn rdb_fuzz_corpus_and_regressions_replay() {
    let corpus = files("corpus/rdb");
    assert!(corpus.len() >= 10, "{} seed files", corpus.len());
    for p in corpus.iter().chain(files("regressions/rdb").iter()) {
        let data = std::fs::read(p).unwrap();
        pyrope_common::rdb::check_rdb_invariants(&data);
        // Every prefix too (truncation is the most common damage).
        if data.len() <= 4096 {
            for n in 0..data.len() {
                pyrope_common::rdb::check_rdb_invariants(&data[..n]);
            }
        }
    }
}

/// Claimed lengths far beyond the input fail fast without allocating them: a 4 GB string
/// length in a 20-byte file, a 2^62 element count, an LZF string claiming 1 GB.
#[test]
fn huge_claimed_lengths_are_not_allocated() {
    let mut f = b"REDIS0011".to_vec();
    f.extend_from_slice(&[0x00, 0x01, b'k', 0x80, 0xff, 0xff, 0xff, 0xff, b'x']);
    pyrope_common::rdb::check_rdb_invariants(&f);
    let mut f = b"REDIS0011".to_vec();
    f.extend_from_slice(&[
        0x02, 0x01, b'k', 0x81, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x01, b'a',
    ]);
    pyrope_common::rdb::check_rdb_invariants(&f);
    let mut f = b"REDIS0011".to_vec();
    f.extend_from_slice(&[0x00, 0x01, b'k', 0xc3, 0x02, 0x80, 0x40, 0, 0, 0, 1, 2]);
    pyrope_common::rdb::check_rdb_invariants(&f);
}
