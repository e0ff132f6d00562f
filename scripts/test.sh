#!/usr/bin/env bash
# Sets up everything the tests need (idempotent) and runs all of them: formatting and lints, the
# Rust tests (core, service, HTTP server, CLI, generated TypeScript bindings), the UI unit tests,
# the UI in Chromium against `photo-search serve`, and the desktop window under Xvfb.
# The tests read real photos and bad inputs from ../shared beside the checkout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/setup.sh" --test

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> tsc"
npx --no-install tsc -p ui
echo "==> biome (the UI's and the browser tests' formatting and lints)"
npx --no-install biome ci

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failed_suites=()
suite() {
    local name="$1"
    shift
    echo "==> $name"
    if ! "$@" 2>&1 | tee -a "$log"; then
        failed_suites+=("$name")
    fi
}

suite "cargo test" cargo test --workspace --all-targets --locked
suite "UI unit tests" node tests/e2e/vitest.mjs
suite "UI in Chromium against photo-search serve" node tests/e2e/browser.mjs
# `cargo test` builds the app only as a test harness: the window test needs the program itself.
suite "build the desktop app" cargo build --locked --workspace --bins
suite "desktop window under Xvfb (tauri-driver)" node tests/e2e/app.mjs

# One closing line for the whole run: the sum of every suite's "test result:" lines.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
if ((${#failed_suites[@]})); then
    echo "failed: ${failed_suites[*]}" >&2
    exit 1
fi
