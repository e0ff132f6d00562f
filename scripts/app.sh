#!/usr/bin/env bash
# Sets everything up (idempotent), builds Photo Search in release mode and runs it.
# Without arguments it indexes ~/Pictures (if present) and shows the library status; any
# arguments are passed to `photo-search` (try --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
cargo build --release --locked -p photo-search-cli
BIN="$ROOT/target/release/photo-search"

if (($#)); then
    exec "$BIN" "$@"
fi
if ! "$BIN" models verify >/dev/null 2>&1; then
    echo "==> Downloading the search model (about 150 MB)"
    "$BIN" models fetch || {
        echo "The model could not be downloaded. Use a model folder on this computer with --model DIR," >&2
        echo "e.g. scripts/app.sh --model models/test-color index ~/Pictures (a colour-only test model)." >&2
        exit 1
    }
fi
if [ -d "$HOME/Pictures" ]; then
    "$BIN" index "$HOME/Pictures"
fi
exec "$BIN" status
