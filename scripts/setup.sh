#!/usr/bin/env bash
# Installs what Photo Search needs to build and run, and nothing twice (idempotent):
#   - Debian packages for building (C toolchain pieces used by -sys crates);
#   - ONNX Runtime 1.31.1, the shared library from PyPI's onnxruntime wheel, unpacked into
#     .cache/onnxruntime/lib (the program finds it there; see crates/core/src/runtime.rs);
#   - the UI's npm packages, and the UI built into ui/dist;
#   - with --test: Chromium, Xvfb, WebKitWebDriver and tauri-driver for the UI tests, and ONNX
#     Runtime's GPU build in .cache/onnxruntime-gpu/lib (the CPU fallback is tested with it).
#   - with --bench (and --test): a Python environment with onnx and onnxruntime in
#     .cache/bench-venv, and the random-weight bench models it builds (.cache/bench-model*).
# Usage: scripts/setup.sh [--test | --bench]   (--test also installs what the test suite needs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORT_VERSION="1.31.1"
ORT_DIR="$ROOT/.cache/onnxruntime"
ORT_LIB="$ORT_DIR/lib/libonnxruntime.so.$ORT_VERSION"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

TEST=0; BENCH=0
for arg in "$@"; do
    case "$arg" in
        --test) TEST=1; BENCH=1 ;; # the tests check the GPU's precision on the bench model
        --bench) BENCH=1 ;;
        *) echo "unknown option $arg (use --test or --bench)" >&2; exit 2 ;;
    esac
done

need_apt=()
# cmake and nasm build the bundled libjpeg-turbo (with its SIMD code); libheif decodes HEIC and
# AVIF (the `heif` feature links it where pkg-config finds it); WebKitGTK and friends build the
# desktop app (Tauri v2 on Linux).
pkgs=(pkg-config build-essential cmake nasm libheif-dev
      libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libxdo-dev libssl-dev libayatana-appindicator3-dev)
# The tests also drive the UI: Chromium (Playwright), and the real window under Xvfb through
# WebKitWebDriver.
((TEST)) && pkgs+=(chromium xvfb webkit2gtk-driver)
((BENCH)) && pkgs+=(python3-venv)
for pkg in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if ((${#need_apt[@]})); then
    say "Installing Debian packages: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if ((TEST)) && command -v rustup >/dev/null; then
    for component in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
    done
fi

# Unpacks ONNX Runtime's libraries from a PyPI wheel: fetch_ort PACKAGE DEST_DIR.
fetch_ort() {
    local package="$1" dir="$2"
    rm -rf "$dir/wheel"
    mkdir -p "$dir/wheel" "$dir/lib"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir/wheel" "$package==$ORT_VERSION"
    local wheel
    wheel="$(ls "$dir"/wheel/*-"$ORT_VERSION"-*.whl | head -n 1)"
    python3 - "$wheel" "$dir/lib" <<'PY'
import pathlib, sys, zipfile
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = name.rsplit("/", 1)[-1]
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime"):
            tmp = dest / (base + ".tmp")
            tmp.write_bytes(z.read(name))
            tmp.rename(dest / base)
PY
    rm -rf "$dir/wheel"
}

if [ ! -f "$ORT_LIB" ]; then
    say "Fetching ONNX Runtime $ORT_VERSION (PyPI wheel onnxruntime==$ORT_VERSION)"
    fetch_ort onnxruntime "$ORT_DIR"
fi
[ -f "$ORT_LIB" ] || { echo "ONNX Runtime library missing after setup: $ORT_LIB" >&2; exit 1; }
# The tests also run ONNX Runtime's GPU build (onnxruntime-gpu, CUDA 13) on this machine without
# a GPU or CUDA libraries: the app must fall back to the CPU at the CPU's precision.
ORT_GPU_DIR="$ROOT/.cache/onnxruntime-gpu"
if ((TEST)) && [ ! -f "$ORT_GPU_DIR/lib/libonnxruntime_providers_cuda.so" ]; then
    say "Fetching ONNX Runtime $ORT_VERSION's GPU build (PyPI wheel onnxruntime-gpu==$ORT_VERSION)"
    fetch_ort onnxruntime-gpu "$ORT_GPU_DIR"
fi
say "ONNX Runtime: $ORT_LIB"

if ((BENCH)); then
    VENV="$ROOT/.cache/bench-venv"
    if [ ! -x "$VENV/bin/python" ]; then
        say "Making the benchmark's Python environment (numpy, onnx, onnxruntime, Pillow)"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet numpy onnx "onnxruntime==$ORT_VERSION" pillow
    fi
    if [ ! -f "$ROOT/.cache/bench-model/onnx/vision_model_fp16.onnx" ] || [ ! -f "$ROOT/.cache/bench-model-library/manifest.toml" ]; then
        say "Building the random-weight bench models (CLIP ViT-B/32's architecture, not a real model)"
        rm -rf "$ROOT/.cache/bench-model"
        "$VENV/bin/python" "$ROOT/scripts/bench/make_bench_model.py" "$ROOT/.cache/bench-model"
    fi
fi

# The web UI (TypeScript, built with Vite into ui/dist): the desktop app embeds it and
# `photo-search serve` serves it.
command -v npm >/dev/null || { echo "Node.js 20+ with npm is needed for the UI" >&2; exit 1; }
cd "$ROOT"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "Installing the UI's npm packages"
    npm ci --no-audit --no-fund --loglevel=error
fi
say "Building the UI"
npm run --silent build >/dev/null

# tauri-driver drives the desktop window in the tests (WebDriver, through WebKitWebDriver).
TAURI_DRIVER_VERSION="2.1.0"
if ((TEST)) && ! "$ROOT/.cache/tools/bin/tauri-driver" --help >/dev/null 2>&1; then
    say "Installing tauri-driver $TAURI_DRIVER_VERSION"
    cargo install --quiet --locked tauri-driver --version "$TAURI_DRIVER_VERSION" --root "$ROOT/.cache/tools"
fi
