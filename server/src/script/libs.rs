//! The Lua libraries Redis bundles beside Lua's own: `bit` (LuaBitOp 1.0's API and
//! semantics, written here), and the `cjson`, `cmsgpack` and `struct` tables.
//!
//! `bit`: arguments are normalised to signed 32-bit integers the way LuaBitOp does (the
//! number plus 2^52+2^51, low 32 bits: round to nearest, modulo 2^32); results are signed
//! 32-bit numbers. Shift counts use their low 5 bits.
//!
//! `cjson` (lua-cjson 2.1.0's API and output, written here): `encode` (numbers with
//! `%.14g`, `/` escaped as `\/`, control bytes as `\u00XX`, an empty table as `{}`,
//! tables with only positive integer keys as arrays unless excessively sparse), `decode`
//! (JSON null as `cjson.null`, `\u` escapes and surrogate pairs to UTF-8, lua-cjson's
//! error texts and character positions), `null`, and the configuration functions.
//!
//! `cmsgpack` (lua-cmsgpack 0.4.0's API and byte output, written here): `pack` (integral
//! numbers in the smallest int format, others as float when exact else double, strings as
//! fixstr/str8/str16/str32, tables with keys 1..n as arrays, other tables as maps, nesting
//! past 16 levels as nil), `unpack`, `unpack_one`, `unpack_limit` (no bin/ext types, as
//! 0.4.0).
//!
//! `struct` (Roberto Ierusalimschy's struct library as Redis bundles it, written here):
//! `pack`, `unpack`, `size` with the options `> < ! x b B h H l L T i[n] I[n] c[n] s f d`,
//! alignment, and the library's error texts.

use mlua_sys as ffi;
use std::ffi::{c_char, c_int, CStr};

use super::stack::Stack;

/// Opens every bundled library into the globals of `l` (at state creation, before the
/// globals are locked).
pub fn open_all(st: &mut Stack<'_>) {
    st.new_table(0, 12);
    set_functions(
        st,
        &[
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
        ],
    );
    st.set_global(c"bit");
    open_cjson(st);
    open_cmsgpack(st);
    open_struct(st);
}

/// Sets the C functions `funcs` as fields of the table at the top of the stack.
fn set_functions(st: &mut Stack<'_>, funcs: &[(&CStr, ffi::lua_CFunction)]) {
    for (name, f) in funcs {
        st.set_function(name, *f);
    }
}

/// LuaBitOp's `barg`: argument `i` as an int32 (raises Lua's "number expected" error).
///
/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model). This may raise a Lua error (`longjmp`): every Rust frame between
/// the caller and Lua's C frame must own nothing with a destructor ([jmp]).
#[inline]
unsafe fn barg(l: *mut ffi::lua_State, i: c_int) -> i32 {
    // SAFETY: the caller guarantees `l` is the state of the running C function; `luaL_checknumber`
    // may longjmp, and this frame holds only numbers [jmp].
    let n = unsafe { ffi::luaL_checknumber(l, i) };
    tobit(n)
}

/// The int32 a number stands for in LuaBitOp.
#[inline]
pub fn tobit(n: f64) -> i32 {
    (n + 6755399441055744.0).to_bits() as u32 as i32
}

/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model), with a free slot.
#[inline]
unsafe fn ret(l: *mut ffi::lua_State, v: i32) -> c_int {
    // SAFETY: the caller guarantees `l` is the state of the running C function with a free slot
    // [stack].
    unsafe { ffi::lua_pushnumber(l, v as f64) };
    1
}

unsafe extern "C-unwind" fn bit_tobit(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `barg` may raise from a
    // frame holding only integers [jmp]; `ret` pushes one slot [stack].
    unsafe { ret(l, barg(l, 1)) }
}

unsafe extern "C-unwind" fn bit_bnot(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `barg` may raise from a
    // frame holding only integers [jmp]; `ret` pushes one slot [stack].
    unsafe { ret(l, !barg(l, 1)) }
}

/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model). This may raise a Lua error (`longjmp`): every Rust frame between
/// the caller and Lua's C frame must own nothing with a destructor ([jmp]).
unsafe fn fold(l: *mut ffi::lua_State, op: fn(i32, i32) -> i32) -> c_int {
    // SAFETY: the caller passes the state of the running C function; the indices `2..=n` are
    // counted by `lua_gettop`; `barg` may raise from a frame holding only integers [jmp].
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
    // SAFETY: `l` is the state Lua called this C function with [state]; `fold` keeps that contract.
    unsafe { fold(l, |a, b| a & b) }
}

unsafe extern "C-unwind" fn bit_bor(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `fold` keeps that contract.
    unsafe { fold(l, |a, b| a | b) }
}

unsafe extern "C-unwind" fn bit_bxor(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `fold` keeps that contract.
    unsafe { fold(l, |a, b| a ^ b) }
}

/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model). This may raise a Lua error (`longjmp`): every Rust frame between
/// the caller and Lua's C frame must own nothing with a destructor ([jmp]).
unsafe fn shift(l: *mut ffi::lua_State, op: fn(u32, u32) -> u32) -> c_int {
    // SAFETY: the caller passes the state of the running C function; `barg` may raise from a frame
    // holding only integers [jmp].
    unsafe {
        let b = barg(l, 1) as u32;
        let n = (barg(l, 2) as u32) & 31;
        ret(l, op(b, n) as i32)
    }
}

unsafe extern "C-unwind" fn bit_lshift(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `shift` keeps that
    // contract.
    unsafe { shift(l, |b, n| b << n) }
}

unsafe extern "C-unwind" fn bit_rshift(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `shift` keeps that
    // contract.
    unsafe { shift(l, |b, n| b >> n) }
}

unsafe extern "C-unwind" fn bit_arshift(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `shift` keeps that
    // contract.
    unsafe { shift(l, |b, n| ((b as i32) >> n) as u32) }
}

unsafe extern "C-unwind" fn bit_rol(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `shift` keeps that
    // contract.
    unsafe { shift(l, |b, n| b.rotate_left(n)) }
}

unsafe extern "C-unwind" fn bit_ror(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `shift` keeps that
    // contract.
    unsafe { shift(l, |b, n| b.rotate_right(n)) }
}

unsafe extern "C-unwind" fn bit_bswap(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `barg` may raise from a
    // frame holding only integers [jmp]; `ret` pushes one slot [stack].
    unsafe { ret(l, (barg(l, 1) as u32).swap_bytes() as i32) }
}

unsafe extern "C-unwind" fn bit_tohex(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `barg` may raise from a
    // frame holding only integers and a stack array [jmp]; `buf` holds the `n <= 8` bytes Lua
    // copies [stack].
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

// ---------------------------------------------------------------------------------------
// cjson

/// lua-cjson's configuration (the module defaults).
struct CjsonCfg {
    encode_max_depth: i64,
    decode_max_depth: i64,
    encode_number_precision: i64,
    /// 0 off, 1 on, 2 null (lua-cjson's `encode_invalid_numbers` option index).
    encode_invalid_numbers: u8,
    decode_invalid_numbers: bool,
    encode_keep_buffer: bool,
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
}

thread_local! {
    static CJSON: std::cell::RefCell<CjsonCfg> = const { std::cell::RefCell::new(CjsonCfg {
        encode_max_depth: 1000,
        decode_max_depth: 1000,
        encode_number_precision: 14,
        encode_invalid_numbers: 0,
        decode_invalid_numbers: true,
        encode_keep_buffer: true,
        sparse_convert: false,
        sparse_ratio: 2,
        sparse_safe: 10,
    }) };
}

fn open_cjson(st: &mut Stack<'_>) {
    st.new_table(0, 16);
    set_functions(
        st,
        &[
            (c"encode", cjson_encode),
            (c"decode", cjson_decode),
            (c"encode_max_depth", cjson_encode_max_depth),
            (c"decode_max_depth", cjson_decode_max_depth),
            (c"encode_number_precision", cjson_encode_number_precision),
            (c"encode_invalid_numbers", cjson_encode_invalid_numbers),
            (c"decode_invalid_numbers", cjson_decode_invalid_numbers),
            (c"encode_keep_buffer", cjson_encode_keep_buffer),
            (c"encode_sparse_array", cjson_encode_sparse_array),
            (c"new", cjson_new),
        ],
    );
    st.set_field_null_userdata(c"null");
    st.set_field_cstr(c"_NAME", c"cjson");
    st.set_field_cstr(c"_VERSION", c"2.1.0");
    st.set_global(c"cjson");
}

/// Raises `msg` as a Lua error with the caller's position (as `luaL_error`), after `msg`
/// has been copied into Lua (nothing of ours is alive across the longjmp).
///
/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model). It raises a Lua error (`longjmp`) after dropping `msg`: every Rust
/// frame between the caller and Lua's C frame must own nothing with a destructor ([jmp]).
unsafe fn raise(l: *mut ffi::lua_State, msg: String) -> c_int {
    // SAFETY: the caller guarantees the state of the running C function and that its own frames own
    // nothing with a destructor; `msg` is copied into Lua and dropped before `lua_error` longjmps
    // [jmp]; two slots are used [stack].
    unsafe {
        ffi::luaL_where(l, 1);
        ffi::lua_pushlstring(l, msg.as_ptr() as *const c_char, msg.len());
        drop(msg);
        ffi::lua_concat(l, 2);
        ffi::lua_error(l)
    }
}

/// `%.<prec>g` of a number.
fn fmt_g(n: f64, prec: i64) -> Vec<u8> {
    let fmt = std::ffi::CString::new(format!("%.{}g", prec.clamp(1, 14))).unwrap_or_default();
    let mut buf = [0u8; 64];
    let len =
        // SAFETY: `fmt` is a NUL-terminated `%.<p>g` format taking one double, and `buf` has
        // `buf.len()` writable bytes; snprintf writes at most that many.
        unsafe { libc::snprintf(buf.as_mut_ptr() as *mut c_char, buf.len(), fmt.as_ptr(), n) };
    buf[..(len.max(0) as usize).min(63)].to_vec()
}

/// Lua's name of the type of slot `idx` (as `luaL_typename`).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model).
unsafe fn type_name(l: *mut ffi::lua_State, idx: c_int) -> String {
    // SAFETY: the caller's contract is `Stack::new`'s.
    unsafe { Stack::new(l) }.type_name(idx)
}

fn json_escape(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=31 | 127 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends the number at `idx` (lua-cjson `json_append_number`).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model) and `idx`
/// names an existing slot.
unsafe fn json_number(
    l: *mut ffi::lua_State,
    cfg: &CjsonCfg,
    out: &mut Vec<u8>,
    idx: c_int,
) -> Result<(), String> {
    // SAFETY: the caller guarantees a valid state and index; `lua_tonumber` never raises.
    let n = unsafe { ffi::lua_tonumber(l, idx) };
    if !n.is_finite() {
        match cfg.encode_invalid_numbers {
            0 => {
                // SAFETY: the caller guarantees a live state (see `# Safety`).
                let name = unsafe { type_name(l, idx) };
                return Err(format!("Cannot serialise {name}: must not be NaN or Inf"));
            }
            // lua-cjson writes "nan" itself: printf may give "-nan".
            1 if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    out.extend_from_slice(&fmt_g(n, cfg.encode_number_precision));
    Ok(())
}

/// The array length of the table at the top, or -1 if it must be an object
/// (lua-cjson `lua_array_length`).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with a
/// table at the top and two free slots. Errors are returned, not raised.
unsafe fn array_length(l: *mut ffi::lua_State, cfg: &CjsonCfg) -> Result<i64, String> {
    // SAFETY: the caller guarantees a valid state with the table at the top and two free slots;
    // `lua_next` pushes key and value, both popped, keys never converted; errors are returned
    // [jmp].
    unsafe {
        let (mut max, mut items) = (0i64, 0i64);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
                let k = ffi::lua_tonumber(l, -2);
                if k != 0.0 && k.floor() == k && k >= 1.0 {
                    if k as i64 > max {
                        max = k as i64;
                    }
                    items += 1;
                    ffi::lua_pop(l, 1);
                    continue;
                }
            }
            ffi::lua_pop(l, 2);
            return Ok(-1);
        }
        if cfg.sparse_ratio > 0 && max > items * cfg.sparse_ratio && max > cfg.sparse_safe {
            if !cfg.sparse_convert {
                return Err("Cannot serialise table: excessively sparse array".into());
            }
            return Ok(-1);
        }
        Ok(max)
    }
}

/// Appends the value at the top of the stack (lua-cjson `json_append_data`).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with the
/// value to encode at the top. Errors are returned, not raised.
unsafe fn json_append(
    l: *mut ffi::lua_State,
    cfg: &CjsonCfg,
    depth: i64,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    // SAFETY: the caller guarantees a valid state with the value at the top; tables are walked with
    // `lua_next` after `lua_checkstack` [stack]; string slices are copied into `out` while on the
    // stack [str]; errors are returned, not raised [jmp].
    unsafe {
        match ffi::lua_type(l, -1) {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                json_escape(out, std::slice::from_raw_parts(p as *const u8, len));
            }
            ffi::LUA_TNUMBER => json_number(l, cfg, out, -1)?,
            ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(l, -1) != 0 {
                b"true"
            } else {
                b"false"
            }),
            ffi::LUA_TTABLE => {
                let depth = depth + 1;
                if depth > cfg.encode_max_depth || ffi::lua_checkstack(l, 3) == 0 {
                    return Err(format!("Cannot serialise, excessive nesting ({depth})"));
                }
                let len = array_length(l, cfg)?;
                if len > 0 {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        ffi::lua_rawgeti(l, -1, i as _);
                        json_append(l, cfg, depth, out)?;
                        ffi::lua_pop(l, 1);
                    }
                    out.push(b']');
                } else {
                    out.push(b'{');
                    let mut first = true;
                    ffi::lua_pushnil(l);
                    while ffi::lua_next(l, -2) != 0 {
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match ffi::lua_type(l, -2) {
                            ffi::LUA_TSTRING => {
                                let mut len = 0usize;
                                let p = ffi::lua_tolstring(l, -2, &mut len);
                                json_escape(out, std::slice::from_raw_parts(p as *const u8, len));
                                out.push(b':');
                            }
                            ffi::LUA_TNUMBER => {
                                out.push(b'"');
                                json_number(l, cfg, out, -2)?;
                                out.extend_from_slice(b"\":");
                            }
                            _ => {
                                return Err(format!(
                                    "Cannot serialise {}: table key must be a number or string",
                                    type_name(l, -2)
                                ))
                            }
                        }
                        json_append(l, cfg, depth, out)?;
                        ffi::lua_pop(l, 1);
                    }
                    out.push(b'}');
                }
            }
            ffi::LUA_TNIL => out.extend_from_slice(b"null"),
            ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, -1).is_null() => {
                out.extend_from_slice(b"null")
            }
            _ => {
                return Err(format!(
                    "Cannot serialise {}: type not supported",
                    type_name(l, -1)
                ))
            }
        }
        Ok(())
    }
}

/// # Safety
///
/// `l` is the state of the running `cjson.encode` call ([state]). Errors are returned, not
/// raised.
unsafe fn encode_body(l: *mut ffi::lua_State) -> Result<(), String> {
    // SAFETY: the caller passes the state of the running `cjson.encode` [state]; one argument is
    // checked; `out` is copied by `lua_pushlstring`; errors are returned [jmp].
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            return Err("bad argument #1 to 'encode' (expected 1 argument)".into());
        }
        let mut out = Vec::new();
        CJSON.with(|c| json_append(l, &c.borrow(), 0, &mut out))?;
        ffi::lua_pushlstring(l, out.as_ptr() as *const c_char, out.len());
        Ok(())
    }
}

unsafe extern "C-unwind" fn cjson_encode(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `encode_body`'s frame is
    // gone and `raise` drops the message before the longjmp, so no destructor is skipped [jmp].
    unsafe {
        match encode_body(l) {
            Ok(()) => 1,
            Err(e) => raise(l, e),
        }
    }
}

/// The JSON decoder over the argument's bytes (lua-cjson's tokenizer and parser).
struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
    depth: i64,
    max_depth: i64,
    invalid_numbers: bool,
}

/// A token: its kind, the index it starts at (0-based), and for errors the message.
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str(_) => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(m) => m,
        }
    }
}

impl Decoder<'_> {
    fn err(&self, expected: &str, t: &Tok, at: usize) -> String {
        format!(
            "Expected {expected} but found {} at character {}",
            t.name(),
            at + 1
        )
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        let mut v = 0u32;
        for &c in h {
            v = v * 16 + (c as char).to_digit(16)?;
        }
        Some(v)
    }

    /// Next token and its index.
    fn next(&mut self) -> (Tok, usize) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let Some(&c) = self.s.get(self.pos) else {
            return (Tok::End, at);
        };
        let simple = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = simple {
            self.pos += 1;
            return (t, at);
        }
        if c == b'"' {
            return self.string(at);
        }
        if c == b'-' || c.is_ascii_digit() {
            return self.number(at);
        }
        let rest = &self.s[self.pos..];
        for (word, tok) in [
            (&b"true"[..], Tok::Bool(true)),
            (b"false", Tok::Bool(false)),
            (b"null", Tok::Null),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return (tok, at);
            }
        }
        if self.invalid_numbers && self.is_invalid_number() {
            return self.number(at);
        }
        (Tok::Error("invalid token"), at)
    }

    /// Inf, NaN and hex numbers (invalid JSON, accepted as lua-cjson does by default).
    fn is_invalid_number(&self) -> bool {
        let mut p = &self.s[self.pos..];
        if let Some(r) = p.strip_prefix(b"-") {
            p = r;
        }
        let lower: Vec<u8> = p.iter().take(3).map(|b| b.to_ascii_lowercase()).collect();
        lower.starts_with(b"0x") || lower == b"inf" || lower == b"nan"
    }

    fn number(&mut self, at: usize) -> (Tok, usize) {
        // strtod over the rest (it stops where the number ends).
        let rest = &self.s[self.pos..];
        let end = rest
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'+'))
            .unwrap_or(rest.len());
        let text = std::ffi::CString::new(&rest[..end]).unwrap_or_default();
        let mut endp: *mut c_char = std::ptr::null_mut();
        // SAFETY: `text` is a NUL-terminated copy of the number's bytes and `endp` a valid out-
        // pointer; strtod reads only up to the NUL.
        let v = unsafe { libc::strtod(text.as_ptr(), &mut endp) };
        let used = endp as usize - text.as_ptr() as usize;
        if used == 0 {
            return (Tok::Error("invalid number"), at);
        }
        self.pos += used;
        (Tok::Num(v), at)
    }

    fn string(&mut self, at: usize) -> (Tok, usize) {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return (Tok::Error("unexpected end of string"), self.pos);
            };
            if c == b'"' {
                self.pos += 1;
                return (Tok::Str(out), at);
            }
            if c != b'\\' {
                out.push(c);
                self.pos += 1;
                continue;
            }
            // A backslash at the very end reads the terminating NUL as its escape.
            let Some(&e) = self.s.get(self.pos + 1) else {
                return (Tok::Error("invalid escape code"), self.pos);
            };
            let simple = match e {
                b'b' => Some(8),
                b'f' => Some(12),
                b'n' => Some(10),
                b'r' => Some(13),
                b't' => Some(9),
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'/' => Some(b'/'),
                _ => None,
            };
            if let Some(b) = simple {
                out.push(b);
                self.pos += 2;
                continue;
            }
            if e != b'u' {
                return (Tok::Error("invalid escape code"), self.pos);
            }
            let Some(mut cp) = self.hex4(self.pos + 2) else {
                return (Tok::Error("invalid unicode escape code"), self.pos);
            };
            let mut len = 6;
            if (0xD800..0xDC00).contains(&cp) {
                // A high surrogate must be followed by a low one.
                let low = if self.s.get(self.pos + 6) == Some(&b'\\')
                    && self.s.get(self.pos + 7) == Some(&b'u')
                {
                    self.hex4(self.pos + 8)
                } else {
                    None
                };
                match low {
                    Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        len = 12;
                    }
                    _ => return (Tok::Error("invalid unicode escape code"), self.pos),
                }
            } else if (0xDC00..0xE000).contains(&cp) {
                return (Tok::Error("invalid unicode escape code"), self.pos);
            }
            let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
            let mut b = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            self.pos += len;
        }
    }

    /// Pushes the value of token `t` (lua-cjson `json_process_value`).
    ///
    /// # Safety
    ///
    /// `l` is the state of the running `cjson.decode` call ([state]), with three free slots
    /// (reserved by `descend`). Errors are returned, not raised.
    unsafe fn value(&mut self, l: *mut ffi::lua_State, t: Tok, at: usize) -> Result<(), String> {
        // SAFETY: the caller (`decode_body`) guarantees the state of the running `cjson.decode`;
        // `descend` reserves three slots before each nested value [stack]; pushed strings are
        // copied by Lua; errors are returned [jmp].
        unsafe {
            match t {
                Tok::Str(s) => {
                    ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, s.len());
                }
                Tok::Num(n) => ffi::lua_pushnumber(l, n),
                Tok::Bool(b) => ffi::lua_pushboolean(l, b as c_int),
                Tok::Null => ffi::lua_pushlightuserdata(l, std::ptr::null_mut()),
                Tok::ObjBegin => self.object(l, at)?,
                Tok::ArrBegin => self.array(l, at)?,
                other => return Err(self.err("value", &other, at)),
            }
            Ok(())
        }
    }

    fn descend(&mut self, l: *mut ffi::lua_State, at: usize) -> Result<(), String> {
        self.depth += 1;
        // SAFETY: `l` is the state of the running `cjson.decode` (the decoder's caller guarantees
        // it); `lua_checkstack` reports failure by return value.
        if self.depth > self.max_depth || unsafe { ffi::lua_checkstack(l, 3) } == 0 {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                at + 1
            ));
        }
        Ok(())
    }

    /// # Safety
    ///
    /// `l` is the state of the running `cjson.decode` call ([state]). Errors are returned, not
    /// raised.
    unsafe fn object(&mut self, l: *mut ffi::lua_State, at: usize) -> Result<(), String> {
        // SAFETY: as `value`: a valid state, slots reserved by `descend` [stack], errors returned
        // [jmp].
        unsafe {
            self.descend(l, at)?;
            ffi::lua_createtable(l, 0, 0);
            let (mut t, mut tat) = self.next();
            if matches!(t, Tok::ObjEnd) {
                self.depth -= 1;
                return Ok(());
            }
            loop {
                let Tok::Str(key) = t else {
                    return Err(self.err("object key string", &t, tat));
                };
                ffi::lua_pushlstring(l, key.as_ptr() as *const c_char, key.len());
                let (c, cat) = self.next();
                if !matches!(c, Tok::Colon) {
                    return Err(self.err("colon", &c, cat));
                }
                let (v, vat) = self.next();
                self.value(l, v, vat)?;
                ffi::lua_rawset(l, -3);
                let (n, nat) = self.next();
                match n {
                    Tok::ObjEnd => {
                        self.depth -= 1;
                        return Ok(());
                    }
                    Tok::Comma => {}
                    other => return Err(self.err("comma or object end", &other, nat)),
                }
                (t, tat) = self.next();
            }
        }
    }

    /// # Safety
    ///
    /// `l` is the state of the running `cjson.decode` call ([state]). Errors are returned, not
    /// raised.
    unsafe fn array(&mut self, l: *mut ffi::lua_State, at: usize) -> Result<(), String> {
        // SAFETY: as `value`: a valid state, slots reserved by `descend` [stack], errors returned
        // [jmp].
        unsafe {
            self.descend(l, at)?;
            ffi::lua_createtable(l, 0, 0);
            let (mut t, mut tat) = self.next();
            if matches!(t, Tok::ArrEnd) {
                self.depth -= 1;
                return Ok(());
            }
            let mut i = 1;
            loop {
                self.value(l, t, tat)?;
                ffi::lua_rawseti(l, -2, i);
                i += 1;
                let (n, nat) = self.next();
                match n {
                    Tok::ArrEnd => {
                        self.depth -= 1;
                        return Ok(());
                    }
                    Tok::Comma => {}
                    other => return Err(self.err("comma or array end", &other, nat)),
                }
                (t, tat) = self.next();
            }
        }
    }
}

/// # Safety
///
/// `l` is the state of the running `cjson.decode` call ([state]). Errors are returned, not
/// raised.
unsafe fn decode_body(l: *mut ffi::lua_State) -> Result<(), String> {
    // SAFETY: the caller passes the state of the running `cjson.decode` [state]; the argument's
    // bytes stay on the stack (slot 1) while the decoder reads them [str]; errors are returned
    // [jmp].
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            return Err("bad argument #1 to 'decode' (expected 1 argument)".into());
        }
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, 1, &mut len);
        if p.is_null() {
            return Err(format!(
                "bad argument #1 to 'decode' (string expected, got {})",
                type_name(l, 1)
            ));
        }
        let s = std::slice::from_raw_parts(p as *const u8, len);
        if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
            return Err("JSON parser does not support UTF-16 or UTF-32".into());
        }
        let (max_depth, invalid_numbers) = CJSON.with(|c| {
            (
                c.borrow().decode_max_depth,
                c.borrow().decode_invalid_numbers,
            )
        });
        let mut d = Decoder {
            s,
            pos: 0,
            depth: 0,
            max_depth,
            invalid_numbers,
        };
        let (t, at) = d.next();
        d.value(l, t, at)?;
        let (t, at) = d.next();
        if !matches!(t, Tok::End) {
            return Err(d.err("the end", &t, at));
        }
        Ok(())
    }
}

unsafe extern "C-unwind" fn cjson_decode(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `decode_body`'s frame is
    // gone and `raise` drops the message before the longjmp, so no destructor is skipped [jmp].
    unsafe {
        match decode_body(l) {
            Ok(()) => 1,
            Err(e) => raise(l, e),
        }
    }
}

/// lua-cjson's `json_arg_init`: at most `n` arguments (else `bad argument #n+1 ...
/// (found too many arguments)`), padded with nils to `n`.
///
/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model). This may raise a Lua error (`longjmp`): every Rust frame between
/// the caller and Lua's C frame must own nothing with a destructor ([jmp]).
unsafe fn cfg_args(l: *mut ffi::lua_State, n: c_int) {
    // SAFETY: the caller passes the state of the running C function [state]; the frame holds
    // only integers [jmp]; nils pushed stay within LUA_MINSTACK [stack].
    unsafe {
        if ffi::lua_gettop(l) > n {
            ffi::luaL_argerror(l, n + 1, c"found too many arguments".as_ptr());
        }
        while ffi::lua_gettop(l) < n {
            ffi::lua_pushnil(l);
        }
    }
}

/// lua-cjson's `json_integer_option`: a non-nil argument `idx` must be an integer in
/// `lo..=hi` (`expected integer between LO and HI`) and becomes the setting. Returns the
/// setting (after any change) for the caller to push.
///
/// # Safety
///
/// As [`cfg_args`].
unsafe fn cfg_int_arg(
    l: *mut ffi::lua_State,
    idx: c_int,
    lo: i64,
    hi: i64,
    get: fn(&CjsonCfg) -> i64,
    set: fn(&mut CjsonCfg, i64),
) -> i64 {
    // SAFETY: the caller passes the state of the running C function [state];
    // `luaL_checkinteger`/`luaL_argerror` longjmp from a frame holding only integers, a
    // pointer into Lua's own string and fn pointers (the `RefCell` borrow is released
    // before) [jmp]; the message is one slot, dropped by the error [stack].
    unsafe {
        if ffi::lua_type(l, idx) != ffi::LUA_TNIL {
            let v = ffi::luaL_checkinteger(l, idx) as i64;
            if !(lo..=hi).contains(&v) {
                let msg = ffi::lua_pushfstring(
                    l,
                    c"expected integer between %d and %d".as_ptr(),
                    lo as c_int,
                    hi as c_int,
                );
                // lua-cjson names argument 1 whichever argument is out of range.
                ffi::luaL_argerror(l, 1, msg);
            }
            CJSON.with(|c| set(&mut c.borrow_mut(), v));
        }
    }
    CJSON.with(|c| get(&c.borrow()))
}

/// lua-cjson's `json_enum_option`: a non-nil argument `idx` is a boolean (when `bool_true`
/// is not 0: false = 0, true = `bool_true`) or one of `options` by name (`luaL_checkoption`:
/// `invalid option 'x'`). Pushes the setting: a boolean when it is 0 or `bool_true`, else
/// its option name.
///
/// # Safety
///
/// As [`cfg_args`]; `options` ends with a null pointer.
unsafe fn cfg_enum_arg(
    l: *mut ffi::lua_State,
    idx: c_int,
    options: &[*const c_char],
    bool_true: u8,
    get: fn(&CjsonCfg) -> u8,
    set: fn(&mut CjsonCfg, u8),
) {
    // SAFETY: the caller passes the state of the running C function [state];
    // `luaL_checkoption` longjmps from a frame holding only integers, a borrowed slice and fn
    // pointers [jmp]; one slot is pushed [stack].
    unsafe {
        if ffi::lua_type(l, idx) != ffi::LUA_TNIL {
            let v = if bool_true != 0 && ffi::lua_type(l, idx) == ffi::LUA_TBOOLEAN {
                (ffi::lua_toboolean(l, idx) != 0) as u8 * bool_true
            } else {
                ffi::luaL_checkoption(l, idx, std::ptr::null(), options.as_ptr()) as u8
            };
            CJSON.with(|c| set(&mut c.borrow_mut(), v));
        }
        let v = CJSON.with(|c| get(&c.borrow()));
        if bool_true != 0 && (v == 0 || v == bool_true) {
            ffi::lua_pushboolean(l, (v != 0) as c_int);
        } else {
            ffi::lua_pushstring(l, options[v as usize]);
        }
    }
}

/// lua-cjson's boolean options (`off`, `on`).
const ON_OFF: [*const c_char; 3] = [c"off".as_ptr(), c"on".as_ptr(), std::ptr::null()];

/// An integer setting taking one argument.
///
/// # Safety
///
/// As [`cfg_args`].
unsafe fn cfg_int(
    l: *mut ffi::lua_State,
    lo: i64,
    hi: i64,
    get: fn(&CjsonCfg) -> i64,
    set: fn(&mut CjsonCfg, i64),
) -> c_int {
    // SAFETY: forwarded contract; one slot is pushed [stack].
    unsafe {
        cfg_args(l, 1);
        let v = cfg_int_arg(l, 1, lo, hi, get, set);
        ffi::lua_pushinteger(l, v as _);
    }
    1
}

/// A boolean setting taking one argument (`true`/`false`/`"on"`/`"off"`).
///
/// # Safety
///
/// As [`cfg_args`].
unsafe fn cfg_bool(
    l: *mut ffi::lua_State,
    get: fn(&CjsonCfg) -> u8,
    set: fn(&mut CjsonCfg, u8),
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        cfg_args(l, 1);
        cfg_enum_arg(l, 1, &ON_OFF, 1, get, set);
    }
    1
}

unsafe extern "C-unwind" fn cjson_encode_max_depth(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `cfg_int` keeps that
    // contract.
    unsafe {
        cfg_int(
            l,
            1,
            i32::MAX as i64,
            |c| c.encode_max_depth,
            |c, v| c.encode_max_depth = v,
        )
    }
}

unsafe extern "C-unwind" fn cjson_decode_max_depth(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `cfg_int` keeps that
    // contract.
    unsafe {
        cfg_int(
            l,
            1,
            i32::MAX as i64,
            |c| c.decode_max_depth,
            |c, v| c.decode_max_depth = v,
        )
    }
}

unsafe extern "C-unwind" fn cjson_encode_number_precision(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `cfg_int` keeps that
    // contract.
    unsafe {
        cfg_int(
            l,
            1,
            14,
            |c| c.encode_number_precision,
            |c, v| c.encode_number_precision = v,
        )
    }
}

/// `encode_invalid_numbers([off|on|null])`: `on` writes `inf`/`-inf`/`nan`, `null` writes
/// `null`, `off` refuses them (lua-cjson's three-way option).
unsafe extern "C-unwind" fn cjson_encode_invalid_numbers(l: *mut ffi::lua_State) -> c_int {
    const OPTIONS: [*const c_char; 4] = [
        c"off".as_ptr(),
        c"on".as_ptr(),
        c"null".as_ptr(),
        std::ptr::null(),
    ];
    // SAFETY: `l` is the state Lua called this C function with [state]; the helpers keep
    // that contract.
    unsafe {
        cfg_args(l, 1);
        cfg_enum_arg(
            l,
            1,
            &OPTIONS,
            1,
            |c| c.encode_invalid_numbers,
            |c, v| c.encode_invalid_numbers = v,
        );
    }
    1
}

unsafe extern "C-unwind" fn cjson_decode_invalid_numbers(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `cfg_bool` keeps that
    // contract.
    unsafe {
        cfg_bool(
            l,
            |c| c.decode_invalid_numbers as u8,
            |c, v| c.decode_invalid_numbers = v != 0,
        )
    }
}

unsafe extern "C-unwind" fn cjson_encode_keep_buffer(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `cfg_bool` keeps that
    // contract.
    unsafe {
        cfg_bool(
            l,
            |c| c.encode_keep_buffer as u8,
            |c, v| c.encode_keep_buffer = v != 0,
        )
    }
}

/// `encode_sparse_array([convert[, ratio[, safe]]])`: returns the three settings (ratio and
/// safe are integers in 0..=2^31-1).
unsafe extern "C-unwind" fn cjson_encode_sparse_array(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the helpers keep
    // that contract; three slots are pushed [stack].
    unsafe {
        cfg_args(l, 3);
        cfg_enum_arg(
            l,
            1,
            &ON_OFF,
            1,
            |c| c.sparse_convert as u8,
            |c, v| c.sparse_convert = v != 0,
        );
        let r = cfg_int_arg(
            l,
            2,
            0,
            i32::MAX as i64,
            |c| c.sparse_ratio,
            |c, v| c.sparse_ratio = v,
        );
        ffi::lua_pushinteger(l, r as _);
        let sf = cfg_int_arg(
            l,
            3,
            0,
            i32::MAX as i64,
            |c| c.sparse_safe,
            |c, v| c.sparse_safe = v,
        );
        ffi::lua_pushinteger(l, sf as _);
    }
    3
}

/// `cjson.new()`: lua-cjson returns a new module table; the shared one serves here.
unsafe extern "C-unwind" fn cjson_new(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; one slot is pushed [stack];
    // the globals' `__index` is not reached (`cjson` exists).
    unsafe {
        ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"cjson".as_ptr());
        1
    }
}

// ---------------------------------------------------------------------------------------
// cmsgpack

fn open_cmsgpack(st: &mut Stack<'_>) {
    st.new_table(0, 8);
    set_functions(
        st,
        &[
            (c"pack", mp_pack),
            (c"unpack", mp_unpack),
            (c"unpack_one", mp_unpack_one),
            (c"unpack_limit", mp_unpack_limit),
        ],
    );
    for (k, v) in [
        (c"_NAME", c"cmsgpack"),
        (c"_VERSION", c"lua-cmsgpack 0.4.0"),
        (c"_COPYRIGHT", c"Copyright (C) 2012, Salvatore Sanfilippo"),
        (c"_DESCRIPTION", c"MessagePack C implementation for Lua"),
    ] {
        st.set_field_cstr(k, v);
    }
    st.set_global(c"cmsgpack");
}

/// Tables nested deeper than this are packed as nil (LUACMSGPACK_MAX_NESTING).
const MP_MAX_NESTING: u32 = 16;

use super::lua::c_i64_cast as c_i64;

fn mp_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn mp_number(out: &mut Vec<u8>, n: f64) {
    let i = c_i64(n);
    if !n.is_infinite() && i as f64 == n {
        mp_int(out, i);
    } else {
        let f = n as f32;
        if f as f64 == n {
            out.push(0xca);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        } else {
            out.push(0xcb);
            out.extend_from_slice(&n.to_bits().to_be_bytes());
        }
    }
}

fn mp_len_header(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, b16: u8, b32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// True if the table at the top has exactly the keys 1..n (lua-cmsgpack
/// `table_is_an_array`; an empty table is one).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with a
/// table at the top and two free slots.
unsafe fn mp_is_array(l: *mut ffi::lua_State) -> bool {
    // SAFETY: the caller guarantees a valid state with the table at the top and two free slots;
    // `lua_next` pushes key and value, both popped, keys never converted.
    unsafe {
        let top = ffi::lua_gettop(l);
        let (mut count, mut max) = (0i64, 0i64);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pop(l, 1);
            let n = ffi::lua_tonumber(l, -1);
            let as_int = c_i64(n) as i32;
            if ffi::lua_type(l, -1) != ffi::LUA_TNUMBER || n <= 0.0 || as_int as f64 != n {
                ffi::lua_settop(l, top);
                return false;
            }
            max = max.max(n as i64);
            count += 1;
        }
        ffi::lua_settop(l, top);
        max == count
    }
}

/// Packs the value at the top of the stack (lua-cmsgpack `mp_encode_lua_type`).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with the
/// value to encode at the top, called under `mp_pack`'s `lua_checkstack(nargs)` check, so
/// that its `luaL_checkstack` cannot raise within the 16 levels it descends.
unsafe fn mp_encode(l: *mut ffi::lua_State, out: &mut Vec<u8>, level: u32) {
    // SAFETY: the caller guarantees a valid state with the value at the top; string slices are
    // copied into `out` while on the stack [str]; `luaL_checkstack` cannot raise while `pack_body`
    // owns its buffer: `mp_pack` made sure the arguments take at most half of Lua's C stack limit
    // (`lua_checkstack(nargs)`), and nesting is capped at 16 levels of 3 slots [stack] [jmp];
    // pushes raise only on allocation failure.
    unsafe {
        let mut t = ffi::lua_type(l, -1);
        if t == ffi::LUA_TTABLE && level == MP_MAX_NESTING {
            t = ffi::LUA_TNIL;
        }
        match t {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                let b = std::slice::from_raw_parts(p as *const u8, len);
                if len < 32 {
                    out.push(0xa0 | len as u8);
                } else if len <= 0xff {
                    out.extend_from_slice(&[0xd9, len as u8]);
                } else if len <= 0xffff {
                    out.push(0xda);
                    out.extend_from_slice(&(len as u16).to_be_bytes());
                } else {
                    out.push(0xdb);
                    out.extend_from_slice(&(len as u32).to_be_bytes());
                }
                out.extend_from_slice(b);
            }
            ffi::LUA_TBOOLEAN => out.push(if ffi::lua_toboolean(l, -1) != 0 {
                0xc3
            } else {
                0xc2
            }),
            ffi::LUA_TNUMBER => mp_number(out, ffi::lua_tonumber(l, -1)),
            ffi::LUA_TTABLE => {
                ffi::luaL_checkstack(l, 3, c"in function mp_encode_lua_table".as_ptr());
                if mp_is_array(l) {
                    let n = ffi::lua_objlen(l, -1);
                    mp_len_header(out, n, 0x90, 15, 0xdc, 0xdd);
                    for j in 1..=n {
                        ffi::lua_rawgeti(l, -1, j as _);
                        mp_encode(l, out, level + 1);
                        ffi::lua_pop(l, 1);
                    }
                } else {
                    let mut n = 0usize;
                    ffi::lua_pushnil(l);
                    while ffi::lua_next(l, -2) != 0 {
                        ffi::lua_pop(l, 1);
                        n += 1;
                    }
                    mp_len_header(out, n, 0x80, 15, 0xde, 0xdf);
                    ffi::lua_pushnil(l);
                    while ffi::lua_next(l, -2) != 0 {
                        ffi::lua_pushvalue(l, -2);
                        mp_encode(l, out, level + 1);
                        ffi::lua_pop(l, 1);
                        mp_encode(l, out, level + 1);
                        ffi::lua_pop(l, 1);
                    }
                }
            }
            _ => out.push(0xc0),
        }
    }
}

/// # Safety
///
/// `l` is the state of the running `cmsgpack.pack` call ([state]).
unsafe fn pack_body(l: *mut ffi::lua_State) -> Result<(), ()> {
    // SAFETY: the caller passes the state of the running `cmsgpack.pack` [state]; each argument is
    // counted by `lua_gettop`; the buffer is copied by Lua.
    unsafe {
        let n = ffi::lua_gettop(l);
        let mut out = Vec::new();
        for i in 1..=n {
            ffi::lua_pushvalue(l, i);
            mp_encode(l, &mut out, 0);
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pushlstring(l, out.as_ptr() as *const c_char, out.len());
        Ok(())
    }
}

unsafe extern "C-unwind" fn mp_pack(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `luaL_argerror` longjmps
    // from a frame holding nothing with a destructor, and `pack_body` has returned before [jmp].
    unsafe {
        let nargs = ffi::lua_gettop(l);
        if nargs == 0 {
            return ffi::luaL_argerror(l, 0, c"MessagePack pack needs input.".as_ptr());
        }
        // As lua-cmsgpack: room for as many values again. This also bounds the stack so
        // that `mp_encode`'s `luaL_checkstack` cannot fail (and longjmp across the buffer
        // `pack_body` owns).
        if ffi::lua_checkstack(l, nargs) == 0 {
            return ffi::luaL_argerror(l, 0, c"Too many arguments for MessagePack pack.".as_ptr());
        }
        let _ = pack_body(l);
        1
    }
}

/// Why decoding stopped.
enum MpErr {
    Eof,
    BadFormat,
}

/// Decodes one value at `s[*pos..]` and pushes it (lua-cmsgpack `mp_decode_to_lua_type`).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model). Errors are
/// returned, not raised.
unsafe fn mp_decode(
    l: *mut ffi::lua_State,
    s: &[u8],
    pos: &mut usize,
    depth: u32,
) -> Result<(), MpErr> {
    // SAFETY: the caller guarantees a valid state; `lua_checkstack` is called before each nested
    // value [stack]; decoded strings are copied by Lua; errors are returned [jmp].
    unsafe {
        if depth > 1000 || ffi::lua_checkstack(l, 4) == 0 {
            return Err(MpErr::BadFormat);
        }
        let take = |pos: &mut usize, n: usize| -> Result<&[u8], MpErr> {
            let b = s.get(*pos..*pos + n).ok_or(MpErr::Eof)?;
            *pos += n;
            Ok(b)
        };
        let t = take(pos, 1)?[0];
        let be = |b: &[u8]| b.iter().fold(0u64, |a, &x| (a << 8) | x as u64);
        match t {
            0x00..=0x7f => ffi::lua_pushnumber(l, t as f64),
            0xe0..=0xff => ffi::lua_pushnumber(l, t as i8 as f64),
            0xc0 => ffi::lua_pushnil(l),
            0xc2 => ffi::lua_pushboolean(l, 0),
            0xc3 => ffi::lua_pushboolean(l, 1),
            0xca => {
                let v = f32::from_bits(be(take(pos, 4)?) as u32);
                ffi::lua_pushnumber(l, v as f64);
            }
            0xcb => {
                let v = f64::from_bits(be(take(pos, 8)?));
                ffi::lua_pushnumber(l, v);
            }
            0xcc => ffi::lua_pushnumber(l, be(take(pos, 1)?) as f64),
            0xcd => ffi::lua_pushnumber(l, be(take(pos, 2)?) as f64),
            0xce => ffi::lua_pushnumber(l, be(take(pos, 4)?) as f64),
            0xcf => ffi::lua_pushnumber(l, be(take(pos, 8)?) as f64),
            0xd0 => ffi::lua_pushnumber(l, be(take(pos, 1)?) as u8 as i8 as f64),
            0xd1 => ffi::lua_pushnumber(l, be(take(pos, 2)?) as u16 as i16 as f64),
            0xd2 => ffi::lua_pushnumber(l, be(take(pos, 4)?) as u32 as i32 as f64),
            0xd3 => ffi::lua_pushnumber(l, be(take(pos, 8)?) as i64 as f64),
            0xa0..=0xbf | 0xd9 | 0xda | 0xdb => {
                let n = match t {
                    0xd9 => be(take(pos, 1)?) as usize,
                    0xda => be(take(pos, 2)?) as usize,
                    0xdb => be(take(pos, 4)?) as usize,
                    _ => (t & 0x1f) as usize,
                };
                let b = take(pos, n)?;
                ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, n);
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let n = match t {
                    0xdc => be(take(pos, 2)?) as usize,
                    0xdd => be(take(pos, 4)?) as usize,
                    _ => (t & 0x0f) as usize,
                };
                ffi::lua_createtable(l, 0, 0);
                for i in 1..=n {
                    mp_decode(l, s, pos, depth + 1)?;
                    ffi::lua_rawseti(l, -2, i as _);
                }
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let n = match t {
                    0xde => be(take(pos, 2)?) as usize,
                    0xdf => be(take(pos, 4)?) as usize,
                    _ => (t & 0x0f) as usize,
                };
                ffi::lua_createtable(l, 0, 0);
                for _ in 0..n {
                    mp_decode(l, s, pos, depth + 1)?;
                    mp_decode(l, s, pos, depth + 1)?;
                    if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                        // A nil key cannot be stored (Lua would raise); drop the pair.
                        ffi::lua_pop(l, 2);
                        continue;
                    }
                    ffi::lua_rawset(l, -3);
                }
            }
            _ => return Err(MpErr::BadFormat),
        }
        Ok(())
    }
}

/// lua-cmsgpack `mp_unpack_full`: decodes up to `limit` values (all when both are 0) from
/// `offset`; with a limit or offset the next offset (-1 at the end) comes first.
///
/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model). This may raise a Lua error (`longjmp`): every Rust frame between
/// the caller and Lua's C frame must own nothing with a destructor ([jmp]).
unsafe fn mp_unpack_full(l: *mut ffi::lua_State, limit: i64, offset: i64) -> c_int {
    // SAFETY: the caller passes the state of the running C function [state]; the input slice stays
    // valid while argument 1 stays on the stack, which it does (values are only pushed above it)
    // [str]; `raise` and `luaL_check*` longjmp from a frame holding only slices and integers
    // (`raise` drops its message first) [jmp].
    unsafe {
        let mut len = 0usize;
        let p = ffi::luaL_checklstring(l, 1, &mut len);
        let s = std::slice::from_raw_parts(p as *const u8, len);
        let decode_all = limit == 0 && offset == 0;
        if offset < 0 || limit < 0 {
            let msg =
                format!("Invalid request to unpack with offset of {offset} and limit of {len}.");
            return raise(l, msg);
        }
        if offset as usize > len {
            return raise(
                l,
                format!("Start offset {offset} greater than input length {len}."),
            );
        }
        let limit = if decode_all { i64::MAX } else { limit };
        let mut pos = offset as usize;
        let mut cnt: c_int = 0;
        while pos < len && (cnt as i64) < limit {
            match mp_decode(l, s, &mut pos, 0) {
                Ok(()) => {}
                Err(MpErr::Eof) => return raise(l, "Missing bytes in input.".to_string()),
                Err(MpErr::BadFormat) => return raise(l, "Bad data format in input.".to_string()),
            }
            cnt += 1;
        }
        if !decode_all {
            ffi::luaL_checkstack(l, 1, c"in function mp_unpack_full".as_ptr());
            let next = if pos >= len { -1 } else { pos as i64 };
            ffi::lua_pushinteger(l, next as _);
            ffi::lua_insert(l, 2);
            cnt += 1;
        }
        cnt
    }
}

unsafe extern "C-unwind" fn mp_unpack(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `mp_unpack_full` keeps that
    // contract.
    unsafe { mp_unpack_full(l, 0, 0) }
}

unsafe extern "C-unwind" fn mp_unpack_one(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `luaL_optinteger` longjmps
    // from a frame holding only integers [jmp]; the pop leaves argument 1 for `mp_unpack_full`.
    unsafe {
        let offset = ffi::luaL_optinteger(l, 2, 0) as i64;
        ffi::lua_pop(l, ffi::lua_gettop(l) - 1);
        mp_unpack_full(l, 1, offset)
    }
}

unsafe extern "C-unwind" fn mp_unpack_limit(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state];
    // `luaL_checkinteger`/`luaL_optinteger` longjmp from a frame holding only integers [jmp]; the
    // pop leaves argument 1 for `mp_unpack_full`.
    unsafe {
        let limit = ffi::luaL_checkinteger(l, 2) as i64;
        let offset = ffi::luaL_optinteger(l, 3, 0) as i64;
        ffi::lua_pop(l, ffi::lua_gettop(l) - 1);
        mp_unpack_full(l, limit, offset)
    }
}

// ---------------------------------------------------------------------------------------
// struct

fn open_struct(st: &mut Stack<'_>) {
    st.new_table(0, 3);
    set_functions(
        st,
        &[
            (c"pack", st_pack),
            (c"unpack", st_unpack),
            (c"size", st_size),
        ],
    );
    st.set_global(c"struct");
}

/// An error of the struct library, raised once our values are gone.
enum StErr {
    /// `luaL_error` text.
    Msg(String),
    /// `luaL_argerror(narg, text)`.
    Arg(c_int, String),
}

/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model). It raises a Lua error (`longjmp`) after dropping the message:
/// every Rust frame between the caller and Lua's C frame must own nothing with a destructor
/// ([jmp]).
unsafe fn st_raise(l: *mut ffi::lua_State, e: StErr) -> c_int {
    // SAFETY: the caller passes the state of the running C function with nothing of its own to drop
    // [jmp]; the message is copied into Lua and dropped before `luaL_argerror` longjmps, and the
    // pointer passed to it stays valid because the string is on the stack [str].
    unsafe {
        match e {
            StErr::Msg(m) => raise(l, m),
            StErr::Arg(n, m) => {
                ffi::lua_pushlstring(l, m.as_ptr() as *const c_char, m.len());
                drop(m);
                let p = ffi::lua_tolstring(l, -1, std::ptr::null_mut());
                ffi::luaL_argerror(l, n, p)
            }
        }
    }
}

const ST_MAXINTSIZE: usize = 32;
const ST_MAXALIGN: usize = 8;

/// The format's state: byte order (true = little) and maximum alignment.
struct StHeader {
    little: bool,
    align: usize,
}

/// Reads a number in the format at `*i` (`getnum`), `df` when there is none.
fn st_getnum(f: &[u8], i: &mut usize, df: usize) -> Result<usize, StErr> {
    if *i >= f.len() || !f[*i].is_ascii_digit() {
        return Ok(df);
    }
    let mut a: usize = 0;
    while *i < f.len() && f[*i].is_ascii_digit() {
        let d = (f[*i] - b'0') as usize;
        if a > (i32::MAX as usize) / 10 || a * 10 > (i32::MAX as usize) - d {
            return Err(StErr::Msg("integral size overflow".into()));
        }
        a = a * 10 + d;
        *i += 1;
    }
    Ok(a)
}

/// Size of option `opt` (`optsize`).
fn st_optsize(opt: u8, f: &[u8], i: &mut usize) -> Result<usize, StErr> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => st_getnum(f, i, 1)?,
        b'i' | b'I' => {
            let sz = st_getnum(f, i, 4)?;
            if sz > ST_MAXINTSIZE {
                return Err(StErr::Msg(format!(
                    "integral size {sz} is larger than limit of {ST_MAXINTSIZE}"
                )));
            }
            sz
        }
        _ => 0,
    })
}

fn st_toalign(len: usize, h: &StHeader, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// `controloptions`: `' '`, `>`, `<`, `!n`, else an invalid option.
fn st_control(opt: u8, f: &[u8], i: &mut usize, h: &mut StHeader) -> Result<(), StErr> {
    match opt {
        b' ' => {}
        b'>' => h.little = false,
        b'<' => h.little = true,
        b'!' => {
            let a = st_getnum(f, i, ST_MAXALIGN)?;
            if a == 0 || !a.is_power_of_two() {
                return Err(StErr::Msg(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        _ => {
            return Err(StErr::Arg(
                1,
                format!("invalid format option '{}'", opt as char),
            ))
        }
    }
    Ok(())
}

/// The format string (up to a NUL, as C reads it).
///
/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model). The slice (any `'a` the caller picks) must not outlive argument 1
/// on the stack ([str]). Errors are returned, not raised.
unsafe fn st_fmt<'a>(l: *mut ffi::lua_State) -> Result<&'a [u8], StErr> {
    // SAFETY: the caller passes the state of the running C function [state]; the format is argument
    // 1, which stays on the stack for the whole call, so the slice lives as long as the callback
    // [str]; errors are returned [jmp].
    unsafe {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, 1, &mut len);
        if p.is_null() {
            return Err(StErr::Arg(
                1,
                format!("string expected, got {}", type_name(l, 1)),
            ));
        }
        let f = std::slice::from_raw_parts(p as *const u8, len);
        Ok(&f[..memchr::memchr(0, f).unwrap_or(f.len())])
    }
}

/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model).
unsafe fn st_number(l: *mut ffi::lua_State, arg: c_int) -> Result<f64, StErr> {
    // SAFETY: the caller passes the state of the running C function; `lua_tonumber`/`lua_isnumber`
    // never raise.
    unsafe {
        let d = ffi::lua_tonumber(l, arg);
        if d == 0.0 && ffi::lua_isnumber(l, arg) == 0 {
            return Err(StErr::Arg(
                arg,
                format!("number expected, got {}", type_name(l, arg)),
            ));
        }
        Ok(d)
    }
}

/// # Safety
///
/// `l` is the state of the running `struct.pack` call ([state]). Errors are returned, not
/// raised.
unsafe fn st_pack_body(l: *mut ffi::lua_State) -> Result<(), StErr> {
    // SAFETY: the caller passes the state of the running `struct.pack` [state]; arguments are read
    // with `lua_tolstring`/`st_number`, which never raise (missing ones read as nil), and string
    // slices are copied while on the stack [str]; errors are returned [jmp]; one string is pushed
    // [stack].
    unsafe {
        let f = st_fmt(l)?;
        // As the C library: a nil marks the end of the arguments (a missing one is "nil").
        ffi::lua_pushnil(l);
        let mut h = StHeader {
            little: true,
            align: 1,
        };
        let mut arg: c_int = 2;
        let mut out: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < f.len() {
            let opt = f[i];
            i += 1;
            let mut size = st_optsize(opt, f, &mut i)?;
            let toalign = st_toalign(out.len(), &h, opt, size);
            out.resize(out.len() + toalign, 0);
            match opt {
                b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                    let n = st_number(l, arg)?;
                    arg += 1;
                    let mut value: u64 = if n < 0.0 {
                        super::lua::c_i64_cast(n) as u64
                    } else if n >= 18446744073709551616.0 || n.is_nan() {
                        0x8000_0000_0000_0000
                    } else {
                        n as u64
                    };
                    let mut buff = [0u8; ST_MAXINTSIZE];
                    if h.little {
                        for b in buff.iter_mut().take(size) {
                            *b = value as u8;
                            value = value.checked_shr(8).unwrap_or(0);
                        }
                    } else {
                        for k in (0..size).rev() {
                            buff[k] = value as u8;
                            value = value.checked_shr(8).unwrap_or(0);
                        }
                    }
                    out.extend_from_slice(&buff[..size]);
                }
                b'x' => out.push(0),
                b'f' => {
                    let v = st_number(l, arg)? as f32;
                    arg += 1;
                    out.extend_from_slice(&if h.little {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    });
                }
                b'd' => {
                    let v = st_number(l, arg)?;
                    arg += 1;
                    out.extend_from_slice(&if h.little {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    });
                }
                b'c' | b's' => {
                    let mut len = 0usize;
                    let p = ffi::lua_tolstring(l, arg, &mut len);
                    if p.is_null() {
                        return Err(StErr::Arg(
                            arg,
                            format!("string expected, got {}", type_name(l, arg)),
                        ));
                    }
                    arg += 1;
                    let s = std::slice::from_raw_parts(p as *const u8, len);
                    if size == 0 {
                        size = len;
                    }
                    if len < size {
                        return Err(StErr::Arg(arg, "string too short".into()));
                    }
                    out.extend_from_slice(&s[..size]);
                    if opt == b's' {
                        out.push(0);
                        size += 1;
                    }
                }
                _ => st_control(opt, f, &mut i, &mut h)?,
            }
            let _ = size;
        }
        ffi::lua_pushlstring(l, out.as_ptr() as *const c_char, out.len());
        Ok(())
    }
}

unsafe extern "C-unwind" fn st_pack(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `st_pack_body` has returned
    // and `st_raise` drops the message before the longjmp [jmp].
    unsafe {
        match st_pack_body(l) {
            Ok(()) => 1,
            Err(e) => st_raise(l, e),
        }
    }
}

fn st_getinteger(b: &[u8], little: bool, signed: bool) -> f64 {
    let size = b.len();
    let mut v: u64 = 0;
    let bytes: Box<dyn Iterator<Item = &u8>> = if little {
        Box::new(b.iter().rev())
    } else {
        Box::new(b.iter())
    };
    for &x in bytes {
        v = (v << 8) | x as u64;
    }
    if !signed {
        return v as f64;
    }
    // x86 shifts by the count modulo 64, as the C code's oversized shift does there.
    let mask = u64::MAX << ((size * 8).wrapping_sub(1) & 63);
    if v & mask != 0 {
        v |= mask;
    }
    v as i64 as f64
}

/// # Safety
///
/// `l` is the state of the running `struct.unpack` call ([state]). Errors are returned, not
/// raised.
unsafe fn st_unpack_body(l: *mut ffi::lua_State) -> Result<c_int, StErr> {
    // SAFETY: the caller passes the state of the running `struct.unpack` [state]; the data slice
    // (argument 2) stays on the stack for the whole call [str]; `lua_checkstack` reserves room
    // before each value is pushed [stack]; errors are returned [jmp].
    unsafe {
        let f = st_fmt(l)?;
        let mut ld = 0usize;
        let p = ffi::lua_tolstring(l, 2, &mut ld);
        if p.is_null() {
            return Err(StErr::Arg(
                2,
                format!("string expected, got {}", type_name(l, 2)),
            ));
        }
        let data = std::slice::from_raw_parts(p as *const u8, ld);
        let pos1 = if ffi::lua_type(l, 3) <= 0 {
            1
        } else {
            st_number(l, 3)? as i64
        };
        if pos1 <= 0 {
            return Err(StErr::Arg(3, "offset must be 1 or greater".into()));
        }
        let mut pos = (pos1 - 1) as usize;
        let mut h = StHeader {
            little: true,
            align: 1,
        };
        let mut n: c_int = 0;
        let mut i = 0;
        while i < f.len() {
            let opt = f[i];
            i += 1;
            let mut size = st_optsize(opt, f, &mut i)?;
            pos += st_toalign(pos, &h, opt, size);
            if !(size <= ld && pos <= ld - size) {
                return Err(StErr::Arg(2, "data string too short".into()));
            }
            if ffi::lua_checkstack(l, 2) == 0 {
                return Err(StErr::Msg("stack overflow (too many results)".into()));
            }
            match opt {
                b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                    let v =
                        st_getinteger(&data[pos..pos + size], h.little, opt.is_ascii_lowercase());
                    ffi::lua_pushnumber(l, v);
                    n += 1;
                }
                b'x' => {}
                b'f' => {
                    let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or([0; 4]);
                    let v = if h.little {
                        f32::from_le_bytes(b)
                    } else {
                        f32::from_be_bytes(b)
                    };
                    ffi::lua_pushnumber(l, v as f64);
                    n += 1;
                }
                b'd' => {
                    let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or([0; 8]);
                    let v = if h.little {
                        f64::from_le_bytes(b)
                    } else {
                        f64::from_be_bytes(b)
                    };
                    ffi::lua_pushnumber(l, v);
                    n += 1;
                }
                b'c' => {
                    if size == 0 {
                        if n == 0 || ffi::lua_isnumber(l, -1) == 0 {
                            return Err(StErr::Msg("format 'c0' needs a previous size".into()));
                        }
                        size = ffi::lua_tonumber(l, -1) as usize;
                        ffi::lua_pop(l, 1);
                        n -= 1;
                        if !(size <= ld && pos <= ld - size) {
                            return Err(StErr::Arg(2, "data string too short".into()));
                        }
                    }
                    ffi::lua_pushlstring(l, data[pos..].as_ptr() as *const c_char, size);
                    n += 1;
                }
                b's' => {
                    let Some(e) = memchr::memchr(0, &data[pos..]) else {
                        return Err(StErr::Msg("unfinished string in data".into()));
                    };
                    size = e + 1;
                    ffi::lua_pushlstring(l, data[pos..].as_ptr() as *const c_char, e);
                    n += 1;
                }
                _ => st_control(opt, f, &mut i, &mut h)?,
            }
            pos += size;
        }
        ffi::lua_pushinteger(l, (pos + 1) as _);
        Ok(n + 1)
    }
}

unsafe extern "C-unwind" fn st_unpack(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `st_unpack_body` has
    // returned and `st_raise` drops the message before the longjmp [jmp].
    unsafe {
        match st_unpack_body(l) {
            Ok(n) => n,
            Err(e) => st_raise(l, e),
        }
    }
}

/// # Safety
///
/// `l` is the state of the running `struct.size` call ([state]). Errors are returned, not
/// raised.
unsafe fn st_size_body(l: *mut ffi::lua_State) -> Result<(), StErr> {
    // SAFETY: the caller passes the state of the running `struct.size` [state]; the format slice
    // stays on the stack [str]; one slot is pushed [stack]; errors are returned [jmp].
    unsafe {
        let f = st_fmt(l)?;
        let mut h = StHeader {
            little: true,
            align: 1,
        };
        let mut pos = 0usize;
        let mut i = 0;
        while i < f.len() {
            let opt = f[i];
            i += 1;
            let size = st_optsize(opt, f, &mut i)?;
            pos += st_toalign(pos, &h, opt, size);
            if opt == b's' {
                return Err(StErr::Arg(1, "option 's' has no fixed size".into()));
            } else if opt == b'c' && size == 0 {
                return Err(StErr::Arg(1, "option 'c0' has no fixed size".into()));
            }
            if !opt.is_ascii_alphanumeric() {
                st_control(opt, f, &mut i, &mut h)?;
            }
            pos += size;
        }
        ffi::lua_pushinteger(l, pos as _);
        Ok(())
    }
}

unsafe extern "C-unwind" fn st_size(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; `st_size_body` has returned
    // and `st_raise` drops the message before the longjmp [jmp].
    unsafe {
        match st_size_body(l) {
            Ok(()) => 1,
            Err(e) => st_raise(l, e),
        }
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
