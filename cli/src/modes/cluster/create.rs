//! `create` (`clusterManagerCommandCreate`): checks every node is an empty cluster node,
//! allocates the slots to the first `nodes / (replicas + 1)` nodes taken round-robin over the
//! distinct IPs, assigns replicas preferring another IP than their primary's, improves the
//! replicas' anti-affinity by random swaps (`clusterManagerOptimizeAntiAffinity`), then on
//! "yes": ADDSLOTS, distinct config epochs, CLUSTER MEET, wait for agreement, CLUSTER
//! REPLICATE, and a final check.

use super::node::{Node, PORT_INCR, SLOTS};
use super::{Level, Manager};
use std::time::{Duration, Instant};

/// `clusterManagerGetAntiAffinityScore` over the IP groups: 10000 for each replica on its
/// primary's IP, 1 per replica sharing an IP with another replica of the same primary.
/// With `offenders`, one replica per offending group (the first in the node list).
fn anti_affinity_score(
    m: &Manager,
    groups: &[Vec<usize>],
    offenders: Option<&mut Vec<usize>>,
) -> u64 {
    let mut score = 0u64;
    let mut off = Vec::new();
    for g in groups {
        let Some(&first) = g.first() else { continue };
        let ip = &m.nodes[first].ip;
        // Primary id -> "m" then one "s" per replica, for the nodes of this IP.
        let mut related: Vec<(String, String)> = Vec::new();
        for &i in g {
            let n = &m.nodes[i];
            let key = n.replicate.clone().unwrap_or_else(|| n.name.clone());
            let pos = related.iter().position(|(k, _)| *k == key);
            let types = pos.map(|p| related[p].1.clone()).unwrap_or_default();
            let types = if n.replicate.is_some() {
                types + "s"
            } else {
                format!("m{types}")
            };
            match pos {
                Some(p) => related[p].1 = types,
                None => related.push((key, types)),
            }
        }
        for (name, types) in &related {
            if types.len() < 2 {
                continue;
            }
            if types.starts_with('m') {
                score += 10000 * (types.len() as u64 - 1);
            } else {
                score += types.len() as u64;
            }
            if let Some(i) = m
                .nodes
                .iter()
                .position(|n| n.replicate.as_deref() == Some(name) && n.ip == *ip)
            {
                off.push(i);
            }
        }
    }
    if let Some(o) = offenders {
        *o = off;
    }
    score
}

/// `clusterManagerOptimizeAntiAffinity`: up to 500 x nodes random swaps of two replicas'
/// primaries, each kept unless it makes the score worse.
fn optimize_anti_affinity(m: &mut Manager, groups: &[Vec<usize>]) {
    if anti_affinity_score(m, groups, None) == 0 {
        return;
    }
    m.out
        .info(">>> Trying to optimize slaves allocation for anti-affinity\n");
    let mut maxiter = 500 * m.nodes.len();
    let mut offenders = Vec::new();
    while maxiter > 0 {
        let score = anti_affinity_score(m, groups, Some(&mut offenders));
        if score == 0 || offenders.is_empty() {
            break;
        }
        let first = offenders[fastrand::usize(..offenders.len())];
        let others: Vec<usize> = (0..m.nodes.len())
            .filter(|&i| i != first && m.nodes[i].replicate.is_some())
            .collect();
        if others.is_empty() {
            break;
        }
        let second = others[fastrand::usize(..others.len())];
        let (fm, sm) = (
            m.nodes[first].replicate.clone(),
            m.nodes[second].replicate.clone(),
        );
        m.nodes[first].replicate = sm.clone();
        m.nodes[second].replicate = fm.clone();
        m.nodes[first].dirty = true;
        m.nodes[second].dirty = true;
        if anti_affinity_score(m, groups, None) > score {
            m.nodes[first].replicate = fm;
            m.nodes[second].replicate = sm;
        }
        maxiter -= 1;
    }
    let score = anti_affinity_score(m, groups, None);
    let (level, msg) = if score == 0 {
        (Level::Ok, "[OK] Perfect anti-affinity obtained!")
    } else if score >= 10000 {
        (
            Level::Warn,
            "[WARNING] Some slaves are in the same host as their master",
        )
    } else {
        (
            Level::Warn,
            "[WARNING] Some slaves of the same master are in the same host",
        )
    };
    m.out.log(level, &format!("{msg}\n"));
}

/// `clusterManagerFlushNodeConfig`: sends a dirty node's plan (REPLICATE for a replica,
/// ADDSLOTS for a primary). Ok(false) when nothing was dirty; Err(error text) on failure,
/// the node staying dirty when REPLICATE failed (its primary may not be known yet).
fn flush_node_config(n: &mut Node) -> Result<bool, Option<String>> {
    if !n.dirty {
        return Ok(false);
    }
    if let Some(master) = n.replicate.clone() {
        match n.call(&["CLUSTER", "REPLICATE", &master]) {
            None => return Err(None),
            Some(pyrope_common::resp::Frame::Error(e)) => return Err(Some(crate::conn::cstr(&e))),
            Some(_) => {}
        }
    } else {
        let mut argv: Vec<Vec<u8>> = vec![b"CLUSTER".to_vec(), b"ADDSLOTS".to_vec()];
        argv.extend(
            (0..SLOTS)
                .filter(|&s| n.slots[s])
                .map(|s| s.to_string().into_bytes()),
        );
        if argv.len() == 2 {
            return Err(None);
        }
        match n.call(&argv) {
            None => return Err(None),
            Some(pyrope_common::resp::Frame::Error(e)) => return Err(Some(crate::conn::cstr(&e))),
            Some(_) => {}
        }
    }
    n.dirty = false;
    Ok(true)
}

/// `clusterManagerWaitForClusterJoin`: waits until every node gives the same config
/// signature, printing a dot per second. redis-cli sleeps a second before the first check
/// and between checks; we check every 50 ms and also wait until every node lists all the
/// loaded nodes in its CLUSTER NODES, so what follows (REPLICATE, the final check) sees the
/// whole cluster.
pub fn wait_for_cluster_join(m: &mut Manager) {
    m.out.print("Waiting for the cluster to join\n");
    let start = Instant::now();
    let mut dots = 0u64;
    // As redis-cli: after 20 s (+0.15 s per node) without agreement, and again every such
    // period, the links the nodes report down are shown.
    let check_after = 20 + (m.nodes.len() as f32 * 0.15) as u64;
    let mut counter = 0u64;
    while !m.is_config_consistent() || !all_known(m) {
        std::thread::sleep(Duration::from_millis(50));
        let secs = start.elapsed().as_secs();
        while dots < secs {
            m.out.print(".");
            dots += 1;
            counter += 1;
            if counter > check_after {
                report_unreachable(m);
                counter = 0;
            }
        }
    }
    m.out.print("\n");
}

/// `clusterManagerGetLinkStatus`: for each node address some node's CLUSTER NODES shows
/// disconnected or in handshake, the nodes (`ip:port`) that see it so, in order.
fn link_status(m: &mut Manager) -> Vec<(String, Vec<String>)> {
    let mut status: Vec<(String, Vec<String>)> = Vec::new();
    for n in m.nodes.iter_mut() {
        let me = n.addr();
        let Some(f) = n.call(&["CLUSTER", "NODES"]) else {
            continue;
        };
        if f.is_error() {
            continue;
        }
        let text = String::from_utf8_lossy(&super::node::bulk_bytes(&f)).into_owned();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 8 || fields[2].contains("myself") {
                continue;
            }
            let down = fields[2].contains("disconnected") || fields[7].contains("disconnected");
            if down || fields[2].contains("handshake") {
                let addr = fields[1].to_string();
                match status.iter_mut().find(|(a, _)| *a == addr) {
                    Some((_, from)) => from.push(me.clone()),
                    None => status.push((addr, vec![me.clone()])),
                }
            }
        }
    }
    status
}

/// The warning redis-cli prints while the join takes long: which bus ports may be
/// unreachable, and from where.
fn report_unreachable(m: &mut Manager) {
    let status = link_status(m);
    if status.is_empty() {
        return;
    }
    m.out.print("\n");
    m.out.err(&format!(
        "Warning: {} node(s) may be unreachable\n",
        status.len()
    ));
    for (addr, from) in status {
        match super::node::parse_address(&addr) {
            Some((ip, _, bus)) if bus != 0 => m.out.err(&format!(
                " - The port {bus} of node {ip} may be unreachable from:\n"
            )),
            _ => m
                .out
                .err(&format!(" - Node {addr} may be unreachable from:\n")),
        }
        for f in from {
            m.out.err(&format!("   {f}\n"));
        }
        m.out.err("Cluster bus ports must be reachable by every node.\nRemember that cluster bus ports are different from standard instance ports.\n");
    }
}

/// Every node's CLUSTER NODES has at least as many lines as there are loaded nodes.
fn all_known(m: &mut Manager) -> bool {
    let want = m.nodes.len();
    m.nodes.iter_mut().all(|n| {
        n.call(&["CLUSTER", "NODES"])
            .map(|f| {
                super::node::bulk_bytes(&f)
                    .iter()
                    .filter(|&&c| c == b'\n')
                    .count()
                    >= want
            })
            .unwrap_or(false)
    })
}

/// Resolves a host name to the IP address CLUSTER MEET needs (`anetResolve`).
pub fn resolve(host: &str) -> Option<String> {
    use std::net::ToSocketAddrs;
    (host, 0)
        .to_socket_addrs()
        .ok()?
        .next()
        .map(|a| a.ip().to_string())
}

/// CLUSTER MEET `first` sent to `n` (with the bus port when it is not port + 10000).
pub fn meet(n: &mut Node, first_ip: &str, first: (u16, u32)) -> Option<pyrope_common::resp::Frame> {
    let (port, bus) = first;
    if bus == 0 || bus == port as u32 + PORT_INCR {
        n.call(&["CLUSTER", "MEET", first_ip, &port.to_string()])
    } else {
        n.call(&[
            "CLUSTER",
            "MEET",
            first_ip,
            &port.to_string(),
            &bus.to_string(),
        ])
    }
}

/// `create host1:port1 ... hostN:portN [--cluster-replicas N] [--cluster-yes]`.
pub fn create(m: &mut Manager) -> bool {
    for a in m.opts.argv.clone() {
        let addr = String::from_utf8_lossy(&a).into_owned();
        let Some((ip, port, _)) = super::node::parse_address(&addr) else {
            eprintln!("Invalid address format: {addr}");
            return false;
        };
        let mut n = Node::new(&ip, port, 0);
        if !m.connect(&mut n) {
            return false;
        }
        match n.is_cluster() {
            Ok(true) => {}
            Ok(false) => {
                m.not_cluster_error(&n, None);
                return false;
            }
            Err(e) => {
                m.not_cluster_error(&n, e.as_deref());
                return false;
            }
        }
        if let Err(e) = n.load_info(false) {
            if let Some(e) = e {
                m.out.reply_error(&n.addr(), &e);
            }
            return false;
        }
        match n.is_empty() {
            Ok(true) => {}
            Ok(false) => {
                m.not_empty_error(&n, None);
                return false;
            }
            Err(e) => {
                m.not_empty_error(&n, e.as_deref());
                return false;
            }
        }
        m.nodes.push(n);
    }
    let node_len = m.nodes.len();
    let replicas = m.opts.replicas;
    let masters_count = if replicas >= 0 {
        node_len / (replicas as usize + 1)
    } else {
        0
    };
    if masters_count < 3 {
        m.out.err(&format!("*** ERROR: Invalid configuration for cluster creation.\n*** Redis Cluster requires at least 3 master nodes.\n*** This is not possible with {node_len} nodes and {replicas} replicas per node."));
        m.out.err(&format!(
            "\n*** At least {} nodes are required.\n",
            3 * (replicas + 1)
        ));
        return false;
    }
    m.out.info(&format!(
        ">>> Performing hash slots allocation on {node_len} nodes...\n"
    ));
    // Group by IP (first-seen order), then interleave the groups.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut ips: Vec<String> = Vec::new();
    for i in 0..node_len {
        match ips.iter().position(|ip| *ip == m.nodes[i].ip) {
            Some(g) => groups[g].push(i),
            None => {
                ips.push(m.nodes[i].ip.clone());
                groups.push(vec![i]);
            }
        }
    }
    let mut interleaved = Vec::with_capacity(node_len);
    let mut cursors = vec![0usize; groups.len()];
    while interleaved.len() < node_len {
        for (g, c) in groups.iter().zip(cursors.iter_mut()) {
            if *c < g.len() {
                interleaved.push(g[*c]);
                *c += 1;
            }
        }
    }
    let masters: Vec<usize> = interleaved[..masters_count].to_vec();
    let mut rest: Vec<Option<usize>> = interleaved[masters_count..]
        .iter()
        .map(|&i| Some(i))
        .collect();
    // Slots: contiguous ranges, float steps rounded as lround.
    let per_node = SLOTS as f32 / masters_count as f32;
    let mut first: i64 = 0;
    let mut cursor: f32 = 0.0;
    for (k, &mi) in masters.iter().enumerate() {
        let mut last = (cursor + per_node - 1.0).round() as i64;
        if last > SLOTS as i64 || k == masters_count - 1 {
            last = SLOTS as i64 - 1;
        }
        if last < first {
            last = first;
        }
        m.out
            .print(&format!("Master[{k}] -> Slots {first} - {last}\n"));
        let n = &mut m.nodes[mi];
        n.slots_count = 0;
        for s in first..=last {
            n.slots[s as usize] = true;
            n.slots_count += 1;
        }
        n.dirty = true;
        first = last + 1;
        cursor += per_node;
    }
    // Rotating the list sometimes gives a better start for the optimizer (as redis-cli).
    if !rest.is_empty() {
        rest.rotate_left(1);
    }
    let mut start = 0usize;
    let mut available = rest.len();
    let mut assign_unused = false;
    loop {
        for &mi in &masters {
            let mut assigned = 0;
            while assigned < replicas {
                if available == 0 {
                    break;
                }
                let mut found = None;
                let mut first_idx = None;
                for (j, slot) in rest.iter_mut().enumerate().skip(start) {
                    let Some(n) = *slot else { continue };
                    if m.nodes[n].ip != m.nodes[mi].ip {
                        found = Some(n);
                        *slot = None;
                        break;
                    }
                    if first_idx.is_none() {
                        first_idx = Some(j);
                    }
                }
                let replica = match (found, first_idx) {
                    (Some(n), _) => n,
                    (None, Some(j)) => {
                        start = j + 1;
                        rest[j].expect("a node")
                    }
                    (None, None) => break,
                };
                assigned += 1;
                available -= 1;
                let master_name = m.nodes[mi].name.clone();
                m.nodes[replica].replicate = Some(master_name);
                m.nodes[replica].dirty = true;
                m.out.print(&format!(
                    "Adding replica {} to {}\n",
                    m.nodes[replica].addr(),
                    m.nodes[mi].addr()
                ));
                if assign_unused {
                    break;
                }
            }
        }
        if !assign_unused && available > 0 {
            assign_unused = true;
            m.out.print("Adding extra replicas...\n");
            continue;
        }
        break;
    }
    optimize_anti_affinity(m, &groups);
    m.show_nodes();
    if !m.confirm("Can I set the above configuration?", false) {
        return true;
    }
    for i in 0..node_len {
        let r = flush_node_config(&mut m.nodes[i]);
        if let Err(e) = r {
            if m.nodes[i].dirty && m.nodes[i].replicate.is_none() {
                if let Some(e) = e {
                    m.out.reply_error(&m.nodes[i].addr(), &e);
                }
                return false;
            }
        }
    }
    m.out.info(">>> Nodes configuration updated\n");
    m.out
        .info(">>> Assign a different config epoch to each node\n");
    for (epoch, n) in m.nodes.iter_mut().enumerate() {
        let _ = n.call(&["cluster", "set-config-epoch", &(epoch + 1).to_string()]);
    }
    m.out
        .info(">>> Sending CLUSTER MEET messages to join the cluster\n");
    let Some(first_ip) = resolve(&m.nodes[0].ip) else {
        eprintln!(
            "Invalid IP address or hostname specified: {}",
            m.nodes[0].ip
        );
        return false;
    };
    let first_addr = (m.nodes[0].port, m.nodes[0].bus_port);
    for i in 1..node_len {
        match meet(&mut m.nodes[i], &first_ip, first_addr) {
            None => {
                eprintln!("Failed to send CLUSTER MEET command.");
                return false;
            }
            Some(pyrope_common::resp::Frame::Error(e)) => {
                m.out
                    .reply_error(&m.nodes[i].addr(), &crate::conn::cstr(&e));
                return false;
            }
            Some(_) => {}
        }
    }
    wait_for_cluster_join(m);
    for i in 0..node_len {
        if !m.nodes[i].dirty {
            continue;
        }
        if let Err(e) = flush_node_config(&mut m.nodes[i]) {
            if m.nodes[i].replicate.is_none() {
                if let Some(e) = e {
                    m.out.reply_error(&m.nodes[i].addr(), &e);
                }
                return false;
            }
        }
    }
    // Reload everything through the first node and check.
    let mut first = Node::new(&m.nodes[0].ip, m.nodes[0].port, 0);
    first.link = m.nodes[0].link.take();
    m.nodes.clear();
    if !m.load_from_node(first) {
        return false;
    }
    m.check_cluster(false);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::cluster::{Opts, Out};

    fn node(ip: &str, name: &str, replicate: Option<&str>) -> Node {
        let mut n = Node::new(ip, 7000, 0);
        n.name = name.into();
        n.replicate = replicate.map(String::from);
        n
    }

    #[test]
    fn anti_affinity_scores_as_redis_cli() {
        let mut m = Manager {
            nodes: vec![
                node("10.0.0.1", "a", None),
                node("10.0.0.1", "ra", Some("a")),
                node("10.0.0.2", "b", None),
                node("10.0.0.2", "rb1", Some("a")),
                node("10.0.0.2", "rb2", Some("a")),
            ],
            errors: Vec::new(),
            unreachable_masters: 0,
            opts: Opts::default(),
            auth: Default::default(),
            out: Out { color: false },
            verbose: false,
        };
        let groups = vec![vec![0, 1], vec![2, 3, 4]];
        let mut off = Vec::new();
        // A replica beside its primary: 10000; two replicas of one primary together: 2.
        assert_eq!(anti_affinity_score(&m, &groups, Some(&mut off)), 10002);
        assert_eq!(off, vec![1, 3]);
        m.nodes[1].replicate = Some("b".into());
        m.nodes[4].replicate = Some("b".into());
        // ra (10.0.0.1) now replicates b (10.0.0.2); rb2 sits beside b.
        assert_eq!(anti_affinity_score(&m, &groups, None), 10000);
    }
}
