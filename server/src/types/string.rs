//! String commands (Redis t_string.c): GET SET SETNX SETEX PSETEX MGET MSET MSETNX GETSET
//! GETDEL GETEX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SETRANGE SUBSTR LCS.
//!
//! Values are stored as Redis would encode them: canonical integers as `int`, strings up to
//! 44 bytes inline as `embstr`, longer or modified-in-place ones (APPEND, SETRANGE) as `raw`.
//! Relative expires are propagated as absolute (`SET ... PXAT`, `PEXPIREAT`), INCRBYFLOAT as
//! `SET key value KEEPTTL`, as Redis does, so replicas and AOF replays are deterministic.

use crate::command::{Ctx, Handler};
use crate::keyspace::{
    ev, raw_string_value, string_bytes, string_value, Deletion, KeyRef, NewValue, ValueRef,
};
use crate::object::{ObjType, Value};
use crate::reply::errors;
use pyrope_common::util::string2ll;

/// Result of looking up a key that must hold a string.
pub enum StrLookup {
    Missing,
    Found(KeyRef),
    WrongType,
}

/// Looks `key` up for reading and checks its type, replying WRONGTYPE when it is not a string.
pub fn lookup_string(c: &mut Ctx, key: &[u8], write: bool) -> StrLookup {
    let e = if write {
        c.lookup_write(key)
    } else {
        c.lookup_read(key)
    };
    match e {
        None => StrLookup::Missing,
        Some(h) if c.srv.ks.get(h).obj_type() == ObjType::String => StrLookup::Found(h),
        Some(_) => {
            c.out.wrong_type();
            StrLookup::WrongType
        }
    }
}

/// Replies the string value of `h` as a bulk string.
pub fn reply_string(c: &mut Ctx, h: KeyRef) {
    match c.srv.ks.get(h).value() {
        ValueRef::Int(i) => c.out.bulk_i64(i),
        ValueRef::Inline(b) => c.out.bulk(b),
        ValueRef::Boxed(Value::Str(s)) => c.out.bulk(s),
        ValueRef::Boxed(_) => unreachable!("type checked by lookup_string"),
    }
}

/// Length of the string value of `h`.
fn string_len(c: &Ctx, h: KeyRef) -> usize {
    match c.srv.ks.get(h).value() {
        ValueRef::Int(i) => pyrope_common::util::digits10(i),
        ValueRef::Inline(b) => b.len(),
        ValueRef::Boxed(Value::Str(s)) => s.len(),
        ValueRef::Boxed(_) => unreachable!("type checked by lookup_string"),
    }
}

/// Replies the GET result for `key` (null when missing). Returns false on WRONGTYPE.
fn get_generic(c: &mut Ctx, key: &[u8]) -> bool {
    match lookup_string(c, key, false) {
        StrLookup::Missing => {
            c.out.null();
            true
        }
        StrLookup::Found(e) => {
            reply_string(c, e);
            true
        }
        StrLookup::WrongType => false,
    }
}

fn get(c: &mut Ctx) {
    get_generic(c, c.arg(1));
}

/// Flags of SET / GETEX option parsing (Redis OBJ_* flags).
#[derive(Default, Clone, Copy)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// Index of the expire argument and its kind.
    expire: Option<(usize, ExpireKind)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    Exat,
    Pxat,
}

/// Parses SET (`for_set`) or GETEX options from argv[start..], as Redis's
/// `parseExtendedStringArgumentsOrReply()`: the same mutual exclusions, later EX/PX of the same
/// kind override earlier ones.
fn parse_set_opts(c: &mut Ctx, start: usize, for_set: bool) -> Option<SetOpts> {
    let mut o = SetOpts::default();
    let mut j = start;
    while j < c.argc() {
        let opt = crate::command::opt(c.arg(j));
        let has_next = j + 1 < c.argc();
        let exp = o.expire.map(|(_, k)| k);
        let no_other_expire = |k: ExpireKind| exp.is_none_or(|e| e == k);
        match opt.as_slice() {
            b"nx" if !o.xx && for_set => o.nx = true,
            b"xx" if !o.nx && for_set => o.xx = true,
            b"get" if for_set => o.get = true,
            b"keepttl" if !o.persist && exp.is_none() && for_set => o.keepttl = true,
            b"persist" if !for_set && exp.is_none() && !o.keepttl => o.persist = true,
            b"ex" if !o.keepttl && !o.persist && no_other_expire(ExpireKind::Ex) && has_next => {
                o.expire = Some((j + 1, ExpireKind::Ex));
                j += 1;
            }
            b"px" if !o.keepttl && !o.persist && no_other_expire(ExpireKind::Px) && has_next => {
                o.expire = Some((j + 1, ExpireKind::Px));
                j += 1;
            }
            b"exat"
                if !o.keepttl && !o.persist && no_other_expire(ExpireKind::Exat) && has_next =>
            {
                o.expire = Some((j + 1, ExpireKind::Exat));
                j += 1;
            }
            b"pxat"
                if !o.keepttl && !o.persist && no_other_expire(ExpireKind::Pxat) && has_next =>
            {
                o.expire = Some((j + 1, ExpireKind::Pxat));
                j += 1;
            }
            _ => {
                c.out.syntax_error();
                return None;
            }
        }
        j += 1;
    }
    Some(o)
}

/// Converts an expire argument to absolute unix ms, as `getExpireMillisecondsOrReply()`;
/// replies `invalid expire time in '<cmd>' command` when it is <= 0 or overflows.
fn expire_ms(c: &mut Ctx, arg: usize, kind: ExpireKind) -> Option<i64> {
    let v = c.int_arg(arg)?;
    let secs = matches!(kind, ExpireKind::Ex | ExpireKind::Exat);
    let bad = v <= 0 || (secs && v > i64::MAX / 1000);
    let mut ms = if bad {
        0
    } else if secs {
        v * 1000
    } else {
        v
    };
    if !bad && matches!(kind, ExpireKind::Ex | ExpireKind::Px) {
        ms = ms.checked_add(c.srv.now_ms).unwrap_or(-1);
    }
    if bad || ms <= 0 {
        let msg = errors::INVALID_EXPIRE.replace("%s", &c.command().fullname.clone());
        c.out.error(&msg);
        return None;
    }
    Some(ms)
}

/// The body of SET and its variants. `ok_reply`/`abort_reply`: what to answer on success /
/// when NX/XX aborts (SETNX answers 1/0).
fn set_generic(c: &mut Ctx, o: SetOpts, key: &[u8], val: &[u8], ok_int: bool) {
    let when = match o.expire {
        Some((arg, kind)) => match expire_ms(c, arg, kind) {
            Some(ms) => Some((ms, kind)),
            None => return,
        },
        None => None,
    };
    if o.get && !get_generic(c, key) {
        return;
    }
    let existing = c.lookup_write(key);
    if (o.nx && existing.is_some()) || (o.xx && existing.is_none()) {
        if !o.get {
            if ok_int {
                c.out.int(0);
            } else {
                c.out.null();
            }
        }
        return;
    }
    let lru = c.srv.new_key_lru();
    let db = c.db;
    c.srv.ks.set(
        db,
        key,
        existing,
        string_value(val),
        when.map(|w| w.0),
        o.keepttl,
        lru,
        Some(ev::SET),
    );
    if when.is_some() {
        c.srv.ks.notify(db, ev::EXPIRE, key);
    }
    c.dirty(1);
    match when {
        Some((ms, kind)) if kind != ExpireKind::Pxat => {
            c.propagate_one(&[&b"SET"[..], key, val, b"PXAT", ms.to_string().as_bytes()]);
        }
        _ if o.get => {
            // Propagate without the GET option.
            let mut args: Vec<&[u8]> = Vec::with_capacity(c.argc());
            for (i, a) in c.argv.iter().enumerate() {
                if i < 3 || !a.eq_ignore_ascii_case(b"get") {
                    args.push(a);
                }
            }
            c.propagate_one(&args);
        }
        _ => {}
    }
    if !o.get {
        if ok_int {
            c.out.int(1);
        } else {
            c.out.ok();
        }
    }
}

/// Sets `key` to the string `val` with no expire, replacing any value ("set" event), as
/// GETSET and MSET do (`setKey` + `notifyKeyspaceEvent("set")`).
fn set_plain(c: &mut Ctx, key: &[u8], val: &[u8], lru: u32) {
    let existing = c.lookup_write(key);
    let db = c.db;
    c.srv.ks.set(
        db,
        key,
        existing,
        string_value(val),
        None,
        false,
        lru,
        Some(ev::SET),
    );
}

fn set(c: &mut Ctx) {
    let Some(o) = parse_set_opts(c, 3, true) else {
        return;
    };
    set_generic(c, o, c.arg(1), c.arg(2), false);
}

fn setnx(c: &mut Ctx) {
    let o = SetOpts {
        nx: true,
        ..Default::default()
    };
    set_generic(c, o, c.arg(1), c.arg(2), true);
}

fn setex(c: &mut Ctx) {
    let o = SetOpts {
        expire: Some((2, ExpireKind::Ex)),
        ..Default::default()
    };
    set_generic(c, o, c.arg(1), c.arg(3), false);
}

fn psetex(c: &mut Ctx) {
    let o = SetOpts {
        expire: Some((2, ExpireKind::Px)),
        ..Default::default()
    };
    set_generic(c, o, c.arg(1), c.arg(3), false);
}

fn getset(c: &mut Ctx) {
    let key = c.arg(1);
    if !get_generic(c, key) {
        return;
    }
    let lru = c.srv.new_key_lru();
    set_plain(c, key, c.arg(2), lru);
    c.dirty(1);
    c.propagate_one(&[&b"SET"[..], key, c.arg(2)]);
}

fn getdel(c: &mut Ctx) {
    let key = c.arg(1);
    match lookup_string(c, key, false) {
        StrLookup::Missing => c.out.null(),
        StrLookup::WrongType => {}
        StrLookup::Found(h) => {
            reply_string(c, h);
            c.srv.ks.delete(h, Deletion::Server, Some(ev::DEL));
            c.dirty(1);
            c.propagate_one(&[&b"DEL"[..], key]);
        }
    }
}

fn getex(c: &mut Ctx) {
    let Some(o) = parse_set_opts(c, 2, false) else {
        return;
    };
    let key = c.arg(1);
    let e = match lookup_string(c, key, false) {
        StrLookup::Missing => {
            c.out.null();
            return;
        }
        StrLookup::WrongType => return,
        StrLookup::Found(h) => h,
    };
    let when = match o.expire {
        Some((arg, kind)) => match expire_ms(c, arg, kind) {
            Some(ms) => Some((ms, kind)),
            None => return,
        },
        None => None,
    };
    reply_string(c, e);
    match when {
        Some((ms, kind))
            if matches!(kind, ExpireKind::Exat | ExpireKind::Pxat)
                && ms <= c.srv.now_ms
                && !c.srv.loading =>
        {
            c.srv.ks.delete(e, Deletion::PastExpire, Some(ev::DEL));
            c.srv.stats.expired_keys += 1;
            let verb: &[u8] = if c.srv.settings.lazyfree_lazy_expire {
                b"UNLINK"
            } else {
                b"DEL"
            };
            c.propagate_one(&[verb, key]);
            c.dirty(1);
        }
        Some((ms, _)) => {
            c.srv.ks.set_expire(e, Some(ms), Some(ev::EXPIRE));
            c.propagate_one(&[&b"PEXPIREAT"[..], key, ms.to_string().as_bytes()]);
            c.dirty(1);
        }
        None if o.persist && c.srv.ks.get(e).expire().is_some() => {
            c.srv.ks.set_expire(e, None, Some(ev::PERSIST));
            c.propagate_one(&[&b"PERSIST"[..], key]);
            c.dirty(1);
        }
        None => {}
    }
}

fn mget(c: &mut Ctx) {
    c.out.array(c.argc() - 1);
    for i in 1..c.argc() {
        let key = c.arg(i);
        match c.lookup_read(key) {
            Some(h) if c.srv.ks.get(h).obj_type() == ObjType::String => reply_string(c, h),
            _ => c.out.null(),
        }
    }
}

fn mset_generic(c: &mut Ctx, nx: bool) {
    if c.argc() % 2 == 0 {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            c.command().fullname
        );
        c.out.error(&msg);
        return;
    }
    if nx {
        for i in (1..c.argc()).step_by(2) {
            if c.lookup_write(c.arg(i)).is_some() {
                c.out.int(0);
                return;
            }
        }
    }
    let lru = c.srv.new_key_lru();
    for i in (1..c.argc()).step_by(2) {
        set_plain(c, c.arg(i), c.arg(i + 1), lru);
    }
    c.dirty(((c.argc() - 1) / 2) as u64);
    if nx {
        c.out.int(1);
    } else {
        c.out.ok();
    }
}

fn mset(c: &mut Ctx) {
    mset_generic(c, false);
}

fn msetnx(c: &mut Ctx) {
    mset_generic(c, true);
}

fn strlen(c: &mut Ctx) {
    match lookup_string(c, c.arg(1), false) {
        StrLookup::Missing => c.out.int(0),
        StrLookup::Found(h) => {
            let n = string_len(c, h);
            c.out.int(n as i64)
        }
        StrLookup::WrongType => {}
    }
}

/// Replies Redis's `string exceeds maximum allowed size (proto-max-bulk-len)` and returns
/// true when a string of `total` bytes would be longer than `proto-max-bulk-len`
/// (`checkStringLength`).
pub(crate) fn string_too_long(c: &mut Ctx, total: u128) -> bool {
    if total > c.srv.settings.proto_max_bulk_len as u128 {
        c.out.error(errors::STRING_TOO_LONG);
        return true;
    }
    false
}

/// Turns the string at `h` into a raw (heap) string so it can be modified in place
/// (`dbUnshareStringValue`), and returns the live handle. No event: the caller reports the
/// change.
pub(crate) fn unshare(c: &mut Ctx, h: KeyRef) -> KeyRef {
    let e = c.srv.ks.get(h);
    if matches!(e.value(), ValueRef::Boxed(_)) {
        return h;
    }
    let mut buf = Vec::new();
    let bytes = string_bytes(&e.value(), &mut buf)
        .unwrap_or_default()
        .to_vec();
    let (exp, lru) = (e.expire(), e.lru());
    c.srv
        .ks
        .overwrite(h, raw_string_value(bytes), exp, lru, None)
}

/// The raw string buffer of `h` (after [`unshare`]): the caller edits it in place and reports
/// the change (`touched`).
pub(crate) fn raw_mut<'a>(c: &'a mut Ctx, h: KeyRef) -> &'a mut Vec<u8> {
    match c.srv.ks.get_mut(h).into_value_mut() {
        Some(Value::Str(s)) => s,
        _ => unreachable!("unshared strings are boxed strings"),
    }
}

fn append(c: &mut Ctx) {
    let key = c.arg(1);
    let add = c.arg(2);
    match lookup_string(c, key, true) {
        StrLookup::WrongType => {}
        StrLookup::Missing => {
            let lru = c.srv.new_key_lru();
            let db = c.db;
            c.srv
                .ks
                .add(db, key, string_value(add), None, lru, Some(ev::APPEND));
            c.dirty(1);
            c.out.int(add.len() as i64);
        }
        StrLookup::Found(h) => {
            let total = string_len(c, h) as u128 + add.len() as u128;
            if string_too_long(c, total) {
                return;
            }
            let h = unshare(c, h);
            let s = raw_mut(c, h);
            s.extend_from_slice(add);
            let n = s.len();
            c.srv.ks.touched(h, ev::APPEND);
            c.dirty(1);
            c.out.int(n as i64);
        }
    }
}

fn incr_decr(c: &mut Ctx, by: i64) {
    let key = c.arg(1);
    let e = match lookup_string(c, key, true) {
        StrLookup::WrongType => return,
        StrLookup::Missing => None,
        StrLookup::Found(e) => Some(e),
    };
    let cur = match e.map(|h| c.srv.ks.get(h).value()) {
        None => 0,
        Some(ValueRef::Int(i)) => i,
        Some(ValueRef::Inline(b)) => match string2ll(b) {
            Some(v) => v,
            None => return c.out.error(errors::NOT_INTEGER),
        },
        Some(ValueRef::Boxed(Value::Str(s))) => {
            match (s.len() <= 20).then(|| string2ll(s)).flatten() {
                Some(v) => v,
                None => return c.out.error(errors::NOT_INTEGER),
            }
        }
        Some(ValueRef::Boxed(_)) => unreachable!("type checked by lookup_string"),
    };
    let Some(v) = cur.checked_add(by) else {
        return c.out.error(errors::OVERFLOW);
    };
    // Redis makes a new (shared) object when the result is a small integer.
    let shared = c.srv.ks.share_ints && crate::keyspace::shareable(v);
    match e {
        Some(h) if c.srv.ks.get_mut(h).set_int(v, shared) => c.srv.ks.touched(h, ev::INCRBY),
        Some(h) => {
            let e = c.srv.ks.get(h);
            let (exp, lru) = (e.expire(), e.lru());
            c.srv
                .ks
                .overwrite(h, NewValue::Int(v), exp, lru, Some(ev::INCRBY));
        }
        None => {
            let lru = c.srv.new_key_lru();
            let db = c.db;
            c.srv
                .ks
                .add(db, key, NewValue::Int(v), None, lru, Some(ev::INCRBY));
        }
    }
    c.dirty(1);
    c.out.int(v);
}

fn incr(c: &mut Ctx) {
    incr_decr(c, 1);
}

fn decr(c: &mut Ctx) {
    incr_decr(c, -1);
}

fn incrby(c: &mut Ctx) {
    let Some(by) = c.int_arg(2) else { return };
    incr_decr(c, by);
}

fn decrby(c: &mut Ctx) {
    let Some(by) = c.int_arg(2) else { return };
    if by == i64::MIN {
        c.out.error("ERR decrement would overflow");
        return;
    }
    incr_decr(c, -by);
}

extern "C" {
    fn pyrope_ld_add(
        a: *const u8,
        alen: usize,
        b: *const u8,
        blen: usize,
        out: *mut u8,
        outlen: usize,
    ) -> libc::c_long;
}

extern "C" {
    fn pyrope_timeout_ms(s: *const u8, len: usize, now_ms: i64, out: *mut i64) -> libc::c_int;
}

/// A blocking command's timeout in seconds (`s`, read as C's `strtold`) as an absolute
/// deadline in unix ms (0 = forever) from `now_ms`, with Redis's errors
/// (`getTimeoutFromObjectOrReply`, UNIT_SECONDS): ms are rounded up (`ceill`).
pub fn timeout_ms(s: &[u8], now_ms: i64) -> Result<i64, &'static str> {
    let mut out = 0i64;
    // SAFETY: the C function reads `len` bytes of `s` and writes one i64 to `out`.
    let r = unsafe { pyrope_timeout_ms(s.as_ptr(), s.len(), now_ms, &mut out) };
    match r {
        0 => Ok(out),
        1 => Err("ERR timeout is not a float or out of range"),
        2 => Err("ERR timeout is out of range"),
        _ => Err("ERR timeout is negative"),
    }
}

/// Adds two decimal strings as C long doubles and formats the result as Redis's
/// `ld2string(LD_STR_HUMAN)` (see csrc/longdouble.c). Err(1) if `a` is not a float, Err(2) if
/// `b` is not, Err(3) if the result is NaN or infinite.
pub fn long_double_add(a: &[u8], b: &[u8]) -> Result<Vec<u8>, i32> {
    let mut out = vec![0u8; 5 * 1024];
    // SAFETY: the C function reads alen/blen bytes and writes at most outlen bytes.
    let r = unsafe {
        pyrope_ld_add(
            a.as_ptr(),
            a.len(),
            b.as_ptr(),
            b.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    if r < 0 {
        return Err((-r) as i32);
    }
    out.truncate(r as usize);
    Ok(out)
}

fn incrbyfloat(c: &mut Ctx) {
    let key = c.arg(1);
    let e = match lookup_string(c, key, true) {
        StrLookup::WrongType => return,
        StrLookup::Missing => None,
        StrLookup::Found(e) => Some(e),
    };
    let mut buf = Vec::new();
    let cur: Vec<u8> = match e {
        None => b"0".to_vec(),
        Some(h) => string_bytes(&c.srv.ks.get(h).value(), &mut buf)
            .unwrap_or_default()
            .to_vec(),
    };
    let sum = match long_double_add(&cur, c.arg(2)) {
        Ok(s) => s,
        Err(3) => return c.out.error("ERR increment would produce NaN or Infinity"),
        Err(_) => return c.out.error(errors::NOT_FLOAT),
    };
    let value = if sum.len() <= crate::object::EMBSTR_SIZE_LIMIT {
        NewValue::Inline(&sum)
    } else {
        raw_string_value(sum.clone())
    };
    match e {
        Some(h) => {
            let e = c.srv.ks.get(h);
            let (exp, lru) = (e.expire(), e.lru());
            c.srv
                .ks
                .overwrite(h, value, exp, lru, Some(ev::INCRBYFLOAT));
        }
        None => {
            let lru = c.srv.new_key_lru();
            let db = c.db;
            c.srv
                .ks
                .add(db, key, value, None, lru, Some(ev::INCRBYFLOAT));
        }
    }
    c.dirty(1);
    c.out.bulk(&sum);
    c.propagate_one(&[&b"SET"[..], key, &sum, b"KEEPTTL"]);
}

fn getrange(c: &mut Ctx) {
    let Some(mut start) = c.int_arg(2) else {
        return;
    };
    let Some(mut end) = c.int_arg(3) else { return };
    let e = match lookup_string(c, c.arg(1), false) {
        StrLookup::Missing => return c.out.bulk(b""),
        StrLookup::WrongType => return,
        StrLookup::Found(h) => h,
    };
    let mut buf = Vec::new();
    let s = string_bytes(&c.srv.ks.get(e).value(), &mut buf)
        .unwrap_or_default()
        .to_vec();
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return c.out.bulk(b"");
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        c.out.bulk(b"");
    } else {
        let piece = s[start as usize..=end as usize].to_vec();
        c.out.bulk(&piece);
    }
}

fn setrange(c: &mut Ctx) {
    let Some(offset) = c.int_arg(2) else { return };
    if offset < 0 {
        return c.out.error("ERR offset is out of range");
    }
    let key = c.arg(1);
    let value = c.arg(3);
    let e = match lookup_string(c, key, true) {
        StrLookup::WrongType => return,
        StrLookup::Missing => {
            if value.is_empty() {
                return c.out.int(0);
            }
            if string_too_long(c, offset as u128 + value.len() as u128) {
                return;
            }
            let lru = c.srv.new_key_lru();
            let db = c.db;
            c.srv
                .ks
                .add(db, key, raw_string_value(Vec::new()), None, lru, None)
        }
        StrLookup::Found(h) => {
            if value.is_empty() {
                let n = string_len(c, h);
                return c.out.int(n as i64);
            }
            if string_too_long(c, offset as u128 + value.len() as u128) {
                return;
            }
            unshare(c, h)
        }
    };
    let s = raw_mut(c, e);
    let end = offset as usize + value.len();
    if s.len() < end {
        s.resize(end, 0);
    }
    s[offset as usize..end].copy_from_slice(value);
    let n = s.len();
    c.srv.ks.touched(e, ev::SETRANGE);
    c.dirty(1);
    c.out.int(n as i64);
}

fn lcs(c: &mut Ctx) {
    let ka = c.arg(1);
    let kb = c.arg(2);
    let ea = c.lookup_read(ka);
    let eb = c.lookup_read(kb);
    if ea.is_some_and(|h| c.srv.ks.get(h).obj_type() != ObjType::String)
        || eb.is_some_and(|h| c.srv.ks.get(h).obj_type() != ObjType::String)
    {
        return c
            .out
            .error("ERR The specified keys must contain string values");
    }
    let (mut ba, mut bb) = (Vec::new(), Vec::new());
    let a: Vec<u8> = ea
        .map(|h| {
            string_bytes(&c.srv.ks.get(h).value(), &mut ba)
                .unwrap_or_default()
                .to_vec()
        })
        .unwrap_or_default();
    let b: Vec<u8> = eb
        .map(|h| {
            string_bytes(&c.srv.ks.get(h).value(), &mut bb)
                .unwrap_or_default()
                .to_vec()
        })
        .unwrap_or_default();
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < c.argc() {
        let opt = crate::command::opt(c.arg(j));
        let more = c.argc() - 1 - j;
        match opt.as_slice() {
            b"idx" => getidx = true,
            b"len" => getlen = true,
            b"withmatchlen" => withmatchlen = true,
            b"minmatchlen" if more > 0 => {
                let Some(v) = c.int_arg(j + 1) else { return };
                minmatchlen = v.max(0);
                j += 1;
            }
            _ => return c.out.syntax_error(),
        }
        j += 1;
    }
    if getidx && getlen {
        return c
            .out
            .error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u128 + 1) * (blen as u128 + 1);
    if cells * 4 > c.srv.settings.proto_max_bulk_len as u128 {
        return c
            .out
            .error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    // LCS[i][j] = length of the LCS of a[..i] and b[..j] (the textbook DP, as Redis).
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for jj in 1..=blen {
            t[i * w + jj] = if a[i - 1] == b[jj - 1] {
                t[(i - 1) * w + jj - 1] + 1
            } else {
                t[(i - 1) * w + jj].max(t[i * w + jj - 1])
            };
        }
    }
    let total = t[alen * w + blen] as usize;
    let compute = getidx || !getlen;
    let mut result = vec![0u8; if compute { total } else { 0 }];
    let mut idx = total;
    // Walk back from the end, collecting matched ranges as Redis's lcsCommand does.
    let mut matches = crate::reply::Reply {
        resp: c.out.resp,
        ..Default::default()
    };
    let mut nmatches = 0usize;
    let unset = alen;
    let (mut as_, mut ae, mut bs, mut be) = (unset, 0usize, 0usize, 0usize);
    let (mut i, mut jj) = (alen, blen);
    while compute && i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if as_ == unset {
                as_ = i - 1;
                ae = i - 1;
                bs = jj - 1;
                be = jj - 1;
            } else if as_ == i && bs == jj {
                as_ -= 1;
                bs -= 1;
            } else {
                emit = true;
            }
            if as_ == 0 || bs == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            if t[(i - 1) * w + jj] > t[i * w + jj - 1] {
                i -= 1;
            } else {
                jj -= 1;
            }
            if as_ != unset {
                emit = true;
            }
        }
        let mlen = ae.wrapping_sub(as_).wrapping_add(1);
        if emit {
            if (minmatchlen == 0 || mlen as i64 >= minmatchlen) && getidx {
                matches.array(2 + withmatchlen as usize);
                matches.array(2);
                matches.int(as_ as i64);
                matches.int(ae as i64);
                matches.array(2);
                matches.int(bs as i64);
                matches.int(be as i64);
                if withmatchlen {
                    matches.int(mlen as i64);
                }
                nmatches += 1;
            }
            as_ = unset;
        }
    }
    if getidx {
        c.out.map(2);
        c.out.bulk(b"matches");
        c.out.array(nmatches);
        c.out.raw(&matches.buf);
        c.out.bulk(b"len");
        c.out.int(total as i64);
    } else if getlen {
        c.out.int(total as i64);
    } else {
        c.out.bulk(&result);
    }
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("get", get),
    ("set", set),
    ("setnx", setnx),
    ("setex", setex),
    ("psetex", psetex),
    ("getset", getset),
    ("getdel", getdel),
    ("getex", getex),
    ("mget", mget),
    ("mset", mset),
    ("msetnx", msetnx),
    ("strlen", strlen),
    ("append", append),
    ("incr", incr),
    ("decr", decr),
    ("incrby", incrby),
    ("decrby", decrby),
    ("incrbyfloat", incrbyfloat),
    ("getrange", getrange),
    ("substr", getrange),
    ("setrange", setrange),
    ("lcs", lcs),
];
