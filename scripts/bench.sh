#!/usr/bin/env bash
# Runs every benchmark side by side on the same files and prints the figures recorded in
# docs/PERFORMANCE.md. Builds the random-weight CLIP ViT-B/32 bench model first (not committed).
# Usage: scripts/bench.sh [PHOTO_DIR] [--full]
#   PHOTO_DIR: the camera photos for decode and indexing (default ../shared/photos/camera)
#   the app benchmark runs at 100,000 photos; --full adds 1,000,000 (hours on 2 cores)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PHOTOS="${1:-$ROOT/../shared/photos/camera}"
SIZES="100000"
[ "${2:-}" = "--full" ] && SIZES="100000 1000000"

"$ROOT/scripts/setup.sh" --bench
VENV="$ROOT/.cache/bench-venv"
MODEL="$ROOT/.cache/bench-model"
cargo build --release --locked -p photo-search-cli
BIN="$ROOT/target/release/photo-search"
LIB="$(mktemp -d)"
trap 'rm -rf "$LIB"' EXIT
PS=("$BIN" --library "$LIB" --model "$MODEL")

echo "== decode"
"${PS[@]}" bench decode "$PHOTOS"
echo "== encoder"
"${PS[@]}" bench encoder --onnx "$MODEL/onnx/vision_model_quantized.onnx" --onnx "$MODEL/onnx/vision_model.onnx"
"${PS[@]}" bench precision "$PHOTOS"
echo "== indexing, side by side with the Python reference (same files, same int8 graph)"
"$VENV/bin/python" scripts/bench/reference_pipeline.py "$PHOTOS" "$MODEL/onnx/vision_model_int8.onnx" --mode full
"$VENV/bin/python" scripts/bench/reference_pipeline.py "$PHOTOS" "$MODEL/onnx/vision_model_int8.onnx" --mode draft
"${PS[@]}" bench index "$PHOTOS"
echo "== the app at library scale (generated photos, library benchmark model, photo-search serve over HTTP)"
WORK="${BENCH_WORK:-$ROOT/.cache/bench-app}"
for size in $SIZES; do
    "$BIN" --library "$WORK/library-$size" --model "$ROOT/.cache/bench-model-library" \
        bench app --photos "$size" --work "$WORK/$size"
done
