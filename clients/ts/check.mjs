// Drives the real zhifu-mcp binary with the official MCP TypeScript SDK client (pinned in
// clients/package.json) over stdio, Streamable HTTP with sessions and stateless Streamable HTTP,
// on the embedded sandbox. The SDK validates structuredContent against each tool's outputSchema,
// so a result that breaks its schema shows up here as a thrown error.
//
// Usage: node clients/ts/check.mjs   (ZHIFU_MCP_BIN: the binary, default target/debug/zhifu-mcp)
// Prints one line per check and ends with "N passed, N failed"; exits 1 on any failure.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const BIN = resolve(process.env.ZHIFU_MCP_BIN ?? 'target/debug/zhifu-mcp');
const scratch = mkdtempSync(join(tmpdir(), 'zhifu-ts-client-'));
let passed = 0;
let failed = 0;
let serial = 0;

function check(name, ok, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
}

/** Runs `body`; a throw is a failed check named `name` (the SDK throws on schema violations). */
async function step(name, body) {
  try {
    await body();
  } catch (e) {
    check(name, false, `threw ${e?.constructor?.name}: ${e?.message}`);
  }
}

/** The environment of a server: no provider settings (so the embedded sandbox runs), fresh state. */
function serverEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(PINGPP_|ALIPAY_|AP_|ZHIFU_)/.test(k)) env[k] = v;
  }
  serial += 1;
  return { ...env, RUST_LOG: 'warn', ZHIFU_STATE_DIR: join(scratch, `state-${serial}`), ...extra };
}

/** `zhifu-mcp serve --http 127.0.0.1:0 [--stateless]`; resolves with its URL once it listens. */
function startHttp(env, stateless) {
  const args = ['serve', '--http', '127.0.0.1:0', ...(stateless ? ['--stateless'] : [])];
  const child = spawn(BIN, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not listen within 60 s')), 60_000);
    const lines = createInterface({ input: child.stderr });
    lines.on('line', (line) => {
      const m = /^zhifu-mcp: listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveUrl({ url: m[1], stop: () => child.kill() });
      }
    });
    child.on('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
}

/**
 * A connected client on `transport` ('stdio' | 'http' | 'stateless'); `answer` ('accept' |
 * 'decline'), when given, declares elicitation and answers every prompt that way.
 */
async function connect(transport, extraEnv, answer) {
  const env = serverEnv(extraEnv);
  const capabilities = answer ? { elicitation: { form: {} } } : {};
  const client = new Client({ name: 'zhifu-ts-check', version: '0.0.0' }, { capabilities });
  const prompts = [];
  if (answer) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      prompts.push(request.params.message);
      return answer === 'accept' ? { action: 'accept', content: { confirm: true } } : { action: 'decline' };
    });
  }
  let stop = () => {};
  if (transport === 'stdio') {
    await client.connect(new StdioClientTransport({ command: BIN, args: ['serve'], env, stderr: 'ignore' }));
  } else {
    const server = await startHttp(env, transport === 'stateless');
    stop = server.stop;
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  }
  return {
    client,
    prompts,
    close: async () => {
      await client.close().catch(() => {});
      stop();
    },
  };
}

const unique = (tag) => `${tag}${Date.now()}${Math.floor(Math.random() * 1e6)}`;
const charge = (amount) => ({
  order_no: unique('TS'),
  channel: 'alipay',
  amount,
  subject: 'Premium plan',
  body: 'One month of the premium plan',
  client_ip: '127.0.0.1',
});

/** The error object of an error result: the JSON text block after the human line. */
function errorOf(result) {
  const text = result.content?.find((c, i) => i > 0 && c.type === 'text')?.text;
  return JSON.parse(text ?? '{}').error ?? {};
}

/** Tools, a read, a money move, bad arguments and policy refusals, as one client sees them. */
async function everyday(transport) {
  const t = `[${transport}]`;
  const policy = { ZHIFU_PINGPP_MAX_PER_CALL_YUAN: '100', ZHIFU_DENY_TOOLS: 'create_customer' };
  const { client, close } = await connect(transport, policy);
  try {
    await step(`${t} tools/list`, async () => {
      const { tools } = await client.listTools();
      check(`${t} tools/list returns tools`, tools.length > 20, `${tools.length} tools`);
      const combinators = tools.filter((tool) =>
        ['allOf', 'anyOf', 'oneOf'].some((k) => k in tool.inputSchema),
      );
      check(
        `${t} no inputSchema has a root allOf/anyOf/oneOf`,
        combinators.length === 0,
        combinators.map((tool) => tool.name).join(', '),
      );
      check(`${t} every tool has an outputSchema`, tools.every((tool) => tool.outputSchema?.type === 'object'));
    });
    await step(`${t} read tool`, async () => {
      const r = await client.callTool({ name: 'list_charges', arguments: { limit: 2 } });
      check(`${t} list_charges succeeds and validates`, !r.isError && r.structuredContent?.object === 'list');
    });
    await step(`${t} money-moving tool`, async () => {
      const r = await client.callTool({ name: 'create_charge', arguments: charge(990) });
      check(
        `${t} create_charge succeeds and validates`,
        !r.isError && r.structuredContent?.id?.startsWith('ch_'),
        JSON.stringify(r.content?.[0]),
      );
    });
    await step(`${t} bad arguments`, async () => {
      const r = await client.callTool({ name: 'list_charges', arguments: { limit: 0 } });
      const e = errorOf(r);
      check(
        `${t} bad arguments come back as an error result with the server's message`,
        r.isError === true && r.structuredContent === undefined && e.kind === 'invalid_arguments' &&
          e.field === 'limit' && r.content[0].text.includes('limit'),
        JSON.stringify(r),
      );
    });
    await step(`${t} policy refusal`, async () => {
      const r = await client.callTool({ name: 'create_charge', arguments: charge(20000) });
      const e = errorOf(r);
      check(
        `${t} a per-call limit refusal comes back as an error result`,
        r.isError === true && e.kind === 'policy_refused' && r.content[0].text.includes('ZHIFU_PINGPP_MAX_PER_CALL_YUAN'),
        JSON.stringify(r),
      );
    });
    await step(`${t} denied tool`, async () => {
      const r = await client.callTool({
        name: 'create_customer',
        arguments: { email: 'buyer@example.com' },
      });
      check(
        `${t} a denied tool comes back as an error result`,
        r.isError === true && errorOf(r).kind === 'policy_refused',
        JSON.stringify(r),
      );
    });
  } finally {
    await close();
  }
}

/** ZHIFU_CONFIRM=always: accept, decline, and (stateless) the refusal naming the transport. */
async function confirmation(transport) {
  const t = `[${transport}]`;
  for (const answer of ['accept', 'decline']) {
    const { client, prompts, close } = await connect(transport, { ZHIFU_CONFIRM: 'always' }, answer);
    try {
      await step(`${t} confirmation (${answer})`, async () => {
        await client.listTools();
        const r = await client.callTool({ name: 'create_charge', arguments: charge(1234) });
        if (transport === 'stateless') {
          check(
            `${t} ${answer}: refused, naming the transport`,
            r.isError === true && errorOf(r).kind === 'not_confirmed' &&
              r.content[0].text.includes('stateless Streamable HTTP') && prompts.length === 0,
            JSON.stringify(r.content?.[0]),
          );
        } else if (answer === 'accept') {
          check(
            `${t} accepted: the call goes through`,
            !r.isError && r.structuredContent?.id?.startsWith('ch_') && prompts.length === 1 &&
              prompts[0].includes('¥12.34'),
            JSON.stringify(r.content?.[0]),
          );
        } else {
          check(
            `${t} declined: refused`,
            r.isError === true && errorOf(r).kind === 'not_confirmed' && prompts.length === 1,
            JSON.stringify(r.content?.[0]),
          );
        }
      });
    } finally {
      await close();
    }
  }
}

try {
  for (const transport of ['stdio', 'http', 'stateless']) {
    await everyday(transport);
    await confirmation(transport);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`typescript: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
