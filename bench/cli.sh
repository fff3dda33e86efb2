#!/usr/bin/env bash
# pyrope-cli against Debian's redis-cli 7.0.15, same server, same input, alternating runs:
#   --pipe of N SET commands (mass insertion), and --scan of a keyspace of N keys.
# Both against the reference Redis 7.4.1 and against pyrope-server (release builds).
# Prints wall seconds per run (best of ROUNDS), throughput, and the ratio
# pyrope-cli/redis-cli (> 1 means pyrope-cli is faster), plus each tool's own CPU time.
#
# Usage: bench/cli.sh              (N=10000000, ROUNDS=2)
#        N=1000000 bench/cli.sh    (quicker)
# Servers listen on 127.0.0.1 only, on free ports, and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000000}
ROUNDS=${ROUNDS:-2}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
RCLI=${RCLI:-/usr/bin/redis-cli}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
[ -x "$RCLI" ] || { echo "missing $RCLI: apt-get install redis-tools" >&2; exit 1; }
# On shared machines builds go through a lock (CARGO_LOCK, default /tmp/pyrope-cargo.lock).
LOCK=${CARGO_LOCK:-/tmp/pyrope-cargo.lock}
if [ -e "$LOCK" ] && command -v flock >/dev/null; then
  flock "$LOCK" cargo build --release --quiet --bin pyrope-cli --bin pyrope-server
else
  cargo build --release --quiet --bin pyrope-cli --bin pyrope-server
fi
PCLI=target/release/pyrope-cli
PYROPE=target/release/pyrope-server
. bench/lib.sh

start() { # name binary -> port
  local port; port=$(free_port)
  timeout 7200 "$2" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command yes \
    --dir "$TMP" >"$TMP/$1.log" 2>&1 &
  echo $! >> "$TMP/pids"
  for _ in $(seq 100); do "$RCLI" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$port"
}

echo "generating $N SET commands..." >&2
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { k = "key:" i; v = "value:" i;
  printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v } }' > "$TMP/pipe.resp"
echo "input: $(du -h "$TMP/pipe.resp" | cut -f1)" >&2

# timed tool args... -> "wall_s cpu_s" of the tool (GNU time), output to $TMP/out
timed() {
  /usr/bin/env time -f "%e %U %S" -o "$TMP/time" "$@" > "$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; return 1; }
  awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$TMP/time"
}

best() { sort -n | head -1; }

printf '%-7s %-6s %10s %10s %12s %12s %7s %14s\n' server mode redis-cli_s pyrope-cli_s redis-cli/s pyrope-cli/s ratio "cpu_s r/p"
for server in redis pyrope; do
  bin=$REDIS; [ "$server" = pyrope ] && bin=$PYROPE
  port=$(start "$server" "$bin")
  # --pipe: FLUSHALL before each run, alternate the tools.
  : > "$TMP/pipe.r"; : > "$TMP/pipe.p"
  for _ in $(seq "$ROUNDS"); do
    for tool in r p; do
      cli=$RCLI; [ $tool = p ] && cli=$PCLI
      "$RCLI" -p "$port" flushall >/dev/null
      timed "$cli" -p "$port" --pipe < "$TMP/pipe.resp" >> "$TMP/pipe.$tool"
      grep -q "errors: 0, replies: $N" "$TMP/out" || { echo "bad --pipe summary from $cli:" >&2; cat "$TMP/out" >&2; exit 1; }
    done
  done
  keys=$("$RCLI" -p "$port" dbsize)
  [ "$keys" = "$N" ] || { echo "dbsize $keys after --pipe, expected $N" >&2; exit 1; }
  # --scan over the N keys --pipe left.
  : > "$TMP/scan.r"; : > "$TMP/scan.p"
  for _ in $(seq "$ROUNDS"); do
    for tool in r p; do
      cli=$RCLI; [ $tool = p ] && cli=$PCLI
      timed "$cli" -p "$port" --scan >> "$TMP/scan.$tool"
      lines=$(wc -l < "$TMP/out")
      [ "$lines" -ge "$N" ] || { echo "--scan from $cli printed $lines keys, expected $N" >&2; exit 1; }
    done
  done
  for mode in pipe scan; do
    read -r rw rc < <(best < "$TMP/$mode.r")
    read -r pw pc < <(best < "$TMP/$mode.p")
    awk -v s="$server" -v m="$mode" -v n="$N" -v rw="$rw" -v pw="$pw" -v rc="$rc" -v pc="$pc" 'BEGIN {
      printf "%-7s %-6s %10.2f %10.2f %12.0f %12.0f %7.2f %14s\n", s, "--" m, rw, pw, n / rw, n / pw, rw / pw, rc "/" pc }'
  done
  "$RCLI" -p "$port" shutdown nosave >/dev/null 2>&1 || true
done
