#!/usr/bin/env bash
# Builds every libFuzzer target with clang and runs each briefly on seed
# inputs from tests/data, so the targets never rot. FUZZ_SECONDS per target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs="${FUZZ_SECONDS:-10}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DGEMMA_FUZZ=ON -DGEMMA_BUILD_TESTS=OFF -DGEMMA_BUILD_BENCH=OFF -DGEMMA_SKIP_MODULES="" >/dev/null
# With tests and benchmarks off, "all" is the fuzz targets and their libraries.
cmake --build build-fuzz -j2
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds"/{st,cfg,img,tok}
for d in tests/data/golden/*/; do
  n=$(basename "$d")
  head -c 65536 "$d/model.safetensors" > "$seeds/st/$n" 2>/dev/null || true
  cp "$d/config.json" "$seeds/cfg/$n.json"
  [ -f "$d/input.png" ] && cp "$d/input.png" "$seeds/img/$n.png"
done
cp configs/*.json "$seeds/cfg/"
# Inputs that once crashed a target stay as seeds (tests/data/fuzz/<kind>/).
[ -d tests/data/fuzz/config ] && cp tests/data/fuzz/config/* "$seeds/cfg/"
for t in build-fuzz/fuzz/*_fuzz; do
  case "$(basename "$t")" in
    safetensors_fuzz) corpus="$seeds/st" ;;
    config_fuzz) corpus="$seeds/cfg" ;;
    image_fuzz) corpus="$seeds/img" ;;
    *) corpus="$seeds/tok" ;;
  esac
  echo "== $(basename "$t") for ${secs}s"
  log="$seeds/$(basename "$t").log"
  if ! "$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 "$corpus" >"$log" 2>&1; then
    tail -40 "$log"
    echo "FAIL: $(basename "$t") found a crash" >&2
    exit 1
  fi
  tail -1 "$log"
done
