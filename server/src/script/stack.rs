//! [`Stack`]: a checked handle on a Lua state's stack, so that the scripting callbacks can
//! push, read and pop values without `unsafe` of their own.
//!
//! The raw C API (through `mlua-sys`) trusts its caller for three things, which this
//! module checks or encapsulates once (see the "Safety model" of [`super::lua`]):
//! - the state is live and used on its own thread ([state]): the one obligation left to
//!   the caller of [`Stack::new`], the only `unsafe fn` here;
//! - indices name existing slots and pushes have a free slot ([stack]): every read
//!   checks its index against `lua_gettop` (an index past the top reads as "none", as
//!   Lua's acceptable indices do), every push reserves its slot with `lua_checkstack`,
//!   every pop checks the count;
//! - a string slice dies before its value leaves the stack ([str]): [`Stack::bytes`]
//!   borrows the `Stack` immutably and every method that pops or overwrites a slot takes
//!   it mutably, so the borrow checker enforces it.
//!
//! No method raises a Lua error ([jmp]): none calls `lua_error`/`luaL_*` or runs Lua code
//! (tables are read and written raw). As everywhere in Lua, a push can still fail to
//! allocate (`LUA_ERRMEM`), which the safety model lists as its one uncovered case.

use mlua_sys as ffi;
use std::ffi::{c_char, c_int, CStr};
use std::marker::PhantomData;

/// Aborts on a broken invariant of this module's callers (a bug). Not a panic: these
/// methods run inside Lua C functions, and unwinding must not reach Lua's C frames.
fn check(ok: bool, what: &str) {
    if !ok {
        crate::log::log(
            crate::log::Level::Warning,
            &format!("Lua stack misuse: {what}"),
        );
        std::process::abort();
    }
}

/// A Lua state's stack, borrowed for `'l` (one C function call, or one set-up step).
pub struct Stack<'l> {
    l: *mut ffi::lua_State,
    _state: PhantomData<&'l mut ffi::lua_State>,
}

impl Stack<'_> {
    /// Wraps the state `l`.
    ///
    /// # Safety
    ///
    /// `l` must be a live Lua state ([state] in [`super::lua`]'s safety model): one made by
    /// `new_state`, or the state Lua passed to the running C function or hook. It is used
    /// only on the current thread while the `Stack` lives, and any other code that touches
    /// its stack meanwhile (through [`Stack::raw`]) leaves the slots below the top it found
    /// as they were.
    pub unsafe fn new(l: *mut ffi::lua_State) -> Self {
        Stack {
            l,
            _state: PhantomData,
        }
    }

    /// The raw state, for the calls not wrapped here (each in its own `unsafe` block).
    pub fn raw(&self) -> *mut ffi::lua_State {
        self.l
    }

    /// Number of values on the stack (`lua_gettop`).
    pub fn top(&self) -> c_int {
        // SAFETY: `self.l` is live and on this thread (constructor contract); `lua_gettop`
        // only subtracts two stack pointers.
        unsafe { ffi::lua_gettop(self.l) }
    }

    /// Whether `idx` names an existing slot (`1..=top` or `-top..=-1`).
    fn valid(&self, idx: c_int) -> bool {
        let top = self.top();
        (idx > 0 && idx <= top) || (idx < 0 && idx >= -top)
    }

    /// Reserves one free slot for a push. Failure (a C function already holding
    /// `LUAI_MAXCSTACK` values) cannot happen with the callbacks here; it aborts rather than
    /// writing past the stack.
    fn reserve(&mut self) {
        // SAFETY: live state (constructor contract); `lua_checkstack` grows the stack or
        // reports failure, it never raises.
        let ok = unsafe { ffi::lua_checkstack(self.l, 1) } != 0;
        check(ok, "Lua stack overflow");
    }

    /// Lua type of slot `idx` (`LUA_TNONE` when there is no such slot).
    pub fn type_at(&self, idx: c_int) -> c_int {
        if !self.valid(idx) {
            return ffi::LUA_TNONE;
        }
        // SAFETY: live state, and `idx` names an existing slot (checked above).
        unsafe { ffi::lua_type(self.l, idx) }
    }

    /// Slot `idx` as a boolean (`lua_toboolean`: false only for nil, false, or no slot).
    #[cfg(test)]
    pub fn boolean(&self, idx: c_int) -> bool {
        // SAFETY: live state, and `idx` names an existing slot (checked first).
        self.valid(idx) && unsafe { ffi::lua_toboolean(self.l, idx) } != 0
    }

    /// Lua's name of the type of slot `idx` (`no value` when there is no such slot).
    pub fn type_name(&self, idx: c_int) -> String {
        let t = self.type_at(idx);
        // SAFETY: live state; `lua_typename` maps every type tag, `LUA_TNONE` included, to
        // an entry of Lua's static table of NUL-terminated names.
        let p = unsafe { ffi::lua_typename(self.l, t) };
        // SAFETY: `p` points at one of those static NUL-terminated names.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// Whether slot `idx` is a string or a number (`lua_isstring`).
    pub fn is_string(&self, idx: c_int) -> bool {
        // SAFETY: live state, and `idx` names an existing slot (checked first).
        self.valid(idx) && unsafe { ffi::lua_isstring(self.l, idx) } != 0
    }

    /// Whether slot `idx` is a number or a numeric string (`lua_isnumber`).
    pub fn is_number(&self, idx: c_int) -> bool {
        // SAFETY: live state, and `idx` names an existing slot (checked first).
        self.valid(idx) && unsafe { ffi::lua_isnumber(self.l, idx) } != 0
    }

    /// Slot `idx` as a number (`lua_tonumber`: 0 when it is not one or does not exist).
    pub fn number(&self, idx: c_int) -> f64 {
        if !self.valid(idx) {
            return 0.0;
        }
        // SAFETY: live state, and `idx` names an existing slot (checked above).
        unsafe { ffi::lua_tonumber(self.l, idx) }
    }

    /// The bytes of slot `idx` if it is a string, or a number (converted in place to a
    /// string, as `lua_tolstring` does; not to be used on a key during a traversal).
    pub fn bytes(&self, idx: c_int) -> Option<&[u8]> {
        if !self.valid(idx) {
            return None;
        }
        let mut len = 0usize;
        // SAFETY: live state, and `idx` names an existing slot (checked above);
        // `lua_tolstring` returns NULL for other types and does not raise.
        let p = unsafe { ffi::lua_tolstring(self.l, idx, &mut len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` points at the `len` bytes of an immutable Lua string, which lives
        // while it is on the stack; the slice borrows `self`, and every method that pops or
        // overwrites a slot takes `&mut self`, so the string outlives the slice [str].
        Some(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
    }

    /// Pushes a byte string (copied by Lua).
    pub fn push_bytes(&mut self, b: &[u8]) {
        self.reserve();
        // SAFETY: live state with a free slot (reserved above); `b` is a live slice of
        // `b.len()` bytes, copied before `lua_pushlstring` returns.
        unsafe { ffi::lua_pushlstring(self.l, b.as_ptr() as *const c_char, b.len()) };
    }

    /// Pushes a NUL-terminated string (copied by Lua).
    pub fn push_cstr(&mut self, s: &CStr) {
        self.reserve();
        // SAFETY: live state with a free slot (reserved above); `s` is NUL-terminated and
        // copied before `lua_pushstring` returns.
        unsafe { ffi::lua_pushstring(self.l, s.as_ptr()) };
    }

    /// Pushes a number.
    pub fn push_number(&mut self, n: f64) {
        self.reserve();
        // SAFETY: live state with a free slot (reserved above).
        unsafe { ffi::lua_pushnumber(self.l, n) };
    }

    /// Pushes nil.
    pub fn push_nil(&mut self) {
        self.reserve();
        // SAFETY: live state with a free slot (reserved above).
        unsafe { ffi::lua_pushnil(self.l) };
    }

    /// Pushes a boolean.
    pub fn push_bool(&mut self, b: bool) {
        self.reserve();
        // SAFETY: live state with a free slot (reserved above).
        unsafe { ffi::lua_pushboolean(self.l, b as c_int) };
    }

    /// Pushes a copy of slot `idx` (a missing slot is a bug: aborts).
    pub fn push_value(&mut self, idx: c_int) {
        check(self.valid(idx), "push_value of a missing slot");
        self.reserve();
        // SAFETY: live state with a free slot (reserved above), `idx` names an existing
        // slot (asserted above; a relative index is taken before the push).
        unsafe { ffi::lua_pushvalue(self.l, idx) };
    }

    /// Pushes a new table with room for `narr` array and `nrec` hash entries.
    pub fn new_table(&mut self, narr: c_int, nrec: c_int) {
        self.reserve();
        // SAFETY: live state with a free slot (reserved above).
        unsafe { ffi::lua_createtable(self.l, narr, nrec) };
    }

    /// Pops `n` values (fewer on the stack is a bug: aborts).
    pub fn pop(&mut self, n: c_int) {
        check(
            n >= 0 && n <= self.top(),
            "pop past the bottom of the stack",
        );
        // SAFETY: live state holding at least `n` values (asserted above).
        unsafe { ffi::lua_pop(self.l, n) };
    }

    /// Checks that the top slot is a table (for the raw reads).
    fn check_table_on_top(&self) {
        check(
            self.type_at(-1) == ffi::LUA_TTABLE,
            "a table must be on top of the stack",
        );
    }

    /// Checks that the top slot is a table that is not readonly (for the raw writes, which
    /// raise on a readonly table: the sandbox's patch to `lua_rawset`).
    fn check_writable_table_on_top(&self) {
        self.check_table_on_top();
        // SAFETY: live state; slot -1 exists (checked above).
        let ro = unsafe { super::lua::lua_isreadonlytable(self.l, -1) } != 0;
        check(!ro, "the table on top of the stack is readonly");
    }

    /// `t[k] = ` the value at the top (popped), raw, for the table `t` just below the key
    /// pushed here; the key is pushed and moved below the value first.
    fn rawset_top_into_field(&mut self, k: &CStr) {
        self.push_cstr(k);
        // SAFETY: live state with the table at -3 (checked writable by the callers before
        // pushing the value) and the value and key above it; `lua_insert` swaps them, then
        // `lua_rawset` pops both and runs no metamethod (not readonly: no raise).
        unsafe {
            ffi::lua_insert(self.l, -2);
            ffi::lua_rawset(self.l, -3);
        }
    }

    /// `t[name] = f` (raw) for the table `t` at the top of the stack.
    pub fn set_function(&mut self, name: &CStr, f: ffi::lua_CFunction) {
        self.check_writable_table_on_top();
        self.reserve();
        // SAFETY: live state with a free slot (reserved above).
        unsafe { ffi::lua_pushcfunction(self.l, f) };
        self.rawset_top_into_field(name);
    }

    /// `t[name] = n` (raw) for the table `t` at the top of the stack.
    pub fn set_field_number(&mut self, name: &CStr, n: f64) {
        self.check_writable_table_on_top();
        self.push_number(n);
        self.rawset_top_into_field(name);
    }

    /// `t[name] = s` (raw) for the table `t` at the top of the stack.
    pub fn set_field_cstr(&mut self, name: &CStr, s: &CStr) {
        self.check_writable_table_on_top();
        self.push_cstr(s);
        self.rawset_top_into_field(name);
    }

    /// `t[name] = ` a NULL light userdata (lua-cjson's `null`), raw, for the table `t` at
    /// the top of the stack.
    pub fn set_field_null_userdata(&mut self, name: &CStr) {
        self.check_writable_table_on_top();
        self.reserve();
        // SAFETY: live state with a free slot (reserved above); a light userdata is only a
        // pointer value, never dereferenced by Lua.
        unsafe { ffi::lua_pushlightuserdata(self.l, std::ptr::null_mut()) };
        self.rawset_top_into_field(name);
    }

    /// `globals[name] = ` the value at the top of the stack (popped), raw. The globals must
    /// not be locked yet (state set-up only; checked).
    pub fn set_global(&mut self, name: &CStr) {
        check(self.top() >= 1, "set_global without a value");
        // SAFETY: live state; `LUA_GLOBALSINDEX` is a valid pseudo-index naming a table.
        let ro = unsafe { super::lua::lua_isreadonlytable(self.l, ffi::LUA_GLOBALSINDEX) } != 0;
        check(!ro, "set_global after the globals are locked");
        self.push_cstr(name);
        // SAFETY: live state with the value at -2 and the key at -1; `lua_insert` swaps them,
        // then `lua_rawset` on the (not readonly) globals pops both, runs no metamethod and
        // does not raise.
        unsafe {
            ffi::lua_insert(self.l, -2);
            ffi::lua_rawset(self.l, ffi::LUA_GLOBALSINDEX);
        }
    }

    /// `t[k] = v` (raw) for the table `t` at the top of the stack.
    pub fn set_field_bytes(&mut self, k: &CStr, v: &[u8]) {
        self.check_writable_table_on_top();
        self.push_cstr(k);
        self.push_bytes(v);
        // SAFETY: live state with the table at -3 (checked a table and not readonly before
        // the two pushes) and the key and value above it; `lua_rawset` pops both, runs no
        // metamethod and, the table being writable, does not raise.
        unsafe { ffi::lua_rawset(self.l, -3) };
    }

    /// `t[k] = true` (raw) for the table `t` at the top of the stack.
    pub fn set_field_true(&mut self, k: &CStr) {
        self.check_writable_table_on_top();
        self.push_cstr(k);
        self.push_bool(true);
        // SAFETY: as in `set_field_bytes`: a writable table at -3 (checked), key and value
        // above it; the raw set pops both and does not raise.
        unsafe { ffi::lua_rawset(self.l, -3) };
    }

    /// Pushes `t[field]` (raw) of the table at the top of the stack; returns its type.
    pub fn raw_field(&mut self, field: &CStr) -> c_int {
        self.check_table_on_top();
        self.push_cstr(field);
        // SAFETY: live state with the table at -2 (asserted before the push) and the key
        // at -1; `lua_rawget` replaces the key by the value and runs no metamethod.
        unsafe { ffi::lua_rawget(self.l, -2) };
        self.type_at(-1)
    }

    /// `t[field] = ` a copy of slot `src` (an absolute index, below the table), raw, for the
    /// table `t` at the top of the stack.
    pub fn set_field_value(&mut self, field: &CStr, src: c_int) {
        self.check_writable_table_on_top();
        check(
            src > 0 && self.valid(src),
            "set_field_value from a missing slot",
        );
        self.push_cstr(field);
        self.push_value(src);
        // SAFETY: as in `set_field_bytes`: a writable table at -3 (checked), key and value
        // above it; the raw set pops both and does not raise.
        unsafe { ffi::lua_rawset(self.l, -3) };
    }

    /// Pushes an error table as Redis's `luaPushErrorBuff`: `msg` either `-CODE text` (the
    /// code is kept) or plain text (the code `ERR` is added); trailing CR/LF are trimmed.
    pub fn push_error(&mut self, msg: &[u8]) {
        let text = super::lua::error_table_text(msg);
        self.new_table(0, 1);
        self.set_field_bytes(c"err", &text);
    }

    /// Marks the error table at the top of the stack as already counted in the stats.
    pub fn mark_ignore_stats(&mut self) {
        self.set_field_true(c"ignore_error_stats_update");
    }

    /// Pushes `t[i]` (raw) of the table at the absolute index `idx`.
    pub fn raw_geti(&mut self, idx: c_int, i: ffi::lua_Integer) {
        check(
            idx > 0 && self.type_at(idx) == ffi::LUA_TTABLE,
            "raw_geti needs a table at an absolute index",
        );
        self.reserve();
        // SAFETY: live state with a free slot (reserved above) and a table at `idx` (checked
        // above); `lua_rawgeti` pushes the value and runs no metamethod.
        unsafe { ffi::lua_rawgeti(self.l, idx, i as _) };
    }

    /// Whether `n` more slots can be pushed (`lua_checkstack`: grows the stack if needed).
    pub fn check_stack(&mut self, n: c_int) -> bool {
        // SAFETY: live state; `lua_checkstack` grows the stack or reports failure, it never
        // raises.
        unsafe { ffi::lua_checkstack(self.l, n) != 0 }
    }

    /// `t[k] = v` (raw) with `t` at -3, `k` at -2 and `v` at -1; pops `k` and `v`. A nil or
    /// NaN key (which `lua_rawset` would raise on) is a bug: aborts.
    pub fn raw_set(&mut self) {
        check(
            self.type_at(-3) == ffi::LUA_TTABLE,
            "raw_set needs a table at -3",
        );
        // SAFETY: live state; slot -3 exists (checked above).
        let ro = unsafe { super::lua::lua_isreadonlytable(self.l, -3) } != 0;
        check(!ro, "raw_set into a readonly table");
        let key_type = self.type_at(-2);
        let nan_key = key_type == ffi::LUA_TNUMBER && self.number(-2).is_nan();
        check(
            key_type != ffi::LUA_TNIL && !nan_key,
            "raw_set with a nil or NaN key",
        );
        // SAFETY: live state with a writable table at -3 and a valid key at -2 (checked
        // above): `lua_rawset` pops key and value, runs no metamethod and does not raise.
        unsafe { ffi::lua_rawset(self.l, -3) };
    }

    /// `t[i] = v` (raw) with `t` at -2 and `v` at -1; pops `v`.
    pub fn raw_seti(&mut self, i: ffi::lua_Integer) {
        check(
            self.type_at(-2) == ffi::LUA_TTABLE,
            "raw_seti needs a table at -2",
        );
        // SAFETY: live state; slot -2 exists (a table, checked above).
        let ro = unsafe { super::lua::lua_isreadonlytable(self.l, -2) } != 0;
        check(!ro, "raw_seti into a readonly table");
        // SAFETY: live state with a writable table at -2 and the value at -1: `lua_rawseti`
        // pops the value, runs no metamethod and does not raise.
        unsafe { ffi::lua_rawseti(self.l, -2, i as _) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::lua;

    /// Runs `f` over the stack of a fresh sandboxed state.
    fn with_stack(f: impl FnOnce(&mut Stack<'_>)) {
        let l = lua::new_state("7.4.1", 0x0007_0401);
        {
            // SAFETY: `l` was just made by `new_state` and is used on this thread only.
            let mut st = unsafe { Stack::new(l) };
            f(&mut st);
        }
        // SAFETY: `l` is the live state made above, closed once and not used afterwards.
        unsafe { lua::close(l) };
    }

    #[test]
    fn reads_of_missing_slots_are_none() {
        with_stack(|st| {
            assert_eq!(st.top(), 0);
            assert_eq!(st.type_at(1), ffi::LUA_TNONE);
            assert_eq!(st.type_at(-1), ffi::LUA_TNONE);
            assert_eq!(st.bytes(1), None);
            assert_eq!(st.number(-1), 0.0);
            assert!(!st.boolean(1));
            assert!(!st.is_string(-1));
            assert_eq!(st.type_name(1), "no value");
        });
    }

    #[test]
    fn pushes_read_back_and_pop() {
        with_stack(|st| {
            st.push_bytes(b"a\0b");
            assert_eq!(st.bytes(-1), Some(&b"a\0b"[..]));
            st.push_number(12.5);
            assert!(st.is_number(-1));
            // A number reads as its string, converted in place.
            assert_eq!(st.bytes(-1), Some(&b"12.5"[..]));
            assert_eq!(st.type_at(-1), ffi::LUA_TSTRING);
            st.push_bool(true);
            assert!(st.boolean(-1));
            st.push_nil();
            assert_eq!(st.type_name(-1), "nil");
            st.push_value(1);
            assert_eq!(st.bytes(-1), Some(&b"a\0b"[..]));
            assert_eq!(st.top(), 5);
            st.pop(5);
            assert_eq!(st.top(), 0);
        });
    }

    #[test]
    fn error_tables_and_fields() {
        with_stack(|st| {
            st.push_error(b"-CODE some text\r\n");
            st.mark_ignore_stats();
            assert_eq!(st.raw_field(c"err"), ffi::LUA_TSTRING);
            assert_eq!(st.bytes(-1), Some(&b"CODE some text"[..]));
            st.pop(1);
            assert_eq!(
                st.raw_field(c"ignore_error_stats_update"),
                ffi::LUA_TBOOLEAN
            );
            assert!(st.boolean(-1));
            st.pop(2);
            st.new_table(2, 0);
            st.push_bytes(b"x");
            st.raw_seti(1);
            st.push_cstr(c"k");
            st.push_number(3.0);
            st.raw_set();
            st.set_field_number(c"n", 7.0);
            st.set_field_cstr(c"s", c"v");
            assert_eq!(st.raw_field(c"k"), ffi::LUA_TNUMBER);
            assert_eq!(st.number(-1), 3.0);
            st.pop(1);
            assert_eq!(st.raw_field(c"s"), ffi::LUA_TSTRING);
            assert_eq!(st.bytes(-1), Some(&b"v"[..]));
            st.pop(2);
            assert_eq!(st.top(), 0);
        });
    }
}
