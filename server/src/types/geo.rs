//! Geospatial commands (Redis 7.4's geo.c): GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH
//! GEOSEARCHSTORE GEORADIUS[_RO] GEORADIUSBYMEMBER[_RO].
//!
//! A geo index is a sorted set ([`ZsetValue`]) whose scores are 52-bit interleaved geohashes
//! ([`super::geohash`]). GEOADD rewrites itself to ZADD (and so replies, notifies `zadd` and
//! propagates as ZADD, as Redis's `replaceClientCommandVector`). Searches scan the score
//! ranges of the centre's cell and its neighbours, keep the points inside the shape, sort
//! them (glibc's stable qsort, or Redis's `pqsort` when COUNT cuts the result) and reply or
//! store them (`georadiusGeneric`).
//!
//! Reply formats: distances are bulk strings with 4 decimals (`addReplyDoubleDistance`,
//! `fixedpoint_d2string`), coordinates `ld2string(LD_STR_HUMAN)` text as bulk strings (RESP2)
//! or doubles (RESP3) (`addReplyHumanLongDouble`), hashes integers.

use super::geohash::{self, Bits, Shape, ShapeKind};
use super::zset::{string2d, zadd_argv, AddFlags, ZsetLimits, ZsetValue};
use crate::command::{opt, trunc, Ctx, Handler, OwnedArgv};
use crate::keyspace::{notify, Deletion, Ev, KeyRef, NewValue, ValueRef};
use crate::object::{ObjType, Value};
use crate::reply::{errors, Reply};
use std::cmp::Ordering;

/// `georadiusstore`: the event of GEORADIUS[BYMEMBER] ... STORE/STOREDIST (class `z`).
pub const EV_GEORADIUSSTORE: Ev = Ev {
    class: notify::ZSET,
    name: "georadiusstore",
};
/// `geosearchstore`: the event of GEOSEARCHSTORE (class `z`).
pub const EV_GEOSEARCHSTORE: Ev = Ev {
    class: notify::ZSET,
    name: "geosearchstore",
};

/// 2^63 as a double (C's integer conversion limits).
const TWO63: f64 = (1u64 << 63) as f64;

// --- helpers -----------------------------------------------------------------------------

/// The zset at a found key (type checked by the lookup).
fn zset_at<'c>(c: &'c Ctx, h: KeyRef) -> &'c ZsetValue {
    match c.srv.ks.get(h).value() {
        ValueRef::Boxed(Value::ZSet(z)) => z,
        _ => unreachable!("type checked at lookup"),
    }
}

/// Looks a key up for reading; `Err` after replying WRONGTYPE.
fn lookup(c: &mut Ctx, key: &[u8]) -> Result<Option<KeyRef>, ()> {
    c.lookup_typed(key, ObjType::ZSet, false)
}

/// `getDoubleFromObjectOrReply` with an optional message (`ERR <msg>`).
fn double_arg(c: &mut Ctx, i: usize, msg: Option<&str>) -> Option<f64> {
    match string2d(c.arg(i)) {
        Some(v) => Some(v),
        None => {
            match msg {
                Some(m) => c.out.error(&format!("ERR {m}")),
                None => c.out.error(errors::NOT_FLOAT),
            }
            None
        }
    }
}

/// `extractLongLatOrReply`: longitude at `i`, latitude at `i + 1`, within the limits.
fn long_lat_arg(c: &mut Ctx, i: usize) -> Option<[f64; 2]> {
    let x = double_arg(c, i, None)?;
    let y = double_arg(c, i + 1, None)?;
    if !(geohash::GEO_LONG_MIN..=geohash::GEO_LONG_MAX).contains(&x)
        || !(geohash::GEO_LAT_MIN..=geohash::GEO_LAT_MAX).contains(&y)
    {
        c.out.error(&format!(
            "ERR invalid longitude,latitude pair {},{}",
            c_f(x),
            c_f(y)
        ));
        return None;
    }
    Some([x, y])
}

/// C's `%f`.
fn c_f(v: f64) -> String {
    if v.is_nan() {
        if v.is_sign_negative() { "-nan" } else { "nan" }.into()
    } else if v.is_infinite() {
        if v < 0.0 { "-inf" } else { "inf" }.into()
    } else {
        format!("{v:.6}")
    }
}

/// `extractUnitOrReply`: metres per unit; None after replying the error.
fn unit_arg(c: &mut Ctx, i: usize) -> Option<f64> {
    match opt(c.arg(i)).as_slice() {
        b"m" => Some(1.0),
        b"km" => Some(1000.0),
        b"ft" => Some(0.3048),
        b"mi" => Some(1609.34),
        _ => {
            c.out
                .error("ERR unsupported unit provided. please use M, KM, FT, MI");
            None
        }
    }
}

/// `extractDistanceOrReply`: (radius, metres per unit) from `<radius> <unit>` at `i`.
fn distance_arg(c: &mut Ctx, i: usize) -> Option<(f64, f64)> {
    let d = double_arg(c, i, Some("need numeric radius"))?;
    if d < 0.0 {
        c.out.error("ERR radius cannot be negative");
        return None;
    }
    let conv = unit_arg(c, i + 1)?;
    Some((d, conv))
}

/// `extractBoxOrReply`: (width, height, metres per unit) from `<w> <h> <unit>` at `i`.
fn box_arg(c: &mut Ctx, i: usize) -> Option<(f64, f64, f64)> {
    let w = double_arg(c, i, Some("need numeric width"))?;
    let h = double_arg(c, i + 1, Some("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        c.out.error("ERR height or width cannot be negative");
        return None;
    }
    let conv = unit_arg(c, i + 2)?;
    Some((w, h, conv))
}

/// `addReplyDoubleDistance`: `fixedpoint_d2string(d, 4)` — `llrint(d * 10000)` written
/// with 4 decimals — as a bulk string.
pub fn distance_text(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    // llrint: round half to even in the default rounding mode.
    let sv = (d * 10000.0).round_ties_even();
    let sv = if sv.is_nan() || !(-TWO63..TWO63).contains(&sv) {
        i64::MIN
    } else {
        sv as i64
    };
    let neg = sv < 0;
    let v = sv.unsigned_abs();
    format!(
        "{}{}.{:04}",
        if neg { "-" } else { "" },
        v / 10000,
        v % 10000
    )
}

/// `ld2string(LD_STR_HUMAN)` of a double: `%.17Lf` with trailing zeros (and a trailing dot)
/// removed; `-0` prints as `0`.
pub fn human_double_text(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    if d.is_nan() {
        return "nan".into();
    }
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// `addReplyHumanLongDouble`: a bulk string in RESP2, a double in RESP3.
fn reply_human(out: &mut Reply, d: f64) {
    let s = human_double_text(d);
    if out.resp == 2 {
        out.bulk(s.as_bytes());
    } else {
        out.raw(format!(",{s}\r\n").as_bytes());
    }
}

/// The (longitude, latitude) of a member (`longLatFromMember`).
fn member_long_lat(z: &ZsetValue, member: &[u8]) -> Option<[f64; 2]> {
    geohash::decode_score(z.score(member)?)
}

// --- GEOADD ------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] long lat member [...]: encodes each point and runs ZADD with
/// the scores (`geoaddCommand`); propagated as that ZADD.
fn geoadd(c: &mut Ctx) {
    let (mut xx, mut nx) = (false, false);
    let mut longidx = 2;
    while longidx < c.argc() {
        match opt(c.arg(longidx)).as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ch" => {}
            _ => break,
        }
        longidx += 1;
    }
    if !(c.argc() - longidx).is_multiple_of(3) || (xx && nx) {
        return c.out.syntax_error();
    }
    let elements = (c.argc() - longidx) / 3;
    let mut zargv = OwnedArgv::default();
    zargv.push(b"zadd");
    for i in 1..longidx {
        zargv.push(c.arg(i));
    }
    for i in 0..elements {
        let Some(xy) = long_lat_arg(c, longidx + i * 3) else {
            return;
        };
        let bits = geohash::score_of(xy[0], xy[1]).unwrap_or(0);
        zargv.push(bits.to_string().as_bytes());
        zargv.push(c.arg(longidx + i * 3 + 2));
    }
    zadd_argv(c, zargv.argv(), AddFlags::default());
    c.propagate_as = Some(vec![zargv]);
}

// --- GEOPOS / GEOHASH / GEODIST ----------------------------------------------------------

/// GEOPOS key member [...]: [longitude, latitude] per member, null arrays for missing ones.
fn geopos(c: &mut Ctx) {
    let Ok(h) = lookup(c, c.arg(1)) else { return };
    c.out.array(c.argc() - 2);
    for j in 2..c.argc() {
        let xy = h.and_then(|h| member_long_lat(zset_at(c, h), c.arg(j)));
        match xy {
            None => c.out.null_array(),
            Some(xy) => {
                c.out.array(2);
                reply_human(c.out, xy[0]);
                reply_human(c.out, xy[1]);
            }
        }
    }
}

/// The 11-character base32 geohash of a score: decoded, re-encoded over the standard
/// -180..180 x -90..90 ranges at step 26, the 11th character always '0' (`geohashCommand`).
pub fn geohash_string(score: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let xy = geohash::decode_score(score)?;
    let hash = geohash::encode(
        geohash::Range {
            min: -180.0,
            max: 180.0,
        },
        geohash::Range {
            min: -90.0,
            max: 90.0,
        },
        xy[0],
        xy[1],
        26,
    )
    .unwrap_or(Bits { bits: 0, step: 26 });
    let mut buf = [0u8; 11];
    for (i, b) in buf.iter_mut().enumerate() {
        let idx = if i == 10 {
            0
        } else {
            (hash.bits >> (52 - (i + 1) * 5)) & 0x1f
        };
        *b = ALPHABET[idx as usize];
    }
    Some(buf)
}

/// GEOHASH key member [...]: the standard geohash strings, nulls for missing members.
fn geohash_cmd(c: &mut Ctx) {
    let Ok(h) = lookup(c, c.arg(1)) else { return };
    c.out.array(c.argc() - 2);
    for j in 2..c.argc() {
        let s = h
            .and_then(|h| zset_at(c, h).score(c.arg(j)))
            .and_then(geohash_string);
        match s {
            None => c.out.null(),
            Some(b) => c.out.bulk(&b),
        }
    }
}

/// GEODIST key m1 m2 [unit]: the distance in the unit (4 decimals), null if a member is
/// missing.
fn geodist(c: &mut Ctx) {
    let mut to_meter = 1.0;
    if c.argc() == 5 {
        match unit_arg(c, 4) {
            Some(v) => to_meter = v,
            None => return,
        }
    } else if c.argc() > 5 {
        return c.out.syntax_error();
    }
    let h = match lookup(c, c.arg(1)) {
        Err(()) => return,
        Ok(None) => return c.out.null(),
        Ok(Some(h)) => h,
    };
    let z = zset_at(c, h);
    let (Some(s1), Some(s2)) = (z.score(c.arg(2)), z.score(c.arg(3))) else {
        return c.out.null();
    };
    match (geohash::decode_score(s1), geohash::decode_score(s2)) {
        (Some(a), Some(b)) => {
            let d = geohash::distance(a[0], a[1], b[0], b[1]) / to_meter;
            c.out.bulk(distance_text(d).as_bytes());
        }
        _ => c.out.null(),
    }
}

// --- searches ----------------------------------------------------------------------------

/// One match (`geoPoint`).
struct Point {
    longitude: f64,
    latitude: f64,
    dist: f64,
    score: f64,
    member: Vec<u8>,
}

/// `geoWithinShape`: the point of `score` and its distance to the centre, if inside.
fn within_shape(shape: &Shape, score: f64) -> Option<([f64; 2], f64)> {
    let xy = geohash::decode_score(score)?;
    let d = match shape.kind {
        ShapeKind::Circle { radius } => geohash::distance_if_in_radius(
            shape.xy[0],
            shape.xy[1],
            xy[0],
            xy[1],
            radius * shape.conversion,
        )?,
        ShapeKind::Rect { width, height } => geohash::distance_if_in_rectangle(
            width * shape.conversion,
            height * shape.conversion,
            shape.xy[0],
            shape.xy[1],
            xy[0],
            xy[1],
        )?,
    };
    Some((xy, d))
}

/// `geoGetPointsInRange`: appends the points with `min <= score < max` inside the shape,
/// stopping once `limit` (non-zero) points are collected.
fn points_in_range(
    z: &ZsetValue,
    min: f64,
    max: f64,
    shape: &Shape,
    ga: &mut Vec<Point>,
    limit: usize,
) {
    for (m, score) in z.iter_score_range(min, max) {
        if let Some((xy, dist)) = within_shape(shape, score) {
            let mut member = Vec::new();
            m.write_to(&mut member);
            ga.push(Point {
                longitude: xy[0],
                latitude: xy[1],
                dist,
                score,
                member,
            });
        }
        if !ga.is_empty() && limit != 0 && ga.len() >= limit {
            break;
        }
    }
}

/// `membersOfAllNeighbors`: scans the centre cell and its 8 neighbours (skipping zeroed
/// ones and a neighbour equal to the last one scanned).
fn members_of_all_neighbors(
    z: &ZsetValue,
    n: &geohash::Radius,
    shape: &Shape,
    ga: &mut Vec<Point>,
    limit: usize,
) {
    let nb = &n.neighbors;
    let cells = [
        n.hash,
        nb.north,
        nb.south,
        nb.east,
        nb.west,
        nb.north_east,
        nb.north_west,
        nb.south_east,
        nb.south_west,
    ];
    let mut last_processed = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        if last_processed != 0
            && cell.bits == cells[last_processed].bits
            && cell.step == cells[last_processed].step
        {
            continue;
        }
        if !ga.is_empty() && limit != 0 && ga.len() >= limit {
            break;
        }
        // scoresOfGeoHashBox
        let min = geohash::align52(*cell);
        let max = geohash::align52(Bits {
            bits: cell.bits + 1,
            step: cell.step,
        });
        points_in_range(z, min as f64, max as f64, shape, ga, limit);
        last_processed = i;
    }
}

/// `sort_gp_asc`.
fn cmp_asc(a: &Point, b: &Point) -> Ordering {
    if a.dist > b.dist {
        Ordering::Greater
    } else if a.dist == b.dist {
        Ordering::Equal
    } else {
        Ordering::Less
    }
}

/// Redis's `pqsort` (NetBSD qsort restricted to the elements that can land in
/// `[lrange, rrange]`), so that ties come out in Redis's order.
fn pqsort<T>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> Ordering, lrange: usize, rrange: usize) {
    pqsort_rec(v, 0, v.len(), cmp, lrange, rrange);
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &dyn Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// `_pqsort` over `v[a..a + n]` (indexes instead of pointers).
fn pqsort_rec<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &dyn Fn(&T, &T) -> Ordering,
    lrange: usize,
    rrange: usize,
) {
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let mut pa = a + 1;
        let mut pb = a + 1;
        // pc and pd may go one below `a + 1`; keep them as signed offsets.
        let mut pc = (a + n - 1) as isize;
        let mut pd = (a + n - 1) as isize;
        loop {
            while pb as isize <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as isize <= pc {
                let r = cmp(&v[pc as usize], &v[a]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as isize > pc {
                break;
            }
            v.swap(pb, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = ((pd - pc) as usize).min(pn - pd as usize - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 {
            // Sub-array [a, a + r): skipped when entirely outside [lrange, rrange].
            if !(rrange < a || lrange >= a + r) {
                pqsort_rec(v, a, r, cmp, lrange, rrange);
            }
        }
        let r = (pd - pc) as usize;
        if r > 1 {
            a = pn - r;
            n = r;
            if !(rrange < a || lrange >= a + n) {
                continue;
            }
        }
        return;
    }
}

const RADIUS_COORDS: u32 = 1 << 0;
const RADIUS_MEMBER: u32 = 1 << 1;
const RADIUS_NOSTORE: u32 = 1 << 2;
const GEOSEARCH: u32 = 1 << 3;
const GEOSEARCHSTORE: u32 = 1 << 4;

#[derive(PartialEq, Clone, Copy)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// `georadiusGeneric`: GEORADIUS[BYMEMBER][_RO], GEOSEARCH and GEOSEARCHSTORE; the source
/// key is argv[`src`].
fn georadius_generic(c: &mut Ctx, src: usize, flags: u32) {
    let mut storekey: Option<&[u8]> = None;
    let mut storedist = false;
    let zh = match lookup(c, c.arg(src)) {
        Err(()) => return,
        Ok(h) => h,
    };
    let mut shape = Shape {
        xy: [0.0, 0.0],
        conversion: 0.0,
        kind: ShapeKind::Circle { radius: 0.0 },
    };
    let base_args;
    if flags & RADIUS_COORDS != 0 {
        base_args = 6;
        let Some(xy) = long_lat_arg(c, 2) else { return };
        shape.xy = xy;
        let Some((r, conv)) = distance_arg(c, base_args - 2) else {
            return;
        };
        shape.kind = ShapeKind::Circle { radius: r };
        shape.conversion = conv;
    } else if flags & RADIUS_MEMBER != 0 && zh.is_none() {
        base_args = 5;
    } else if flags & RADIUS_MEMBER != 0 {
        base_args = 5;
        let h = zh.expect("checked");
        match member_long_lat(zset_at(c, h), c.arg(2)) {
            Some(xy) => shape.xy = xy,
            None => return c.out.error("ERR could not decode requested zset member"),
        }
        let Some((r, conv)) = distance_arg(c, base_args - 2) else {
            return;
        };
        shape.kind = ShapeKind::Circle { radius: r };
        shape.conversion = conv;
    } else {
        // GEOSEARCH / GEOSEARCHSTORE
        base_args = if flags & GEOSEARCHSTORE != 0 {
            storekey = Some(c.arg(1));
            3
        } else {
            2
        };
    }

    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let argc = c.argc();
    if argc > base_args {
        let remaining = argc - base_args;
        let mut i = 0;
        while i < remaining {
            let arg = opt(c.arg(base_args + i));
            let a = arg.as_slice();
            let is_search = flags & GEOSEARCH != 0;
            let can_store = flags & RADIUS_NOSTORE == 0 && !is_search;
            if a == b"withdist" {
                withdist = true;
            } else if a == b"withhash" {
                withhash = true;
            } else if a == b"withcoord" {
                withcoords = true;
            } else if a == b"any" {
                any = true;
            } else if a == b"asc" {
                sort = Sort::Asc;
            } else if a == b"desc" {
                sort = Sort::Desc;
            } else if a == b"count" && i + 1 < remaining {
                let Some(n) = c.int_arg(base_args + i + 1) else {
                    return;
                };
                if n <= 0 {
                    return c.out.error("ERR COUNT must be > 0");
                }
                count = n;
                i += 1;
            } else if a == b"store" && i + 1 < remaining && can_store {
                storekey = Some(c.arg(base_args + i + 1));
                storedist = false;
                i += 1;
            } else if a == b"storedist" && i + 1 < remaining && can_store {
                storekey = Some(c.arg(base_args + i + 1));
                storedist = true;
                i += 1;
            } else if a == b"storedist" && is_search && flags & GEOSEARCHSTORE != 0 {
                storedist = true;
            } else if a == b"frommember" && i + 1 < remaining && is_search && !fromloc {
                if let Some(h) = zh {
                    match member_long_lat(zset_at(c, h), c.arg(base_args + i + 1)) {
                        Some(xy) => shape.xy = xy,
                        None => return c.out.error("ERR could not decode requested zset member"),
                    }
                }
                frommember = true;
                i += 1;
            } else if a == b"fromlonlat" && i + 2 < remaining && is_search && !frommember {
                let Some(xy) = long_lat_arg(c, base_args + i + 1) else {
                    return;
                };
                shape.xy = xy;
                fromloc = true;
                i += 2;
            } else if a == b"byradius" && i + 2 < remaining && is_search && !bybox {
                let Some((r, conv)) = distance_arg(c, base_args + i + 1) else {
                    return;
                };
                shape.kind = ShapeKind::Circle { radius: r };
                shape.conversion = conv;
                byradius = true;
                i += 2;
            } else if a == b"bybox" && i + 3 < remaining && is_search && !byradius {
                let Some((w, h, conv)) = box_arg(c, base_args + i + 1) else {
                    return;
                };
                shape.kind = ShapeKind::Rect {
                    width: w,
                    height: h,
                };
                shape.conversion = conv;
                bybox = true;
                i += 3;
            } else {
                return c.out.syntax_error();
            }
            i += 1;
        }
    }

    if storekey.is_some() && (withdist || withhash || withcoords) {
        let what = if flags & GEOSEARCHSTORE != 0 {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return c.out.error(&format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ));
    }
    if flags & GEOSEARCH != 0 && !(frommember || fromloc) {
        let name = trunc(c.arg(0), usize::MAX);
        return c.out.error(&format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
    }
    if flags & GEOSEARCH != 0 && !(byradius || bybox) {
        let name = trunc(c.arg(0), usize::MAX);
        return c.out.error(&format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
    }
    if any && count == 0 {
        return c.out.error("ERR the ANY argument requires COUNT argument");
    }

    let Some(zh) = zh else {
        match storekey {
            Some(dst) => {
                c.out.int(0);
                delete_store_key(c, dst);
            }
            None => c.out.array(0),
        }
        return;
    };

    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }

    let areas = geohash::calculate_areas_by_shape_wgs84(&shape);
    let mut ga: Vec<Point> = Vec::new();
    let limit = if any { count as usize } else { 0 };
    members_of_all_neighbors(zset_at(c, zh), &areas, &shape, &mut ga, limit);

    if ga.is_empty() && storekey.is_none() {
        return c.out.array(0);
    }
    let result_length = ga.len();
    let returned_items = if count == 0 || (result_length as i64) < count {
        result_length
    } else {
        count as usize
    };

    if sort != Sort::None {
        let cmp: &dyn Fn(&Point, &Point) -> Ordering = match sort {
            Sort::Asc => &cmp_asc,
            _ => &|a: &Point, b: &Point| cmp_asc(a, b).reverse(),
        };
        if returned_items == result_length {
            // glibc 2.36's qsort is a merge sort: stable.
            ga.sort_by(cmp);
        } else {
            pqsort(&mut ga, cmp, 0, returned_items - 1);
        }
    }

    match storekey {
        None => {
            let option_length = withdist as usize + withcoords as usize + withhash as usize;
            c.out.array(returned_items);
            for gp in ga.iter().take(returned_items) {
                let dist = gp.dist / shape.conversion;
                if option_length > 0 {
                    c.out.array(option_length + 1);
                }
                c.out.bulk(&gp.member);
                if withdist {
                    c.out.bulk(distance_text(dist).as_bytes());
                }
                if withhash {
                    c.out.int(c_double_to_i64(gp.score));
                }
                if withcoords {
                    c.out.array(2);
                    reply_human(c.out, gp.longitude);
                    reply_human(c.out, gp.latitude);
                }
            }
        }
        Some(dst) => {
            if returned_items > 0 {
                let lim = ZsetLimits::of(&c.srv.settings);
                let mut z = ZsetValue::Skiplist(Box::default());
                let (mut maxelelen, mut totelelen) = (0, 0);
                for gp in ga.iter().take(returned_items) {
                    let dist = gp.dist / shape.conversion;
                    let score = if storedist { dist } else { gp.score };
                    maxelelen = maxelelen.max(gp.member.len());
                    totelelen += gp.member.len();
                    let _ = z.add(score, &gp.member, AddFlags::default(), &lim);
                }
                z.convert_to_listpack_if_needed(maxelelen, totelelen, &lim);
                let ev = if flags & GEOSEARCH != 0 {
                    EV_GEOSEARCHSTORE
                } else {
                    EV_GEORADIUSSTORE
                };
                let existing = c.lookup_write(dst);
                let lru = c.srv.new_key_lru();
                let db = c.db;
                let v = NewValue::Boxed(Box::new(Value::ZSet(z)));
                c.srv
                    .ks
                    .set(db, dst, existing, v, None, false, lru, Some(ev));
                c.dirty(returned_items as u64);
            } else {
                delete_store_key(c, dst);
            }
            c.out.int(returned_items as i64);
        }
    }
}

/// Deletes the destination of an empty STORE result (`dbDelete` + `del` event).
fn delete_store_key(c: &mut Ctx, dst: &[u8]) {
    if let Some(h) = c.lookup_write(dst) {
        c.srv
            .ks
            .delete(h, Deletion::Server, Some(crate::keyspace::ev::DEL));
        c.dirty(1);
    }
}

/// C's `(long long)d` on x86-64 (`cvttsd2si`: out of range gives `LLONG_MIN`).
fn c_double_to_i64(d: f64) -> i64 {
    if d.is_nan() || !(-TWO63..TWO63).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

fn georadius(c: &mut Ctx) {
    georadius_generic(c, 1, RADIUS_COORDS);
}

fn georadiusbymember(c: &mut Ctx) {
    georadius_generic(c, 1, RADIUS_MEMBER);
}

fn georadius_ro(c: &mut Ctx) {
    georadius_generic(c, 1, RADIUS_COORDS | RADIUS_NOSTORE);
}

fn georadiusbymember_ro(c: &mut Ctx) {
    georadius_generic(c, 1, RADIUS_MEMBER | RADIUS_NOSTORE);
}

fn geosearch(c: &mut Ctx) {
    georadius_generic(c, 1, GEOSEARCH);
}

fn geosearchstore(c: &mut Ctx) {
    georadius_generic(c, 2, GEOSEARCH | GEOSEARCHSTORE);
}

/// Handlers by command name.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("geoadd", geoadd),
    ("geopos", geopos),
    ("geohash", geohash_cmd),
    ("geodist", geodist),
    ("georadius", georadius),
    ("georadius_ro", georadius_ro),
    ("georadiusbymember", georadiusbymember),
    ("georadiusbymember_ro", georadiusbymember_ro),
    ("geosearch", geosearch),
    ("geosearchstore", geosearchstore),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_text_formats() {
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(166274.1516), "166274.1516");
        assert_eq!(distance_text(0.00004), "0.0000");
        assert_eq!(distance_text(1.5), "1.5000");
    }

    #[test]
    fn human_double() {
        assert_eq!(
            human_double_text(13.361389338970184),
            "13.36138933897018433"
        );
        assert_eq!(human_double_text(-0.0), "0");
        assert_eq!(human_double_text(15.0), "15");
    }

    // Redis 7.4.1's GEOHASH of Palermo, the north-east and south-west limits, and 0,0.
    #[test]
    fn geohash_strings_match_redis() {
        let g = |score: f64| String::from_utf8(geohash_string(score).unwrap().to_vec()).unwrap();
        assert_eq!(g(3479099956230698.0), "sqc8b49rny0");
        assert_eq!(g(13510798882111488.0), "bp05b5048p0");
        assert_eq!(g(0.0), "00bh0hbj200");
        assert_eq!(g(3377699720527872.0), "s0000000000");
    }

    #[test]
    fn pqsort_sorts_the_requested_prefix() {
        let mut v: Vec<i64> = (0..200).map(|i| (i * 7919) % 211).collect();
        let mut sorted = v.clone();
        sorted.sort();
        pqsort(&mut v, &|a: &i64, b: &i64| a.cmp(b), 0, 9);
        assert_eq!(&v[..10], &sorted[..10]);
        let mut w: Vec<i64> = (0..50).map(|i| (i * 31) % 53).collect();
        let mut ws = w.clone();
        ws.sort();
        pqsort(&mut w, &|a: &i64, b: &i64| a.cmp(b), 0, 49);
        assert_eq!(w, ws);
    }
}
