//! Collection internals a command script cannot compare byte for byte, checked against Redis
//! 7.4.1: DEBUG OBJECT's encoding and quicklist fields (node count, average node, the fill a
//! list was created with, listpack bytes) with the address, LRU and serialized length masked.

use pyrope_tests::*;

/// DEBUG OBJECT without the fields that differ by nature (address, LRU clock and idle time)
/// or that come with the RDB writer (serializedlength).
fn debug_object(c: &mut pyrope_common::client::Client, key: &str) -> String {
    let f = c.call(&["DEBUG", "OBJECT", key]).unwrap();
    let mut b = Vec::new();
    f.encode(&mut b);
    String::from_utf8_lossy(&b)
        .split(' ')
        .filter(|w| {
            !(w.starts_with("at:")
                || w.starts_with("lru:")
                || w.starts_with("lru_seconds_idle:")
                || w.starts_with("serializedlength:"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn debug_object_of_lists_matches_redis() {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    let mut transcripts = Vec::new();
    for srv in [TestServer::redis(&args), TestServer::pyrope(&args)] {
        let mut c = srv.client();
        let mut t = Vec::new();
        let wide: Vec<String> = (0..100).map(|i| format!("{i:0>60}")).collect();
        for _ in 0..20 {
            let mut cmd = vec!["RPUSH", "wide"];
            cmd.extend(wide.iter().map(|s| s.as_str()));
            c.call(&cmd).unwrap();
        }
        let nums: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        let mut cmd = vec!["RPUSH", "ints"];
        cmd.extend(nums.iter().map(|s| s.as_str()));
        c.call(&cmd).unwrap();
        // A list keeps the fill it was created with after CONFIG SET (quicklist->fill).
        c.call(&["CONFIG", "SET", "list-max-listpack-size", "5"])
            .unwrap();
        let mut cmd = vec!["RPUSH", "five"];
        cmd.extend(nums[..23].iter().map(|s| s.as_str()));
        c.call(&cmd).unwrap();
        c.call(&["CONFIG", "SET", "list-max-listpack-size", "-2"])
            .unwrap();
        let mut cmd = vec!["LPUSH", "five"];
        cmd.extend(nums[..9].iter().map(|s| s.as_str()));
        c.call(&cmd).unwrap();
        c.call(&["LINSERT", "five", "BEFORE", "10", "new"]).unwrap();
        c.call(&["RPUSH", "small", "a", "b"]).unwrap();
        for key in ["wide", "ints", "five", "small"] {
            t.push(debug_object(&mut c, key));
        }
        // Pops down to one small node convert back to a listpack.
        c.call(&["LTRIM", "ints", "0", "9"]).unwrap();
        t.push(debug_object(&mut c, "ints"));
        transcripts.push(t);
    }
    assert_eq!(
        transcripts[0], transcripts[1],
        "redis (left), pyrope (right)"
    );
    assert!(
        transcripts[1][2].contains("ql_listpack_max:5"),
        "{:?}",
        transcripts[1]
    );
}
