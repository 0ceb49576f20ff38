/**
 * Rock-paper-scissors lobby: each client is a player machine (machine.ts) that goes naming →
 * lobby → room, plays rounds against the other player of its room, and leaves. One HTTP
 * server serves the page at `/` and the game's WebSocket at `/play`; with `--observe`, also
 * the wsactor live view at `/_wsactor` (each client's machine state in its row).
 *
 * Run: npm run lobby                  (port from $PORT, default 1338; host from $HOST, default 127.0.0.1)
 *      npm run lobby -- --port 8080 --host 0.0.0.0   (reachable from the network)
 *      npm run lobby -- --observe                    (live view; OBSERVE=1 does the same)
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closeHttp, listenHttp, parsePort, shownHost } from '../http.js';
import { runIfEntryPoint, stopOnSignals } from '../run-main.js';
import { createLiveView, createServer, type WsActorServer } from '../../src/index.js';
import { LobbyApp } from './app.js';
import { MAX_MESSAGE_BYTES } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const INDEX_HTML = join(here, 'public', 'index.html');
const DEFAULT_PORT = 1338;
const DEFAULT_HOST = '127.0.0.1';
/** The WebSocket's path. */
export const PLAY_PATH = '/play';

export interface LobbyServerOptions {
  /** 0 picks a free port. */
  port: number;
  host: string;
  app?: LobbyApp;
  /** Serve the live view at `/_wsactor`. Default: false. */
  observe?: boolean;
}

export interface RunningLobby {
  /** The port actually bound. */
  readonly port: number;
  /** `http://host:port/` (the page; the socket is at `/play`). */
  readonly url: string;
  readonly app: LobbyApp;
  /** The wsactor server (its `endpoint.getLocalInfo(id).machine_state` shows each player's state). */
  readonly server: WsActorServer;
  readonly http: HttpServer;
  /** Stops the WebSocket server (players get 1001), then closes the HTTP server. */
  stop(): Promise<void>;
}

/** Starts the page and the game socket on one HTTP server. Rejects, leaving nothing running, on failure. */
export async function startLobby({ port, host, app = new LobbyApp(), observe = false }: LobbyServerOptions): Promise<RunningLobby> {
  const page = await readFile(INDEX_HTML);
  const csp = contentSecurityPolicy(page.toString('utf8'));
  const http = createHttpServer();
  http.on('clientError', (_error, socket) => socket.destroy());
  // Text only; anything past a few KB is not a lobby message (the decoder refuses > 2 KB, ws closes > 4 KB with 1009).
  const server = createServer(app, { server: http, path: PLAY_PATH, maxPayload: 2 * MAX_MESSAGE_BYTES, textOnly: true });
  const view = observe ? createLiveView(server) : null;
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (view?.handle(req, res)) return;
    servePage(page, csp, req, res);
  });

  try {
    await listenHttp(http, port, host);
  } catch (error) {
    await view?.close();
    throw error;
  }
  try {
    await server.start();
  } catch (error) {
    await view?.close();
    await closeHttp(http);
    throw error;
  }
  http.on('error', (error) => console.error('http server error', error));

  const address = http.address();
  const bound = address !== null && typeof address === 'object' ? address.port : port;
  return {
    port: bound,
    url: `http://${shownHost(host)}:${bound}/`,
    app,
    server,
    http,
    async stop() {
      await server.stop();
      await view?.close();
      await closeHttp(http);
    },
  };
}

/** Only the page's own inline script and style may run; it may connect to its own origin. */
function contentSecurityPolicy(html: string): string {
  const hashes = (tag: string): string =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => `'sha256-${createHash('sha256').update(m[1] ?? '').digest('base64')}'`).join(' ');
  return [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function servePage(page: Buffer, csp: string, req: IncomingMessage, res: ServerResponse): void {
  res.on('error', () => undefined);
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  if (pathname === PLAY_PATH) {
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' }).end('Upgrade Required');
    return;
  }
  if (pathname !== '/' && pathname !== '/index.html') {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' }).end('Method Not Allowed');
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': page.length,
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : page);
}

async function main(): Promise<void> {
  let values: { port?: string | undefined; host?: string | undefined; observe?: boolean | undefined };
  try {
    ({ values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, observe: { type: 'boolean' } } }));
  } catch (error) {
    console.error(`${(error as Error).message}\nUsage: tsx examples/lobby/server.ts [--port N] [--host ADDRESS] [--observe]`);
    process.exit(1);
  }
  let port: number;
  try {
    port = values.port !== undefined ? parsePort(values.port, '--port', DEFAULT_PORT) : parsePort(process.env.PORT, 'PORT', DEFAULT_PORT);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
  const host = values.host ?? (process.env.HOST || DEFAULT_HOST);
  const observe = values.observe === true || process.env.OBSERVE === '1';

  let running: RunningLobby;
  try {
    running = await startLobby({ port, host, observe });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | null)?.code;
    const why = code === 'EADDRINUSE' ? `port ${port} is already in use on ${host}; pick another with PORT=N or --port N` : error;
    console.error('wsactor lobby failed to start:', why);
    process.exit(1);
  }
  console.log(`wsactor lobby running at ${running.url} (listening on ${host})`);
  if (observe) console.log(`wsactor live view at ${running.url}_wsactor`);

  stopOnSignals(running);
}

runIfEntryPoint(import.meta.url, main);
