//! ACL security cases, each run against Redis 7.4.1 and Pyrope with the same assertions (so
//! a case cannot pass by both servers agreeing on nothing): a user limited to `~app:*`
//! `+@read` cannot read other keys, write, run scripts touching other keys or subscribe
//! outside its channels; failed AUTH is logged in ACL LOG and counted in INFO; an ACL file
//! survives ACL SAVE + restart and is re-read by ACL LOAD; `user` directives and
//! `requirepass` in the config file; clients of a deleted user, or subscribed to channels
//! their user lost, are disconnected; CLIENT LIST shows the user.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::Duration;

/// Text of a reply (RESP with CRLF shown as spaces).
fn show(f: &Frame) -> String {
    let mut b = Vec::new();
    f.encode(&mut b);
    String::from_utf8_lossy(&b).replace("\r\n", " ")
}

fn run(c: &mut Client, args: &[&str]) -> String {
    show(&call(c, args))
}

fn both(args: &[&str]) -> Vec<TestServer> {
    require_reference();
    vec![TestServer::redis(args), TestServer::pyrope(args)]
}

#[test]
fn restricted_user_is_confined() {
    for s in both(&[]) {
        let mut admin = s.client();
        run(&mut admin, &["SET", "app:1", "v1"]);
        run(&mut admin, &["SET", "other", "v2"]);
        assert_eq!(
            run(
                &mut admin,
                &[
                    "ACL",
                    "SETUSER",
                    "app",
                    "on",
                    ">pw",
                    "~app:*",
                    "&app:*",
                    "+@read",
                    "+eval",
                    "+subscribe",
                    "+psubscribe",
                    "+publish",
                ]
            ),
            "+OK "
        );
        let mut c = s.client();
        assert_eq!(run(&mut c, &["AUTH", "app", "pw"]), "+OK ");
        assert_eq!(run(&mut c, &["GET", "app:1"]), "$2 v1 ");
        let key_denied = "-NOPERM No permissions to access a key ";
        assert_eq!(run(&mut c, &["GET", "other"]), key_denied);
        assert_eq!(run(&mut c, &["MGET", "app:1", "other"]), key_denied);
        assert_eq!(
            run(&mut c, &["SET", "app:1", "x"]),
            "-NOPERM User app has no permissions to run the 'set' command "
        );
        assert_eq!(
            run(&mut c, &["DEL", "app:1"]),
            "-NOPERM User app has no permissions to run the 'del' command "
        );
        // Scripts: the keys it declares, and the commands it runs, as the caller.
        assert_eq!(run(&mut c, &["EVAL", "return 1", "1", "other"]), key_denied);
        let r = run(&mut c, &["EVAL", "return redis.call('get','other')", "0"]);
        assert!(
            r.starts_with("-ERR ACL failure in script: No permissions to access a key"),
            "{r}"
        );
        let r = run(
            &mut c,
            &["EVAL", "return redis.call('set','app:1','w')", "0"],
        );
        assert!(
            r.starts_with(
                "-ERR ACL failure in script: User app has no permissions to run the 'set' command"
            ),
            "{r}"
        );
        assert_eq!(
            run(&mut c, &["EVAL", "return redis.call('get','app:1')", "0"]),
            "$2 v1 "
        );
        assert_eq!(
            run(
                &mut c,
                &["EVAL", "return redis.acl_check_cmd('get','other')", "0"]
            ),
            "$-1 "
        );
        assert_eq!(run(&mut admin, &["GET", "app:1"]), "$2 v1 ");
        // Channels.
        let ch_denied = "-NOPERM No permissions to access a channel ";
        assert_eq!(run(&mut c, &["PUBLISH", "news", "x"]), ch_denied);
        assert_eq!(run(&mut c, &["SUBSCRIBE", "news"]), ch_denied);
        assert_eq!(run(&mut c, &["PSUBSCRIBE", "app:*x"]), ch_denied);
        assert_eq!(run(&mut c, &["PUBLISH", "app:news", "x"]), ":0 ");
        assert_eq!(
            run(&mut c, &["SUBSCRIBE", "app:news"]),
            "*3 $9 subscribe $8 app:news :1 "
        );
        let info = info(&mut admin, "stats");
        assert_eq!(
            info_field(&info, "acl_access_denied_key").as_deref(),
            Some("4"),
            "{:?}",
            s.addr()
        );
        assert_eq!(
            info_field(&info, "acl_access_denied_cmd").as_deref(),
            Some("3")
        );
        assert_eq!(
            info_field(&info, "acl_access_denied_channel").as_deref(),
            Some("3")
        );
        let list = run(&mut admin, &["CLIENT", "LIST"]);
        assert!(list.contains("user=app"), "{list}");
    }
}

#[test]
fn wrong_passwords_are_logged() {
    for s in both(&[]) {
        let mut admin = s.client();
        run(
            &mut admin,
            &["ACL", "SETUSER", "u1", "on", ">right", "+@all"],
        );
        let mut c = s.client();
        let wrong = "-WRONGPASS invalid username-password pair or user is disabled. ";
        assert_eq!(run(&mut c, &["AUTH", "u1", "wrong"]), wrong);
        assert_eq!(run(&mut c, &["AUTH", "u1", "wrong2"]), wrong);
        assert_eq!(run(&mut c, &["AUTH", "ghost", "x"]), wrong);
        assert_eq!(run(&mut c, &["HELLO", "2", "AUTH", "u1", "nope"]), wrong);
        // A disabled user cannot log in even with its password.
        run(&mut admin, &["ACL", "SETUSER", "u1", "off"]);
        assert_eq!(run(&mut c, &["AUTH", "u1", "right"]), wrong);
        run(&mut admin, &["ACL", "SETUSER", "u1", "on"]);
        assert_eq!(run(&mut c, &["AUTH", "u1", "right"]), "+OK ");
        assert_eq!(run(&mut c, &["ACL", "WHOAMI"]), "$2 u1 ");
        let log = run(&mut admin, &["ACL", "LOG"]);
        // Newest first: u1's AUTH failures (grouped: 3), its HELLO failure, ghost's.
        assert!(
            log.starts_with("*3 *20 $5 count :3 $6 reason $4 auth $7 context $8 toplevel $6 object $4 AUTH $8 username $2 u1 "),
            "{log}"
        );
        let hello = log
            .find("$6 object $5 HELLO $8 username $2 u1")
            .expect("HELLO entry");
        let ghost = log.find("$8 username $5 ghost").expect("ghost entry");
        assert!(hello < ghost, "{log}");
        let info = info(&mut admin, "stats");
        assert_eq!(
            info_field(&info, "acl_access_denied_auth").as_deref(),
            Some("5")
        );
        // CONFIG RESETSTAT keeps the ACL counters (Redis 7.4.1).
        assert_eq!(run(&mut admin, &["CONFIG", "RESETSTAT"]), "+OK ");
        let info = pyrope_tests::info(&mut admin, "stats");
        assert_eq!(
            info_field(&info, "acl_access_denied_auth").as_deref(),
            Some("5")
        );
        assert_eq!(run(&mut admin, &["ACL", "LOG", "RESET"]), "+OK ");
        assert_eq!(run(&mut admin, &["ACL", "LOG"]), "*0 ");
    }
}

/// The fields of the newest ACL LOG entry (RESP2 flat pairs), as text.
fn newest_log_entry(c: &mut Client) -> Vec<(String, String)> {
    let Frame::Array(Some(v)) = call(c, &["ACL", "LOG", "1"]) else {
        panic!("ACL LOG")
    };
    let Some(Frame::Array(Some(e))) = v.first() else {
        panic!("no ACL LOG entry")
    };
    let text = |f: &Frame| match f {
        Frame::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        Frame::Integer(i) => i.to_string(),
        other => format!("{other:?}"),
    };
    e.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect()
}

#[test]
fn log_age_counts_from_the_last_repeat() {
    // Redis 7.4.1: a repeated denial updates the entry's time (`ctime`), and age-seconds
    // is measured from it, not from timestamp-created.
    for s in both(&[]) {
        let mut admin = s.client();
        run(
            &mut admin,
            &["ACL", "SETUSER", "lu", "on", "nopass", "-@all"],
        );
        let mut c = s.client();
        assert_eq!(run(&mut c, &["AUTH", "lu", "x"]), "+OK ");
        let noperm = "-NOPERM User lu has no permissions to run the 'ping' command ";
        assert_eq!(run(&mut c, &["PING"]), noperm);
        std::thread::sleep(Duration::from_millis(2000));
        assert_eq!(run(&mut c, &["PING"]), noperm);
        std::thread::sleep(Duration::from_millis(300));
        let e = newest_log_entry(&mut admin);
        let get = |k: &str| -> String {
            e.iter()
                .find(|(x, _)| x == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{k} in {e:?}"))
        };
        assert_eq!(get("count"), "2", "{e:?}");
        let created: i64 = get("timestamp-created").parse().unwrap();
        let updated: i64 = get("timestamp-last-updated").parse().unwrap();
        let age: f64 = get("age-seconds").parse().unwrap();
        assert!(updated - created >= 1900, "{e:?}");
        assert!((0.2..1.5).contains(&age), "age-seconds {age}: {e:?}");
    }
}

#[test]
fn aclfile_save_restart_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.acl");
    std::fs::write(&path, "").unwrap();
    let p = path.to_str().unwrap();
    let s = TestServer::pyrope(&["--aclfile", p]);
    let mut c = s.client();
    run(
        &mut c,
        &[
            "ACL",
            "SETUSER",
            "kim",
            "on",
            ">pw",
            "~k:*",
            "&c",
            "+get",
            "(%R~r:* +hget)",
        ],
    );
    assert_eq!(run(&mut c, &["ACL", "SAVE"]), "+OK ");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("user kim on sanitize-payload #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~k:* resetchannels &c -@all +get (%R~r:* resetchannels -@all +hget)"),
        "{text}"
    );
    drop(c);
    drop(s);
    let s = TestServer::pyrope(&["--aclfile", p]);
    let mut c = s.client();
    assert_eq!(run(&mut c, &["AUTH", "kim", "pw"]), "+OK ");
    assert_eq!(run(&mut c, &["GET", "k:1"]), "$-1 ");
    assert_eq!(
        run(&mut c, &["GET", "x"]),
        "-NOPERM No permissions to access a key "
    );
    let mut admin = s.client();
    // ACL LOAD replaces the users with the file's (kim's client is closed: its user changed).
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser lee on >p2 +@all ~*\n",
    )
    .unwrap();
    assert_eq!(run(&mut admin, &["ACL", "LOAD"]), "+OK ");
    assert_eq!(run(&mut admin, &["ACL", "USERS"]), "*2 $7 default $3 lee ");
    assert!(c.call(&["PING"]).is_err(), "kim's client is disconnected");
    // A bad file changes nothing.
    std::fs::write(&path, "user zed on +nosuch\n").unwrap();
    let r = run(&mut admin, &["ACL", "LOAD"]);
    assert!(r.starts_with("-ERR "), "{r}");
    assert!(
        r.contains("no change to the previously active ACL rules"),
        "{r}"
    );
    assert_eq!(run(&mut admin, &["ACL", "USERS"]), "*2 $7 default $3 lee ");
}

#[test]
fn config_file_users_and_requirepass() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("p.conf");
    std::fs::write(
        &conf,
        "user bob on >bpw ~b:* +@all\nuser eve off >epw +@all\nrequirepass topsecret\n",
    )
    .unwrap();
    let s = TestServer::pyrope(&[conf.to_str().unwrap()]);
    let mut c = s.client();
    assert_eq!(
        run(&mut c, &["GET", "x"]),
        "-NOAUTH Authentication required. "
    );
    assert_eq!(
        run(&mut c, &["AUTH", "eve", "epw"]),
        "-WRONGPASS invalid username-password pair or user is disabled. "
    );
    assert_eq!(run(&mut c, &["AUTH", "bob", "bpw"]), "+OK ");
    assert_eq!(run(&mut c, &["SET", "b:1", "v"]), "+OK ");
    assert_eq!(
        run(&mut c, &["SET", "a", "v"]),
        "-NOPERM No permissions to access a key "
    );
    let mut d = s.client();
    assert_eq!(run(&mut d, &["AUTH", "topsecret"]), "+OK ");
    assert_eq!(run(&mut d, &["ACL", "WHOAMI"]), "$7 default ");
    // CONFIG SET requirepass changes the default user's password.
    assert_eq!(
        run(&mut d, &["CONFIG", "SET", "requirepass", "other"]),
        "+OK "
    );
    let mut e = s.client();
    assert_eq!(
        run(&mut e, &["AUTH", "topsecret"]),
        "-WRONGPASS invalid username-password pair or user is disabled. "
    );
    assert_eq!(run(&mut e, &["AUTH", "default", "other"]), "+OK ");
    assert_eq!(run(&mut d, &["CONFIG", "SET", "requirepass", ""]), "+OK ");
    let mut f = s.client();
    assert_eq!(run(&mut f, &["PING"]), "+PONG ");
    assert!(run(&mut f, &["ACL", "GETUSER", "default"]).contains("nopass"));
}

#[test]
fn permission_changes_disconnect_clients() {
    for s in both(&[]) {
        let mut admin = s.client();
        run(
            &mut admin,
            &["ACL", "SETUSER", "sub", "on", ">pw", "&news*", "+@all"],
        );
        let mut c = s.client();
        run(&mut c, &["AUTH", "sub", "pw"]);
        assert_eq!(
            run(&mut c, &["SUBSCRIBE", "news1"]),
            "*3 $9 subscribe $5 news1 :1 "
        );
        // Still allowed: the client stays.
        run(&mut admin, &["ACL", "SETUSER", "sub", "&other"]);
        assert_eq!(run(&mut admin, &["PUBLISH", "news1", "m"]), ":1 ");
        // The channel is no longer allowed: the client is disconnected.
        run(
            &mut admin,
            &["ACL", "SETUSER", "sub", "resetchannels", "&other"],
        );
        assert!(wait_for(Duration::from_secs(5), || {
            run(&mut admin, &["PUBLISH", "news1", "m"]) == ":0 "
        }));
        // Deleting a user disconnects its clients.
        let mut d = s.client();
        run(&mut d, &["AUTH", "sub", "pw"]);
        assert_eq!(run(&mut admin, &["ACL", "DELUSER", "sub"]), ":1 ");
        assert!(d.call(&["PING"]).is_err(), "deleted user's client closed");
    }
}
