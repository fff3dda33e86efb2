//! The Lua libraries Redis bundles beside Lua's own: `bit` (LuaBitOp 1.0's API and
//! semantics, written here), and the `cjson`, `cmsgpack` and `struct` tables.
//!
//! `bit`: arguments are normalised to signed 32-bit integers the way LuaBitOp does (the
//! number plus 2^52+2^51, low 32 bits: round to nearest, modulo 2^32); results are signed
//! 32-bit numbers. Shift counts use their low 5 bits.
//!
//! `cjson`, `cmsgpack`, `struct`: the tables exist (so scripts that only test for them
//! run), their functions are not implemented yet.

use mlua_sys as ffi;
use std::ffi::{c_char, c_int, CStr};

/// Opens every bundled library into the globals of `l` (at state creation, before the
/// globals are locked).
pub fn open_all(l: *mut ffi::lua_State) {
    unsafe {
        ffi::lua_createtable(l, 0, 12);
        let funcs: &[(&CStr, ffi::lua_CFunction)] = &[
            (c"tobit", bit_tobit),
            (c"bnot", bit_bnot),
            (c"band", bit_band),
            (c"bor", bit_bor),
            (c"bxor", bit_bxor),
            (c"lshift", bit_lshift),
            (c"rshift", bit_rshift),
            (c"arshift", bit_arshift),
            (c"rol", bit_rol),
            (c"ror", bit_ror),
            (c"bswap", bit_bswap),
            (c"tohex", bit_tohex),
        ];
        for (name, f) in funcs {
            ffi::lua_pushcfunction(l, *f);
            ffi::lua_setfield(l, -2, name.as_ptr());
        }
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"bit".as_ptr());
        for name in [c"cjson", c"cmsgpack", c"struct"] {
            ffi::lua_createtable(l, 0, 0);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, name.as_ptr());
        }
    }
}

/// LuaBitOp's `barg`: argument `i` as an int32 (raises Lua's "number expected" error).
#[inline]
unsafe fn barg(l: *mut ffi::lua_State, i: c_int) -> i32 {
    let n = unsafe { ffi::luaL_checknumber(l, i) };
    tobit(n)
}

/// The int32 a number stands for in LuaBitOp.
#[inline]
pub fn tobit(n: f64) -> i32 {
    (n + 6755399441055744.0).to_bits() as u32 as i32
}

#[inline]
unsafe fn ret(l: *mut ffi::lua_State, v: i32) -> c_int {
    unsafe { ffi::lua_pushnumber(l, v as f64) };
    1
}

unsafe extern "C-unwind" fn bit_tobit(l: *mut ffi::lua_State) -> c_int {
    unsafe { ret(l, barg(l, 1)) }
}

unsafe extern "C-unwind" fn bit_bnot(l: *mut ffi::lua_State) -> c_int {
    unsafe { ret(l, !barg(l, 1)) }
}

unsafe fn fold(l: *mut ffi::lua_State, op: fn(i32, i32) -> i32) -> c_int {
    unsafe {
        let mut b = barg(l, 1);
        let n = ffi::lua_gettop(l);
        for i in 2..=n {
            b = op(b, barg(l, i));
        }
        ret(l, b)
    }
}

unsafe extern "C-unwind" fn bit_band(l: *mut ffi::lua_State) -> c_int {
    unsafe { fold(l, |a, b| a & b) }
}

unsafe extern "C-unwind" fn bit_bor(l: *mut ffi::lua_State) -> c_int {
    unsafe { fold(l, |a, b| a | b) }
}

unsafe extern "C-unwind" fn bit_bxor(l: *mut ffi::lua_State) -> c_int {
    unsafe { fold(l, |a, b| a ^ b) }
}

unsafe fn shift(l: *mut ffi::lua_State, op: fn(u32, u32) -> u32) -> c_int {
    unsafe {
        let b = barg(l, 1) as u32;
        let n = (barg(l, 2) as u32) & 31;
        ret(l, op(b, n) as i32)
    }
}

unsafe extern "C-unwind" fn bit_lshift(l: *mut ffi::lua_State) -> c_int {
    unsafe { shift(l, |b, n| b << n) }
}

unsafe extern "C-unwind" fn bit_rshift(l: *mut ffi::lua_State) -> c_int {
    unsafe { shift(l, |b, n| b >> n) }
}

unsafe extern "C-unwind" fn bit_arshift(l: *mut ffi::lua_State) -> c_int {
    unsafe { shift(l, |b, n| ((b as i32) >> n) as u32) }
}

unsafe extern "C-unwind" fn bit_rol(l: *mut ffi::lua_State) -> c_int {
    unsafe { shift(l, |b, n| b.rotate_left(n)) }
}

unsafe extern "C-unwind" fn bit_ror(l: *mut ffi::lua_State) -> c_int {
    unsafe { shift(l, |b, n| b.rotate_right(n)) }
}

unsafe extern "C-unwind" fn bit_bswap(l: *mut ffi::lua_State) -> c_int {
    unsafe { ret(l, (barg(l, 1) as u32).swap_bytes() as i32) }
}

unsafe extern "C-unwind" fn bit_tohex(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let b = barg(l, 1) as u32;
        let mut n: i32 = if ffi::lua_type(l, 2) <= 0 {
            8
        } else {
            barg(l, 2)
        };
        let upper = n < 0;
        if upper {
            n = n.wrapping_neg();
        }
        let n = n.clamp(0, 8) as usize;
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let mut buf = [0u8; 8];
        let mut v = b;
        for i in (0..n).rev() {
            buf[i] = digits[(v & 15) as usize];
            v >>= 4;
        }
        ffi::lua_pushlstring(l, buf.as_ptr() as *const c_char, n);
        1
    }
}

#[cfg(test)]
mod tests {
    use super::tobit;

    #[test]
    fn tobit_wraps_and_rounds_as_luabitop() {
        assert_eq!(tobit(0xffffffffu32 as f64), -1);
        assert_eq!(tobit(4294967296.0 + 5.0), 5);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(3.5), 4);
    }
}
