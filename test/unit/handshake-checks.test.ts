/**
 * RFC 6455 4.2.1 request checks (pure) and the HandshakeDecision that `onHandshake` fills in.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidArgumentError, WsActorError } from '../../src/errors.js';
import { checkUpgradeRequest, parseSubprotocols, type UpgradeRequestLike } from '../../src/runtime/handshake-checks.js';
import { HandshakeDecision } from '../../src/runtime/handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function request(overrides: Partial<UpgradeRequestLike> = {}, headers: IncomingHttpHeaders = {}): UpgradeRequestLike {
  const merged: IncomingHttpHeaders = {
    host: 'example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
    ...headers,
  };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return { method: 'GET', httpVersion: '1.1', headers: merged, ...overrides };
}

interface Failure {
  status: number;
  headers: Record<string, string>;
  body: RegExp;
}

const METHOD: Failure = { status: 405, headers: { Allow: 'GET' }, body: /^Method Not Allowed$/ };
const VERSION: Failure = { status: 505, headers: {}, body: /HTTP Version Not Supported/ };
const BODY: Failure = { status: 400, headers: {}, body: /no body/ };
const UPGRADE: Failure = { status: 426, headers: { Upgrade: 'websocket' }, body: /"Upgrade: websocket" header missing/ };
const CONNECTION: Failure = { status: 426, headers: { Upgrade: 'websocket' }, body: /"Connection: Upgrade" header missing/ };
const KEY_BAD: Failure = { status: 400, headers: {}, body: /Sec-WebSocket-Key/ };
const WS_VERSION: Failure = { status: 400, headers: { 'Sec-WebSocket-Version': '13' }, body: /Sec-WebSocket-Version/ };
const PROTOCOL: Failure = { status: 400, headers: {}, body: /invalid Sec-WebSocket-Protocol/ };
const HOST: Failure = { status: 400, headers: {}, body: /exactly one Host header/ };
const HOST_BAD: Failure = { status: 400, headers: {}, body: /invalid Host header/ };

function expectFailure(req: UpgradeRequestLike, expected: Failure): void {
  const result = checkUpgradeRequest(req);
  if (result.ok) throw new Error(`expected ${expected.status}, the request passed`);
  expect(result.status).toBe(expected.status);
  expect(result.headers).toEqual(expected.headers);
  expect(result.body).toMatch(expected.body);
}

describe('checkUpgradeRequest', () => {
  it('accepts a valid request and returns the key and no subprotocols', () => {
    expect(checkUpgradeRequest(request())).toEqual({ ok: true, key: KEY, subprotocols: [] });
  });

  const failing: [string, UpgradeRequestLike, Failure][] = [
    ['POST', request({ method: 'POST' }), METHOD],
    ['HEAD', request({ method: 'HEAD' }), METHOD],
    ['lower-case get', request({ method: 'get' }), METHOD],
    ['no method', request({ method: undefined }), METHOD],
    ['HTTP/1.0', request({ httpVersion: '1.0' }), VERSION],
    ['HTTP/2.0', request({ httpVersion: '2.0' }), VERSION],
    ['HTTP/0.9', request({ httpVersion: '0.9' }), VERSION],
    ['no Host', request({}, { host: undefined }), HOST],
    ['two Host lines', request({ rawHeaders: ['Host', 'a.example', 'Upgrade', 'websocket', 'host', 'b.example'] }), HOST],
    ...['a, b', 'a b', 'a/b', 'a@b', 'a:x', '[::1', 'a:80:80'].map((host): [string, UpgradeRequestLike, Failure] => [`Host: ${host}`, request({}, { host }), HOST_BAD]),
    ['Content-Length: 5', request({}, { 'content-length': '5' }), BODY],
    ['Transfer-Encoding: chunked', request({}, { 'transfer-encoding': 'chunked' }), BODY],
    ['Transfer-Encoding with Content-Length: 0', request({}, { 'content-length': '0', 'transfer-encoding': 'chunked' }), BODY],
    ['no Upgrade', request({}, { upgrade: undefined }), UPGRADE],
    ['Upgrade: h2c', request({}, { upgrade: 'h2c' }), UPGRADE],
    ['Upgrade: websocket2', request({}, { upgrade: 'websocket2' }), UPGRADE],
    ['no Connection', request({}, { connection: undefined }), CONNECTION],
    ['Connection: keep-alive', request({}, { connection: 'keep-alive' }), CONNECTION],
    ['Connection: close', request({}, { connection: 'close' }), CONNECTION],
    ['Connection: upgrade-ish', request({}, { connection: 'upgraded' }), CONNECTION],
    ['no key', request({}, { 'sec-websocket-key': undefined }), KEY_BAD],
    ['empty key', request({}, { 'sec-websocket-key': '' }), KEY_BAD],
    ['short key', request({}, { 'sec-websocket-key': 'dGhlIHNhbXBsZQ==' }), KEY_BAD],
    ['key without padding', request({}, { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ' }), KEY_BAD],
    ['key with bad characters', request({}, { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZ!==' }), KEY_BAD],
    ['key too long', request({}, { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQAA==' }), KEY_BAD],
    ['no version', request({}, { 'sec-websocket-version': undefined }), WS_VERSION],
    ['version 8', request({}, { 'sec-websocket-version': '8' }), WS_VERSION],
    ['version 14', request({}, { 'sec-websocket-version': '14' }), WS_VERSION],
    ['version "13, 8"', request({}, { 'sec-websocket-version': '13, 8' }), WS_VERSION],
    ['an empty subprotocol item', request({}, { 'sec-websocket-protocol': 'a,,b' }), PROTOCOL],
    ['a trailing comma in subprotocols', request({}, { 'sec-websocket-protocol': 'a, b,' }), PROTOCOL],
    ['an empty subprotocol header', request({}, { 'sec-websocket-protocol': '' }), PROTOCOL],
    ['a repeated subprotocol', request({}, { 'sec-websocket-protocol': 'a, b, a' }), PROTOCOL],
    ['a subprotocol with a space', request({}, { 'sec-websocket-protocol': 'a b' }), PROTOCOL],
    ['a subprotocol with a separator', request({}, { 'sec-websocket-protocol': 'chat/1' }), PROTOCOL],
  ];

  it.each(failing)('%s', (_name, req, expected) => {
    expectFailure(req, expected);
  });

  const passing: [string, UpgradeRequestLike][] = [
    ['Content-Length: 0', request({}, { 'content-length': '0' })],
    ['one Host line among others', request({ rawHeaders: ['Host', 'a.example', 'Upgrade', 'websocket', 'X-Host', 'b'] })],
    ...['', 'a', 'a:8080', '127.0.0.1:9001', '[::1]:8080', 'xn--bcher-kva.example', 'a%2eb'].map((host): [string, UpgradeRequestLike] => [`Host: "${host}"`, request({}, { host })]),
    ['Upgrade: WebSocket (case-insensitive)', request({}, { upgrade: 'WebSocket' })],
    ['Upgrade token list', request({}, { upgrade: 'foo/1, websocket' })],
    ['Connection: keep-alive, Upgrade', request({}, { connection: 'keep-alive, Upgrade' })],
    ['Connection: Upgrade, keep-alive', request({}, { connection: 'Upgrade,keep-alive' })],
    ['Connection: upgrade (lower case)', request({}, { connection: 'upgrade' })],
    ['Connection: UPGRADE with spaces', request({}, { connection: '  keep-alive ,  UPGRADE  ' })],
    ['RFC 6455 sample key', request({}, { 'sec-websocket-key': 'x3JJHMbDL1EzLkh9GBhXDw==' })],
    ['key with + and /', request({}, { 'sec-websocket-key': '+/+/+/+/+/+/+/+/+/+/+w==' })],
  ];

  it.each(passing)('passes: %s', (_name, req) => {
    expect(checkUpgradeRequest(req).ok).toBe(true);
  });

  it('trims whitespace around the key', () => {
    const result = checkUpgradeRequest(request({}, { 'sec-websocket-key': `  ${KEY} ` }));
    expect(result).toEqual({ ok: true, key: KEY, subprotocols: [] });
  });

  describe('the first failing check wins', () => {
    const order: [string, UpgradeRequestLike, Failure][] = [
      [
        'method before everything',
        request({ method: 'PUT', httpVersion: '1.0' }, { 'content-length': '3', upgrade: undefined, connection: undefined, 'sec-websocket-key': undefined, 'sec-websocket-version': '7' }),
        METHOD,
      ],
      [
        'HTTP version before body',
        request({ httpVersion: '1.0' }, { 'content-length': '3', upgrade: undefined, 'sec-websocket-key': undefined }),
        VERSION,
      ],
      ['body before Upgrade', request({}, { 'transfer-encoding': 'chunked', upgrade: undefined, connection: undefined }), BODY],
      ['Upgrade before Connection', request({}, { upgrade: undefined, connection: undefined, 'sec-websocket-key': undefined }), UPGRADE],
      ['Connection before key', request({}, { connection: 'keep-alive', 'sec-websocket-key': 'nope' }), CONNECTION],
      ['key before version', request({}, { 'sec-websocket-key': undefined, 'sec-websocket-version': '8' }), KEY_BAD],
      ['version before subprotocols', request({}, { 'sec-websocket-version': '8', 'sec-websocket-protocol': 'a,,b' }), WS_VERSION],
    ];
    it.each(order)('%s', (_name, req, expected) => {
      expectFailure(req, expected);
    });
  });

  describe('subprotocols', () => {
    it('parses the offered list in order, keeping case', () => {
      const result = checkUpgradeRequest(request({}, { 'sec-websocket-protocol': 'chat, SuperChat,v2.json' }));
      expect(result).toEqual({ ok: true, key: KEY, subprotocols: ['chat', 'SuperChat', 'v2.json'] });
    });

    it.each<[string, string | string[] | undefined, string[] | null]>([
      ['absent', undefined, []],
      ['one', 'a', ['a']],
      ['spaces around items', '  a ,b  ,  c', ['a', 'b', 'c']],
      ['token characters', "v1.chat+json, x-y_z, ~!#$%&'*^`|", ['v1.chat+json', 'x-y_z', "~!#$%&'*^`|"]],
      ['repeated header (array)', ['a, b', 'c'], ['a', 'b', 'c']],
      ['empty', '', null],
      ['empty items', ' a ,, b ', null],
      ['trailing comma', 'a,', null],
      ['duplicates', 'a, a', null],
      ['duplicates across repeated headers', ['a', 'a'], null],
      ['non-token characters', 'a;b', null],
      ['quoted', '"a"', null],
    ])('parseSubprotocols: %s', (_name, value, expected) => {
      expect(parseSubprotocols(value)).toEqual(expected);
    });
  });
});

function thrown(run: () => void): WsActorError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toBeInstanceOf(WsActorError);
    return error as WsActorError;
  }
  throw new Error('expected the call to throw');
}

describe('HandshakeDecision', () => {
  describe('reject', () => {
    it.each([300, 301, 403, 404, 500, 503, 599])('accepts status %i', (status) => {
      const decision = new HandshakeDecision([]);
      decision.reject(status, 'go away');
      expect(decision.rejection).toEqual({ status, body: 'go away' });
    });

    it('defaults the body to an empty string', () => {
      const decision = new HandshakeDecision([]);
      decision.reject(403);
      expect(decision.rejection).toEqual({ status: 403, body: '' });
    });

    it.each([0, 101, 200, 299, 600, 999, -403, 403.5, Number.NaN, Number.POSITIVE_INFINITY])(
      'refuses status %s with WSA_ERR_INVALID_STATUS',
      (status) => {
        const decision = new HandshakeDecision([]);
        const error = thrown(() => decision.reject(status));
        expect(error.code).toBe(ErrorCodes.INVALID_STATUS);
        expect(error.code).toBe('WSA_ERR_INVALID_STATUS');
        expect(error.message).toContain(String(status));
        expect(decision.rejection).toBeUndefined();
      },
    );

    it('refuses a non-number status', () => {
      const decision = new HandshakeDecision([]);
      expect(thrown(() => decision.reject('403' as unknown as number)).code).toBe('WSA_ERR_INVALID_STATUS');
    });
  });

  describe('setSubprotocol', () => {
    it('picks one of the offered protocols', () => {
      const decision = new HandshakeDecision(['a', 'b']);
      decision.setSubprotocol('b');
      expect(decision.subprotocol).toBe('b');
    });

    it.each<[string, string[], string]>([
      ['not offered', ['a', 'b'], 'c'],
      ['different case', ['chat'], 'Chat'],
      ['nothing offered', [], 'a'],
      ['empty string', ['a'], ''],
    ])('refuses a protocol %s with WSA_ERR_INVALID_SUBPROTOCOL', (_name, offered, protocol) => {
      const decision = new HandshakeDecision(offered);
      const error = thrown(() => decision.setSubprotocol(protocol));
      expect(error.code).toBe('WSA_ERR_INVALID_SUBPROTOCOL');
      expect(decision.subprotocol).toBeUndefined();
    });
  });

  describe('setHeader', () => {
    it('collects headers in order, including repeated and multi-valued ones', () => {
      const decision = new HandshakeDecision([]);
      decision.setHeader('X-One', '1');
      decision.setHeader('Set-Cookie', ['a=1', 'b=2']);
      decision.setHeader('X-One', 'again');
      expect(decision.headers).toEqual([
        ['X-One', '1'],
        ['Set-Cookie', ['a=1', 'b=2']],
        ['X-One', 'again'],
      ]);
    });

    it.each([
      'Connection',
      'upgrade',
      'Sec-WebSocket-Accept',
      'SEC-WEBSOCKET-PROTOCOL',
      'sec-websocket-extensions',
      'Content-Length',
      'Transfer-Encoding',
    ])('refuses the reserved header %s with WSA_ERR_INVALID_HEADER', (name) => {
      const decision = new HandshakeDecision([]);
      const error = thrown(() => decision.setHeader(name, 'x'));
      expect(error.code).toBe('WSA_ERR_INVALID_HEADER');
      expect(decision.headers).toEqual([]);
    });

    it.each<[string, string, string | string[]]>([
      ['a name with a space', 'X Bad', 'v'],
      ['an empty name', '', 'v'],
      ['a value with CRLF', 'X-Inject', 'a\r\nSet-Cookie: evil=1'],
      ['a multi-value with a bad item', 'X-Multi', ['ok', 'bad\nvalue']],
    ])('refuses %s with WSA_ERR_INVALID_HEADER', (_name, name, value) => {
      const decision = new HandshakeDecision([]);
      const error = thrown(() => decision.setHeader(name, value));
      expect(error.code).toBe('WSA_ERR_INVALID_HEADER');
      expect(decision.headers).toEqual([]);
    });
  });

  describe('after the hook settled', () => {
    const settled = (): HandshakeDecision => {
      const decision = new HandshakeDecision(['a']);
      decision.settled = true;
      return decision;
    };

    it.each<[string, (d: HandshakeDecision) => void]>([
      ['reject', (d) => d.reject(403)],
      ['reject with a bad status', (d) => d.reject(42)],
      ['setSubprotocol', (d) => d.setSubprotocol('a')],
      ['setSubprotocol not offered', (d) => d.setSubprotocol('zzz')],
      ['setHeader', (d) => d.setHeader('X-Late', '1')],
      ['setHeader reserved', (d) => d.setHeader('Upgrade', 'x')],
    ])('%s throws WSA_ERR_HANDSHAKE_SETTLED and changes nothing', (_name, call) => {
      const decision = settled();
      const error = thrown(() => call(decision));
      expect(error.code).toBe('WSA_ERR_HANDSHAKE_SETTLED');
      expect(decision.rejection).toBeUndefined();
      expect(decision.subprotocol).toBeUndefined();
      expect(decision.headers).toEqual([]);
    });
  });
});
