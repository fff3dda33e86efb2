//! Server administration commands: TIME, LASTSAVE, SHUTDOWN and DEBUG (SLEEP,
//! SET-ACTIVE-EXPIRE, OBJECT, POPULATE, DIGEST, DIGEST-VALUE, PROTOCOL, LOG, ERROR,
//! CHANGE-REPL-ID, REPL-STREAM, RELOAD, HELP). CONFIG's handlers are in `config/command.rs`.

use crate::command::{Ctx, Handler};
use crate::keyspace::NewValue;

fn time(c: &mut Ctx) {
    let us = crate::server::unix_us();
    c.out.array(2);
    c.out.bulk_i64(us / 1_000_000);
    c.out.bulk_i64(us % 1_000_000);
}

fn lastsave(c: &mut Ctx) {
    c.out.int(c.srv.lastsave_s);
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT], with Redis's `shutdownCommand` rules:
/// ABORT with any other flag, or NOSAVE with SAVE, is a syntax error.
fn shutdown(c: &mut Ctx) {
    let (mut abort, mut save, mut nosave, mut other) = (false, false, false, false);
    let mut force = false;
    for i in 1..c.argc() {
        match crate::command::opt(c.arg(i)).as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" => other = true,
            b"force" => {
                other = true;
                force = true;
            }
            b"abort" => abort = true,
            _ => return c.out.syntax_error(),
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return c.out.syntax_error();
    }
    if abort {
        return c.out.error("ERR No shutdown in progress.");
    }
    let how = crate::shutdown::How {
        save,
        nosave,
        force,
    };
    match crate::shutdown::prepare_shutdown(c.srv, how) {
        Ok(code) => c.srv.shutdown = Some(code),
        Err(()) => c.out.error("ERR Errors trying to SHUTDOWN. Check logs."),
    }
}

/// True if DEBUG is allowed for this client (`enable-debug-command`).
fn debug_allowed(c: &Ctx) -> bool {
    match c.srv.config.get("enable-debug-command").unwrap_or("no") {
        "yes" => true,
        "local" => c.srv.clients[c.cid].is_local(),
        _ => false,
    }
}

/// C `strtod()` of the argument (as a C string), 0.0 when nothing parses.
fn c_strtod(a: &[u8]) -> f64 {
    let s = std::ffi::CString::new(crate::command::cstr(a)).unwrap_or_default();
    // SAFETY: `s` is a valid NUL-terminated string; a null end pointer is allowed.
    unsafe { libc::strtod(s.as_ptr(), std::ptr::null_mut()) }
}

fn debug(c: &mut Ctx) {
    if !debug_allowed(c) {
        return c.out.error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
    }
    let sub = crate::command::opt(c.arg(1));
    match (sub.as_slice(), c.argc()) {
        (b"help", 2) => c.out.help_lines(crate::help::DEBUG),
        (b"sleep", 3) => {
            // strtod() as Redis (hex floats included); the microsecond count is a C long long,
            // so NaN, infinities and negatives do not sleep at all.
            let secs = c_strtod(c.arg(2));
            let us = secs * 1e6;
            if us.is_finite() && us >= 1.0 && us < i64::MAX as f64 {
                std::thread::sleep(std::time::Duration::from_micros(us as u64));
            }
            c.out.ok();
        }
        (b"set-active-expire", 3) => {
            c.srv.active_expire_enabled =
                pyrope_common::util::string2ll(c.arg(2)).unwrap_or(0) != 0;
            c.out.ok();
        }
        (b"object", 3) => {
            let Some(h) = c.lookup_notouch(c.arg(2)) else {
                return c.out.error("ERR no such key");
            };
            let e = c.srv.ks.get(h);
            let idle = crate::server::idle_ms(c.srv.lruclock, e.lru()) / 1000;
            // rdbSavedObjectLen: the RDB body as SAVE and DUMP write it (compressed per
            // `rdbcompression`), without the type byte. Redis 7.4's rdbSaveObject does not
            // count the 8-byte minimum field TTL of the hash types with field TTLs (24, 25)
            // in what it returns, so neither do we.
            let compress = c.srv.config.get("rdbcompression") != Some("no");
            let hfe = c.srv.ks.hfe_registered(c.db, c.arg(2));
            let mut body = Vec::new();
            let t = crate::rdb::put_object(
                &mut body,
                &e.value(),
                crate::dump::DUMP_RDB_VERSION,
                compress,
                hfe,
            );
            let uncounted = match t {
                Ok(pyrope_common::rdb::types::HASH_METADATA)
                | Ok(pyrope_common::rdb::types::HASH_LISTPACK_EX) => 8,
                _ => 0,
            };
            let s = format!(
                "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                e.addr() as *const u8,
                e.encoding().name(),
                body.len() - uncounted,
                e.lru(),
                idle
            );
            let mut s = s;
            if let crate::keyspace::ValueRef::Boxed(crate::object::Value::List(l)) = e.value() {
                // debug.c's quicklist fields: node count, average elements per node, the
                // fill setting, whether compression is on, and the listpack bytes.
                if let Some((nodes, bytes, fill)) = l.quicklist_stats() {
                    let depth = l.compress_depth().unwrap_or(0);
                    let _ = std::fmt::Write::write_fmt(
                        &mut s,
                        format_args!(
                            " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{}",
                            nodes,
                            l.len() as f64 / nodes.max(1) as f64,
                            fill,
                            i32::from(depth != 0),
                            bytes
                        ),
                    );
                }
            }
            c.out.simple(&s);
        }
        (b"populate", 3..=5) => {
            let positive = |b: &[u8]| pyrope_common::util::string2ll(b).filter(|v| *v >= 0);
            let Some(count) = positive(c.arg(2)) else {
                return c.out.error("ERR value is out of range, must be positive");
            };
            let prefix: Vec<u8> = if c.argc() >= 4 {
                c.arg(3).to_vec()
            } else {
                b"key".to_vec()
            };
            let size = if c.argc() == 5 {
                match positive(c.arg(4)) {
                    Some(v) => v as usize,
                    None => return c.out.error("ERR value is out of range, must be positive"),
                }
            } else {
                0
            };
            if count == 0 {
                // Nothing to create, so nothing to allocate (Redis answers +OK too).
                return c.out.ok();
            }
            // Redis would abort in zmalloc on a value it cannot allocate; answer instead.
            // Values are bounded like any string a client can send.
            if size as u64 > c.srv.settings.proto_max_bulk_len {
                return c.out.error(crate::reply::errors::STRING_TOO_LONG);
            }
            let lru = c.srv.new_key_lru();
            let db = c.db;
            let want = c.srv.ks.db(db).len().saturating_add(count as usize);
            if let Err(e) = c.srv.ks.try_expand(db, want) {
                // Redis 7.0's answer (7.4 starts populating and never answers).
                return c.out.error(&format!("ERR {e}"));
            }
            let mut key = Vec::with_capacity(prefix.len() + 21);
            let mut val = Vec::with_capacity(size.max(32));
            for j in 0..count {
                key.clear();
                key.extend_from_slice(&prefix);
                key.push(b':');
                pyrope_common::util::push_i64(&mut key, j);
                if c.lookup_in(db, &key, crate::keyspace::Touch::No).is_some() {
                    continue;
                }
                val.clear();
                val.extend_from_slice(b"value:");
                pyrope_common::util::push_i64(&mut val, j);
                if size > 0 {
                    val.resize(size, 0);
                }
                let v = if val.len() <= crate::object::EMBSTR_SIZE_LIMIT {
                    NewValue::Inline(&val)
                } else {
                    crate::keyspace::raw_string_value(val.clone())
                };
                c.srv.ks.add(db, &key, v, None, lru, None);
            }
            c.out.ok();
        }
        (b"listpack", 3) => {
            // Redis prints lpRepr() on stdout; ours goes to the log at warning level.
            let Some(h) = c.lookup_notouch(c.arg(2)) else {
                return c.out.error("ERR no such key");
            };
            let e = c.srv.ks.get(h);
            let Some(lp) = listpack_of(&e.value()) else {
                return c.out.error("ERR Not a listpack encoded object.");
            };
            let mut text = format!(
                "{{total bytes {}}} {{num entries {}}}",
                lp.bytes(),
                lp.len()
            );
            for (i, x) in lp.iter().enumerate() {
                let _ = std::fmt::Write::write_fmt(&mut text, format_args!("\n  {i}: "));
                match x {
                    pyrope_common::listpack::ListpackEntry::Int(v) => {
                        let _ = std::fmt::Write::write_fmt(&mut text, format_args!("[int]{v}"));
                    }
                    pyrope_common::listpack::ListpackEntry::Str(b) => {
                        let _ = std::fmt::Write::write_fmt(
                            &mut text,
                            format_args!("[str]{}", String::from_utf8_lossy(b)),
                        );
                    }
                }
            }
            crate::log!(
                Warning,
                "DEBUG LISTPACK {}:\n{text}",
                String::from_utf8_lossy(c.arg(2))
            );
            c.out.simple("Listpack structure printed on stdout");
        }
        (b"quicklist-packed-threshold", 3) => {
            // quicklistSetPackedThreshold: elements of at least this many bytes get a plain
            // quicklist node of their own; at most 4 GB - 1 MB; 0 restores 1 GB.
            let v = std::str::from_utf8(c.arg(2))
                .ok()
                .and_then(crate::config::memtoull);
            match v {
                Some(v) if crate::types::list::set_packed_threshold(v) => c.out.ok(),
                _ => c.out.error(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                ),
            }
        }
        (b"loadaof", 2) => {
            // debug.c: write what is buffered, empty the dataset, load the AOF again.
            if crate::aof::debug_loadaof(c.srv).is_err() {
                crate::log!(Warning, "DEBUG LOADAOF failed to load the AOF: exiting");
                std::process::exit(1);
            }
            c.out.ok();
        }
        (b"reload", _) => {
            // debug.c: save (unless NOSAVE), empty every db (unless NOFLUSH), load the file.
            // MERGE is accepted; a key already present still fails the load (no replace yet).
            let (mut save, mut flush) = (true, true);
            for i in 2..c.argc() {
                match crate::command::opt(c.arg(i)).as_slice() {
                    b"merge" => {}
                    b"noflush" => flush = false,
                    b"nosave" => save = false,
                    _ => {
                        return c.out.error(
                            "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                        )
                    }
                }
            }
            if save && crate::persist::save_foreground(c.srv).is_err() {
                return c.out.error("ERR");
            }
            if flush {
                for db in 0..c.srv.ks.dbs() {
                    crate::multi::touch_all_watched_keys_in_db(c.srv, db, None);
                    let _ = c.srv.ks.flush_db(db);
                }
            }
            let path = crate::persist::rdb_filename(c.srv);
            match crate::rdb::load_file(c.srv, &path) {
                Ok(_) => {
                    crate::log!(Notice, "DB reloaded by DEBUG RELOAD");
                    c.out.ok();
                }
                Err(e) => {
                    crate::log!(Warning, "{e}");
                    c.out
                        .error("ERR Error trying to load the RDB dump, check server logs.");
                }
            }
        }
        (b"digest", 2) => {
            let d = crate::digest::dataset_digest(&c.srv.ks);
            c.out.simple(&crate::digest::hex(&d));
        }
        (b"digest-value", _) => {
            // Logically expired keys count too: a debug command looks at the dict itself.
            c.out.array(c.argc() - 2);
            for i in 2..c.argc() {
                let d = match c.srv.ks.peek(c.db, c.arg(i)) {
                    Some(e) => crate::digest::value_digest(&e),
                    None => [0; 20],
                };
                c.out.simple(&crate::digest::hex(&d));
            }
        }
        (b"protocol", 3) => debug_protocol(c),
        (b"log", 3) => {
            crate::log!(Warning, "DEBUG LOG: {}", String::from_utf8_lossy(c.arg(2)));
            c.out.ok();
        }
        (b"error", 3) => {
            let msg = c.arg(2).to_vec();
            c.out.error_verbatim(&msg);
        }
        (b"repl-stream", 2) => {
            // Pyrope's own: a consumer of the propagation stream for tests. The first call
            // attaches it (from then on the stream is produced as for a replica or the AOF)
            // and answers an empty string; each later call answers the bytes since the last.
            if !c.srv.stream_capture {
                c.srv.stream_capture = true;
                c.srv.propagator.consumers += 1;
                c.srv.propagator.stream_consumers += 1;
                c.srv.update_signal_wants();
                c.out.bulk(b"");
            } else {
                let s = c.srv.propagator.take_stream();
                c.out.bulk(&s);
            }
        }
        (b"change-repl-id", 2) => {
            crate::log!(
                Warning,
                "Changing replication IDs after receiving DEBUG change-repl-id"
            );
            c.srv.replid = crate::server::random_hex40();
            c.out.ok();
        }
        _ => {
            let msg = format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                crate::command::trunc(c.arg(1), 128)
            );
            c.out.error(&msg);
        }
    }
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, with Redis's exact values (debug.c),
/// for client library tests. (3.141 is Redis's literal, not an approximation of pi.)
#[allow(clippy::approx_constant)]
fn debug_protocol(c: &mut Ctx) {
    let resp = c.out.resp;
    match crate::command::opt(c.arg(2)).as_slice() {
        b"string" => c.out.bulk(b"Hello World"),
        b"integer" => c.out.int(12345),
        b"double" => c.out.double(3.141),
        b"bignum" => c.out.bignum(b"1234567999999999999999999999999999999"),
        b"null" => c.out.null(),
        b"array" => {
            c.out.array(3);
            (0..3).for_each(|j| c.out.int(j));
        }
        b"set" => {
            c.out.set(3);
            (0..3).for_each(|j| c.out.int(j));
        }
        b"map" => {
            c.out.map(3);
            for j in 0..3 {
                c.out.int(j);
                c.out.boolean(j == 1);
            }
        }
        b"attrib" => {
            if resp >= 3 {
                pyrope_common::resp::encode::attribute(&mut c.out.buf, 1);
                c.out.bulk(b"key-popularity");
                c.out.array(2);
                c.out.bulk(b"key:123");
                c.out.int(90);
            }
            c.out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if resp < 3 {
                return c.out.error("ERR RESP2 is not supported by this command");
            }
            // Redis 7.2+ delivers a push raised by a command after the command's reply.
            c.out.bulk(b"Some real reply following the push reply");
            pyrope_common::resp::encode::push(&mut c.out.buf, 2, resp);
            c.out.bulk(b"server-cpu-usage");
            c.out.int(42);
        }
        b"true" => c.out.boolean(true),
        b"false" => c.out.boolean(false),
        b"verbatim" => c.out.verbatim(b"This is a verbatim\nstring"),
        _ => c.out.error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

pub const COMMANDS: &[(&str, Handler)] = &[
    ("time", time),
    ("lastsave", lastsave),
    ("shutdown", shutdown),
    ("debug", debug),
];

/// The listpack of a listpack-encoded value (lists, sets, hashes incl. listpackex, zsets), for
/// DEBUG LISTPACK.
fn listpack_of<'a>(
    v: &crate::keyspace::ValueRef<'a>,
) -> Option<&'a pyrope_common::listpack::Listpack> {
    use crate::object::{SetValue, Value};
    let crate::keyspace::ValueRef::Boxed(v) = v else {
        return None;
    };
    match v {
        Value::List(crate::types::list::ListValue::Listpack(lp)) => Some(lp),
        Value::Set(SetValue::Listpack(lp)) => Some(lp),
        Value::Hash(crate::types::hash::HashValue::Listpack(lp)) => Some(lp),
        Value::Hash(crate::types::hash::HashValue::ListpackEx(lp)) => Some(lp),
        Value::ZSet(crate::types::zset::ZsetValue::Listpack(lp)) => Some(lp),
        _ => None,
    }
}
