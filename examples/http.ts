/** What the example servers with a web page share about their HTTP server and its address. */
import type { Server } from 'node:http';

/** Listens; rejects with the listen error (EADDRINUSE, ...) instead of emitting it. */
export function listenHttp(http: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
}

/** Closes the server and every connection it still holds (keep-alive ones too). */
export function closeHttp(http: Server): Promise<void> {
  return new Promise((resolve) => {
    http.close(() => resolve());
    http.closeAllConnections();
  });
}

/** A port from `--port` or `$PORT` (`source` names which), else `fallback`; throws on anything that is not 0-65535. */
export function parsePort(value: string | undefined, source: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(port) || port > 65535) throw new Error(`Invalid port ${JSON.stringify(value)} from ${source}: expected 0-65535`);
  return port;
}

/** The host as a browser URL names it: `localhost` for a wildcard address, IPv6 in brackets. */
export function shownHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
