// The peer in `cargo bench --bench perf -- peers`: a one-tool MCP server on the official TypeScript
// SDK (the version clients/package-lock.json pins), written the way the SDK's own examples write one,
// so zhifu-mcp is compared with what a Node user would run. The bench copies this file next to its
// own `npm ci` of that lock (target/perf-peer/) and drives it like zhifu-mcp.
//
// Its one tool, `verify_webhook`, takes the same arguments as zhifu-mcp's and answers
// `{valid: false}` without work, so every figure is the SDK's own cost.
//
// Usage: node peer-server.mjs stdio
//        node peer-server.mjs http PORT             Streamable HTTP with sessions (SSE answers)
//        node peer-server.mjs http-stateless PORT   no sessions, a server per request, JSON answers
// The HTTP modes print "listening PORT" on stdout once bound (PORT 0 = any free port).

import { randomUUID } from 'node:crypto';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';

function newServer() {
  const server = new McpServer({ name: 'node-peer', version: '0.0.0' });
  server.registerTool(
    'verify_webhook',
    {
      description: 'Answers valid: false (a benchmark peer).',
      inputSchema: { body: z.string(), signature: z.string() },
      outputSchema: { valid: z.boolean() },
    },
    async () => ({
      content: [{ type: 'text', text: '{"valid":false}' }],
      structuredContent: { valid: false },
    }),
  );
  return server;
}

const [mode, portArg] = process.argv.slice(2);

if (mode === 'stdio') {
  await newServer().connect(new StdioServerTransport());
} else if (mode === 'http' || mode === 'http-stateless') {
  const app = createMcpExpressApp();
  const sessions = new Map();
  app.post('/mcp', async (req, res) => {
    if (mode === 'http-stateless') {
      const server = newServer();
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      res.on('close', () => {
        transport.close();
        server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
      return;
    }
    const id = req.headers['mcp-session-id'];
    const known = id && sessions.get(id);
    if (known) {
      await known.handleRequest(req, res, req.body);
    } else if (!id && isInitializeRequest(req.body)) {
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => sessions.set(sid, transport),
      });
      transport.onclose = () => sessions.delete(transport.sessionId);
      await newServer().connect(transport);
      await transport.handleRequest(req, res, req.body);
    } else {
      res.status(id ? 404 : 400).json({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'no such session' },
        id: null,
      });
    }
  });
  const listener = app.listen(Number(portArg ?? 0), '127.0.0.1', () => {
    console.log(`listening ${listener.address().port}`);
  });
} else {
  console.error('usage: node peer-server.mjs stdio | http PORT | http-stateless PORT');
  process.exit(2);
}
