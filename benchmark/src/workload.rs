//! What gets sent: the default test catalog of redis-benchmark 7 (same titles, commands and
//! `-t` names), custom commands from argv, SET:GET mixes, and the placeholder expansion of
//! `__rand_int__` (12-digit keys drawn from a key pattern) and `__data__` (the payload).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One piece of an argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    /// Literal bytes.
    Lit(Vec<u8>),
    /// `__rand_int__`: a 12-digit zero-padded number (with -r), else the literal text.
    RandInt,
    /// `__data__` / the test payload: `x` bytes of the configured data size.
    Data,
}

/// A command with placeholders; rendered as a RESP multibulk per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub args: Vec<Vec<Seg>>,
    /// Send as an inline command (`PING\r\n`) rather than a multibulk.
    pub inline: bool,
}

impl Template {
    /// Parses argv words, turning `__rand_int__` and `__data__` into placeholders.
    pub fn from_words<S: AsRef<[u8]>>(words: &[S]) -> Template {
        let args = words
            .iter()
            .map(|w| split_placeholders(w.as_ref()))
            .collect();
        Template {
            args,
            inline: false,
        }
    }

    /// True if any argument contains `__rand_int__`.
    pub fn has_rand(&self) -> bool {
        self.args.iter().flatten().any(|s| *s == Seg::RandInt)
    }
}

fn split_placeholders(w: &[u8]) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < w.len() {
        if w[i..].starts_with(b"__rand_int__") {
            if !lit.is_empty() {
                out.push(Seg::Lit(std::mem::take(&mut lit)));
            }
            out.push(Seg::RandInt);
            i += 12;
        } else if w[i..].starts_with(b"__data__") {
            if !lit.is_empty() {
                out.push(Seg::Lit(std::mem::take(&mut lit)));
            }
            out.push(Seg::Data);
            i += 8;
        } else {
            lit.push(w[i]);
            i += 1;
        }
    }
    if !lit.is_empty() || out.is_empty() {
        out.push(Seg::Lit(lit));
    }
    out
}

/// A test: its title (as printed and matched by `-t`) and what each request sends. A test
/// with several templates picks one per request with the given weights (SET:GET mixes).
#[derive(Debug, Clone)]
pub struct Test {
    pub title: String,
    pub templates: Vec<(Template, u32)>,
}

/// The `-t` name of a title: lowercase, up to the first space.
pub fn test_name(title: &str) -> String {
    title
        .split(' ')
        .next()
        .unwrap_or(title)
        .to_ascii_lowercase()
}

fn t(title: &str, words: &[&str]) -> Test {
    Test {
        title: title.to_string(),
        templates: vec![(Template::from_words(words), 1)],
    }
}

/// The default tests of redis-benchmark 7, in its order. `-r` makes ZADD scores random too;
/// in cluster mode every key carries `{tag}` (replaced per node by [`with_tag`]).
pub fn default_tests(random_keys: bool, cluster: bool) -> Vec<Test> {
    let data = "__data__";
    let score = if random_keys { "__rand_int__" } else { "0" };
    let tg = if cluster { "{tag}" } else { "" };
    let names: Vec<String> = [
        "key{}:__rand_int__",
        "counter{}:__rand_int__",
        "mylist{}",
        "myset{}",
        "myhash{}",
        "myzset{}",
        "mystream{}",
    ]
    .iter()
    .map(|f| f.replace("{}", tg))
    .collect();
    let (key, counter, list, set, hash, zset, stream) = (
        &names[0][..],
        &names[1][..],
        &names[2][..],
        &names[3][..],
        &names[4][..],
        &names[5][..],
        &names[6][..],
    );
    let mut v = vec![
        Test {
            title: "PING_INLINE".into(),
            templates: vec![(
                Template {
                    args: vec![vec![Seg::Lit(b"PING".to_vec())]],
                    inline: true,
                },
                1,
            )],
        },
        t("PING_MBULK", &["PING"]),
        t("SET", &["SET", key, data]),
        t("GET", &["GET", key]),
        t("INCR", &["INCR", counter]),
        t("LPUSH", &["LPUSH", list, data]),
        t("RPUSH", &["RPUSH", list, data]),
        t("LPOP", &["LPOP", list]),
        t("RPOP", &["RPOP", list]),
        t("SADD", &["SADD", set, "element:__rand_int__"]),
        t("HSET", &["HSET", hash, "element:__rand_int__", data]),
        t("SPOP", &["SPOP", set]),
        t("ZADD", &["ZADD", zset, score, "element:__rand_int__"]),
        t("ZPOPMIN", &["ZPOPMIN", zset]),
        t("LPUSH (needed to benchmark LRANGE)", &["LPUSH", list, data]),
        t(
            "LRANGE_100 (first 100 elements)",
            &["LRANGE", list, "0", "99"],
        ),
        t(
            "LRANGE_300 (first 300 elements)",
            &["LRANGE", list, "0", "299"],
        ),
        t(
            "LRANGE_500 (first 500 elements)",
            &["LRANGE", list, "0", "499"],
        ),
        t(
            "LRANGE_600 (first 600 elements)",
            &["LRANGE", list, "0", "599"],
        ),
    ];
    let mut mset = vec!["MSET"];
    for _ in 0..10 {
        mset.push(key);
        mset.push(data);
    }
    v.push(t("MSET (10 keys)", &mset));
    v.push(t("XADD", &["XADD", stream, "*", "myfield", data]));
    v
}

/// The test with every `{tag}` in its arguments replaced by `{<tag>}`, a hash tag whose slot
/// one cluster node serves (redis-benchmark's cluster mode).
pub fn with_tag(test: &Test, tag: &str) -> Test {
    let fix = |seg: &Seg| match seg {
        Seg::Lit(l) => {
            let text = String::from_utf8_lossy(l).replace("{tag}", &format!("{{{tag}}}"));
            Seg::Lit(text.into_bytes())
        }
        other => other.clone(),
    };
    Test {
        title: test.title.clone(),
        templates: test
            .templates
            .iter()
            .map(|(t, w)| {
                (
                    Template {
                        args: t.args.iter().map(|a| a.iter().map(fix).collect()).collect(),
                        inline: t.inline,
                    },
                    *w,
                )
            })
            .collect(),
    }
}

/// The shortest decimal tag whose hash slot lies in one of `ranges` (inclusive slot ranges).
pub fn tag_for_slots(ranges: &[(u16, u16)]) -> Option<String> {
    (0..1_000_000u32).map(|i| i.to_string()).find(|t| {
        let slot = pyrope_common::slot::key_slot(t.as_bytes());
        ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    })
}

/// Selects tests by `-t` names as redis-benchmark does: `ping` means both pings, `lrange`
/// all LRANGE tests, any `lrange_*` also brings the LPUSH that fills the list.
pub fn select_tests(all: Vec<Test>, names: &str) -> Vec<Test> {
    let wanted: Vec<String> = names
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let want = |n: &str| wanted.iter().any(|w| w == n);
    all.into_iter()
        .filter(|test| {
            let name = test_name(&test.title);
            match test.title.as_str() {
                "PING_INLINE" | "PING_MBULK" => want("ping") || want(&name),
                "LPUSH (needed to benchmark LRANGE)" => {
                    want("lrange") || wanted.iter().any(|w| w.starts_with("lrange_"))
                }
                t if t.starts_with("LRANGE_") => want("lrange") || want(&name),
                _ => want(&name),
            }
        })
        .collect()
}

/// A SET:GET mix (`--ratio a:b`) as one test titled `SET:GET a:b`.
pub fn ratio_test(spec: &str) -> Result<Test, String> {
    let (a, b) = spec
        .split_once(':')
        .ok_or("--ratio takes SET:GET weights, e.g. 1:10")?;
    let parse = |x: &str| {
        x.trim()
            .parse::<u32>()
            .map_err(|_| format!("--ratio: '{x}' is not a number"))
    };
    let (s, g) = (parse(a)?, parse(b)?);
    if s + g == 0 {
        return Err("--ratio: at least one weight must be positive".into());
    }
    Ok(Test {
        title: format!("SET:GET {s}:{g}"),
        templates: vec![
            (
                Template::from_words(&["SET", "key:__rand_int__", "__data__"]),
                s,
            ),
            (Template::from_words(&["GET", "key:__rand_int__"]), g),
        ],
    })
}

/// The payload size: fixed, or uniform in a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataSize {
    Fixed(usize),
    Range(usize, usize),
}

impl DataSize {
    /// Parses `-d N` or `-d MIN-MAX`.
    pub fn parse(s: &str) -> Result<DataSize, String> {
        let num = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("-d: '{x}' is not a size in bytes"))
        };
        match s.split_once('-') {
            Some((a, b)) => {
                let (lo, hi) = (num(a)?, num(b)?);
                if lo > hi {
                    return Err(format!("-d: range {lo}-{hi} is empty"));
                }
                Ok(DataSize::Range(lo, hi))
            }
            None => Ok(DataSize::Fixed(num(s)?)),
        }
    }

    /// The size printed as "N bytes payload": `N`, or `MIN-MAX` for a range.
    pub fn display(self) -> String {
        match self {
            DataSize::Fixed(n) => n.to_string(),
            DataSize::Range(lo, hi) => format!("{lo}-{hi}"),
        }
    }
}

/// How `__rand_int__` values are drawn from 0..keyspacelen.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyPattern {
    Sequential,
    Uniform,
    /// Zipf with this exponent (> 0): key 0 is the hottest.
    Zipf(f64),
    /// Normal around the middle of the keyspace, sigma = keyspace/6.
    Gaussian,
}

impl KeyPattern {
    /// Parses `--key-pattern`.
    pub fn parse(s: &str) -> Result<KeyPattern, String> {
        let l = s.to_ascii_lowercase();
        Ok(match l.as_str() {
            "sequential" | "s" => KeyPattern::Sequential,
            "uniform" | "random" | "r" => KeyPattern::Uniform,
            "gaussian" | "g" => KeyPattern::Gaussian,
            z if z.starts_with("zipf") => {
                let e = z.strip_prefix("zipf").unwrap().trim_start_matches(':');
                let e: f64 = if e.is_empty() {
                    0.99
                } else {
                    e.parse()
                        .map_err(|_| format!("--key-pattern: bad zipf exponent '{e}'"))?
                };
                if !(e > 0.0) {
                    return Err("--key-pattern: the zipf exponent must be > 0".into());
                }
                KeyPattern::Zipf(e)
            }
            _ => {
                return Err(format!(
                "--key-pattern: unknown pattern '{s}' (sequential, uniform, zipf:<exp>, gaussian)"
            ))
            }
        })
    }
}

/// Draws keys for one thread.
pub struct KeyGen {
    pattern: KeyPattern,
    n: u64,
    rng: fastrand::Rng,
    zipf: Option<Zipf>,
    /// Next key of the sequential pattern, shared by the threads of one test (so they walk
    /// one sequence, from 0 for every test).
    sequence: Arc<AtomicU64>,
}

impl KeyGen {
    /// A generator over 0..n (n >= 1); `sequence` is the sequential pattern's shared counter.
    pub fn new(pattern: KeyPattern, n: u64, seed: u64, sequence: Arc<AtomicU64>) -> KeyGen {
        let zipf = match pattern {
            KeyPattern::Zipf(s) => Some(Zipf::new(n.max(1), s)),
            _ => None,
        };
        KeyGen {
            pattern,
            n: n.max(1),
            rng: fastrand::Rng::with_seed(seed),
            zipf,
            sequence,
        }
    }

    /// The next key number.
    #[inline]
    pub fn next(&mut self) -> u64 {
        match self.pattern {
            KeyPattern::Sequential => self.sequence.fetch_add(1, Ordering::Relaxed) % self.n,
            KeyPattern::Uniform => self.rng.u64(..self.n),
            KeyPattern::Zipf(_) => self.zipf.as_ref().unwrap().sample(&mut self.rng) - 1,
            KeyPattern::Gaussian => loop {
                // Box-Muller; values outside the keyspace (0.3% at 3 sigma) are drawn again
                // rather than clamped, which would make the two edge keys hot.
                let u1 = self.rng.f64().max(f64::MIN_POSITIVE);
                let u2 = self.rng.f64();
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                let mean = self.n as f64 / 2.0;
                let v = (mean + z * self.n as f64 / 6.0).floor();
                if v >= 0.0 && v < self.n as f64 {
                    break v as u64;
                }
            },
        }
    }

    /// The thread's random generator (mix choice, value sizes).
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }
}

/// Zipf sampler over 1..=n by rejection inversion (Hörmann & Derflinger, "Rejection-inversion
/// to generate variates from monotone discrete distributions", 1996): O(1) per sample, no
/// table, for any n.
struct Zipf {
    n: f64,
    s: f64,
    h_x1: f64,
    h_n: f64,
    cut: f64,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Zipf {
        let mut z = Zipf {
            n: n as f64,
            s,
            h_x1: 0.0,
            h_n: 0.0,
            cut: 0.0,
        };
        z.h_x1 = z.h(1.5) - 1.0;
        z.h_n = z.h(z.n + 0.5);
        z.cut = 2.0 - z.h_inv(z.h(2.5) - 2f64.powf(-s));
        z
    }

    /// H(x) = integral of x^-s.
    fn h(&self, x: f64) -> f64 {
        let e = 1.0 - self.s;
        if e.abs() < 1e-12 {
            x.ln()
        } else {
            (x.powf(e) - 1.0) / e
        }
    }

    fn h_inv(&self, y: f64) -> f64 {
        let e = 1.0 - self.s;
        if e.abs() < 1e-12 {
            y.exp()
        } else {
            (y * e + 1.0).powf(1.0 / e)
        }
    }

    fn sample(&self, rng: &mut fastrand::Rng) -> u64 {
        loop {
            let u = self.h_n + rng.f64() * (self.h_x1 - self.h_n);
            let x = self.h_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.cut || u >= self.h(k + 0.5) - k.powf(-self.s) {
                return k as u64;
            }
        }
    }
}

/// Appends the RESP encoding of one request of `tpl` to `out`.
/// `rand` is `Some(generator)` when -r is set (otherwise `__rand_int__` stays literal text).
pub fn render(out: &mut Vec<u8>, tpl: &Template, mut rand: Option<&mut KeyGen>, data: &[u8]) {
    if tpl.inline {
        for (i, a) in tpl.args.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            for s in a {
                if let Seg::Lit(l) = s {
                    out.extend_from_slice(l);
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        return;
    }
    pyrope_common::resp::encode::array(out, tpl.args.len());
    for a in &tpl.args {
        let len: usize = a
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.len(),
                Seg::RandInt => 12,
                Seg::Data => data.len(),
            })
            .sum();
        pyrope_common::resp::encode::header(out, b'$', len);
        for s in a {
            match s {
                Seg::Lit(l) => out.extend_from_slice(l),
                Seg::Data => out.extend_from_slice(data),
                Seg::RandInt => match rand.as_deref_mut() {
                    Some(g) => {
                        let v = g.next();
                        let mut digits = [b'0'; 12];
                        let mut x = v;
                        for d in digits.iter_mut().rev() {
                            *d = b'0' + (x % 10) as u8;
                            x /= 10;
                        }
                        out.extend_from_slice(&digits);
                    }
                    None => out.extend_from_slice(b"__rand_int__"),
                },
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render() {
        let tpl = Template::from_words(&["SET", "key:__rand_int__", "__data__"]);
        assert!(tpl.has_rand());
        let mut g = KeyGen::new(KeyPattern::Sequential, 1000, 1, Arc::new(AtomicU64::new(7)));
        let mut out = Vec::new();
        render(&mut out, &tpl, Some(&mut g), b"xxx");
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$3\r\nxxx\r\n"
        );
        out.clear();
        render(&mut out, &tpl, None, b"ab");
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$2\r\nab\r\n"
        );
        out.clear();
        render(
            &mut out,
            &default_tests(false, false)[0].templates[0].0,
            None,
            b"",
        );
        assert_eq!(out, b"PING\r\n");
    }

    #[test]
    fn selection_matches_redis_benchmark() {
        let names = |s: &str| {
            select_tests(default_tests(false, false), s)
                .into_iter()
                .map(|t| t.title)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("ping"), ["PING_INLINE", "PING_MBULK"]);
        assert_eq!(names("set,get"), ["SET", "GET"]);
        assert_eq!(
            names("lrange_100"),
            [
                "LPUSH (needed to benchmark LRANGE)",
                "LRANGE_100 (first 100 elements)"
            ]
        );
        assert_eq!(names("mset"), ["MSET (10 keys)"]);
        assert_eq!(names("lpush").len(), 1);
        assert_eq!(default_tests(false, false).len(), 21);
        let c = default_tests(false, true);
        let tagged = with_tag(&c[2], "42");
        let mut out = Vec::new();
        render(&mut out, &tagged.templates[0].0, None, b"v");
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$20\r\nkey{42}:__rand_int__\r\n$1\r\nv\r\n"
        );
        let tag = tag_for_slots(&[(5461, 10922)]).unwrap();
        let slot = pyrope_common::slot::key_slot(tag.as_bytes());
        assert!((5461..=10922).contains(&slot));
    }

    #[test]
    fn key_patterns_stay_in_range_and_have_their_shape() {
        for p in [
            KeyPattern::Uniform,
            KeyPattern::Gaussian,
            KeyPattern::Zipf(1.2),
            KeyPattern::Zipf(0.8),
        ] {
            let mut g = KeyGen::new(p.clone(), 1000, 42, Arc::default());
            let mut hist = vec![0u32; 1000];
            for _ in 0..100_000 {
                let k = g.next();
                assert!(k < 1000, "{p:?} gave {k}");
                hist[k as usize] += 1;
            }
            match p {
                KeyPattern::Zipf(_) => assert!(
                    hist[0] > hist[10] && hist[10] > hist[500],
                    "{p:?} {:?}",
                    &hist[..12]
                ),
                KeyPattern::Gaussian => {
                    assert!(hist[500] > 5 * hist[50].max(1), "{p:?}");
                    // No pile-up on the edge keys: they are as rare as their neighbours.
                    let edges = hist[0] + hist[999];
                    let near = hist[1..6].iter().chain(&hist[994..999]).sum::<u32>();
                    assert!(edges <= near / 2 + 10, "{edges} vs {near}");
                }
                _ => assert!(hist.iter().all(|&c| c > 40), "uniform"),
            }
        }
    }

    #[test]
    fn parse_options() {
        assert_eq!(DataSize::parse("10").unwrap(), DataSize::Fixed(10));
        assert_eq!(DataSize::parse("10-100").unwrap(), DataSize::Range(10, 100));
        assert!(DataSize::parse("100-10").is_err());
        assert_eq!(
            KeyPattern::parse("zipf:1.1").unwrap(),
            KeyPattern::Zipf(1.1)
        );
        assert!(KeyPattern::parse("zipf:-1").is_err());
        let t = ratio_test("1:3").unwrap();
        assert_eq!(t.title, "SET:GET 1:3");
        assert_eq!(t.templates[1].1, 3);
    }
}
