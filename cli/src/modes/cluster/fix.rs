//! `fix`'s repairs, as redis-cli 7.4: open slots (`clusterManagerFixOpenSlot`, its cases 1-4),
//! uncovered slots (`clusterManagerFixSlotsCoverage`: no keys anywhere, keys in one node, keys
//! in several) and slots with several owners (`clusterManagerFixMultipleSlotOwners`), plus the
//! small SETSLOT / ADDSLOTS / DELSLOTS helpers they share with resharding.
//!
//! Keys are only ever moved with MIGRATE (never deleted): a key that exists on both sides
//! stops the move unless the values are equal or `--cluster-replace` was given; every
//! coverage repair asks for confirmation even with `--cluster-yes`.

use super::migrate::{move_slot, opt};
use super::node::{err_text, Node, SLOTS};
use super::{cmdflag, Manager};
use pyrope_common::resp::Frame;

/// `clusterManagerCheckRedisReply`: true for a reply that is not an error; an error reply is
/// printed ("Node ip:port replied with error:") unless `quiet`.
pub fn check_reply(m: &Manager, n: &Node, r: &Option<Frame>, quiet: bool) -> bool {
    match r {
        None => false,
        Some(Frame::Error(e)) => {
            if !quiet {
                m.out.reply_error(&n.addr(), &crate::conn::cstr(e));
            }
            false
        }
        Some(_) => true,
    }
}

/// `CLUSTER SETSLOT <slot> <status> <node id>` on `n`. Err(Some(error reply)) or Err(None)
/// when there was no reply ("CLUSTER SETSLOT failed to run").
pub fn set_slot(n: &mut Node, slot: usize, status: &str, id: &str) -> Result<(), Option<String>> {
    match n.call(&["CLUSTER", "SETSLOT", &slot.to_string(), status, id]) {
        None => Err(None),
        Some(Frame::Error(e)) => Err(Some(crate::conn::cstr(&e))),
        Some(_) => Ok(()),
    }
}

/// [`set_slot`] on `m.nodes[on]`, printing an error reply (redis-cli's call with a NULL err).
pub fn set_slot_print(m: &mut Manager, on: usize, slot: usize, status: &str, id: &str) -> bool {
    match set_slot(&mut m.nodes[on], slot, status, id) {
        Ok(()) => true,
        Err(Some(e)) => {
            m.out.reply_error(&m.nodes[on].addr(), &e);
            false
        }
        Err(None) => false,
    }
}

/// `clusterManagerClearSlotStatus`: `CLUSTER SETSLOT <slot> STABLE`.
pub fn clear_slot_status(m: &mut Manager, on: usize, slot: usize) -> bool {
    let r = m.nodes[on].call(&["CLUSTER", "SETSLOT", &slot.to_string(), "STABLE"]);
    check_reply(m, &m.nodes[on], &r, false)
}

/// `clusterManagerCountKeysInSlot`: CLUSTER COUNTKEYSINSLOT, -1 on error.
pub fn count_keys_in_slot(n: &mut Node, slot: usize) -> i64 {
    match n.call(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]) {
        Some(Frame::Integer(k)) => k,
        _ => -1,
    }
}

/// `clusterManagerGetSlotOwner`: who serves `slot` according to `n`'s CLUSTER SLOTS (by id,
/// else by address). Err(error reply) when CLUSTER SLOTS failed.
pub fn slot_owner(
    m: &mut Manager,
    on: usize,
    slot: usize,
) -> Result<Option<usize>, Option<String>> {
    let r = m.nodes[on].call(&["CLUSTER", "SLOTS"]);
    let ranges = match r {
        None => return Err(None),
        Some(Frame::Error(e)) => return Err(Some(crate::conn::cstr(&e))),
        Some(f) => f.as_array().map(|a| a.to_vec()).unwrap_or_default(),
    };
    for r in ranges {
        let Some(r) = r.as_array() else { continue };
        let (Some(Frame::Integer(from)), Some(Frame::Integer(to))) = (r.first(), r.get(1)) else {
            continue;
        };
        if (slot as i64) < *from || (slot as i64) > *to {
            continue;
        }
        let Some(nr) = r.get(2).and_then(|n| n.as_array()) else {
            continue;
        };
        let owner = match nr.get(2).and_then(super::node::text) {
            Some(id) => m.by_name(&id),
            None => {
                let ip = nr.first().and_then(super::node::text).unwrap_or_default();
                let port = match nr.get(1) {
                    Some(Frame::Integer(p)) => *p,
                    _ => -1,
                };
                m.nodes
                    .iter()
                    .position(|n| n.ip == ip && n.port as i64 == port)
            }
        };
        if owner.is_some() {
            return Ok(owner);
        }
    }
    Ok(None)
}

/// `clusterManagerDelSlot`: CLUSTER DELSLOTS; with `ignore_unassigned` an error is fine when
/// the node's CLUSTER SLOTS shows nobody serving the slot. Errors are printed.
pub fn del_slot(m: &mut Manager, on: usize, slot: usize, ignore_unassigned: bool) -> bool {
    let r = m.nodes[on].call(&["CLUSTER", "DELSLOTS", &slot.to_string()]);
    let err = r.as_ref().and_then(err_text);
    let mut ok = r.is_some() && err.is_none();
    if !ok && err.is_some() && ignore_unassigned {
        match slot_owner(m, on, slot) {
            Ok(None) => ok = true,
            Ok(Some(_)) => {}
            Err(Some(e)) => m.out.reply_error(&m.nodes[on].addr(), &e),
            Err(None) => {}
        }
    }
    if !ok {
        if let Some(e) = err {
            m.out.reply_error(&m.nodes[on].addr(), &e);
        }
    }
    ok
}

/// `clusterManagerSetSlotOwner`: in one MULTI/EXEC on the owner, DELSLOTS (in case), ADDSLOTS,
/// optionally SETSLOT STABLE, and CLUSTER BUMPEPOCH; only an ADDSLOTS failure counts.
pub fn set_slot_owner(m: &mut Manager, owner: usize, slot: usize, do_clear: bool) -> bool {
    let s = slot.to_string();
    let mut cmds: Vec<Vec<Vec<u8>>> = vec![
        vec![b"MULTI".to_vec()],
        vec![b"CLUSTER".to_vec(), b"DELSLOTS".to_vec(), s.clone().into()],
        vec![b"CLUSTER".to_vec(), b"ADDSLOTS".to_vec(), s.clone().into()],
    ];
    if do_clear {
        cmds.push(vec![
            b"CLUSTER".to_vec(),
            b"SETSLOT".to_vec(),
            s.into(),
            b"STABLE".to_vec(),
        ]);
    }
    cmds.push(vec![b"CLUSTER".to_vec(), b"BUMPEPOCH".to_vec()]);
    cmds.push(vec![b"EXEC".to_vec()]);
    let Some(replies) = m.nodes[owner].link.as_mut().and_then(|l| l.pipeline(&cmds)) else {
        return false;
    };
    let addr = m.nodes[owner].addr();
    if let Frame::Error(e) = &replies[0] {
        m.out.reply_error(&addr, &crate::conn::cstr(e));
        return false;
    }
    match replies.last() {
        Some(Frame::Array(Some(items))) => {
            for (i, r) in items.iter().enumerate() {
                if let Frame::Error(e) = r {
                    if i == 1 {
                        m.out.reply_error(&addr, &crate::conn::cstr(e));
                        return false;
                    }
                }
            }
            true
        }
        Some(Frame::Error(e)) => {
            m.out.reply_error(&addr, &crate::conn::cstr(e));
            false
        }
        _ => false,
    }
}

/// `clusterManagerGetNodeWithMostKeysInSlot` among `among` (primaries only): the first node
/// with the most keys. None when a COUNTKEYSINSLOT failed (printed).
pub fn node_with_most_keys(m: &mut Manager, among: &[usize], slot: usize) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    for &i in among {
        if m.nodes[i].is_replica() || m.nodes[i].replicate.is_some() {
            continue;
        }
        let r = m.nodes[i].call(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]);
        if !check_reply(m, &m.nodes[i], &r, false) {
            return None;
        }
        let k = match r {
            Some(Frame::Integer(k)) => k,
            _ => 0,
        };
        if best.is_none_or(|(_, b)| k > b) {
            best = Some((i, k));
        }
    }
    best.map(|(i, _)| i)
}

/// `clusterManagerNodeMasterRandom`: a random primary.
fn master_random(m: &Manager) -> Option<usize> {
    let masters: Vec<usize> = (0..m.nodes.len())
        .filter(|&i| !m.nodes[i].is_replica())
        .collect();
    if masters.is_empty() {
        return None;
    }
    Some(masters[fastrand::usize(..masters.len())])
}

fn refuse_with_unreachable(m: &Manager, what: &str) {
    if m.unreachable_masters > 0 && !m.has(cmdflag::FIX_WITH_UNREACHABLE_MASTERS) {
        m.out.warn(&format!("*** Fixing {what} with {} unreachable masters is dangerous: redis-cli will assume that slots about masters that are not reachable are not covered, and will try to reassign them to the reachable nodes. This can cause data loss and is rarely what you want to do. If you really want to proceed use the --cluster-fix-with-unreachable-masters option.\n", m.unreachable_masters));
        std::process::exit(1);
    }
}

/// `clusterManagerPrintSlotsList`: the slots as bracketed ranges.
fn print_slots_list(m: &Manager, slots: &[usize]) {
    let mut t = vec![false; SLOTS];
    for &s in slots {
        t[s] = true;
    }
    m.out.print(&format!("{}\n", super::node::slots_string(&t)));
}

/// `clusterManagerFixSlotsCoverage`: every slot no node serves is given to a random primary
/// (no keys anywhere), to the node holding its keys, or to the node with most of its keys
/// after moving the others' keys there (MIGRATE, "cold"). Each group needs a typed "yes".
/// Returns how many slots were fixed, or -1 on error.
pub fn fix_slots_coverage(m: &mut Manager, covered: &[bool]) -> i64 {
    refuse_with_unreachable(m, "slots coverage");
    m.out.info(">>> Fixing slots coverage...\n");
    let mut fixed: i64 = 0;
    let mut by_slot: Vec<(usize, Vec<usize>)> = Vec::new();
    for (slot, &c) in covered.iter().enumerate() {
        if c {
            continue;
        }
        let mut holders = Vec::new();
        for i in 0..m.nodes.len() {
            if m.nodes[i].is_replica() || m.nodes[i].replicate.is_some() {
                continue;
            }
            let r = m.nodes[i].call(&["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "1"]);
            if !check_reply(m, &m.nodes[i], &r, false) {
                return -1;
            }
            if r.as_ref()
                .and_then(|f| f.as_array())
                .is_some_and(|a| !a.is_empty())
            {
                holders.push(i);
            }
        }
        by_slot.push((slot, holders));
    }
    let none: Vec<usize> = by_slot
        .iter()
        .filter(|(_, h)| h.is_empty())
        .map(|(s, _)| *s)
        .collect();
    let single: Vec<(usize, usize)> = by_slot
        .iter()
        .filter(|(_, h)| h.len() == 1)
        .map(|(s, h)| (*s, h[0]))
        .collect();
    let multi: Vec<(usize, Vec<usize>)> = by_slot
        .iter()
        .filter(|(_, h)| h.len() > 1)
        .cloned()
        .collect();
    if !none.is_empty() {
        m.out
            .print("The following uncovered slots have no keys across the cluster:\n");
        print_slots_list(m, &none);
        if m.confirm("Fix these slots by covering with a random node?", true) {
            for &slot in &none {
                let Some(n) = master_random(m) else {
                    return -1;
                };
                m.out.info(&format!(
                    ">>> Covering slot {slot} with {}\n",
                    m.nodes[n].addr()
                ));
                if !set_slot_owner(m, n, slot, false) {
                    return -1;
                }
                m.nodes[n].slots[slot] = true;
                fixed += 1;
            }
        }
    }
    if !single.is_empty() {
        m.out
            .print("The following uncovered slots have keys in just one node:\n");
        print_slots_list(m, &single.iter().map(|(s, _)| *s).collect::<Vec<_>>());
        if m.confirm("Fix these slots by covering with those nodes?", true) {
            for &(slot, n) in &single {
                m.out.info(&format!(
                    ">>> Covering slot {slot} with {}\n",
                    m.nodes[n].addr()
                ));
                if !set_slot_owner(m, n, slot, false) {
                    return -1;
                }
                m.nodes[n].slots[slot] = true;
                fixed += 1;
            }
        }
    }
    if !multi.is_empty() {
        m.out
            .print("The following uncovered slots have keys in multiple nodes:\n");
        print_slots_list(m, &multi.iter().map(|(s, _)| *s).collect::<Vec<_>>());
        if m.confirm("Fix these slots by moving keys into a single node?", true) {
            for (slot, holders) in &multi {
                let slot = *slot;
                let Some(target) = node_with_most_keys(m, holders, slot) else {
                    return -1;
                };
                m.out.info(&format!(
                    ">>> Covering slot {slot} moving keys to {}\n",
                    m.nodes[target].addr()
                ));
                if !set_slot_owner(m, target, slot, true) {
                    return -1;
                }
                m.nodes[target].slots[slot] = true;
                let tid = m.nodes[target].name.clone();
                for &src in holders {
                    if src == target {
                        continue;
                    }
                    // The slot belongs to the target in the source's view, and the source
                    // "imports" it so MIGRATE is not redirected.
                    if !set_slot_print(m, src, slot, "NODE", &tid)
                        || !set_slot_print(m, src, slot, "IMPORTING", &tid)
                    {
                        return -1;
                    }
                    if move_slot(m, src, target, slot, opt::VERBOSE | opt::COLD).is_err() {
                        return -1;
                    }
                    if !clear_slot_status(m, src, slot) {
                        return -1;
                    }
                }
                fixed += 1;
            }
        }
    }
    fixed
}

/// Where `n` has `slot` open: Some(true) migrating, Some(false) importing.
fn open_state(n: &Node, slot: usize) -> (bool, bool) {
    let mig = n
        .migrating
        .iter()
        .any(|(s, _)| super::atoi(s) == slot as i64);
    let imp = n
        .importing
        .iter()
        .any(|(s, _)| super::atoi(s) == slot as i64);
    (mig, imp)
}

/// `clusterManagerFixOpenSlot`: closes a slot left migrating / importing (an interrupted
/// reshard, a restart), finishing the move or moving the keys to the owner.
pub fn fix_open_slot(m: &mut Manager, slot: usize) -> bool {
    refuse_with_unreachable(m, "open slots");
    m.out.info(&format!(">>> Fixing open slot {slot}\n"));
    let mut owners: Vec<usize> = Vec::new();
    for i in 0..m.nodes.len() {
        if m.nodes[i].is_replica() {
            continue;
        }
        if m.nodes[i].slots[slot] {
            owners.push(i);
        } else {
            let r = m.nodes[i].call(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]);
            if !check_reply(m, &m.nodes[i], &r, false) {
                return false;
            }
            if matches!(r, Some(Frame::Integer(k)) if k > 0) {
                m.out.warn(&format!(
                    "*** Found keys about slot {slot} in non-owner node {}!\n",
                    m.nodes[i].addr()
                ));
                owners.push(i);
            }
        }
    }
    let mut owner = (owners.len() == 1).then(|| owners[0]);
    let mut migrating: Vec<usize> = Vec::new();
    let mut importing: Vec<usize> = Vec::new();
    let mut migrating_str: Vec<String> = Vec::new();
    let mut importing_str: Vec<String> = Vec::new();
    for i in 0..m.nodes.len() {
        if m.nodes[i].is_replica() {
            continue;
        }
        let (is_mig, is_imp) = open_state(&m.nodes[i], slot);
        if is_mig {
            migrating_str.push(m.nodes[i].addr());
            migrating.push(i);
        } else if is_imp {
            importing_str.push(m.nodes[i].addr());
            importing.push(i);
        } else if Some(i) != owner {
            let r = m.nodes[i].call(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]);
            if !check_reply(m, &m.nodes[i], &r, false) {
                return false;
            }
            if matches!(r, Some(Frame::Integer(k)) if k > 0) {
                m.out.warn(&format!(
                    "*** Found keys about slot {slot} in node {}!\n",
                    m.nodes[i].addr()
                ));
                importing_str.push(m.nodes[i].addr());
                importing.push(i);
            }
        }
    }
    if !migrating_str.is_empty() {
        m.out.print(&format!(
            "Set as migrating in: {}\n",
            migrating_str.join(",")
        ));
    }
    if !importing_str.is_empty() {
        m.out.print(&format!(
            "Set as importing in: {}\n",
            importing_str.join(",")
        ));
    }
    if owner.is_none() {
        m.out
            .info(">>> No single clear owner for the slot, selecting an owner by # of keys...\n");
        let all: Vec<usize> = (0..m.nodes.len()).collect();
        let Some(o) = node_with_most_keys(m, &all, slot) else {
            m.out
                .err("[ERR] Can't select a slot owner. Impossible to fix.\n");
            return false;
        };
        m.out.warn(&format!(
            "*** Configuring {} as the slot owner\n",
            m.nodes[o].addr()
        ));
        if !clear_slot_status(m, o, slot) || !set_slot_owner(m, o, slot, false) {
            return false;
        }
        m.nodes[o].slots[slot] = true;
        migrating.retain(|&x| x != o);
        importing.retain(|&x| x != o);
        owner = Some(o);
    }
    let owner = owner.expect("owner chosen above");
    let owner_id = m.nodes[owner].name.clone();
    if owners.len() > 1 {
        for &n in &owners {
            if n == owner {
                continue;
            }
            if !del_slot(m, n, slot, true) {
                return false;
            }
            m.nodes[n].slots[slot] = false;
            if !set_slot_print(m, n, slot, "node", &owner_id)
                || !set_slot_print(m, n, slot, "importing", &owner_id)
            {
                return false;
            }
            importing.retain(|&x| x != n);
            importing.push(n);
            migrating.retain(|&x| x != n);
        }
    }
    let mut move_opts = opt::VERBOSE;
    if migrating.len() == 1 && importing.len() == 1 {
        // Case 1: one node migrating, one importing: finish the move.
        let (src, dst) = (migrating[0], importing[0]);
        m.out.info(&format!(
            ">>> Case 1: Moving slot {slot} from {} to {}\n",
            m.nodes[src].addr(),
            m.nodes[dst].addr()
        ));
        move_opts |= opt::UPDATE;
        return move_slot(m, src, dst, slot, move_opts).is_ok();
    }
    if migrating.is_empty() && !importing.is_empty() {
        // Case 2: only importing nodes: their keys go to the owner.
        m.out.info(&format!(
            ">>> Case 2: Moving all the {slot} slot keys to its owner {}\n",
            m.nodes[owner].addr()
        ));
        move_opts |= opt::COLD;
        for &n in &importing {
            if n == owner {
                continue;
            }
            if move_slot(m, n, owner, slot, move_opts).is_err() {
                return false;
            }
            m.out.info(&format!(
                ">>> Setting {slot} as STABLE in {}\n",
                m.nodes[n].addr()
            ));
            if !clear_slot_status(m, n, slot) {
                return false;
            }
        }
        for n in 0..m.nodes.len() {
            if n == owner || m.nodes[n].is_replica() {
                continue;
            }
            if !set_slot_print(m, n, slot, "NODE", &owner_id) {
                return false;
            }
        }
        return true;
    }
    if migrating.len() == 1 && importing.len() > 1 {
        // Case 3: one migrating node, several importing ones without keys.
        let src = migrating[0];
        let target_id = m.nodes[src]
            .migrating
            .iter()
            .find(|(s, _)| super::atoi(s) == slot as i64)
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let mut dst = None;
        let mut try_to_fix = true;
        for &n in &importing {
            if count_keys_in_slot(&mut m.nodes[n], slot) > 0 {
                try_to_fix = false;
                break;
            }
            if m.nodes[n].name == target_id {
                dst = Some(n);
            }
        }
        if try_to_fix {
            if let Some(dst) = dst {
                m.out.info(&format!(
                    ">>> Case 3: Moving slot {slot} from {} to {} and closing it on all the other importing nodes.\n",
                    m.nodes[src].addr(),
                    m.nodes[dst].addr()
                ));
                if move_slot(m, src, dst, slot, move_opts).is_err() {
                    return false;
                }
                for &n in &importing {
                    if n != dst && !clear_slot_status(m, n, slot) {
                        return false;
                    }
                }
            } else {
                m.out.info(&format!(
                    ">>> Case 3: Closing slot {slot} on both migrating and importing nodes.\n"
                ));
                if !clear_slot_status(m, src, slot) {
                    return false;
                }
                for &n in &importing {
                    if !clear_slot_status(m, n, slot) {
                        return false;
                    }
                }
            }
            return true;
        }
    } else {
        let mut try_close = importing.is_empty() && migrating.len() == 1;
        if try_close {
            let n = migrating[0];
            if owner != n {
                let r = m.nodes[n].call(&["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "10"]);
                if !check_reply(m, &m.nodes[n], &r, false) {
                    return false;
                }
                try_close = r
                    .as_ref()
                    .and_then(|f| f.as_array())
                    .is_some_and(|a| a.is_empty());
            }
        }
        if try_close {
            // Case 4: a migrating node with no keys, or the owner: just close the slot.
            let n = migrating[0];
            m.out.info(&format!(
                ">>> Case 4: Closing slot {slot} on {}\n",
                m.nodes[n].addr()
            ));
            return clear_slot_status(m, n, slot);
        }
    }
    m.out.err(&format!(
        "[ERR] Sorry, redis-cli can't fix this slot yet (work in progress). Slot is set as migrating in {}, as importing in {}, owner is {}\n",
        migrating_str.join(","),
        importing_str.join(","),
        m.nodes[owner].addr()
    ));
    false
}

/// `clusterManagerFixMultipleSlotOwners`: the node with most keys (else the first) keeps the
/// slot; every other primary forgets it and moves its keys there ("cold").
pub fn fix_multiple_slot_owners(m: &mut Manager, slot: usize, owners: &[usize]) -> bool {
    m.out
        .info(&format!(">>> Fixing multiple owners for slot {slot}...\n"));
    let owner = node_with_most_keys(m, owners, slot).unwrap_or(owners[0]);
    m.out.info(&format!(
        ">>> Setting slot {slot} owner: {}\n",
        m.nodes[owner].addr()
    ));
    if !set_slot_owner(m, owner, slot, false) {
        return false;
    }
    let owner_id = m.nodes[owner].name.clone();
    let mut success = false;
    for n in 0..m.nodes.len() {
        if n == owner || m.nodes[n].is_replica() {
            continue;
        }
        let count = count_keys_in_slot(&mut m.nodes[n], slot);
        success = count >= 0;
        if !success {
            break;
        }
        del_slot(m, n, slot, true);
        if !set_slot_print(m, n, slot, "node", &owner_id) {
            return false;
        }
        if count > 0 {
            success = move_slot(m, n, owner, slot, opt::VERBOSE | opt::COLD).is_ok();
            if !success {
                break;
            }
        }
    }
    success
}
