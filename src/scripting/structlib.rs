//! The `struct` library (Roberto Ierusalimschy's struct.c, as in Redis):
//! `pack(fmt, ...)`, `unpack(fmt, s [, pos])`, `size(fmt)`.
//!
//! Format: `>` big endian, `<` little, `!n` alignment, `x` pad byte,
//! `b/B h/H l/L T i/In I/In` integers (lowercase signed), `f d` floats,
//! `s` zero-terminated string, `cn` n chars (`c0`: whole string / size
//! from the previous value).

use std::ffi::c_int;

use super::raw::{self, cfns, ffi, lua_State, push_bytes, set_fn, to_bytes, type_name, Raise, Res};

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

struct Header {
    little: bool,
    align: usize,
}

enum Opt {
    Int { size: usize, signed: bool },
    Float,
    Double,
    Pad,
    Chars(usize),
    Zstr,
    Skip,
}

struct Format<'a> {
    f: &'a [u8],
    i: usize,
    h: Header,
    fname: &'static str,
}

impl Format<'_> {
    fn num(&mut self, default: usize) -> usize {
        if !self.f.get(self.i).is_some_and(u8::is_ascii_digit) {
            return default;
        }
        let mut n = 0usize;
        while let Some(d) = self.f.get(self.i).filter(|c| c.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add((d - b'0') as usize);
            self.i += 1;
        }
        n
    }

    /// The next option and its size; None at the end.
    fn next(&mut self) -> Result<Option<(Opt, usize)>, Raise> {
        let Some(&c) = self.f.get(self.i) else {
            return Ok(None);
        };
        self.i += 1;
        let int = |size, signed| Ok(Some((Opt::Int { size, signed }, size)));
        match c {
            b'b' => int(1, true),
            b'B' => int(1, false),
            b'h' => int(2, true),
            b'H' => int(2, false),
            b'l' => int(8, true),
            b'L' | b'T' => int(8, false),
            b'i' | b'I' => {
                let size = self.num(4);
                if size > MAX_INT_SIZE {
                    return Err(Raise::Msg(format!(
                        "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                int(size, c == b'i')
            }
            b'f' => Ok(Some((Opt::Float, 4))),
            b'd' => Ok(Some((Opt::Double, 8))),
            b'x' => Ok(Some((Opt::Pad, 1))),
            b'c' => {
                let n = self.num(1);
                Ok(Some((Opt::Chars(n), n)))
            }
            b's' => Ok(Some((Opt::Zstr, 0))),
            b' ' => Ok(Some((Opt::Skip, 0))),
            b'>' => {
                self.h.little = false;
                Ok(Some((Opt::Skip, 0)))
            }
            b'<' => {
                self.h.little = true;
                Ok(Some((Opt::Skip, 0)))
            }
            b'!' => {
                let a = self.num(MAX_ALIGN);
                if !a.is_power_of_two() {
                    return Err(Raise::Msg(format!("alignment {a} is not a power of 2")));
                }
                self.h.align = a;
                Ok(Some((Opt::Skip, 0)))
            }
            _ => Err(Raise::Arg(
                1,
                self.fname,
                format!("invalid format option '{}'", c as char),
            )),
        }
    }

    /// Padding before a field of `size` at offset `len`.
    fn pad(&self, len: usize, opt: &Opt, size: usize) -> usize {
        if size == 0 || matches!(opt, Opt::Chars(_)) {
            return 0;
        }
        let size = size.min(self.h.align);
        (size - (len & (size - 1))) & (size - 1)
    }
}

fn format<'a>(l: *mut lua_State, fname: &'static str) -> Result<Format<'a>, Raise> {
    // SAFETY: argument 1 of the running C function.
    let f = unsafe { to_bytes(l, 1) }.ok_or_else(|| {
        // SAFETY: as above.
        Raise::Arg(
            1,
            fname,
            format!("string expected, got {}", unsafe { type_name(l, 1) }),
        )
    })?;
    Ok(Format {
        f,
        i: 0,
        h: Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        },
        fname,
    })
}

fn put_int(out: &mut Vec<u8>, v: u64, size: usize, little: bool) {
    let mut bytes: Vec<u8> = (0..size)
        .map(|i| if i < 8 { (v >> (8 * i)) as u8 } else { 0 })
        .collect();
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

unsafe fn pack(l: *mut lua_State) -> Res {
    let mut fmt = format(l, "pack")?;
    let mut out = Vec::new();
    let mut arg = 2;
    while let Some((opt, size)) = fmt.next()? {
        let pad = fmt.pad(out.len(), &opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            Opt::Int { size, .. } => {
                let n = raw::check_number(l, arg, "pack")?;
                arg += 1;
                let v = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                put_int(&mut out, v, size, fmt.h.little);
            }
            Opt::Float => {
                let n = raw::check_number(l, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if fmt.h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                });
            }
            Opt::Double => {
                let n = raw::check_number(l, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if fmt.h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                });
            }
            Opt::Pad => out.push(0),
            Opt::Chars(n) => {
                let s = string_arg(l, arg)?;
                let n = if n == 0 { s.len() } else { n };
                if s.len() < n {
                    return Err(Raise::Arg(arg, "pack", "string too short".into()));
                }
                out.extend_from_slice(&s[..n]);
                arg += 1;
            }
            Opt::Zstr => {
                let s = string_arg(l, arg)?;
                if s.contains(&0) {
                    return Err(Raise::Arg(arg, "pack", "string contains zeros".into()));
                }
                out.extend_from_slice(s);
                out.push(0);
                arg += 1;
            }
            Opt::Skip => {}
        }
    }
    push_bytes(l, &out);
    Ok(1)
}

unsafe fn string_arg<'a>(l: *mut lua_State, idx: c_int) -> Result<&'a [u8], Raise> {
    to_bytes(l, idx).ok_or_else(|| {
        Raise::Arg(
            idx,
            "pack",
            format!("string expected, got {}", type_name(l, idx)),
        )
    })
}

unsafe fn unpack(l: *mut lua_State) -> Res {
    let mut fmt = format(l, "unpack")?;
    let Some(data) = to_bytes(l, 2) else {
        return Err(Raise::Arg(
            2,
            "unpack",
            format!("string expected, got {}", type_name(l, 2)),
        ));
    };
    let start = if ffi::lua_isnoneornil(l, 3) != 0 {
        1
    } else {
        raw::check_number(l, 3, "unpack")? as i64
    };
    if start < 1 {
        return Err(Raise::Arg(
            3,
            "unpack",
            "offset must be 1 or greater".into(),
        ));
    }
    let mut pos = start as usize - 1;
    let mut n: c_int = 0;
    let short = || Raise::Arg(2, "unpack", "data string too short".into());
    while let Some((opt, size)) = fmt.next()? {
        pos += fmt.pad(pos, &opt, size);
        ffi::luaL_checkstack(l, 2, std::ptr::null());
        if pos + size > data.len() {
            return Err(short());
        }
        match opt {
            Opt::Int { size, signed } => {
                let mut b = data[pos..pos + size].to_vec();
                if !fmt.h.little {
                    b.reverse();
                }
                let mut v = b
                    .iter()
                    .take(8)
                    .rev()
                    .fold(0u64, |v, &x| (v << 8) | x as u64);
                if signed && size < 8 && size > 0 {
                    let shift = 64 - 8 * size;
                    v = (((v << shift) as i64) >> shift) as u64;
                }
                let num = if signed { v as i64 as f64 } else { v as f64 };
                ffi::lua_pushnumber(l, num);
                n += 1;
            }
            Opt::Float => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or_default();
                let f = if fmt.h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                ffi::lua_pushnumber(l, f as f64);
                n += 1;
            }
            Opt::Double => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or_default();
                let d = if fmt.h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                ffi::lua_pushnumber(l, d);
                n += 1;
            }
            Opt::Pad | Opt::Skip => {}
            Opt::Chars(mut len) => {
                if len == 0 {
                    if n == 0 || ffi::lua_isnumber(l, -1) == 0 {
                        return Err(Raise::Msg("format 'c0' needs a previous size".into()));
                    }
                    len = ffi::lua_tonumber(l, -1) as usize;
                    ffi::lua_settop(l, -2);
                    n -= 1;
                    if pos + len > data.len() {
                        return Err(short());
                    }
                }
                push_bytes(l, &data[pos..pos + len]);
                n += 1;
                pos += len;
                continue;
            }
            Opt::Zstr => {
                let Some(end) = memchr::memchr(0, &data[pos..]) else {
                    return Err(Raise::Msg("unfinished string in data".into()));
                };
                push_bytes(l, &data[pos..pos + end]);
                n += 1;
                pos += end + 1;
                continue;
            }
        }
        pos += size;
    }
    ffi::lua_pushnumber(l, (pos + 1) as f64);
    Ok(n + 1)
}

unsafe fn size(l: *mut lua_State) -> Res {
    let mut fmt = format(l, "size")?;
    let mut total = 0usize;
    while let Some((opt, size)) = fmt.next()? {
        total += fmt.pad(total, &opt, size);
        let variable = match opt {
            Opt::Zstr => Some('s'),
            Opt::Chars(0) => Some('c'),
            _ => None,
        };
        if let Some(c) = variable {
            return Err(Raise::Arg(
                1,
                "size",
                format!("option '{c}' has no fixed size"),
            ));
        }
        total += size;
    }
    ffi::lua_pushnumber(l, total as f64);
    Ok(1)
}

cfns! { c_pack => pack, c_unpack => unpack, c_size => size }

/// Pushes the `struct` table.
pub unsafe fn open(l: *mut lua_State) {
    ffi::lua_newtable(l);
    set_fn(l, c"pack", c_pack);
    set_fn(l, c"unpack", c_unpack);
    set_fn(l, c"size", c_size);
}
