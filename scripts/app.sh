#!/usr/bin/env bash
# Sets everything up (idempotent), builds Photo Search in release mode and launches the desktop
# app. Without a display (a server, an SSH session) it serves the same UI to a browser instead
# (`photo-search serve`, loopback only). With arguments, runs the `photo-search` command line
# with them (try --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/setup.sh"

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
