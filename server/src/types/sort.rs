//! SORT and SORT_RO (Redis sort.c, `sortCommandGeneric`): sorts the elements of a list, set
//! or sorted set numerically (the default) or lexicographically (ALPHA), by the elements
//! themselves or by weights read from other keys (`BY pattern`), answers a window of them
//! (`LIMIT offset count`) or, for each, the values of `GET` patterns, and with STORE
//! (SORT only) writes the result into a list instead of replying.
//!
//! Patterns (`lookupKeyByPattern`): `#` is the element itself; otherwise the *first* `*` of
//! the pattern is replaced by the element and the result names a string key, or — when the
//! rest of the pattern after that `*` holds `->` followed by at least one byte — a hash key
//! (left of the `->`) and its field (right of it). A pattern without `*` finds nothing; a
//! key of the wrong type finds nothing. As in Redis, the pattern is searched as a C string
//! (up to a NUL byte) but the lengths are the full argument's. Hash fields are read with
//! their lazy expiry (an expired field is deleted, `hexpired`).
//!
//! Redis's special cases, kept: a BY pattern without `*` means "do not sort" (`nosort`); a
//! list or sorted set then keeps its order (reversed for DESC) with LIMIT applied while
//! reading; a set is answered in its iteration order — except with STORE (or inside a
//! script), where it is sorted ALPHA so that replicas store the same list. A sorted set is
//! converted to a skiplist first, even on error (`zsetConvert`, destructive, as Redis).
//! Numeric weights go through C `strtod` (a whole-string parse; `ERR One or more scores
//! can't be converted into double` otherwise, after every weight was read); missing weights
//! are 0 (ALPHA: sort first). Ties of numeric weights are ordered by the elements' bytes.
//! ALPHA compares with `strcoll` when replying — the oracle runs in the `C.UTF-8` locale,
//! where glibc's `strcoll` is `strcmp`, so bytes up to the first NUL — and with a binary
//! compare when storing. Redis sorts with glibc's `qsort` — the oracle links glibc 2.36,
//! whose `qsort` is a merge sort (`msort`; this 16-byte `redisSortObject` vector is sorted
//! directly, not through pointers), so ties keep the read order, as Rust's stable sort does
//! (any stable sort gives the same output). glibc 2.37 and 2.38 used an unstable introsort
//! instead; a Redis linked with those would order ties differently. For BY with a LIMIT
//! Redis uses its own partial quicksort (`pqsort`), ported here step for step so ties land
//! where Redis puts them.
//!
//! Ties (`sortCompare` returning 0) happen only with ALPHA: BY weights that are equal, or
//! both missing, and, without BY when replying, elements equal up to a NUL byte (`strcoll`).
//! Numeric ties fall back to the elements' bytes and are total. Where ties land then depends
//! on the read order: lists head to tail, intsets ascending, listpack sets in insertion
//! order — all reproduced (tests/scripts/sort_ties.redis). Hashtable sets and sorted sets
//! (any encoding: sort.c converts a zset to a skiplist and reads its *dict*, not its rank
//! order) are read by Redis in dict order, which follows its SipHash seed, random per
//! process: two Redis 7.4.1 processes holding the same set order its ties differently, so
//! there is no order to match and we keep our own iteration order for them.
//!
//! STORE: the destination becomes a list (quicklist then `listTypeTryConversion`), missing
//! GET values stored as empty strings; event `sortstore` (list class); an empty result
//! deletes the destination (`del`). Propagated as is (it is deterministic).
//!
//! The reply has at most (GETs or 1) x (elements of the key) entries: LIMIT is clamped to
//! the collection's size, so no argument can ask for more.

use crate::command::{ctx, opt, Ctx, Handler};
use crate::keyspace::{ev, notify, string_bytes, Deletion, Ev, NewValue, ValueRef};
use crate::object::{ObjType, Value};
use crate::types::list::ListValue;
use std::cmp::Ordering;

/// `sortstore`: SORT ... STORE wrote its destination (list class, as sort.c).
pub const EV_SORTSTORE: Ev = Ev {
    class: notify::LIST,
    name: "sortstore",
};

/// One element being sorted (`redisSortObject`): the element, its numeric weight, and its
/// ALPHA weight when a BY pattern found one.
struct Item {
    obj: Vec<u8>,
    score: f64,
    cmpobj: Option<Vec<u8>>,
}

/// The C-string view of `b` (`strchr`, `strstr`, `strcmp` stop at the first NUL).
fn cstr(b: &[u8]) -> &[u8] {
    crate::command::cstr(b)
}

/// `lookupKeyByPattern`: the value `pattern` names for element `subst`, or None (see the
/// module docs). Key lookups are `lookupKeyRead`s (hits, misses, `keymiss`).
fn lookup_by_pattern(c: &mut Ctx, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
    let cpat = cstr(pattern);
    if cpat == b"#" {
        return Some(subst.to_vec());
    }
    let p = memchr::memchr(b'*', cpat)?;
    // `strstr(p+1, "->")` with at least one byte after the arrow in the C string.
    let arrow = cpat[p + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| p + 1 + i)
        .filter(|&f| f + 2 < cpat.len());
    let (key_end, field) = match arrow {
        Some(f) => (f, Some(&pattern[f + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(key_end + subst.len());
    key.extend_from_slice(&pattern[..p]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[p + 1..key_end]);
    let h = c.lookup_read(&key)?;
    match field {
        Some(field) => {
            if c.srv.ks.get(h).obj_type() != ObjType::Hash {
                return None;
            }
            super::hash::field_value_lazy(c, h, &key, field)
        }
        None => {
            let mut buf = Vec::new();
            let v = c.srv.ks.get(h).value();
            string_bytes(&v, &mut buf).map(|b| b.to_vec())
        }
    }
}

/// A numeric weight as sort.c reads it: `strtod` must consume the whole C string (an empty
/// one reads as 0), without overflow or underflow (`ERANGE`), and not give NaN.
fn weight(v: &[u8]) -> Option<f64> {
    let s = cstr(v);
    let (d, n, erange) = super::zset::c_strtod(s);
    (n == s.len() && !erange && !d.is_nan()).then_some(d)
}

/// `compareStringObjects`: binary, shorter first on a common prefix.
fn binary_cmp(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

/// `strcoll` in the C / C.UTF-8 locale: `strcmp` of the C strings.
fn coll_cmp(a: &[u8], b: &[u8]) -> Ordering {
    cstr(a).cmp(cstr(b))
}

/// The number of elements as sort.c's signed `vectorlen`.
fn len_sorted(items: &[Item]) -> i64 {
    items.len() as i64
}

/// Redis's `pqsort` (pqsort.c: NetBSD's Bentley-McIlroy quicksort that only recurses into
/// partitions overlapping positions `lrange..=rrange`), used by SORT for BY + LIMIT. Ported
/// step for step so that ties (ALPHA weights that compare equal) land where Redis puts them.
fn pqsort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering, lrange: i64, rrange: i64) {
    let n = v.len();
    pq_sort(v, 0, n, cmp, lrange, rrange);
}

/// True if the partition `s..e` holds neither range end (pqsort's pointer test).
fn pq_outside(s: usize, e: usize, lrange: i64, rrange: i64) -> bool {
    let (s, e) = (s as i64, e as i64);
    (lrange < s && rrange < s) || (lrange >= e && rrange >= e)
}

fn pq_insertion<T>(v: &mut [T], a: usize, n: usize, cmp: &impl Fn(&T, &T) -> Ordering) {
    for pm in a + 1..a + n {
        let mut pl = pm;
        while pl > a && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
            v.swap(pl, pl - 1);
            pl -= 1;
        }
    }
}

fn pq_med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    use Ordering::{Greater, Less};
    if cmp(&v[a], &v[b]) == Less {
        if cmp(&v[b], &v[c]) == Less {
            b
        } else if cmp(&v[a], &v[c]) == Less {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) == Greater {
        b
    } else if cmp(&v[a], &v[c]) == Less {
        a
    } else {
        c
    }
}

fn pq_vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// `_pqsort` over `v[a..a + n]`.
fn pq_sort<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &impl Fn(&T, &T) -> Ordering,
    lrange: i64,
    rrange: i64,
) {
    loop {
        if n < 7 {
            return pq_insertion(v, a, n, cmp);
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = pq_med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = pq_med3(v, pm - d, pm, pm + d, cmp);
                pn = pq_med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = pq_med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let mut swapped = false;
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    swapped = true;
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    swapped = true;
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            swapped = true;
            pb += 1;
            pc -= 1;
        }
        if !swapped {
            return pq_insertion(v, a, n, cmp);
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        pq_vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        pq_vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !pq_outside(a, a + r, lrange, rrange) {
            pq_sort(v, a, r, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !pq_outside(a, a + r, lrange, rrange) {
                continue;
            }
        }
        return;
    }
}

/// The options of one SORT command line.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

/// Parses argv[2..] as `sortCommandGeneric` does (last ASC/DESC wins, STORE only for SORT);
/// None after replying the error.
fn parse<'a>(c: &mut Ctx<'a>, readonly: bool) -> Option<Options<'a>> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit: None,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < c.argc() {
        let left = c.argc() - j - 1;
        match opt(c.arg(j)).as_slice() {
            b"asc" => o.desc = false,
            b"desc" => o.desc = true,
            b"alpha" => o.alpha = true,
            b"limit" if left >= 2 => {
                let start = c.int_arg(j + 1)?;
                let count = c.int_arg(j + 2)?;
                o.limit = Some((start, count));
                j += 2;
            }
            b"store" if !readonly && left >= 1 => {
                o.store = Some(c.arg(j + 1));
                j += 1;
            }
            b"by" if left >= 1 => {
                let p = c.arg(j + 1);
                o.by = Some(p);
                // A constant BY pattern: nothing to sort, no weight to read.
                o.dontsort = memchr::memchr(b'*', cstr(p)).is_none();
                // A real pattern reads keys the ACL cannot foresee: only for users who may
                // read every key (sort.c's `user_has_full_key_access`).
                if !o.dontsort && !full_key_access(c) {
                    c.out
                        .error("ERR BY option of SORT denied due to insufficient ACL permissions.");
                    return None;
                }
                j += 1;
            }
            b"get" if left >= 1 => {
                if !full_key_access(c) {
                    c.out.error(
                        "ERR GET option of SORT denied due to insufficient ACL permissions.",
                    );
                    return None;
                }
                o.gets.push(c.arg(j + 1));
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

/// True when the calling client's user may read every key (BY and GET patterns).
fn full_key_access(c: &Ctx) -> bool {
    let slot = c.srv.clients[c.cid].acl_user;
    crate::acl::full_key_access(c.srv, slot)
}

/// The clamped window `start..=end` over `len` elements (sort.c's LIMIT sanity checks, in
/// its signed arithmetic: an empty window is `end == start - 1`).
fn window(limit: Option<(i64, i64)>, len: i64) -> (i64, i64) {
    let (limit_start, limit_count) = limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// SORT / SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
/// [ALPHA] [STORE destination] (`sortCommandGeneric`).
fn sort_generic(c: &mut Ctx, readonly: bool) {
    let Some(mut o) = parse(c, readonly) else {
        return;
    };
    let key = c.arg(1);
    let found = c.lookup_read(key);
    let ty = match found {
        None => ObjType::List,
        Some(h) => match c.srv.ks.get(h).obj_type() {
            t @ (ObjType::List | ObjType::Set | ObjType::ZSet) => t,
            _ => return c.out.wrong_type(),
        },
    };
    // A set has no order of its own: sort it when the result is stored or replayed.
    if o.dontsort && ty == ObjType::Set && (o.store.is_some() || c.flags & ctx::IN_SCRIPT != 0) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    // `zsetConvert(sortval, OBJ_ENCODING_SKIPLIST)`: destructive, as Redis.
    if let Some(h) = found {
        if let Some(Value::ZSet(z)) = c.srv.ks.get_mut(h).into_value_mut() {
            let n = z.len();
            z.convert_to_skiplist(n);
        }
    }
    let len = found.map_or(0, |h| match c.srv.ks.get(h).value() {
        ValueRef::Boxed(Value::List(l)) => l.len(),
        ValueRef::Boxed(Value::Set(s)) => s.len(),
        ValueRef::Boxed(Value::ZSet(z)) => z.len(),
        _ => 0,
    }) as i64;
    let (mut start, mut end) = window(o.limit, len);
    // Lists and sorted sets not sorted: read only the window, in order (DESC: from the end).
    let direct = o.dontsort && ty != ObjType::Set;
    let mut items: Vec<Item> = Vec::new();
    if let Some(h) = found {
        let item = |obj: Vec<u8>| Item {
            obj,
            score: 0.0,
            cmpobj: None,
        };
        let (skip, take) = if direct {
            (start.max(0) as usize, (end - start + 1).max(0) as usize)
        } else {
            (0, len as usize)
        };
        // The list elements a quicklist iterator passed (sort.c's listTypeInitIterator /
        // listTypeNext): their nodes are compressed again or re-attempted afterwards.
        let mut visited: Option<(usize, usize)> = None;
        match c.srv.ks.get(h).value() {
            ValueRef::Boxed(Value::List(l)) => {
                let n = l.len();
                let taken = take.min(n.saturating_sub(skip));
                if taken > 0 {
                    visited = Some(if direct && o.desc {
                        (n - skip - taken, n - skip - 1)
                    } else {
                        (skip, skip + taken - 1)
                    });
                }
                if taken > 0 {
                    let (from, rev) = if direct && o.desc {
                        (n - 1 - skip, true)
                    } else {
                        (skip, false)
                    };
                    let mut left = taken;
                    l.scan(from, rev, |e| {
                        items.push(item(e.to_vec()));
                        left -= 1;
                        left > 0
                    });
                }
            }
            ValueRef::Boxed(Value::Set(s)) => s.for_each(|m| {
                let mut v = Vec::new();
                m.write_to(&mut v);
                items.push(item(v));
            }),
            ValueRef::Boxed(Value::ZSet(z)) => {
                let it = if direct && o.desc {
                    z.iter_from((len as usize).saturating_sub(skip + 1), true)
                } else {
                    z.iter_from(skip, false)
                };
                if !(direct && o.desc && skip >= len as usize) {
                    items.extend(it.take(take).map(|(m, _)| item(m.to_vec())));
                }
            }
            _ => {}
        }
        if let Some((a, b)) = visited {
            if let Some(Value::List(l)) = c.srv.ks.get_mut(h).into_value_mut() {
                l.visit_range(a, b);
            }
        }
    }
    if direct {
        // The output code is not aware of the direct read: the window is now all of it.
        end -= start;
        start = 0;
    }
    let mut conversion_error = false;
    if !o.dontsort {
        for it in items.iter_mut() {
            let byval = match o.by {
                Some(p) => match lookup_by_pattern(c, p, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    if !o.alpha {
                        match weight(&it.obj) {
                            Some(d) => it.score = d,
                            None => conversion_error = true,
                        }
                    }
                    continue;
                }
            };
            if o.alpha {
                it.cmpobj = Some(byval);
            } else {
                match weight(&byval) {
                    Some(d) => it.score = d,
                    None => conversion_error = true,
                }
            }
        }
        let (alpha, by, store, desc) = (o.alpha, o.by.is_some(), o.store.is_some(), o.desc);
        // `sortCompare`.
        let cmp = |a: &Item, b: &Item| -> Ordering {
            let r = if !alpha {
                match a.score.partial_cmp(&b.score) {
                    Some(Ordering::Equal) | None => binary_cmp(&a.obj, &b.obj),
                    Some(r) => r,
                }
            } else if by {
                match (&a.cmpobj, &b.cmpobj) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) if store => binary_cmp(x, y),
                    (Some(x), Some(y)) => coll_cmp(x, y),
                }
            } else if store {
                binary_cmp(&a.obj, &b.obj)
            } else {
                coll_cmp(&a.obj, &b.obj)
            };
            if desc {
                r.reverse()
            } else {
                r
            }
        };
        if by && (start != 0 || end != len_sorted(&items) - 1) {
            pqsort(&mut items, &cmp, start, end);
        } else {
            items.sort_by(cmp);
        }
    }
    let n = (end - start + 1).max(0) as usize;
    let getop = o.gets.len();
    let outputlen = if getop > 0 { getop * n } else { n };
    if conversion_error {
        return c
            .out
            .error("ERR One or more scores can't be converted into double");
    }
    let window = &items[start.max(0) as usize..start.max(0) as usize + n];
    let Some(dst) = o.store else {
        c.out.array(outputlen);
        for it in window {
            if getop == 0 {
                c.out.bulk(&it.obj);
            }
            for g in &o.gets {
                match lookup_by_pattern(c, g, &it.obj) {
                    Some(v) => c.out.bulk(&v),
                    None => c.out.null(),
                }
            }
        }
        return;
    };
    let mut result: Vec<Vec<u8>> = Vec::with_capacity(outputlen);
    for it in window {
        if getop == 0 {
            result.push(it.obj.clone());
        }
        for g in &o.gets {
            result.push(lookup_by_pattern(c, g, &it.obj).unwrap_or_default());
        }
    }
    let existing = c.lookup_write(dst);
    let db = c.db;
    if outputlen > 0 {
        let fill = c.srv.settings.list_max_listpack_size;
        let list = ListValue::build_stored(
            fill,
            c.srv.settings.list_compress_depth,
            result.iter().map(|v| v.as_slice()),
        );
        let lru = c.srv.new_key_lru();
        let v = NewValue::Boxed(Box::new(Value::List(list)));
        c.srv
            .ks
            .set(db, dst, existing, v, None, false, lru, Some(EV_SORTSTORE));
        c.dirty(outputlen as u64);
    } else if let Some(h) = existing {
        c.srv.ks.delete(h, Deletion::Server, Some(ev::DEL));
        c.dirty(1);
    }
    c.out.int(outputlen as i64);
}

fn sort(c: &mut Ctx) {
    sort_generic(c, false);
}

fn sort_ro(c: &mut Ctx) {
    sort_generic(c, true);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[("sort", sort), ("sort_ro", sort_ro)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_matches_sort_c() {
        assert_eq!(window(None, 5), (0, 4));
        assert_eq!(window(Some((1, 2)), 5), (1, 2));
        assert_eq!(window(Some((-3, 2)), 5), (0, 1));
        assert_eq!(window(Some((2, -5)), 5), (2, 4));
        assert_eq!(window(Some((7, 2)), 5), (4, 3));
        assert_eq!(window(Some((3, 100)), 5), (3, 4));
        assert_eq!(window(Some((0, 0)), 5), (0, -1));
        assert_eq!(window(None, 0), (-1, -2));
        assert_eq!(window(Some((i64::MAX, i64::MAX)), 3), (2, 1));
    }

    #[test]
    fn weights_as_strtod() {
        assert_eq!(weight(b"1.5"), Some(1.5));
        assert_eq!(weight(b""), Some(0.0));
        assert_eq!(weight(b" 2"), Some(2.0));
        assert_eq!(weight(b"0x10"), Some(16.0));
        assert_eq!(weight(b"3\0junk"), Some(3.0));
        assert_eq!(weight(b"inf"), Some(f64::INFINITY));
        assert_eq!(weight(b"2 "), None);
        assert_eq!(weight(b"nan"), None);
        assert_eq!(weight(b"1e400"), None);
        assert_eq!(weight(b"abc"), None);
    }
}
