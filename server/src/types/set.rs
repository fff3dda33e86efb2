//! Set commands (Redis t_set.c): SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER
//! SMOVE SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN, and the
//! operations of [`SetValue`] (its three encodings).
//!
//! Encodings and conversions are Redis 7.4's, so `OBJECT ENCODING` answers the same for the same
//! commands and config: a set starts as an `intset` when its first member is an integer and the
//! size hint fits `set-max-intset-entries`, else as a `listpack` when the hint fits
//! `set-max-listpack-entries`, else as a `hashtable` (`setTypeCreate`). An intset receiving a
//! non-integer becomes a listpack if the result stays within both listpack limits, a hashtable
//! otherwise; it becomes a hashtable past `set-max-intset-entries` (`setTypeAddAux`,
//! `maybeConvertIntset`). A listpack becomes a hashtable past either listpack limit. Nothing
//! converts back, except that the results of SINTERSTORE (all-integer results become an intset,
//! `maybeConvertToIntset`) and SPOP with a count close to the size (the survivors form a new
//! set) are new sets built by these same rules.
//!
//! Reply order follows the representation as in Redis: intsets ascending, listpacks in
//! insertion order, hashtables in table order (which differs from Redis's, as any dict order).
//! Results of SINTER/SUNION/SDIFF are built the way Redis builds them (same temporary set, same
//! algorithm choice), so their order and the stored encodings match for compact sets.

use crate::command::{Ctx, Handler};
use crate::config::Settings;
use crate::keyspace::{notify, Deletion, Ev, FieldTable, KeyRef, Keyspace, NewValue};
use crate::object::{ObjType, SetValue, Value};
use crate::reply::errors;
use pyrope_common::glob::glob_match;
use pyrope_common::intset::Intset;
use pyrope_common::listpack::{Listpack, ListpackEntry, LISTPACK_MAX_SAFETY_SIZE};
use pyrope_common::util::{digits10, push_i64, string2ll};

/// The keyspace events of the set commands (Redis 7.4's names, class `s`).
pub mod ev {
    use super::{notify, Ev};
    const fn s(name: &'static str) -> Ev {
        Ev {
            class: notify::SET,
            name,
        }
    }
    pub const SADD: Ev = s("sadd");
    pub const SREM: Ev = s("srem");
    pub const SPOP: Ev = s("spop");
    pub const SINTERSTORE: Ev = s("sinterstore");
    pub const SUNIONSTORE: Ev = s("sunionstore");
    pub const SDIFFSTORE: Ev = s("sdiffstore");
}

/// The conversion thresholds (`set-max-intset-entries`, `set-max-listpack-entries`,
/// `set-max-listpack-value`), read from the live settings at each command.
#[derive(Clone, Copy, Debug)]
pub struct SetLimits {
    pub intset_entries: usize,
    pub listpack_entries: usize,
    pub listpack_value: usize,
}

impl SetLimits {
    /// The thresholds in force.
    pub fn of(s: &Settings) -> SetLimits {
        SetLimits {
            intset_entries: s.set_max_intset_entries,
            listpack_entries: s.set_max_listpack_entries,
            listpack_value: s.set_max_listpack_value,
        }
    }

    /// `intsetMaxEntries()`: the intset limit, capped at 2^30 entries.
    fn intset_max(&self) -> usize {
        self.intset_entries.min(1 << 30)
    }
}

/// A member as stored: an integer (intset, integer listpack entry) or bytes (string listpack
/// entry, hashtable field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl<'a> Member<'a> {
    /// A member given as bytes: an integer when it reads as one (`string2ll`).
    pub fn from_bytes(b: &'a [u8]) -> Member<'a> {
        match pyrope_common::util::string2ll(b) {
            Some(v) => Member::Int(v),
            None => Member::Str(b),
        }
    }

    fn from_lp(e: ListpackEntry<'a>) -> Member<'a> {
        match e {
            ListpackEntry::Int(v) => Member::Int(v),
            ListpackEntry::Str(s) => Member::Str(s),
        }
    }

    /// Appends the member's string form (integers in decimal).
    pub fn write_to(self, out: &mut Vec<u8>) {
        match self {
            Member::Int(v) => push_i64(out, v),
            Member::Str(s) => out.extend_from_slice(s),
        }
    }

    /// The member's string form.
    pub fn to_vec(self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    /// The member as bytes: a string as it is, an integer formatted into `tmp` (the
    /// `tmpbuf` of `setTypeAddAux` and friends).
    fn bytes<'b>(self, tmp: &'b mut Vec<u8>) -> &'b [u8]
    where
        'a: 'b,
    {
        match self {
            Member::Int(v) => {
                tmp.clear();
                push_i64(tmp, v);
                tmp
            }
            Member::Str(s) => s,
        }
    }

    /// An owned copy.
    pub fn owned(self) -> Owned {
        match self {
            Member::Int(v) => Owned::Int(v),
            Member::Str(s) => Owned::Str(s.to_vec()),
        }
    }
}

/// An owned member (random picks taken out before the set changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Int(i64),
    Str(Vec<u8>),
}

impl Owned {
    /// The borrowed form.
    pub fn as_member(&self) -> Member<'_> {
        match self {
            Owned::Int(v) => Member::Int(*v),
            Owned::Str(s) => Member::Str(s),
        }
    }
}

/// `lpEstimateBytesRepeatedInteger`: bytes of `n` listpack entries holding `v`.
fn lp_estimate_repeated_int(v: i64, n: usize) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8388608..=8388607).contains(&v) {
        4
    } else if (-2147483648..=2147483647).contains(&v) {
        5
    } else {
        9
    };
    (enc + 1) * n
}

/// A uniformly random index below `n` (n > 0).
fn rand_below(n: usize) -> usize {
    fastrand::usize(..n)
}

/// `count` distinct indices below `n`, ascending (selection sampling, as `lpNextRandom`
/// walks a listpack once).
fn sample_sorted(n: usize, count: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(count);
    let mut need = count;
    for i in 0..n {
        if need == 0 {
            break;
        }
        if rand_below(n - i) < need {
            out.push(i);
            need -= 1;
        }
    }
    out
}

impl SetValue {
    /// `setTypeCreate`: a set that can hold `first`, sized for `size_hint` members.
    pub fn create(first: &[u8], size_hint: usize, lim: &SetLimits) -> SetValue {
        if string2ll(first).is_some() && size_hint <= lim.intset_entries {
            return SetValue::Intset(Intset::new());
        }
        if size_hint <= lim.listpack_entries {
            return SetValue::Listpack(Listpack::new());
        }
        let mut t = FieldTable::new();
        t.reserve(size_hint);
        SetValue::Hashtable(Box::new(t))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(i) => i.len(),
            SetValue::Listpack(l) => l.len(),
            SetValue::Hashtable(t) => t.len(),
        }
    }

    /// True if there are no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `setTypeMaybeConvert`: goes to a hashtable now when `size_hint` more members will not
    /// fit the compact encoding (SADD with many members).
    pub fn maybe_convert(&mut self, size_hint: usize, lim: &SetLimits) {
        let big = match self {
            SetValue::Listpack(_) => size_hint > lim.listpack_entries,
            SetValue::Intset(_) => size_hint > lim.intset_entries,
            SetValue::Hashtable(_) => false,
        };
        if big {
            self.convert_to_ht(size_hint);
        }
    }

    /// `setTypeConvertAndExpand(.., OBJ_ENCODING_HT, cap)`.
    /// Converts to the hashtable encoding (a loaded set over the listpack limit).
    pub fn to_hashtable(&mut self) {
        let n = self.len();
        self.convert_to_ht(n);
    }

    fn convert_to_ht(&mut self, cap: usize) {
        let mut t = FieldTable::new();
        t.reserve(cap);
        let mut buf = Vec::new();
        self.for_each(|m| {
            buf.clear();
            m.write_to(&mut buf);
            t.insert(&buf, b"");
        });
        *self = SetValue::Hashtable(Box::new(t));
    }

    /// `setTypeConvertAndExpand(.., OBJ_ENCODING_LISTPACK, ..)`.
    fn convert_to_listpack(&mut self) {
        let mut lp = Listpack::new();
        self.for_each(|m| match m {
            Member::Int(v) => lp.push_back_int(v),
            Member::Str(s) => lp.push_back(s),
        });
        *self = SetValue::Listpack(lp);
    }

    /// `maybeConvertIntset`.
    fn maybe_convert_intset(&mut self, lim: &SetLimits) {
        if let SetValue::Intset(i) = self {
            if i.len() > lim.intset_max() {
                let n = i.len();
                self.convert_to_ht(n);
            }
        }
    }

    /// `maybeConvertToIntset`: for a set known to hold only integers, go (back) to an intset
    /// when it fits. Used for SINTERSTORE results only.
    fn maybe_convert_to_intset(&mut self, lim: &SetLimits) {
        if matches!(self, SetValue::Intset(_)) || self.len() > lim.intset_max() {
            return;
        }
        let mut is = Intset::new();
        self.for_each(|m| {
            let v = match m {
                Member::Int(v) => v,
                Member::Str(s) => string2ll(s).expect("an all-integer set"),
            };
            is.add(v);
        });
        *self = SetValue::Intset(is);
    }

    /// Adds `m`; false if it was already a member. Converts as Redis's `setTypeAddAux`.
    pub fn add(&mut self, m: Member, lim: &SetLimits) -> bool {
        let mut tmp = Vec::new();
        match self {
            SetValue::Intset(is) => {
                let as_int = match m {
                    Member::Int(v) => Some(v),
                    Member::Str(s) => string2ll(s),
                };
                if let Some(v) = as_int {
                    if !is.add(v) {
                        return false;
                    }
                    self.maybe_convert_intset(lim);
                    return true;
                }
                let Member::Str(s) = m else { unreachable!() };
                // Would a listpack be within every limit (every intset member counted at the
                // width of the widest)?
                let n = is.len();
                let (mut maxelelen, mut totsize) = (0, 0);
                if let (Some(lo), Some(hi)) = (is.min(), is.max()) {
                    maxelelen = digits10(lo).max(digits10(hi));
                    totsize = lp_estimate_repeated_int(lo, n).max(lp_estimate_repeated_int(hi, n));
                }
                if n < lim.listpack_entries
                    && s.len() <= lim.listpack_value
                    && maxelelen <= lim.listpack_value
                    && totsize + s.len() <= LISTPACK_MAX_SAFETY_SIZE
                {
                    self.convert_to_listpack();
                    if let SetValue::Listpack(lp) = self {
                        lp.push_back(s);
                    }
                } else {
                    self.convert_to_ht(n + 1);
                    if let SetValue::Hashtable(t) = self {
                        t.insert(s, b"");
                    }
                }
                true
            }
            SetValue::Listpack(lp) => {
                let s = m.bytes(&mut tmp);
                if let Some(first) = lp.first_pos() {
                    if lp.find(first, s, 0).is_some() {
                        return false;
                    }
                }
                if lp.len() < lim.listpack_entries
                    && s.len() <= lim.listpack_value
                    && lp.safe_to_add(s.len())
                {
                    match m {
                        Member::Int(v) => lp.push_back_int(v),
                        Member::Str(s) => lp.push_back(s),
                    }
                } else {
                    let n = lp.len() + 1;
                    let owned = s.to_vec();
                    self.convert_to_ht(n);
                    if let SetValue::Hashtable(t) = self {
                        t.insert(&owned, b"");
                    }
                }
                true
            }
            SetValue::Hashtable(t) => t.insert(m.bytes(&mut tmp), b""),
        }
    }

    /// Removes `m`; false if it was not a member. `setTypeRemoveAux`.
    pub fn remove(&mut self, m: Member) -> bool {
        let mut tmp = Vec::new();
        match self {
            SetValue::Intset(is) => match m {
                Member::Int(v) => is.remove(v),
                Member::Str(s) => string2ll(s).is_some_and(|v| is.remove(v)),
            },
            SetValue::Listpack(lp) => {
                let s = m.bytes(&mut tmp);
                let Some(first) = lp.first_pos() else {
                    return false;
                };
                match lp.find(first, s, 0) {
                    Some(p) => {
                        lp.delete_at(p);
                        true
                    }
                    None => false,
                }
            }
            SetValue::Hashtable(t) => t.remove(m.bytes(&mut tmp)),
        }
    }

    /// True if `m` is a member. `setTypeIsMemberAux`.
    pub fn contains(&self, m: Member) -> bool {
        let mut tmp = Vec::new();
        match self {
            SetValue::Intset(is) => match m {
                Member::Int(v) => is.contains(v),
                Member::Str(s) => string2ll(s).is_some_and(|v| is.contains(v)),
            },
            SetValue::Listpack(lp) => {
                let s = m.bytes(&mut tmp);
                lp.first_pos().is_some_and(|f| lp.find(f, s, 0).is_some())
            }
            SetValue::Hashtable(t) => t.contains(m.bytes(&mut tmp)),
        }
    }

    /// Calls `f` with every member in the representation's order (`setTypeNext`).
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(Member<'a>)) {
        match self {
            SetValue::Intset(is) => is.iter().for_each(|v| f(Member::Int(v))),
            SetValue::Listpack(lp) => lp.iter().for_each(|e| f(Member::from_lp(e))),
            SetValue::Hashtable(t) => t.for_each(|k, _| f(Member::Str(k))),
        }
    }

    /// Every member, in order.
    pub fn members(&self) -> Vec<Member<'_>> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|m| v.push(m));
        v
    }

    /// A uniformly random member of a non-empty set (`setTypeRandomElement`).
    pub fn random(&mut self) -> Option<Owned> {
        match self {
            SetValue::Intset(is) => is.random(fastrand::u64(..)).map(Owned::Int),
            SetValue::Listpack(lp) => {
                let n = lp.len();
                (n > 0).then(|| Member::from_lp(lp.get(rand_below(n)).expect("index")).owned())
            }
            SetValue::Hashtable(t) => t.random().map(|(k, _)| Owned::Str(k.to_vec())),
        }
    }

    /// Removes and returns a random member (`setTypePopRandom`).
    pub fn pop_random(&mut self) -> Option<Owned> {
        let m = self.random()?;
        self.remove(m.as_member());
        Some(m)
    }

    /// Keeps only the listpack entries whose index is not in `drop` (ascending), as
    /// `lpBatchDelete`; returns the dropped members in order.
    fn listpack_take(lp: &mut Listpack, drop: &[usize]) -> Vec<Owned> {
        let mut out = Vec::with_capacity(drop.len());
        let mut keep = Listpack::new();
        let mut d = drop.iter().peekable();
        for (i, e) in lp.iter().enumerate() {
            if d.peek() == Some(&&i) {
                d.next();
                out.push(Member::from_lp(e).owned());
            } else {
                match e {
                    ListpackEntry::Int(v) => keep.push_back_int(v),
                    ListpackEntry::Str(s) => keep.push_back(s),
                }
            }
        }
        *lp = keep;
        out
    }
}

/// Looks `key` up for reading (`write` false) or writing; `Err` after replying WRONGTYPE.
fn lookup_set(c: &mut Ctx, key: &[u8], write: bool) -> Result<Option<KeyRef>, ()> {
    c.lookup_typed(key, ObjType::Set, write)
}

/// The set of a found key of type set.
fn set_ref(ks: &Keyspace, h: KeyRef) -> &SetValue {
    match ks.get(h).value() {
        crate::keyspace::ValueRef::Boxed(Value::Set(s)) => s,
        _ => unreachable!("type checked at lookup"),
    }
}

/// The set of a found key of type set, mutably.
fn set_mut(ks: &mut Keyspace, h: KeyRef) -> &mut SetValue {
    match ks.get_mut(h).into_value_mut() {
        Some(Value::Set(s)) => s,
        _ => unreachable!("type checked at lookup"),
    }
}

fn boxed(s: SetValue) -> NewValue<'static> {
    NewValue::Boxed(Box::new(Value::Set(s)))
}

fn reply_member(c: &mut Ctx, m: Member) {
    match m {
        Member::Int(v) => c.out.bulk_i64(v),
        Member::Str(s) => c.out.bulk(s),
    }
}

fn limits(c: &Ctx) -> SetLimits {
    SetLimits::of(&c.srv.settings)
}

fn sadd(c: &mut Ctx) {
    let key = c.arg(1);
    let Ok(h) = lookup_set(c, key, true) else {
        return;
    };
    let lim = limits(c);
    let n = c.argc() - 2;
    let mut added = 0;
    match h {
        None => {
            let mut s = SetValue::create(c.arg(2), n, &lim);
            for j in 2..c.argc() {
                added += s.add(Member::Str(c.arg(j)), &lim) as i64;
            }
            let lru = c.srv.new_key_lru();
            c.srv.ks.add(c.db, key, boxed(s), None, lru, Some(ev::SADD));
        }
        Some(h) => {
            let argv = c.argv;
            let s = set_mut(&mut c.srv.ks, h);
            s.maybe_convert(n, &lim);
            for j in 2..argv.len() {
                added += s.add(Member::Str(&argv[j]), &lim) as i64;
            }
            if added > 0 {
                c.srv.ks.touched(h, ev::SADD);
            }
        }
    }
    c.dirty(added as u64);
    c.out.int(added);
}

fn srem(c: &mut Ctx) {
    let key = c.arg(1);
    let h = match lookup_set(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let argv = c.argv;
    let s = set_mut(&mut c.srv.ks, h);
    let (mut deleted, mut emptied) = (0, false);
    for j in 2..argv.len() {
        if s.remove(Member::Str(&argv[j])) {
            deleted += 1;
            if s.is_empty() {
                emptied = true;
                break;
            }
        }
    }
    if deleted > 0 {
        c.srv.ks.touched(h, ev::SREM);
        if emptied {
            c.srv
                .ks
                .delete(h, Deletion::Server, Some(crate::keyspace::ev::DEL));
        }
        c.dirty(deleted as u64);
    }
    c.out.int(deleted);
}

fn smove(c: &mut Ctx) {
    let (src, dst, ele) = (c.arg(1), c.arg(2), c.arg(3));
    let sh = c.lookup_write(src);
    let dh = c.lookup_write(dst);
    let Some(sh) = sh else {
        return c.out.int(0);
    };
    if c.srv.ks.get(sh).obj_type() != ObjType::Set
        || dh.is_some_and(|d| c.srv.ks.get(d).obj_type() != ObjType::Set)
    {
        return c.out.wrong_type();
    }
    if src == dst {
        let is = set_ref(&c.srv.ks, sh).contains(Member::Str(ele));
        return c.out.int(is as i64);
    }
    let s = set_mut(&mut c.srv.ks, sh);
    if !s.remove(Member::Str(ele)) {
        return c.out.int(0);
    }
    let emptied = s.is_empty();
    c.srv.ks.touched(sh, ev::SREM);
    let db = c.db;
    let mut dh = dh;
    if emptied {
        c.srv
            .ks
            .delete(sh, Deletion::Server, Some(crate::keyspace::ev::DEL));
        // The delete invalidated older handles of this db: find the destination again (it
        // was live a moment ago and time is frozen within the command).
        dh = dh.and_then(|_| c.lookup_notouch(dst));
    }
    c.dirty(1);
    let lim = limits(c);
    match dh {
        None => {
            let mut s = SetValue::create(ele, 1, &lim);
            s.add(Member::Str(ele), &lim);
            let lru = c.srv.new_key_lru();
            c.srv.ks.add(db, dst, boxed(s), None, lru, Some(ev::SADD));
            c.dirty(1);
        }
        Some(dh) => {
            if set_mut(&mut c.srv.ks, dh).add(Member::Str(ele), &lim) {
                c.dirty(1);
                c.srv.ks.touched(dh, ev::SADD);
            }
        }
    }
    c.out.int(1);
}

fn sismember(c: &mut Ctx) {
    let h = match lookup_set(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let is = set_ref(&c.srv.ks, h).contains(Member::Str(c.arg(2)));
    c.out.int(is as i64);
}

fn smismember(c: &mut Ctx) {
    let Ok(h) = lookup_set(c, c.arg(1), false) else {
        return;
    };
    c.out.array(c.argc() - 2);
    for j in 2..c.argc() {
        let is = h.is_some_and(|h| set_ref(&c.srv.ks, h).contains(Member::Str(c.arg(j))));
        c.out.int(is as i64);
    }
}

fn scard(c: &mut Ctx) {
    match lookup_set(c, c.arg(1), false) {
        Err(()) => {}
        Ok(None) => c.out.int(0),
        Ok(Some(h)) => {
            let n = set_ref(&c.srv.ks, h).len();
            c.out.int(n as i64)
        }
    }
}

fn smembers(c: &mut Ctx) {
    let h = match lookup_set(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.set(0),
        Ok(Some(h)) => h,
    };
    let s = set_ref(&c.srv.ks, h);
    c.out.set(s.len());
    let out = &mut *c.out;
    s.for_each(|m| match m {
        Member::Int(v) => out.bulk_i64(v),
        Member::Str(b) => out.bulk(b),
    });
}

/// How many times bigger the set must be than what remains after SPOP for the "pop one by
/// one" strategy (`SPOP_MOVE_STRATEGY_MUL`).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// Members per propagated SREM of SPOP with a count (Redis's batch of 1024).
const SPOP_BATCH: usize = 1024;

fn spop(c: &mut Ctx) {
    if c.argc() == 3 {
        return spop_with_count(c);
    } else if c.argc() > 3 {
        return c.out.syntax_error();
    }
    let key = c.arg(1);
    let h = match lookup_set(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.null(),
        Ok(Some(h)) => h,
    };
    let s = set_mut(&mut c.srv.ks, h);
    let m = s.pop_random().expect("sets are never empty");
    let emptied = s.is_empty();
    c.srv.ks.touched(h, ev::SPOP);
    let ele = m.as_member().to_vec();
    c.propagate_one(&[&b"SREM"[..], key, &ele[..]]);
    c.out.bulk(&ele);
    if emptied {
        c.srv
            .ks
            .delete(h, Deletion::Server, Some(crate::keyspace::ev::DEL));
    }
    c.dirty(1);
}

/// `getPositiveLongFromObjectOrReply`: `msg` answers a non-integer and a negative alike.
fn positive_arg(c: &mut Ctx, i: usize, msg: &str) -> Option<i64> {
    match string2ll(c.arg(i)) {
        Some(v) if v >= 0 => Some(v),
        _ => {
            c.out.error(msg);
            None
        }
    }
}

/// `getPositiveLongFromObjectOrReply`'s message when given none.
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";

fn spop_with_count(c: &mut Ctx) {
    let Some(count) = positive_arg(c, 2, MUST_BE_POSITIVE) else {
        return;
    };
    let count = count as usize;
    let key = c.arg(1);
    let h = match lookup_set(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.set(0),
        Ok(Some(h)) => h,
    };
    if count == 0 {
        return c.out.set(0);
    }
    let size = set_ref(&c.srv.ks, h).len();
    c.srv.ks.touched(h, ev::SPOP);
    c.dirty(count.min(size) as u64);

    // CASE 1: everything: reply the whole set (as SUNION of it), delete the key, propagate
    // as DEL / UNLINK.
    if count >= size {
        let u = union_diff(&[Some(set_ref(&c.srv.ks, h))], false, &limits(c));
        reply_set(c, &u);
        c.srv
            .ks
            .delete(h, Deletion::Server, Some(crate::keyspace::ev::DEL));
        let cmd: &[u8] = if c.srv.settings.lazyfree_lazy_server_del {
            b"UNLINK"
        } else {
            b"DEL"
        };
        c.propagate_one(&[cmd, key]);
        return;
    }

    let remaining = size - count;
    let lim = limits(c);
    let s = set_mut(&mut c.srv.ks, h);
    let popped: Vec<Owned> = if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        // CASE 2: few members compared to the size: take random ones out.
        match s {
            SetValue::Listpack(lp) => {
                let n = lp.len();
                SetValue::listpack_take(lp, &sample_sorted(n, count))
            }
            _ => (0..count)
                .map(|_| s.pop_random().expect("count < size"))
                .collect(),
        }
    } else {
        // CASE 3: most of the set: pick the survivors into a new set, reply the rest.
        let newset = match s {
            SetValue::Listpack(lp) => {
                let n = lp.len();
                let keep = sample_sorted(n, remaining);
                let mut ns = SetValue::Listpack(Listpack::new());
                let kept = SetValue::listpack_take(lp, &keep);
                for m in &kept {
                    ns.add(m.as_member(), &lim);
                }
                ns
            }
            _ => {
                let mut ns: Option<SetValue> = None;
                for _ in 0..remaining {
                    let m = s.random().expect("remaining < size");
                    let ns = ns.get_or_insert_with(|| match m {
                        Owned::Str(_) => SetValue::Listpack(Listpack::new()),
                        Owned::Int(_) => SetValue::Intset(Intset::new()),
                    });
                    ns.add(m.as_member(), &lim);
                    s.remove(m.as_member());
                }
                ns.expect("remaining > 0")
            }
        };
        let old = std::mem::replace(s, newset);
        old.members().iter().map(|m| m.owned()).collect()
    };
    c.out.set(count);
    let mut batch: Vec<Vec<u8>> = vec![b"SREM".to_vec(), key.to_vec()];
    for m in &popped {
        reply_member(c, m.as_member());
        batch.push(m.as_member().to_vec());
        if batch.len() == 2 + SPOP_BATCH {
            c.propagate_one(&batch);
            batch.truncate(2);
        }
    }
    if batch.len() > 2 {
        c.propagate_one(&batch);
    }
}

/// `SRANDMEMBER_SUB_STRATEGY_MUL`.
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

fn srandmember(c: &mut Ctx) {
    if c.argc() == 3 {
        return srandmember_with_count(c);
    } else if c.argc() > 3 {
        return c.out.syntax_error();
    }
    let h = match lookup_set(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.null(),
        Ok(Some(h)) => h,
    };
    let m = set_mut(&mut c.srv.ks, h).random().expect("non-empty");
    reply_member(c, m.as_member());
}

fn srandmember_with_count(c: &mut Ctx) {
    let l = match string2ll(c.arg(2)) {
        None => return c.out.error(errors::NOT_INTEGER),
        Some(i64::MIN) => {
            return c.out.error(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            )
        }
        Some(l) => l,
    };
    let (count, uniq) = (l.unsigned_abs() as usize, l >= 0);
    let h = match lookup_set(c, c.arg(1), false) {
        Err(()) => return,
        Ok(None) => return c.out.array(0),
        Ok(Some(h)) => h,
    };
    if count == 0 {
        return c.out.array(0);
    }
    // CASE 1: negative count (repeats allowed) or 1: independent picks.
    if !uniq || count == 1 {
        c.out.array(count);
        for i in 0..count {
            let m = set_mut(&mut c.srv.ks, h).random().expect("non-empty");
            reply_member(c, m.as_member());
            // Redis stops writing once the client is scheduled to close for its output
            // buffer limit (CLIENT_CLOSE_ASAP).
            if i % 1024 == 1023 {
                crate::net::check_output_limit(c.srv, c.cid, c.out.buf.len());
                if c.srv.clients[c.cid].flags & crate::client::flags::CLOSE_ASAP != 0 {
                    return;
                }
            }
        }
        return;
    }
    let s = set_ref(&c.srv.ks, h);
    let size = s.len();
    // CASE 2: the whole set.
    if count >= size {
        c.out.array(size);
        let out = &mut *c.out;
        s.for_each(|m| match m {
            Member::Int(v) => out.bulk_i64(v),
            Member::Str(b) => out.bulk(b),
        });
        return;
    }
    // CASE 2.5: a listpack: `count` distinct members in listpack order.
    if let SetValue::Listpack(lp) = s {
        let pick = sample_sorted(lp.len(), count);
        c.out.array(count);
        let mut p = pick.iter().peekable();
        for (i, e) in lp.iter().enumerate() {
            if p.peek() == Some(&&i) {
                p.next();
                match e {
                    ListpackEntry::Int(v) => c.out.bulk_i64(v),
                    ListpackEntry::Str(b) => c.out.bulk(b),
                }
            }
        }
        return;
    }
    // CASE 3 and 4: a temporary table of distinct picks.
    let mut picked = FieldTable::new();
    if count * SRANDMEMBER_SUB_STRATEGY_MUL > size {
        // Many: copy everything, then drop random ones.
        picked.reserve(size);
        let mut buf = Vec::new();
        s.for_each(|m| {
            buf.clear();
            m.write_to(&mut buf);
            picked.insert(&buf, b"");
        });
        while picked.len() > count {
            let k = picked.random().expect("non-empty").0.to_vec();
            picked.remove(&k);
        }
    } else {
        picked.reserve(count);
        let s = set_mut(&mut c.srv.ks, h);
        while picked.len() < count {
            let m = s.random().expect("non-empty");
            picked.insert(&m.as_member().to_vec(), b"");
        }
    }
    c.out.array(count);
    let out = &mut *c.out;
    picked.for_each(|k, _| out.bulk(k));
}

/// Replies a computed set as a set reply (RESP3 `~`).
fn reply_set(c: &mut Ctx, s: &SetValue) {
    c.out.set(s.len());
    let out = &mut *c.out;
    s.for_each(|m| match m {
        Member::Int(v) => out.bulk_i64(v),
        Member::Str(b) => out.bulk(b),
    });
}

/// Looks up every key of `keys` for reading (`lookupKeyRead`): None for missing keys, Err
/// after replying WRONGTYPE.
fn lookup_sets(c: &mut Ctx, keys: std::ops::Range<usize>) -> Result<Vec<Option<KeyRef>>, ()> {
    let mut v = Vec::with_capacity(keys.len());
    for j in keys {
        v.push(lookup_set(c, c.arg(j), false)?);
    }
    Ok(v)
}

/// What an intersection produces.
enum InterOut {
    /// SINTER: reply the members.
    Reply,
    /// SINTERCARD: count up to `limit` (0: no limit).
    Card(usize),
    /// SINTERSTORE into argv[1].
    Store,
}

/// `sinterGenericCommand` over argv[first..first+n].
fn sinter_generic(c: &mut Ctx, first: usize, n: usize, mode: InterOut) {
    let Ok(hs) = lookup_sets(c, first..first + n) else {
        return;
    };
    if hs.iter().any(|h| h.is_none()) {
        return match mode {
            InterOut::Reply => c.out.set(0),
            InterOut::Card(_) => c.out.int(0),
            InterOut::Store => store_result(c, None, ev::SINTERSTORE),
        };
    }
    let lim = limits(c);
    let ks = &c.srv.ks;
    // (key, set), smallest first (qsort by cardinality; glibc's is a stable merge sort).
    let mut sets: Vec<(&[u8], &SetValue)> = hs
        .iter()
        .enumerate()
        .map(|(i, h)| (c.arg(first + i), set_ref(ks, h.expect("checked"))))
        .collect();
    sets.sort_by_key(|(_, s)| s.len());
    let (k0, s0) = sets[0];
    let in_all = |m: Member| sets[1..].iter().all(|(k, s)| *k == k0 || s.contains(m));
    match mode {
        InterOut::Card(limit) => {
            let mut card = 0usize;
            let mut done = false;
            s0.for_each(|m| {
                if !done && in_all(m) {
                    card += 1;
                    done = limit > 0 && card >= limit;
                }
            });
            c.out.int(card as i64);
        }
        InterOut::Reply => {
            let mut found = Vec::new();
            s0.for_each(|m| {
                if in_all(m) {
                    found.push(m);
                }
            });
            c.out.set(found.len());
            let out = &mut *c.out;
            for m in found {
                match m {
                    Member::Int(v) => out.bulk_i64(v),
                    Member::Str(b) => out.bulk(b),
                }
            }
        }
        InterOut::Store => {
            let mut dst = match s0 {
                SetValue::Intset(_) => SetValue::Intset(Intset::new()),
                _ => SetValue::Listpack(Listpack::new()),
            };
            let mut only_integers = true;
            s0.for_each(|m| {
                if !in_all(m) {
                    return;
                }
                let mut m = m;
                if let (Member::Str(s), true) = (m, only_integers) {
                    match (matches!(s0, SetValue::Hashtable(_)), string2ll(s)) {
                        (true, Some(v)) => {
                            if !matches!(dst, SetValue::Hashtable(_)) {
                                m = Member::Int(v);
                            }
                        }
                        _ => only_integers = false,
                    }
                }
                dst.add(m, &lim);
            });
            if !dst.is_empty() && only_integers {
                dst.maybe_convert_to_intset(&lim);
            }
            let dst = (!dst.is_empty()).then_some(dst);
            store_result(c, dst, ev::SINTERSTORE);
        }
    }
}

/// Stores a STORE command's result at argv[1] (`super::store_result`).
fn store_result(c: &mut Ctx, s: Option<SetValue>, ev: Ev) {
    let r = s.map(|s| {
        let n = s.len();
        (boxed(s), n)
    });
    super::store_result(c, r, ev);
}

fn sinter(c: &mut Ctx) {
    sinter_generic(c, 1, c.argc() - 1, InterOut::Reply);
}

fn sinterstore(c: &mut Ctx) {
    sinter_generic(c, 2, c.argc() - 2, InterOut::Store);
}

fn sintercard(c: &mut Ctx) {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = match string2ll(c.arg(1)) {
        Some(n) if n >= 1 => n as u64,
        _ => return c.out.error(NUMKEYS),
    };
    if numkeys > (c.argc() - 2) as u64 {
        return c
            .out
            .error("ERR Number of keys can't be greater than number of args");
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < c.argc() {
        let more = c.argc() - 1 - j;
        if crate::command::opt(c.arg(j)) == b"limit" && more > 0 {
            j += 1;
            let Some(l) = positive_arg(c, j, "ERR LIMIT can't be negative") else {
                return;
            };
            limit = l as usize;
        } else {
            return c.out.syntax_error();
        }
        j += 1;
    }
    sinter_generic(c, 2, numkeys, InterOut::Card(limit));
}

/// `sunionDiffGenericCommand`'s computation: the union (`diff` false) or the difference of
/// the sets (None: a missing key, an empty set), built in a temporary set that starts as an
/// intset and converts as members arrive, as Redis's does.
fn union_diff(sets: &[Option<&SetValue>], diff: bool, lim: &SetLimits) -> SetValue {
    let mut dst = SetValue::Intset(Intset::new());
    if !diff {
        for s in sets.iter().flatten() {
            s.for_each(|m| {
                dst.add(m, lim);
            });
        }
        return dst;
    }
    let Some(first) = sets[0] else {
        return dst;
    };
    // The caller resolved same-key cases (SDIFF k k is empty) with `same` below.
    let mut one = 0usize;
    let mut two = 0usize;
    for s in sets.iter().flatten() {
        one += first.len();
        two += s.len();
    }
    one /= 2;
    if one <= two {
        // Algorithm 1: each member of the first set not in any other; the others by
        // decreasing size (stable, as glibc's qsort).
        let mut rest: Vec<&SetValue> = sets[1..].iter().flatten().copied().collect();
        rest.sort_by_key(|s| std::cmp::Reverse(s.len()));
        first.for_each(|m| {
            if !rest.iter().any(|s| s.contains(m)) {
                dst.add(m, lim);
            }
        });
    } else {
        // Algorithm 2: add the first set, remove every other one.
        first.for_each(|m| {
            dst.add(m, lim);
        });
        for s in sets[1..].iter().flatten() {
            s.for_each(|m| {
                if !dst.is_empty() {
                    dst.remove(m);
                }
            });
            if dst.is_empty() {
                break;
            }
        }
    }
    dst
}

fn sunion_diff_generic(c: &mut Ctx, first: usize, diff: bool, store: Option<Ev>) {
    let Ok(hs) = lookup_sets(c, first..c.argc()) else {
        return;
    };
    let lim = limits(c);
    let ks = &c.srv.ks;
    let sets: Vec<Option<&SetValue>> = hs.iter().map(|h| h.map(|h| set_ref(ks, h))).collect();
    // A later key naming the first one (an existing set): the difference is empty.
    let same = hs[0].is_some()
        && (1..hs.len()).any(|j| hs[j].is_some() && c.arg(first + j) == c.arg(first));
    let result = if diff && same {
        SetValue::Intset(Intset::new())
    } else {
        union_diff(&sets, diff, &lim)
    };
    match store {
        None => reply_set(c, &result),
        Some(ev) => store_result(c, (!result.is_empty()).then_some(result), ev),
    }
}

fn sunion(c: &mut Ctx) {
    sunion_diff_generic(c, 1, false, None);
}

fn sunionstore(c: &mut Ctx) {
    sunion_diff_generic(c, 2, false, Some(ev::SUNIONSTORE));
}

fn sdiff(c: &mut Ctx) {
    sunion_diff_generic(c, 1, true, None);
}

fn sdiffstore(c: &mut Ctx) {
    sunion_diff_generic(c, 2, true, Some(ev::SDIFFSTORE));
}

fn sscan(c: &mut Ctx) {
    let Some(cursor) = pyrope_common::util::c_string2ull(c.arg(2)) else {
        return c.out.error("ERR invalid cursor");
    };
    let h = match lookup_set(c, c.arg(1), false) {
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
    let s = set_ref(&c.srv.ks, h);
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut next = 0;
    match s {
        SetValue::Hashtable(t) => {
            let mut seen = 0i64;
            let mut cur = cursor;
            let mut iterations = count.saturating_mul(10);
            loop {
                cur = t.scan(cur, |k, _| {
                    seen += 1;
                    if pat.is_none_or(|p| glob_match(p, k, false)) {
                        found.push(k.to_vec());
                    }
                });
                iterations -= 1;
                if cur == 0 || iterations <= 0 || seen >= count {
                    break;
                }
            }
            next = cur;
        }
        _ => s.for_each(|m| {
            let k = m.to_vec();
            if pat.is_none_or(|p| glob_match(p, &k, false)) {
                found.push(k);
            }
        }),
    }
    c.out.array(2);
    c.out.bulk(next.to_string().as_bytes());
    c.out.array(found.len());
    for k in found {
        c.out.bulk(&k);
    }
}

/// The set commands by full name.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("sadd", sadd),
    ("srem", srem),
    ("smembers", smembers),
    ("sismember", sismember),
    ("smismember", smismember),
    ("scard", scard),
    ("spop", spop),
    ("srandmember", srandmember),
    ("smove", smove),
    ("sinter", sinter),
    ("sintercard", sintercard),
    ("sinterstore", sinterstore),
    ("sunion", sunion),
    ("sunionstore", sunionstore),
    ("sdiff", sdiff),
    ("sdiffstore", sdiffstore),
    ("sscan", sscan),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>),
        AddInt(i64),
        Remove(Vec<u8>),
        Contains(Vec<u8>),
        Pop,
        Convert(usize),
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (-20i64..20).prop_map(|v| v.to_string().into_bytes()),
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            "[a-c]{0,3}".prop_map(|s| s.into_bytes()),
            Just(b"01".to_vec()),
            Just(b" 1".to_vec()),
            Just(b"x".repeat(9)),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => member().prop_map(Op::Add),
            1 => (-5i64..5).prop_map(Op::AddInt),
            2 => member().prop_map(Op::Remove),
            1 => member().prop_map(Op::Contains),
            1 => Just(Op::Pop),
            1 => (0usize..12).prop_map(Op::Convert),
        ]
    }

    fn contents(s: &SetValue) -> BTreeSet<Vec<u8>> {
        s.members().iter().map(|m| m.to_vec()).collect()
    }

    fn rank(s: &SetValue) -> u8 {
        match s {
            SetValue::Intset(_) => 0,
            SetValue::Listpack(_) => 1,
            SetValue::Hashtable(_) => 2,
        }
    }

    /// Encoding invariants of a set built only by `add` under `lim`.
    fn check_encoding(s: &SetValue, lim: &SetLimits) {
        match s {
            SetValue::Intset(i) => assert!(i.len() <= lim.intset_max()),
            SetValue::Listpack(l) => {
                assert!(l.len() <= lim.listpack_entries.max(1));
                for e in l.iter() {
                    assert!(Member::from_lp(e).to_vec().len() <= lim.listpack_value);
                }
            }
            SetValue::Hashtable(_) => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// SetValue behaves as a set of byte strings through every encoding, and encodings
        /// only go up.
        #[test]
        fn set_value_matches_a_btreeset(
            first in member(),
            ops in proptest::collection::vec(op(), 0..120),
            ie in 0usize..10, le in 1usize..10, lv in 0usize..12,
        ) {
            let lim = SetLimits { intset_entries: ie, listpack_entries: le, listpack_value: lv };
            let mut s = SetValue::create(&first, 1, &lim);
            let mut model = BTreeSet::new();
            prop_assert_eq!(s.add(Member::Str(&first), &lim), true);
            model.insert(first.clone());
            for op in ops {
                let before = rank(&s);
                match op {
                    Op::Add(m) => {
                        prop_assert_eq!(s.add(Member::Str(&m), &lim), model.insert(m.clone()));
                    }
                    Op::AddInt(v) => {
                        let m = v.to_string().into_bytes();
                        prop_assert_eq!(s.add(Member::Int(v), &lim), model.insert(m));
                    }
                    Op::Remove(m) => {
                        prop_assert_eq!(s.remove(Member::Str(&m)), model.remove(&m));
                    }
                    Op::Contains(m) => {
                        prop_assert_eq!(s.contains(Member::Str(&m)), model.contains(&m));
                    }
                    Op::Pop => {
                        if let Some(m) = s.pop_random() {
                            prop_assert!(model.remove(&m.as_member().to_vec()));
                        } else {
                            prop_assert!(model.is_empty());
                        }
                    }
                    Op::Convert(n) => s.maybe_convert(n, &lim),
                }
                prop_assert!(rank(&s) >= before, "encodings never go down");
                prop_assert_eq!(s.len(), model.len());
                prop_assert_eq!(&contents(&s), &model);
                if let SetValue::Intset(i) = &s {
                    prop_assert!(i.iter().count() == model.len());
                }
            }
            if let SetValue::Intset(_) = &s {
                prop_assert!(model.iter().all(|m| string2ll(m).is_some()));
            }
        }

        /// Sets built by `add` alone respect the limits of their encoding.
        #[test]
        fn encodings_respect_limits(
            ms in proptest::collection::vec(member(), 1..60),
            ie in 0usize..10, le in 1usize..10, lv in 0usize..12,
        ) {
            let lim = SetLimits { intset_entries: ie, listpack_entries: le, listpack_value: lv };
            let mut s = SetValue::create(&ms[0], 1, &lim);
            for m in &ms {
                s.add(Member::Str(m), &lim);
                check_encoding(&s, &lim);
            }
        }

        /// SUNION / SDIFF (both algorithms) and the SINTERSTORE intset rule agree with the
        /// model.
        #[test]
        fn union_and_diff_match_the_model(
            a in proptest::collection::vec(member(), 0..40),
            b in proptest::collection::vec(member(), 0..40),
            c in proptest::collection::vec(member(), 0..10),
        ) {
            let lim = SetLimits { intset_entries: 16, listpack_entries: 8, listpack_value: 8 };
            let build = |v: &[Vec<u8>]| {
                let mut s = SetValue::create(v.first().map_or(&b"x"[..], |m| m), v.len(), &lim);
                for m in v {
                    s.add(Member::Str(m), &lim);
                }
                (!v.is_empty()).then_some(s)
            };
            let (sa, sb, sc) = (build(&a), build(&b), build(&c));
            let ma: BTreeSet<Vec<u8>> = a.iter().cloned().collect();
            let mb: BTreeSet<Vec<u8>> = b.iter().cloned().collect();
            let mc: BTreeSet<Vec<u8>> = c.iter().cloned().collect();
            let sets = [sa.as_ref(), sb.as_ref(), sc.as_ref()];
            let u = union_diff(&sets, false, &lim);
            let mu: BTreeSet<Vec<u8>> = ma.union(&mb).chain(mc.iter()).cloned().collect();
            prop_assert_eq!(contents(&u), mu);
            let d = union_diff(&sets, true, &lim);
            let md: BTreeSet<Vec<u8>> =
                ma.iter().filter(|m| !mb.contains(*m) && !mc.contains(*m)).cloned().collect();
            prop_assert_eq!(contents(&d), md);
            let mut all_int = d.clone();
            if !all_int.is_empty() && all_int.members().iter().all(|m| string2ll(&m.to_vec()).is_some()) {
                all_int.maybe_convert_to_intset(&lim);
                prop_assert_eq!(contents(&all_int), contents(&d));
            }
        }
    }

    #[test]
    fn a_set_fits_jemallocs_32_byte_class() {
        // `Value` boxes every raw string and compact collection: the hashtable is boxed
        // inside so that a set adds nothing to that box.
        use crate::types::{hash::HashValue, list::ListValue};
        let sizes = (
            std::mem::size_of::<SetValue>(),
            std::mem::size_of::<ListValue>(),
            std::mem::size_of::<HashValue>(),
            std::mem::size_of::<Value>(),
        );
        assert!(
            sizes.0 <= 32 && sizes.2 <= 24 && sizes.3 <= 32,
            "set, list, hash, value: {sizes:?}"
        );
        assert!(std::mem::size_of::<crate::types::zset::ZsetValue>() <= 32);
    }

    #[test]
    fn sampling_is_sorted_distinct_and_complete() {
        for n in 0..20 {
            for k in 0..=n {
                let s = sample_sorted(n, k);
                assert_eq!(s.len(), k);
                assert!(s.windows(2).all(|w| w[0] < w[1]));
                assert!(s.iter().all(|&i| i < n));
            }
        }
    }
}
