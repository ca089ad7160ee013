//! The `bit` library: LuaJIT BitOp's API on 32-bit integers.

use std::ffi::c_int;

use super::raw::{cfns, ffi, lua_State, push_bytes, set_fn, type_name, Raise, Res};

/// BitOp's `barg`: the number rounded to an integer, its low 32 bits.
unsafe fn barg(l: *mut lua_State, idx: c_int, f: &'static str) -> Result<u32, Raise> {
    let n = ffi::lua_tonumber(l, idx) + 6_755_399_441_055_744.0;
    let b = n.to_bits() as u32;
    if b == 0 && ffi::lua_isnumber(l, idx) == 0 {
        return Err(Raise::Arg(
            idx,
            f,
            format!("number expected, got {}", type_name(l, idx)),
        ));
    }
    Ok(b)
}

unsafe fn ret(l: *mut lua_State, b: u32) -> Res {
    ffi::lua_pushnumber(l, b as i32 as f64);
    Ok(1)
}

unsafe fn fold(l: *mut lua_State, f: &'static str, op: fn(u32, u32) -> u32) -> Res {
    let mut b = barg(l, 1, f)?;
    for i in 2..=ffi::lua_gettop(l) {
        b = op(b, barg(l, i, f)?);
    }
    ret(l, b)
}

unsafe fn shift(l: *mut lua_State, f: &'static str, op: fn(u32, u32) -> u32) -> Res {
    let b = barg(l, 1, f)?;
    let n = barg(l, 2, f)? & 31;
    ret(l, op(b, n))
}

unsafe fn tobit(l: *mut lua_State) -> Res {
    let b = barg(l, 1, "tobit")?;
    ret(l, b)
}
unsafe fn bnot(l: *mut lua_State) -> Res {
    let b = barg(l, 1, "bnot")?;
    ret(l, !b)
}
unsafe fn band(l: *mut lua_State) -> Res {
    fold(l, "band", |a, b| a & b)
}
unsafe fn bor(l: *mut lua_State) -> Res {
    fold(l, "bor", |a, b| a | b)
}
unsafe fn bxor(l: *mut lua_State) -> Res {
    fold(l, "bxor", |a, b| a ^ b)
}
unsafe fn lshift(l: *mut lua_State) -> Res {
    shift(l, "lshift", |b, n| b << n)
}
unsafe fn rshift(l: *mut lua_State) -> Res {
    shift(l, "rshift", |b, n| b >> n)
}
unsafe fn arshift(l: *mut lua_State) -> Res {
    shift(l, "arshift", |b, n| ((b as i32) >> n) as u32)
}
unsafe fn rol(l: *mut lua_State) -> Res {
    shift(l, "rol", |b, n| b.rotate_left(n))
}
unsafe fn ror(l: *mut lua_State) -> Res {
    shift(l, "ror", |b, n| b.rotate_right(n))
}
unsafe fn bswap(l: *mut lua_State) -> Res {
    let b = barg(l, 1, "bswap")?;
    ret(l, b.swap_bytes())
}

/// tohex(x [, n]): n hex digits (default 8, at most 8), uppercase if n < 0.
unsafe fn tohex(l: *mut lua_State) -> Res {
    let b = barg(l, 1, "tohex")?;
    let mut n = if ffi::lua_isnoneornil(l, 2) != 0 {
        8
    } else {
        barg(l, 2, "tohex")? as i32
    };
    let upper = n < 0;
    if upper {
        n = -n;
    }
    let n = n.min(8) as usize;
    let s = if upper {
        format!("{b:08X}")
    } else {
        format!("{b:08x}")
    };
    push_bytes(l, &s.as_bytes()[8 - n..]);
    Ok(1)
}

cfns! {
    c_tobit => tobit, c_bnot => bnot, c_band => band, c_bor => bor, c_bxor => bxor,
    c_lshift => lshift, c_rshift => rshift, c_arshift => arshift, c_rol => rol,
    c_ror => ror, c_bswap => bswap, c_tohex => tohex,
}

/// Pushes the `bit` table.
pub unsafe fn open(l: *mut lua_State) {
    ffi::lua_newtable(l);
    set_fn(l, c"tobit", c_tobit);
    set_fn(l, c"bnot", c_bnot);
    set_fn(l, c"band", c_band);
    set_fn(l, c"bor", c_bor);
    set_fn(l, c"bxor", c_bxor);
    set_fn(l, c"lshift", c_lshift);
    set_fn(l, c"rshift", c_rshift);
    set_fn(l, c"arshift", c_arshift);
    set_fn(l, c"rol", c_rol);
    set_fn(l, c"ror", c_ror);
    set_fn(l, c"bswap", c_bswap);
    set_fn(l, c"tohex", c_tohex);
}
