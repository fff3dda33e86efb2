//! Sorted-set commands (Redis t_zset.c) and [`ZsetValue`], the sorted set in Redis's two
//! encodings:
//!
//! - `listpack`: member, score, member, score... in Redis's exact listpack bytes, sorted by
//!   score then member (`zzlInsert`). A score is stored as an integer entry when it is
//!   integral and within +-2^62 (`double2ll`), else as its `d2string` text; so the bytes equal
//!   Redis's for the same commands.
//! - `skiplist`: [`SkipTable`], Redis's skiplist + dict (one allocation per element).
//!
//! Conversions are Redis 7.4's: a new zset is a listpack when its size hint and longest member
//! fit `zset-max-listpack-entries` / `zset-max-listpack-value` (`zsetTypeCreate`); ZADD first
//! converts when the whole batch would not fit (`zsetTypeMaybeConvert`), then per element
//! (`zsetAdd`: one more element or a longer member than allowed, `zsetConvertAndExpand`).
//! Nothing converts back, except the results of ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE,
//! which are built as skiplists and become listpacks when small
//! (`zsetConvertToListpackIfNeeded`).
//!
//! Range queries by score and by lex are answered the way t_zset.c answers them: the first
//! (or, reversed, last) element in range (`zzlFirstInRange`, `zslNthInRange`...), then a walk
//! while the other bound holds; on the skiplist the start is found in O(log n) through
//! [`SkipTable::count_while`].

use crate::command::{cstr, opt, Argv, Ctx, Handler};
use crate::config::Settings;
use crate::keyspace::{notify, Deletion, Ev, KeyRef, Keyspace, NewValue, SkipTable, ValueRef};
use crate::object::{ObjType, SetValue, Value};
use crate::reply::{errors, Reply};
use pyrope_common::glob::glob_match;
use pyrope_common::listpack::{Listpack, ListpackEntry, Pos};
use pyrope_common::util::{format_double, fpconv_dtoa, push_i64, string2ll};
use std::cmp::Ordering;

/// The keyspace events of the sorted-set commands (Redis 7.4's names, class `z`).
pub mod ev {
    use super::{notify, Ev};
    const fn z(name: &'static str) -> Ev {
        Ev {
            class: notify::ZSET,
            name,
        }
    }
    pub const ZADD: Ev = z("zadd");
    pub const ZINCR: Ev = z("zincr");
    pub const ZREM: Ev = z("zrem");
    pub const ZREMRANGEBYRANK: Ev = z("zremrangebyrank");
    pub const ZREMRANGEBYSCORE: Ev = z("zremrangebyscore");
    pub const ZREMRANGEBYLEX: Ev = z("zremrangebylex");
    pub const ZPOPMIN: Ev = z("zpopmin");
    pub const ZPOPMAX: Ev = z("zpopmax");
    pub const ZUNIONSTORE: Ev = z("zunionstore");
    pub const ZINTERSTORE: Ev = z("zinterstore");
    pub const ZDIFFSTORE: Ev = z("zdiffstore");
    pub const ZRANGESTORE: Ev = z("zrangestore");
}

/// The conversion thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`),
/// read from the live settings at each command.
#[derive(Clone, Copy, Debug)]
pub struct ZsetLimits {
    pub entries: usize,
    pub value: usize,
}

impl ZsetLimits {
    /// The thresholds in force.
    pub fn of(s: &Settings) -> ZsetLimits {
        ZsetLimits {
            entries: s.zset_max_listpack_entries,
            value: s.zset_max_listpack_value,
        }
    }
}

/// A sorted set, one variant per Redis encoding (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum ZsetValue {
    /// OBJ_ENCODING_LISTPACK: member, score pairs sorted by (score, member).
    Listpack(Listpack),
    /// OBJ_ENCODING_SKIPLIST. Boxed so that `Value` stays small.
    Skiplist(Box<SkipTable>),
}

// --- scores ------------------------------------------------------------------------------

/// C `strtod()` over the C-string view of `a` (up to its first NUL): (value, bytes consumed,
/// ERANGE set). Hex floats, `inf`, `infinity`, `nan` and leading blanks as glibc reads them.
pub(crate) fn c_strtod(a: &[u8]) -> (f64, usize, bool) {
    let s = std::ffi::CString::new(cstr(a)).expect("cstr has no NUL");
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `s` is a valid NUL-terminated string and `end` a valid out-pointer; strtod
    // sets `end` inside `s` (or to its start). errno is this thread's.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(s.as_ptr(), &mut end);
        let erange = *libc::__errno_location() == libc::ERANGE;
        (v, end.offset_from(s.as_ptr()) as usize, erange)
    }
}

/// `string2d` (util.c), what `getDoubleFromObject` accepts: the whole argument is a float for
/// strtod, no leading space, no overflow/underflow to +-inf or 0, not NaN.
pub fn string2d(a: &[u8]) -> Option<f64> {
    if a.is_empty() || matches!(a[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        return None;
    }
    let (v, n, erange) = c_strtod(a);
    if n != a.len() || (erange && (v.is_infinite() || v == 0.0)) || v.is_nan() {
        return None;
    }
    Some(v)
}

/// A score as stored in a listpack: the integer when `double2ll` accepts it (integral,
/// within +-2^62, -0 included), else `d2string`'s text.
fn lp_score_bytes(score: f64) -> String {
    if score == 0.0 {
        "0".into()
    } else {
        format_double(score)
    }
}

/// `zzlGetScore`: a listpack score entry as a double (strings through strtod).
fn lp_score(e: ListpackEntry) -> f64 {
    match e {
        ListpackEntry::Int(v) => v as f64,
        ListpackEntry::Str(s) => std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or_else(|| c_strtod(s).0),
    }
}

/// `%.17g` of a double (ZSCAN of a skiplist, via `ld2string(.., LD_STR_AUTO)`), with `inf`,
/// `-inf`, `nan` spelled as Redis.
fn format_17g(v: f64) -> String {
    if let Some(t) = pyrope_common::util::special_double(v) {
        return t.into();
    }
    let e = format!("{v:.16e}");
    let (mant, exp) = e.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    let strip = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if (-4..17).contains(&exp) {
        let decimals = (16 - exp).max(0) as usize;
        strip(format!("{v:.decimals$}"))
    } else {
        let m = strip(mant.to_string());
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

// --- elements ----------------------------------------------------------------------------

/// Compares a stored member with `s` as `zzlCompareElements`: integers by their decimal text.
fn entry_cmp(e: ListpackEntry, s: &[u8]) -> Ordering {
    match e {
        ListpackEntry::Str(m) => m.cmp(s),
        ListpackEntry::Int(v) => {
            let mut buf = Vec::with_capacity(20);
            push_i64(&mut buf, v);
            buf.as_slice().cmp(s)
        }
    }
}

/// Replies a member (a bulk string; integer entries in decimal).
fn reply_entry(out: &mut Reply, e: ListpackEntry) {
    match e {
        ListpackEntry::Int(v) => out.bulk_i64(v),
        ListpackEntry::Str(s) => out.bulk(s),
    }
}

/// One element of a range reply: RESP3 nests (member, score) with WITHSCORES.
fn emit(out: &mut Reply, e: ListpackEntry, score: f64, withscores: bool) {
    if withscores && out.resp > 2 {
        out.array(2);
    }
    reply_entry(out, e);
    if withscores {
        out.double(score);
    }
}

/// The header of a range reply of `n` elements (flat member, score pairs in RESP2).
fn range_header(out: &mut Reply, n: usize, withscores: bool) {
    out.array(if withscores && out.resp == 2 {
        n * 2
    } else {
        n
    });
}

/// Iterator over (member, score) from an index, forward or backward; see
/// [`ZsetValue::iter_from`].
pub enum ZIter<'a> {
    Lp {
        lp: &'a Listpack,
        pos: Option<Pos>,
        rev: bool,
    },
    Sk(crate::keyspace::skiplist::Iter<'a>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (ListpackEntry<'a>, f64);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ZIter::Lp { lp, pos, rev } => {
                let lp: &'a Listpack = lp;
                let p = (*pos)?;
                let sp = lp.next_pos(p).expect("a score follows each member");
                let item = (lp.entry(p), lp_score(lp.entry(sp)));
                *pos = if *rev {
                    lp.prev_pos(p).and_then(|q| lp.prev_pos(q))
                } else {
                    lp.next_pos(sp)
                };
                Some(item)
            }
            ZIter::Sk(it) => it.next().map(|(m, s)| (ListpackEntry::Str(m), s)),
        }
    }
}

/// What ZADD/ZINCRBY did to one element (`ZADD_OUT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddOut {
    /// Not processed (NX/XX/GT/LT).
    Nop,
    /// A new element.
    Added,
    /// The score changed.
    Updated,
    /// Processed, same score.
    Same,
}

/// ZADD's input flags (`ZADD_IN_*`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// A score range (`zrangespec`), parsed by [`parse_score_range`].
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

/// One end of a lex range (`zlexrangespec`): `-`, `+`, `[x` or `(x`.
#[derive(Clone, Debug)]
pub enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

/// A score or lex range with the predicates of t_zset.c.
#[derive(Clone, Debug)]
pub enum Spec {
    Score(ScoreRange),
    Lex(LexBound, LexBound),
}

/// `sdscmplex` of a member against a bound: -1/0/1 with `-`/`+` as the smallest/biggest.
fn lex_cmp_member(m: ListpackEntry, b: &LexBound) -> Ordering {
    match b {
        LexBound::Min => Ordering::Greater,
        LexBound::Max => Ordering::Less,
        LexBound::Incl(s) | LexBound::Excl(s) => entry_cmp(m, s),
    }
}

impl Spec {
    /// True when no element can be in range (`zslIsInRange`'s first test).
    fn always_empty(&self) -> bool {
        match self {
            Spec::Score(r) => r.min > r.max || (r.min == r.max && (r.minex || r.maxex)),
            Spec::Lex(min, max) => {
                let (mb, mex) = bound_parts(min);
                let (xb, xex) = bound_parts(max);
                let cmp = match (min, max) {
                    _ if mb == xb && mb.is_some() => Ordering::Equal,
                    (LexBound::Min, LexBound::Min) | (LexBound::Max, LexBound::Max) => {
                        Ordering::Equal
                    }
                    (LexBound::Min, _) | (_, LexBound::Max) => Ordering::Less,
                    (LexBound::Max, _) | (_, LexBound::Min) => Ordering::Greater,
                    _ => mb.cmp(&xb),
                };
                cmp == Ordering::Greater || (cmp == Ordering::Equal && (mex || xex))
            }
        }
    }

    /// `zslValueGteMin` / `zslLexValueGteMin`.
    fn gte_min(&self, m: ListpackEntry, s: f64) -> bool {
        match self {
            Spec::Score(r) => {
                if r.minex {
                    s > r.min
                } else {
                    s >= r.min
                }
            }
            Spec::Lex(min, _) => {
                let c = lex_cmp_member(m, min);
                if matches!(min, LexBound::Incl(_)) {
                    c != Ordering::Less
                } else {
                    c == Ordering::Greater
                }
            }
        }
    }

    /// `zslValueLteMax` / `zslLexValueLteMax`.
    fn lte_max(&self, m: ListpackEntry, s: f64) -> bool {
        match self {
            Spec::Score(r) => {
                if r.maxex {
                    s < r.max
                } else {
                    s <= r.max
                }
            }
            Spec::Lex(_, max) => {
                let c = lex_cmp_member(m, max);
                if matches!(max, LexBound::Incl(_)) {
                    c != Ordering::Greater
                } else {
                    c == Ordering::Less
                }
            }
        }
    }
}

/// (bytes, exclusive) of a lex bound; `-`/`+` are exclusive with no bytes.
fn bound_parts(b: &LexBound) -> (Option<&[u8]>, bool) {
    match b {
        LexBound::Min | LexBound::Max => (None, true),
        LexBound::Incl(s) => (Some(s), false),
        LexBound::Excl(s) => (Some(s), true),
    }
}

/// `zslParseRange`'s reading of one end: strtod over the C string, `(` for exclusive; the
/// whole string must be read and must not be NaN (empty reads as 0, as strtod).
fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    let (body, ex) = match a.first() {
        Some(b'(') => (&a[1..], true),
        _ => (a, false),
    };
    let body = cstr(body);
    let (v, n, _) = c_strtod(body);
    (n == body.len() && !v.is_nan()).then_some((v, ex))
}

/// `zslParseRange`: `None` means "ERR min or max is not a float".
pub fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, minex) = parse_score_bound(min)?;
    let (max, maxex) = parse_score_bound(max)?;
    Some(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

/// `zslParseLexRangeItem`.
fn parse_lex_bound(a: &[u8]) -> Option<LexBound> {
    match a.first()? {
        b'+' => (a.get(1).is_none_or(|&c| c == 0)).then_some(LexBound::Max),
        b'-' => (a.get(1).is_none_or(|&c| c == 0)).then_some(LexBound::Min),
        b'(' => Some(LexBound::Excl(a[1..].to_vec())),
        b'[' => Some(LexBound::Incl(a[1..].to_vec())),
        _ => None,
    }
}

/// `zslParseLexRange`: `None` means "ERR min or max not valid string range item".
fn parse_lex_range(min: &[u8], max: &[u8]) -> Option<Spec> {
    Some(Spec::Lex(parse_lex_bound(min)?, parse_lex_bound(max)?))
}

const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

// --- the value ---------------------------------------------------------------------------

impl ZsetValue {
    /// `zsetTypeCreate`: a listpack when `size_hint` elements with members of up to
    /// `value_len_hint` bytes fit, else a skiplist pre-sized for `size_hint`.
    pub fn create(size_hint: usize, value_len_hint: usize, lim: &ZsetLimits) -> ZsetValue {
        if size_hint <= lim.entries && value_len_hint <= lim.value {
            return ZsetValue::Listpack(Listpack::new());
        }
        let mut t = SkipTable::new();
        t.reserve(size_hint);
        ZsetValue::Skiplist(Box::new(t))
    }

    /// Number of elements (`zsetLength`).
    pub fn len(&self) -> usize {
        match self {
            ZsetValue::Listpack(lp) => lp.len() / 2,
            ZsetValue::Skiplist(t) => t.len(),
        }
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many allocations freeing takes (`lazyfreeGetFreeEffort`: the skiplist length).
    pub fn free_effort(&self) -> usize {
        match self {
            ZsetValue::Listpack(_) => 1,
            ZsetValue::Skiplist(t) => t.len(),
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        match self {
            ZsetValue::Listpack(lp) => lp.bytes(),
            ZsetValue::Skiplist(t) => std::mem::size_of::<SkipTable>() + t.heap_size(),
        }
    }

    /// `zsetTypeMaybeConvert`: a listpack becomes a skiplist when `size_hint` elements or a
    /// member of `value_len_hint` bytes would not fit.
    pub fn maybe_convert(&mut self, size_hint: usize, value_len_hint: usize, lim: &ZsetLimits) {
        if matches!(self, ZsetValue::Listpack(_))
            && (size_hint > lim.entries || value_len_hint > lim.value)
        {
            self.convert_to_skiplist(size_hint);
        }
    }

    /// `zsetConvertAndExpand(zobj, OBJ_ENCODING_SKIPLIST, cap)` (also SORT's destructive
    /// `zsetConvert`, sort.c).
    pub(crate) fn convert_to_skiplist(&mut self, cap: usize) {
        let ZsetValue::Listpack(lp) = self else {
            return;
        };
        let mut t = SkipTable::new();
        t.reserve(cap);
        let mut buf = Vec::new();
        for (m, s) in (ZIter::Lp {
            lp,
            pos: lp.first_pos(),
            rev: false,
        }) {
            buf.clear();
            m.write_to(&mut buf);
            t.insert(&buf, s);
        }
        *self = ZsetValue::Skiplist(Box::new(t));
    }

    /// `zsetConvertToListpackIfNeeded`: a skiplist whose elements fit the listpack limits
    /// becomes a listpack (STORE results).
    pub fn convert_to_listpack_if_needed(
        &mut self,
        maxelelen: usize,
        totelelen: usize,
        lim: &ZsetLimits,
    ) {
        let ZsetValue::Skiplist(t) = self else {
            return;
        };
        if t.len() <= lim.entries
            && maxelelen <= lim.value
            && totelelen <= pyrope_common::listpack::LISTPACK_MAX_SAFETY_SIZE
        {
            let mut lp = Listpack::new();
            for (m, s) in t.iter_from(0, false) {
                lp.push_back(m);
                lp.push_back(lp_score_bytes(s).as_bytes());
            }
            *self = ZsetValue::Listpack(lp);
        }
    }

    /// Iterates (member, score) from 0-based index `i` in ascending order, or from `i`
    /// toward lower indexes when `rev`.
    pub fn iter_from(&self, i: usize, rev: bool) -> ZIter<'_> {
        match self {
            ZsetValue::Listpack(lp) => ZIter::Lp {
                lp,
                pos: if i < lp.len() / 2 {
                    lp.seek(2 * i as i64)
                } else {
                    None
                },
                rev,
            },
            ZsetValue::Skiplist(t) => ZIter::Sk(t.iter_from(i, rev)),
        }
    }

    /// The element at index `i` (ascending).
    fn at(&self, i: usize) -> Option<(ListpackEntry<'_>, f64)> {
        self.iter_from(i, false).next()
    }

    /// `zzlFind`: position of `member` in a listpack and its score.
    fn lp_find(lp: &Listpack, member: &[u8]) -> Option<(Pos, f64)> {
        let p = lp.find(lp.first_pos()?, member, 1)?;
        let sp = lp.next_pos(p).expect("score");
        Some((p, lp_score(lp.entry(sp))))
    }

    /// `zzlInsert`: inserts (member, score) at its sorted place.
    fn lp_insert(lp: &mut Listpack, member: &[u8], score: f64) {
        let sb = lp_score_bytes(score);
        let mut p = lp.first_pos();
        while let Some(ep) = p {
            let sp = lp.next_pos(ep).expect("score");
            let s = lp_score(lp.entry(sp));
            if s > score || (s == score && entry_cmp(lp.entry(ep), member) == Ordering::Greater) {
                let np = lp.insert_before(ep, member);
                lp.insert_after(np, sb.as_bytes());
                return;
            }
            p = lp.next_pos(sp);
        }
        lp.push_back(member);
        lp.push_back(sb.as_bytes());
    }

    /// The score of `member` (`zsetScore`).
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZsetValue::Listpack(lp) => Self::lp_find(lp, member).map(|(_, s)| s),
            ZsetValue::Skiplist(t) => t.score(member),
        }
    }

    /// `zsetAdd`: adds or updates `member` under ZADD's flags, converting the encoding as
    /// Redis. Returns what happened and the element's (new) score; `Err` when INCR makes
    /// the score NaN (nothing changed).
    pub fn add(
        &mut self,
        mut score: f64,
        member: &[u8],
        f: AddFlags,
        lim: &ZsetLimits,
    ) -> Result<(AddOut, f64), ()> {
        if let ZsetValue::Listpack(lp) = self {
            if let Some((pos, cur)) = Self::lp_find(lp, member) {
                if f.nx {
                    return Ok((AddOut::Nop, cur));
                }
                if f.incr {
                    score += cur;
                    if score.is_nan() {
                        return Err(());
                    }
                }
                if (f.lt && score >= cur) || (f.gt && score <= cur) {
                    return Ok((AddOut::Nop, cur));
                }
                if score != cur {
                    lp.delete_range(pos.index() as i64, 2);
                    Self::lp_insert(lp, member, score);
                    return Ok((AddOut::Updated, score));
                }
                return Ok((AddOut::Same, score));
            } else if !f.xx {
                if lp.len() / 2 + 1 > lim.entries
                    || member.len() > lim.value
                    || !lp.safe_to_add(member.len())
                {
                    let n = self.len() + 1;
                    self.convert_to_skiplist(n);
                } else {
                    Self::lp_insert(lp, member, score);
                    return Ok((AddOut::Added, score));
                }
            } else {
                return Ok((AddOut::Nop, 0.0));
            }
        }
        let ZsetValue::Skiplist(t) = self else {
            unreachable!("converted above")
        };
        match t.score(member) {
            Some(cur) => {
                if f.nx {
                    return Ok((AddOut::Nop, cur));
                }
                if f.incr {
                    score += cur;
                    if score.is_nan() {
                        return Err(());
                    }
                }
                if (f.lt && score >= cur) || (f.gt && score <= cur) {
                    return Ok((AddOut::Nop, cur));
                }
                if score != cur {
                    t.update_score(member, score);
                    Ok((AddOut::Updated, score))
                } else {
                    Ok((AddOut::Same, score))
                }
            }
            None if !f.xx => {
                t.insert(member, score);
                Ok((AddOut::Added, score))
            }
            None => Ok((AddOut::Nop, 0.0)),
        }
    }

    /// `zsetDel`: removes `member`; false if absent.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZsetValue::Listpack(lp) => match Self::lp_find(lp, member) {
                Some((p, _)) => {
                    lp.delete_range(p.index() as i64, 2);
                    true
                }
                None => false,
            },
            ZsetValue::Skiplist(t) => t.remove(member).is_some(),
        }
    }

    /// `zsetRank`: 0-based rank of `member` (from the highest score when `rev`) and its
    /// score.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<(usize, f64)> {
        let (r, s) = match self {
            ZsetValue::Listpack(lp) => {
                let (p, s) = Self::lp_find(lp, member)?;
                (p.index() / 2, s)
            }
            ZsetValue::Skiplist(t) => t.rank(member)?,
        };
        Some((if rev { self.len() - 1 - r } else { r }, s))
    }

    /// Removes `count` elements from index `start` (ascending); returns how many.
    pub fn delete_range(&mut self, start: usize, count: usize) -> usize {
        match self {
            ZsetValue::Listpack(lp) => {
                let n = count.min((lp.len() / 2).saturating_sub(start));
                if n > 0 {
                    lp.delete_range(2 * start as i64, 2 * n);
                }
                n
            }
            ZsetValue::Skiplist(t) => t.delete_range(start, count),
        }
    }

    /// `zslIsInRange` / `zzlIsInRange` (and the lex forms): false when no element can be in
    /// `spec` (an empty range, or the zset's ends outside it).
    fn in_range(&self, spec: &Spec) -> bool {
        let n = self.len();
        if n == 0 || spec.always_empty() {
            return false;
        }
        let (lm, ls) = self.at(n - 1).expect("last");
        if !spec.gte_min(lm, ls) {
            return false;
        }
        let (fm, fs) = self.at(0).expect("first");
        spec.lte_max(fm, fs)
    }

    /// Index of the first element with `gte_min` (no range check): listpacks scan, skiplists
    /// descend their levels.
    fn first_gte_min(&self, spec: &Spec) -> usize {
        match self {
            ZsetValue::Listpack(_) => self
                .iter_from(0, false)
                .position(|(m, s)| spec.gte_min(m, s))
                .unwrap_or(self.len()),
            ZsetValue::Skiplist(t) => t.count_while(|s, m| !spec.gte_min(ListpackEntry::Str(m), s)),
        }
    }

    /// `zzlFirstInRange` / `zslNthInRange(.., 0)`: index of the first element in range.
    fn first_in_range(&self, spec: &Spec) -> Option<usize> {
        if !self.in_range(spec) {
            return None;
        }
        let i = self.first_gte_min(spec);
        let (m, s) = self.at(i)?;
        spec.lte_max(m, s).then_some(i)
    }

    /// `zzlLastInRange` / `zslLastInRange`: index of the last element in range.
    fn last_in_range(&self, spec: &Spec) -> Option<usize> {
        if !self.in_range(spec) {
            return None;
        }
        let n = self.len();
        let i = match self {
            ZsetValue::Listpack(_) => {
                n - 1
                    - self
                        .iter_from(n - 1, true)
                        .position(|(m, s)| spec.lte_max(m, s))?
            }
            ZsetValue::Skiplist(t) => t
                .count_while(|s, m| spec.lte_max(ListpackEntry::Str(m), s))
                .checked_sub(1)?,
        };
        let (m, s) = self.at(i)?;
        spec.gte_min(m, s).then_some(i)
    }

    /// `zslNthInRange` / `zslNthInLexRange`: index of the `n`th element in range (n >= 0
    /// from the first; n < 0 from the last, -1 being the last), None out of range.
    fn nth_in_range(&self, spec: &Spec, n: i64) -> Option<usize> {
        if !self.in_range(spec) {
            return None;
        }
        let len = self.len() as u64;
        let i = if n >= 0 {
            let i = (self.first_gte_min(spec) as u64).checked_add(n as u64)?;
            if i >= len {
                return None;
            }
            i as usize
        } else {
            let cnt = match self {
                ZsetValue::Skiplist(t) => {
                    t.count_while(|s, m| spec.lte_max(ListpackEntry::Str(m), s))
                }
                ZsetValue::Listpack(_) => self
                    .iter_from(0, false)
                    .take_while(|(m, s)| spec.lte_max(*m, *s))
                    .count(),
            } as u64;
            if cnt < n.unsigned_abs() {
                return None;
            }
            (cnt - n.unsigned_abs()) as usize
        };
        let (m, s) = self.at(i)?;
        let ok = if n >= 0 {
            spec.lte_max(m, s)
        } else {
            spec.gte_min(m, s)
        };
        ok.then_some(i)
    }

    /// ZCOUNT / ZLEXCOUNT: elements in range.
    fn count_in_range(&self, spec: &Spec) -> usize {
        let Some(first) = self.first_in_range(spec) else {
            return 0;
        };
        match self {
            ZsetValue::Listpack(_) => self
                .iter_from(first, false)
                .take_while(|(m, s)| spec.lte_max(*m, *s))
                .count(),
            ZsetValue::Skiplist(_) => match self.last_in_range(spec) {
                Some(last) if last >= first => last - first + 1,
                _ => 0,
            },
        }
    }

    /// The elements with `min <= score < max`, ascending: the walk of geo.c's
    /// `geoGetPointsInRange` (`zzlFirstInRange` / `zslNthInRange(.., 0)`, then on while
    /// `zslValueLteMax` with an exclusive max).
    pub(crate) fn iter_score_range(
        &self,
        min: f64,
        max: f64,
    ) -> impl Iterator<Item = (ListpackEntry<'_>, f64)> + '_ {
        let spec = Spec::Score(ScoreRange {
            min,
            max,
            minex: false,
            maxex: true,
        });
        self.first_in_range(&spec)
            .into_iter()
            .flat_map(move |i| self.iter_from(i, false))
            .take_while(move |(_, s)| *s < max)
    }

    /// Calls `f(member)` for every element (ascending), as strings.
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(ListpackEntry<'a>, f64)) {
        for (m, s) in self.iter_from(0, false) {
            f(m, s)
        }
    }
}

// --- lookups -----------------------------------------------------------------------------

/// Looks `key` up for reading (`write` false) or writing; `Err` after replying WRONGTYPE.
fn lookup_zset(c: &mut Ctx, key: &[u8], write: bool) -> Result<Option<KeyRef>, ()> {
    c.lookup_typed(key, ObjType::ZSet, write)
}

/// The zset of a found key of type zset.
fn zset_ref(ks: &Keyspace, h: KeyRef) -> &ZsetValue {
    match ks.get(h).value() {
        ValueRef::Boxed(Value::ZSet(z)) => z,
        _ => unreachable!("type checked at lookup"),
    }
}

/// The zset of a found key of type zset, mutably.
fn zset_mut(ks: &mut Keyspace, h: KeyRef) -> &mut ZsetValue {
    match ks.get_mut(h).into_value_mut() {
        Some(Value::ZSet(z)) => z,
        _ => unreachable!("type checked at lookup"),
    }
}

fn boxed(z: ZsetValue) -> NewValue<'static> {
    NewValue::Boxed(Box::new(Value::ZSet(z)))
}

fn limits(c: &Ctx) -> ZsetLimits {
    ZsetLimits::of(&c.srv.settings)
}

/// `getLongFromObjectOrReply`.
fn long_arg(c: &mut Ctx, i: usize) -> Option<i64> {
    c.int_arg(i)
}

/// Deletes a key emptied by a removal, with the `del` event.
fn delete_if_empty(c: &mut Ctx, h: KeyRef) -> bool {
    if zset_ref(&c.srv.ks, h).is_empty() {
        c.srv
            .ks
            .delete(h, Deletion::Server, Some(crate::keyspace::ev::DEL));
        true
    } else {
        false
    }
}

// --- ZADD / ZINCRBY ----------------------------------------------------------------------

/// `zaddGenericCommand`.
fn zadd_generic(c: &mut Ctx, f: AddFlags) {
    let argv = c.argv;
    zadd_argv(c, argv, f);
}

/// `zaddGenericCommand` over `argv` (`ZADD key [opts] score member ...`), which may differ
/// from the client's own (GEOADD rewrites itself to ZADD, geo.c). Replies as ZADD.
pub(crate) fn zadd_argv(c: &mut Ctx, argv: Argv<'_>, mut f: AddFlags) {
    let key = &argv[1];
    let mut ch = false;
    let mut scoreidx = 2;
    while scoreidx < argv.len() {
        match opt(&argv[scoreidx]).as_slice() {
            b"nx" => f.nx = true,
            b"xx" => f.xx = true,
            b"ch" => ch = true,
            b"incr" => f.incr = true,
            b"gt" => f.gt = true,
            b"lt" => f.lt = true,
            _ => break,
        }
        scoreidx += 1;
    }
    let elements = argv.len() - scoreidx;
    if elements % 2 == 1 || elements == 0 {
        return c.out.syntax_error();
    }
    let elements = elements / 2;
    if f.nx && f.xx {
        return c
            .out
            .error("ERR XX and NX options at the same time are not compatible");
    }
    if (f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt) {
        return c
            .out
            .error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && elements > 1 {
        return c
            .out
            .error("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(elements);
    let mut maxelelen = 0;
    for j in 0..elements {
        match string2d(&argv[scoreidx + 2 * j]) {
            Some(v) => scores.push(v),
            None => return c.out.error(errors::NOT_FLOAT),
        }
        maxelelen = maxelelen.max(argv[scoreidx + 2 * j + 1].len());
    }
    let Ok(h) = lookup_zset(c, key, true) else {
        return;
    };
    let lim = limits(c);
    let h = match h {
        None if f.xx => None,
        None => {
            let z = ZsetValue::create(elements, maxelelen, &lim);
            let lru = c.srv.new_key_lru();
            Some(c.srv.ks.add(c.db, key, boxed(z), None, lru, None))
        }
        Some(h) => {
            zset_mut(&mut c.srv.ks, h).maybe_convert(elements, maxelelen, &lim);
            Some(h)
        }
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0);
    let mut score = 0.0;
    let mut nan = false;
    if let Some(h) = h {
        let z = zset_mut(&mut c.srv.ks, h);
        for (j, &sc) in scores.iter().enumerate() {
            match z.add(sc, &argv[scoreidx + 2 * j + 1], f, &lim) {
                Err(()) => {
                    nan = true;
                    break;
                }
                Ok((out, newscore)) => {
                    match out {
                        AddOut::Added => added += 1,
                        AddOut::Updated => updated += 1,
                        _ => {}
                    }
                    if out != AddOut::Nop {
                        processed += 1;
                    }
                    score = newscore;
                }
            }
        }
        if let ZsetValue::Listpack(lp) = z {
            lp.shrink_to_fit();
        }
        if added + updated > 0 {
            c.srv
                .ks
                .touched(h, if f.incr { ev::ZINCR } else { ev::ZADD });
        }
    }
    c.dirty((added + updated) as u64);
    if nan {
        return c.out.error("ERR resulting score is not a number (NaN)");
    }
    if f.incr {
        if processed > 0 {
            c.out.double(score);
        } else {
            c.out.null();
        }
    } else {
        c.out.int(if ch { added + updated } else { added });
    }
}

fn zadd(c: &mut Ctx) {
    zadd_generic(c, AddFlags::default());
}

fn zincrby(c: &mut Ctx) {
    zadd_generic(
        c,
        AddFlags {
            incr: true,
            ..AddFlags::default()
        },
    );
}

// --- simple reads ------------------------------------------------------------------------

fn zcard(c: &mut Ctx) {
    match lookup_zset(c, c.arg(1), false) {
        Err(()) => {}
        Ok(None) => c.out.int(0),
        Ok(Some(h)) => {
            let n = zset_ref(&c.srv.ks, h).len();
            c.out.int(n as i64)
        }
    }
}

fn zscore(c: &mut Ctx) {
    let h = match lookup_zset(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.null(),
        Ok(Some(h)) => h,
    };
    match zset_ref(&c.srv.ks, h).score(c.arg(2)) {
        Some(s) => c.out.double(s),
        None => c.out.null(),
    }
}

fn zmscore(c: &mut Ctx) {
    let Ok(h) = lookup_zset(c, c.arg(1), false) else {
        return;
    };
    c.out.array(c.argc() - 2);
    for j in 2..c.argc() {
        match h.and_then(|h| zset_ref(&c.srv.ks, h).score(c.arg(j))) {
            Some(s) => c.out.double(s),
            None => c.out.null(),
        }
    }
}

/// `zrankGenericCommand`.
fn zrank_generic(c: &mut Ctx, rev: bool) {
    if c.argc() > 4 {
        let name = c.command().name.clone();
        return c.out.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let mut withscore = false;
    if c.argc() > 3 {
        if opt(c.arg(3)) == b"withscore" {
            withscore = true;
        } else {
            return c.out.syntax_error();
        }
    }
    let missing = |c: &mut Ctx| {
        if withscore {
            c.out.null_array()
        } else {
            c.out.null()
        }
    };
    let h = match lookup_zset(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return missing(c),
        Ok(Some(h)) => h,
    };
    match zset_ref(&c.srv.ks, h).rank(c.arg(2), rev) {
        Some((r, s)) => {
            if withscore {
                c.out.array(2);
            }
            c.out.int(r as i64);
            if withscore {
                c.out.double(s);
            }
        }
        None => missing(c),
    }
}

fn zrank(c: &mut Ctx) {
    zrank_generic(c, false);
}

fn zrevrank(c: &mut Ctx) {
    zrank_generic(c, true);
}

fn zcount(c: &mut Ctx) {
    let Some(r) = parse_score_range(c.arg(2), c.arg(3)) else {
        return c.out.error(NOT_FLOAT_RANGE);
    };
    let h = match lookup_zset(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let n = zset_ref(&c.srv.ks, h).count_in_range(&Spec::Score(r));
    c.out.int(n as i64);
}

fn zlexcount(c: &mut Ctx) {
    let Some(spec) = parse_lex_range(c.arg(2), c.arg(3)) else {
        return c.out.error(NOT_LEX_RANGE);
    };
    let h = match lookup_zset(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let n = zset_ref(&c.srv.ks, h).count_in_range(&spec);
    c.out.int(n as i64);
}

// --- ZRANGE family -----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// The selection of a ZRANGE-family command over one zset: (start index, walk direction,
/// how many at most, the range that ends the walk).
fn select<'a>(z: &'a ZsetValue, what: &Selection, rev: bool) -> Vec<(ListpackEntry<'a>, f64)> {
    match what {
        Selection::Rank(start, end) => {
            let llen = z.len() as i64;
            let mut start = *start;
            let mut end = *end;
            if start < 0 {
                start += llen;
            }
            if end < 0 {
                end += llen;
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                return Vec::new();
            }
            if end >= llen {
                end = llen - 1;
            }
            let n = (end - start + 1) as usize;
            let from = if rev {
                (llen - 1 - start) as usize
            } else {
                start as usize
            };
            z.iter_from(from, rev).take(n).collect()
        }
        Selection::Range(spec, offset, limit) => {
            let (offset, limit) = (*offset, *limit);
            if offset > 0 && offset as u64 >= z.len() as u64 {
                return Vec::new();
            }
            let mut it = match z {
                // Listpacks: the first (last) in range, then skip `offset` (a negative one
                // skips everything: `while (eptr && offset--)`).
                ZsetValue::Listpack(_) => {
                    let start = if rev {
                        z.last_in_range(spec)
                    } else {
                        z.first_in_range(spec)
                    };
                    let Some(start) = start else {
                        return Vec::new();
                    };
                    if offset < 0 {
                        return Vec::new();
                    }
                    z.iter_from(start, rev).skip(offset as usize)
                }
                // Skiplists: `zslNthInRange(offset)`, reversed `zslNthInRange(-offset-1)`.
                ZsetValue::Skiplist(_) => {
                    let n = if rev {
                        offset.saturating_neg().saturating_sub(1)
                    } else {
                        offset
                    };
                    let Some(start) = z.nth_in_range(spec, n) else {
                        return Vec::new();
                    };
                    // `skip(0)`: the same iterator type as the listpack arm's.
                    #[allow(clippy::iter_skip_zero)]
                    let it = z.iter_from(start, rev).skip(0);
                    it
                }
            };
            let mut out = Vec::new();
            let mut left = limit;
            while left != 0 {
                let Some((m, s)) = it.next() else { break };
                let ok = if rev {
                    spec.gte_min(m, s)
                } else {
                    spec.lte_max(m, s)
                };
                if !ok {
                    break;
                }
                out.push((m, s));
                left -= 1;
            }
            out
        }
    }
}

/// A parsed selection: by rank (start, end) or by a range with (offset, limit; -1 = all).
enum Selection {
    Rank(i64, i64),
    Range(Spec, i64, i64),
}

/// `zrangeGenericCommand`: Z[REV]RANGE[BYSCORE|BYLEX] and ZRANGESTORE (`store`: argv[1] is
/// the destination, the source follows).
fn zrange_generic(
    c: &mut Ctx,
    argc_start: usize,
    store: bool,
    mut rt: RangeType,
    mut dir: Direction,
) {
    let key = c.arg(argc_start);
    let mut minidx = argc_start + 1;
    let mut maxidx = argc_start + 2;
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = argc_start + 3;
    while j < c.argc() {
        let left = c.argc() - j - 1;
        let o = opt(c.arg(j));
        if !store && o == b"withscores" {
            withscores = true;
        } else if o == b"limit" && left >= 2 {
            let Some(off) = long_arg(c, j + 1) else {
                return;
            };
            let Some(lim) = long_arg(c, j + 2) else {
                return;
            };
            offset = off;
            limit = lim;
            j += 2;
        } else if dir == Direction::Auto && o == b"rev" {
            dir = Direction::Reverse;
        } else if rt == RangeType::Auto && o == b"bylex" {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && o == b"byscore" {
            rt = RangeType::Score;
        } else {
            return c.out.syntax_error();
        }
        j += 1;
    }
    if dir == Direction::Auto {
        dir = Direction::Forward;
    }
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return c.out.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && rt == RangeType::Lex {
        return c
            .out
            .error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let rev = dir == Direction::Reverse;
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let sel = match rt {
        RangeType::Score => match parse_score_range(c.arg(minidx), c.arg(maxidx)) {
            Some(r) => Selection::Range(Spec::Score(r), offset, limit),
            None => return c.out.error(NOT_FLOAT_RANGE),
        },
        RangeType::Lex => match parse_lex_range(c.arg(minidx), c.arg(maxidx)) {
            Some(spec) => Selection::Range(spec, offset, limit),
            None => return c.out.error(NOT_LEX_RANGE),
        },
        _ => {
            let Some(s) = long_arg(c, minidx) else { return };
            let Some(e) = long_arg(c, maxidx) else { return };
            Selection::Rank(s, e)
        }
    };
    let h = match c.lookup_read(key) {
        None => {
            if store {
                store_result(c, None, ev::ZRANGESTORE);
            } else {
                c.out.array(0);
            }
            return;
        }
        Some(h) => h,
    };
    if c.srv.ks.get(h).obj_type() != ObjType::ZSet {
        return c.out.wrong_type();
    }
    let z = zset_ref(&c.srv.ks, h);
    let found = select(z, &sel, rev);
    if store {
        let lim = limits(c);
        let hint = match sel {
            Selection::Rank(..) => found.len(),
            Selection::Range(..) => 0,
        };
        let mut dst = ZsetValue::create(hint, 0, &lim);
        let mut buf = Vec::new();
        for (m, s) in &found {
            buf.clear();
            m.write_to(&mut buf);
            let _ = dst.add(*s, &buf, AddFlags::default(), &lim);
        }
        let dst = (!dst.is_empty()).then_some(dst);
        return store_result(c, dst, ev::ZRANGESTORE);
    }
    range_header(c.out, found.len(), withscores);
    for (m, s) in found {
        emit(c.out, m, s, withscores);
    }
}

fn zrange(c: &mut Ctx) {
    zrange_generic(c, 1, false, RangeType::Auto, Direction::Auto);
}

fn zrangestore(c: &mut Ctx) {
    zrange_generic(c, 2, true, RangeType::Auto, Direction::Auto);
}

fn zrevrange(c: &mut Ctx) {
    zrange_generic(c, 1, false, RangeType::Rank, Direction::Reverse);
}

fn zrangebyscore(c: &mut Ctx) {
    zrange_generic(c, 1, false, RangeType::Score, Direction::Forward);
}

fn zrevrangebyscore(c: &mut Ctx) {
    zrange_generic(c, 1, false, RangeType::Score, Direction::Reverse);
}

fn zrangebylex(c: &mut Ctx) {
    zrange_generic(c, 1, false, RangeType::Lex, Direction::Forward);
}

fn zrevrangebylex(c: &mut Ctx) {
    zrange_generic(c, 1, false, RangeType::Lex, Direction::Reverse);
}

/// Stores a STORE command's result at argv[1] (`super::store_result`), a listpack
/// trimmed to its size first.
fn store_result(c: &mut Ctx, z: Option<ZsetValue>, ev: Ev) {
    let r = z.map(|mut z| {
        if let ZsetValue::Listpack(lp) = &mut z {
            lp.shrink_to_fit();
        }
        let n = z.len();
        (boxed(z), n)
    });
    super::store_result(c, r, ev);
}

// --- removals ----------------------------------------------------------------------------

fn zrem(c: &mut Ctx) {
    let key = c.arg(1);
    let h = match lookup_zset(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let argv = c.argv;
    let z = zset_mut(&mut c.srv.ks, h);
    let mut deleted = 0;
    for j in 2..argv.len() {
        if z.remove(&argv[j]) {
            deleted += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    if deleted > 0 {
        c.srv.ks.touched(h, ev::ZREM);
        delete_if_empty(c, h);
        c.dirty(deleted as u64);
    }
    c.out.int(deleted);
}

/// `zremrangeGenericCommand`.
fn zremrange_generic(c: &mut Ctx, rt: RangeType) {
    let key = c.arg(1);
    let sel = match rt {
        RangeType::Rank => {
            let Some(s) = long_arg(c, 2) else { return };
            let Some(e) = long_arg(c, 3) else { return };
            Selection::Rank(s, e)
        }
        RangeType::Score => match parse_score_range(c.arg(2), c.arg(3)) {
            Some(r) => Selection::Range(Spec::Score(r), 0, -1),
            None => return c.out.error(NOT_FLOAT_RANGE),
        },
        _ => match parse_lex_range(c.arg(2), c.arg(3)) {
            Some(s) => Selection::Range(s, 0, -1),
            None => return c.out.error(NOT_LEX_RANGE),
        },
    };
    let h = match lookup_zset(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let z = zset_mut(&mut c.srv.ks, h);
    let (start, n) = match &sel {
        Selection::Rank(s, e) => {
            let llen = z.len() as i64;
            let (mut s, mut e) = (*s, *e);
            if s < 0 {
                s += llen;
            }
            if e < 0 {
                e += llen;
            }
            if s < 0 {
                s = 0;
            }
            if s > e || s >= llen {
                return c.out.int(0);
            }
            if e >= llen {
                e = llen - 1;
            }
            (s as usize, (e - s + 1) as usize)
        }
        Selection::Range(spec, ..) => {
            // Listpacks start at the first in range (`zzlFirstInRange`), skiplists at the
            // first >= min (`zslDeleteRangeByScore`); both delete while <= max.
            let start = match z {
                ZsetValue::Listpack(_) => z.first_in_range(spec),
                ZsetValue::Skiplist(_) => Some(z.first_gte_min(spec)),
            };
            match start {
                None => (0, 0),
                Some(start) => {
                    let n = z
                        .iter_from(start, false)
                        .take_while(|(m, s)| spec.lte_max(*m, *s))
                        .count();
                    (start, n)
                }
            }
        }
    };
    let deleted = z.delete_range(start, n);
    if deleted > 0 {
        let ev = match rt {
            RangeType::Rank => ev::ZREMRANGEBYRANK,
            RangeType::Score => ev::ZREMRANGEBYSCORE,
            _ => ev::ZREMRANGEBYLEX,
        };
        c.srv.ks.touched(h, ev);
        delete_if_empty(c, h);
    }
    c.dirty(deleted as u64);
    c.out.int(deleted as i64);
}

fn zremrangebyrank(c: &mut Ctx) {
    zremrange_generic(c, RangeType::Rank);
}

fn zremrangebyscore(c: &mut Ctx) {
    zremrange_generic(c, RangeType::Score);
}

fn zremrangebylex(c: &mut Ctx) {
    zremrange_generic(c, RangeType::Lex);
}

// --- pops --------------------------------------------------------------------------------

/// Which end a pop takes from (`ZSET_MIN` / `ZSET_MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    Min,
    Max,
}

/// The reply shape of a pop (`genericZpopCommand`'s `emitkey` and `use_nested_array`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopReply {
    /// ZPOPMIN/ZPOPMAX: a flat array of member, score.
    Flat,
    /// ZPOPMIN/ZPOPMAX with a count in RESP3: an array of [member, score].
    Nested,
    /// BZPOPMIN/BZPOPMAX: [key, member, score].
    KeyFlat,
    /// ZMPOP/BZMPOP: [key, [[member, score]...]].
    KeyNested,
}

/// Pops up to `count` (>= 1) elements from the zset at `h` (named `key`), lowest or highest
/// first, as `genericZpopCommand` after it found its key: writes the reply in `shape`, emits
/// `zpopmin`/`zpopmax` (and `del` when the key empties), counts dirty, and when `rewrite`
/// propagates as `ZPOPMIN|ZPOPMAX key <number popped>` (ZMPOP, BZMPOP, BZPOP*). The blocking commands
/// call it when a key they wait on is ready. Returns how many were popped.
pub fn pop_count(
    c: &mut Ctx,
    h: KeyRef,
    key: &[u8],
    whr: Where,
    count: usize,
    shape: PopReply,
    rewrite: bool,
) -> usize {
    let z = zset_mut(&mut c.srv.ks, h);
    let len = z.len();
    let n = count.min(len);
    let (start, rev) = match whr {
        Where::Min => (0, false),
        Where::Max => (len - 1, true),
    };
    let popped: Vec<(Vec<u8>, f64)> = z
        .iter_from(start, rev)
        .take(n)
        .map(|(m, s)| (m.to_vec(), s))
        .collect();
    z.delete_range(if rev { len - n } else { 0 }, n);
    match shape {
        PopReply::Flat => c.out.array(n * 2),
        PopReply::Nested => c.out.array(n),
        PopReply::KeyFlat => {
            c.out.array(n * 2 + 1);
            c.out.bulk(key);
        }
        PopReply::KeyNested => {
            c.out.array(2);
            c.out.bulk(key);
            c.out.array(n);
        }
    }
    let nested = matches!(shape, PopReply::Nested | PopReply::KeyNested);
    for (m, s) in &popped {
        if nested {
            c.out.array(2);
        }
        c.out.bulk(m);
        c.out.double(*s);
    }
    c.dirty(n as u64);
    c.srv.ks.touched(
        h,
        match whr {
            Where::Min => ev::ZPOPMIN,
            Where::Max => ev::ZPOPMAX,
        },
    );
    delete_if_empty(c, h);
    if rewrite {
        let cmd: &[u8] = match whr {
            Where::Min => b"ZPOPMIN",
            Where::Max => b"ZPOPMAX",
        };
        // Redis 7.4 propagates the number actually popped.
        let cnt = n.to_string();
        c.propagate_one(&[cmd, key, cnt.as_bytes()]);
    }
    n
}

/// `genericZpopCommand` over `keys` (the first existing one is popped).
fn zpop_generic(
    c: &mut Ctx,
    keys: std::ops::Range<usize>,
    whr: Where,
    count: Option<usize>,
    shape: PopReply,
    nil_when_empty: bool,
    rewrite: bool,
) {
    let mut found = None;
    for j in keys {
        let key = c.arg(j);
        match lookup_zset(c, key, true) {
            Err(()) => return,
            Ok(None) => continue,
            Ok(Some(h)) => {
                found = Some((h, key));
                break;
            }
        }
    }
    let Some((h, key)) = found else {
        return if nil_when_empty {
            c.out.null_array()
        } else {
            c.out.array(0)
        };
    };
    if count == Some(0) {
        return c.out.array(0);
    }
    pop_count(c, h, key, whr, count.unwrap_or(1), shape, rewrite);
}

/// `zpopMinMaxCommand`.
fn zpop_min_max(c: &mut Ctx, whr: Where) {
    if c.argc() > 3 {
        return c.out.syntax_error();
    }
    let mut count = None;
    if c.argc() == 3 {
        match string2ll(c.arg(2)) {
            Some(v) if v >= 0 => count = Some(v as usize),
            _ => return c.out.error("ERR value is out of range, must be positive"),
        }
    }
    let shape = if c.out.resp > 2 && count.is_some() {
        PopReply::Nested
    } else {
        PopReply::Flat
    };
    zpop_generic(c, 1..2, whr, count, shape, false, false);
}

fn zpopmin(c: &mut Ctx) {
    zpop_min_max(c, Where::Min);
}

fn zpopmax(c: &mut Ctx) {
    zpop_min_max(c, Where::Max);
}

/// `getRangeLongFromObjectOrReply(.., 1, LONG_MAX, .., msg)`: `msg` for non-integers too.
fn positive_with_msg(c: &mut Ctx, i: usize, msg: &str) -> Option<usize> {
    match string2ll(c.arg(i)) {
        Some(v) if v >= 1 => Some(v as usize),
        _ => {
            c.out.error(msg);
            None
        }
    }
}

/// `ZMPOP numkeys key... MIN|MAX [COUNT n]`.
fn zmpop(c: &mut Ctx) {
    zmpop_generic(c, 1, None);
}

/// `BZMPOP timeout numkeys key... MIN|MAX [COUNT n]`.
fn bzmpop(c: &mut Ctx) {
    zmpop_generic(c, 2, Some(1));
}

/// `zmpopGenericCommand`: numkeys at `numkeys_idx`, the keys, MIN|MAX and COUNT, checked in
/// that order; then (BZMPOP) the timeout at `timeout_idx` and the blocking pop.
fn zmpop_generic(c: &mut Ctx, numkeys_idx: usize, timeout_idx: Option<usize>) {
    let Some(numkeys) = positive_with_msg(c, numkeys_idx, "ERR numkeys should be greater than 0")
    else {
        return;
    };
    let where_idx = numkeys_idx.saturating_add(numkeys).saturating_add(1);
    if where_idx >= c.argc() {
        return c.out.syntax_error();
    }
    let whr = match opt(c.arg(where_idx)).as_slice() {
        b"min" => Where::Min,
        b"max" => Where::Max,
        _ => return c.out.syntax_error(),
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < c.argc() {
        let more = c.argc() - 1 - j;
        if count.is_none() && opt(c.arg(j)) == b"count" && more > 0 {
            j += 1;
            let Some(n) = positive_with_msg(c, j, "ERR count should be greater than 0") else {
                return;
            };
            count = Some(n);
        } else {
            return c.out.syntax_error();
        }
        j += 1;
    }
    let keys = numkeys_idx + 1..where_idx;
    let count = Some(count.unwrap_or(1));
    match timeout_idx {
        None => zpop_generic(c, keys, whr, count, PopReply::KeyNested, true, true),
        Some(t) => bzpop_generic(c, keys, whr, count, PopReply::KeyNested, t),
    }
}

/// `blockingGenericZpopCommand`: the timeout at `timeout_idx` first, then a pop from the
/// first zset among `keys` (propagated as ZPOPMIN|ZPOPMAX key n), else block on all of them
/// (the blocking core), or answer the timeout reply at once where blocking is denied.
fn bzpop_generic(
    c: &mut Ctx,
    keys: std::ops::Range<usize>,
    whr: Where,
    count: Option<usize>,
    shape: PopReply,
    timeout_idx: usize,
) {
    let Some(deadline) = c.timeout_arg(timeout_idx) else {
        return;
    };
    for j in keys.clone() {
        let key = c.arg(j);
        match lookup_zset(c, key, true) {
            Err(()) => return,
            Ok(None) => continue,
            Ok(Some(h)) => {
                // BZMPOP propagates as ZPOPMIN|ZPOPMAX key <popped>, BZPOPMIN/MAX without a
                // count (as Redis 7.4.1's replica stream shows).
                pop_count(c, h, key, whr, count.unwrap_or(1), shape, count.is_some());
                if count.is_none() {
                    let cmd: &[u8] = match whr {
                        Where::Min => b"ZPOPMIN",
                        Where::Max => b"ZPOPMAX",
                    };
                    c.propagate_one(&[cmd, key]);
                }
                return;
            }
        }
    }
    if !c.may_block() {
        return c.out.null_array();
    }
    let names = keys.map(|j| c.arg(j).to_vec()).collect();
    c.block_for_keys(crate::blocking::BlockKind::Zset, names, deadline, false);
}

/// `BZPOPMIN key [key ...] timeout`.
fn bzpopmin(c: &mut Ctx) {
    let last = c.argc() - 1;
    bzpop_generic(c, 1..last, Where::Min, None, PopReply::KeyFlat, last);
}

/// `BZPOPMAX key [key ...] timeout`.
fn bzpopmax(c: &mut Ctx) {
    let last = c.argc() - 1;
    bzpop_generic(c, 1..last, Where::Max, None, PopReply::KeyFlat, last);
}

// --- ZRANDMEMBER -------------------------------------------------------------------------

/// `ZRANDMEMBER_SUB_STRATEGY_MUL`.
const ZRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

fn zrandmember(c: &mut Ctx) {
    if c.argc() >= 3 {
        let l = match string2ll(c.arg(2)) {
            None => return c.out.error(errors::NOT_INTEGER),
            Some(i64::MIN) => {
                return c.out.error(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                )
            }
            Some(l) => l,
        };
        let mut withscores = false;
        if c.argc() > 4 || (c.argc() == 4 && opt(c.arg(3)) != b"withscores") {
            return c.out.syntax_error();
        } else if c.argc() == 4 {
            withscores = true;
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return c.out.error("ERR value is out of range");
            }
        }
        return zrandmember_with_count(c, l, withscores);
    }
    let h = match lookup_zset(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.null(),
        Ok(Some(h)) => h,
    };
    let (m, _) = pick(zset_mut(&mut c.srv.ks, h));
    c.out.bulk(&m);
}

/// `zrandmemberWithCountCommand`.
fn zrandmember_with_count(c: &mut Ctx, l: i64, withscores: bool) {
    let h = match lookup_zset(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.array(0),
        Ok(Some(h)) => h,
    };
    let (count, uniq) = (l.unsigned_abs() as usize, l >= 0);
    if count == 0 {
        return c.out.array(0);
    }
    let size = zset_ref(&c.srv.ks, h).len();
    // CASE 1: negative count (repeats allowed) or 1: independent picks.
    if !uniq || count == 1 {
        range_header(c.out, count, withscores);
        for i in 0..count {
            let (m, s) = pick(zset_mut(&mut c.srv.ks, h));
            emit(c.out, ListpackEntry::Str(&m), s, withscores);
            if i % 1024 == 1023 {
                crate::net::check_output_limit(c.srv, c.cid, c.out.buf.len());
                if c.srv.clients[c.cid].flags & crate::client::flags::CLOSE_ASAP != 0 {
                    return;
                }
            }
        }
        return;
    }
    let z = zset_ref(&c.srv.ks, h);
    // CASE 2: the whole zset, from the highest score down (`zuiNext` walks from the tail).
    if count >= size {
        range_header(c.out, size, withscores);
        for (m, s) in z.iter_from(size - 1, true) {
            emit(c.out, m, s, withscores);
        }
        return;
    }
    // CASE 2.5: a listpack: `count` distinct elements in listpack order.
    if let ZsetValue::Listpack(_) = z {
        let mut need = count;
        range_header(c.out, count, withscores);
        for (i, (m, s)) in z.iter_from(0, false).enumerate() {
            if need == 0 {
                break;
            }
            if fastrand::usize(..size - i) < need {
                emit(c.out, m, s, withscores);
                need -= 1;
            }
        }
        return;
    }
    // CASE 3 and 4: distinct random picks.
    let mut picked: Vec<(Vec<u8>, f64)> = Vec::with_capacity(count);
    if count * ZRANDMEMBER_SUB_STRATEGY_MUL > size {
        let mut all: Vec<(Vec<u8>, f64)> = z
            .iter_from(0, false)
            .map(|(m, s)| (m.to_vec(), s))
            .collect();
        while all.len() > count {
            let i = fastrand::usize(..all.len());
            all.swap_remove(i);
        }
        picked = all;
    } else {
        let mut seen = std::collections::HashSet::with_capacity(count);
        let z = zset_mut(&mut c.srv.ks, h);
        while picked.len() < count {
            let (m, s) = pick(z);
            if seen.insert(m.clone()) {
                picked.push((m, s));
            }
        }
    }
    range_header(c.out, picked.len(), withscores);
    for (m, s) in &picked {
        emit(c.out, ListpackEntry::Str(m), *s, withscores);
    }
}

/// A uniformly random (member, score) of a non-empty zset, with repetition
/// (`zsetTypeRandomElement`).
fn pick(z: &mut ZsetValue) -> (Vec<u8>, f64) {
    match z {
        ZsetValue::Listpack(lp) => {
            let i = fastrand::usize(..lp.len() / 2);
            let p = lp.seek(2 * i as i64).expect("index");
            let sp = lp.next_pos(p).expect("score");
            (lp.entry(p).to_vec(), lp_score(lp.entry(sp)))
        }
        ZsetValue::Skiplist(t) => {
            let (m, s) = t.random().expect("non-empty");
            (m.to_vec(), s)
        }
    }
}

// --- ZSCAN -------------------------------------------------------------------------------

fn zscan(c: &mut Ctx) {
    let Some(cursor) = pyrope_common::util::c_string2ull(c.arg(2)) else {
        return c.out.error("ERR invalid cursor");
    };
    let h = match lookup_zset(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => {
            c.out.array(2);
            c.out.bulk(b"0");
            return c.out.array(0);
        }
        Ok(Some(h)) => h,
    };
    let Some(crate::keys::ScanOpts { count, pat, .. }) = crate::keys::scan_opts(c, 3, false, false)
    else {
        return;
    };
    let z = zset_ref(&c.srv.ks, h);
    let mut found: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut next = 0;
    match z {
        ZsetValue::Skiplist(t) => {
            let mut seen = 0i64;
            let mut cur = cursor;
            let mut iterations = count.saturating_mul(10);
            loop {
                cur = t.scan(cur, |m, s| {
                    seen += 1;
                    if pat.is_none_or(|p| glob_match(p, m, false)) {
                        found.push((m.to_vec(), format_17g(s).into_bytes()));
                    }
                });
                iterations -= 1;
                if cur == 0 || iterations <= 0 || seen >= count {
                    break;
                }
            }
            next = cur;
        }
        ZsetValue::Listpack(lp) => {
            let mut it = lp.iter();
            while let (Some(m), Some(s)) = (it.next(), it.next()) {
                let m = m.to_vec();
                if pat.is_none_or(|p| glob_match(p, &m, false)) {
                    found.push((m, s.to_vec()));
                }
            }
        }
    }
    c.out.array(2);
    c.out.bulk(next.to_string().as_bytes());
    c.out.array(found.len() * 2);
    for (m, s) in found {
        c.out.bulk(&m);
        c.out.bulk(&s);
    }
}

// --- ZUNION / ZINTER / ZDIFF -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`.
fn aggregate(target: &mut f64, val: f64, a: Aggregate) {
    match a {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val
            }
        }
    }
}

/// An input of ZUNION & co: a zset, a plain set (every score 1), or nothing.
#[derive(Clone, Copy)]
enum Src<'a> {
    None,
    Z(&'a ZsetValue),
    S(&'a SetValue),
}

impl<'a> Src<'a> {
    fn len(&self) -> usize {
        match self {
            Src::None => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    /// Every (member, score), as `zuiNext`.
    fn elements(&self) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::with_capacity(self.len());
        match self {
            Src::None => {}
            Src::Z(z) => z.for_each(|m, s| v.push((m.to_vec(), s))),
            Src::S(s) => s.for_each(|m| v.push((m.to_vec(), 1.0))),
        }
        v
    }

    /// `zuiFind`: the score of `m` here.
    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::None => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(crate::types::set::Member::Str(m)).then_some(1.0),
        }
    }

    fn same(&self, other: &Src) -> bool {
        match (self, other) {
            (Src::Z(a), Src::Z(b)) => std::ptr::eq(*a, *b),
            (Src::S(a), Src::S(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

/// `zunionInterDiffGenericCommand`: `dst` for the STORE forms (argv[1]), `card` for
/// ZINTERCARD.
fn zunion_inter_diff(c: &mut Ctx, store: Option<Ev>, numkeys_idx: usize, op: SetOp, card: bool) {
    let Some(setnum) = long_arg(c, numkeys_idx) else {
        return;
    };
    if setnum < 1 {
        let name = c.command().fullname.clone();
        return c.out.error(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    if setnum as u64 > (c.argc() - (numkeys_idx + 1)) as u64 {
        return c.out.syntax_error();
    }
    let setnum = setnum as usize;
    let mut hs = Vec::with_capacity(setnum);
    for j in numkeys_idx + 1..numkeys_idx + 1 + setnum {
        let key = c.arg(j);
        // lookupKeyRead for the STORE forms too (they count keyspace hits/misses).
        let h = c.lookup_read(key);
        if let Some(h) = h {
            let t = c.srv.ks.get(h).obj_type();
            if t != ObjType::ZSet && t != ObjType::Set {
                return c.out.wrong_type();
            }
        }
        hs.push(h);
    }
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = numkeys_idx + 1 + setnum;
    while j < c.argc() {
        let remaining = c.argc() - j;
        let o = opt(c.arg(j));
        if op != SetOp::Diff && !card && remaining > setnum && o == b"weights" {
            j += 1;
            for w in weights.iter_mut() {
                match string2d(c.arg(j)) {
                    Some(v) => *w = v,
                    None => return c.out.error("ERR weight value is not a float"),
                }
                j += 1;
            }
        } else if op != SetOp::Diff && !card && remaining >= 2 && o == b"aggregate" {
            agg = match opt(c.arg(j + 1)).as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return c.out.syntax_error(),
            };
            j += 2;
        } else if store.is_none() && !card && o == b"withscores" {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && o == b"limit" {
            match string2ll(c.arg(j + 1)) {
                Some(v) if v >= 0 => limit = v as usize,
                _ => return c.out.error("ERR LIMIT can't be negative"),
            }
            j += 2;
        } else {
            return c.out.syntax_error();
        }
    }
    let ks = &c.srv.ks;
    let mut srcs: Vec<(Src, f64)> = hs
        .iter()
        .zip(&weights)
        .map(|(h, w)| {
            let s = match h {
                None => Src::None,
                Some(h) => match ks.get(*h).value() {
                    ValueRef::Boxed(Value::ZSet(z)) => Src::Z(z),
                    ValueRef::Boxed(Value::Set(s)) => Src::S(s),
                    _ => unreachable!("type checked"),
                },
            };
            (s, *w)
        })
        .collect();
    if op != SetOp::Diff {
        // qsort by cardinality (glibc's is a stable merge sort).
        srcs.sort_by_key(|(s, _)| s.len());
    }
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            if srcs[0].0.len() > 0 {
                let (s0, w0) = srcs[0];
                for (m, sc) in s0.elements() {
                    let mut score = w0 * sc;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut all = true;
                    for (sj, wj) in &srcs[1..] {
                        if sj.same(&s0) {
                            aggregate(&mut score, sc * wj, agg);
                        } else if let Some(v) = sj.find(&m) {
                            aggregate(&mut score, v * wj, agg);
                        } else {
                            all = false;
                            break;
                        }
                    }
                    if !all {
                        continue;
                    }
                    if card {
                        cardinality += 1;
                        if limit > 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        result.push((m, score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: std::collections::HashMap<Vec<u8>, f64> = std::collections::HashMap::new();
            for (s, w) in &srcs {
                for (m, sc) in s.elements() {
                    let mut score = w * sc;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m, score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let (s0, _) = srcs[0];
            if s0.len() > 0 {
                for (m, sc) in s0.elements() {
                    let gone = srcs[1..]
                        .iter()
                        .any(|(sj, _)| sj.same(&s0) || sj.find(&m).is_some());
                    if !gone {
                        result.push((m, sc));
                    }
                }
            }
        }
    }
    if card {
        return c.out.int(cardinality as i64);
    }
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    match store {
        Some(ev) => {
            if result.is_empty() {
                return store_result(c, None, ev);
            }
            let lim = limits(c);
            let (mut maxelelen, mut totelelen) = (0, 0);
            let mut t = SkipTable::new();
            t.reserve(result.len());
            for (m, s) in &result {
                maxelelen = maxelelen.max(m.len());
                totelelen += m.len();
                t.insert(m, *s);
            }
            let mut z = ZsetValue::Skiplist(Box::new(t));
            z.convert_to_listpack_if_needed(maxelelen, totelelen, &lim);
            store_result(c, Some(z), ev);
        }
        None => {
            range_header(c.out, result.len(), withscores);
            for (m, s) in &result {
                emit(c.out, ListpackEntry::Str(m), *s, withscores);
            }
        }
    }
}

fn zunion(c: &mut Ctx) {
    zunion_inter_diff(c, None, 1, SetOp::Union, false);
}

fn zinter(c: &mut Ctx) {
    zunion_inter_diff(c, None, 1, SetOp::Inter, false);
}

fn zdiff(c: &mut Ctx) {
    zunion_inter_diff(c, None, 1, SetOp::Diff, false);
}

fn zunionstore(c: &mut Ctx) {
    zunion_inter_diff(c, Some(ev::ZUNIONSTORE), 2, SetOp::Union, false);
}

fn zinterstore(c: &mut Ctx) {
    zunion_inter_diff(c, Some(ev::ZINTERSTORE), 2, SetOp::Inter, false);
}

fn zdiffstore(c: &mut Ctx) {
    zunion_inter_diff(c, Some(ev::ZDIFFSTORE), 2, SetOp::Diff, false);
}

fn zintercard(c: &mut Ctx) {
    zunion_inter_diff(c, None, 1, SetOp::Inter, true);
}

/// The digest text of a score (`fpconv_dtoa`, as debug.c's `xorObjectDigest` for zsets).
pub fn digest_score(s: f64) -> String {
    fpconv_dtoa(s)
}

/// The sorted-set commands by full name (the blocking BZPOPMIN/BZPOPMAX/BZMPOP arrive with
/// the blocking core, on top of [`pop_count`]).
pub const COMMANDS: &[(&str, Handler)] = &[
    ("zadd", zadd),
    ("zincrby", zincrby),
    ("zcard", zcard),
    ("zscore", zscore),
    ("zmscore", zmscore),
    ("zrank", zrank),
    ("zrevrank", zrevrank),
    ("zcount", zcount),
    ("zlexcount", zlexcount),
    ("zrange", zrange),
    ("zrangestore", zrangestore),
    ("zrevrange", zrevrange),
    ("zrangebyscore", zrangebyscore),
    ("zrevrangebyscore", zrevrangebyscore),
    ("zrangebylex", zrangebylex),
    ("zrevrangebylex", zrevrangebylex),
    ("zrem", zrem),
    ("zremrangebyrank", zremrangebyrank),
    ("zremrangebyscore", zremrangebyscore),
    ("zremrangebylex", zremrangebylex),
    ("zpopmin", zpopmin),
    ("zpopmax", zpopmax),
    ("zmpop", zmpop),
    ("bzmpop", bzmpop),
    ("bzpopmin", bzpopmin),
    ("bzpopmax", bzpopmax),
    ("zrandmember", zrandmember),
    ("zscan", zscan),
    ("zunion", zunion),
    ("zinter", zinter),
    ("zdiff", zdiff),
    ("zunionstore", zunionstore),
    ("zinterstore", zinterstore),
    ("zdiffstore", zdiffstore),
    ("zintercard", zintercard),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn model_sorted(m: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        v
    }

    #[test]
    fn both_encodings_match_a_model() {
        for seed in 0..30u64 {
            fastrand::seed(seed);
            let lim = ZsetLimits {
                entries: (seed % 10) as usize * 4,
                value: 6,
            };
            let mut z = ZsetValue::create(1, 1, &lim);
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for _ in 0..400 {
                let m = match fastrand::u8(..3) {
                    0 => fastrand::i32(-30..30).to_string().into_bytes(),
                    1 => format!("m{}", fastrand::u8(..40)).into_bytes(),
                    _ => b"x".repeat(fastrand::usize(..9)),
                };
                let score = match fastrand::u8(..6) {
                    0 => f64::INFINITY,
                    1 => fastrand::i32(-5..5) as f64 / 4.0,
                    2 => 1e20,
                    _ => fastrand::i32(-5..5) as f64,
                };
                match fastrand::u8(..5) {
                    0..=2 => {
                        let (out, s) = z.add(score, &m, AddFlags::default(), &lim).unwrap();
                        let prev = model.insert(m.clone(), score);
                        match prev {
                            None => assert_eq!(out, AddOut::Added),
                            Some(p) if p == score => assert_eq!(out, AddOut::Same),
                            Some(_) => assert_eq!(out, AddOut::Updated),
                        }
                        assert_eq!(s, score);
                    }
                    3 => assert_eq!(z.remove(&m), model.remove(&m).is_some()),
                    _ => {
                        let order = model_sorted(&model);
                        if !order.is_empty() {
                            let start = fastrand::usize(..order.len());
                            let n = z.delete_range(start, 2);
                            for (k, _) in &order[start..start + n] {
                                model.remove(k);
                            }
                        }
                    }
                }
                let order = model_sorted(&model);
                assert_eq!(z.len(), order.len());
                let got: Vec<(Vec<u8>, f64)> = z
                    .iter_from(0, false)
                    .map(|(m, s)| (m.to_vec(), s))
                    .collect();
                assert_eq!(got, order);
                if let Some((m, s)) = order.last() {
                    assert_eq!(z.rank(m, false), Some((order.len() - 1, *s)));
                    assert_eq!(z.rank(m, true), Some((0, *s)));
                    let spec = Spec::Score(ScoreRange {
                        min: -1.0,
                        max: 1.0,
                        minex: false,
                        maxex: true,
                    });
                    let want = order.iter().filter(|(_, s)| *s >= -1.0 && *s < 1.0).count();
                    assert_eq!(z.count_in_range(&spec), want);
                }
            }
        }
    }

    #[test]
    fn score_texts() {
        assert_eq!(lp_score_bytes(-0.0), "0");
        assert_eq!(lp_score_bytes(1.5), "1.5");
        assert_eq!(format_17g(0.1), "0.10000000000000001");
        assert_eq!(format_17g(3.0), "3");
        assert_eq!(format_17g(1e15), "1000000000000000");
        assert_eq!(format_17g(1e20), "1e+20");
        assert_eq!(format_17g(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b"1e400"), None);
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(string2d(b"nan"), None);
        assert!(parse_score_range(b"(", b"").is_some());
        assert!(parse_score_range(b"nan", b"1").is_none());
    }
}
