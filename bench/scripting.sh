#!/usr/bin/env bash
# Issue 20's numbers: EVALSHA of a script doing one GET and one SET, FCALL of the same as a
# function, against Redis 7.4.1 in the same run, pyrope-benchmark as the load generator, at
# -P 1 and -P 16 (bench/compare.sh prints ops/s, server CPU per request and the ratios);
# MULTI/SET/INCR/EXEC transactions (bench/multi.py: pyrope-benchmark sends one command per
# request, so a small driver pipelines whole transactions); then the memory of 10,000 cached
# scripts (used_memory_scripts + used_memory_vm_eval) on each server, and the ratio.
#
# Usage: bench/scripting.sh                  (N=200000 ROUNDS=3)
#        N=100000 ROUNDS=1 bench/scripting.sh   (quicker)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pyrope-benchmark -p pyrope-server
SCRIPT="redis.call('get', KEYS[1]) return redis.call('set', KEYS[1], ARGV[1])"
SHA=$(printf '%s' "$SCRIPT" | sha1sum | cut -d' ' -f1)
LIB="#!lua name=benchlib
redis.register_function('getset', function(keys, args) redis.call('get', keys[1]) return redis.call('set', keys[1], args[1]) end)"
TMPF=$(mktemp)
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPF" "$TMPD"' EXIT
python3 - "$TMPF" "$SCRIPT" "$LIB" <<'PY'
import sys
def cmd(*args):
    args = [a.encode() if isinstance(a, str) else a for a in args]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
with open(sys.argv[1], "wb") as f:
    f.write(cmd("SCRIPT", "LOAD", sys.argv[2]))
    f.write(cmd("FUNCTION", "LOAD", "REPLACE", sys.argv[3]))
PY
N=${N:-200000} ROUNDS=${ROUNDS:-3} BENCH=${BENCH:-target/release/pyrope-benchmark} \
  TESTS=ping_inline PRELOAD="$TMPF" R=100000 \
  CUSTOM="evalsha=EVALSHA $SHA 1 key:__rand_int__ v;fcall=FCALL getset 1 key:__rand_int__ v" \
  bench/compare.sh

python3 bench/multi.py "${N:-200000}"

# Memory of 10,000 cached scripts.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 - "$TMPD/load.resp" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(10000):
        body = b"return redis.call('get', KEYS[1]) .. '%d'" % i
        f.write(b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$%d\r\n%s\r\n" % (len(body), body))
PY
mem() { # binary -> "scripts vm_eval"
  local port pid out
  port=$(free_port)
  mkdir -p "$TMPD/$port"
  timeout 300 "$1" --port "$port" --bind 127.0.0.1 --save '' --dir "$TMPD/$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$port" --pipe < "$TMPD/load.resp" >/dev/null
  out=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '/^used_memory_scripts:/ {s=$2} /^used_memory_vm_eval:/ {v=$2} END {print s, v}')
  kill "$pid" 2>/dev/null || true
  echo "$out"
}
read -r RS RV < <(mem /opt/redis-7.4/redis-server)
read -r PS PV < <(mem target/release/pyrope-server)
awk -v rs="$RS" -v rv="$RV" -v ps="$PS" -v pv="$PV" 'BEGIN {
  printf "10,000 cached scripts: redis scripts=%d vm_eval=%d total=%d | pyrope scripts=%d vm_eval=%d total=%d | ratio %.2f\n",
    rs, rv, rs+rv, ps, pv, ps+pv, (ps+pv)/(rs+rv) }'
