#!/usr/bin/env bash
# CI (root, fresh Debian): package the given binary, install it with dpkg -i, run the installed
# one (`tools`, one `call` on the embedded sandbox, the man page), then purge it.
# Usage: packaging/scripts/check-deb.sh path/to/zhifu-mcp
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'dpkg --purge zhifu-mcp >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
deb="$(DEB_COMPRESS="${DEB_COMPRESS:-gzip}" bash "$here/package-deb.sh" "$1" "$work")"
echo "package: $(basename "$deb"), $(stat -c %s "$deb") bytes"
dpkg -i "$deb" >/dev/null
export ZHIFU_STATE_DIR="$work/state"
test "$(command -v zhifu-mcp)" = /usr/bin/zhifu-mcp
# (whole outputs in variables: `cmd | grep -q` can fail on SIGPIPE under pipefail)
tools="$(zhifu-mcp tools)" && grep -q '^create_charge ' <<<"$tools"
result="$(zhifu-mcp call list_charges '{"limit": 1}' 2>/dev/null)" && grep -q '"object": "list"' <<<"$result"
zhifu-mcp --config /etc/zhifu-mcp/zhifu.toml tools >/dev/null
test -f /lib/systemd/system/zhifu-mcp.service
man="$(zcat /usr/share/man/man1/zhifu-mcp.1.gz)" && grep -q PINGPP_API_KEY <<<"$man"
dpkg --purge zhifu-mcp >/dev/null
test ! -e /usr/bin/zhifu-mcp
echo "installed, ran tools and call, purged: ok"
