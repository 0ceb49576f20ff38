/**
 * A `ws` client of the lobby example for tests: it parses what the server sends, keeps it in
 * order, and lets a test wait for the answer to what it just sent while skipping the
 * broadcasts that may come in between (room lists, room updates, the leaderboard).
 */
import { WebSocket } from 'ws';
import type { RoomView, ServerMessage } from '../../examples/lobby/protocol.js';

/** Messages other clients' actions cause at any moment; an expectation skips them unless it asks for them. */
const NOISE: ReadonlySet<string> = new Set(['rooms', 'room', 'leaderboard']);

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class LobbyClient {
  readonly messages: ServerMessage[] = [];
  /** The last `room` message, or null. */
  lastRoom: RoomView | null = null;
  readonly closed: Promise<Closed>;
  #cursor = 0;
  #wake: (() => void) | null = null;
  #closedNow: Closed | null = null;

  private constructor(
    readonly ws: WebSocket,
    /** Called for each message as it arrives (a scripted opponent answers from here). */
    onMessage: (message: ServerMessage, client: LobbyClient) => void,
  ) {
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as ServerMessage;
      this.messages.push(message);
      if (message.type === 'room') this.lastRoom = message;
      onMessage(message, this);
      this.#wake?.();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        this.#closedNow = { code, reason: reason.toString('utf8') };
        resolve(this.#closedNow);
        this.#wake?.();
      }),
    );
  }

  static connect(url: string, onMessage: (message: ServerMessage, client: LobbyClient) => void = () => undefined): Promise<LobbyClient> {
    const ws = new WebSocket(url);
    const client = new LobbyClient(ws, onMessage);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /**
   * The next message (from where the last expectation stopped) that `match` accepts. Noise
   * (rooms, room, leaderboard) that does not match is skipped; any other message before the
   * match fails, as does the socket closing or `timeoutMs` passing.
   */
  async expect(match: (message: ServerMessage) => boolean, what: string, timeoutMs = 3000): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.messages.length) {
        const message = this.messages[this.#cursor++] as ServerMessage;
        if (match(message)) return message;
        if (!NOISE.has(message.type)) throw new Error(`expected ${what}, got ${JSON.stringify(message)}`);
      }
      const left = deadline - Date.now();
      if (this.#closedNow !== null) throw new Error(`expected ${what}, but the socket closed (${this.#closedNow.code} ${this.#closedNow.reason})`);
      if (left <= 0) throw new Error(`expected ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
  }

  /** The close, or a rejection after `timeoutMs`. */
  closedWithin(timeoutMs = 3000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the socket did not close within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([this.closed, late]).finally(() => clearTimeout(timer));
  }

  /** Messages not consumed by an expectation that are not noise. */
  unexpected(): ServerMessage[] {
    return this.messages.slice(this.#cursor).filter((message) => !NOISE.has(message.type));
  }

  close(): void {
    this.ws.close();
  }
}

/** Polls `predicate` until it holds; rejects after `timeoutMs` with `what`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
