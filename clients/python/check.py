"""Drives the real zhifu-mcp binary with the official MCP Python SDK client (`mcp`, pinned in
clients/python/requirements.txt) over stdio, Streamable HTTP with sessions and stateless
Streamable HTTP, on the embedded sandbox, in both lifecycles the SDK speaks: `legacy` (the
2025-11-25 initialize handshake) and `auto` (2026-07-28 per-request when the server offers it).

Usage: python clients/python/check.py   (ZHIFU_MCP_BIN: the binary, default target/debug/zhifu-mcp)
Prints one line per check and ends with "python: N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

BIN = os.path.abspath(os.environ.get("ZHIFU_MCP_BIN", "target/debug/zhifu-mcp"))
SCRATCH = tempfile.mkdtemp(prefix="zhifu-py-client-")
RESULTS = {"passed": 0, "failed": 0}


def check(name: str, ok: bool, detail: str = "") -> None:
    RESULTS["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok or not detail else ': ' + detail[:400]}", flush=True)


@contextlib.asynccontextmanager
async def step(name: str) -> AsyncIterator[None]:
    """A throw inside is a failed check named `name` (the SDK raises on schema violations)."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
        check(name, False, f"raised {type(e).__name__}: {e}")


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """No provider settings (so the embedded sandbox runs), fresh state, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not re.match(r"^(PINGPP_|ALIPAY_|AP_|ZHIFU_)", k)}
    env.update(RUST_LOG="warn", ZHIFU_STATE_DIR=tempfile.mkdtemp(dir=SCRATCH), **extra)
    return env


@contextlib.asynccontextmanager
async def http_server(env: dict[str, str], stateless: bool) -> AsyncIterator[str]:
    """`zhifu-mcp serve --http 127.0.0.1:0 [--stateless]`; yields its URL once it listens."""
    args = ["serve", "--http", "127.0.0.1:0"] + (["--stateless"] if stateless else [])
    proc = await asyncio.create_subprocess_exec(
        BIN, *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = await asyncio.wait_for(listening_url(proc), timeout=60)
        drain = asyncio.create_task(proc.stderr.read())  # keep the pipe from filling
        yield url
        drain.cancel()
    finally:
        proc.kill()
        await proc.wait()


async def listening_url(proc: asyncio.subprocess.Process) -> str:
    while line := await proc.stderr.readline():
        m = re.match(rb"zhifu-mcp: listening on (\S+)", line)
        if m:
            return m.group(1).decode()
    raise RuntimeError("the server exited before listening")


@contextlib.asynccontextmanager
async def connect(transport: str, mode: str, extra_env: dict[str, str], answer: str | None = None):
    """A connected client; `answer` ('accept'/'decline') declares elicitation and answers so."""
    env = server_env(extra_env)
    prompts: list[str] = []

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        prompts.append(params.message)
        if answer == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    callback = elicit if answer else None
    async with contextlib.AsyncExitStack() as stack:
        if transport == "stdio":
            devnull = stack.enter_context(open(os.devnull, "w"))
            params = StdioServerParameters(command=BIN, args=["serve"], env=env)
            server: Any = stdio_client(params, errlog=devnull)
        else:
            url = await stack.enter_async_context(http_server(env, transport == "stateless"))
            server = streamable_http_client(url)
        client = await stack.enter_async_context(
            Client(server, mode=mode, elicitation_callback=callback, read_timeout_seconds=60)
        )
        yield client, prompts


def unique(tag: str) -> str:
    return f"{tag}{secrets.token_hex(6)}"


def charge(amount: int) -> dict[str, Any]:
    return {
        "order_no": unique("PY"),
        "channel": "alipay",
        "amount": amount,
        "subject": "Premium plan",
        "body": "One month of the premium plan",
        "client_ip": "127.0.0.1",
    }


def texts(result: types.CallToolResult) -> list[str]:
    return [c.text for c in result.content if isinstance(c, types.TextContent)]


def error_of(result: types.CallToolResult) -> dict[str, Any]:
    """The error object: the JSON text block after the human line."""
    blocks = texts(result)
    return json.loads(blocks[1]).get("error", {}) if len(blocks) > 1 else {}


def dump(result: types.CallToolResult) -> str:
    return result.model_dump_json(exclude_none=True)


async def everyday(transport: str, mode: str) -> None:
    t = f"[{transport}, {mode}]"
    policy = {"ZHIFU_PINGPP_MAX_PER_CALL_YUAN": "100"}
    async with connect(transport, mode, policy) as (client, _):
        expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
        check(f"{t} speaks {expected}", client.protocol_version == expected, client.protocol_version)
        async with step(f"{t} tools/list"):
            tools = (await client.list_tools()).tools
            check(f"{t} tools/list returns tools", len(tools) > 20, f"{len(tools)} tools")
            rooted = [x.name for x in tools if {"allOf", "anyOf", "oneOf"} & set(x.input_schema)]
            check(f"{t} no inputSchema has a root allOf/anyOf/oneOf", not rooted, ", ".join(rooted))
        async with step(f"{t} read tool"):
            r = await client.call_tool("list_charges", {"limit": 2})
            ok = not r.is_error and (r.structured_content or {}).get("object") == "list"
            check(f"{t} list_charges succeeds and validates", ok, dump(r))
        async with step(f"{t} money-moving tool"):
            r = await client.call_tool("create_charge", charge(990))
            ok = not r.is_error and str((r.structured_content or {}).get("id", "")).startswith("ch_")
            check(f"{t} create_charge succeeds and validates", ok, dump(r))
        async with step(f"{t} bad arguments"):
            r = await client.call_tool("list_charges", {"limit": 0})
            e = error_of(r)
            ok = r.is_error and r.structured_content is None and e.get("kind") == "invalid_arguments"
            check(f"{t} bad arguments come back as an error result", ok and e.get("field") == "limit", dump(r))
        async with step(f"{t} policy refusal"):
            r = await client.call_tool("create_charge", charge(20000))
            ok = r.is_error and error_of(r).get("kind") == "policy_refused"
            ok = ok and "ZHIFU_PINGPP_MAX_PER_CALL_YUAN" in texts(r)[0]
            check(f"{t} a per-call limit refusal comes back as an error result", ok, dump(r))


async def confirmation(transport: str, mode: str) -> None:
    """ZHIFU_CONFIRM=always with a user who accepts. 2026-07-28 confirms on every transport
    (input_required); 2025-11-25 confirms over stdio and HTTP sessions and is refused, naming the
    transport, over stateless HTTP."""
    t = f"[{transport}, {mode}]"
    async with connect(transport, mode, {"ZHIFU_CONFIRM": "always"}, "accept") as (client, prompts):
        async with step(f"{t} confirmation"):
            await client.list_tools()
            r = await client.call_tool("create_charge", charge(1234))
            if mode == "legacy" and transport == "stateless":
                ok = r.is_error and "stateless Streamable HTTP" in texts(r)[0] and not prompts
                check(f"{t} refused, naming the transport", ok, dump(r))
            else:
                ok = not r.is_error and len(prompts) == 1 and "¥12.34" in prompts[0]
                check(f"{t} accepted: the call goes through", ok, dump(r))


async def main() -> int:
    try:
        for transport in ("stdio", "http", "stateless"):
            for mode in ("legacy", "auto"):
                await everyday(transport, mode)
                await confirmation(transport, mode)
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
    print(f"python: {RESULTS['passed']} passed, {RESULTS['failed']} failed", flush=True)
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
