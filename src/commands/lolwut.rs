//! LOLWUT [VERSION v] [...]: Redis's computer art. Version 5 draws Georg
//! Nees' "Schotter" (squares falling into disorder row by row) in Braille
//! characters, version 6 a city skyline in the terminal's four grays; any
//! other version (and the default, 7) answers only the version line.
//! The pictures are random, as in Redis; their size, layout, characters
//! and captions are Redis's.

use bytes::Bytes;
use rand::Rng;

use super::server::REDIS_VERSION;
use super::{arg_i64, flags, ClientState, Spec};
use crate::protocol::Reply;

/// A grid of small colour values; drawing outside it does nothing.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, background: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![background; (width * height) as usize],
        }
    }

    fn set(&mut self, x: i32, y: i32, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line from (x1, y1) to (x2, y2), both ends included.
    fn line(&mut self, (mut x1, mut y1): (i32, i32), (x2, y2): (i32, i32)) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, 1);
            if x1 == x2 && y1 == y2 {
                return;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `size` centred on (x, y), turned by `angle`: its
    /// corners lie on the circle through them, a quarter turn apart.
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32) {
        let radius = (size / std::f32::consts::SQRT_2).round();
        let mut k = std::f32::consts::FRAC_PI_4 + angle;
        let mut corners = [(0, 0); 4];
        for c in &mut corners {
            *c = (
                (k.sin() * radius + x as f32).round() as i32,
                (k.cos() * radius + y as f32).round() as i32,
            );
            k += std::f32::consts::FRAC_PI_2;
        }
        for j in 0..4 {
            self.line(corners[j], corners[(j + 1) % 4]);
        }
    }
}

/// The `n`th optional integer argument, or `default`, clamped to `max`.
fn int_arg(args: &[Bytes], n: usize, default: i64, max: i64) -> Result<i64, Reply> {
    let v = match args.get(n) {
        Some(a) => arg_i64(a)?,
        None => default,
    };
    Ok(v.clamp(1, max))
}

/// LOLWUT 5 [columns] [squares per row] [squares per column].
fn schotter(args: &[Bytes]) -> Result<String, Reply> {
    let cols = int_arg(args, 0, 66, 1000)? as i32;
    let per_row = int_arg(args, 1, 8, 200)? as i32;
    let per_col = int_arg(args, 2, 12, 200)? as i32;
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32) as i32 + padding * 2;
    let mut canvas = Canvas::new(width, height, 0);
    let mut rng = rand::thread_rng();
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0) as i32 + padding;
            let mut sy = (y as f32 * side + side / 2.0) as i32 + padding;
            // Lower rows turn and shift further at random.
            let mut angle = 0.0;
            if y > 1 {
                let mut r = || {
                    let v = rng.gen::<f32>() / per_col as f32 * y as f32;
                    if rng.gen() {
                        -v
                    } else {
                        v
                    }
                };
                angle = r();
                sx = (sx as f32 + r() * side / 3.0) as i32;
                sy = (sy as f32 + r() * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle);
        }
    }
    let mut out = braille(&canvas);
    out.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    out.push_str(REDIS_VERSION);
    out.push('\n');
    Ok(out)
}

/// Each 2x4 block of pixels as one Braille character (dots 1-8: the left
/// column top down, then the right, the bottom row last).
fn braille(canvas: &Canvas) -> String {
    const DOTS: [(i32, i32); 8] = [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
        (0, 3),
        (1, 3),
    ];
    let mut out = String::new();
    for y in (0..canvas.height).step_by(4) {
        for x in (0..canvas.width).step_by(2) {
            let bits = DOTS
                .iter()
                .enumerate()
                .filter(|(_, (dx, dy))| canvas.get(x + dx, y + dy) != 0)
                .fold(0u32, |b, (i, _)| b | 1 << i);
            out.push(char::from_u32(0x2800 + bits).unwrap_or(' '));
        }
        if y != canvas.height - 1 {
            out.push('\n');
        }
    }
    out
}

/// One building of the skyline: where, how big, its gray, and whether it
/// has windows (random grays, two pixels wide).
struct Building {
    x: i32,
    width: i32,
    height: i32,
    windows: bool,
    color: u8,
}

fn building(canvas: &mut Canvas, b: &Building, rng: &mut impl Rng) {
    let bottom = canvas.height - 1;
    let top = bottom - b.height + 1;
    for y in (top..=bottom).rev() {
        for x in b.x..b.x + b.width {
            // The roof is four pixels narrower.
            if y == top && (x <= b.x + 1 || x >= b.x + b.width - 2) {
                continue;
            }
            let mut color = b.color;
            let inner = x > b.x + 1 && x < b.x + b.width - 2 && y > top + 1 && y < bottom - 1;
            if b.windows && inner {
                let (rx, ry) = (x - (b.x + 1), y - (top + 1));
                if (rx / 2) % 2 != 0 && ry % 2 != 0 {
                    color = loop {
                        let c = 1 + rng.gen_range(0..2u8);
                        if c != b.color {
                            break c;
                        }
                    };
                    // Both pixels of one window share its gray.
                    if rx % 2 != 0 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, color);
        }
    }
}

/// LOLWUT 6 [columns] [rows]: lighter buildings behind, then the black
/// ones with windows in front, on a white sky.
fn skyline(args: &[Bytes]) -> Result<String, Reply> {
    let cols = int_arg(args, 0, 80, 1000)? as i32;
    let rows = int_arg(args, 1, 20, 1000)? as i32;
    let mut canvas = Canvas::new(cols, rows, 3);
    let mut rng = rand::thread_rng();
    let h = canvas.height;
    for color in [2u8, 1] {
        let mut x = -10;
        while x < canvas.width {
            x += rng.gen_range(0..8);
            let width = 10 + rng.gen_range(0..9);
            let height = h / 2 + rand_below(&mut rng, h) / if color == 2 { 2 } else { 3 };
            let b = Building {
                x,
                width,
                height,
                windows: false,
                color,
            };
            building(&mut canvas, &b, &mut rng);
            x += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut x = -10;
    while x < canvas.width {
        x += rng.gen_range(0..8);
        let mut width = 5 + rng.gen_range(0..14);
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + rand_below(&mut rng, h) / 2;
        let b = Building {
            x,
            width,
            height,
            windows: true,
            color: 0,
        };
        building(&mut canvas, &b, &mut rng);
        x += width + 5;
    }
    let mut out = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            // Foreground and background both set, for the same look on
            // every terminal.
            let code = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            out.push_str(&format!("\x1b[{code} \x1b[0m"));
        }
        if y != canvas.height - 1 {
            out.push('\n');
        }
    }
    out.push_str("\nDedicated to the 8 bit game developers of past and present.\n");
    out.push_str("Original 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    out.push_str(REDIS_VERSION);
    out.push('\n');
    Ok(out)
}

/// Redis's `rand() % n`, then divided by the caller as Redis divides it
/// (`rand()%h/2` is `(rand()%h)/2`).
fn rand_below(rng: &mut impl Rng, n: i32) -> i32 {
    rng.gen_range(0..n.max(1))
}

fn lolwut(_: &mut ClientState, args: &[Bytes]) -> Reply {
    let (version, rest) = if args.len() >= 3 && args[1].eq_ignore_ascii_case(b"version") {
        match arg_i64(&args[2]) {
            Ok(v) => (v, &args[3..]),
            Err(e) => return e,
        }
    } else {
        (7, &args[1..])
    };
    let text = match version {
        5 => schotter(rest),
        6 => skyline(rest),
        _ => Ok(format!("Redis ver. {REDIS_VERSION}\n")),
    };
    match text {
        Ok(t) => Reply::Verbatim(Bytes::from(t)),
        Err(e) => e,
    }
}

pub fn register(t: &mut Vec<Spec>) {
    use flags::*;
    t.push(super::spec(
        "lolwut",
        -1,
        READONLY | FAST,
        (0, 0, 0),
        super::Handler::Conn(lolwut),
        super::Cross::Never,
        "server",
        "Display some computer art and the Redis version",
        "5.0.0",
    ));
}
