#!/usr/bin/env bash
# Real MCP clients against the real binary: the official TypeScript SDK client (clients/ts/check.mjs,
# pinned in package-lock.json) and the official Python SDK client (clients/python/check.py, pinned in
# python/requirements.txt), each over stdio, Streamable HTTP with sessions and stateless Streamable
# HTTP, on the embedded sandbox (no credentials: both sandbox gateways in-process, no real money).
#
# Usage: clients/run.sh        with ZHIFU_MCP_BIN=path/to/zhifu-mcp (default: target/debug/zhifu-mcp)
# Needs: node >= 18 and npm, python3 >= 3.10 with venv. Installs into clients/node_modules (npm ci) and
# a virtualenv under ${XDG_CACHE_HOME:-~/.cache}/zhifu-mcp/ keyed by the requirements' hash.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$(cd "$root" && realpath -m "${ZHIFU_MCP_BIN:-$target_dir/debug/zhifu-mcp}")"
[[ -x "$bin" ]] || { echo "clients: no binary at $bin: run cargo build, or set ZHIFU_MCP_BIN" >&2; exit 1; }
export ZHIFU_MCP_BIN="$bin"
echo "clients: server binary $bin"

echo "clients: npm ci (@modelcontextprotocol/sdk, pinned)"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

requirements="$here/python/requirements.txt"
key="$(sha256sum "$requirements" | cut -c1-16)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/zhifu-mcp/clients-python-$key"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import mcp' 2>/dev/null; then
    echo "clients: python venv $venv (mcp, pinned)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
fi

status=0
echo "clients: TypeScript SDK"
(cd "$here" && node ts/check.mjs) || status=1
echo "clients: Python SDK"
"$venv/bin/python" "$here/python/check.py" || status=1
if [[ $status -ne 0 ]]; then
    echo "clients: FAILED" >&2
    exit 1
fi
echo "clients: ok"
