# Shared prologue of the bench/ scripts (sourced from the repository root):
#   free_port      prints a free TCP port on 127.0.0.1
#   TMP            a temporary directory, removed at exit
#   $TMP/pids      pids written there (one per line) are killed at exit
# A script that needs more at exit defines its own `cleanup` and traps it after sourcing.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP=$(mktemp -d)
cleanup() { [ -f "$TMP/pids" ] && while read -r p; do kill "$p" 2>/dev/null || true; done < "$TMP/pids"; rm -rf "$TMP"; }
trap cleanup EXIT
