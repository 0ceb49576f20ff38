/** The `tls` option: each bad value throws InvalidOptionError with an exact message, at creation. */
import { createServer as createHttpServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { createServer } from '../../src/index.js';
import { resolveOptions } from '../../src/options.js';
import { rejectsOption } from '../helpers/options.js';
import { testCerts, type TestCert, type TestCerts } from '../helpers/tls-certs.js';

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
    rejectsOption({ tls: 'cert.pem' }, 'Option "tls" must be an object');
    rejectsOption({ tls: null }, 'Option "tls" must be an object');
    rejectsOption({ tls: { cert: a.cert, key: a.key, certFile: 'x' } }, 'Unknown option "tls.certFile"');
    rejectsOption({ tls: {} }, 'Option "tls" needs "cert" and "key" (PEM), or "pfx"');
    rejectsOption({ tls: { cert: a.cert } }, 'Option "tls" needs "cert" and "key" (PEM), or "pfx"');
    rejectsOption({ tls: { cert: a.cert, key: a.key, pfx: Buffer.alloc(1) } }, 'Option "tls" takes "cert" and "key", or "pfx", not both');
    rejectsOption({ tls: { cert: 5, key: a.key } }, 'Option "tls.cert" must be PEM certificates: a string, a Buffer or a non-empty array of them');
    rejectsOption({ tls: { cert: [], key: a.key } }, 'Option "tls.cert" must be PEM certificates: a string, a Buffer or a non-empty array of them');
    rejectsOption({ tls: { cert: a.cert, key: [{ pem: 1 }] } }, /^Option "tls.key" must be a PEM private key/);
    rejectsOption({ tls: { cert: a.cert, key: a.key, passphrase: 1 } }, 'Option "tls.passphrase" must be a string');
    rejectsOption({ tls: { cert: a.cert, key: a.key, minVersion: 'SSLv3' } }, 'Option "tls.minVersion" must be "TLSv1.3", "TLSv1.2", "TLSv1.1" or "TLSv1"');
    rejectsOption({ tls: { cert: a.cert, key: a.key, ticketKeys: Buffer.alloc(16) } }, 'Option "tls.ticketKeys" must be a Buffer of 48 bytes');
    rejectsOption({ tls: { cert: a.cert, key: a.key, requestCert: 'yes' } }, 'Option "tls.requestCert" must be a boolean');
    rejectsOption({ tls: { cert: a.cert, key: a.key, SNICallback: {} } }, 'Option "tls.SNICallback" must be a function');
  });

  it('refuses what OpenSSL refuses: a key of another certificate, no PEM, a wrong or missing passphrase', () => {
    rejectsOption({ tls: { cert: a.cert, key: b.key } }, /^Option "tls" cannot make a TLS context: .*key values mismatch/);
    rejectsOption({ tls: { cert: 'not a certificate', key: a.key } }, /^Option "tls" cannot make a TLS context: /);
    rejectsOption({ tls: { cert: locked.cert, key: locked.key, passphrase: 'wrong' } }, /^Option "tls" cannot make a TLS context: /);
    rejectsOption({ tls: { cert: locked.cert, key: locked.key } }, /^Option "tls" cannot make a TLS context: /);
  });

  it('excludes "server" (attach mode: that server has its own TLS); createServer throws at creation', () => {
    const http = createHttpServer();
    rejectsOption({ server: http, tls: { cert: a.cert, key: a.key } }, 'Option "server" excludes "tls": give the https.Server you attach to its own certificate');
    expect(() => createServer({}, { tls: { cert: a.cert, key: b.key } })).toThrow(InvalidOptionError);
  });
});
