#!/usr/bin/env bash
# Memory of collections: the reference Redis 7.4.1 and pyrope-server (release build) load the
# same data (generated once, sent with redis-cli --pipe), and the used_memory delta of each is
# printed with the pyrope/redis ratio. Datasets (issue 17's table):
#   a) 100,000 hashes of 10 small fields      b) 100,000 zsets of 10 members
#   c) 1 list of 1,000,000 elements            d) 1 zset of 1,000,000 members
#   e) 100,000 sets of 10 integers
# Targets: ratio <= 1.0 for a, b, e; <= 0.8 for c, d.
#
# Usage: bench/memory.sh              (all datasets)
#        SETS="a c" bench/memory.sh   (some of them)
#        SCALE=10 bench/memory.sh     (every count divided by 10, quicker)
# Servers listen on 127.0.0.1 only, on free ports, and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SETS=${SETS:-"a b c d e"}
SCALE=${SCALE:-1}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
CLI=${CLI:-/usr/bin/redis-cli}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
cargo build --release --quiet --bin pyrope-server
PYROPE=target/release/pyrope-server

. bench/lib.sh

start() { # name binary -> prints port
  local port; port=$(free_port)
  timeout 3600 "$2" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
    >"$TMP/$1.log" 2>&1 &
  echo $! >> "$TMP/pids"
  for _ in $(seq 100); do "$CLI" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$port"
}

# gen SET -> RESP commands on stdout (deterministic: the same bytes for both servers).
gen() {
  python3 - "$1" "$SCALE" <<'EOF'
import sys
kind, scale = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))
if kind == "a":
    for i in range(100000 // scale):
        args = ["HSET", "hash:%d" % i]
        for f in range(10):
            args += ["field%d" % f, "value%d" % (i * 10 + f)]
        cmd(*args)
elif kind == "b":
    for i in range(100000 // scale):
        args = ["ZADD", "zset:%d" % i]
        for m in range(10):
            args += [str((i * 7 + m * 13) % 1000 / 10), "member%d" % m]
        cmd(*args)
elif kind == "c":
    n = 1000000 // scale
    for start in range(0, n, 1000):
        cmd("RPUSH", "biglist", *["element:%d" % j for j in range(start, min(n, start + 1000))])
elif kind == "d":
    n = 1000000 // scale
    for start in range(0, n, 1000):
        args = ["ZADD", "bigzset"]
        for j in range(start, min(n, start + 1000)):
            args += [str((j * 2654435761) % 1000003), "member:%d" % j]
        cmd(*args)
elif kind == "e":
    for i in range(100000 // scale):
        cmd("SADD", "set:%d" % i, *[str(i * 10 + m) for m in range(10)])
EOF
}

used() { "$CLI" -p "$1" info memory | awk -F: '/^used_memory:/ {print $2+0}'; }

describe() {
  case $1 in
    a) echo "100k hashes x 10 fields" ;; b) echo "100k zsets x 10 members" ;;
    c) echo "1 list x 1M elements" ;; d) echo "1 zset x 1M members" ;;
    e) echo "100k sets x 10 integers" ;;
  esac
}

printf '%-3s %-26s %14s %14s %7s %7s\n' set dataset redis_bytes pyrope_bytes ratio target
for s in $SETS; do
  gen "$s" > "$TMP/data.resp"
  line=()
  for bin in "$REDIS" "$PYROPE"; do
    port=$(start "$(basename "$bin")-$s" "$bin")
    before=$(used "$port")
    "$CLI" -p "$port" --pipe < "$TMP/data.resp" > "$TMP/pipe.out" 2>&1 ||
      { echo "load failed on $(basename "$bin"): $(tail -2 "$TMP/pipe.out")" >&2; line+=(NA); continue; }
    grep -q "errors: 0," "$TMP/pipe.out" || { echo "errors on $(basename "$bin"): $(tail -2 "$TMP/pipe.out")" >&2; line+=(NA); continue; }
    after=$(used "$port")
    line+=($((after - before)))
    "$CLI" -p "$port" shutdown nosave >/dev/null 2>&1 || true
  done
  target=1.0; case $s in c|d) target=0.8 ;; esac
  if [ "${line[0]}" = NA ] || [ "${line[1]}" = NA ]; then ratio=NA; else
    ratio=$(awk -v r="${line[0]}" -v p="${line[1]}" 'BEGIN {printf "%.2f", p / r}'); fi
  printf '%-3s %-26s %14s %14s %7s %7s\n' "$s" "$(describe "$s")" "${line[0]}" "${line[1]}" "$ratio" "<=$target"
done
