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

use crate::command::{cstr, opt, Ctx, Handler};
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
    out.bulk(&id.to_bytes());
}

// --- lookups -----------------------------------------------------------------------------

/// The key if it holds a stream (None if missing); WRONGTYPE replied and Err otherwise.
pub(crate) fn lookup_stream(c: &mut Ctx, key: &[u8], write: bool) -> Result<Option<KeyRef>, ()> {
    let h = if write {
        c.lookup_write(key)
    } else {
        c.lookup_read(key)
    };
    match h {
        Some(h) if c.srv.ks.get(h).obj_type() != ObjType::Stream => {
            c.out.wrong_type();
            Err(())
        }
        h => Ok(h),
    }
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
        let o = opt(c.arg(i));
        if xadd && cstr(c.arg(i)) == b"*" {
            break;
        } else if (o == b"maxlen" || o == b"minid") && moreargs > 0 {
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
        _ => s.first_id.to_bytes(),
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
    let fields: Vec<&[u8]> = (field_pos..argc).map(|j| argv.get(j).unwrap()).collect();
    let s = stream_mut(&mut c.srv.ks, h);
    if s.last_id == StreamId::MAX {
        return c
            .out
            .error("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id =
        match s.append(&fields, a.id, now, lim) {
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
    let mut pargv: Option<Vec<Vec<u8>>> = None;
    if a.id.map_or(true, |(_, sg)| !sg) {
        let mut v: Vec<Vec<u8>> = argv.iter().map(|x| x.to_vec()).collect();
        v[idpos] = id.to_bytes();
        pargv = Some(v);
    }
    if let Some(t) = a.trim {
        let s = stream_mut(&mut c.srv.ks, h);
        if s.trim(t, a.approx, a.limit) > 0 {
            c.srv.ks.notify(c.db, ev::XTRIM, key);
        }
        if a.approx {
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

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]`
/// (`xreadCommand` without a group).
fn xread(c: &mut Ctx) {
    let argc = c.argc();
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut streams_count = 0;
    let mut i = 1;
    while i < argc {
        let moreargs = argc - i - 1;
        let o = opt(c.arg(i));
        if o == b"block" && moreargs > 0 {
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
                return c.out.error(
                    "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.",
                );
            }
            streams_count /= 2;
            break;
        } else if o == b"group" && moreargs >= 2 {
            return c.out.error(
                "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
            );
        } else if o == b"noack" {
            return c.out.error(
                "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
            );
        } else {
            return c.out.syntax_error();
        }
        i += 1;
    }
    if streams_arg == 0 {
        return c.out.syntax_error();
    }
    let mut ids = Vec::with_capacity(streams_count);
    let mut hs = Vec::with_capacity(streams_count);
    let mut last_only = vec![false; streams_count];
    for k in 0..streams_count {
        let key = c.arg(streams_arg + k);
        let a = c.arg(streams_arg + streams_count + k);
        let Ok(h) = lookup_stream(c, key, false) else {
            return;
        };
        hs.push(h);
        if a == b"$" {
            ids.push(h.map_or(StreamId::MIN, |h| stream_ref(&c.srv.ks, h).last_id));
        } else if a == b">" {
            return c.out.error(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            );
        } else if a == b"+" {
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
            let Some(id) = id_or_reply(c, a, true, 0) else {
                return;
            };
            ids.push(id);
        }
    }
    // Serve synchronously what can be.
    let mut served = 0usize;
    let mut body = Reply::new();
    body.resp = c.out.resp;
    for k in 0..streams_count {
        let key = c.arg(streams_arg + k);
        let Some(h) = hs[k] else {
            continue;
        };
        let s = stream_ref(&c.srv.ks, h);
        if s.length == 0 || s.last_valid_id() <= ids[k] {
            continue;
        }
        served += 1;
        if body.resp == 2 {
            body.array(2);
        }
        body.bulk(key);
        let start = ids[k].incr().unwrap_or(StreamId::MAX);
        let n = if last_only[k] { 1 } else { count as usize };
        reply_range(&mut body, s, start, StreamId::MAX, n, false);
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
        let _ = deadline;
        c.block_for_keys(crate::blocking::BlockKind::Stream, keys, deadline, false);
        return;
    }
    c.out.null_array();
}

// --- XINFO -------------------------------------------------------------------------------

/// `XINFO STREAM key [FULL [COUNT count]]` (`xinfoReplyWithStreamInfo`).
fn xinfo_stream(c: &mut Ctx) {
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
            count = if v < 0 { 0 } else { v };
        }
    }
    let key = c.arg(2);
    let h = match lookup_stream(c, key, false) {
        Err(()) => return,
        Ok(None) => return c.out.error(errors::NO_SUCH_KEY),
        Ok(Some(h)) => h,
    };
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
];
