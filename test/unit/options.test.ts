/** Option defaults and validation: every bad value throws InvalidOptionError with an exact message. */
import { createServer as createHttpServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { createServer } from '../../src/index.js';
import { defaultOptions, resolveOptions, type ServerOptions } from '../../src/options.js';
import { systemClock } from '../../src/runtime/clock.js';
import { consoleLogger, type Logger } from '../../src/runtime/logger.js';
import { rejectsOption } from '../helpers/options.js';

const silent: Logger = { error: () => undefined, warn: () => undefined };

describe('resolveOptions', () => {
  it('applies the documented defaults', () => {
    const resolved = resolveOptions();
    expect(resolved).toEqual({
      host: undefined,
      port: 0,
      server: undefined,
      path: undefined,
      maxPayload: 1024 * 1024,
      maxFrameSize: 1024 * 1024,
      maxFragments: 1024,
      validateUtf8: true,
      textOnly: false,
      heartbeatMs: 10_000,
      maxUnansweredPings: 3,
      closePeriodMs: 3000,
      handshakeTimeoutMs: 10_000,
      stopTimeoutMs: 30_000,
      maxBytesPerSecond: null,
      maxMessagesPerSecond: null,
      maxQueuedMessages: 16,
      maxQueuedBytes: 1024 * 1024,
      maxBufferedBytes: 4 * 1024 * 1024,
      outboundOverflow: 'close',
      maxConnections: null,
      allowedOrigins: null,
      concurrency: 1,
      perMessageDeflate: false,
      logger: consoleLogger,
      clock: systemClock,
      inspect: null,
      cluster: null,
      nodeId: 0,
    });
    expect(resolved.logger).toBe(consoleLogger);
    expect(resolved.clock).toBe(systemClock);
    expect(resolveOptions({})).toEqual(defaultOptions);
  });

  it('keeps every given value', () => {
    const options: ServerOptions = {
      host: '127.0.0.1',
      port: 8080,
      path: '/ws',
      maxPayload: 10,
      maxQueuedMessages: 2,
      concurrency: 4,
      closePeriodMs: 50,
      textOnly: true,
      validateUtf8: false,
      maxConnections: 5,
      allowedOrigins: ['https://example.com'],
      outboundOverflow: 'fail',
      logger: silent,
    };
    expect(resolveOptions(options)).toMatchObject(options);
  });

  it('does not let an explicit undefined override a default', () => {
    const resolved = resolveOptions({ maxPayload: undefined, concurrency: undefined, logger: undefined });
    expect(resolved.maxPayload).toBe(1024 * 1024);
    expect(resolved.concurrency).toBe(1);
    expect(resolved.logger).toBe(consoleLogger);
  });

  it('does not mutate the defaults', () => {
    resolveOptions({ maxPayload: 5, port: 1234 });
    expect(defaultOptions.maxPayload).toBe(1024 * 1024);
    expect(defaultOptions.port).toBe(0);
  });

  it('rejects an unknown option with an exact message', () => {
    rejectsOption({ foo: 1 }, 'Unknown option "foo"');
    rejectsOption({ maxpayload: 1 }, 'Unknown option "maxpayload"');
    rejectsOption({ port: 0, timeout: 5 }, 'Unknown option "timeout"');
  });

  it.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__defineGetter__'])(
    'rejects the inherited Object.prototype name %s as unknown',
    (name) => {
      rejectsOption({ [name]: 1 }, `Unknown option "${name}"`);
    },
  );

  it('rejects an unknown option even when its value is undefined', () => {
    rejectsOption({ foo: undefined }, 'Unknown option "foo"');
  });

  it('rejects options that are not an object', () => {
    rejectsOption(null, 'Options must be an object');
    rejectsOption(42, 'Options must be an object');
    rejectsOption('port=1', 'Options must be an object');
  });

  describe.each([
    'maxPayload',
    'maxQueuedMessages',
    'maxQueuedBytes',
    'concurrency',
    'maxFrameSize',
    'maxFragments',
    'maxUnansweredPings',
    'maxBufferedBytes',
  ] as const)('%s', (key) => {
    it.each<[string, unknown]>([
      ['zero', 0],
      ['negative', -1],
      ['fractional', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['unsafe integer', 2 ** 53],
      ['a numeric string', '16'],
      ['null', null],
    ])('rejects %s', (_name, value) => {
      rejectsOption({ [key]: value }, `Option "${key}" must be a positive integer, got ${String(value)}`);
    });

    it('accepts 1 and a large integer', () => {
      expect(resolveOptions({ [key]: 1 })[key]).toBe(1);
      expect(resolveOptions({ [key]: 2 ** 31 })[key]).toBe(2 ** 31);
    });
  });

  describe.each(['closePeriodMs', 'handshakeTimeoutMs', 'heartbeatMs', 'stopTimeoutMs'] as const)('timer %s', (key) => {
    const message = (value: unknown): string =>
      `Option "${key}" must be an integer of milliseconds from 1 to 2147483647 (2^31 - 1), got ${String(value)}`;

    it.each<[string, unknown]>([
      ['zero', 0],
      ['negative', -1],
      ['fractional', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      // Node turns a longer delay into 1 ms: these used to fire at once.
      ['2^31 (past Node\'s timer limit)', 2 ** 31],
      ['2^53', 2 ** 53],
      ['a numeric string', '16'],
    ])('rejects %s', (_name, value) => {
      rejectsOption({ [key]: value }, message(value));
    });

    it('accepts 1 and 2^31 - 1', () => {
      expect(resolveOptions({ [key]: 1 })[key]).toBe(1);
      expect(resolveOptions({ [key]: 2 ** 31 - 1 })[key]).toBe(2 ** 31 - 1);
    });

    it(key === 'heartbeatMs' || key === 'stopTimeoutMs' ? 'accepts null (off)' : 'rejects null (cannot be off)', () => {
      if (key === 'heartbeatMs' || key === 'stopTimeoutMs') expect(resolveOptions({ [key]: null })[key]).toBeNull();
      else rejectsOption({ [key]: null }, message(null));
    });
  });

  describe('host', () => {
    it.each(['127.0.0.1', '::1', 'localhost'])('accepts %s', (host) => {
      expect(resolveOptions({ host }).host).toBe(host);
    });

    it.each<[unknown, string]>([
      [5, '5'],
      ['', '""'],
      [true, 'true'],
      [{}, 'Object'],
    ])('rejects %j', (host, shown) => {
      rejectsOption({ host }, `Option "host" must be a non-empty string (an address or host name), got ${shown}`);
    });
  });

  describe('port', () => {
    it.each([0, 1, 8080, 65535])('accepts %i', (port) => {
      expect(resolveOptions({ port }).port).toBe(port);
    });

    it.each([-1, 65536, 80.5, Number.NaN])('rejects %s', (port) => {
      rejectsOption({ port }, `Option "port" must be an integer from 0 to 65535, got ${String(port)}`);
    });

    it('rejects a string port', () => {
      rejectsOption({ port: '80' }, 'Option "port" must be an integer from 0 to 65535, got 80');
    });
  });

  describe('server', () => {
    const http = createHttpServer();

    it('is accepted alone', () => {
      expect(resolveOptions({ server: http }).server).toBe(http);
    });

    it.each<[string, ServerOptions]>([
      ['port', { server: http, port: 8080 }],
      ['port 0', { server: http, port: 0 }],
      ['host', { server: http, host: '127.0.0.1' }],
      ['host and port', { server: http, host: 'localhost', port: 1 }],
    ])('excludes %s', (_name, options) => {
      rejectsOption(options, 'Option "server" excludes "host" and "port"');
    });
  });

  describe('server must be an http(s) server', () => {
    it.each<[unknown, string]>([
      [{}, 'Object'],
      [5, '5'],
      ['localhost', '"localhost"'],
      [null, 'null'],
    ])('rejects %j', (server, shown) => {
      rejectsOption({ server }, `Option "server" must be an http.Server or https.Server, got ${shown}`);
    });
  });

  describe('path', () => {
    it.each([
      ['/ws?x=1', 'Option "path" is a pathname and can never contain "?" or "#" (the query is not part of it), got "/ws?x=1"'],
      ['/ws#top', 'Option "path" is a pathname and can never contain "?" or "#" (the query is not part of it), got "/ws#top"'],
      ['/a b', 'Option "path" "/a b" can never match: request pathnames arrive normalized, as "/a%20b"'],
      ['/a/../b', 'Option "path" "/a/../b" can never match: request pathnames arrive normalized, as "/b"'],
    ])('rejects %j, which can never match', (path, message) => {
      rejectsOption({ path }, message);
    });

    it.each(['/', '/ws', '/chat/room'])('accepts %s', (path) => {
      expect(resolveOptions({ path }).path).toBe(path);
    });

    it.each(['ws', '', 'http://x/ws', ' /ws'])('rejects %j', (path) => {
      rejectsOption({ path }, `Option "path" must start with "/", got ${path}`);
    });

    it('rejects a non-string path', () => {
      rejectsOption({ path: 42 }, 'Option "path" must start with "/", got 42');
    });
  });

  describe.each(['maxBytesPerSecond', 'maxMessagesPerSecond', 'maxConnections'] as const)('%s (null = no limit)', (key) => {
    it('accepts null and a positive integer', () => {
      expect(resolveOptions({ [key]: null })[key]).toBeNull();
      expect(resolveOptions({ [key]: 3 })[key]).toBe(3);
    });

    it.each([0, -5, 2.5])('rejects %s', (value) => {
      rejectsOption({ [key]: value }, `Option "${key}" must be a positive integer, got ${value}`);
    });
  });

  it.each(['validateUtf8', 'textOnly'])('%s must be a boolean', (key) => {
    rejectsOption({ [key]: 1 }, `Option "${key}" must be a boolean`);
    rejectsOption({ [key]: null }, `Option "${key}" must be a boolean`);
  });

  it('outboundOverflow must be "close" or "fail"', () => {
    expect(resolveOptions({ outboundOverflow: 'fail' }).outboundOverflow).toBe('fail');
    rejectsOption({ outboundOverflow: 'drop' }, 'Option "outboundOverflow" must be "close" or "fail"');
  });

  it('allowedOrigins must be null or an array of strings', () => {
    expect(resolveOptions({ allowedOrigins: [] }).allowedOrigins).toEqual([]);
    const message = 'Option "allowedOrigins" must be an array of origin strings or null';
    rejectsOption({ allowedOrigins: 'https://example.com' }, message);
    rejectsOption({ allowedOrigins: ['https://a.test', 42] }, message);
  });

  describe('perMessageDeflate', () => {
    it('resolves true to the default settings and an object over them', () => {
      expect(resolveOptions({ perMessageDeflate: true }).perMessageDeflate).toEqual({ threshold: 1024, concurrencyLimit: 10 });
      expect(resolveOptions({ perMessageDeflate: { threshold: 1 } }).perMessageDeflate).toEqual({
        threshold: 1,
        concurrencyLimit: 10,
      });
      expect(resolveOptions({ perMessageDeflate: false }).perMessageDeflate).toBe(false);
    });

    it('accepts threshold 0 (compress every message)', () => {
      expect(resolveOptions({ perMessageDeflate: { threshold: 0 } }).perMessageDeflate).toEqual({ threshold: 0, concurrencyLimit: 10 });
    });

    it('rejects bad values', () => {
      rejectsOption({ perMessageDeflate: 'yes' }, 'Option "perMessageDeflate" must be a boolean or an object');
      rejectsOption({ perMessageDeflate: null }, 'Option "perMessageDeflate" must be a boolean or an object');
      rejectsOption({ perMessageDeflate: { level: 9 } }, 'Unknown option "perMessageDeflate.level"');
      rejectsOption({ perMessageDeflate: { threshold: -1 } }, 'Option "perMessageDeflate.threshold" must be a non-negative integer, got -1');
      rejectsOption({ perMessageDeflate: { threshold: 1.5 } }, 'Option "perMessageDeflate.threshold" must be a non-negative integer, got 1.5');
      rejectsOption(
        { perMessageDeflate: { concurrencyLimit: 1.5 } },
        'Option "perMessageDeflate.concurrencyLimit" must be a positive integer, got 1.5',
      );
    });
  });

  it('validates logger, clock and inspect', () => {
    rejectsOption({ logger: {} }, 'Option "logger" must have error() and warn() methods');
    rejectsOption({ logger: null }, 'Option "logger" must have error() and warn() methods');
    rejectsOption({ logger: { error: () => undefined } }, 'Option "logger" must have error() and warn() methods');
    const clockMessage = 'Option "clock" must have now(), setTimeout() and clearTimeout()';
    rejectsOption({ clock: { now: () => 0 } }, clockMessage);
    rejectsOption({ clock: { now: () => 0, setTimeout: () => 1 } }, clockMessage);
    const clock = { now: () => 0, setTimeout: () => 1, clearTimeout: () => undefined };
    expect(resolveOptions({ clock }).clock).toBe(clock);
    const inspect = (): void => undefined;
    expect(resolveOptions({ inspect }).inspect).toBe(inspect);
    expect(resolveOptions({ inspect: { next: inspect } }).inspect).toEqual({ next: inspect });
    rejectsOption({ inspect: {} }, 'Option "inspect" must be a function or an observer with next()');
    rejectsOption({ inspect: 'console' }, 'Option "inspect" must be a function or an observer with next()');
  });
});

describe('createServer', () => {
  it('throws InvalidOptionError synchronously for an unknown option', () => {
    let caught: unknown;
    let server: unknown;
    try {
      server = createServer({}, { bogus: 1 } as never);
    } catch (error) {
      caught = error;
    }
    expect(server).toBeUndefined();
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect((caught as InvalidOptionError).message).toBe('Unknown option "bogus"');
    expect((caught as InvalidOptionError).code).toBe('WSA_ERR_INVALID_OPTION');
  });

  it('throws synchronously for a bad value', () => {
    expect(() => createServer({}, { maxPayload: 0 })).toThrow(InvalidOptionError);
    expect(() => createServer({}, { path: 'ws' })).toThrow('Option "path" must start with "/", got ws');
  });

  it('creates an idle server for valid options', async () => {
    const server = createServer({}, { port: 0, host: '127.0.0.1', logger: silent });
    expect(server.state).toBe('idle');
    expect(server.address()).toBeNull();
    await server.stop();
    expect(server.state).toBe('stopped');
  });
});
