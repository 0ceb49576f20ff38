/**
 * Chat server: one HTTP server serves the page at `/` and the chat WebSocket at `/chat`; with
 * `--observe`, also the wsactor live view at `/_wsactor` and Prometheus metrics at `/metrics`.
 * Safe by default: it listens on 127.0.0.1 and shows no internals unless told otherwise.
 *
 * Run: npm start                      (port from $PORT, default 1337; host from $HOST, default 127.0.0.1)
 *      npm start -- --port 8080 --host 0.0.0.0      (reachable from the network)
 *      npm start -- --observe                       (live view and metrics; OBSERVE=1 does the same)
 *      npm start -- --lifecycle-log lifecycle.jsonl (every lifecycle transition, one JSON line each)
 */
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closeHttp, listenHttp, parsePort, shownHost } from '../http.js';
import { runIfEntryPoint, stopOnSignals } from '../run-main.js';
import { createLiveView, createMetrics, createServer, jsonLinesWriter } from '../../src/index.js';
import { ChatApp } from './app.js';

const here = dirname(fileURLToPath(import.meta.url));
const INDEX_HTML = join(here, 'public', 'index.html');
const FAVICON_SVG = join(here, 'public', 'favicon.svg');
const DEFAULT_PORT = 1337;
const DEFAULT_HOST = '127.0.0.1';
/** Frames above this close the client with 1009; the app itself answers text above 4 KiB (UTF-8 bytes) with an error. */
const MAX_PAYLOAD = 64 * 1024;

export interface ChatServerOptions {
  port: number;
  host: string;
  app?: ChatApp;
  /** Serve the live view at `/_wsactor` and metrics at `/metrics` (they show every client's counters). Default: false. */
  observe?: boolean;
  /** Append every lifecycle transition to this file as JSON lines. Default: none. */
  lifecycleLog?: string;
}

export interface RunningChatServer {
  /** The port actually bound (differs from the requested one when that was 0). */
  readonly port: number;
  readonly http: HttpServer;
  /** Pathname of the live view, or null when `observe` is off. */
  readonly liveViewPath: string | null;
  /** Stops the WebSocket server (clients get 1001), then closes the HTTP server. */
  stop(): Promise<void>;
}

/** Starts the page and the chat socket on one HTTP server. Rejects, leaving nothing running, on failure. */
export async function startChatServer({ port, host, app = new ChatApp(), observe = false, lifecycleLog }: ChatServerOptions): Promise<RunningChatServer> {
  const page = await readFile(INDEX_HTML);
  const icon = await readFile(FAVICON_SVG);
  const http = createHttpServer();
  http.on('clientError', (_error, socket) => socket.destroy());
  const chat = createServer(app, { server: http, path: '/chat', maxPayload: MAX_PAYLOAD });
  const log = lifecycleLog === undefined ? null : jsonLinesWriter(lifecycleLog);
  if (log !== null) chat.lifecycle.subscribe(log.listener);
  const view = observe ? createLiveView(chat) : null;
  const metrics = observe ? createMetrics(chat) : null;
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (view?.handle(req, res) || metrics?.handle(req, res)) return;
    servePage(page, icon, req, res);
  });
  const detach = async (): Promise<void> => {
    metrics?.close();
    await view?.close();
    await log?.close();
  };

  // Listen first, so a busy port fails before the app ever starts (and no onStop runs).
  try {
    await listenHttp(http, port, host);
  } catch (error) {
    await detach();
    throw error;
  }
  try {
    await chat.start();
  } catch (error) {
    await detach();
    await closeHttp(http);
    throw error;
  }
  http.on('error', (error) => console.error('http server error', error));

  const address = http.address();
  return {
    port: address !== null && typeof address === 'object' ? address.port : port,
    http,
    liveViewPath: view === null ? null : '/_wsactor',
    async stop() {
      await chat.stop();
      await detach();
      await closeHttp(http);
    },
  };
}

/** The page at `/`; its icon at `/favicon.svg`, and at `/favicon.ico` for browsers that ask for that anyway. */
function servePage(page: Buffer, icon: Buffer, req: IncomingMessage, res: ServerResponse): void {
  res.on('error', () => undefined);
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  if (pathname === '/chat') {
    // A plain request to the socket path; upgrades never reach this handler.
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' }).end('Upgrade Required');
    return;
  }
  const isIcon = pathname === '/favicon.svg' || pathname === '/favicon.ico';
  if (pathname !== '/' && pathname !== '/index.html' && !isIcon) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' }).end('Method Not Allowed');
    return;
  }
  const body = isIcon ? icon : page;
  res.writeHead(200, {
    'Content-Type': isIcon ? 'image/svg+xml' : 'text/html; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': isIcon ? 'max-age=86400' : 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function listenFailure(error: unknown, host: string, port: number): string | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') return `Port ${port} is already in use on ${host}. Stop the other process, or pick another port with PORT=N or --port N.`;
  if (code === 'EACCES') return `Permission denied to listen on ${host}:${port}. Pick a port above 1023 with PORT=N or --port N.`;
  if (code === 'EADDRNOTAVAIL') return `Cannot listen on ${host}: address not available on this machine.`;
  return null;
}

async function main(): Promise<void> {
  let values: { port?: string | undefined; host?: string | undefined; observe?: boolean | undefined; 'lifecycle-log'?: string | undefined };
  try {
    ({ values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, observe: { type: 'boolean' }, 'lifecycle-log': { type: 'string' } } }));
  } catch (error) {
    console.error(`${(error as Error).message}\nUsage: tsx examples/chat/server.ts [--port N] [--host ADDRESS] [--observe] [--lifecycle-log FILE]`);
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

  let running: RunningChatServer;
  try {
    const observe = values.observe === true || process.env.OBSERVE === '1';
    running = await startChatServer({ port, host, observe, lifecycleLog: values['lifecycle-log'] });
  } catch (error) {
    const message = listenFailure(error, host, port);
    if (message === null) console.error('wsactor chat failed to start:', error);
    else console.error(`wsactor chat failed to start: ${message}`);
    process.exit(1);
  }
  const shown = shownHost(host);
  console.log(`wsactor chat running at http://${shown}:${running.port} (listening on ${host})`);
  if (running.liveViewPath !== null) console.log(`wsactor live view at http://${shown}:${running.port}${running.liveViewPath}, metrics at /metrics`);
  if (values['lifecycle-log'] !== undefined) console.log(`lifecycle log: ${values['lifecycle-log']}`);

  stopOnSignals(running);
}

runIfEntryPoint(import.meta.url, main);
