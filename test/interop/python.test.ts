/**
 * Interoperability with two independent Python client implementations, run as Debian's
 * `/usr/bin/python3` (packages python3-websockets and python3-wsproto, installed by
 * `npm run setup`):
 *   - test/interop/clients/websockets_client.py: the asyncio `websockets` library;
 *   - test/interop/clients/wsproto_client.py: the sans-IO `wsproto` library over a socket.
 * Each script runs its scenarios against one wsactor server (127.0.0.1, port 0) and prints
 * one JSON line of what it saw; these tests assert on that AND on the server's hook trace.
 */
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientInfo, Endpoint, HandshakeRequest, Message, Websocket } from '../../src/index.js';
import { startServer, waitFor, type StartedServer } from '../helpers/harness.js';
import { echoOrClose } from '../helpers/interop-app.js';

const PYTHON = '/usr/bin/python3';
const CLIENTS = fileURLToPath(new URL('./clients/', import.meta.url));
const MiB = 1024 * 1024;

/** Fails (never skips) with what to do when Debian's python3 lacks a module. */
function requirePythonModules(modules: readonly string[]): void {
  const run = spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8', timeout: 15_000 });
  if (run.error !== undefined || run.status !== 0) {
    const why = run.error?.message ?? run.stderr.trim().split('\n').pop() ?? `exit ${String(run.status)}`;
    throw new Error(
      `${PYTHON} cannot import ${modules.join(', ')} (${why}). ` +
        'Run `npm run setup` (it installs the Debian packages python3-websockets and python3-wsproto).',
    );
  }
}

/** Runs a client script and parses the one JSON line it prints. */
function runClient(script: string, arg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [`${CLIENTS}${script}`, arg],
      { timeout: 40_000, maxBuffer: 16 * MiB, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        if (error !== null) {
          reject(new Error(`${script} failed: ${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
          return;
        }
        try {
          resolve(JSON.parse(line) as Record<string, unknown>);
        } catch {
          reject(new Error(`${script} printed no JSON line\nstdout: ${stdout}\nstderr: ${stderr}`));
        }
      },
    );
  });
}

// ---- the server side: an echo app that records every hook call ----------------------------

interface Label {
  readonly client: string;
  readonly case: string;
  /** What the client offered in Sec-WebSocket-Extensions. */
  readonly offeredExtensions: string | undefined;
}

type TraceEntry =
  | { readonly hook: 'onStart' | 'onStop' }
  | { readonly hook: 'onHandshake'; readonly label: Label }
  | { readonly hook: 'onOpen'; readonly id: number; readonly label: Label }
  | { readonly hook: 'onData'; readonly id: number; readonly binary: boolean; readonly size: number }
  | {
      readonly hook: 'onClose';
      readonly id: number;
      readonly code: number;
      readonly reason: string;
      readonly info: ClientInfo | undefined;
    };

/**
 * Echoes text as text and binary as binary; the text command `close:CODE:REASON` makes the
 * server close that client with CODE and REASON.
 */
class InteropApp implements Websocket<Label> {
  readonly trace: TraceEntry[] = [];
  #endpoint: Endpoint | null = null;

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
    this.trace.push({ hook: 'onStart' });
  }

  onHandshake(request: HandshakeRequest): Label {
    const extensions = request.headers['sec-websocket-extensions'];
    const label: Label = {
      client: request.query.get('client') ?? '?',
      case: request.query.get('case') ?? '?',
      offeredExtensions: Array.isArray(extensions) ? extensions.join(', ') : extensions,
    };
    this.trace.push({ hook: 'onHandshake', label });
    return label;
  }

  onOpen(id: number, label: Label): void {
    this.trace.push({ hook: 'onOpen', id, label });
  }

  async onData(id: number, message: Message): Promise<void> {
    const endpoint = this.#endpoint as Endpoint;
    this.trace.push({ hook: 'onData', id, binary: message.isBinary, size: message.size });
    await echoOrClose(endpoint, id, message);
  }

  onClose(id: number, code: number, reason: string): void {
    this.trace.push({ hook: 'onClose', id, code, reason, info: this.#endpoint?.getLocalInfo(id) });
  }

  onStop(): void {
    this.trace.push({ hook: 'onStop' });
  }

  /** The connection the client labelled `client`/`caseName`: its id and its hook calls. */
  connection(client: string, caseName: string) {
    const opens = this.trace.filter(
      (e): e is Extract<TraceEntry, { hook: 'onOpen' }> =>
        e.hook === 'onOpen' && e.label.client === client && e.label.case === caseName,
    );
    expect(opens, `one onOpen for ${client}/${caseName}`).toHaveLength(1);
    const open = opens[0] as Extract<TraceEntry, { hook: 'onOpen' }>;
    const mine = this.trace.filter((e) => 'id' in e && e.id === open.id);
    const data = mine.filter((e): e is Extract<TraceEntry, { hook: 'onData' }> => e.hook === 'onData');
    const closes = mine.filter((e): e is Extract<TraceEntry, { hook: 'onClose' }> => e.hook === 'onClose');
    return { id: open.id, label: open.label, hooks: mine.map((e) => e.hook), data, closes };
  }

  /** Every client that got onOpen got its onClose. */
  allClosed(): boolean {
    const opened = this.trace.filter((e) => e.hook === 'onOpen').length;
    return opened > 0 && this.trace.filter((e) => e.hook === 'onClose').length === opened;
  }
}

/** What the scripts report for one message sent and echoed back. */
const roundtripOf = (type: 'text' | 'binary', length: number) => ({
  sentType: type,
  receivedType: type,
  sentLength: length,
  receivedLength: length,
  same: true,
});

async function startInteropServer(): Promise<{ app: InteropApp; started: StartedServer<Label> }> {
  const app = new InteropApp();
  const started = await startServer(app, {
    maxPayload: 2 * MiB,
    maxFrameSize: 2 * MiB,
    perMessageDeflate: true,
  });
  return { app, started };
}

describe('python websockets (asyncio) client', () => {
  let app: InteropApp;
  let started: StartedServer<Label>;
  let report: Record<string, Record<string, unknown>>;

  let setupError: Error | null = null;
  /** Setup failures (e.g. a missing python module) fail every test with their message. */
  const ready = (): void => {
    if (setupError !== null) throw setupError;
  };

  beforeAll(async () => {
    try {
      requirePythonModules(['websockets.client', 'websockets.exceptions']);
      ({ app, started } = await startInteropServer());
      report = (await runClient('websockets_client.py', started.url)) as typeof report;
      await waitFor(() => app.allClosed(), 5000, 'every onClose');
    } catch (error) {
      setupError = error instanceof Error ? error : new Error(String(error));
    }
  }, 60_000);

  afterAll(async () => {
    await started?.server.stop();
  });

  it('ran every scenario without a client-side exception', () => {
    ready();
    for (const name of ['echo', 'serverClose', 'deflate', 'parallel']) {
      expect(report[name], name).toBeDefined();
      expect(report[name], `${name}: ${String(report[name]?.trace)}`).not.toHaveProperty('error');
    }
  });

  it('echoes text as text and binary as binary, empty ones too', () => {
    ready();
    const echo = report.echo as Record<string, unknown>;
    expect(echo.extensions).toEqual([]); // this connection opted out of compression
    expect(echo.text).toMatchObject({ sentType: 'text', receivedType: 'text', same: true });
    expect(echo.binary).toEqual(roundtripOf('binary', 256));
    expect(echo.emptyText).toEqual(roundtripOf('text', 0));
    expect(echo.emptyBinary).toEqual(roundtripOf('binary', 0));
    expect(echo.afterPing).toEqual(roundtripOf('text', 10));
  });

  it('round-trips large (500 KB) text and binary messages', () => {
    ready();
    const echo = report.echo as Record<string, unknown>;
    expect(echo.largeText).toEqual(roundtripOf('text', 500_000));
    expect(echo.largeBinary).toEqual(roundtripOf('binary', 500 * 1024));
    const { data } = app.connection('websockets', 'echo');
    expect(data.map((d) => d.size).filter((size) => size >= 500_000)).toHaveLength(2);
  });

  it('answers a ping with a pong carrying the same payload', () => {
    ready();
    expect((report.echo as Record<string, unknown>).ping).toMatchObject({ payloadLength: 17, pongMatched: true });
    const [close] = app.connection('websockets', 'echo').closes;
    expect(close?.info).toMatchObject({ messages_read: 7, messages_sent: 7 });
  });

  // frames_read counts an empty data message as one frame (ws keeps no empty fragments).
  it('counts every frame read in frames_read, the empty binary message, the ping and the close included', () => {
    ready();
    const [close] = app.connection('websockets', 'echo').closes;
    expect(close?.info?.frames_read).toBe(9);
  });

  it('client close 4000 reaches onClose, and the server echoes the close frame', () => {
    ready();
    expect((report.echo as Record<string, unknown>).close).toEqual({
      sent: { code: 4000, reason: 'client done' },
      received: { code: 4000, reason: 'client done' },
      receivedFirst: false,
    });
    const conn = app.connection('websockets', 'echo');
    expect(conn.closes).toMatchObject([{ code: 4000, reason: 'client done' }]);
    expect(conn.hooks[0]).toBe('onOpen');
    expect(conn.hooks.at(-1)).toBe('onClose');
    expect(conn.hooks.filter((h) => h === 'onData')).toHaveLength(7);
  });

  it('server close 4001 "bye" reaches the client, and onClose sees it too', () => {
    ready();
    const serverClose = report.serverClose as Record<string, unknown>;
    expect(serverClose).toMatchObject({ raisedConnectionClosed: true });
    expect(serverClose).not.toHaveProperty('unexpectedMessage');
    expect(serverClose.close).toEqual({
      received: { code: 4001, reason: 'bye' },
      sent: { code: 4001, reason: 'bye' },
      receivedFirst: true,
    });
    const conn = app.connection('websockets', 'server-close');
    expect(conn.hooks).toEqual(['onOpen', 'onData', 'onClose']);
    expect(conn.closes).toMatchObject([{ code: 4001, reason: 'bye' }]);
  });

  it('negotiates permessage-deflate and round-trips compressible 100 KB messages, compressed on the wire', () => {
    ready();
    const deflate = report.deflate as Record<string, unknown>;
    expect(deflate.extensions).toEqual([
      // The bare client_max_window_bits offer is accepted as made (ws echoes no value); the
      // server still compresses with at most 2^13 (see src/runtime/deflate.ts).
      expect.objectContaining({ name: 'permessage-deflate', remote_max_window_bits: 15, local_max_window_bits: 15 }),
    ]);
    expect(String(deflate.responseExtensions)).toMatch(/^permessage-deflate\b/);
    expect(deflate.compressibleText).toEqual(roundtripOf('text', 100_000));
    expect(deflate.compressibleBinary).toEqual(roundtripOf('binary', 100_032));
    expect(deflate.smallText).toEqual(roundtripOf('text', 4));
    expect(deflate.close).toMatchObject({ received: { code: 1000, reason: 'deflate done' } });

    const conn = app.connection('websockets', 'deflate');
    expect(conn.label.offeredExtensions).toMatch(/permessage-deflate/);
    expect(conn.data.map((d) => d.size)).toEqual([100_000, 100_032, 4]);
    const info = conn.closes[0]?.info;
    // 200 KB of payload came in; compressed, far fewer bytes crossed the socket.
    expect(info?.messages_read).toBe(3);
    expect(info?.bytes_read).toBeLessThan(20_000);
    expect(info?.bytes_sent).toBeLessThan(20_000);
  });

  it('keeps concurrent connections apart, each in order', () => {
    ready();
    expect(report.parallel).toEqual({ connections: 4, messagesEach: 50, allInOrder: true });
    for (let i = 0; i < 4; i++) {
      const conn = app.connection('websockets', `parallel-${i}`);
      expect(conn.data).toHaveLength(50);
      expect(conn.closes).toMatchObject([{ code: 1000 }]);
    }
  });

  it('logged nothing on the server side', () => {
    ready();
    expect(started.logged).toEqual([]);
  });
});

describe('python wsproto (sans-IO) client', () => {
  let app: InteropApp;
  let started: StartedServer<Label>;
  let report: Record<string, Record<string, unknown>>;

  let setupError: Error | null = null;
  /** Setup failures (e.g. a missing python module) fail every test with their message. */
  const ready = (): void => {
    if (setupError !== null) throw setupError;
  };

  beforeAll(async () => {
    try {
      requirePythonModules(['wsproto.events', 'wsproto.extensions']);
      ({ app, started } = await startInteropServer());
      report = (await runClient('wsproto_client.py', String(started.port))) as typeof report;
      await waitFor(() => app.allClosed(), 5000, 'every onClose');
    } catch (error) {
      setupError = error instanceof Error ? error : new Error(String(error));
    }
  }, 60_000);

  afterAll(async () => {
    await started?.server.stop();
  });

  it('ran every scenario without a client-side exception', () => {
    ready();
    for (const name of ['echo', 'serverClose', 'deflate', 'noStatusClose', 'abort', 'badUtf8', 'tooBig']) {
      expect(report[name], name).toBeDefined();
      expect(report[name], `${name}: ${String(report[name]?.trace)}`).not.toHaveProperty('error');
    }
  });

  it('echoes text, binary, empty and fragmented messages with their type', () => {
    ready();
    const echo = report.echo as Record<string, unknown>;
    expect(echo.extensions).toEqual([]);
    expect(echo.text).toMatchObject({ sentType: 'text', receivedType: 'text', same: true });
    expect(echo.binary).toMatchObject(roundtripOf('binary', 256));
    expect(echo.emptyText).toMatchObject(roundtripOf('text', 0));
    expect(echo.emptyBinary).toMatchObject(roundtripOf('binary', 0));
    expect(echo.fragmentedText).toMatchObject({ ...roundtripOf('text', 1300), fragments: 5 });
    expect(echo.fragmentedBinary).toMatchObject({ ...roundtripOf('binary', 10_000), fragments: 7 });
    // Fragments arrive as one message on the server.
    const sizes = app.connection('wsproto', 'echo').data.map((d) => d.size);
    expect(sizes.slice(0, 6)).toEqual([22, 256, 0, 0, 1400, 10_000]);
  });

  it('round-trips large (500 KB) text and binary messages', () => {
    ready();
    const echo = report.echo as Record<string, unknown>;
    expect(echo.largeText).toMatchObject(roundtripOf('text', 512_000));
    expect(echo.largeBinary).toMatchObject(roundtripOf('binary', 500 * 1024));
  });

  it('answers a ping with a pong carrying the same payload', () => {
    ready();
    const ping = (report.echo as Record<string, unknown>).ping as Record<string, unknown>;
    expect(ping.event).toBe('Pong');
    expect(ping.pong).toBe(ping.sent);
    expect((report.echo as Record<string, unknown>).afterPing).toMatchObject(roundtripOf('text', 10));
  });

  it('client close 4000 reaches onClose; the server answers and ends TCP', () => {
    ready();
    expect((report.echo as Record<string, unknown>).close).toEqual({
      event: 'CloseConnection',
      code: 4000,
      reason: 'wsproto done',
      state: 'CLOSED',
      serverEndedTcp: true,
    });
    const conn = app.connection('wsproto', 'echo');
    expect(conn.closes).toMatchObject([{ code: 4000, reason: 'wsproto done' }]);
    expect(conn.closes[0]?.info).toMatchObject({ messages_read: 9, messages_sent: 9 });
  });

  it('server close 4001 "bye" reaches the client, which answers it', () => {
    ready();
    expect(report.serverClose).toEqual({
      event: 'CloseConnection',
      code: 4001,
      reason: 'bye',
      stateBeforeReply: 'REMOTE_CLOSING',
      stateAfterReply: 'CLOSED',
      serverEndedTcp: true,
    });
    const conn = app.connection('wsproto', 'server-close');
    expect(conn.hooks).toEqual(['onOpen', 'onData', 'onClose']);
    expect(conn.closes).toMatchObject([{ code: 4001, reason: 'bye' }]);
  });

  it('negotiates permessage-deflate with wsproto too, and compressible 100 KB messages round-trip', () => {
    ready();
    const deflate = report.deflate as Record<string, unknown>;
    expect(deflate).toMatchObject({
      extensions: ['permessage-deflate'],
      clientMaxWindowBits: 15,
      serverMaxWindowBits: 15,
      smallText: roundtripOf('text', 4),
      close: { event: 'CloseConnection', code: 1000 },
      serverEndedTcp: true,
    });
    expect(deflate.compressibleText).toMatchObject(roundtripOf('text', 100_000));
    expect(deflate.compressibleBinary).toMatchObject({ ...roundtripOf('binary', 100_000), fragments: 3 });
    const conn = app.connection('wsproto', 'deflate');
    expect(conn.label.offeredExtensions).toMatch(/^permessage-deflate/);
    expect(conn.data.map((d) => d.size)).toEqual([100_000, 100_000, 4]);
    expect(conn.closes[0]?.info?.bytes_read).toBeLessThan(20_000);
  });

  it('an empty close frame reaches onClose as 1005 and is answered with an empty close frame', () => {
    ready();
    // wsproto reports a received close frame without a status code as 1005.
    expect(report.noStatusClose).toEqual({ event: 'CloseConnection', code: 1005, reason: '', serverEndedTcp: true });
    expect(app.connection('wsproto', 'no-status').closes).toMatchObject([{ code: 1005, reason: '' }]);
  });

  it('a TCP end without a close frame reaches onClose as 1006', () => {
    ready();
    expect((report.abort as Record<string, unknown>).echo).toMatchObject(roundtripOf('text', 10));
    const conn = app.connection('wsproto', 'abort');
    expect(conn.hooks).toEqual(['onOpen', 'onData', 'onClose']);
    expect(conn.closes).toMatchObject([{ code: 1006 }]);
  });

  it('a text frame that is not UTF-8 is closed with 1007 and never reaches onData', () => {
    ready();
    expect(report.badUtf8).toMatchObject({ event: 'CloseConnection', code: 1007, serverEndedTcp: true });
    expect(app.connection('wsproto', 'bad-utf8').hooks).toEqual(['onOpen', 'onClose']);
  });

  it('a frame announcing more than maxPayload is closed with 1009 before its payload arrives', () => {
    ready();
    expect(report.tooBig).toMatchObject({ event: 'CloseConnection', code: 1009, serverEndedTcp: true });
    expect(String((report.tooBig as Record<string, unknown>).reason)).not.toBe('');
    expect(app.connection('wsproto', 'too-big').hooks).toEqual(['onOpen', 'onClose']);
  });

  it('onClose sees the 1007 the server sent for invalid UTF-8', () => {
    ready();
    expect(app.connection('wsproto', 'bad-utf8').closes).toMatchObject([{ code: 1007 }]);
  });

  it('onClose sees the 1009 the server sent for a too-big frame', () => {
    ready();
    expect(app.connection('wsproto', 'too-big').closes).toMatchObject([{ code: 1009 }]);
  });

  it('logged nothing on the server side', () => {
    ready();
    expect(started.logged).toEqual([]);
  });
});
