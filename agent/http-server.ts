/**
 * The agent's HTTP endpoint: `GET /metrics` (Prometheus text) and
 * `GET /healthz` (200 or 503 with a JSON body naming each failing condition).
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Health } from './health.js';

/** Starts listening on `host:port`; resolves with the server and the bound port. */
export async function startHttpServer(listen: string, registry: Registry, health: () => Health): Promise<{ server: Server; port: number }> {
  const cut = listen.lastIndexOf(':');
  const host = listen.slice(0, cut).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(cut + 1));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const h = health();
      res.writeHead(h.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h, null, 2) + '\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('walcast agent: try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
