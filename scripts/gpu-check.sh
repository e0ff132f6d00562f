#!/usr/bin/env bash
# Checks Photo Search on an NVIDIA GPU and prints the figures docs/PERFORMANCE.md records:
#   1. the GPU and what runs the model (`photo-search gpu`);
#   2. the vision encoder alone per batch size, fp16 and fp32 (random-weight CLIP ViT-B/32);
#   3. fp16 against fp32 on the photos (cosine);
#   4. the CPU decode ceiling of this run: cores / one thread's decode + resize + thumbnail;
#   5. `index` of the photos end to end, with the GPU's use sampled (`nvidia-smi dmon`): the
#      rate, the GPU busy and peak memory;
#   6. the out-of-memory run (a 1 GB cap, batches of 1024: halved until they fit, nothing lost);
#   7. the fallback run with CUDA hidden: the CPU at the CPU's precision, and why, said once.
#
# Usage: scripts/gpu-check.sh [PHOTO_DIR]
#   PHOTO_DIR   12 MP JPEGs to index (default: 2,400 generated into .cache/gpu-check-photos)
# Environment (for machines without Rust or internet; each has a default that builds or fetches):
#   PHOTO_SEARCH_BIN  the program (default: built here in release mode)
#   ORT_DYLIB_PATH    an ONNX Runtime GPU build (default: the library's, `photo-search gpu install`)
#   MODEL             the bench model folder (default: built by setup --bench)
#   PYTHON            a Python with Pillow, for generating photos (default: the bench venv's)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "no NVIDIA GPU answers (nvidia-smi): nothing to check on this machine" >&2
    exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader

if [ -z "${PHOTO_SEARCH_BIN:-}" ] || [ -z "${MODEL:-}" ]; then
    "$ROOT/scripts/setup.sh" --bench
fi
BIN="${PHOTO_SEARCH_BIN:-}"
if [ -z "$BIN" ]; then
    cargo build --release --locked -p photo-search-cli
    BIN="$ROOT/target/release/photo-search"
fi
MODEL="${MODEL:-$ROOT/.cache/bench-model}"
PYTHON="${PYTHON:-$ROOT/.cache/bench-venv/bin/python}"
WORK="$(mktemp -d)"
trap 'kill "${DMON:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
LIB="$WORK/library"

PHOTOS="${1:-}"
if [ -z "$PHOTOS" ]; then
    PHOTOS="$ROOT/.cache/gpu-check-photos"
    if [ "$(find "$PHOTOS" -name '*.jpg' 2>/dev/null | wc -l)" -lt 2400 ]; then
        echo "== generating 2,400 distinct 12 MP JPEGs in $PHOTOS"
        mkdir -p "$PHOTOS"
        "$PYTHON" - "$PHOTOS" <<'PY'
import os, sys
from concurrent.futures import ProcessPoolExecutor
import numpy as np
from PIL import Image
out = sys.argv[1]
def make(i):
    path = os.path.join(out, f"photo{i:05d}.jpg")
    if os.path.exists(path):
        return
    rng = np.random.default_rng(i)
    h, w = 3024, 4032  # 12.2 MP, as a phone takes them
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(0, 255, 3)
    img = np.stack([base[c] + 60 * np.sin(x / rng.uniform(50, 400) + y / rng.uniform(50, 400) + c) for c in range(3)], -1)
    img += rng.normal(0, 12, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path + ".tmp.jpg", quality=90)
    os.rename(path + ".tmp.jpg", path)
with ProcessPoolExecutor(os.cpu_count()) as pool:
    list(pool.map(make, range(2400), chunksize=16))
PY
    fi
fi
PS=("$BIN" --library "$LIB" --model "$MODEL")

echo "== the GPU and what runs the model"
if [ -z "${ORT_DYLIB_PATH:-}" ] && ! "${PS[@]}" gpu --json | grep -q '"provider": "CUDA"'; then
    "${PS[@]}" gpu install || true
fi
"${PS[@]}" gpu

echo "== the vision encoder alone (images/s per batch), fp16 and fp32"
"${PS[@]}" --precision fp16 bench encoder --batches 1,8,32,128,512
"${PS[@]}" --precision fp32 bench encoder --batches 32,128

echo "== fp16 against fp32"
"${PS[@]}" bench precision "$PHOTOS" --limit 32

echo "== the CPU decode ceiling of this run"
"${PS[@]}" bench decode "$PHOTOS" | tee "$WORK/decode.txt"
CORES="$(nproc)"
MS="$(awk '/DCT-scaled decode \+ resize \+ thumbnail/ { print $(NF-5) }' "$WORK/decode.txt")"
awk -v ms="$MS" -v cores="$CORES" 'BEGIN { printf "  ceiling: %d cores / %.1f ms = %.0f images/s\n", cores, ms, cores * 1000 / ms }'

echo "== index of $(find "$PHOTOS" -name '*.jpg' | wc -l) photos end to end, GPU sampled every second"
nvidia-smi dmon -s um -d 1 >"$WORK/dmon.txt" &
DMON=$!
START="$(date +%s.%N)"
"${PS[@]}" -v index "$PHOTOS" 2>&1 | grep -E "indexing with|batch size|out of memory|cannot run|indexed" || true
END="$(date +%s.%N)"
kill "$DMON" 2>/dev/null || true
"${PS[@]}" status | grep -E "^(photos|model|provider)"
awk -v s="$START" -v e="$END" 'BEGIN { printf "  wall %.1f s\n", e - s }'
# dmon -s um: gpu sm mem enc dec jpg ofa fb bar1 ccpm (columns vary by driver): read by header.
awk '/^# gpu/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; next } /^#/ { next }
     { n++; sm += $col["sm"]; if ($col["sm"] > smax) smax = $col["sm"]; if ($col["fb"] > fb) fb = $col["fb"] }
     END { if (n) printf "  GPU busy: mean %.0f%%, max %d%% over %d samples; peak memory %d MiB\n", sm / n, smax, n, fb }' "$WORK/dmon.txt"

echo "== out of memory: a 1 GB cap, batches of 1024"
"$BIN" --library "$WORK/oom" --model "$MODEL" --gpu-memory 1 --batch-size 1024 index "$PHOTOS" 2>&1 |
    grep -E "out of memory|indexed|error" | head -5 || true
"$BIN" --library "$WORK/oom" --model "$MODEL" status | grep -E "^(photos|provider)"

echo "== CUDA hidden: the CPU at its own precision"
mkdir -p "$WORK/few"
find "$PHOTOS" -name '*.jpg' | head -n 120 | xargs -I{} cp {} "$WORK/few/"
CUDA_VISIBLE_DEVICES=-1 "$BIN" --library "$WORK/fallback" --model "$MODEL" index "$WORK/few" 2>&1 |
    grep -E "CUDA|indexed" | head -5 || true
CUDA_VISIBLE_DEVICES=-1 "$BIN" --library "$WORK/fallback" --model "$MODEL" status | grep -E "^(photos|model|provider)"
