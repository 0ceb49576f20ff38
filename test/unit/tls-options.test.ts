/** The `tls` option: each bad value throws InvalidOptionError with an exact message, at creation. */
import { createServer as createHttpServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidOptionError } from '../../src/errors.js';
import { createServer } from '../../src/index.js';
import { resolveOptions, type ServerOptions } from '../../src/options.js';
import { testCerts, type TestCert, type TestCerts } from '../helpers/tls-certs.js';

function rejects(options: unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    resolveOptions(options as ServerOptions);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidOptionError);
  expect((caught as InvalidOptionError).code).toBe(ErrorCodes.INVALID_OPTION);
  if (typeof message === 'string') expect((caught as Error).message).toBe(message);
  else expect((caught as Error).message).toMatch(message);
}

describe('tls option', () => {
  let certs: TestCerts;
  let a: TestCert;
  let b: TestCert;
  let locked: TestCert;

  beforeAll(() => {
    certs = testCerts();
    a = certs.make('a');
    b = certs.make('b');
    locked = certs.make('locked', { passphrase: 'open sesame' });
  }, 30_000);
  afterAll(() => certs.remove());

  it('defaults to undefined (plain ws://) and keeps a copy of what was given, without undefined keys', () => {
    expect(resolveOptions({}).tls).toBeUndefined();
    const given = { cert: a.cert, key: a.key, minVersion: 'TLSv1.3' as const, ca: undefined };
    const resolved = resolveOptions({ tls: given }).tls;
    expect(resolved).toEqual({ cert: a.cert, key: a.key, minVersion: 'TLSv1.3' });
    expect(Object.keys(resolved ?? {})).toEqual(['cert', 'key', 'minVersion']);
    expect(resolved).not.toBe(given);
  });

  it('takes Buffers, arrays, { pem, passphrase } keys and an encrypted key with its passphrase', () => {
    expect(resolveOptions({ tls: { cert: Buffer.from(a.cert), key: Buffer.from(a.key) } }).tls?.cert).toEqual(Buffer.from(a.cert));
    expect(resolveOptions({ tls: { cert: [a.cert], key: [a.key] } }).tls?.cert).toEqual([a.cert]);
    expect(resolveOptions({ tls: { cert: locked.cert, key: locked.key, passphrase: 'open sesame' } }).tls?.passphrase).toBe('open sesame');
    expect(resolveOptions({ tls: { cert: locked.cert, key: [{ pem: locked.key, passphrase: 'open sesame' }] } }).tls).toBeDefined();
    expect(resolveOptions({ tls: { cert: a.cert, key: a.key, requestCert: true, rejectUnauthorized: true, ca: [a.cert] } }).tls?.requestCert).toBe(true);
  });

  it('refuses bad shapes with exact messages', () => {
    rejects({ tls: 'cert.pem' }, 'Option "tls" must be an object');
    rejects({ tls: null }, 'Option "tls" must be an object');
    rejects({ tls: { cert: a.cert, key: a.key, certFile: 'x' } }, 'Unknown option "tls.certFile"');
    rejects({ tls: {} }, 'Option "tls" needs "cert" and "key" (PEM), or "pfx"');
    rejects({ tls: { cert: a.cert } }, 'Option "tls" needs "cert" and "key" (PEM), or "pfx"');
    rejects({ tls: { cert: a.cert, key: a.key, pfx: Buffer.alloc(1) } }, 'Option "tls" takes "cert" and "key", or "pfx", not both');
    rejects({ tls: { cert: 5, key: a.key } }, 'Option "tls.cert" must be PEM certificates: a string, a Buffer or a non-empty array of them');
    rejects({ tls: { cert: [], key: a.key } }, 'Option "tls.cert" must be PEM certificates: a string, a Buffer or a non-empty array of them');
    rejects({ tls: { cert: a.cert, key: [{ pem: 1 }] } }, /^Option "tls.key" must be a PEM private key/);
    rejects({ tls: { cert: a.cert, key: a.key, passphrase: 1 } }, 'Option "tls.passphrase" must be a string');
    rejects({ tls: { cert: a.cert, key: a.key, minVersion: 'SSLv3' } }, 'Option "tls.minVersion" must be "TLSv1.3", "TLSv1.2", "TLSv1.1" or "TLSv1"');
    rejects({ tls: { cert: a.cert, key: a.key, ticketKeys: Buffer.alloc(16) } }, 'Option "tls.ticketKeys" must be a Buffer of 48 bytes');
    rejects({ tls: { cert: a.cert, key: a.key, requestCert: 'yes' } }, 'Option "tls.requestCert" must be a boolean');
    rejects({ tls: { cert: a.cert, key: a.key, SNICallback: {} } }, 'Option "tls.SNICallback" must be a function');
  });

  it('refuses what OpenSSL refuses: a key of another certificate, no PEM, a wrong or missing passphrase', () => {
    rejects({ tls: { cert: a.cert, key: b.key } }, /^Option "tls" cannot make a TLS context: .*key values mismatch/);
    rejects({ tls: { cert: 'not a certificate', key: a.key } }, /^Option "tls" cannot make a TLS context: /);
    rejects({ tls: { cert: locked.cert, key: locked.key, passphrase: 'wrong' } }, /^Option "tls" cannot make a TLS context: /);
    rejects({ tls: { cert: locked.cert, key: locked.key } }, /^Option "tls" cannot make a TLS context: /);
  });

  it('excludes "server" (attach mode: that server has its own TLS); createServer throws at creation', () => {
    const http = createHttpServer();
    rejects({ server: http, tls: { cert: a.cert, key: a.key } }, 'Option "server" excludes "tls": give the https.Server you attach to its own certificate');
    expect(() => createServer({}, { tls: { cert: a.cert, key: b.key } })).toThrow(InvalidOptionError);
  });
});
