/**
 * Self-signed certificates made at test time with Debian's `openssl` (no private key is
 * committed): EC P-256, valid for `localhost` and `127.0.0.1`, so a client that trusts the
 * certificate itself as its CA verifies the host name too.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface TestCert {
  /** PEM files, in the certificate set's temp directory. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** `AB:CD:...`, as Node's `getPeerCertificate().fingerprint256` shows it. */
  readonly fingerprint256: string;
}

export interface TestCerts {
  readonly dir: string;
  /** Makes a new self-signed certificate and key named `name` (also its CN). */
  make(name: string, options?: { passphrase?: string }): TestCert;
  /** Removes the directory and every file in it. */
  remove(): void;
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`openssl ${args[0] ?? ''} failed (${why}); Debian's openssl package is needed`, { cause: error });
  }
}

/** A temp directory to make certificates in. */
export function testCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'wsactor-tls-'));
  return {
    dir,
    make(name, options = {}) {
      const certFile = join(dir, `${name}.crt`);
      const keyFile = join(dir, `${name}.key`);
      const plainKey = options.passphrase === undefined ? keyFile : join(dir, `${name}.plain.key`);
      openssl([
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', plainKey, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ]);
      if (options.passphrase !== undefined) {
        openssl(['pkey', '-in', plainKey, '-out', keyFile, '-aes256', '-passout', `pass:${options.passphrase}`]);
      }
      const cert = readFileSync(certFile, 'utf8');
      return { certFile, keyFile, cert, key: readFileSync(keyFile, 'utf8'), fingerprint256: new X509Certificate(cert).fingerprint256 };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The SHA-256 fingerprint of the certificate a TLS server on 127.0.0.1:`port` shows a new connection. */
export function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const { fingerprint256 } = socket.getPeerCertificate();
      socket.destroy();
      resolve(fingerprint256);
    });
    socket.once('error', reject);
  });
}
