#!/usr/bin/env bash
# Builds a Debian package of zhifu-mcp from an already built binary, with dpkg-deb alone (no
# cargo-deb, nothing compiled): the binary (stripped when `strip` is there), a man page made from
# its --help, the example configuration as conffiles under /etc/zhifu-mcp, and a systemd unit for
# `serve --http` with its state in /var/lib/zhifu-mcp.
#
# Usage: packaging/scripts/package-deb.sh path/to/zhifu-mcp [out-dir]   (prints the .deb's path)
# DEB_COMPRESS=gzip: faster, larger (CI, with its debug binary); default xz.
set -euo pipefail
bin="${1:?usage: package-deb.sh path/to/zhifu-mcp [out-dir]}"
out="${2:-.}"
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/.." && pwd)"

version="$("$bin" --version | awk '{print $2}')"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/zhifu-mcp_${version}_${arch}"

install -D -m 0755 "$bin" "$pkg/usr/bin/zhifu-mcp"
if command -v strip >/dev/null; then strip --strip-all "$pkg/usr/bin/zhifu-mcp"; fi
install -D -m 0644 "$here/zhifu-mcp.service" "$pkg/lib/systemd/system/zhifu-mcp.service"
install -D -m 0644 "$here/zhifu.toml" "$pkg/etc/zhifu-mcp/zhifu.toml"
install -D -m 0600 "$here/env" "$pkg/etc/zhifu-mcp/env"
doc="$pkg/usr/share/doc/zhifu-mcp"
install -D -m 0644 "$here/zhifu.toml" "$doc/examples/zhifu.toml"
install -D -m 0644 "$root/README.md" "$doc/README.md"
gzip -9n "$doc/README.md"
printf 'zhifu-mcp\nLicense: Apache-2.0 (see /usr/share/common-licenses/Apache-2.0)\n' > "$doc/copyright"

# The man page: the --help text of the program and of each command, verbatim.
roff() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
man="$pkg/usr/share/man/man1/zhifu-mcp.1"
mkdir -p "$(dirname "$man")"
{
    echo ".TH ZHIFU-MCP 1 \"\" \"zhifu-mcp $version\" \"User Commands\""
    echo ".SH NAME"
    echo "zhifu-mcp \\- MCP server for Ping++ and Alipay payments"
    echo ".SH DESCRIPTION"
    echo ".nf"
    "$bin" --help | roff
    echo ".fi"
    for command in serve receive tools call sandbox; do
        echo ".SH \"zhifu-mcp $command\""
        echo ".nf"
        "$bin" "$command" --help | roff
        echo ".fi"
    done
    echo ".SH FILES"
    echo ".nf"
    echo "/etc/zhifu-mcp/zhifu.toml   configuration read by the systemd unit"
    echo "/etc/zhifu-mcp/env          secrets for the systemd unit (root-only)"
    echo "/var/lib/zhifu-mcp          state of the systemd unit (idempotency records, audit log)"
    echo ".fi"
} > "$man"
gzip -9n "$man"

mkdir -p "$pkg/DEBIAN"
printf '/etc/zhifu-mcp/zhifu.toml\n/etc/zhifu-mcp/env\n' > "$pkg/DEBIAN/conffiles"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: zhifu-mcp
Version: $version
Architecture: $arch
Maintainer: zhifu-mcp maintainers <zhifu-mcp@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: libc6 (>= 2.34), libgcc-s1
Section: net
Priority: optional
Description: MCP server for Ping++ and Alipay payments
 Lets AI agents run payments on Chinese gateways (Ping++ and the Alipay Open
 Platform) over the Model Context Protocol, stdio or Streamable HTTP, with
 argument checks, idempotency, operator policy and an audit log. With no
 credentials it runs on an embedded sandbox: no real money moves.
CONTROL
mkdir -p "$out"
dpkg-deb --root-owner-group "-Z${DEB_COMPRESS:-xz}" --build "$pkg" "$out" >/dev/null
echo "$out/zhifu-mcp_${version}_${arch}.deb"
