#!/usr/bin/env bash
# Cluster administration side by side: Debian's redis-cli 7.0.15 and pyrope-cli (release build)
# on identical six-node Redis 7.4.1 clusters (3 primaries + 3 replicas, built by redis-cli,
# loaded with KEYS string keys), each tool on a fresh cluster, timing:
#   reshard P10   --cluster-reshard of 8192 slots (from all primaries to one) at pipeline 10
#   reshard P100  the same at --cluster-pipeline 100
#   rebalance     --cluster rebalance --cluster-use-empty-masters after add-node of an empty primary
#   import        --cluster import of KEYS keys from a standalone Redis 7.4.1
# and prints the wall times and the ratio pyrope-cli / redis-cli (target <= 1.0).
#
# Usage: bench/cluster.sh                 (KEYS=200000)
#        KEYS=1000000 bench/cluster.sh    (the issue's size; slow on a small machine)
#        ONLY="reshard10 import" bench/cluster.sh
# cargo runs under the shared build lock (CARGO_LOCK, default /tmp/pyrope-cargo.lock).
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${KEYS:-200000}
ONLY=${ONLY:-"reshard10 reshard100 rebalance import"}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
RC=${RC:-/usr/bin/redis-cli}
CARGO_LOCK=${CARGO_LOCK-/tmp/pyrope-cargo.lock}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
[ -x "$RC" ] || { echo "missing $RC: apt-get install redis-tools" >&2; exit 1; }
if [ -n "$CARGO_LOCK" ]; then
  flock "$CARGO_LOCK" cargo build --release --quiet --bin pyrope-cli
else
  cargo build --release --quiet --bin pyrope-cli
fi
PY=target/release/pyrope-cli
TMP=$(mktemp -d)
# Every server started (from any subshell) is listed in $TMP/pids.
stop_all() {
  [ -f "$TMP/pids" ] || return 0
  while read -r p; do kill "$p" 2>/dev/null || true; done < "$TMP/pids"
  : > "$TMP/pids"
}
cleanup() { stop_all; rm -rf "$TMP"; }
trap cleanup EXIT
export TERM=dumb

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_node() { # dir [cluster] -> port
  local dir=$1 port; port=$(free_port); mkdir -p "$dir"
  local extra=()
  if [ "${2:-}" = cluster ]; then
    extra=(--cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$(free_port)")
  fi
  (cd "$dir" && exec timeout 3600 "$REDIS" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
     --dir "$dir" "${extra[@]}" >"$dir/log" 2>&1) &
  echo $! >> "$TMP/pids"
  for _ in $(seq 100); do "$RC" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  echo "$port"
}

# Writes one mass-insertion file per primary (keys routed by CRC16 slot) and loads them.
load_cluster() { # seed-port
  "$RC" -p "$1" cluster nodes > "$TMP/nodes.txt"
  python3 - "$TMP/nodes.txt" "$KEYS" "$TMP" <<'EOF'
import sys
nodes, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tab = []
for i in range(256):
    c = i << 8
    for _ in range(8):
        c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
    tab.append(c & 0xFFFF)
def crc16(b):
    c = 0
    for x in b:
        c = ((c << 8) & 0xFFFF) ^ tab[((c >> 8) ^ x) & 0xFF]
    return c
owner = [None] * 16384
for line in open(nodes):
    f = line.split()
    if 'master' not in f[2]: continue
    port = f[1].split('@')[0].split(':')[1]
    for r in f[8:]:
        if r.startswith('['): continue
        a, _, b = r.partition('-')
        for s in range(int(a), int(b or a) + 1): owner[s] = port
files = {}
for i in range(n):
    k = b'key:%d' % i
    v = b'value:%d' % i
    p = owner[crc16(k) & 16383]
    if p not in files: files[p] = open('%s/load-%s.resp' % (out, p), 'wb')
    files[p].write(b'*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(k), k, len(v), v))
for f in files.values(): f.close()
EOF
  for p in $(ls "$TMP"/load-*.resp | sed 's/.*load-\(.*\)\.resp/\1/'); do
    "$RC" -p "$p" --pipe < "$TMP/load-$p.resp" >/dev/null
    rm -f "$TMP/load-$p.resp"
  done
}

new_cluster() { # [empty] -> seed port; a fresh six-node cluster with KEYS keys (none if "empty")
  local ports=() i
  for i in 1 2 3 4 5 6; do ports+=("$(start_node "$TMP/c$RANDOM$i" cluster)"); done
  local addrs=(); for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
  "$RC" --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  for _ in $(seq 200); do
    "$RC" --cluster check "127.0.0.1:${ports[0]}" >/dev/null 2>&1 && break; sleep 0.1
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 200); do "$RC" -p "$p" cluster info | grep -q 'cluster_state:ok' && break; sleep 0.05; done
  done
  [ "${1:-}" = empty ] || load_cluster "${ports[0]}"
  echo "${ports[0]}"
}

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$(now)" "$1"; }

run_scenario() { # scenario tool -> seconds
  local sc=$1 tool=$2 seed t0 target
  if [ "$sc" = import ]; then seed=$(new_cluster empty); else seed=$(new_cluster); fi
  case $sc in
    reshard10|reshard100)
      target=$("$RC" -p "$seed" cluster myid)
      t0=$(now)
      "$tool" --cluster reshard "127.0.0.1:$seed" --cluster-from all --cluster-to "$target" \
        --cluster-slots 8192 --cluster-yes --cluster-pipeline "${sc#reshard}" >/dev/null || echo "reshard by $tool failed" >&2
      ;;
    rebalance)
      local extra; extra=$(start_node "$TMP/x$RANDOM" cluster)
      "$RC" --cluster add-node "127.0.0.1:$extra" "127.0.0.1:$seed" >/dev/null
      # Every node must know the new one (and it the cluster) before slots can name it.
      local all
      for _ in $(seq 600); do
        all=1
        for p in $("$RC" -p "$seed" cluster nodes | awk '{split($2,a,"[:@]"); print a[2]}'); do
          "$RC" -p "$p" cluster info | grep -q 'cluster_known_nodes:7' || all=0
          "$RC" -p "$p" cluster info | grep -q 'cluster_state:ok' || all=0
        done
        [ $all = 1 ] && "$RC" --cluster check "127.0.0.1:$seed" >/dev/null 2>&1 && break
        sleep 0.1
      done
      t0=$(now)
      "$tool" --cluster rebalance "127.0.0.1:$seed" --cluster-use-empty-masters > "$TMP/rebalance.out"
      grep -q "^Moving " "$TMP/rebalance.out" || { echo "rebalance by $tool moved nothing:" >&2; cat "$TMP/rebalance.out" >&2; }
      ;;
    import)
      local src; src=$(start_node "$TMP/s$RANDOM")
      python3 -c "
import sys
n=int(sys.argv[1])
w=sys.stdout.buffer
for i in range(n):
    k=b'key:%d'%i; v=b'value:%d'%i
    w.write(b'*3\r\n\$3\r\nSET\r\n\$%d\r\n%s\r\n\$%d\r\n%s\r\n'%(len(k),k,len(v),v))
" "$KEYS" | "$RC" -p "$src" --pipe >/dev/null
      t0=$(now)
      "$tool" --cluster import "127.0.0.1:$seed" --cluster-from "127.0.0.1:$src" >/dev/null || echo "import by $tool failed" >&2
      [ "$("$RC" -p "$src" dbsize)" = 0 ] || echo "import by $tool left keys in the source" >&2
      ;;
  esac
  elapsed "$t0"
  stop_all
}

echo "six-node Redis 7.4.1 clusters, $KEYS keys | redis-cli $("$RC" --version | awk '{print $2}') vs $PY"
printf '%-11s %10s %10s %7s\n' scenario redis-cli pyrope-cli ratio
for sc in $ONLY; do
  r=$(run_scenario "$sc" "$RC")
  p=$(run_scenario "$sc" "$PY")
  printf '%-11s %9.2fs %9.2fs %7.2f\n' "$sc" "$r" "$p" "$(python3 -c "import sys; print(float(sys.argv[1]) / float(sys.argv[2]))" "$p" "$r")"
done
