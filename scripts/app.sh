#!/usr/bin/env bash
# Sets everything up (idempotent), builds Photo Search in release mode and launches the desktop
# app. Without a display (a server, an SSH session) it serves the same UI to a browser instead
# (`photo-search serve`, loopback only). With arguments, runs the `photo-search` command line
# with them (try --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/setup.sh"

# Where an NVIDIA driver answers, the pinned GPU runtime (ONNX Runtime's CUDA 13 build, CUDA 13
# and cuDNN 9; about 1.3 GB, checksum-verified, resumable) is installed into the library once,
# unless the driver or the card is too old for it (`photo-search gpu` says why).
if [ -z "${PHOTO_SEARCH_NO_GPU:-}" ] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    cargo build --release --locked -p photo-search-cli
    if "$ROOT/target/release/photo-search" gpu --json |
        python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["gpus"] and not r["problem"] and not r["installed"] and r["download_bytes"] and r["provider"] != "CUDA" else 1)'; then
        echo "==> NVIDIA GPU found: installing the GPU runtime (PHOTO_SEARCH_NO_GPU=1 skips this)"
        "$ROOT/target/release/photo-search" gpu install || echo "The GPU runtime could not be installed; indexing runs on the CPU." >&2
    fi
    "$ROOT/target/release/photo-search" gpu
fi

if (($#)); then
    cargo build --release --locked -p photo-search-cli
    exec "$ROOT/target/release/photo-search" "$@"
fi
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    cargo build --release --locked -p photo-search-app
    # The window offers the model download and the folder picker on first run.
    exec "$ROOT/target/release/photo-search-app"
fi
echo "==> No display: serving the app to a browser instead"
cargo build --release --locked -p photo-search-cli
exec "$ROOT/target/release/photo-search" serve
