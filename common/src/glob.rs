//! Redis glob-style pattern matching, as `stringmatchlen()` in Redis 7 util.c: used by KEYS,
//! SCAN MATCH, CONFIG GET, PSUBSCRIBE and ACL key patterns.
//!
//! Syntax: `*` any run of bytes, `?` one byte, `[abc]` / `[^abc]` / `[a-z]` classes (ranges may be
//! reversed, `\` escapes inside a class), `\x` matches `x` literally. An unclosed `[` class ends at
//! the end of the pattern. Bytes compare as C `char` (signed) in ranges, as Redis does on x86.
//! Matching is iterative over literals and recursive only at `*`, with Redis's "skip longer
//! matches" cut so that patterns like `a*a*a*a*b` stay linear-ish, and a nesting limit of 1000.

/// Returns true if `string` matches glob `pattern`. `nocase` folds ASCII case.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

#[inline]
fn lower(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

fn match_impl(
    mut pat: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: usize,
) -> bool {
    if nesting > 1000 {
        return false;
    }
    while !pat.is_empty() && !s.is_empty() {
        match pat[0] {
            b'*' => {
                while pat.len() > 1 && pat[1] == b'*' {
                    pat = &pat[1..];
                }
                if pat.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&pat[1..], s, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                pat = &pat[1..];
                let not = pat.first() == Some(&b'^');
                if not {
                    pat = &pat[1..];
                }
                let mut matched = false;
                let c = s[0];
                loop {
                    if pat.len() >= 2 && pat[0] == b'\\' {
                        pat = &pat[1..];
                        if pat[0] == c {
                            matched = true;
                        }
                    } else if pat.is_empty() {
                        // Unclosed class: Redis steps back so the shared advance below lands
                        // on the end of the pattern.
                        break;
                    } else if pat[0] == b']' {
                        break;
                    } else if pat.len() >= 3 && pat[1] == b'-' {
                        let (mut start, mut end, mut ch) =
                            (pat[0] as i8 as i32, pat[2] as i8 as i32, c as i8 as i32);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = lower(start as u8) as i8 as i32;
                            end = lower(end as u8) as i8 as i32;
                            ch = lower(ch as u8) as i8 as i32;
                        }
                        pat = &pat[2..];
                        if ch >= start && ch <= end {
                            matched = true;
                        }
                    } else if (!nocase && pat[0] == c) || (nocase && lower(pat[0]) == lower(c)) {
                        matched = true;
                    }
                    pat = &pat[1..];
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                // `pat` is at the closing ']' (or empty): the common advance below skips it.
                if pat.is_empty() {
                    if s.is_empty() {
                        return true;
                    }
                    return false;
                }
            }
            b'\\' if pat.len() >= 2 => {
                pat = &pat[1..];
                if !eq(pat[0], s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            p => {
                if !eq(p, s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        pat = &pat[1..];
        if s.is_empty() {
            while !pat.is_empty() && pat[0] == b'*' {
                pat = &pat[1..];
            }
            break;
        }
    }
    pat.is_empty() && s.is_empty()
}

#[inline]
fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        lower(a) == lower(b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn basics() {
        // As stringmatchlen(): an empty string matches nothing, not even "*" (KEYS and SCAN
        // special-case a lone "*" before calling it).
        assert!(!m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range");
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(!m("a?", "a"));
        assert!(m("user:*:name", "user:1000:name"));
        assert!(!m("", "a"));
        assert!(m("", ""));
    }

    #[test]
    fn classes_edge_cases() {
        assert!(m("[\\]]", "]"));
        assert!(m("[a", "a"), "unclosed class matches at end");
        assert!(!m("[a", "ab"));
        // "a-]" is read as the range ']'..'a' and the class stays open to the end.
        assert!(m("[a-]", "_"));
        assert!(!m("[a-]", "-"));
        assert!(m("x[abc", "xb"));
        assert!(m("\\", "\\"), "trailing backslash is literal");
    }

    #[test]
    fn nocase() {
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(glob_match(b"h[A-Z]llo", b"hello", true));
        assert!(!glob_match(b"HeLLo", b"hello", false));
    }

    #[test]
    fn pathological_is_fast() {
        let s = "a".repeat(10_000);
        let p = "a*".repeat(50) + "b";
        assert!(!m(&p, &s));
    }
}
