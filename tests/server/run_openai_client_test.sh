#!/usr/bin/env bash
# Runs the official `openai` npm client (pinned in package.json) against a
# real `gemma serve` on a loopback port with a tiny model, then checks that
# SIGTERM let the last stream finish and the server exit cleanly.
# Usage: run_openai_client_test.sh [path/to/gemma]   (default: build/gemma)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GEMMA=${1:-build/gemma}
HERE=tests/server

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: '$tool' is not installed; the openai client test needs Node.js and npm (scripts/install-deps.sh installs them)" >&2
    exit 1
  fi
done
[ -x "$GEMMA" ] || { echo "FAIL: $GEMMA is not built" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A tiny model folder: a golden checkpoint plus the test tokenizer.
MODEL_DIR="$WORK/tiny-gemma3"
mkdir -p "$MODEL_DIR"
cp tests/data/golden/gemma3-tiny-a/config.json tests/data/golden/gemma3-tiny-a/model.safetensors "$MODEL_DIR/"
cp "$HERE/tiny-tokenizer.json" "$MODEL_DIR/tokenizer.json"

(cd "$HERE" && timeout 180 npm ci --no-audit --no-fund --loglevel=error) || {
  echo "FAIL: npm ci in $HERE failed (is the npm registry reachable?)" >&2
  exit 1
}

"$GEMMA" serve --model "$MODEL_DIR" --host 127.0.0.1 --port 0 --parallel 2 --ctx 2048 --threads 1 \
  --api-key test-key --model-name tiny >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 300); do
  PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/stdout")
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "FAIL: server exited:" >&2; cat "$WORK/stderr" >&2; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "FAIL: server did not start within 30 s" >&2; cat "$WORK/stderr" >&2; exit 1; }

BASE_URL="http://127.0.0.1:$PORT/v1" MODEL=tiny API_KEY=test-key SERVER_PID=$SERVER_PID \
  timeout 120 node "$HERE/openai_client_test.mjs"

# The client sent SIGTERM during its last stream: the server must exit 0.
for _ in $(seq 1 100); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL: server still running 10 s after SIGTERM" >&2
  exit 1
fi
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=""
if [ "$status" != 0 ]; then
  echo "FAIL: server exited with status $status after SIGTERM" >&2
  cat "$WORK/stderr" >&2
  exit 1
fi
echo "openai client test passed"
