//! Where a tool connects: [`ConnInfo`] (redis-cli's `cliConnInfo`: host, port or unix socket,
//! user, password, db), filled from options and from `redis://` URIs (redis-cli's
//! `parseRedisUri`), and `host:port` as redis-cli prints it ([`format_addr`]).
//!
//! The URI rules are pyrope-cli's, which its tests pin: redis-cli's where they are sound
//! (scheme case-insensitive, `%XX` decoding of user and password, the db read with `atoi`),
//! stricter where redis-cli 7.0 misreads (`[IPv6]:port` is understood, the last `@` ends the
//! credentials, a `%` needs two characters of its own part, a port must be 0..=65535, an
//! empty user or host is no user or host). `rediss://` is reserved for TLS, which Pyrope's
//! tools are built without: it is refused with its own error.

use super::atoi;
use super::Stream;
use std::io;
use std::time::Duration;

/// Why a URI was refused; the texts are redis-cli's, printed as they are by the tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Neither `redis://` nor `rediss://`.
    #[error("Invalid URI scheme")]
    Scheme,
    /// `rediss://`: TLS, which this build does not have (redis-cli built without OpenSSL
    /// says "rediss:// is only supported when redis-cli is compiled with OpenSSL").
    #[error("rediss:// (TLS) is not supported: Pyrope's tools are built without TLS")]
    Tls,
    /// A `%` without two characters after it in the user or password.
    #[error("Incomplete URI encoding")]
    IncompleteEncoding,
    /// A `%` followed by something other than two hex digits.
    #[error("Illegal character in URI encoding")]
    IllegalEncoding,
    /// A port outside 0..=65535.
    #[error("Invalid server port.")]
    Port,
}

/// What a `redis://[[user]:password@]host[:port][/db]` URI names; `None` for each part it
/// leaves out (the tool's option or default stands).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uri {
    /// `%`-decoded; `None` for an empty user (`redis://:pw@host`).
    pub user: Option<Vec<u8>>,
    /// `%`-decoded; present whenever the URI has an `@` (it may be empty).
    pub password: Option<Vec<u8>>,
    /// A name or an IP literal, without the brackets of `[IPv6]`.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The path read with C's `atoi`: `/x` is db 0 and `/-3` is db 0 too.
    pub db: Option<u32>,
}

/// Parses a server URI (redis-cli's `-u`): `redis://` in any case, then optional
/// `user:password@` or `password@` (the last `@` ends them), `host`, `[IPv6]`, `:port`, `/db`.
/// Errors: [`UriError`].
pub fn parse_uri(uri: &str) -> Result<Uri, UriError> {
    let rest = strip_scheme(uri, "redis://").ok_or(match strip_scheme(uri, "rediss://") {
        Some(_) => UriError::Tls,
        None => UriError::Scheme,
    })?;
    let mut u = Uri::default();
    let (auth, hostpart) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    if let Some(auth) = auth {
        let (user, password) = match auth.split_once(':') {
            Some((user, password)) => (Some(user).filter(|u| !u.is_empty()), password),
            None => (None, auth),
        };
        u.user = user.map(percent_decode).transpose()?;
        u.password = Some(percent_decode(password)?);
    }
    let (hp, db) = match hostpart.split_once('/') {
        Some((h, d)) => (h, Some(d)),
        None => (hostpart, None),
    };
    u.db = db
        .filter(|d| !d.is_empty())
        .map(|d| atoi(d).clamp(0, u32::MAX as i64) as u32);
    if let Some(h) = hp.strip_prefix('[') {
        let (addr, port) = h.split_once(']').unwrap_or((h, ""));
        u.host = Some(addr.to_string());
        u.port = port.strip_prefix(':').map(port_number).transpose()?;
    } else if let Some((h, p)) = hp.rsplit_once(':') {
        u.host = Some(h.to_string()).filter(|h| !h.is_empty());
        u.port = Some(port_number(p)?);
    } else if !hp.is_empty() {
        u.host = Some(hp.to_string());
    }
    Ok(u)
}

fn strip_scheme<'a>(uri: &'a str, scheme: &str) -> Option<&'a str> {
    let head = uri.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &uri[scheme.len()..])
}

/// A port read with `atoi`, as redis-cli does (`:abc` is port 0), then range-checked.
fn port_number(p: &str) -> Result<u16, UriError> {
    u16::try_from(atoi(p)).map_err(|_| UriError::Port)
}

/// redis-cli's `percentDecode`: `%XX` (hex, either case) is one byte, every other byte
/// stands for itself.
fn percent_decode(s: &str) -> Result<Vec<u8>, UriError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let hex = b.get(i + 1..i + 3).ok_or(UriError::IncompleteEncoding)?;
        let digit = |c: u8| (c as char).to_digit(16).ok_or(UriError::IllegalEncoding);
        out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
        i += 3;
    }
    Ok(out)
}

/// `host:port`, with an IPv6 literal in brackets (`[::1]:6379`), as redis-cli's
/// `formatAddr` prints addresses in messages and the prompt; a host already in brackets is
/// left as it is.
pub fn format_addr(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Where and as whom a tool connects: redis-cli's `cliConnInfo` plus the unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// Host name or IP literal (no brackets); unused when `socket` is set.
    pub host: String,
    pub port: u16,
    /// A unix socket path, which wins over host and port.
    pub socket: Option<String>,
    /// ACL user for `AUTH user password` (only sent with a password).
    pub user: Option<Vec<u8>>,
    /// Password for `AUTH`; none: no AUTH.
    pub password: Option<Vec<u8>>,
    /// The db to SELECT after connecting (redis-cli's `input_dbnum`; 0: none).
    pub db: u32,
}

impl Default for ConnInfo {
    /// 127.0.0.1:6379, no socket, no credentials, db 0 (redis-cli's defaults).
    fn default() -> Self {
        ConnInfo {
            host: "127.0.0.1".into(),
            port: 6379,
            socket: None,
            user: None,
            password: None,
            db: 0,
        }
    }
}

impl ConnInfo {
    /// Applies what a URI names over these settings (see [`parse_uri`]); a unix socket set
    /// before still wins over the URI's host, as with redis-cli's `-s`.
    pub fn apply_uri(&mut self, uri: &str) -> Result<(), UriError> {
        let u = parse_uri(uri)?;
        if let Some(user) = u.user {
            self.user = Some(user);
        }
        if let Some(password) = u.password {
            self.password = Some(password);
        }
        if let Some(host) = u.host {
            self.host = host;
        }
        if let Some(port) = u.port {
            self.port = port;
        }
        if let Some(db) = u.db {
            self.db = db;
        }
        Ok(())
    }

    /// The socket path, or `host:port` by [`format_addr`]: what redis-cli names the server
    /// by in "Could not connect to Redis at ...".
    pub fn addr(&self) -> String {
        match &self.socket {
            Some(path) => path.clone(),
            None => format_addr(&self.host, self.port),
        }
    }

    /// Connects to the socket, or over TCP to host and port ([`Stream::unix`],
    /// [`Stream::tcp`]), each attempt bounded by `timeout` when given.
    pub fn connect(&self, timeout: Option<Duration>) -> io::Result<Stream> {
        match &self.socket {
            Some(path) => Stream::unix(path, timeout),
            None => Stream::tcp(&self.host, self.port, timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        parse_uri(s).unwrap()
    }

    #[test]
    fn every_part_is_optional_and_taken_as_written() {
        let u = uri("redis://bob:p%40ss@example.com:7000/2");
        assert_eq!(u.user.as_deref(), Some(&b"bob"[..]));
        assert_eq!(u.password.as_deref(), Some(&b"p@ss"[..]));
        assert_eq!(u.host.as_deref(), Some("example.com"));
        assert_eq!((u.port, u.db), (Some(7000), Some(2)));
        assert_eq!(uri("redis://"), Uri::default());
        assert_eq!(uri("REDIS://h").host.as_deref(), Some("h"));
        let u = uri("redis://secret@h");
        assert_eq!((u.user, u.password), (None, Some(b"secret".to_vec())));
        // An empty user is no user; the last '@' ends the credentials.
        let u = uri("redis://:pw@h:1");
        assert_eq!((u.user, u.password), (None, Some(b"pw".to_vec())));
        let u = uri("redis://a@b@127.0.0.1:1");
        assert_eq!(u.password.as_deref(), Some(&b"a@b"[..]));
        assert_eq!(u.host.as_deref(), Some("127.0.0.1"));
        // Only the first ':' splits user from password.
        let u = uri("redis://u:p:q@h");
        assert_eq!(u.password.as_deref(), Some(&b"p:q"[..]));
        // No host before the port keeps the host option.
        let u = uri("redis://:7001/3");
        assert_eq!((u.host, u.port, u.db), (None, Some(7001), Some(3)));
        assert_eq!(uri("redis:///5").db, Some(5));
        assert_eq!(uri("redis://h/").db, None);
    }

    #[test]
    fn percent_decoding_is_bytewise_in_either_case() {
        let u = uri("redis://%62%6F%6b:%00%ff%2F@h");
        assert_eq!(u.user.as_deref(), Some(&b"bok"[..]));
        assert_eq!(u.password.as_deref(), Some(&[0u8, 0xff, b'/'][..]));
        let e = |s| parse_uri(s).unwrap_err();
        assert_eq!(e("redis://u:%4@h"), UriError::IncompleteEncoding);
        assert_eq!(e("redis://u:%@h"), UriError::IncompleteEncoding);
        assert_eq!(e("redis://%4:p@h"), UriError::IncompleteEncoding);
        assert_eq!(e("redis://u:%zz@h"), UriError::IllegalEncoding);
        assert_eq!(e("redis://u:%+1@h"), UriError::IllegalEncoding);
        assert_eq!(
            UriError::IllegalEncoding.to_string(),
            "Illegal character in URI encoding"
        );
        // The host is not decoded.
        assert_eq!(uri("redis://a%20b").host.as_deref(), Some("a%20b"));
    }

    #[test]
    fn ipv6_literals_in_brackets() {
        let u = uri("redis://[::1]:6380/1");
        assert_eq!(
            (u.host.as_deref(), u.port, u.db),
            (Some("::1"), Some(6380), Some(1))
        );
        let u = uri("redis://u:p@[fe80::1%25eth0]");
        assert_eq!((u.host.as_deref(), u.port), (Some("fe80::1%25eth0"), None));
        // An unclosed bracket is the rest of the host part.
        assert_eq!(uri("redis://[::1").host.as_deref(), Some("::1"));
        assert_eq!(format_addr("::1", 7), "[::1]:7");
        assert_eq!(format_addr("[::1]", 7), "[::1]:7");
        assert_eq!(format_addr("localhost", 1), "localhost:1");
    }

    #[test]
    fn ports_and_dbs_are_read_with_atoi_and_ports_range_checked() {
        assert_eq!(uri("redis://h:abc").port, Some(0));
        assert_eq!(uri("redis://h:").port, Some(0));
        assert_eq!(uri("redis://h:65535").port, Some(65535));
        assert_eq!(uri("redis://h:12abc").port, Some(12));
        for bad in [
            "redis://h:65536",
            "redis://h:99999",
            "redis://h:-1",
            "redis://[::1]:70000",
        ] {
            assert_eq!(parse_uri(bad).unwrap_err(), UriError::Port, "{bad}");
        }
        assert_eq!(UriError::Port.to_string(), "Invalid server port.");
        // A db that is not a number is db 0, as redis-cli's atoi.
        assert_eq!(uri("redis://h/x").db, Some(0));
        assert_eq!(uri("redis://h/-3").db, Some(0));
        assert_eq!(uri("redis://h/7x").db, Some(7));
    }

    #[test]
    fn schemes_other_than_redis_are_refused_and_rediss_says_why() {
        assert_eq!(parse_uri("http://x").unwrap_err(), UriError::Scheme);
        assert_eq!(parse_uri("redis:/x").unwrap_err(), UriError::Scheme);
        assert_eq!(parse_uri("").unwrap_err(), UriError::Scheme);
        assert_eq!(parse_uri("é").unwrap_err(), UriError::Scheme);
        assert_eq!(UriError::Scheme.to_string(), "Invalid URI scheme");
        assert_eq!(parse_uri("rediss://h:1").unwrap_err(), UriError::Tls);
        assert_eq!(parse_uri("REDISS://h").unwrap_err(), UriError::Tls);
        assert!(UriError::Tls.to_string().contains("TLS"));
    }

    #[test]
    fn a_uri_applies_over_the_options_it_names() {
        let mut c = ConnInfo {
            user: Some(b"opt".to_vec()),
            password: Some(b"optpw".to_vec()),
            db: 4,
            socket: Some("/tmp/s".into()),
            ..ConnInfo::default()
        };
        c.apply_uri("redis://:uripw@example:7000").unwrap();
        assert_eq!(c.user.as_deref(), Some(&b"opt"[..]));
        assert_eq!(c.password.as_deref(), Some(&b"uripw"[..]));
        assert_eq!((c.host.as_str(), c.port, c.db), ("example", 7000, 4));
        // The socket still wins.
        assert_eq!(c.addr(), "/tmp/s");
        c.socket = None;
        assert_eq!(c.addr(), "example:7000");
        c.apply_uri("redis://[::1]/2").unwrap();
        assert_eq!((c.addr().as_str(), c.db), ("[::1]:7000", 2));
    }
}
