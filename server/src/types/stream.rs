//! Stream commands (Redis t_stream.c): XADD XLEN XRANGE XREVRANGE XDEL XTRIM XREAD XSETID
//! XINFO STREAM. The storage (Redis's listpack nodes keyed by master id, consumer groups) is
//! [`store`]; this file parses arguments, replies and reports events exactly as t_stream.c.
//!
//! Ids are parsed as `streamGenericParseIDOrReply` does (`-`, `+`, `<ms>`, `<ms>-<seq>`,
//! `<ms>-*` for XADD; numbers read by `string2ull`, which also accepts what `strtoull`
//! accepts). XADD with `~` trimming propagates with the trim argument rewritten to what was
//! kept (`streamRewriteApproxSpecifier` + `streamRewriteTrimArgument`), and with the id it
//! generated.

pub mod store;

use crate::command::{cstr, opt, Ctx, Handler, OwnedArgv};
use crate::keyspace::{notify, Ev, KeyRef, Keyspace, NewValue, ValueRef};
use crate::object::{ObjType, Value};
use crate::reply::{errors, Reply};
use pyrope_common::listpack::Listpack;
use pyrope_common::util::string2ll;
use store::{NodeLimits, RawEntry, Trim};
pub use store::{Stream, StreamId};

/// The keyspace events of the stream commands (Redis 7.4's names, class `t`).
pub mod ev {
    use super::{notify, Ev};
    const fn t(name: &'static str) -> Ev {
        Ev {
            class: notify::STREAM,
            name,
        }
    }
    pub const XADD: Ev = t("xadd");
    pub const XTRIM: Ev = t("xtrim");
    pub const XDEL: Ev = t("xdel");
    pub const XSETID: Ev = t("xsetid");
    pub const XGROUP_CREATE: Ev = t("xgroup-create");
    pub const XGROUP_SETID: Ev = t("xgroup-setid");
    pub const XGROUP_DESTROY: Ev = t("xgroup-destroy");
    pub const XGROUP_CREATECONSUMER: Ev = t("xgroup-createconsumer");
    pub const XGROUP_DELCONSUMER: Ev = t("xgroup-delconsumer");
}

/// `-ERR Invalid stream ID specified as stream command argument`.
const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

// --- ids ---------------------------------------------------------------------------------

/// `string2ull` (util.c): `string2ll` when non-negative, else C `strtoull` on the C string
/// (leading blanks, a sign; `-n` negates, as glibc does).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = string2ll(s) {
        return (v >= 0).then_some(v as u64);
    }
    let cs = std::ffi::CString::new(s).ok()?;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `cs` is NUL-terminated; `end` is a valid out-pointer into it; errno is ours.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtoull(cs.as_ptr(), &mut end, 10);
        let errno = *libc::__errno_location();
        if errno == libc::EINVAL || errno == libc::ERANGE || s.is_empty() || *end != 0 {
            return None;
        }
        Some(v)
    }
}

/// `streamGenericParseIDOrReply` without the reply: `strict` refuses `-` and `+`;
/// `missing_seq` is the seq of a bare `<ms>`; `seq_given` (XADD) accepts `<ms>-*` and says
/// whether the seq was given.
fn parse_id(
    a: &[u8],
    strict: bool,
    missing_seq: u64,
    seq_given: Option<&mut bool>,
) -> Option<StreamId> {
    if a.len() > 127 {
        return None;
    }
    let buf = cstr(a);
    if strict && (buf == b"-" || buf == b"+") {
        return None;
    }
    let mut sg = true;
    let r = (|| {
        if buf == b"-" {
            return Some(StreamId::MIN);
        }
        if buf == b"+" {
            return Some(StreamId::MAX);
        }
        let dash = memchr::memchr(b'-', buf);
        let ms_part = &buf[..dash.unwrap_or(buf.len())];
        let ms = string2ull(ms_part)?;
        let seq = match dash {
            Some(d) => {
                let rest = &buf[d + 1..];
                if seq_given.is_some() && rest == b"*" {
                    sg = false;
                    0
                } else {
                    string2ull(rest)?
                }
            }
            None => missing_seq,
        };
        Some(StreamId::new(ms, seq))
    })();
    if let Some(g) = seq_given {
        *g = sg;
    }
    r
}

/// `streamParseStrictIDOrReply` / `streamParseIDOrReply`: the id or the error reply.
fn id_or_reply(c: &mut Ctx, a: &[u8], strict: bool, missing_seq: u64) -> Option<StreamId> {
    let r = parse_id(a, strict, missing_seq, None);
    if r.is_none() {
        c.out.error(INVALID_ID);
    }
    r
}

/// `streamParseIntervalIdOrReply`: `(id` is exclusive (strict parse of the rest).
fn interval_id(c: &mut Ctx, a: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    if a.len() > 1 && a[0] == b'(' {
        id_or_reply(c, &a[1..], true, missing_seq).map(|id| (id, true))
    } else {
        id_or_reply(c, a, false, missing_seq).map(|id| (id, false))
    }
}

/// An id as a bulk string (`addReplyStreamID`).
fn reply_id(out: &mut Reply, id: StreamId) {
    out.bulk(id.text().as_bytes());
}

// --- lookups -----------------------------------------------------------------------------

/// The key if it holds a stream (None if missing); WRONGTYPE replied and Err otherwise.
pub(crate) fn lookup_stream(c: &mut Ctx, key: &[u8], write: bool) -> Result<Option<KeyRef>, ()> {
    c.lookup_typed(key, ObjType::Stream, write)
}

/// The stream of a found key of type stream.
pub(crate) fn stream_ref(ks: &Keyspace, h: KeyRef) -> &Stream {
    match ks.get(h).value() {
        ValueRef::Boxed(Value::Stream(s)) => s,
        _ => unreachable!("type checked at lookup"),
    }
}

/// The stream of a found key of type stream, mutably.
pub(crate) fn stream_mut(ks: &mut Keyspace, h: KeyRef) -> &mut Stream {
    match ks.get_mut(h).into_value_mut() {
        Some(Value::Stream(s)) => s,
        _ => unreachable!("type checked at lookup"),
    }
}

fn node_limits(c: &Ctx) -> NodeLimits {
    NodeLimits {
        max_bytes: c.srv.settings.stream_node_max_bytes,
        max_entries: c.srv.settings.stream_node_max_entries,
    }
}

// --- replies -----------------------------------------------------------------------------

/// One entry: `[id, [field, value, ...]]`.
pub(crate) fn reply_entry(out: &mut Reply, lp: &Listpack, e: &RawEntry) {
    out.array(2);
    reply_id(out, e.id);
    out.array(store::num_fields(lp, e) * 2);
    store::for_each_field(lp, e, |f, v| {
        match f {
            pyrope_common::listpack::ListpackEntry::Int(i) => out.bulk_i64(i),
            pyrope_common::listpack::ListpackEntry::Str(s) => out.bulk(s),
        }
        match v {
            pyrope_common::listpack::ListpackEntry::Int(i) => out.bulk_i64(i),
            pyrope_common::listpack::ListpackEntry::Str(s) => out.bulk(s),
        }
    });
}

/// Replies the entries of `start..=end` (count 0 = all) as an array
/// (`streamReplyWithRange` without a group); returns how many.
pub(crate) fn reply_range(
    out: &mut Reply,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> usize {
    let mut items: Vec<(&Listpack, RawEntry)> = Vec::new();
    s.range(start, end, rev, |lp, e| {
        items.push((lp, *e));
        count == 0 || items.len() < count
    });
    out.array(items.len());
    for (lp, e) in &items {
        reply_entry(out, lp, e);
    }
    items.len()
}

// --- XADD / XTRIM ------------------------------------------------------------------------

/// Parsed `streamAddTrimArgs`.
#[derive(Default)]
struct AddTrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: i64,
    /// Index of the MAXLEN/MINID value argument.
    trim_idx: usize,
    nomkstream: bool,
    id: Option<(StreamId, bool)>,
}

/// `streamParseAddOrTrimArgsOrReply`: returns the index of the id (XADD) or of the end of
/// the options (XTRIM), or None after replying an error.
fn parse_add_trim(c: &mut Ctx, xadd: bool) -> Option<(usize, AddTrimArgs)> {
    let mut a = AddTrimArgs::default();
    let mut limit_given = false;
    let argc = c.argc();
    let mut i = 2;
    while i < argc {
        let moreargs = argc - 1 - i;
        if xadd && cstr(c.arg(i)) == b"*" {
            break;
        }
        // (Lowercased after the `*` check: the usual XADD allocates nothing here.)
        let o = opt(c.arg(i));
        if (o == b"maxlen" || o == b"minid") && moreargs > 0 {
            if a.trim.is_some() {
                c.out.error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                );
                return None;
            }
            a.approx = false;
            let next = cstr(c.arg(i + 1));
            if moreargs >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            if o == b"maxlen" {
                let v = c.int_arg(i + 1)?;
                if v < 0 {
                    c.out.error("ERR The MAXLEN argument must be >= 0.");
                    return None;
                }
                a.trim = Some(Trim::MaxLen(v as u64));
            } else {
                let id = id_or_reply(c, c.arg(i + 1), true, 0)?;
                a.trim = Some(Trim::MinId(id));
            }
            i += 1;
            a.trim_idx = i;
        } else if o == b"limit" && moreargs > 0 {
            let v = c.int_arg(i + 1)?;
            if v < 0 {
                c.out.error("ERR The LIMIT argument must be >= 0.");
                return None;
            }
            a.limit = v;
            limit_given = true;
            i += 1;
        } else if xadd && o == b"nomkstream" {
            a.nomkstream = true;
        } else if xadd {
            let mut sg = true;
            match parse_id(c.arg(i), true, 0, Some(&mut sg)) {
                Some(id) => a.id = Some((id, sg)),
                None => {
                    c.out.error(INVALID_ID);
                    return None;
                }
            }
            break;
        } else {
            c.out.syntax_error();
            return None;
        }
        i += 1;
    }
    if a.limit != 0 && a.trim.is_none() {
        c.out
            .error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && a.trim.is_none() {
        c.out
            .error("ERR syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if limit_given {
        if !a.approx {
            c.out
                .error("ERR syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if a.approx {
        a.limit = 100 * c.srv.settings.stream_node_max_entries;
        if a.limit <= 0 || a.limit > 1_000_000 {
            a.limit = 10000;
        }
    } else {
        a.limit = 0;
    }
    Some((i, a))
}

/// The argv to propagate after a `~` trim: `~` becomes `=`, the trim value what was kept
/// (`streamRewriteApproxSpecifier`, `streamRewriteTrimArgument`).
fn rewrite_trim(c: &Ctx, argv: &mut [Vec<u8>], a: &AddTrimArgs, s: &Stream) {
    let _ = c;
    argv[a.trim_idx - 1] = b"=".to_vec();
    argv[a.trim_idx] = match a.trim {
        Some(Trim::MaxLen(_)) => s.length.to_string().into_bytes(),
        // `streamGetEdgeID(s, 1, 0, ..)`: the first entry of the first node, tombstones
        // included; the largest id when the stream is empty.
        _ => s
            .nodes
            .iter()
            .next()
            .and_then(|(&m, lp)| store::scan(m, lp).first().map(|e| e.id))
            .unwrap_or(StreamId::MAX)
            .to_bytes(),
    };
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...`
fn xadd(c: &mut Ctx) {
    let Some((idpos, a)) = parse_add_trim(c, true) else {
        return;
    };
    let field_pos = idpos + 1;
    let argc = c.argc();
    if argc < field_pos + 2 || (argc - field_pos) % 2 == 1 {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            c.command().fullname
        );
        return c.out.error(&msg);
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return c
                .out
                .error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = c.arg(1);
    let Ok(h) = lookup_stream(c, key, true) else {
        return;
    };
    let h = match h {
        Some(h) => h,
        None if a.nomkstream => return c.out.null(),
        None => {
            let lru = c.srv.new_key_lru();
            let v = NewValue::Boxed(Box::new(Value::Stream(Box::new(Stream::new()))));
            c.srv.ks.add(c.db, key, v, None, lru, None)
        }
    };
    let lim = node_limits(c);
    let now = c.srv.now_ms.max(0) as u64;
    let argv = c.argv;
    // The field, value arguments, on the stack for the usual few (no allocation per XADD).
    let mut small: [&[u8]; 32] = [&[]; 32];
    let large: Vec<&[u8]>;
    let fields: &[&[u8]] = if argc - field_pos <= small.len() {
        for j in field_pos..argc {
            small[j - field_pos] = argv.get(j).unwrap();
        }
        &small[..argc - field_pos]
    } else {
        large = (field_pos..argc).map(|j| argv.get(j).unwrap()).collect();
        &large
    };
    let s = stream_mut(&mut c.srv.ks, h);
    if s.last_id == StreamId::MAX {
        return c
            .out
            .error("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id =
        match s.append(fields, a.id, now, lim) {
            Ok(id) => id,
            Err(store::AppendError::IdTooSmall) => return c.out.error(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ),
            Err(store::AppendError::TooLarge) => {
                return c.out.error("ERR Elements are too large to be stored")
            }
        };
    reply_id(c.out, id);
    c.srv.ks.touched(h, ev::XADD);
    c.dirty(1);
    // The rewritten argv costs a copy: only while something consumes the propagation stream.
    let want_prop = c.srv.propagator.consumers > 0;
    let mut pargv: Option<Vec<Vec<u8>>> = None;
    if want_prop && a.id.map_or(true, |(_, sg)| !sg) {
        let mut v: Vec<Vec<u8>> = argv.iter().map(|x| x.to_vec()).collect();
        v[idpos] = id.to_bytes();
        pargv = Some(v);
    }
    if let Some(t) = a.trim {
        let s = stream_mut(&mut c.srv.ks, h);
        if s.trim(t, a.approx, a.limit) > 0 {
            c.srv.ks.notify(c.db, ev::XTRIM, key);
        }
        if a.approx && want_prop {
            let mut v = pargv.unwrap_or_else(|| argv.iter().map(|x| x.to_vec()).collect());
            rewrite_trim(c, &mut v, &a, stream_ref(&c.srv.ks, h));
            pargv = Some(v);
        }
    }
    if let Some(v) = pargv {
        c.propagate_one(&v);
    }
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`: the key is looked up before the
/// options are parsed (a missing key answers 0 whatever follows), as Redis.
fn xtrim(c: &mut Ctx) {
    let key = c.arg(1);
    let h = match lookup_stream(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let Some((_, a)) = parse_add_trim(c, false) else {
        return;
    };
    let s = stream_mut(&mut c.srv.ks, h);
    let deleted = s.trim(a.trim.expect("strategy"), a.approx, a.limit);
    if deleted > 0 {
        c.srv.ks.notify(c.db, ev::XTRIM, key);
        if a.approx {
            let mut v: Vec<Vec<u8>> = c.argv.iter().map(|x| x.to_vec()).collect();
            rewrite_trim(c, &mut v, &a, stream_ref(&c.srv.ks, h));
            c.propagate_one(&v);
        }
        c.srv.ks.touched_quiet(h);
        c.dirty(deleted as u64);
    }
    c.out.int(deleted);
}

// --- XLEN XRANGE XREVRANGE XDEL ----------------------------------------------------------

/// `XLEN key`.
fn xlen(c: &mut Ctx) {
    let key = c.arg(1);
    match lookup_stream(c, key, false) {
        Err(()) => {}
        Ok(None) => c.out.int(0),
        Ok(Some(h)) => {
            let n = stream_ref(&c.srv.ks, h).length;
            c.out.int(n as i64);
        }
    }
}

/// `xrangeGenericCommand`: ids (exclusive with `(`), COUNT, then the key.
fn xrange_generic(c: &mut Ctx, rev: bool) {
    let (sa, ea) = if rev { (3, 2) } else { (2, 3) };
    let Some((mut start, sx)) = interval_id(c, c.arg(sa), 0) else {
        return;
    };
    if sx {
        match start.incr() {
            Some(s) => start = s,
            None => return c.out.error("ERR invalid start ID for the interval"),
        }
    }
    let Some((mut end, ex)) = interval_id(c, c.arg(ea), u64::MAX) else {
        return;
    };
    if ex {
        match end.decr() {
            Some(e) => end = e,
            None => return c.out.error("ERR invalid end ID for the interval"),
        }
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < c.argc() {
        let additional = c.argc() - j - 1;
        if opt(c.arg(j)) == b"count" && additional >= 1 {
            let Some(v) = c.int_arg(j + 1) else { return };
            count = v.max(0);
            j += 1;
        } else {
            return c.out.syntax_error();
        }
        j += 1;
    }
    let key = c.arg(1);
    let h = match lookup_stream(c, key, false) {
        Err(()) => return,
        Ok(None) => return c.out.array(0),
        Ok(Some(h)) => h,
    };
    if count == 0 {
        return c.out.null_array();
    }
    let count = if count == -1 { 0 } else { count as usize };
    let s = stream_ref(&c.srv.ks, h);
    reply_range(c.out, s, start, end, count, rev);
}

/// `XRANGE key start end [COUNT count]`.
fn xrange(c: &mut Ctx) {
    xrange_generic(c, false);
}

/// `XREVRANGE key end start [COUNT count]`.
fn xrevrange(c: &mut Ctx) {
    xrange_generic(c, true);
}

/// `XDEL key id [id ...]`: every id is parsed before anything is deleted.
fn xdel(c: &mut Ctx) {
    let key = c.arg(1);
    let h = match lookup_stream(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let mut ids = Vec::with_capacity(c.argc() - 2);
    for j in 2..c.argc() {
        let Some(id) = id_or_reply(c, c.arg(j), true, 0) else {
            return;
        };
        ids.push(id);
    }
    let s = stream_mut(&mut c.srv.ks, h);
    let mut deleted = 0;
    let mut first_entry = false;
    for id in ids {
        if s.delete(id) {
            if id == s.first_id {
                first_entry = true;
            }
            if id > s.max_deleted_id {
                s.max_deleted_id = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.length == 0 {
            s.first_id = StreamId::MIN;
        } else if first_entry {
            s.first_id = s.edge_id(true).unwrap_or_default();
        }
        c.srv.ks.touched_quiet(h);
        c.srv.ks.notify(c.db, ev::XDEL, key);
        c.dirty(deleted);
    }
    c.out.int(deleted as i64);
}

// --- XSETID ------------------------------------------------------------------------------

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`.
fn xsetid(c: &mut Ctx) {
    let Some(id) = id_or_reply(c, c.arg(2), true, 0) else {
        return;
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < c.argc() {
        let moreargs = c.argc() - 1 - i;
        let o = opt(c.arg(i));
        if o == b"entriesadded" && moreargs > 0 {
            let Some(v) = c.int_arg(i + 1) else { return };
            if v < 0 {
                return c.out.error("ERR entries_added must be positive");
            }
            entries_added = v;
            i += 2;
        } else if o == b"maxdeletedid" && moreargs > 0 {
            let Some(v) = id_or_reply(c, c.arg(i + 1), true, 0) else {
                return;
            };
            if id < v {
                return c.out.error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            max_xdel = v;
            i += 2;
        } else {
            return c.out.syntax_error();
        }
    }
    let key = c.arg(1);
    let h = match lookup_stream(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.error(errors::NO_SUCH_KEY),
        Ok(Some(h)) => h,
    };
    let s = stream_mut(&mut c.srv.ks, h);
    if id < s.max_deleted_id {
        return c
            .out
            .error("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id");
    }
    if s.length > 0 {
        let maxid = s.last_valid_id();
        if id < maxid {
            return c.out.error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return c.out.error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    c.out.ok();
    c.srv.ks.touched_quiet(h);
    c.srv.ks.notify(c.db, ev::XSETID, key);
    c.dirty(1);
}

// --- XREAD -------------------------------------------------------------------------------

/// A timeout in ms (`getTimeoutFromObjectOrReply`, UNIT_MILLISECONDS) as an absolute unix
/// ms deadline (0 = forever), or the error reply.
fn timeout_ms_arg(c: &mut Ctx, i: usize) -> Option<i64> {
    let Some(v) = string2ll(c.arg(i)) else {
        c.out.error("ERR timeout is not an integer or out of range");
        return None;
    };
    if v < 0 {
        c.out.error("ERR timeout is negative");
        return None;
    }
    if v > 0 {
        match v.checked_add(c.srv.now_ms) {
            Some(t) => Some(t),
            None => {
                c.out.error("ERR timeout is out of range");
                None
            }
        }
    } else {
        Some(0)
    }
}

/// The `-NOGROUP` error of XREADGROUP.
fn nogroup_read(key: &[u8], group: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        String::from_utf8_lossy(cstr(key)),
        String::from_utf8_lossy(cstr(group))
    )
}

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]`.
fn xread(c: &mut Ctx) {
    xread_generic(c, false);
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key
/// [key ...] id [id ...]`.
fn xreadgroup(c: &mut Ctx) {
    xread_generic(c, true);
}

/// `xreadCommand`: options, then per stream its id (`$`, `+`, `>`, an id), a synchronous
/// answer for every stream that has something, else block (or the null array). XREADGROUP
/// is not propagated as such: what it changed goes as XCLAIM / XGROUP SETID /
/// XGROUP CREATECONSUMER, as Redis.
fn xread_generic(c: &mut Ctx, xreadgroup: bool) {
    let argc = c.argc();
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut streams_count = 0;
    let mut noack = false;
    let mut group_consumer: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < argc {
        let moreargs = argc - i - 1;
        let o = opt(c.arg(i));
        if o == b"block" && moreargs > 0 {
            if c.flags & crate::command::ctx::IN_SCRIPT != 0 {
                let msg = format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(c.arg(0))
                );
                return c.out.error(&msg);
            }
            i += 1;
            let Some(t) = timeout_ms_arg(c, i) else {
                return;
            };
            timeout = Some(t);
        } else if o == b"count" && moreargs > 0 {
            i += 1;
            let Some(v) = c.int_arg(i) else { return };
            count = v.max(0);
        } else if o == b"streams" && moreargs > 0 {
            streams_arg = i + 1;
            streams_count = argc - streams_arg;
            if streams_count % 2 != 0 {
                let msg = if xreadgroup {
                    "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."
                } else {
                    "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."
                };
                return c.out.error(msg);
            }
            streams_count /= 2;
            break;
        } else if o == b"group" && moreargs >= 2 {
            if !xreadgroup {
                return c.out.error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            group_consumer = Some((c.arg(i + 1), c.arg(i + 2)));
            i += 2;
        } else if o == b"noack" {
            if !xreadgroup {
                return c.out.error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            noack = true;
        } else {
            return c.out.syntax_error();
        }
        i += 1;
    }
    if streams_arg == 0 {
        return c.out.syntax_error();
    }
    if xreadgroup && group_consumer.is_none() {
        return c.out.error("ERR Missing GROUP option for XREADGROUP");
    }
    let mut ids = Vec::with_capacity(streams_count);
    let mut hs = Vec::with_capacity(streams_count);
    let mut last_only = vec![false; streams_count];
    for k in 0..streams_count {
        let key = c.arg(streams_arg + k);
        let a = c.blocked_arg(streams_arg + streams_count + k).to_vec();
        let Ok(h) = lookup_stream(c, key, false) else {
            return;
        };
        hs.push(h);
        if let Some((g, _)) = group_consumer {
            let exists = h.is_some_and(|h| stream_ref(&c.srv.ks, h).groups.contains_key(g));
            if !exists {
                let msg = nogroup_read(key, g);
                return c.out.error(&msg);
            }
        }
        if a == b"$" {
            if xreadgroup {
                return c.out.error(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                );
            }
            ids.push(h.map_or(StreamId::MIN, |h| stream_ref(&c.srv.ks, h).last_id));
        } else if a == b">" {
            if !xreadgroup {
                return c.out.error(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                );
            }
            ids.push(StreamId::MAX);
        } else if a == b"+" {
            if xreadgroup {
                return c.out.error(
                    "ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return an empty result set.",
                );
            }
            last_only[k] = true;
            let id = match h {
                Some(h) => {
                    let s = stream_ref(&c.srv.ks, h);
                    if s.length == 0 {
                        StreamId::MIN
                    } else {
                        s.last_valid_id().decr().unwrap_or_default()
                    }
                }
                None => StreamId::MIN,
            };
            ids.push(id);
        } else {
            let Some(id) = id_or_reply(c, &a, true, 0) else {
                return;
            };
            ids.push(id);
        }
    }
    if xreadgroup {
        c.propagate_as = Some(Vec::new());
    }
    // Serve synchronously what can be.
    let mut served = 0usize;
    let mut body = Reply::new();
    body.resp = c.out.resp;
    let now = c.srv.now_ms;
    for k in 0..streams_count {
        let key = c.arg(streams_arg + k);
        let Some(h) = hs[k] else {
            continue;
        };
        let mut gt = ids[k];
        let mut history = false;
        if let Some((g, cname)) = group_consumer {
            // Every stream read creates the consumer and refreshes its seen-time, served or
            // not (also the run that blocks), as xreadCommand. With NOACK no XCLAIM will
            // create the consumer on the replica: propagate its creation
            // (`streamPropagateConsumerCreation`).
            if ensure_consumer(c, h, key, g, cname, true) && noack {
                if let Some(list) = c.propagate_as.as_mut() {
                    list.push(OwnedArgv::from_args(&[
                        &b"XGROUP"[..],
                        b"CREATECONSUMER",
                        key,
                        g,
                        cname,
                    ]));
                }
            }
            let s = stream_mut(&mut c.srv.ks, h);
            s.groups
                .get_mut(g)
                .and_then(|gr| gr.consumers.get_mut(cname))
                .expect("consumer")
                .seen_time = now;
        }
        {
            let s = stream_ref(&c.srv.ks, h);
            if let Some((g, _)) = group_consumer {
                if gt != StreamId::MAX {
                    history = true;
                } else if s.length > 0 {
                    let last = s.groups[g].last_id;
                    if s.last_valid_id() > last {
                        gt = last;
                    } else {
                        continue;
                    }
                } else {
                    continue;
                }
            } else if s.length == 0 || s.last_valid_id() <= gt {
                continue;
            }
        }
        served += 1;
        if body.resp == 2 {
            body.array(2);
        }
        body.bulk(key);
        let start = gt.incr().unwrap_or(StreamId::MAX);
        let n = if last_only[k] { 1 } else { count as usize };
        match group_consumer {
            None => {
                reply_range(
                    &mut body,
                    stream_ref(&c.srv.ks, h),
                    start,
                    StreamId::MAX,
                    n,
                    false,
                );
            }
            Some((g, cname)) => {
                let s = stream_mut(&mut c.srv.ks, h);
                let mut props = Vec::new();
                if history {
                    reply_history(&mut body, s, g, cname, start, n, now);
                } else {
                    reply_group_range(
                        &mut body, s, g, cname, start, n, noack, now, key, &mut props,
                    );
                }
                if let Some(list) = c.propagate_as.as_mut() {
                    list.extend(props.iter().map(|v| OwnedArgv::from_args(v)));
                }
                c.dirty(1);
            }
        }
    }
    if served > 0 {
        if c.out.resp == 2 {
            c.out.array(served);
        } else {
            c.out.map(served);
        }
        c.out.raw(&body.buf);
        return;
    }
    if let Some(deadline) = timeout {
        if !c.may_block() {
            return c.out.null_array();
        }
        let keys = (0..streams_count)
            .map(|k| c.arg(streams_arg + k).to_vec())
            .collect();
        let mut rewrites = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            let j = streams_arg + streams_count + k;
            if c.blocked_arg(j) == b"$" {
                rewrites.push((j, id.to_bytes()));
            } else if c.blocked_arg(j) != c.arg(j) {
                rewrites.push((j, c.blocked_arg(j).to_vec()));
            }
        }
        c.block_for_keys(
            crate::blocking::BlockKind::Stream,
            keys,
            deadline,
            xreadgroup,
        );
        if let Some(b) = c.block.as_mut() {
            b.rewrites = rewrites;
        }
        return;
    }
    c.out.null_array();
}

// --- consumer groups -------------------------------------------------------------------

/// Creates consumer `cname` of group `g` if missing (`streamCreateConsumer`, SCC_DEFAULT):
/// `xgroup-createconsumer` event, dirty. Returns true if it was created.
fn ensure_consumer(
    c: &mut Ctx,
    h: KeyRef,
    key: &[u8],
    g: &[u8],
    cname: &[u8],
    _read: bool,
) -> bool {
    let now = c.srv.now_ms;
    let s = stream_mut(&mut c.srv.ks, h);
    let Some(grp) = s.groups.get_mut(g) else {
        return false;
    };
    if grp.consumers.contains_key(cname) {
        return false;
    }
    grp.consumers.insert(
        cname.to_vec(),
        store::Consumer {
            seen_time: now,
            active_time: -1,
            pel: Default::default(),
        },
    );
    c.dirty(1);
    c.srv.ks.notify(c.db, ev::XGROUP_CREATECONSUMER, key);
    true
}

/// `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID id`, the
/// idempotent form Redis propagates for a delivery or a claim (`streamPropagateXCLAIM`).
fn xclaim_prop(
    key: &[u8],
    g: &[u8],
    id: StreamId,
    nack: &store::Nack,
    last: StreamId,
) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        g.to_vec(),
        nack.consumer.clone(),
        b"0".to_vec(),
        id.to_bytes(),
        b"TIME".to_vec(),
        nack.delivery_time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        nack.delivery_count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        last.to_bytes(),
    ]
}

/// `XGROUP SETID key group id ENTRIESREAD n` (`streamPropagateGroupID`).
fn setid_prop(key: &[u8], g: &[u8], grp: &store::Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        g.to_vec(),
        grp.last_id.to_bytes(),
        b"ENTRIESREAD".to_vec(),
        grp.entries_read.to_string().into_bytes(),
    ]
}

/// Whether entry `id` is live (`streamEntryExists`).
fn entry_exists(s: &Stream, id: StreamId) -> bool {
    let mut found = false;
    s.range(id, id, false, |_, _| {
        found = true;
        false
    });
    found
}

/// Replies one entry by id as a raw entry; false if it is not there.
fn reply_one(out: &mut Reply, s: &Stream, id: StreamId) -> bool {
    let mut one = None;
    s.range(id, id, false, |lp, e| {
        one = Some((lp, *e));
        false
    });
    match one {
        Some((lp, e)) => {
            reply_entry(out, lp, &e);
            true
        }
        None => false,
    }
}

/// New entries for a group (`streamReplyWithRange` with a group): the reply, the group's
/// last id and entries-read, NACKs in the group's and the consumer's PEL (unless NOACK),
/// XCLAIM per entry and one XGROUP SETID to propagate.
#[allow(clippy::too_many_arguments)]
fn reply_group_range(
    out: &mut Reply,
    s: &mut Stream,
    g: &[u8],
    cname: &[u8],
    start: StreamId,
    count: usize,
    noack: bool,
    now: i64,
    key: &[u8],
    props: &mut Vec<Vec<Vec<u8>>>,
) {
    let mut ids = Vec::new();
    {
        let mut items: Vec<(&Listpack, RawEntry)> = Vec::new();
        s.range(start, StreamId::MAX, false, |lp, e| {
            items.push((lp, *e));
            count == 0 || items.len() < count
        });
        out.array(items.len());
        for (lp, e) in &items {
            reply_entry(out, lp, e);
            ids.push(e.id);
        }
    }
    let Some(mut grp) = s.groups.remove(g) else {
        return;
    };
    let mut propagate_last_id = false;
    for id in ids {
        if id > grp.last_id {
            if grp.entries_read != store::INVALID_ENTRIES_READ
                && !s.range_has_tombstones(Some(grp.last_id), None)
            {
                grp.entries_read += 1;
            } else if s.entries_added > 0 {
                grp.entries_read = s
                    .estimate_distance(id)
                    .map_or(store::INVALID_ENTRIES_READ, |v| v as i64);
            }
            grp.last_id = id;
            propagate_last_id = true;
        }
        if !noack {
            let old = grp.pel.insert(
                id,
                store::Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: cname.to_vec(),
                },
            );
            if let Some(old) = old {
                if let Some(oc) = grp.consumers.get_mut(&old.consumer) {
                    oc.pel.remove(&id);
                }
            }
            let cons = grp.consumers.get_mut(cname).expect("consumer");
            cons.pel.insert(id);
            cons.active_time = now;
            props.push(xclaim_prop(key, g, id, &grp.pel[&id], grp.last_id));
        }
    }
    if propagate_last_id {
        props.push(setid_prop(key, g, &grp));
    }
    s.groups.insert(g.to_vec(), grp);
}

/// A consumer's history (`streamReplyWithRangeFromConsumerPEL`): its pending ids from
/// `start`, each with its entry (delivery time and count updated) or, for an entry deleted
/// since, the id and a null array.
fn reply_history(
    out: &mut Reply,
    s: &mut Stream,
    g: &[u8],
    cname: &[u8],
    start: StreamId,
    count: usize,
    now: i64,
) {
    let Some(mut grp) = s.groups.remove(g) else {
        return;
    };
    let ids: Vec<StreamId> = grp
        .consumers
        .get(cname)
        .map(|c| {
            c.pel
                .range(start..)
                .take(if count == 0 { usize::MAX } else { count })
                .copied()
                .collect()
        })
        .unwrap_or_default();
    out.array(ids.len());
    for id in ids {
        if reply_one(out, s, id) {
            if let Some(n) = grp.pel.get_mut(&id) {
                n.delivery_time = now;
                n.delivery_count += 1;
            }
        } else {
            out.array(2);
            reply_id(out, id);
            out.null_array();
        }
    }
    s.groups.insert(g.to_vec(), grp);
}

/// `XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER` (`xgroupCommand`).
fn xgroup_generic(c: &mut Ctx) {
    let sub = opt(c.arg(1));
    let argc = c.argc();
    let mut mkstream = false;
    let mut entries_read = store::INVALID_ENTRIES_READ;
    if sub == b"create" {
        let mut i = 5;
        while i < argc {
            let o = opt(c.arg(i));
            if o == b"mkstream" {
                mkstream = true;
                i += 1;
            } else if o == b"entriesread" && i + 1 < argc {
                let Some(v) = c.int_arg(i + 1) else { return };
                if v < 0 && v != store::INVALID_ENTRIES_READ {
                    return c
                        .out
                        .error("ERR value for ENTRIESREAD must be positive or -1");
                }
                entries_read = v;
                i += 2;
            } else {
                return c.subcommand_syntax_error();
            }
        }
    } else if sub == b"setid" {
        if argc == 7 {
            if opt(c.arg(5)) == b"entriesread" {
                let Some(v) = c.int_arg(6) else { return };
                if v < 0 && v != store::INVALID_ENTRIES_READ {
                    return c
                        .out
                        .error("ERR value for ENTRIESREAD must be positive or -1");
                }
                entries_read = v;
            } else {
                return c.subcommand_syntax_error();
            }
        } else if argc != 5 {
            return c.subcommand_syntax_error();
        }
    }
    let key = c.arg(2);
    let g = c.arg(3);
    let Ok(h) = lookup_stream(c, key, true) else {
        return;
    };
    if !mkstream {
        let Some(hh) = h else {
            return c.out.error(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            );
        };
        let exists = stream_ref(&c.srv.ks, hh).groups.contains_key(g);
        if !exists && (sub == b"setid" || sub == b"createconsumer" || sub == b"delconsumer") {
            let msg = format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(cstr(g)),
                String::from_utf8_lossy(cstr(key))
            );
            return c.out.error(&msg);
        }
    }
    if sub == b"create" && (5..=8).contains(&argc) {
        let id = if c.arg(4) == b"$" {
            h.map_or(StreamId::MIN, |h| stream_ref(&c.srv.ks, h).last_id)
        } else {
            let Some(id) = id_or_reply(c, c.arg(4), true, 0) else {
                return;
            };
            id
        };
        let h = match h {
            Some(h) => h,
            None => {
                let lru = c.srv.new_key_lru();
                let v = NewValue::Boxed(Box::new(Value::Stream(Box::new(Stream::new()))));
                c.srv.ks.add(c.db, key, v, None, lru, None)
            }
        };
        let s = stream_mut(&mut c.srv.ks, h);
        if s.groups.contains_key(g) {
            return c.out.error("BUSYGROUP Consumer Group name already exists");
        }
        s.groups.insert(
            g.to_vec(),
            store::Group {
                last_id: id,
                entries_read,
                ..Default::default()
            },
        );
        c.out.ok();
        c.dirty(1);
        c.srv.ks.notify(c.db, ev::XGROUP_CREATE, key);
    } else if sub == b"setid" && (argc == 5 || argc == 7) {
        let h = h.expect("checked");
        let id = if c.arg(4) == b"$" {
            stream_ref(&c.srv.ks, h).last_id
        } else {
            let Some(id) = id_or_reply(c, c.arg(4), false, 0) else {
                return;
            };
            id
        };
        let grp = stream_mut(&mut c.srv.ks, h)
            .groups
            .get_mut(g)
            .expect("checked");
        grp.last_id = id;
        grp.entries_read = entries_read;
        c.out.ok();
        c.dirty(1);
        c.srv.ks.notify(c.db, ev::XGROUP_SETID, key);
    } else if sub == b"destroy" && argc == 4 {
        let h = h.expect("checked");
        if stream_mut(&mut c.srv.ks, h).groups.remove(g).is_some() {
            c.out.int(1);
            c.dirty(1);
            c.srv.ks.notify(c.db, ev::XGROUP_DESTROY, key);
            // Wake XREADGROUP waiters: they answer -NOGROUP.
            c.srv.ks.touched_ready(h);
        } else {
            c.out.int(0);
        }
    } else if sub == b"createconsumer" && argc == 5 {
        let h = h.expect("checked");
        let created = ensure_consumer(c, h, key, g, c.arg(4), false);
        c.out.int(created as i64);
    } else if sub == b"delconsumer" && argc == 5 {
        let h = h.expect("checked");
        let cname = c.arg(4);
        let grp = stream_mut(&mut c.srv.ks, h)
            .groups
            .get_mut(g)
            .expect("checked");
        let mut pending = 0;
        if let Some(cons) = grp.consumers.remove(cname) {
            pending = cons.pel.len();
            for id in &cons.pel {
                grp.pel.remove(id);
            }
            c.dirty(1);
            c.srv.ks.notify(c.db, ev::XGROUP_DELCONSUMER, key);
        }
        c.out.int(pending as i64);
    } else {
        c.subcommand_syntax_error();
    }
}

/// `XGROUP HELP`.
fn xgroup_help(c: &mut Ctx) {
    c.out.help(
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
}

/// `XACK key group id [id ...]`: all ids are parsed before any is acknowledged.
fn xack(c: &mut Ctx) {
    let key = c.arg(1);
    let g = c.arg(2);
    let h = match lookup_stream(c, key, false) {
        Err(()) => return,
        Ok(h) => h,
    };
    let Some(h) = h.filter(|&h| stream_ref(&c.srv.ks, h).groups.contains_key(g)) else {
        return c.out.int(0);
    };
    let mut ids = Vec::with_capacity(c.argc() - 3);
    for j in 3..c.argc() {
        let Some(id) = id_or_reply(c, c.arg(j), true, 0) else {
            return;
        };
        ids.push(id);
    }
    let grp = stream_mut(&mut c.srv.ks, h)
        .groups
        .get_mut(g)
        .expect("checked");
    let mut acked = 0;
    for id in ids {
        if let Some(n) = grp.pel.remove(&id) {
            if let Some(cons) = grp.consumers.get_mut(&n.consumer) {
                cons.pel.remove(&id);
            }
            acked += 1;
        }
    }
    c.dirty(acked);
    c.out.int(acked as i64);
}

/// The `-NOGROUP No such key ... or consumer group ...` error (XPENDING, XCLAIM,
/// XAUTOCLAIM).
fn nogroup(key: &[u8], g: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(cstr(key)),
        String::from_utf8_lossy(cstr(g))
    )
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`.
fn xpending(c: &mut Ctx) {
    let argc = c.argc();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return c.out.syntax_error();
    }
    let (mut start, mut end, mut count, mut minidle) = (StreamId::MIN, StreamId::MAX, 0i64, 0i64);
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut si = 3;
        if opt(c.arg(3)) == b"idle" {
            let Some(v) = c.int_arg(4) else { return };
            minidle = v;
            if argc < 8 {
                return c.out.syntax_error();
            }
            si += 2;
        }
        let Some(v) = c.int_arg(si + 2) else { return };
        count = v.max(0);
        let Some((s, sx)) = interval_id(c, c.arg(si), 0) else {
            return;
        };
        start = s;
        if sx {
            match start.incr() {
                Some(s) => start = s,
                None => return c.out.error("ERR invalid start ID for the interval"),
            }
        }
        let Some((e, ex)) = interval_id(c, c.arg(si + 1), u64::MAX) else {
            return;
        };
        end = e;
        if ex {
            match end.decr() {
                Some(e) => end = e,
                None => return c.out.error("ERR invalid end ID for the interval"),
            }
        }
        if si + 3 < argc {
            consumer = Some(c.arg(si + 3));
        }
    }
    let key = c.arg(1);
    let g = c.arg(2);
    let Ok(h) = lookup_stream(c, key, false) else {
        return;
    };
    let Some(h) = h.filter(|&h| stream_ref(&c.srv.ks, h).groups.contains_key(g)) else {
        let msg = nogroup(key, g);
        return c.out.error(&msg);
    };
    let now = c.srv.now_ms;
    let grp = &stream_ref(&c.srv.ks, h).groups[g];
    let out = &mut *c.out;
    if justinfo {
        out.array(4);
        out.int(grp.pel.len() as i64);
        if grp.pel.is_empty() {
            out.null();
            out.null();
            out.null_array();
        } else {
            reply_id(out, *grp.pel.keys().next().expect("non-empty"));
            reply_id(out, *grp.pel.keys().next_back().expect("non-empty"));
            let with: Vec<_> = grp
                .consumers
                .iter()
                .filter(|(_, c)| !c.pel.is_empty())
                .collect();
            out.array(with.len());
            for (name, cons) in with {
                out.array(2);
                out.bulk(name);
                out.bulk_i64(cons.pel.len() as i64);
            }
        }
        return;
    }
    let ids: Vec<StreamId> = match consumer {
        Some(cn) => match grp.consumers.get(cn) {
            None => return out.array(0),
            Some(cons) => cons.pel.range(start..).copied().collect(),
        },
        None => grp.pel.range(start..).map(|(k, _)| *k).collect(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let n = &grp.pel[&id];
        if minidle != 0 && now - n.delivery_time < minidle {
            continue;
        }
        count -= 1;
        rows.push((id, n));
    }
    out.array(rows.len());
    for (id, n) in rows {
        out.array(4);
        reply_id(out, id);
        out.bulk(&n.consumer);
        out.int((now - n.delivery_time).max(0));
        out.int(n.delivery_count as i64);
    }
}

/// Parses `getLongLongFromObjectOrReply` with a custom message.
fn ll_or(c: &mut Ctx, i: usize, msg: &str) -> Option<i64> {
    match string2ll(c.arg(i)) {
        Some(v) => Some(v),
        None => {
            c.out.error(&format!("ERR {msg}"));
            None
        }
    }
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]` (`xclaimCommand`). Propagated as one
/// idempotent XCLAIM per claimed (or dropped) entry, or XGROUP SETID for LASTID alone.
fn xclaim(c: &mut Ctx) {
    let key = c.arg(1);
    let g = c.arg(2);
    let Ok(h) = lookup_stream(c, key, false) else {
        return;
    };
    let Some(h) = h.filter(|&h| stream_ref(&c.srv.ks, h).groups.contains_key(g)) else {
        let msg = nogroup(key, g);
        return c.out.error(&msg);
    };
    let Some(minidle) = ll_or(c, 4, "Invalid min-idle-time argument for XCLAIM") else {
        return;
    };
    let minidle = minidle.max(0);
    let argc = c.argc();
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argc {
        match parse_id(c.arg(j), true, 0, None) {
            Some(id) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = c.srv.now_ms;
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argc {
        let moreargs = argc - 1 - j;
        let o = opt(c.arg(j));
        if o == b"force" {
            force = true;
        } else if o == b"justid" {
            justid = true;
        } else if o == b"idle" && moreargs > 0 {
            j += 1;
            let Some(v) = ll_or(c, j, "Invalid IDLE option argument for XCLAIM") else {
                return;
            };
            deliverytime = now.wrapping_sub(v);
        } else if o == b"time" && moreargs > 0 {
            j += 1;
            let Some(v) = ll_or(c, j, "Invalid TIME option argument for XCLAIM") else {
                return;
            };
            deliverytime = v;
        } else if o == b"retrycount" && moreargs > 0 {
            j += 1;
            let Some(v) = ll_or(c, j, "Invalid RETRYCOUNT option argument for XCLAIM") else {
                return;
            };
            retrycount = v;
        } else if o == b"lastid" && moreargs > 0 {
            j += 1;
            let Some(v) = id_or_reply(c, c.arg(j), true, 0) else {
                return;
            };
            last_id = v;
        } else {
            let msg = format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(cstr(c.arg(j)))
            );
            return c.out.error(&msg);
        }
        j += 1;
    }
    c.propagate_as = Some(Vec::new());
    let mut propagate_last_id = false;
    {
        let grp = stream_mut(&mut c.srv.ks, h)
            .groups
            .get_mut(g)
            .expect("checked");
        if last_id > grp.last_id {
            grp.last_id = last_id;
            propagate_last_id = true;
        }
    }
    if deliverytime != -1 {
        if deliverytime < 0 || deliverytime > now {
            deliverytime = now;
        }
    } else {
        deliverytime = now;
    }
    let cname = c.arg(3);
    ensure_consumer(c, h, key, g, cname, false);
    let s = stream_mut(&mut c.srv.ks, h);
    let mut grp = s.groups.remove(g).expect("checked");
    grp.consumers.get_mut(cname).expect("consumer").seen_time = now;
    let mut body = Reply::new();
    body.resp = c.out.resp;
    let mut n = 0usize;
    let mut props = Vec::new();
    let mut dirty = 0;
    for id in ids {
        if !entry_exists(s, id) {
            if let Some(nack) = grp.pel.remove(&id) {
                props.push(xclaim_prop(key, g, id, &nack, grp.last_id));
                propagate_last_id = false;
                dirty += 1;
                if let Some(oc) = grp.consumers.get_mut(&nack.consumer) {
                    oc.pel.remove(&id);
                }
            }
            continue;
        }
        let mut created = false;
        if force && !grp.pel.contains_key(&id) {
            grp.pel.insert(
                id,
                store::Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Vec::new(),
                },
            );
            created = true;
        }
        let Some(nack) = grp.pel.get_mut(&id) else {
            continue;
        };
        if !created && minidle != 0 && now - nack.delivery_time < minidle {
            continue;
        }
        if nack.consumer != cname || created {
            if !created {
                if let Some(oc) = grp.consumers.get_mut(&nack.consumer) {
                    oc.pel.remove(&id);
                }
            }
        }
        nack.delivery_time = deliverytime;
        if retrycount >= 0 {
            nack.delivery_count = retrycount as u64;
        } else if !justid {
            nack.delivery_count += 1;
        }
        let moved = created || nack.consumer != cname;
        nack.consumer = cname.to_vec();
        let cons = grp.consumers.get_mut(cname).expect("consumer");
        if moved {
            cons.pel.insert(id);
        }
        if justid {
            reply_id(&mut body, id);
        } else {
            reply_one(&mut body, s, id);
        }
        n += 1;
        cons.active_time = now;
        props.push(xclaim_prop(key, g, id, &grp.pel[&id], grp.last_id));
        propagate_last_id = false;
        dirty += 1;
    }
    if propagate_last_id {
        props.push(setid_prop(key, g, &grp));
        dirty += 1;
    }
    s.groups.insert(g.to_vec(), grp);
    c.dirty(dirty);
    c.propagate_as = Some(props.iter().map(|v| OwnedArgv::from_args(v)).collect());
    c.out.array(n);
    c.out.raw(&body.buf);
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
/// (`xautoclaimCommand`): reply `[next-cursor, claimed, deleted-ids]`; at most
/// `count * 10` PEL entries are visited.
fn xautoclaim(c: &mut Ctx) {
    let Some(minidle) = ll_or(c, 4, "Invalid min-idle-time argument for XAUTOCLAIM") else {
        return;
    };
    let minidle = minidle.max(0);
    let Some((mut start, sx)) = interval_id(c, c.arg(5), 0) else {
        return;
    };
    if sx {
        match start.incr() {
            Some(s) => start = s,
            None => return c.out.error("ERR invalid start ID for the interval"),
        }
    }
    let argc = c.argc();
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argc {
        let moreargs = argc - 1 - j;
        let o = opt(c.arg(j));
        if o == b"count" && moreargs > 0 {
            let max_count = i64::MAX / 16;
            match string2ll(c.arg(j + 1)) {
                Some(v) if (1..=max_count).contains(&v) => count = v,
                _ => return c.out.error("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if o == b"justid" {
            justid = true;
        } else {
            return c.out.syntax_error();
        }
        j += 1;
    }
    let key = c.arg(1);
    let g = c.arg(2);
    let Ok(h) = lookup_stream(c, key, false) else {
        return;
    };
    let Some(h) = h.filter(|&h| stream_ref(&c.srv.ks, h).groups.contains_key(g)) else {
        let msg = nogroup(key, g);
        return c.out.error(&msg);
    };
    let now = c.srv.now_ms;
    let cname = c.arg(3);
    ensure_consumer(c, h, key, g, cname, false);
    let s = stream_mut(&mut c.srv.ks, h);
    let mut grp = s.groups.remove(g).expect("checked");
    grp.consumers.get_mut(cname).expect("consumer").seen_time = now;
    let mut attempts = count.saturating_mul(10);
    let mut body = Reply::new();
    body.resp = c.out.resp;
    let mut n = 0usize;
    let mut deleted = Vec::new();
    let mut props = Vec::new();
    let mut dirty = 0;
    let mut cursor = start;
    let mut next_cursor = StreamId::MIN;
    loop {
        if attempts == 0 || count == 0 {
            next_cursor = grp
                .pel
                .range(cursor..)
                .next()
                .map_or(StreamId::MIN, |(k, _)| *k);
            break;
        }
        attempts -= 1;
        let Some(id) = grp.pel.range(cursor..).next().map(|(k, _)| *k) else {
            break;
        };
        cursor = match id.incr() {
            Some(nx) => nx,
            None => {
                // The last possible id: nothing can follow it.
                StreamId::MAX
            }
        };
        if !entry_exists(s, id) {
            let nack = grp.pel.remove(&id).expect("pel entry");
            props.push(xclaim_prop(key, g, id, &nack, grp.last_id));
            dirty += 1;
            if let Some(oc) = grp.consumers.get_mut(&nack.consumer) {
                oc.pel.remove(&id);
            }
            deleted.push(id);
            count -= 1;
            if id == StreamId::MAX {
                break;
            }
            continue;
        }
        let nack = grp.pel.get_mut(&id).expect("pel entry");
        if minidle != 0 && now - nack.delivery_time < minidle {
            if id == StreamId::MAX {
                break;
            }
            continue;
        }
        if nack.consumer != cname {
            if let Some(oc) = grp.consumers.get_mut(&nack.consumer) {
                oc.pel.remove(&id);
            }
        }
        nack.delivery_time = now;
        if !justid {
            nack.delivery_count += 1;
        }
        nack.consumer = cname.to_vec();
        let cons = grp.consumers.get_mut(cname).expect("consumer");
        cons.pel.insert(id);
        if justid {
            reply_id(&mut body, id);
        } else {
            reply_one(&mut body, s, id);
        }
        n += 1;
        count -= 1;
        cons.active_time = now;
        props.push(xclaim_prop(key, g, id, &grp.pel[&id], grp.last_id));
        dirty += 1;
        if id == StreamId::MAX {
            break;
        }
    }
    s.groups.insert(g.to_vec(), grp);
    c.dirty(dirty);
    c.propagate_as = Some(props.iter().map(|v| OwnedArgv::from_args(v)).collect());
    let out = &mut *c.out;
    out.array(3);
    reply_id(out, next_cursor);
    out.array(n);
    out.raw(&body.buf);
    out.array(deleted.len());
    for id in deleted {
        reply_id(out, id);
    }
}

// --- XINFO -------------------------------------------------------------------------------

/// `XINFO STREAM key [FULL [COUNT count]]` (`xinfoReplyWithStreamInfo`).
fn xinfo_stream(c: &mut Ctx) {
    let key = c.arg(2);
    let h = match lookup_stream(c, key, false) {
        Err(()) => return,
        Ok(None) => return c.out.error(errors::NO_SUCH_KEY),
        Ok(Some(h)) => h,
    };
    let argc = c.argc();
    let mut full = false;
    let mut count: i64 = 10;
    if argc > 3 {
        if argc != 4 && argc != 6 || opt(c.arg(3)) != b"full" {
            return c.subcommand_syntax_error();
        }
        full = true;
        if argc == 6 {
            if opt(c.arg(4)) != b"count" {
                return c.subcommand_syntax_error();
            }
            let Some(v) = c.int_arg(5) else { return };
            count = if v < 0 { 10 } else { v };
        }
    }
    let s = stream_ref(&c.srv.ks, h);
    let out = &mut *c.out;
    let keys: Vec<[u8; 16]> = s.nodes.keys().map(|k| k.encode()).collect();
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.nodes.len() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(store::rax_nodes(&keys) as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(name);
            let mut one = None;
            s.range(StreamId::MIN, StreamId::MAX, rev, |lp, e| {
                one = Some((lp, *e));
                false
            });
            match one {
                Some((lp, e)) => reply_entry(out, lp, &e),
                None => out.null(),
            }
        }
        return;
    }
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, count as usize, false);
    out.bulk(b"groups");
    out.array(s.groups.len());
    let now = c.srv.now_ms;
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        if g.entries_read != store::INVALID_ENTRIES_READ {
            out.int(g.entries_read);
        } else {
            out.null();
        }
        out.bulk(b"lag");
        reply_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let n = if count == 0 {
            g.pel.len()
        } else {
            g.pel.len().min(count as usize)
        };
        out.array(n);
        for (id, nack) in g.pel.iter().take(n) {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&nack.consumer);
            out.int(nack.delivery_time);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, cons) in &g.consumers {
            out.map(5);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(cons.seen_time);
            out.bulk(b"active-time");
            out.int(cons.active_time);
            out.bulk(b"pel-count");
            out.int(cons.pel.len() as i64);
            out.bulk(b"pending");
            let n = if count == 0 {
                cons.pel.len()
            } else {
                cons.pel.len().min(count as usize)
            };
            out.array(n);
            for id in cons.pel.iter().take(n) {
                let nack = &g.pel[id];
                out.array(3);
                reply_id(out, *id);
                out.int(nack.delivery_time);
                out.int(nack.delivery_count as i64);
            }
        }
        let _ = now;
    }
}

/// A group's lag (`streamReplyWithCGLag`): a number, or null when it cannot be known.
pub(crate) fn reply_lag(out: &mut Reply, s: &Stream, g: &store::Group) {
    let mut valid = false;
    let mut lag = 0u64;
    if s.entries_added == 0 {
        valid = true;
    } else if g.entries_read != store::INVALID_ENTRIES_READ
        && !s.range_has_tombstones(Some(g.last_id), None)
    {
        valid = true;
        lag = s.entries_added.saturating_sub(g.entries_read as u64);
    } else if let Some(er) = s.estimate_distance(g.last_id) {
        valid = true;
        lag = s.entries_added.saturating_sub(er);
    }
    if valid {
        out.int(lag as i64);
    } else {
        out.null();
    }
}

/// `XINFO GROUPS key`.
fn xinfo_groups(c: &mut Ctx) {
    let key = c.arg(2);
    let h = match lookup_stream(c, key, false) {
        Err(()) => return,
        Ok(None) => return c.out.error(errors::NO_SUCH_KEY),
        Ok(Some(h)) => h,
    };
    let s = stream_ref(&c.srv.ks, h);
    let out = &mut *c.out;
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        if g.entries_read != store::INVALID_ENTRIES_READ {
            out.int(g.entries_read);
        } else {
            out.null();
        }
        out.bulk(b"lag");
        reply_lag(out, s, g);
    }
}

/// `XINFO CONSUMERS key group`: idle since last seen, inactive since last active (-1
/// never), in ms.
fn xinfo_consumers(c: &mut Ctx) {
    let key = c.arg(2);
    let h = match lookup_stream(c, key, false) {
        Err(()) => return,
        Ok(None) => return c.out.error(errors::NO_SUCH_KEY),
        Ok(Some(h)) => h,
    };
    let g = c.arg(3);
    let now = c.srv.now_ms;
    let s = stream_ref(&c.srv.ks, h);
    let Some(grp) = s.groups.get(g) else {
        let msg = format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(cstr(g)),
            String::from_utf8_lossy(cstr(key))
        );
        return c.out.error(&msg);
    };
    let out = &mut *c.out;
    out.array(grp.consumers.len());
    for (name, cons) in &grp.consumers {
        let inactive = if cons.active_time != -1 {
            now - cons.active_time
        } else {
            -1
        };
        out.map(4);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(cons.pel.len() as i64);
        out.bulk(b"idle");
        out.int((now - cons.seen_time).max(0));
        out.bulk(b"inactive");
        out.int(inactive);
    }
}

/// `XINFO HELP`.
fn xinfo_help(c: &mut Ctx) {
    c.out.help(
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
}

/// The stream commands, by full name.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("xadd", xadd),
    ("xlen", xlen),
    ("xrange", xrange),
    ("xrevrange", xrevrange),
    ("xdel", xdel),
    ("xtrim", xtrim),
    ("xsetid", xsetid),
    ("xread", xread),
    ("xinfo|stream", xinfo_stream),
    ("xinfo|help", xinfo_help),
    ("xinfo|groups", xinfo_groups),
    ("xinfo|consumers", xinfo_consumers),
    ("xreadgroup", xreadgroup),
    ("xgroup|create", xgroup_generic),
    ("xgroup|setid", xgroup_generic),
    ("xgroup|destroy", xgroup_generic),
    ("xgroup|createconsumer", xgroup_generic),
    ("xgroup|delconsumer", xgroup_generic),
    ("xgroup|help", xgroup_help),
    ("xack", xack),
    ("xpending", xpending),
    ("xclaim", xclaim),
    ("xautoclaim", xautoclaim),
];
