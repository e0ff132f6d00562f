#!/usr/bin/env bash
# Runs every benchmark side by side on the same files and prints the figures recorded in
# docs/PERFORMANCE.md. Builds the random-weight CLIP ViT-B/32 bench model first (not committed).
# Usage: scripts/bench.sh [PHOTO_DIR] [--full]   (default ../shared/photos/camera; --full adds 1M search)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PHOTOS="${1:-$ROOT/../shared/photos/camera}"
SIZES="10000,100000"
[ "${2:-}" = "--full" ] && SIZES="10000,100000,1000000"

"$ROOT/scripts/setup.sh"
VENV="$ROOT/.cache/bench-venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet numpy onnx "onnxruntime==1.31.1" pillow
fi
MODEL="$ROOT/.cache/bench-model"
[ -f "$MODEL/manifest.toml" ] || "$VENV/bin/python" scripts/bench/make_bench_model.py "$MODEL"
cargo build --release --locked -p photo-search-cli
BIN="$ROOT/target/release/photo-search"
LIB="$(mktemp -d)"
trap 'rm -rf "$LIB"' EXIT
PS=("$BIN" --library "$LIB" --model "$MODEL")

echo "== decode"
"${PS[@]}" bench decode "$PHOTOS"
echo "== encoder"
"${PS[@]}" bench encoder --onnx "$MODEL/onnx/vision_model_quantized.onnx" --onnx "$MODEL/onnx/vision_model.onnx"
echo "== indexing, side by side with the Python reference (same files, same int8 graph)"
"$VENV/bin/python" scripts/bench/reference_pipeline.py "$PHOTOS" "$MODEL/onnx/vision_model_int8.onnx" --mode full
"$VENV/bin/python" scripts/bench/reference_pipeline.py "$PHOTOS" "$MODEL/onnx/vision_model_int8.onnx" --mode draft
"${PS[@]}" bench index "$PHOTOS"
echo "== search"
"${PS[@]}" bench search --sizes "$SIZES" --load-dir "$PHOTOS"
