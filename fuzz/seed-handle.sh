#!/usr/bin/env bash
# Seeds fuzz/corpus/handle with the request messages of every OASIS test case, one file per
# test case holding its requests back to back (the `handle` target's input format).
#
# Usage: fuzz/seed-handle.sh   (KMIPD=target/release/kmipd, KMIP_VECTORS_DIR=../shared/kmip/vectors)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KMIPD=${KMIPD:-$ROOT/target/release/kmipd}
VECTORS=${KMIP_VECTORS_DIR:-$ROOT/../shared/kmip/vectors}
OUT=$ROOT/fuzz/corpus/handle
mkdir -p "$OUT"
n=0
while IFS= read -r -d '' xml; do
  # Request Message (tag 0x420078) lines only, hex back to binary.
  if hex=$("$KMIPD" ttlv convert --from xml --to hex --placeholders "$xml" 2>/dev/null); then
    reqs=$(grep -i '^42007801' <<<"$hex" | tr -d '\n' || true)
    if [ -n "$reqs" ]; then
      xxd -r -p <<<"$reqs" >"$OUT/$(basename "$xml" .xml)"
      n=$((n + 1))
    fi
  fi
done < <(find "$VECTORS" -name '*.xml' -print0)
echo "$n seeds in $OUT"
