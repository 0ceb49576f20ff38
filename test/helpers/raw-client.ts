/**
 * A tiny raw WebSocket client over `node:net` for tests that must send what no well-behaved
 * client sends: the HTTP upgrade is written by hand, frames are built by hand (any FIN/RSV/
 * opcode/mask/length encoding) and the server's frames are parsed from the socket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';

export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** RSV bits as the 3-bit field of the first header byte: RSV1 = 0b100, RSV2 = 0b010, RSV3 = 0b001. */
export const Rsv = { RSV1: 0b100, RSV2: 0b010, RSV3: 0b001 } as const;

export interface FrameOptions {
  /** Default true. */
  fin?: boolean;
  /** The 3 RSV bits (see {@link Rsv}). Default 0. */
  rsv?: number;
  opcode: number;
  /** Strings are UTF-8 encoded. Default empty. */
  payload?: Buffer | string;
  /** Mask the payload, as a client must. Default true. */
  mask?: boolean;
  /** The masking key; random by default. */
  maskKey?: Buffer;
  /**
   * How the length is written: 7 (only up to 125), 16 (126 + 2 bytes) or 64 (127 + 8 bytes).
   * Default: the shortest that fits. Longer encodings than needed are allowed on purpose.
   */
  lengthEncoding?: 7 | 16 | 64;
  /** Writes this length in the header instead of the real one (the payload is sent as is). */
  declaredLength?: number | bigint;
}

/** Builds one frame (header, masking key, masked payload) exactly as described. */
export function frame(options: FrameOptions): Buffer {
  const { fin = true, rsv = 0, opcode, mask = true } = options;
  const payload = typeof options.payload === 'string' ? Buffer.from(options.payload, 'utf8') : (options.payload ?? Buffer.alloc(0));
  const declared = BigInt(options.declaredLength ?? payload.length);
  const encoding = options.lengthEncoding ?? (declared < 126n ? 7 : declared < 65536n ? 16 : 64);
  if (encoding === 7 && declared > 125n) throw new RangeError(`length ${declared} does not fit 7 bits`);
  if (encoding === 16 && declared > 0xffffn) throw new RangeError(`length ${declared} does not fit 16 bits`);
  const extra = encoding === 7 ? 0 : encoding === 16 ? 2 : 8;
  const header = Buffer.alloc(2 + extra);
  header[0] = (fin ? 0x80 : 0) | ((rsv & 0b111) << 4) | (opcode & 0x0f);
  const lengthByte = encoding === 7 ? Number(declared) : encoding === 16 ? 126 : 127;
  header[1] = (mask ? 0x80 : 0) | lengthByte;
  if (encoding === 16) header.writeUInt16BE(Number(declared), 2);
  if (encoding === 64) header.writeBigUInt64BE(declared, 2);
  if (!mask) return Buffer.concat([header, payload]);
  const key = options.maskKey ?? randomBytes(4);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = (payload[i] as number) ^ (key[i % 4] as number);
  return Buffer.concat([header, key.subarray(0, 4), masked]);
}

/** The payload of a close frame: a 2-byte code and a UTF-8 reason. */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason]);
}

/** A frame as read from the socket. */
export interface ParsedFrame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  /** Unmasked payload. */
  readonly payload: Buffer;
}

export interface CloseFrame {
  /** 1005 when the close frame had no payload (RFC 6455 7.1.5). */
  readonly code: number;
  readonly reason: string;
}

/** Parses one frame from the front of `buffer`; null while incomplete. */
export function parseFrame(buffer: Buffer): { frame: ParsedFrame; length: number } | null {
  if (buffer.length < 2) return null;
  const b0 = buffer[0] as number;
  const b1 = buffer[1] as number;
  let offset = 2;
  let length = b1 & 0x7f;
  if (length === 126) {
    if (buffer.length < 4) return null;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return null;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const key = masked ? buffer.subarray(offset, offset + 4) : null;
  if (masked) offset += 4;
  if (buffer.length < offset + length) return null;
  const payload = Buffer.from(buffer.subarray(offset, offset + length));
  if (key !== null) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (key[i % 4] as number);
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 0b111, opcode: b0 & 0x0f, masked, payload },
    length: offset + length,
  };
}

/** The HTTP answer to an upgrade request. */
export interface UpgradeResponse {
  readonly status: number;
  readonly statusLine: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
}

/** The upgrade was not answered with 101. */
export class UpgradeFailed extends Error {
  constructor(
    readonly status: number,
    readonly response: string,
  ) {
    super(`upgrade answered with ${status}: ${JSON.stringify(response.slice(0, 200))}`);
  }
}

export interface RawUpgradeOptions {
  host?: string;
  /** Request target. Default `/`. */
  path?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** A WebSocket connection after the 101, driven by hand. */
export class RawClient {
  readonly socket: Socket;
  readonly response: UpgradeResponse;
  /** Every frame parsed so far, in order (also those skipped by {@link closeFrame}). */
  readonly frames: ParsedFrame[] = [];
  /** The socket error, if any (e.g. ECONNRESET). */
  error: Error | null = null;
  #buffer: Buffer;
  #cursor = 0;
  #closed = false;
  #wakers = new Set<() => void>();

  constructor(socket: Socket, response: UpgradeResponse, leftover: Buffer) {
    this.socket = socket;
    this.response = response;
    this.#buffer = leftover;
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#parse();
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    if (socket.destroyed) this.#closed = true;
    this.#parse();
  }

  /** True once the TCP socket closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes raw bytes (frames, garbage); ignored once the socket cannot be written. */
  send(...chunks: Buffer[]): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  }

  /** Builds and sends one frame. */
  sendFrame(options: FrameOptions): void {
    this.send(frame(options));
  }

  /** The next frame not yet returned; rejects if the socket closes first or on timeout. */
  async nextFrame(timeoutMs = 2000): Promise<ParsedFrame> {
    await this.#until(() => this.#cursor < this.frames.length, timeoutMs, 'a frame');
    return this.frames[this.#cursor++] as ParsedFrame;
  }

  /** Skips frames up to the next close frame and decodes it. */
  async closeFrame(timeoutMs = 2000): Promise<CloseFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const next = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (next.opcode !== Opcode.CLOSE) continue;
      if (next.payload.length < 2) return { code: 1005, reason: '' };
      return { code: next.payload.readUInt16BE(0), reason: next.payload.subarray(2).toString('utf8') };
    }
  }

  /** Resolves once the TCP socket closed; rejects on timeout. */
  waitClosed(timeoutMs = 2000): Promise<void> {
    return this.#until(() => this.#closed, timeoutMs, 'the socket to close');
  }

  /** Stops reading from the socket (the kernel buffers fill, then the server's). */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Half-closes (sends FIN). */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  /** Drops the connection at once, with a TCP RST where the platform allows. */
  reset(): void {
    if (this.socket.destroyed) return;
    if (typeof this.socket.resetAndDestroy === 'function') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  #parse(): void {
    for (;;) {
      const parsed = parseFrame(this.#buffer);
      if (parsed === null) return;
      this.frames.push(parsed.frame);
      this.#buffer = this.#buffer.subarray(parsed.length);
    }
  }

  #wake(): void {
    for (const wake of this.#wakers) wake();
  }

  #until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          done();
          resolve();
        } else if (this.#closed) {
          done();
          reject(new Error(`socket closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(check);
      };
      this.#wakers.add(check);
      check();
    });
  }
}

/** A fresh `Sec-WebSocket-Key` and the `Sec-WebSocket-Accept` the server must answer with. */
export function handshakeKey(): { key: string; accept: string } {
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return { key, accept };
}

/**
 * Connects to 127.0.0.1:`port`, writes the upgrade request by hand and resolves with a
 * {@link RawClient} once the 101 (with the right `Sec-WebSocket-Accept`) arrived; rejects
 * with {@link UpgradeFailed} on any other answer.
 */
export function rawUpgrade(port: number, options: RawUpgradeOptions = {}): Promise<RawClient> {
  const { host = '127.0.0.1', path = '/', headers = {}, timeoutMs = 2000 } = options;
  const { key, accept } = handshakeKey();
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    let received = Buffer.alloc(0);
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no upgrade answer within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine = '', ...headerLines] = received.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(statusLine.split(' ')[1]);
      const parsed: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        parsed[name] = parsed[name] === undefined ? value : `${parsed[name]}, ${value}`;
      }
      if (status !== 101) {
        fail(new UpgradeFailed(status, received.toString('latin1')));
        return;
      }
      if (parsed['sec-websocket-accept'] !== accept) {
        fail(new Error(`bad Sec-WebSocket-Accept: ${parsed['sec-websocket-accept']}`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      // Handed over synchronously, so no byte after the 101 is lost.
      resolve(new RawClient(socket, { status, statusLine, headers: parsed }, received.subarray(end + 4)));
    };
    const onClose = (): void => fail(new UpgradeFailed(0, received.toString('latin1')));
    socket.on('error', (error) => fail(error));
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/** A plain TCP connection with an 'error' handler attached, resolved once connected. */
export function rawTcp(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    socket.on('error', (error) => reject(error));
    socket.once('connect', () => resolve(socket));
  });
}
