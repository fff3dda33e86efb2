//! The other subcommands, as redis-cli 7.4: `info`, `add-node`, `del-node`, `call`,
//! `set-timeout`, `import`, `backup`, `help`.

use super::create::{meet, resolve, wait_for_cluster_join};
use super::fix::check_reply;
use super::node::{err_text, Node, SLOTS};
use super::{cmdflag, host_from_args, Manager, INVALID_HOST_ARG};
use pyrope_common::resp::Frame;
use std::io::Write;

/// `info host:port`: per primary its keys, slots and replicas, then the totals.
pub fn info(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    if !m.load_from_args(&argv) {
        return false;
    }
    m.show_cluster_info();
    true
}

/// `clusterManagerNodeWithLeastReplicas`: the first primary with the fewest replicas.
fn least_replicas(m: &Manager) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, n) in m.nodes.iter().enumerate() {
        if n.is_replica() {
            continue;
        }
        if best.is_none_or(|b| n.replicas_count < m.nodes[b].replicas_count) {
            best = Some(i);
        }
    }
    best
}

/// `add-node new_host:new_port existing_host:existing_port [--cluster-slave
/// [--cluster-master-id id]]`: checks the cluster, checks the new node is an empty cluster
/// node, copies the functions (FUNCTION DUMP / RESTORE) to a new primary, CLUSTER MEET, and
/// for a replica waits for the join and sends CLUSTER REPLICATE.
pub fn add_node(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    let (Some((ref_ip, ref_port)), Some((ip, port))) =
        (host_from_args(&argv[1..]), host_from_args(&argv[..1]))
    else {
        eprintln!("{INVALID_HOST_ARG}");
        return false;
    };
    m.out.info(&format!(
        ">>> Adding node {ip}:{port} to cluster {ref_ip}:{ref_port}\n"
    ));
    if !m.load_from_node(Node::new(&ref_ip, ref_port, 0)) {
        return false;
    }
    if !m.check_cluster(false) {
        return false;
    }
    let mut master: Option<usize> = None;
    if m.has(cmdflag::SLAVE) {
        match m.opts.master_id.clone() {
            Some(id) => match m.by_name(&id) {
                Some(i) => master = Some(i),
                None => {
                    m.out.err(&format!("[ERR] No such master ID {id}\n"));
                    return false;
                }
            },
            None => {
                let Some(i) = least_replicas(m) else {
                    return false;
                };
                m.out.print(&format!(
                    "Automatically selected master {}\n",
                    m.nodes[i].addr()
                ));
                master = Some(i);
            }
        }
    }
    let mut new = Node::new(&ip, port, 0);
    if !m.connect(&mut new) {
        m.out
            .err(&format!("[ERR] Sorry, can't connect to node {ip}:{port}\n"));
        return false;
    }
    match new.is_cluster() {
        Ok(true) => {}
        Ok(false) => {
            m.not_cluster_error(&new, None);
            return false;
        }
        Err(e) => {
            m.not_cluster_error(&new, e.as_deref());
            return false;
        }
    }
    if let Err(e) = new.load_info(false) {
        if let Some(e) = e {
            m.out.reply_error(&new.addr(), &e);
        }
        return false;
    }
    match new.is_empty() {
        Ok(true) => {}
        Ok(false) => {
            m.not_empty_error(&new, None);
            return false;
        }
        Err(e) => {
            m.not_empty_error(&new, e.as_deref());
            return false;
        }
    }
    let (first_host, first_port, first_bus) =
        (m.nodes[0].ip.clone(), m.nodes[0].port, m.nodes[0].bus_port);
    m.nodes.push(new);
    let ni = m.nodes.len() - 1;
    if master.is_none() {
        m.out.info(">>> Getting functions from cluster\n");
        match m.nodes[0].call(&["FUNCTION", "DUMP"]) {
            Some(Frame::Bulk(Some(dump))) => {
                m.out.info(&format!(
                    ">>> Send FUNCTION LIST to {ip}:{port} to verify there is no functions in it\n"
                ));
                match m.nodes[ni].call(&["FUNCTION", "LIST"]) {
                    Some(Frame::Array(Some(v))) if v.is_empty() => {}
                    Some(Frame::Array(Some(_))) => {
                        m.out.err(">>> New node already contains functions and can not be added to the cluster. Use FUNCTION FLUSH and try again.\r\n");
                        return false;
                    }
                    r => {
                        let e = r.as_ref().and_then(err_text).unwrap_or("NULL reply".into());
                        m.out
                            .err(&format!(">>> Failed on CLUSTER LIST (error = '{e}')\r\n"));
                        return false;
                    }
                }
                m.out
                    .info(&format!(">>> Send FUNCTION RESTORE to {ip}:{port}\n"));
                let r = m.nodes[ni].call(&[b"FUNCTION".to_vec(), b"RESTORE".to_vec(), dump]);
                if !matches!(r, Some(ref f) if !f.is_error()) {
                    let e = r.as_ref().and_then(err_text).unwrap_or("NULL reply".into());
                    m.out.err(&format!(
                        ">>> Failed loading functions to the new node (error = '{e}')\r\n"
                    ));
                    return false;
                }
            }
            r => {
                let e = r.as_ref().and_then(err_text).unwrap_or("NULL reply".into());
                m.out.info(&format!(">>> Failed retrieving Functions from the cluster, skip this step as Redis version do not support function command (error = '{e}')\n"));
            }
        }
    }
    m.out.info(&format!(
        ">>> Send CLUSTER MEET to node {ip}:{port} to make it join the cluster.\n"
    ));
    let Some(first_ip) = resolve(&first_host) else {
        eprintln!("Invalid IP address or hostname specified: {first_host}");
        return false;
    };
    let r = meet(&mut m.nodes[ni], &first_ip, (first_port, first_bus));
    if !check_reply(m, &m.nodes[ni], &r, false) {
        return false;
    }
    if let Some(mi) = master {
        wait_for_cluster_join(m);
        m.out.info(&format!(
            ">>> Configure node as replica of {}.\n",
            m.nodes[mi].addr()
        ));
        let id = m.nodes[mi].name.clone();
        let r = m.nodes[ni].call(&["CLUSTER", "REPLICATE", &id]);
        if !check_reply(m, &m.nodes[ni], &r, false) {
            return false;
        }
    }
    m.out.ok("[OK] New node added correctly.\n");
    true
}

/// `del-node host:port node_id`: refuses a node that still serves slots; its replicas move
/// to the primary with fewest replicas; every other node forgets it; then CLUSTER RESET SOFT.
pub fn del_node(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    let Some((ip, port)) = host_from_args(&argv[..1]) else {
        eprintln!("{INVALID_HOST_ARG}");
        return false;
    };
    let node_id = String::from_utf8_lossy(&argv[1]).into_owned();
    m.out.info(&format!(
        ">>> Removing node {node_id} from cluster {ip}:{port}\n"
    ));
    if !m.load_from_node(Node::new(&ip, port, 0)) {
        return false;
    }
    let Some(del) = m.by_name(&node_id) else {
        m.out.err(&format!("[ERR] No such node ID {node_id}\n"));
        return false;
    };
    if m.nodes[del].slots_count != 0 {
        m.out.err(&format!(
            "[ERR] Node {} is not empty! Reshard data away and try again.\n",
            m.nodes[del].addr()
        ));
        return false;
    }
    m.out
        .info(">>> Sending CLUSTER FORGET messages to the cluster...\n");
    for i in 0..m.nodes.len() {
        if i == del {
            continue;
        }
        if m.nodes[i]
            .replicate
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(&node_id))
        {
            let Some(mi) = least_replicas(m) else {
                return false;
            };
            m.out.info(&format!(
                ">>> {} as replica of {}\n",
                m.nodes[i].addr(),
                m.nodes[mi].addr()
            ));
            let id = m.nodes[mi].name.clone();
            let r = m.nodes[i].call(&["CLUSTER", "REPLICATE", &id]);
            if !check_reply(m, &m.nodes[i], &r, false) {
                return false;
            }
        }
        let r = m.nodes[i].call(&["CLUSTER", "FORGET", &node_id]);
        if !check_reply(m, &m.nodes[i], &r, false) {
            return false;
        }
    }
    m.out
        .info(">>> Sending CLUSTER RESET SOFT to the deleted node.\n");
    let r = m.nodes[del].call(&["CLUSTER", "RESET", "SOFT"]);
    check_reply(m, &m.nodes[del], &r, false)
}

/// `call host:port command args...`: the command on every node (or only primaries /
/// replicas), each reply in raw form after "ip:port: ".
pub fn call(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    if !m.load_from_args(&argv[..1]) {
        return false;
    }
    let cmd = &argv[1..];
    m.out.info(">>> Calling");
    let mut line = Vec::new();
    for a in cmd {
        line.push(b' ');
        line.extend_from_slice(a);
    }
    line.push(b'\n');
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(&line);
    let _ = so.flush();
    drop(so);
    for i in 0..m.nodes.len() {
        let n = &m.nodes[i];
        if m.has(cmdflag::MASTERS_ONLY) && n.replicate.is_some() {
            continue;
        }
        if m.has(cmdflag::SLAVES_ONLY) && n.replicate.is_none() {
            continue;
        }
        if m.nodes[i].link.is_none() {
            let mut n = std::mem::replace(&mut m.nodes[i], Node::new("", 0, 0));
            let ok = m.connect(&mut n);
            m.nodes[i] = n;
            if !ok {
                continue;
            }
        }
        let n = &mut m.nodes[i];
        let mut out = format!("{}:{}: ", n.ip, n.port).into_bytes();
        match n.call(cmd) {
            None => out = format!("{}:{}: Failed!", n.ip, n.port).into_bytes(),
            Some(f) => out.extend_from_slice(&crate::format::raw(&f, b"\n")),
        }
        out.push(b'\n');
        let mut so = std::io::stdout().lock();
        let _ = so.write_all(&out);
        let _ = so.flush();
    }
    true
}

/// `set-timeout host:port milliseconds`: CONFIG SET cluster-node-timeout and CONFIG
/// REWRITE on every node (at least 100 ms).
pub fn set_timeout(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    let Some((ip, port)) = host_from_args(&argv[..1]) else {
        eprintln!("{INVALID_HOST_ARG}");
        return false;
    };
    let timeout = pyrope_common::client::atoi(&argv[1]) as i32;
    if timeout < 100 {
        eprintln!("Setting a node timeout of less than 100 milliseconds is a bad idea.");
        return false;
    }
    if !m.load_from_node(Node::new(&ip, port, 0)) {
        return false;
    }
    m.out
        .info(">>> Reconfiguring node timeout in every cluster node...\n");
    let (mut ok_count, mut err_count) = (0, 0);
    for i in 0..m.nodes.len() {
        let n = &mut m.nodes[i];
        let mut err = String::new();
        let mut ok = false;
        match n.call(&[
            "CONFIG",
            "SET",
            "cluster-node-timeout",
            &timeout.to_string(),
        ]) {
            Some(Frame::Error(e)) => err = crate::conn::cstr(&e),
            None => {}
            Some(_) => match n.call(&["CONFIG", "REWRITE"]) {
                Some(Frame::Error(e)) => err = crate::conn::cstr(&e),
                None => {}
                Some(_) => ok = true,
            },
        }
        let addr = n.addr();
        if ok {
            m.out.warn(&format!("*** New timeout set for {addr}\n"));
            ok_count += 1;
        } else {
            m.out
                .err(&format!("ERR setting node-timeout for {addr}: {err}\n"));
            err_count += 1;
        }
    }
    m.out.info(&format!(
        ">>> New node timeout set. {ok_count} OK, {err_count} ERR.\n"
    ));
    true
}

/// The password for `--cluster-from-askpass`, read from the terminal without echo.
fn ask_from_password() -> Vec<u8> {
    print!("Please input import source node password: ");
    let _ = std::io::stdout().flush();
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    let tty = unsafe { libc::tcgetattr(0, &mut term) } == 0;
    if tty {
        let mut quiet = term;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if tty {
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &term) };
        println!();
    }
    line.trim_end_matches(['\n', '\r']).as_bytes().to_vec()
}

/// `import host:port --cluster-from host:port [--cluster-from-user u] [--cluster-from-pass
/// p | --cluster-from-askpass] [--cluster-copy] [--cluster-replace]`: every key of the
/// standalone source's db 0 (SCAN COUNT 1000) is MIGRATEd to the primary serving its slot,
/// with a "Migrating <key> to <ip:port>: OK" line each. The keys of one SCAN batch that go to
/// the same node travel in one `MIGRATE ... KEYS` (redis-cli sends one MIGRATE per key);
/// when such a batch fails, its keys are retried one by one so the failing key is named as
/// redis-cli names it.
pub fn import(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    let Some((ip, port)) = host_from_args(&argv) else {
        eprintln!("{INVALID_HOST_ARG}");
        return false;
    };
    let Some(from) = m.opts.from.clone() else {
        eprintln!("[ERR] Option '--cluster-from' is required for subcommand 'import'.");
        return false;
    };
    let Some((src_ip, src_port)) = host_from_args(&[from.into_bytes()]) else {
        eprintln!(
            "[ERR] Invalid --cluster-from host. You need to pass a valid address (ie. 120.0.0.1:7000)."
        );
        return false;
    };
    if m.opts.from_askpass {
        m.opts.from_pass = Some(ask_from_password());
    }
    m.out.info(&format!(
        ">>> Importing data from {src_ip}:{src_port} to cluster {ip}:{port}\n"
    ));
    if !m.load_from_node(Node::new(&ip, port, 0)) {
        return false;
    }
    if !m.check_cluster(false) {
        return false;
    }
    let src_err = |m: &Manager, e: &str| {
        m.out.err(&format!(
            "Source {src_ip}:{src_port} replied with error:\n{e}\n"
        ));
    };
    let mut src = Node::new(&src_ip, src_port, 0);
    let stream = match pyrope_common::client::Stream::tcp(&src_ip, src_port, m.auth.timeout) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "Could not connect to Redis at {src_ip}:{src_port}: {}.",
                pyrope_common::client::os_error_text(&e)
            );
            return false;
        }
    };
    src.link = Some(super::node::Link::new(pyrope_common::client::Client::new(
        stream,
    )));
    if let Some(p) = m.opts.from_pass.clone() {
        let r = match m.opts.from_user.clone() {
            None => src.call(&[b"AUTH".to_vec(), p]),
            Some(u) => src.call(&[b"AUTH".to_vec(), u, p]),
        };
        match r {
            None => {
                eprintln!("\nI/O error");
                return false;
            }
            Some(Frame::Error(e)) => {
                eprintln!("AUTH failed: {}", crate::conn::cstr(&e));
                return false;
            }
            Some(_) => {}
        }
    }
    match src.call(&["INFO"]) {
        None => return false,
        Some(Frame::Error(e)) => {
            src_err(m, &crate::conn::cstr(&e));
            return false;
        }
        Some(f) => {
            if super::node::info_field(&super::node::bulk_bytes(&f), "cluster_enabled") != 0 {
                m.out
                    .err("[ERR] The source node should not be a cluster node.\n");
                return false;
            }
        }
    }
    let size = match src.call(&["DBSIZE"]) {
        Some(Frame::Integer(k)) => k,
        Some(Frame::Error(e)) => {
            src_err(m, &crate::conn::cstr(&e));
            return false;
        }
        _ => return false,
    };
    m.out
        .warn(&format!("*** Importing {size} keys from DB 0\n"));
    let mut slot_map: Vec<Option<usize>> = vec![None; SLOTS];
    for (s, e) in slot_map.iter_mut().enumerate() {
        *e = m
            .nodes
            .iter()
            .position(|n| !n.is_replica() && n.slots_count > 0 && n.slots[s]);
    }
    let mut tail: Vec<Vec<u8>> = Vec::new();
    if let Some(p) = &m.auth.password {
        match &m.auth.user {
            Some(u) => tail.extend([b"AUTH2".to_vec(), u.clone(), p.clone()]),
            None => tail.extend([b"AUTH".to_vec(), p.clone()]),
        }
    }
    if m.has(cmdflag::COPY) {
        tail.push(b"COPY".to_vec());
    }
    if m.has(cmdflag::REPLACE) {
        tail.push(b"REPLACE".to_vec());
    }
    let timeout = m.opts.timeout.to_string().into_bytes();
    let progress = super::migrate::Progress::keys(size.max(0) as u64);
    let mut cursor: Vec<u8> = b"0".to_vec();
    loop {
        let r = src.call(&[
            b"SCAN".to_vec(),
            cursor.clone(),
            b"COUNT".to_vec(),
            b"1000".to_vec(),
        ]);
        let (next, keys) = match r {
            Some(Frame::Array(Some(v))) if v.len() >= 2 => {
                let next = super::node::bulk_bytes(&v[0]);
                let keys: Vec<Vec<u8>> = v[1]
                    .as_array()
                    .unwrap_or(&[])
                    .iter()
                    .map(super::node::bulk_bytes)
                    .collect();
                (next, keys)
            }
            Some(Frame::Error(e)) => {
                src_err(m, &crate::conn::cstr(&e));
                progress.finish();
                return false;
            }
            _ => {
                progress.finish();
                return false;
            }
        };
        // Group the batch by target, keeping the SCAN order inside each group.
        let mut groups: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
        for k in keys {
            let slot = pyrope_common::slot::key_slot(&k) as usize;
            let Some(t) = slot_map[slot] else {
                m.out
                    .err(&format!("[ERR] Slot {slot} is not served by any node.\n"));
                progress.finish();
                return false;
            };
            match groups.iter_mut().find(|(g, _)| *g == t) {
                Some((_, v)) => v.push(k),
                None => groups.push((t, vec![k])),
            }
        }
        for (t, keys) in groups {
            let (tip, tport) = (m.nodes[t].ip.clone(), m.nodes[t].port);
            let mut batch: Vec<Vec<u8>> = vec![
                b"MIGRATE".to_vec(),
                tip.clone().into_bytes(),
                tport.to_string().into_bytes(),
                Vec::new(),
                b"0".to_vec(),
                timeout.clone(),
            ];
            batch.extend(tail.iter().cloned());
            batch.push(b"KEYS".to_vec());
            batch.extend(keys.iter().cloned());
            let whole = matches!(src.call(&batch), Some(ref f) if !f.is_error());
            for k in &keys {
                let mut line = b"Migrating ".to_vec();
                line.extend_from_slice(&k[..k.iter().position(|&c| c == 0).unwrap_or(k.len())]);
                line.extend_from_slice(format!(" to {tip}:{tport}: ").as_bytes());
                let mut so = std::io::stdout().lock();
                let _ = so.write_all(&line);
                let _ = so.flush();
                drop(so);
                if !whole {
                    let mut one: Vec<Vec<u8>> = vec![
                        b"MIGRATE".to_vec(),
                        tip.clone().into_bytes(),
                        tport.to_string().into_bytes(),
                        k.clone(),
                        b"0".to_vec(),
                        timeout.clone(),
                    ];
                    one.extend(tail.iter().cloned());
                    match src.call(&one) {
                        Some(Frame::Error(e)) => {
                            m.out.err(&format!(
                                "Source {src_ip}:{src_port} replied with error:\n{}\n",
                                crate::conn::cstr(&e)
                            ));
                            progress.finish();
                            return false;
                        }
                        None => {
                            progress.finish();
                            return false;
                        }
                        Some(_) => {}
                    }
                }
                m.out.ok("OK\n");
            }
            if let Some(b) = &progress.bar() {
                b.inc(keys.len() as u64);
            }
        }
        if next == b"0" || next.is_empty() {
            break;
        }
        cursor = next;
    }
    progress.finish();
    true
}

/// `backup host:port backup_directory`: nodes.json (the nodes as JSON, with the error count
/// when the check failed) and each primary's RDB (`redis-node-<ip>-<port>-<id>.rdb`, by
/// SYNC) in the directory.
pub fn backup(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    let Some((ip, port)) = host_from_args(&argv[..1]) else {
        eprintln!("{INVALID_HOST_ARG}");
        return false;
    };
    if !m.load_from_node(Node::new(&ip, port, 0)) {
        return false;
    }
    let no_issues = m.check_cluster(false);
    let errors = if no_issues { 0 } else { m.errors.len() };
    let dir = String::from_utf8_lossy(&argv[1]).into_owned();
    let slash = if dir.ends_with('/') { "" } else { "/" };
    let mut json = String::from("[\n");
    for i in 0..m.nodes.len() {
        if i > 0 {
            json += ",\n";
        }
        json += &m.nodes[i].json(errors);
        if m.nodes[i].replicate.is_some() {
            continue;
        }
        m.out.info(&format!(
            ">>> Node {} -> Saving RDB...\n",
            m.nodes[i].addr()
        ));
        let n = &mut m.nodes[i];
        let file = format!("{dir}{slash}redis-node-{}-{}-{}.rdb", n.ip, n.port, n.name);
        if let Err(e) = save_rdb(n, &file) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    json += "\n]";
    let path = format!("{dir}{slash}nodes.json");
    m.out
        .info(&format!("Saving cluster configuration to: {path}\n"));
    if std::fs::write(&path, json).is_err() {
        m.out.err(&format!("Could not save nodes to: {path}\n"));
        m.out.ok("[ERR] Failed to back cluster!\n");
        return false;
    }
    if !no_issues {
        m.out.warn("*** Cluster seems to have some problems, please be aware of it if you're going to restore this backup.\n");
    }
    m.out.ok(&format!("[OK] Backup created into: {dir}\n"));
    true
}

/// redis-cli's `getRDB` for one node: SYNC on its connection, the payload to `file`, its
/// messages on stderr.
fn save_rdb(n: &mut Node, file: &str) -> Result<(), String> {
    use crate::modes::sync::{copy_payload, read_preamble, Payload};
    let (mut stream, pre) = n
        .link
        .as_mut()
        .and_then(|l| l.take_stream())
        .ok_or("Error writing to master")?;
    stream
        .write_all(b"SYNC\r\n")
        .map_err(|_| "Error writing to master".to_string())?;
    let mut rd = std::io::Read::chain(std::io::Cursor::new(pre), stream);
    let payload = read_preamble(&mut rd)?;
    match &payload {
        Payload::EofMark(_) => eprintln!(
            "SYNC sent to master, writing bytes of bulk transfer until EOF marker to '{file}'"
        ),
        Payload::Length(len) => eprintln!("SYNC sent to master, writing {len} bytes to '{file}'"),
    }
    let mut out = std::fs::File::create(file).map_err(|e| {
        format!(
            "Error opening '{file}': {}",
            pyrope_common::client::os_error_text(&e)
        )
    })?;
    let (written, _) = copy_payload(&mut rd, &payload, &mut out)?;
    let _ = out.sync_all();
    match payload {
        Payload::EofMark(_) => eprintln!("Transfer finished with success after {written} bytes"),
        Payload::Length(_) => eprintln!("Transfer finished with success."),
    }
    Ok(())
}

/// `help`: the subcommands and their options; exits 1 as redis-cli's (its handler returns 0).
pub fn help(_m: &mut Manager) -> bool {
    print!("{}", super::help_text());
    let _ = std::io::stdout().flush();
    false
}
