#!/usr/bin/env python3
"""Writes packaging/code-order.txt: the functions a zhifu-mcp session runs, for the linker.

Release builds on x86_64 Linux link with `--symbol-ordering-file=packaging/code-order.txt` (see
build.rs), which places these functions next to each other. The kernel maps a binary's code in
64 KiB windows around each page a process touches, so when the ~2.5 MB of code a session runs is
spread over the 18 MB of `.text`, nearly all of it becomes resident; laid out together, only about
that much does (docs/PERFORMANCE.md, "Peak RSS").

The list is read off two release binaries running typical sessions under valgrind's callgrind:
the one `cargo build --release` makes (what users install) and the one `cargo bench` makes (the
same code, but the benches' dev-dependencies switch on features of shared crates, which changes
the symbol names), so both are laid out. The sessions:
stdio on the embedded sandbox, stdio and Streamable HTTP (sessions and stateless) against a
sandbox in another process, tools/list, local calls, signed calls to both providers. Symbol
names carry hashes that change when a dependency changes, so run this again after `cargo update`
or a new toolchain (the perf bench prints how many of the listed functions the binary still has):

    python3 scripts/code-order.py

It builds both binaries (cargo build --release; cargo bench --no-run). Needs valgrind (Debian:
valgrind). Takes a few minutes when the builds are fresh.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILT = os.path.join(ROOT, "target", "release", "zhifu-mcp")
OUT = os.path.join(ROOT, "packaging", "code-order.txt")


def stdio_session(cmd, env, calls):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env)
    ids = iter(range(1, 1_000_000))

    def request(method, params=None):
        msg = {"jsonrpc": "2.0", "id": next(ids), "method": method}
        if params is not None:
            msg["params"] = params
        p.stdin.write((json.dumps(msg) + "\n").encode())
        p.stdin.flush()
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"the server stopped during {method}")
        return json.loads(line)

    request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "code-order", "version": "0"}})
    p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    p.stdin.flush()
    request("tools/list", {})
    request("prompts/list", {})
    request("resources/list", {})
    for name, args in calls:
        request("tools/call", {"name": name, "arguments": args})
    p.stdin.close()
    p.wait(timeout=600)


def http_session(base, stateless):
    headers = {"content-type": "application/json",
               "accept": "application/json, text/event-stream"}

    def post(msg):
        req = urllib.request.Request(base, data=json.dumps(msg).encode(), headers=headers)
        with urllib.request.urlopen(req, timeout=120) as r:
            if "mcp-session-id" in r.headers:
                headers["mcp-session-id"] = r.headers["mcp-session-id"]
            return r.read()

    if not stateless:
        post({"jsonrpc": "2.0", "id": 0, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "code-order", "version": "0"}}})
        headers["mcp-protocol-version"] = "2025-06-18"
        post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for i in range(1, 6):
        post({"jsonrpc": "2.0", "id": i, "method": "tools/list"})
        post({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
              "params": {"name": "verify_webhook",
                         "arguments": {"body": "{\"id\":\"evt_1\"}", "signature": "AAAA"}}})
        post({"jsonrpc": "2.0", "id": 200 + i, "method": "tools/call",
              "params": {"name": "list_charges", "arguments": {"limit": 2}}})


def wait_port(port, proc):
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("the HTTP server stopped")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the HTTP server did not come up")


def trace(binary, work, tag):
    """Runs the sessions under callgrind; the traces go to work/cg.<tag>.<pid>."""
    grind = ["valgrind", "--tool=callgrind", "--demangle=no",
             f"--callgrind-out-file={work}/cg.{tag}.%p", binary]
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("PINGPP_", "ALIPAY_", "AP_", "ZHIFU_"))}
    calls = [("verify_webhook", {"body": "{\"id\":\"evt_1\"}", "signature": "AAAA"}),
             ("list_charges", {"limit": 0}),
             ("list_charges", {"limit": 3}),
             ("create_charge", {"order_no": "CO20261201001", "channel": "alipay", "amount": 1550,
                                "subject": "Coffee", "body": "Two lattes"}),
             ("query_trade", {"out_trade_no": "CO-NOT-THERE"}),
             ("list_charges", {"limit": 3})]

    # 1. stdio on the embedded sandbox (the default with no credentials).
    env = dict(base_env, ZHIFU_STATE_DIR=os.path.join(work, tag + "-state1"))
    stdio_session(grind, env, calls)

    # 2. the server alone against a sandbox in another process (not traced).
    sandbox = subprocess.Popen([binary, "sandbox", "--listen", "127.0.0.1:0", "--keys-dir",
                                os.path.join(work, tag + "-keys")], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=base_env, text=True)
    settings = {}
    for line in sandbox.stdout:
        if "=" in line and line.split("=", 1)[0].isupper():
            k, v = line.strip().split("=", 1)
            settings[k] = v
        if "ALIPAY_PUBLIC_KEY_PATH" in settings:
            break
    try:
        env = dict(base_env, **settings, ZHIFU_STATE_DIR=os.path.join(work, tag + "-state2"))
        stdio_session(grind, env, calls)
        for n, stateless in enumerate([False, True]):
            port = 18700 + os.getpid() % 1000 + n
            env = dict(base_env, **settings,
                       ZHIFU_STATE_DIR=os.path.join(work, f"{tag}-state-http{n}"))
            args = grind + ["serve", "--http", f"127.0.0.1:{port}"]
            if stateless:
                args.append("--stateless")
            server = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=env)
            try:
                wait_port(port, server)
                http_session(f"http://127.0.0.1:{port}/mcp", stateless)
            finally:
                server.terminate()
                server.wait(timeout=120)
    finally:
        sandbox.kill()
        sandbox.wait()


def functions(binary, traces):
    """The binary's own functions the traces ran, in the order first seen."""
    nm = subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout
    own = {p[2] for p in (l.split() for l in nm.splitlines()) if len(p) == 3 and p[1] in "tTwW"}
    names, seen = [], set()
    for path in traces:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"c?fn=\(\d+\) (.+)", line)
                if not m:
                    continue
                name = re.sub(r"'\d+$", "", m.group(1).strip())
                if name in own and name not in seen:
                    seen.add(name)
                    names.append(name)
    return names


def main():
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed (apt-get install valgrind)")
    work = tempfile.mkdtemp(prefix="zhifu-code-order-")
    builds = [("release", ["cargo", "build", "--release", "--bin", "zhifu-mcp"]),
              ("bench", ["cargo", "bench", "--bench", "perf", "--no-run"])]
    names, seen = [], set()
    for tag, build in builds:
        subprocess.run(build, cwd=ROOT, check=True)
        binary = os.path.join(work, f"zhifu-mcp-{tag}")
        shutil.copy2(BUILT, binary)
        trace(binary, work, tag)
        found = functions(binary, sorted(glob.glob(os.path.join(work, f"cg.{tag}.*"))))
        print(f"{tag} binary: {len(found)} functions run")
        for name in found:
            if name not in seen:
                seen.add(name)
                names.append(name)
    with open(OUT, "w") as f:
        f.write("\n".join(names) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"{OUT}: {len(names)} functions; build again to use them: "
          "cargo build --release --bin zhifu-mcp")


if __name__ == "__main__":
    sys.exit(main())
