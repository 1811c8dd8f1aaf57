#!/usr/bin/env bash
# Load figures for the README: `gemma serve` on an init-random gemma-3-270m
# checkpoint with the real tokenizer, 1 / 4 / 16 concurrent streaming
# clients (tests/server/load.mjs). Bounded: fixed request counts, 32 tokens
# each, a time cap per level. Not part of ctest (takes minutes on 2 cores).
# Usage: run_load.sh [path/to/gemma] [checkpoint dir to create or reuse]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GEMMA=${1:-build/gemma}
CKPT=${2:-$(mktemp -d)/gemma-3-270m-random}
[ -x "$GEMMA" ] || { echo "FAIL: $GEMMA is not built" >&2; exit 1; }
[ -f third_party/tokenizer/tokenizer.json ] || bash scripts/fetch-tokenizer.sh
if [ ! -f "$CKPT/model.safetensors" ]; then
  "$GEMMA" init-random --like gemma-3-270m --out "$CKPT"
fi
[ -f "$CKPT/tokenizer.json" ] || cp third_party/tokenizer/tokenizer.json "$CKPT/"

LOG=$(mktemp)
"$GEMMA" serve --model "$CKPT" --host 127.0.0.1 --port 0 --parallel 16 --ctx 1024 \
  --model-name gemma-3-270m >"$LOG" 2>"$LOG.err" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true; rm -f "$LOG" "$LOG.err"' EXIT
PORT=""
for _ in $(seq 1 600); do
  PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$LOG")
  [ -n "$PORT" ] && break
  kill -0 $PID 2>/dev/null || { cat "$LOG.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "FAIL: server did not start" >&2; exit 1; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
BASE_URL="http://127.0.0.1:$PORT" MODEL=gemma-3-270m timeout 1200 node tests/server/load.mjs
