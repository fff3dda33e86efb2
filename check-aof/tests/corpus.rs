//! pyrope-check-aof over copies of the persistence corpus's damaged AOFs
//! (../shared/corpus/aof/damaged): exit codes equal to the real redis-check-aof's, and every
//! line of its output a script would parse (`AOF analyzed: ...`, `0x...: reason`, `... is
//! valid`, `Failed to truncate ...`, the manifest FATAL block) printed identically.
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    let p = std::env::var_os("PYROPE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
        })
        .join("corpus/aof/damaged");
    assert!(p.is_dir(), "corpus missing at {}", p.display());
    p
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
            let mut p = std::fs::metadata(&dst).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            p.set_readonly(false);
            std::fs::set_permissions(&dst, p).unwrap();
        }
    }
}

fn parsable(line: &str) -> bool {
    let l = line.trim();
    l.starts_with("AOF ")
        || l.starts_with("0x")
        || l.starts_with("BASE AOF")
        || l.starts_with("INCR AOF")
        || l.starts_with("Failed to truncate")
        || l.starts_with("Cannot open file")
        || l.starts_with("This will shrink")
        || l.starts_with("Successfully truncated")
        || l.starts_with("All AOF files")
        || l.starts_with("Start ")
        || l.starts_with(">>>")
        || l.starts_with("Reading the manifest")
        || l.starts_with("Invalid AOF manifest")
        || l.starts_with("Unknown AOF file type")
}

/// Runs the tool as the corpus ran redis-check-aof (same args, cwd = a copy of the case).
fn run(cwd: &Path, args: &[String], stdin: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyrope-check-aof"))
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn compare(case: &str, key: &str, cwd: &Path, j: &serde_json::Value, stdin: &str) {
    let rec = &j[key];
    let args: Vec<String> = rec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let (code, out) = run(cwd, &args, stdin);
    assert_eq!(
        code as i64,
        rec["exit_code"].as_i64().unwrap(),
        "{case} {key}: {out}"
    );
    let ours: Vec<&str> = out.lines().map(str::trim).collect();
    for l in rec["output"].as_str().unwrap().lines() {
        // Redis's "Continue? [y/N]: " has the answer's next line glued to it.
        let l = l.trim_start_matches("Continue? [y/N]: ");
        // Log-prefixed lines of the FATAL block: compare the message part.
        let msg = l.split(" # ").last().unwrap_or(l).trim();
        // The RDB report of a preamble/base: every `[offset N] ...` line (AUX fields, SELECTDB,
        // the error's offset and reason) as redis-check-rdb printed it, the reason of a
        // corruption without its rdb.c line.
        if let Some(rest) = l.strip_prefix("[offset ") {
            let want = match rest.find("Internal error in RDB reading offset 0, function at rdb.c:")
            {
                Some(i) => {
                    let arrow = rest.find(" -> ").unwrap();
                    format!(
                        "[offset {}Internal error in RDB reading{}",
                        &rest[..i],
                        &rest[arrow..]
                    )
                }
                None => l.to_string(),
            };
            assert!(
                ours.contains(&want.trim()),
                "{case} {key}: missing {want:?} in\n{out}"
            );
        }
        if parsable(msg) {
            assert!(
                ours.iter().any(|o| o.ends_with(msg)),
                "{case} {key}: missing {msg:?} in\n{out}"
            );
        }
    }
}

#[test]
fn damaged_files_match_redis_check_aof() {
    let root = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let case = p.file_stem().unwrap().to_str().unwrap().to_string();
        let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        for (key, stdin) in [
            ("check_aof", ""),
            ("check_aof_fix", "y\n"),
            ("check_aof_after_fix", ""),
        ] {
            if j.get(key).is_none() {
                continue;
            }
            let cwd = tmp.path().join(format!("{case}-{key}"));
            if root.join(&case).is_dir() {
                copy_dir(&root.join(&case), &cwd);
            } else {
                std::fs::create_dir_all(&cwd).unwrap();
                std::fs::copy(
                    root.join(format!("{case}.aof")),
                    cwd.join(format!("{case}.aof")),
                )
                .unwrap();
            }
            if key == "check_aof_after_fix" {
                // Run after a fix, in the same copy.
                let args: Vec<String> = j["check_aof_fix"]["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect();
                run(&cwd, &args, "y\n");
            }
            compare(&case, key, &cwd, &j, stdin);
            n += 1;
        }
    }
    assert!(n >= 20, "{n} runs");
}

#[test]
fn fix_keeps_a_backup_and_never_overwrites_one() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("a.aof");
    let orig = std::fs::read(corpus().join("legacy-truncated.aof")).unwrap();
    std::fs::write(&f, &orig).unwrap();
    std::fs::write(tmp.path().join("a.aof.bak"), b"older backup").unwrap();
    let (code, out) = run(
        tmp.path(),
        &["--fix".into(), "--yes".into(), "a.aof".into()],
        "",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("The cut part starts at offset 147195 with: \"*"),
        "{out}"
    );
    assert_eq!(std::fs::read(&f).unwrap().len(), 147195);
    assert_eq!(
        std::fs::read(tmp.path().join("a.aof.bak")).unwrap(),
        b"older backup"
    );
    let backups: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("a.aof.bak."))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read(tmp.path().join(&backups[0])).unwrap(), orig);
    // Declining leaves the file alone.
    std::fs::write(&f, &orig).unwrap();
    let (code, out) = run(tmp.path(), &["--fix".into(), "a.aof".into()], "n\n");
    assert_eq!(
        (code, std::fs::read(&f).unwrap().len()),
        (1, orig.len()),
        "{out}"
    );
}

#[test]
fn truncate_to_timestamp_cuts_at_the_first_later_annotation() {
    let src = corpus().join("../redis-7.0.15-timestamps/appendonlydir");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("appendonlydir");
    copy_dir(&src, &d);
    let incr = d.join("appendonly.aof.2.incr.aof");
    let data = std::fs::read(&incr).unwrap();
    // The second annotation's time: cut there, keep the first second.
    let text = String::from_utf8_lossy(&data).into_owned();
    let second_at = text.match_indices("#TS:").nth(1).unwrap().0;
    let first_ts: i64 = text[4..].split('\r').next().unwrap().parse().unwrap();
    let (code, out) = run(
        tmp.path(),
        &[
            "--truncate-to-timestamp".into(),
            first_ts.to_string(),
            "appendonlydir/appendonly.aof.manifest".into(),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "Successfully truncated AOF appendonly.aof.2.incr.aof to timestamp {first_ts}"
        )),
        "{out}"
    );
    assert_eq!(std::fs::read(&incr).unwrap().len(), second_at);
}

/// A legacy AOF whose RDB preamble has a bad CRC (the last trailer byte flipped): the same
/// `[offset N] RDB CRC error` and "not sane" lines and exit code as the real redis-check-aof
/// (7.0.15) on the same bytes; and a good preamble passes with the command tail checked.
#[test]
fn rdb_preamble_checked_by_the_rdb_reader() {
    let src = corpus().join("../redis-tests-assets/rdb-preamble.aof");
    let data = std::fs::read(&src).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("good.aof"), &data).unwrap();
    let (code, out) = run(tmp.path(), &["good.aof".into()], "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[offset 117] Checksum OK"), "{out}");
    assert!(
        out.contains("RDB preamble is OK, proceeding with AOF tail..."),
        "{out}"
    );
    assert!(out.contains("AOF good.aof is valid"), "{out}");
    let mut bad = data.clone();
    bad[116] ^= 0xff;
    std::fs::write(tmp.path().join("bad.aof"), &bad).unwrap();
    let (code, out) = run(tmp.path(), &["bad.aof".into()], "");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[offset 117] RDB CRC error"), "{out}");
    assert!(
        out.contains("[additional info] While doing: check-sum"),
        "{out}"
    );
    assert!(
        out.contains("RDB preamble of AOF file is not sane, aborting."),
        "{out}"
    );
    let real = "/usr/bin/redis-check-aof";
    if Path::new(real).exists() {
        let o = Command::new(real)
            .arg("bad.aof")
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let theirs = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(o.status.code(), Some(code), "{theirs}");
        for l in theirs.lines() {
            if l.starts_with("[offset ") || l.starts_with("RDB preamble") {
                assert!(out.lines().any(|o| o == l), "missing {l:?} in\n{out}");
            }
        }
    }
}
