//! Moving slots between primaries, and the two subcommands built on it.
//!
//! [`move_slot`] is redis-cli 7.4's `clusterManagerMoveSlot`, step for step:
//! 1. `CLUSTER SETSLOT <slot> IMPORTING <source id>` on the target, then
//!    `CLUSTER SETSLOT <slot> MIGRATING <target id>` on the source (unless "cold");
//! 2. until the slot is empty: `CLUSTER GETKEYSINSLOT <slot> <pipeline>` on the source and
//!    `MIGRATE host port "" 0 <timeout> [REPLACE] [AUTH pw | AUTH2 user pw] KEYS k...`
//!    (`clusterManagerMigrateKeysInSlot`; a BUSYKEY reply compares the values with DEBUG
//!    DIGEST-VALUE and retries with REPLACE only when they are equal or `--cluster-replace`
//!    was given);
//! 3. `CLUSTER SETSLOT <slot> NODE <target id>` on the target first, then the source (whose
//!    "Please use SETSLOT only with masters" after losing its last slot is fine), then every
//!    other primary.
//!
//! [`move_slots`] runs these steps for a list of moves with the round trips of consecutive
//! moves from one source overlapped (each node still sees redis-cli's commands in redis-cli's
//! order); every SETSLOT costs the node an fsync of nodes.conf, so fewer batches is faster.
//!
//! While the slot is MIGRATING the source creates no new key in it (clients are sent to the
//! target with -ASK), so a GETKEYSINSLOT batch shorter than the pipeline is the last one and
//! the closing empty GETKEYSINSLOT redis-cli sends is skipped. An interrupted move leaves the
//! slot open on both nodes, which `fix` closes (its case 1).
//!
//! `reshard` (`clusterManagerCommandReshard`) and `rebalance`
//! (`clusterManagerCommandRebalance`) plan with `clusterManagerComputeReshardTable`.

use super::fix::{set_slot, slot_owner};
use super::node::{Node, SLOTS};
use super::{cmdflag, Manager};
use pyrope_common::resp::Frame;
use std::io::IsTerminal;

/// `CLUSTER_MANAGER_OPT_*` for [`move_slot`].
pub mod opt {
    /// Migrate keys but do not open / close the slot.
    pub const COLD: u32 = 1 << 1;
    /// Update the source's and target's slot tables.
    pub const UPDATE: u32 = 1 << 2;
    /// No "Moving slot ..." line.
    pub const QUIET: u32 = 1 << 6;
    /// A dot per key moved.
    pub const VERBOSE: u32 = 1 << 7;
}

/// A progress bar on stderr for a terminal (none otherwise): slots moved, keys, rate, ETA.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar over `slots` slots when stderr is a terminal.
    pub fn new(slots: u64) -> Progress {
        Self::with_template(
            slots,
            "{bar:30} {pos}/{len} slots, {msg} keys [{elapsed_precise}, {per_sec}, ETA {eta}]",
        )
    }

    /// A bar over `keys` keys when stderr is a terminal (import).
    pub fn keys(keys: u64) -> Progress {
        Self::with_template(
            keys,
            "{bar:30} {pos}/{len} keys [{elapsed_precise}, {per_sec}, ETA {eta}]",
        )
    }

    fn with_template(len: u64, template: &str) -> Progress {
        if !std::io::stderr().is_terminal() || len == 0 {
            return Progress { bar: None };
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(len),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message("0");
        Progress { bar: Some(bar) }
    }

    /// One more slot moved; `keys` so far.
    pub fn slot(&self, keys: u64) {
        if let Some(b) = &self.bar {
            b.set_message(keys.to_string());
            b.inc(1);
        }
    }

    /// The bar, when shown.
    pub fn bar(&self) -> Option<&indicatif::ProgressBar> {
        self.bar.as_ref()
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Keys moved by this process so far (for the progress bar).
static KEYS_MOVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn migrate_command(m: &Manager, target: &Node, keys: &[Vec<u8>], replace: bool) -> Vec<Vec<u8>> {
    let mut argv: Vec<Vec<u8>> = vec![
        b"MIGRATE".to_vec(),
        target.ip.clone().into_bytes(),
        target.port.to_string().into_bytes(),
        Vec::new(),
        b"0".to_vec(),
        m.opts.timeout.to_string().into_bytes(),
    ];
    if replace {
        argv.push(b"REPLACE".to_vec());
    }
    if let Some(p) = &m.auth.password {
        match &m.auth.user {
            Some(u) => {
                argv.push(b"AUTH2".to_vec());
                argv.push(u.clone());
            }
            None => argv.push(b"AUTH".to_vec()),
        }
        argv.push(p.clone());
    }
    argv.push(b"KEYS".to_vec());
    argv.extend(keys.iter().cloned());
    argv
}

/// `clusterManagerCompareKeysValues`: the keys whose DEBUG DIGEST-VALUE differs on the two
/// nodes (a key missing on one side is not a difference). Err when a node failed (printed).
fn compare_keys_values(
    m: &mut Manager,
    a: usize,
    b: usize,
    keys: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, ()> {
    let mut argv: Vec<Vec<u8>> = vec![b"DEBUG".to_vec(), b"DIGEST-VALUE".to_vec()];
    argv.extend(keys.iter().cloned());
    let r1 = m.nodes[a].call(&argv).ok_or(())?;
    let r2 = m.nodes[b].call(&argv).ok_or(())?;
    let mut ok = true;
    for (i, r) in [(a, &r1), (b, &r2)] {
        if let Frame::Error(e) = r {
            m.out.reply_error(&m.nodes[i].addr(), &crate::conn::cstr(e));
            ok = false;
        }
    }
    if !ok {
        return Err(());
    }
    let (Some(h1), Some(h2)) = (r1.as_array(), r2.as_array()) else {
        return Err(());
    };
    let zero = "0".repeat(40).into_bytes();
    let mut diffs = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let (Some(x), Some(y)) = (h1.get(i), h2.get(i)) else {
            continue;
        };
        let (x, y) = (super::node::bulk_bytes(x), super::node::bulk_bytes(y));
        if x == zero || y == zero {
            continue;
        }
        if x != y {
            diffs.push(k.clone());
        }
    }
    Ok(diffs)
}

/// `clusterManagerMigrateKeysInSlot`: every key of `slot` from `src` to `dst` in batches of
/// `--cluster-pipeline` keys. Err(Some(text)) carries the failing reply.
fn migrate_keys_in_slot(
    m: &mut Manager,
    src: usize,
    dst: usize,
    slot: usize,
    verbose: bool,
    mut prefetched: Option<Frame>,
) -> Result<(), Option<String>> {
    let do_fix = m.has(cmdflag::FIX);
    let do_replace = m.has(cmdflag::REPLACE);
    let pipeline = m.opts.pipeline;
    loop {
        let r = match prefetched.take() {
            Some(f) => Some(f),
            None => m.nodes[src].call(&[
                "CLUSTER",
                "GETKEYSINSLOT",
                &slot.to_string(),
                &pipeline.to_string(),
            ]),
        };
        let keys: Vec<Vec<u8>> = match r {
            None => return Err(None),
            Some(Frame::Error(e)) => {
                let e = crate::conn::cstr(&e);
                m.out.reply_error(&m.nodes[src].addr(), &e);
                return Err(Some(e));
            }
            Some(f) => f
                .as_array()
                .unwrap_or(&[])
                .iter()
                .map(super::node::bulk_bytes)
                .collect(),
        };
        if keys.is_empty() {
            return Ok(());
        }
        let cmd = migrate_command(m, &m.nodes[dst], &keys, false);
        let Some(mut reply) = m.nodes[src].call(&cmd) else {
            // As redis-cli: a lost reply is retried through the next GETKEYSINSLOT (which
            // then fails on the broken connection).
            continue;
        };
        if let Frame::Error(e) = &reply {
            let e = crate::conn::cstr(e);
            let is_busy = e.contains("BUSYKEY");
            let mut not_served = false;
            if !is_busy {
                match slot_owner(m, src, slot) {
                    Ok(None) => not_served = true,
                    Ok(Some(_)) => {}
                    Err(Some(oe)) => m.out.reply_error(&m.nodes[src].addr(), &oe),
                    Err(None) => {}
                }
            }
            if !(is_busy || not_served) {
                m.out.print("\n");
                m.out.reply_error(&m.nodes[src].addr(), &e);
                return Err(Some(e));
            }
            if do_fix && not_served {
                m.out.warn(&format!(
                    "*** Slot was not served, setting owner to node {}.\n",
                    m.nodes[dst].addr()
                ));
                let id = m.nodes[dst].name.clone();
                if let Err(Some(se)) = set_slot(&mut m.nodes[src], slot, "node", &id) {
                    m.out.reply_error(&m.nodes[src].addr(), &se);
                }
            }
            if is_busy {
                m.out.warn("\n*** Target key exists\n");
                if !do_replace {
                    m.out.warn("*** Checking key values on both nodes...\n");
                    let diffs = match compare_keys_values(m, src, dst, &keys) {
                        Ok(d) => d,
                        Err(()) => {
                            m.out.err("*** Value check failed!\n");
                            return Err(Some(e));
                        }
                    };
                    if !diffs.is_empty() {
                        m.out.err(&format!(
                            "*** Found {} key(s) in both source node and target node having different values.\n    Source node: {}\n    Target node: {}\n    Keys(s):\n",
                            diffs.len(),
                            m.nodes[src].addr(),
                            m.nodes[dst].addr()
                        ));
                        for k in &diffs {
                            m.out
                                .err(&format!("    - {}\n", String::from_utf8_lossy(k)));
                        }
                        m.out.err("Please fix the above key(s) manually and try again or relaunch the command \nwith --cluster-replace option to force key overriding.\n");
                        return Err(Some(e));
                    }
                }
                m.out.warn("*** Replacing target keys...\n");
            }
            let cmd = migrate_command(m, &m.nodes[dst], &keys, is_busy);
            match m.nodes[src].call(&cmd) {
                Some(Frame::Error(e2)) => {
                    let e2 = crate::conn::cstr(&e2);
                    m.out.print("\n");
                    m.out.reply_error(&m.nodes[src].addr(), &e2);
                    return Err(Some(e2));
                }
                None => return Err(None),
                Some(r2) => reply = r2,
            }
        }
        let _ = reply;
        KEYS_MOVED.fetch_add(keys.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if verbose {
            m.out.print(&".".repeat(keys.len()));
        }
        if (keys.len() as i64) < pipeline {
            // The whole rest of the slot was in this batch (see the module comment).
            return Ok(());
        }
    }
}

/// `clusterManagerMoveSlot` (see the module comment) for one slot. Err(Some(text)) with the
/// failing reply's error.
pub fn move_slot(
    m: &mut Manager,
    src: usize,
    dst: usize,
    slot: usize,
    opts: u32,
) -> Result<(), Option<String>> {
    move_slots(m, &[(src, slot)], dst, opts, &mut |_| {})
}

/// Sends `cmds` to node `i` without waiting (pipelined with what is already in flight).
fn send_all(m: &mut Manager, i: usize, cmds: &[Vec<String>]) {
    if let Some(l) = m.nodes[i].link.as_mut() {
        for c in cmds {
            if l.send(c).is_none() {
                return;
            }
        }
    }
}

/// Reads `n` replies from node `i` (None for each one lost with the connection).
fn read_all(m: &mut Manager, i: usize, n: usize) -> Vec<Option<Frame>> {
    (0..n)
        .map(|_| m.nodes[i].link.as_mut().and_then(|l| l.read()))
        .collect()
}

/// A SETSLOT reply as [`set_slot`] reports it.
fn setslot_result(r: Option<Frame>) -> Result<(), Option<String>> {
    match r {
        None => Err(Some("CLUSTER SETSLOT failed to run".into())),
        Some(Frame::Error(e)) => Err(Some(crate::conn::cstr(&e))),
        Some(_) => Ok(()),
    }
}

fn setslot(slot: usize, state: &str, id: &str) -> Vec<String> {
    vec![
        "CLUSTER".into(),
        "SETSLOT".into(),
        slot.to_string(),
        state.into(),
        id.into(),
    ]
}

/// [`move_slot`] for a list of `(source, slot)` moves to one target, in order, with the
/// steps of consecutive moves from the same source overlapped (same commands, same order per
/// node, fewer round trips and fewer nodes.conf fsyncs, which every SETSLOT costs):
/// - the target gets `SETSLOT <slot> NODE <target>` and the next slot's `IMPORTING` in one
///   write;
/// - then, concurrently, the source gets `SETSLOT <slot> NODE <target>`, the next slot's
///   `MIGRATING` and its first `GETKEYSINSLOT` in one write, and the other primaries their
///   `SETSLOT <slot> NODE <target>`.
///
/// The target still learns each slot first, and a slot is MIGRATING on the source only once
/// the target imports it. `done(k)` is called after move `k` completes.
pub fn move_slots(
    m: &mut Manager,
    moves: &[(usize, usize)],
    dst: usize,
    opts: u32,
    done: &mut dyn FnMut(usize),
) -> Result<(), Option<String>> {
    let cold = opts & opt::COLD != 0;
    let dst_id = m.nodes[dst].name.clone();
    let pipeline = m.opts.pipeline.to_string();
    // The first GETKEYSINSLOT reply of the current slot when it came with the open.
    let mut prefetched: Option<Frame> = None;
    let mut opened = false;
    for (k, &(src, slot)) in moves.iter().enumerate() {
        if opts & opt::QUIET == 0 {
            m.out.print(&format!(
                "Moving slot {slot} from {} to {}: ",
                m.nodes[src].addr(),
                m.nodes[dst].addr()
            ));
        }
        let src_id = m.nodes[src].name.clone();
        if !cold && !opened {
            set_slot(&mut m.nodes[dst], slot, "importing", &src_id)?;
            set_slot(&mut m.nodes[src], slot, "migrating", &dst_id)?;
        }
        let r = migrate_keys_in_slot(
            m,
            src,
            dst,
            slot,
            opts & opt::VERBOSE != 0,
            prefetched.take(),
        );
        if opts & opt::QUIET == 0 {
            m.out.print("\n");
        }
        r?;
        opened = false;
        if !cold {
            let next = moves
                .get(k + 1)
                .filter(|&&(s2, _)| s2 == src)
                .map(|&(_, slot2)| slot2);
            // The target first: it propagates the change (redis#7116).
            let mut t = vec![setslot(slot, "node", &dst_id)];
            if let Some(n) = next {
                t.push(setslot(n, "importing", &src_id));
            }
            send_all(m, dst, &t);
            let mut replies = read_all(m, dst, t.len()).into_iter();
            setslot_result(replies.next().flatten())?;
            if next.is_some() {
                setslot_result(replies.next().flatten())?;
            }
            let mut sc = vec![setslot(slot, "node", &dst_id)];
            if let Some(n) = next {
                sc.push(setslot(n, "migrating", &dst_id));
                sc.push(vec![
                    "CLUSTER".into(),
                    "GETKEYSINSLOT".into(),
                    n.to_string(),
                    pipeline.clone(),
                ]);
            }
            send_all(m, src, &sc);
            // The other primaries too, in the same round trip.
            let others: Vec<usize> = (0..m.nodes.len())
                .filter(|&i| i != src && i != dst && !m.nodes[i].is_replica())
                .collect();
            for &i in &others {
                send_all(m, i, &[setslot(slot, "node", &dst_id)]);
            }
            let mut sr = read_all(m, src, sc.len()).into_iter();
            match setslot_result(sr.next().flatten()) {
                Ok(()) => {}
                // The source lost its last slot and became a replica (redis#9223).
                Err(Some(e)) if e.starts_with("ERR Please use SETSLOT only with masters.") => {}
                Err(e) => return Err(e),
            }
            if next.is_some() {
                setslot_result(sr.next().flatten())?;
                prefetched = Some(sr.next().flatten().ok_or(None)?);
                opened = true;
            }
            for &i in &others {
                setslot_result(read_all(m, i, 1).pop().flatten())?;
            }
        }
        if opts & opt::UPDATE != 0 {
            if m.nodes[src].slots[slot] {
                m.nodes[src].slots[slot] = false;
                m.nodes[src].slots_count -= 1;
            }
            if !m.nodes[dst].slots[slot] {
                m.nodes[dst].slots[slot] = true;
                m.nodes[dst].slots_count += 1;
            }
        }
        done(k);
    }
    Ok(())
}

/// `clusterManagerComputeReshardTable`: which slots to take from which source, sources by
/// descending slot count, each giving `numslots * its share` (rounded up for the first,
/// down for the others), lowest slots first.
pub fn compute_reshard_table(
    m: &Manager,
    sources: &[usize],
    numslots: usize,
) -> Vec<(usize, usize)> {
    let mut sorted = sources.to_vec();
    let tot: usize = sources.iter().map(|&i| m.nodes[i].slots_count).sum();
    sorted.sort_by(|&a, &b| m.nodes[b].slots_count.cmp(&m.nodes[a].slots_count));
    let mut moved = Vec::new();
    for (k, &i) in sorted.iter().enumerate() {
        let n = m.nodes[i].slots_count as f32 * (numslots as f32 / tot as f32);
        let n = if k == 0 { n.ceil() } else { n.floor() };
        let max = n as usize;
        let mut count = 0;
        for s in 0..SLOTS {
            if !m.nodes[i].slots[s] {
                continue;
            }
            if count >= max || moved.len() >= numslots {
                break;
            }
            moved.push((i, s));
            count += 1;
        }
    }
    moved
}

/// `clusterNodeForResharding`: a known primary by id. Err(true) when unknown (printed),
/// Err(false) when it is the target (printed, skipped).
fn node_for_resharding(m: &Manager, id: &str, target: Option<usize>) -> Result<usize, bool> {
    match m.by_name(id) {
        Some(i) if !m.nodes[i].is_replica() => {
            if let Some(t) = target {
                if m.nodes[t].name == m.nodes[i].name {
                    m.out
                        .err("*** It is not possible to use the target node as source node.\n");
                    return Err(false);
                }
            }
            Ok(i)
        }
        _ => {
            m.out.err(&format!(
                "*** The specified node ({id}) is not known or not a master, please retry.\n"
            ));
            Err(true)
        }
    }
}

/// One line typed at a prompt (redis-cli reads up to `max` bytes and drops the newline);
/// None at the end of input.
fn prompt_line(m: &Manager, prompt: &str, max: usize) -> Option<String> {
    m.out.print(prompt);
    let b = super::read_stdin(max);
    if b.is_empty() {
        return None;
    }
    let mut s = String::from_utf8_lossy(&b).into_owned();
    if !s.ends_with('\n') {
        // Skip the rest of a longer line.
        let mut c = [0u8; 1];
        while unsafe { libc::read(0, c.as_mut_ptr().cast(), 1) } == 1 && c[0] != b'\n' {}
    } else {
        s.pop();
    }
    Some(s)
}

/// `reshard`: moves `--cluster-slots` slots from the `--cluster-from` primaries (ids, comma
/// separated, or `all`) to `--cluster-to`, asking for what is missing; shows the plan and
/// asks "yes" unless `--cluster-yes`. With `--cluster-simulate` (ours) it stops after the
/// plan. Refuses a cluster with problems ("*** Please fix your cluster problems before
/// resharding").
pub fn reshard(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    if !m.load_from_args(&argv) {
        return false;
    }
    m.check_cluster(false);
    if !m.errors.is_empty() {
        eprintln!("*** Please fix your cluster problems before resharding");
        return false;
    }
    let mut slots = m.opts.slots;
    while slots <= 0 || slots > SLOTS as i64 {
        match prompt_line(
            m,
            &format!("How many slots do you want to move (from 1 to {SLOTS})? "),
            6,
        ) {
            Some(l) => slots = super::atoi(&l),
            None => return false,
        }
    }
    let slots = slots as usize;
    let to = match m.opts.to.clone() {
        Some(t) => t,
        None => loop {
            match prompt_line(m, "What is the receiving node ID? ", 255) {
                Some(l) if !l.is_empty() => break l,
                Some(_) => continue,
                None => return false,
            }
        },
    };
    let Ok(target) = node_for_resharding(m, &to, None) else {
        return false;
    };
    let mut sources: Vec<usize> = Vec::new();
    let mut all = false;
    match m.opts.from.clone() {
        None => {
            m.out.print("Please enter all the source node IDs.\n  Type 'all' to use all the nodes as source nodes for the hash slots.\n  Type 'done' once you entered all the source nodes IDs.\n");
            loop {
                let Some(l) = prompt_line(m, &format!("Source node #{}: ", sources.len() + 1), 255)
                else {
                    return false;
                };
                match l.as_str() {
                    "done" => break,
                    "all" => {
                        all = true;
                        break;
                    }
                    id => match node_for_resharding(m, id, Some(target)) {
                        Ok(i) => sources.push(i),
                        Err(true) => return false,
                        Err(false) => {}
                    },
                }
            }
        }
        Some(from) => {
            for id in from.split(',') {
                if id == "all" {
                    all = true;
                    break;
                }
                if id.is_empty() {
                    continue;
                }
                match node_for_resharding(m, id, Some(target)) {
                    Ok(i) => sources.push(i),
                    Err(true) => return false,
                    Err(false) => {}
                }
            }
        }
    }
    if all {
        sources = (0..m.nodes.len())
            .filter(|&i| {
                !m.nodes[i].is_replica()
                    && m.nodes[i].replicate.is_none()
                    && m.nodes[i].name != m.nodes[target].name
            })
            .collect();
    }
    if sources.is_empty() {
        eprintln!("*** No source nodes given, operation aborted.");
        return false;
    }
    m.out.print(&format!(
        "\nReady to move {slots} slots.\n  Source nodes:\n"
    ));
    for &s in &sources {
        m.out.print(&format!("{}\n", m.nodes[s].info(4)));
    }
    m.out.print("  Destination node:\n");
    m.out.print(&format!("{}\n", m.nodes[target].info(4)));
    let table = compute_reshard_table(m, &sources, slots);
    m.out.print("  Resharding plan:\n");
    let mut plan = String::new();
    for &(src, slot) in &table {
        plan += &format!("    Moving slot {slot} from {}\n", m.nodes[src].name);
    }
    m.out.print(&plan);
    if m.has(cmdflag::SIMULATE) {
        return true;
    }
    if !m.has(cmdflag::YES) {
        m.out
            .print("Do you want to proceed with the proposed reshard plan (yes/no)? ");
        let b = super::read_stdin(4);
        if b.get(..3) != Some(b"yes") {
            return false;
        }
    }
    let progress = Progress::new(table.len() as u64);
    let r = move_slots(m, &table, target, opt::VERBOSE, &mut |_| {
        progress.slot(KEYS_MOVED.load(std::sync::atomic::Ordering::Relaxed))
    });
    progress.finish();
    if let Err(e) = r {
        if let Some(e) = e {
            m.out.err(&format!("clusterManagerMoveSlot failed: {e}\n"));
        }
        return false;
    }
    true
}

/// `rebalance`: gives each primary its weight's share of the 16384 slots (weights from
/// `--cluster-weight id-prefix=w`, 1 by default; primaries without slots only with
/// `--cluster-use-empty-masters`), when some node is off by more than `--cluster-threshold`
/// percent. Moves go from the most over-served to the most under-served node, one `#` per
/// slot; `--cluster-simulate` prints the moves without doing them.
pub fn rebalance(m: &mut Manager) -> bool {
    let argv = m.opts.argv.clone();
    if !m.load_from_args(&argv) {
        return false;
    }
    for w in m.opts.weight.clone() {
        let Some((name, val)) = w.split_once('=') else {
            m.out.err(&format!("*** invalid input {w}\n"));
            return false;
        };
        let Some(i) = m.by_prefix(name) else {
            m.out.err(&format!("*** No such master node {name}\n"));
            return false;
        };
        m.nodes[i].weight = super::atof(val) as f32;
    }
    let use_empty = m.has(cmdflag::EMPTYMASTER);
    let mut total_weight: f32 = 0.0;
    let mut involved: Vec<usize> = Vec::new();
    for i in 0..m.nodes.len() {
        let n = &mut m.nodes[i];
        if n.is_replica() || n.replicate.is_some() {
            continue;
        }
        if !use_empty && n.slots_count == 0 {
            n.weight = 0.0;
            continue;
        }
        total_weight += n.weight;
        involved.push(i);
    }
    m.check_cluster(true);
    if !m.errors.is_empty() {
        m.out
            .err("*** Please fix your cluster problems before rebalancing\n");
        return false;
    }
    let threshold = m.opts.threshold;
    let mut threshold_reached = false;
    let mut total_balance: i64 = 0;
    for &i in &involved {
        let n = &mut m.nodes[i];
        let expected = ((SLOTS as f32 / total_weight) * n.weight) as i64;
        n.balance = n.slots_count as i64 - expected;
        total_balance += n.balance;
        let over = if threshold > 0.0 {
            if n.slots_count > 0 {
                let err_perc = (100.0 - (100.0 * expected as f64 / n.slots_count as f64)).abs();
                err_perc > threshold as f64
            } else {
                expected > 1
            }
        } else {
            false
        };
        threshold_reached |= over;
    }
    if !threshold_reached {
        m.out.warn(&format!(
            "*** No rebalancing needed! All nodes are within the {:.2}% threshold.\n",
            threshold
        ));
        return true;
    }
    while total_balance > 0 {
        for &i in &involved {
            if m.nodes[i].balance <= 0 && total_balance > 0 {
                m.nodes[i].balance -= 1;
                total_balance -= 1;
            }
        }
    }
    let mut weighted = involved.clone();
    weighted.sort_by_key(|&i| m.nodes[i].balance);
    m.out.info(&format!(
        ">>> Rebalancing across {} nodes. Total weight = {:.2}\n",
        involved.len(),
        total_weight
    ));
    if m.verbose {
        for &i in &weighted {
            let n = &m.nodes[i];
            m.out
                .print(&format!("{} balance is {} slots\n", n.addr(), n.balance));
        }
    }
    let simulate = m.has(cmdflag::SIMULATE);
    let total_moves: i64 = weighted.iter().map(|&i| m.nodes[i].balance.max(0)).sum();
    let progress = Progress::new(if simulate { 0 } else { total_moves as u64 });
    let mut dst_idx = 0usize;
    let mut src_idx = weighted.len().saturating_sub(1);
    while dst_idx < src_idx {
        let (dst, src) = (weighted[dst_idx], weighted[src_idx]);
        let numslots = m.nodes[dst].balance.abs().min(m.nodes[src].balance.abs());
        if numslots > 0 {
            m.out.print(&format!(
                "Moving {numslots} slots from {} to {}\n",
                m.nodes[src].addr(),
                m.nodes[dst].addr()
            ));
            let table = compute_reshard_table(m, &[src], numslots as usize);
            if table.len() as i64 != numslots {
                m.out
                    .err("*** Assertion failed: Reshard table != number of slots");
                progress.finish();
                return false;
            }
            if simulate {
                m.out.print(&"#".repeat(table.len()));
            } else {
                let out = m.out;
                let r = move_slots(m, &table, dst, opt::QUIET | opt::UPDATE, &mut |_| {
                    out.print("#");
                    progress.slot(KEYS_MOVED.load(std::sync::atomic::Ordering::Relaxed));
                });
                if let Err(e) = r {
                    progress.finish();
                    m.out.err(&format!(
                        "*** clusterManagerMoveSlot: {}\n",
                        e.unwrap_or_default()
                    ));
                    return false;
                }
            }
            m.out.print("\n");
        }
        m.nodes[dst].balance += numslots;
        m.nodes[src].balance -= numslots;
        if m.nodes[dst].balance == 0 {
            dst_idx += 1;
        }
        if m.nodes[src].balance == 0 {
            src_idx -= 1;
        }
    }
    progress.finish();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::cluster::{Manager, Opts, Out};

    fn manager(slot_sets: &[&[usize]]) -> Manager {
        let nodes = slot_sets
            .iter()
            .enumerate()
            .map(|(i, slots)| {
                let mut n = Node::new("127.0.0.1", 7000 + i as u16, 0);
                for &s in *slots {
                    n.slots[s] = true;
                }
                n.slots_count = slots.len();
                n
            })
            .collect();
        Manager {
            nodes,
            errors: Vec::new(),
            unreachable_masters: 0,
            opts: Opts::default(),
            auth: Default::default(),
            out: Out { color: false },
            verbose: false,
        }
    }

    #[test]
    fn reshard_table_takes_shares_lowest_slots_first() {
        let a: Vec<usize> = (100..110).collect();
        let b: Vec<usize> = (0..5).collect();
        let m = manager(&[&b, &a]);
        // 6 of 15 slots: the bigger source (sorted first) gives ceil(4.0) = 4, the other
        // floor(2.0) = 2, each from its lowest slots.
        let t = compute_reshard_table(&m, &[0, 1], 6);
        assert_eq!(
            t,
            vec![(1, 100), (1, 101), (1, 102), (1, 103), (0, 0), (0, 1)]
        );
        // Never more than asked, even when rounding up would allow it.
        let t = compute_reshard_table(&m, &[0, 1], 1);
        assert_eq!(t, vec![(1, 100)]);
    }
}
