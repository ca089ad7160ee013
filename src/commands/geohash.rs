//! Redis's geohash arithmetic (geohash.c, geohash_helper.c): a point is a
//! 52-bit interleaved hash of its longitude and latitude (26 bits each,
//! latitude limited to the Web Mercator ±85.05112878°), stored as a sorted
//! set score. A radius or box search looks at the hash cell around the
//! centre and its eight neighbours, at a precision picked from the radius.
//! Every step is done as Redis does it, so scores, distances and the order
//! of unsorted results are the same.

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate of a stored point.
pub const STEP_MAX: u8 = 26;

const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A hash of `step` bits per coordinate.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    /// Redis's HASHISZERO: a neighbour dropped from the search.
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash as a 52-bit score prefix.
    pub fn align52(&self) -> u64 {
        self.bits << (52 - self.step as u32 * 2)
    }
}

#[derive(Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell: its longitude and latitude bounds.
#[derive(Clone, Copy)]
struct Area {
    long: Range,
    lat: Range,
}

/// Spreads the bits of `x` to the even positions and those of `y` to the
/// odd ones.
fn interleave(x: u32, y: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (x as u64, y as u64);
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// The inverse of [`interleave`]: even bits in the low half, odd bits in
/// the high half.
fn deinterleave(v: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (v, v >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// geohashEncode: None outside the ranges.
fn encode_in(long_r: Range, lat_r: Range, long: f64, lat: f64, step: u8) -> Option<Hash> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || long < long_r.min || long > long_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let long_offset = (long - long_r.min) / (long_r.max - long_r.min) * scale;
    Some(Hash {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// The hash of a point in Redis's WGS84/Mercator ranges.
pub fn encode(long: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in(LONG_RANGE, LAT_RANGE, long, lat, step)
}

/// The score GEOADD stores for a point.
pub fn score_of(long: f64, lat: f64) -> u64 {
    encode(long, lat, STEP_MAX).map_or(0, |h| h.align52())
}

/// The 11-character standard geohash (latitude range ±90) of a point, as
/// GEOHASH shows it; the last character is always '0' (52 bits only).
pub fn standard_string(long: f64, lat: f64) -> String {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let world = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode_in(LONG_RANGE, world, long, lat, 26).map_or(0, |h| h.bits);
    (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                ((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
            };
            ALPHABET[idx] as char
        })
        .collect()
}

fn decode(h: Hash) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let sep = deinterleave(h.bits);
    let (ilat, ilong) = (sep as u32, (sep >> 32) as u32);
    let scale = (1u64 << h.step) as f64;
    // C's uint32 arithmetic for the upper edge (it wraps, as there).
    let edge = |i: u32, min: f64, span: f64| Range {
        min: min + (i as f64 / scale) * span,
        max: min + (i.wrapping_add(1) as f64 / scale) * span,
    };
    Some(Area {
        lat: edge(ilat, LAT_MIN, LAT_MAX - LAT_MIN),
        long: edge(ilong, LONG_MIN, LONG_MAX - LONG_MIN),
    })
}

/// The point a stored score stands for: the centre of its cell.
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    // C's (uint64_t) conversion; scores GEOADD wrote are whole numbers.
    let area = decode(Hash {
        bits: score as u64,
        step: STEP_MAX,
    })?;
    let long = ((area.long.min + area.long.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((long, lat))
}

/// geohash_move_x / geohash_move_y: one cell east/west (`odd == false`,
/// longitude bits) or north/south (latitude bits).
fn moved(h: Hash, d: i8, lat: bool) -> Hash {
    if d == 0 {
        return h;
    }
    let (mine_mask, other_mask) = if lat {
        (0x5555555555555555u64, 0xaaaaaaaaaaaaaaaau64)
    } else {
        (0xaaaaaaaaaaaaaaaau64, 0x5555555555555555u64)
    };
    let shift = 64 - h.step as u32 * 2;
    let mut v = h.bits & mine_mask;
    let other = h.bits & other_mask;
    let zz = other_mask >> shift;
    if d > 0 {
        v = v.wrapping_add(zz.wrapping_add(1));
    } else {
        v |= zz;
        v = v.wrapping_sub(zz.wrapping_add(1));
    }
    v &= mine_mask >> shift;
    Hash {
        bits: v | other,
        step: h.step,
    }
}

fn neighbour(h: Hash, east: i8, north: i8) -> Hash {
    moved(moved(h, east, false), north, true)
}

/// geohashEstimateStepsByRadius.
fn steps_for_radius(mut range_meters: f64, lat: f64) -> u8 {
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

/// The area a search covers.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Radius, in the request's unit.
    Radius(f64),
    /// Width and height, in the request's unit.
    Box(f64, f64),
}

/// A search: centre, shape, and meters per unit.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub long: f64,
    pub lat: f64,
    pub shape: Shape,
    pub to_meters: f64,
}

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// Haversine distance in meters.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lat1r, lon1r, lat2r, lon2r) = (deg_rad(lat1), deg_rad(lon1), deg_rad(lat2), deg_rad(lon2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

impl Search {
    /// geohashBoundingBox: min long, min lat, max long, max lat.
    fn bounds(&self) -> [f64; 4] {
        let (h, w) = match self.shape {
            Shape::Radius(r) => (r, r),
            Shape::Box(w, h) => (h / 2.0, w / 2.0),
        };
        let (height, width) = (self.to_meters * h, self.to_meters * w);
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let long_delta = if self.lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            self.long - long_delta,
            self.lat - lat_delta,
            self.long + long_delta,
            self.lat + lat_delta,
        ]
    }

    /// geohashCalculateAreasByShapeWGS84: the centre cell and its eight
    /// neighbours in Redis's order (centre, N, S, E, W, NE, NW, SE, SW),
    /// the ones that cannot hold a match left out (zero).
    pub fn cells(&self) -> [Hash; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.to_meters;
        let mut steps = steps_for_radius(radius, self.lat);
        let around = |steps: u8| {
            let hash = encode(self.long, self.lat, steps).unwrap_or_default();
            let n = [
                hash,
                neighbour(hash, 0, 1),
                neighbour(hash, 0, -1),
                neighbour(hash, 1, 0),
                neighbour(hash, -1, 0),
                neighbour(hash, 1, 1),
                neighbour(hash, -1, 1),
                neighbour(hash, 1, -1),
                neighbour(hash, -1, -1),
            ];
            (n, decode(hash))
        };
        let (mut n, mut area) = around(steps);
        // The estimated step can be too fine near a cell's edge: one of
        // the four direct neighbours does not reach the search's bounds.
        let edge = |h: Hash| decode(h);
        let too_small = edge(n[1]).is_some_and(|a| a.lat.max < max_lat)
            || edge(n[2]).is_some_and(|a| a.lat.min > min_lat)
            || edge(n[3]).is_some_and(|a| a.long.max < max_lon)
            || edge(n[4]).is_some_and(|a| a.long.min > min_lon);
        if steps > 1 && too_small {
            steps -= 1;
            (n, area) = around(steps);
        }
        if steps >= 2 {
            if let Some(a) = area {
                let zero = Hash::default();
                if a.lat.min < min_lat {
                    [2, 8, 7].iter().for_each(|&i| n[i] = zero);
                }
                if a.lat.max > max_lat {
                    [1, 5, 6].iter().for_each(|&i| n[i] = zero);
                }
                if a.long.min < min_lon {
                    [4, 8, 6].iter().for_each(|&i| n[i] = zero);
                }
                if a.long.max > max_lon {
                    [3, 7, 5].iter().for_each(|&i| n[i] = zero);
                }
            }
        }
        n
    }

    /// The distance (in meters) of a point inside the shape, None outside.
    pub fn distance_within(&self, long: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.long, self.lat, long, lat);
                (d <= r * self.to_meters).then_some(d)
            }
            Shape::Box(w, h) => {
                let (w, h) = (w * self.to_meters, h * self.to_meters);
                let lon_distance = distance(long, lat, self.long, lat);
                let lat_distance = distance(long, lat, long, self.lat);
                if lon_distance > w / 2.0 || lat_distance > h / 2.0 {
                    return None;
                }
                Some(distance(self.long, self.lat, long, lat))
            }
        }
    }
}

/// The score range [min, max) of the points inside cell `h`.
pub fn score_range(h: Hash) -> (u64, u64) {
    let next = Hash {
        bits: h.bits.wrapping_add(1),
        step: h.step,
    };
    (h.align52(), next.align52())
}

/// The cells Redis's loop searches, in order: zero cells are skipped, and
/// so is a cell equal to the last one searched (huge radii make
/// neighbours coincide) unless that was the centre (Redis's check reads
/// index 0 as "none yet").
pub fn cells_to_search(cells: &[Hash; 9]) -> Vec<Hash> {
    let mut out: Vec<Hash> = Vec::with_capacity(9);
    let mut last = 0;
    for (i, c) in cells.iter().enumerate() {
        if c.is_zero() || (last != 0 && *c == cells[last]) {
            continue;
        }
        out.push(*c);
        last = i;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_as_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo => score 3479099956230698.
        assert_eq!(score_of(13.361389, 38.115556), 3479099956230698);
        let (lo, la) = decode_score(3479099956230698.0).unwrap();
        assert_eq!(format!("{lo:.17}"), "13.36138933897018433");
        assert_eq!(format!("{la:.17}"), "38.11555639549629859");
        assert_eq!(standard_string(lo, la), "sqc8b49rny0");
    }

    #[test]
    fn interleave_round_trips() {
        let v = interleave(0x3ffffff, 0x1234567);
        let d = deinterleave(v);
        assert_eq!(d as u32, 0x3ffffff);
        assert_eq!((d >> 32) as u32, 0x1234567);
    }
}
