//! The geohash maths of Redis 7.4's geohash.c and geohash_helper.c, step for step, so that
//! scores, decoded coordinates, search areas and distances are the same doubles as Redis's.
//!
//! - A point is encoded at `step` bits per axis (26 for stored scores, [`GEO_STEP_MAX`]):
//!   each coordinate's offset in its range is scaled to `[0, 2^step]`, truncated to an
//!   integer, and the two are interleaved (latitude in the even bits, longitude in the odd
//!   bits, `interleave64`). A zset score is those 52 bits as an integer.
//! - Decoding gives the cell's rectangle; a point's coordinates are the cell's centre,
//!   clamped to the valid range (`geohashDecodeAreaToLongLat`).
//! - A search covers the cell of the centre at an estimated step plus its 8 neighbours
//!   (`geohashCalculateAreasByShapeWGS84`), each scanned as a score range.
//! - Distances are Redis's haversine on a sphere of [`EARTH_RADIUS_IN_METERS`].

/// Bits per axis of a stored score (`GEO_STEP_MAX`).
pub const GEO_STEP_MAX: u8 = 26;
/// Latitude limits (`GEO_LAT_MIN` / `GEO_LAT_MAX`, the Web Mercator limits).
pub const GEO_LAT_MIN: f64 = -85.05112878;
/// See [`GEO_LAT_MIN`].
pub const GEO_LAT_MAX: f64 = 85.05112878;
/// Longitude limits (`GEO_LONG_MIN` / `GEO_LONG_MAX`).
pub const GEO_LONG_MIN: f64 = -180.0;
/// See [`GEO_LONG_MIN`].
pub const GEO_LONG_MAX: f64 = 180.0;
/// Earth's quadratic mean radius for WGS-84, in metres (geohash_helper.c).
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
/// `MERCATOR_MAX`, in metres.
const MERCATOR_MAX: f64 = 20037726.37;
/// `D_R`: degrees to radians.
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A coordinate range (`GeoHashRange`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// A geohash: `step` bits per axis, interleaved in `bits` (`GeoHashBits`). All zero means
/// "no cell" (`HASHISZERO`, `GZERO`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    /// `HASHISZERO`.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// The rectangle of a cell (`GeoHashArea`), in degrees.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

/// The 8 neighbours of a cell (`GeoHashNeighbors`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbors {
    pub north: Bits,
    pub east: Bits,
    pub west: Bits,
    pub south: Bits,
    pub north_east: Bits,
    pub south_east: Bits,
    pub north_west: Bits,
    pub south_west: Bits,
}

/// A search's cells (`GeoHashRadius` without its unused `area`): the centre's cell and its
/// neighbours, some zeroed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Radius {
    pub hash: Bits,
    pub neighbors: Neighbors,
}

/// A search shape (`GeoShape`): a centre (longitude, latitude in degrees), the unit's
/// metres per unit (`conversion`) and a radius or a width x height box, in that unit.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub xy: [f64; 2],
    pub conversion: f64,
    pub kind: ShapeKind,
}

/// The two shapes of GEOSEARCH (`CIRCULAR_TYPE`, `RECTANGLE_TYPE`), in the request's unit.
#[derive(Clone, Copy, Debug)]
pub enum ShapeKind {
    Circle { radius: f64 },
    Rect { width: f64, height: f64 },
}

/// `interleave64`: the low 32 bits of `x` in the even bit positions, `y`'s in the odd ones.
pub fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = xlo as u64;
    let mut y = ylo as u64;
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// `deinterleave64`: the even bits in the low half of the result, the odd bits in the high
/// half.
pub fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashGetCoordRange`: (longitude, latitude) ranges of the stored encoding.
pub fn coord_range() -> (Range, Range) {
    (
        Range {
            min: GEO_LONG_MIN,
            max: GEO_LONG_MAX,
        },
        Range {
            min: GEO_LAT_MIN,
            max: GEO_LAT_MAX,
        },
    )
}

fn range_is_zero(r: &Range) -> bool {
    r.max == 0.0 && r.min == 0.0
}

/// `geohashEncode`: the cell of (longitude, latitude) at `step` bits per axis within the
/// given ranges; None outside the ranges or the global limits, or for a bad step.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<Bits> {
    if step > 32 || step == 0 || range_is_zero(&lat_range) || range_is_zero(&long_range) {
        return None;
    }
    if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&longitude)
        || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&latitude)
    {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    // C converts the doubles to uint32_t (truncation; they are in [0, 2^step]).
    Some(Bits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// `geohashEncodeWGS84`: [`encode`] within the stored ranges.
pub fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<Bits> {
    let (lo, la) = coord_range();
    encode(lo, la, longitude, latitude, step)
}

/// `geohashDecode`: the rectangle of a cell within the given ranges; None for a zero hash.
pub fn decode(long_range: Range, lat_range: Range, hash: Bits) -> Option<Area> {
    if hash.is_zero() || range_is_zero(&lat_range) || range_is_zero(&long_range) {
        return None;
    }
    let step = hash.step;
    let hash_sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = hash_sep as u32;
    let ilono = (hash_sep >> 32) as u32;
    let div = (1u64 << step) as f64;
    // `ilato + 1` is uint32_t arithmetic in C (wraps).
    Some(Area {
        latitude: Range {
            min: lat_range.min + (ilato as f64 * 1.0 / div) * lat_scale,
            max: lat_range.min + (ilato.wrapping_add(1) as f64 * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (ilono as f64 * 1.0 / div) * long_scale,
            max: long_range.min + (ilono.wrapping_add(1) as f64 * 1.0 / div) * long_scale,
        },
    })
}

/// `geohashDecodeAreaToLongLat`: the centre of a cell, clamped to the valid range.
pub fn area_to_long_lat(area: &Area) -> [f64; 2] {
    let mut x = (area.longitude.min + area.longitude.max) / 2.0;
    x = x.clamp(GEO_LONG_MIN, GEO_LONG_MAX);
    let mut y = (area.latitude.min + area.latitude.max) / 2.0;
    y = y.clamp(GEO_LAT_MIN, GEO_LAT_MAX);
    [x, y]
}

/// `geohashDecodeToLongLatWGS84`: the (longitude, latitude) of a cell of the stored encoding.
pub fn decode_to_long_lat_wgs84(hash: Bits) -> Option<[f64; 2]> {
    let (lo, la) = coord_range();
    decode(lo, la, hash).map(|a| area_to_long_lat(&a))
}

/// C's `(uint64_t)d` as x86-64 compilers emit it (values below 2^63 through a signed
/// conversion, others by subtracting 2^63; out of range gives 2^63's pattern), so odd zset
/// scores decode as they do in Redis.
pub fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    fn cvtt(d: f64) -> u64 {
        if d.is_nan() || !(-TWO63..TWO63).contains(&d) {
            1u64 << 63
        } else {
            d as i64 as u64
        }
    }
    if d >= TWO63 {
        cvtt(d - TWO63) ^ (1u64 << 63)
    } else {
        cvtt(d)
    }
}

/// geo.c's `decodeGeohash`: the (longitude, latitude) of a zset score.
pub fn decode_score(score: f64) -> Option<[f64; 2]> {
    decode_to_long_lat_wgs84(Bits {
        bits: c_double_to_u64(score),
        step: GEO_STEP_MAX,
    })
}

/// `geohashAlign52Bits`: a cell's bits shifted to a 52-bit score prefix.
pub fn align52(hash: Bits) -> u64 {
    hash.bits << (52 - hash.step as u32 * 2)
}

/// The score of a point (GEOADD): its step-26 cell aligned to 52 bits.
pub fn score_of(longitude: f64, latitude: f64) -> Option<u64> {
    encode_wgs84(longitude, latitude, GEO_STEP_MAX).map(align52)
}

fn move_x(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> (64 - hash.step as u32 * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> (64 - hash.step as u32 * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> (64 - hash.step as u32 * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> (64 - hash.step as u32 * 2);
    hash.bits = x | y;
}

/// `geohashNeighbors`: the 8 cells around `hash` (wrapping around at the edges).
pub fn neighbors(hash: &Bits) -> Neighbors {
    let mv = |dx: i8, dy: i8| {
        let mut h = *hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: mv(1, 0),
        west: mv(-1, 0),
        south: mv(0, -1),
        north: mv(0, 1),
        north_west: mv(-1, 1),
        north_east: mv(1, 1),
        south_east: mv(1, -1),
        south_west: mv(-1, -1),
    }
}

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// `geohashEstimateStepsByRadius`: the step whose cells cover `range_meters` around a point
/// at `lat` (1..=26).
pub fn estimate_steps_by_radius(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// `geohashBoundingBox`: [min lon, min lat, max lon, max lat] of a shape.
pub fn bounding_box(shape: &Shape) -> [f64; 4] {
    let longitude = shape.xy[0];
    let latitude = shape.xy[1];
    let (height, width) = match shape.kind {
        ShapeKind::Circle { radius } => (shape.conversion * radius, shape.conversion * radius),
        ShapeKind::Rect { width, height } => (
            shape.conversion * (height / 2.0),
            shape.conversion * (width / 2.0),
        ),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    [
        if southern {
            longitude - long_delta_bottom
        } else {
            longitude - long_delta_top
        },
        latitude - lat_delta,
        if southern {
            longitude + long_delta_bottom
        } else {
            longitude + long_delta_top
        },
        latitude + lat_delta,
    ]
}

/// `geohashCalculateAreasByShapeWGS84`: the cells to scan for a shape — the centre's cell at
/// the estimated step (one coarser when a neighbour does not reach the bounding box, the
/// "decrease step" case) and the neighbours that can hold matches (others zeroed).
pub fn calculate_areas_by_shape_wgs84(shape: &Shape) -> Radius {
    let b = bounding_box(shape);
    let (min_lon, min_lat, max_lon, max_lat) = (b[0], b[1], b[2], b[3]);
    let longitude = shape.xy[0];
    let latitude = shape.xy[1];
    let mut radius_meters = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Rect { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    };
    radius_meters *= shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, latitude);
    let (long_range, lat_range) = coord_range();
    // The centre was validated, so encoding cannot fail; Redis ignores the result anyway
    // (a failed encode leaves bits 0 with the step set).
    let enc = |steps: u8| {
        encode(long_range, lat_range, longitude, latitude, steps).unwrap_or(Bits {
            bits: 0,
            step: steps,
        })
    };
    let dec = |h: Bits| decode(long_range, lat_range, h).unwrap_or_default();
    let mut hash = enc(steps);
    let mut nb = neighbors(&hash);
    let mut area = dec(hash);

    let north = dec(nb.north);
    let south = dec(nb.south);
    let east = dec(nb.east);
    let west = dec(nb.west);
    let decrease_step = north.latitude.max < max_lat
        || south.latitude.min > min_lat
        || east.longitude.max < max_lon
        || west.longitude.min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        hash = enc(steps);
        nb = neighbors(&hash);
        area = dec(hash);
    }
    if steps >= 2 {
        let z = Bits::default();
        if area.latitude.min < min_lat {
            nb.south = z;
            nb.south_west = z;
            nb.south_east = z;
        }
        if area.latitude.max > max_lat {
            nb.north = z;
            nb.north_east = z;
            nb.north_west = z;
        }
        if area.longitude.min < min_lon {
            nb.west = z;
            nb.south_west = z;
            nb.north_west = z;
        }
        if area.longitude.max > max_lon {
            nb.east = z;
            nb.south_east = z;
            nb.north_east = z;
        }
    }
    Radius {
        hash,
        neighbors: nb,
    }
}

/// `geohashGetLatDistance`: metres between two latitudes on one meridian.
pub fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// `geohashGetDistance`: Redis's haversine distance in metres between two points given in
/// degrees (the same-longitude shortcut included).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// `geohashGetDistanceIfInRadiusWGS84`: the distance from (x1, y1) to (x2, y2) if at most
/// `radius` metres.
pub fn distance_if_in_radius(x1: f64, y1: f64, x2: f64, y2: f64, radius: f64) -> Option<f64> {
    let d = distance(x1, y1, x2, y2);
    (d <= radius).then_some(d)
}

/// `geohashGetDistanceIfInRectangle`: the distance from the centre (x1, y1) to (x2, y2) if
/// the point is in the `width_m` x `height_m` box around the centre (latitude distance, then
/// longitude distance along the point's parallel).
pub fn distance_if_in_rectangle(
    width_m: f64,
    height_m: f64,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
) -> Option<f64> {
    if lat_distance(y2, y1) > height_m / 2.0 {
        return None;
    }
    if distance(x2, y2, x1, y2) > width_m / 2.0 {
        return None;
    }
    Some(distance(x1, y1, x2, y2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_roundtrip() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ffffff, 0x1234567),
            (u32::MAX, 7),
        ] {
            let i = interleave64(x, y);
            let d = deinterleave64(i);
            assert_eq!(d as u32, x);
            assert_eq!((d >> 32) as u32, y);
        }
    }

    /// `%.17f` of a coordinate, what GEOPOS prints before trimming zeros.
    fn f17(v: f64) -> String {
        format!("{v:.17}")
    }

    // Expected values are Redis 7.4.1's (GEOADD then ZRANGE WITHSCORES, GEOPOS, GEODIST).
    #[test]
    fn scores_match_redis() {
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(score_of(0.0, 0.0), Some(3377699720527872));
        assert_eq!(score_of(-180.0, -85.05112878), Some(0));
        // The north-east corner overflows the 26 bits (offset 2^26), as in Redis.
        assert_eq!(score_of(180.0, 85.05112878), Some(13510798882111488));
        assert_eq!(score_of(180.1, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
    }

    #[test]
    fn decoding_matches_redis() {
        let p = decode_score(3479099956230698.0).unwrap();
        assert_eq!(f17(p[0]), "13.36138933897018433");
        assert_eq!(f17(p[1]), "38.11555639549629859");
        let sw = decode_score(0.0).unwrap();
        assert_eq!(f17(sw[0]), "-179.99999731779098511");
        assert_eq!(f17(sw[1]), "-85.05112751263942528");
        let ne = decode_score(13510798882111488.0).unwrap();
        assert_eq!(f17(ne[0]), "180.00000000000000000");
        assert_eq!(f17(ne[1]), "85.05112877999999910");
        let z = decode_score(3377699720527872.0).unwrap();
        assert_eq!(f17(z[0]), "0.00000268220901489");
        assert_eq!(f17(z[1]), "0.00000126736058093");
        // A negative score converts as x86's (uint64_t) does: all high bits set, clamped.
        let neg = decode_score(-1.0).unwrap();
        assert_eq!(neg, [180.0, GEO_LAT_MAX]);
    }

    #[test]
    fn distances_match_redis() {
        let a = decode_score(3479099956230698.0).unwrap();
        let b = decode_score(3479447370796909.0).unwrap();
        assert_eq!(
            format!("{:.4}", distance(a[0], a[1], b[0], b[1])),
            "166274.1516"
        );
        let ne = decode_score(13510798882111488.0).unwrap();
        let sw = decode_score(0.0).unwrap();
        assert_eq!(
            format!("{:.4}", distance(ne[0], ne[1], sw[0], sw[1])),
            "18919844.5891"
        );
    }

    #[test]
    fn steps_and_neighbours() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(1e9, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(200_000.0, 70.0), 5);
        let h = encode_wgs84(15.0, 37.0, 5).unwrap();
        let n = neighbors(&h);
        let area = |b: Bits| decode(coord_range().0, coord_range().1, b).unwrap();
        let c = area(h);
        assert_eq!(area(n.north).latitude.min, c.latitude.max);
        assert_eq!(area(n.east).longitude.min, c.longitude.max);
        assert_eq!(area(n.south_west).latitude.max, c.latitude.min);
        assert_eq!(area(n.south_west).longitude.max, c.longitude.min);
    }
}
