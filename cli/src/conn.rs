//! The connection: where to connect (host/port, unix socket, `-u` URI), the session set-up
//! redis-cli performs (AUTH, SELECT, HELLO 3, CLIENT SETNAME), reconnecting, and following
//! `-MOVED` / `-ASK` in cluster mode (`-c`).

use pyrope_common::client::{Client, ClientError};
use pyrope_common::resp::{encode, Frame};
use std::time::Duration;

/// Where and how to connect.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub socket: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    pub resp3: bool,
    pub name: Option<String>,
    pub timeout: Option<Duration>,
    pub cluster: bool,
}

/// A live session.
pub struct Conn {
    pub settings: Settings,
    client: Option<Client>,
    /// The db actually selected (for the prompt).
    pub db: u32,
}

/// Applies `redis://[user[:password]@]host[:port][/db]` to the settings.
pub fn apply_uri(s: &mut Settings, uri: &str) -> Result<(), String> {
    let rest = uri
        .strip_prefix("redis://")
        .ok_or_else(|| format!("Invalid URI scheme: {uri}"))?;
    let (auth, hostpart) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    if let Some(auth) = auth {
        match auth.split_once(':') {
            Some((u, p)) => {
                if !u.is_empty() {
                    s.user = Some(percent_decode(u));
                }
                s.password = Some(percent_decode(p));
            }
            None => s.password = Some(percent_decode(auth)),
        }
    }
    let (hp, db) = match hostpart.split_once('/') {
        Some((h, d)) => (h, Some(d)),
        None => (hostpart, None),
    };
    if let Some(d) = db.filter(|d| !d.is_empty()) {
        s.db = d
            .parse()
            .map_err(|_| format!("Invalid database number in URI: {uri}"))?;
    }
    if let Some(h) = hp.strip_prefix('[') {
        // [ipv6]:port
        let (addr, port) = h.split_once(']').unwrap_or((h, ""));
        s.host = addr.to_string();
        if let Some(p) = port.strip_prefix(':') {
            s.port = p
                .parse()
                .map_err(|_| format!("Invalid port in URI: {uri}"))?;
        }
    } else if let Some((h, p)) = hp.rsplit_once(':') {
        s.host = h.to_string();
        s.port = p
            .parse()
            .map_err(|_| format!("Invalid port in URI: {uri}"))?;
    } else if !hp.is_empty() {
        s.host = hp.to_string();
    }
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Errors of a request.
#[derive(Debug)]
pub enum RequestError {
    /// Could not connect: the message redis-cli prints.
    Connect(String),
    /// The connection broke while waiting for the reply.
    Io(String),
}

impl Conn {
    /// A session that connects on first use.
    pub fn new(settings: Settings) -> Conn {
        Conn {
            db: settings.db,
            settings,
            client: None,
        }
    }

    /// `host:port` (or the socket path), as shown in prompts and messages.
    pub fn addr(&self) -> String {
        match &self.settings.socket {
            Some(p) => p.clone(),
            None => format!("{}:{}", self.settings.host, self.settings.port),
        }
    }

    /// True when connected.
    pub fn is_connected(&self) -> bool {
        self.client.is_some()
    }

    /// Drops the connection.
    pub fn disconnect(&mut self) {
        self.client = None;
    }

    /// Connects (if needed) and runs the session set-up. Errors carry redis-cli's message,
    /// "Could not connect to Redis at 127.0.0.1:6379: Connection refused".
    pub fn connect(&mut self) -> Result<(), String> {
        if self.client.is_some() {
            return Ok(());
        }
        let s = &self.settings;
        let c = match &s.socket {
            Some(p) => Client::connect_unix(p),
            None => connect_tcp(&s.host, s.port, s.timeout),
        };
        let mut c = c.map_err(|e| {
            format!(
                "Could not connect to Redis at {}: {}",
                self.addr(),
                describe(&e)
            )
        })?;
        c.set_read_timeout(s.timeout).map_err(|e| e.to_string())?;
        if let Some(p) = &s.password {
            let r = match &s.user {
                Some(u) => c.call(&["AUTH", u, p]),
                None => c.call(&["AUTH", p]),
            };
            match r {
                Ok(Frame::Error(e)) => eprintln!("AUTH failed: {}", String::from_utf8_lossy(&e)),
                Ok(_) => {}
                Err(e) => return Err(describe(&e)),
            }
        }
        if s.db != 0 {
            match c.call(&["SELECT", &s.db.to_string()]) {
                Ok(Frame::Error(e)) => {
                    eprintln!("SELECT {} failed: {}", s.db, String::from_utf8_lossy(&e));
                    self.db = 0;
                }
                Ok(_) => self.db = s.db,
                Err(e) => return Err(describe(&e)),
            }
        } else {
            self.db = 0;
        }
        if s.resp3 {
            match c.call(&["HELLO", "3"]) {
                Ok(Frame::Error(e)) => eprintln!("HELLO 3 failed: {}", String::from_utf8_lossy(&e)),
                Ok(_) => {}
                Err(e) => return Err(describe(&e)),
            }
        }
        if let Some(n) = &s.name {
            let _ = c.call(&["CLIENT", "SETNAME", n]);
        }
        self.client = Some(c);
        Ok(())
    }

    /// Sends a command and returns its reply, connecting first, following redirections in
    /// cluster mode. A broken connection is an error (not retried); the next call reconnects.
    pub fn request<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, RequestError> {
        let mut redirects = 0;
        loop {
            self.connect().map_err(RequestError::Connect)?;
            let c = self.client.as_mut().unwrap();
            let r = c.call(args);
            match r {
                Ok(Frame::Error(e)) if self.settings.cluster && redirects < 16 => {
                    let text = String::from_utf8_lossy(&e).into_owned();
                    let mut w = text.split(' ');
                    let kind = w.next().unwrap_or("");
                    if kind == "MOVED" || kind == "ASK" {
                        let _slot = w.next();
                        let target = w.next().unwrap_or("").to_string();
                        if let Some((h, p)) = target.rsplit_once(':') {
                            println!(
                                "-> Redirected to slot [{}] located at {}",
                                _slot.unwrap_or(""),
                                target
                            );
                            self.settings.host = if h.is_empty() {
                                self.settings.host.clone()
                            } else {
                                h.to_string()
                            };
                            self.settings.port = p.parse().unwrap_or(self.settings.port);
                            self.client = None;
                            self.connect().map_err(RequestError::Connect)?;
                            if kind == "ASK" {
                                let _ = self.client.as_mut().unwrap().call(&["ASKING"]);
                            }
                            redirects += 1;
                            continue;
                        }
                    }
                    return Ok(Frame::Error(e));
                }
                Ok(f) => {
                    self.track_select(args, &f);
                    return Ok(f);
                }
                Err(e) => {
                    // As redis-cli: no resend (the command may have run); the next command
                    // reconnects, and the REPL shows `not connected> ` until then.
                    self.client = None;
                    return Err(RequestError::Io(describe(&e)));
                }
            }
        }
    }

    /// Sends all `commands` in one write and reads their replies in order (no redirections,
    /// no retry: for the samplers, which treat a failure as fatal).
    pub fn pipeline(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Frame>, String> {
        self.connect()?;
        let c = self.client.as_mut().unwrap();
        let mut out = Vec::new();
        for cmd in commands {
            pyrope_common::resp::encode::command(&mut out, cmd);
        }
        let r = c.send_raw(&out).and_then(|_| {
            (0..commands.len())
                .map(|_| c.read_reply())
                .collect::<Result<Vec<_>, _>>()
        });
        r.map_err(|e| {
            self.client = None;
            format!("Error: {}", describe(&e))
        })
    }

    /// Remembers SELECTed dbs for the prompt and reconnects.
    fn track_select<A: AsRef<[u8]>>(&mut self, args: &[A], reply: &Frame) {
        if args.len() == 2 && args[0].as_ref().eq_ignore_ascii_case(b"select") && !reply.is_error()
        {
            if let Ok(n) = String::from_utf8_lossy(args[1].as_ref()).parse::<u32>() {
                self.db = n;
                self.settings.db = n;
            }
        }
        if args.len() >= 2 && args[0].as_ref().eq_ignore_ascii_case(b"hello") && !reply.is_error() {
            self.settings.resp3 = args[1].as_ref() == b"3";
        }
    }

    /// The raw client (for streaming modes: MONITOR, SUBSCRIBE, --pipe...).
    pub fn client(&mut self) -> Result<&mut Client, String> {
        self.connect()?;
        Ok(self.client.as_mut().unwrap())
    }
}

fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> Result<Client, ClientError> {
    use std::net::ToSocketAddrs;
    let addr = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "Name or service not known")
    })?;
    match timeout {
        Some(t) => {
            let s = std::net::TcpStream::connect_timeout(&addr, t)?;
            drop(s);
            Client::connect(&addr.to_string())
        }
        None => Client::connect(&addr.to_string()),
    }
}

/// An error as redis-cli words it ("Connection refused", "Server closed the connection").
pub fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Io(io) => {
            let s = io.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_string()
        }
        ClientError::Closed => "Server closed the connection".into(),
        ClientError::Protocol(p) => format!("Protocol error: {p}"),
    }
}

/// Encodes a command (for --pipe style raw writes).
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut v = Vec::new();
    encode::command(&mut v, args);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let mut s = Settings {
            host: "127.0.0.1".into(),
            port: 6379,
            ..Default::default()
        };
        apply_uri(&mut s, "redis://bob:p%40ss@example.com:7000/2").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.db), ("example.com", 7000, 2));
        assert_eq!(
            (s.user.as_deref(), s.password.as_deref()),
            (Some("bob"), Some("p@ss"))
        );
        let mut s = Settings::default();
        apply_uri(&mut s, "redis://[::1]:6380").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", 6380));
        assert!(apply_uri(&mut s, "http://x").is_err());
    }
}
