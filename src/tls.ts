/**
 * The `tls` option: a standalone `wss://` server. The option object is what Node's
 * `https.createServer` / `tls.createSecureContext` take (a curated subset, each value
 * checked), and it is tried once with `tls.createSecureContext` while the options are
 * validated, so a key that does not match its certificate, a wrong passphrase or a file
 * that is no PEM throws `InvalidOptionError` at `createServer`, not at the first client.
 */
import { createSecureContext, type KeyObject, type PxfObject, type SecureContext, type SecureVersion } from 'node:tls';
import { InvalidOptionError } from './errors.js';
import { boolean, fail, func, integer, nestedScope, oneOf, readOptions, satisfies, serverScope, string, type Check, type OptionScope } from './validate.js';

/** PEM (or DER for `ca`/`crl` as Node allows) data: one string or Buffer, or several. */
export type TlsData = string | Buffer | ReadonlyArray<string | Buffer>;

/**
 * TLS settings of a standalone server (option `tls` of `createServer`), as Node's
 * `https.createServer` takes them: `cert` and `key` (PEM), or `pfx`, are required.
 * Only the context part (everything but `requestCert`, `rejectUnauthorized` and
 * `SNICallback`) can be replaced at run time with `server.reloadTls(...)`.
 */
export interface TlsOptions {
  /** Certificate chain in PEM: the server's certificate first, then intermediates. */
  cert?: TlsData;
  /** Private key(s) in PEM; an object form `{ pem, passphrase }` per key is allowed. */
  key?: string | Buffer | ReadonlyArray<string | Buffer | KeyObject>;
  /** PKCS#12 bundle(s) of key and chain, instead of `cert` and `key`. */
  pfx?: string | Buffer | ReadonlyArray<string | Buffer | PxfObject>;
  /** Passphrase of an encrypted `key` or `pfx`. */
  passphrase?: string;
  /** Trusted CA certificates, replacing Node's list (for client certificates with `requestCert`). */
  ca?: TlsData;
  /** Certificate revocation lists in PEM. */
  crl?: TlsData;
  /** OpenSSL cipher list. Default: Node's. */
  ciphers?: string;
  /** Lowest TLS version accepted. Default: Node's (`'TLSv1.2'`). */
  minVersion?: SecureVersion;
  /** Highest TLS version accepted. Default: Node's (`'TLSv1.3'`). */
  maxVersion?: SecureVersion;
  /** ECDH curve names, colon-separated, or `'auto'`. Default: Node's. */
  ecdhCurve?: string;
  /** Diffie-Hellman parameters (PEM) or `'auto'`. Default: none. */
  dhparam?: string | Buffer;
  /** Prefer the server's cipher order over the client's. Default: false. */
  honorCipherOrder?: boolean;
  /** Signature algorithms, colon-separated. Default: Node's. */
  sigalgs?: string;
  /** OpenSSL `SSL_OP_*` flags. Default: none. */
  secureOptions?: number;
  /** Seconds a TLS session may be resumed. Default: Node's (300). */
  sessionTimeout?: number;
  /** 48 bytes of session ticket keys (share them between servers to resume across them). Default: random. */
  ticketKeys?: Buffer;
  /** Ask clients for a certificate (mutual TLS, checked against `ca`). Default: false. */
  requestCert?: boolean;
  /** With `requestCert`: refuse clients whose certificate does not verify. Default: true. */
  rejectUnauthorized?: boolean;
  /** Chooses a context by server name (SNI); clients that send no name get `cert`/`key`. */
  SNICallback?: (servername: string, cb: (error: Error | null, context?: SecureContext) => void) => void;
}

/** Keys that `https.Server#setSecureContext` cannot change: a reload must keep them. */
const FIXED_AT_START = ['requestCert', 'rejectUnauthorized', 'SNICallback'] as const;

const isData = (value: unknown): boolean => typeof value === 'string' || Buffer.isBuffer(value);
const isDataList = (value: unknown, item: (v: unknown) => boolean): boolean =>
  isData(value) || (Array.isArray(value) && value.length > 0 && value.every(item));
const withPassphrase = (field: 'pem' | 'buf') => (value: unknown): boolean =>
  isData(value) ||
  (typeof value === 'object' &&
    value !== null &&
    isData((value as Record<string, unknown>)[field]) &&
    ['undefined', 'string'].includes(typeof (value as Record<string, unknown>).passphrase));

const data = (what: string): Check<TlsData> =>
  satisfies((value) => isDataList(value, isData), `must be ${what}: a string, a Buffer or a non-empty array of them`);
const versions: readonly SecureVersion[] = ['TLSv1.3', 'TLSv1.2', 'TLSv1.1', 'TLSv1'];

const tlsSpec = {
  cert: data('PEM certificates'),
  key: satisfies<NonNullable<TlsOptions['key']>>(
    (value) => isDataList(value, withPassphrase('pem')),
    'must be a PEM private key: a string, a Buffer or a non-empty array of them (or of { pem, passphrase })',
  ),
  pfx: satisfies<NonNullable<TlsOptions['pfx']>>(
    (value) => isDataList(value, withPassphrase('buf')),
    'must be a PKCS#12 bundle: a string, a Buffer or a non-empty array of them (or of { buf, passphrase })',
  ),
  passphrase: string(),
  ca: data('CA certificates'),
  crl: data('certificate revocation lists'),
  ciphers: string({ nonEmpty: true }),
  minVersion: oneOf(versions),
  maxVersion: oneOf(versions),
  ecdhCurve: string({ nonEmpty: true }),
  dhparam: satisfies<string | Buffer>(isData, 'must be a string or a Buffer'),
  honorCipherOrder: boolean(),
  sigalgs: string({ nonEmpty: true }),
  secureOptions: integer({ min: 0 }),
  sessionTimeout: integer(),
  ticketKeys: satisfies<Buffer>((value) => Buffer.isBuffer(value) && value.length === 48, 'must be a Buffer of 48 bytes'),
  requestCert: boolean(),
  rejectUnauthorized: boolean(),
  SNICallback: func<NonNullable<TlsOptions['SNICallback']>>(),
};

const NO_DEFAULTS = Object.fromEntries(Object.keys(tlsSpec).map((key) => [key, undefined])) as never;

/** The first line of an OpenSSL/Node error, for a one-line option message. */
function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

/**
 * Checks a `tls` option value (in `scope`, whose label names it, e.g. `Option "tls"`) and
 * returns a copy without undefined keys. Throws `InvalidOptionError` for an unknown key, a
 * bad value, neither `cert`+`key` nor `pfx`, or data OpenSSL refuses (the message says why).
 */
export function checkTls(value: unknown, key: string, scope: OptionScope): TlsOptions {
  const inner = nestedScope(scope, key);
  const read = readOptions(inner, value, tlsSpec, NO_DEFAULTS) as Record<string, unknown>;
  const tls = Object.fromEntries(Object.entries(read).filter(([, v]) => v !== undefined)) as TlsOptions;
  if (tls.pfx === undefined && (tls.cert === undefined || tls.key === undefined)) {
    return fail(scope, key, 'needs "cert" and "key" (PEM), or "pfx"');
  }
  if (tls.pfx !== undefined && (tls.cert !== undefined || tls.key !== undefined)) {
    return fail(scope, key, 'takes "cert" and "key", or "pfx", not both');
  }
  try {
    createSecureContext(tls as Parameters<typeof createSecureContext>[0]);
  } catch (error) {
    return fail(scope, key, `cannot make a TLS context: ${firstLine(error)}`);
  }
  return tls;
}

/**
 * Checks the TLS options of a reload (`server.reloadTls`): as the option, and the keys a
 * running server cannot change (`requestCert`, `rejectUnauthorized`, `SNICallback`) must
 * keep their values.
 */
export function checkTlsReload(value: unknown, current: TlsOptions): TlsOptions {
  const next = checkTls(value, 'tls', serverScope);
  for (const name of FIXED_AT_START) {
    if (next[name] !== current[name]) {
      throw new InvalidOptionError(`Option "tls.${name}" cannot change without a restart (reloadTls replaces the certificate, key and the rest of the TLS context only)`);
    }
  }
  return next;
}
