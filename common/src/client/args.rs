//! The connection options every tool takes, with redis-cli's spellings: `-h host -p port
//! -s socket -a password --user name --pass password -u uri -3`, as one clap argument group
//! that a tool's options `#[command(flatten)]`, and their resolution into a [`ConnInfo`].
//!
//! `-h` is the host, as in redis-cli and redis-benchmark: a command that flattens
//! [`ConnArgs`] must set `disable_help_flag = true` and offer `--help` alone.

use super::uri::{ConnInfo, UriError};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// The connection options. Passwords and user names are bytes as given (never re-encoded).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ConnArgs {
    /// Server hostname.
    #[arg(short = 'h', value_name = "hostname", default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(short = 'p', value_name = "port", default_value_t = 6379)]
    pub port: u16,
    /// Server socket (overrides hostname and port).
    #[arg(short = 's', value_name = "socket")]
    pub socket: Option<String>,
    /// Password to AUTH with.
    #[arg(short = 'a', value_name = "password")]
    pub password: Option<OsString>,
    /// ACL user for `AUTH username password` (needs a password).
    #[arg(long, value_name = "username")]
    pub user: Option<OsString>,
    /// Alias of -a.
    #[arg(long = "pass", value_name = "password")]
    pub pass: Option<OsString>,
    /// Server URI, read by [`super::parse_uri`] (the help text spells out its form).
    #[arg(
        short = 'u',
        value_name = "uri",
        help = "Server URI: redis://[[user]:password@]host[:port][/db], [IPv6] as the host, \
            %XX escapes in user and password"
    )]
    pub uri: Option<String>,
    /// Start the session in RESP3 (HELLO 3).
    #[arg(short = '3')]
    pub resp3: bool,
}

impl Default for ConnArgs {
    /// The options' defaults: 127.0.0.1:6379, nothing else.
    fn default() -> Self {
        ConnArgs {
            host: "127.0.0.1".into(),
            port: 6379,
            socket: None,
            password: None,
            user: None,
            pass: None,
            uri: None,
            resp3: false,
        }
    }
}

impl ConnArgs {
    /// Where to connect and as whom: host, port, socket, `--user`, and `-a` (else `--pass`),
    /// then the `-u` URI over them (see [`ConnInfo::apply_uri`]); the db is the URI's, or 0.
    /// A tool applies its own db option and password sources (environment, prompt) after.
    /// Errors: the URI's ([`UriError`]).
    pub fn conn_info(&self) -> Result<ConnInfo, UriError> {
        let bytes = |s: &OsString| s.as_bytes().to_vec();
        let mut c = ConnInfo {
            host: self.host.clone(),
            port: self.port,
            socket: self.socket.clone(),
            user: self.user.as_ref().map(bytes),
            password: self.password.as_ref().or(self.pass.as_ref()).map(bytes),
            db: 0,
        };
        if let Some(uri) = &self.uri {
            c.apply_uri(uri)?;
        }
        Ok(c)
    }

    /// True when a password was given on the command line (`-a`, `--pass`, or a URI with
    /// credentials): redis-cli then warns that this may not be safe.
    pub fn password_on_command_line(&self) -> bool {
        self.password.is_some()
            || self.pass.is_some()
            || self.uri.as_deref().is_some_and(|u| u.contains('@'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(disable_help_flag = true)]
    struct Tool {
        #[command(flatten)]
        conn: ConnArgs,
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    }

    fn parse(args: &[&str]) -> ConnArgs {
        let argv = std::iter::once("tool").chain(args.iter().copied());
        Tool::try_parse_from(argv).unwrap().conn
    }

    #[test]
    fn redis_cli_spellings_with_h_as_the_host() {
        assert_eq!(parse(&[]), ConnArgs::default());
        let a = parse(&["-h", "::1", "-p", "7000", "-a", "pw", "--user", "bob", "-3"]);
        assert_eq!((a.host.as_str(), a.port, a.resp3), ("::1", 7000, true));
        let c = a.conn_info().unwrap();
        assert_eq!(c.user.as_deref(), Some(&b"bob"[..]));
        assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
        assert_eq!((c.addr().as_str(), c.db), ("[::1]:7000", 0));
        assert_eq!(
            parse(&["--pass", "x"])
                .conn_info()
                .unwrap()
                .password
                .unwrap(),
            b"x"
        );
        assert_eq!(
            parse(&["-s", "/tmp/s"]).conn_info().unwrap().addr(),
            "/tmp/s"
        );
        assert!(Tool::try_parse_from(["tool", "-p", "65536"]).is_err());
        assert!(
            Tool::try_parse_from(["tool", "--help"]).is_err(),
            "help is --help"
        );
    }

    #[test]
    fn the_uri_wins_over_the_options_it_names() {
        let a = parse(&["-a", "opt", "-p", "1", "-u", "redis://bob:p%40ss@[::1]/3"]);
        assert!(a.password_on_command_line());
        let c = a.conn_info().unwrap();
        assert_eq!(c.user.as_deref(), Some(&b"bob"[..]));
        assert_eq!(c.password.as_deref(), Some(&b"p@ss"[..]));
        assert_eq!((c.host.as_str(), c.port, c.db), ("::1", 1, 3));
        let a = parse(&["-u", "rediss://h"]);
        assert_eq!(a.conn_info().unwrap_err(), UriError::Tls);
        assert!(!parse(&["-u", "redis://h"]).password_on_command_line());
    }
}
