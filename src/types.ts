import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { AnyMachineSnapshot } from 'xstate';
import type { ClientMachineConfig } from './client-machine.js';
import type { Endpoint } from './endpoint/types.js';
import type { Message } from './runtime/message.js';

/** The upgrade request as `onHandshake` sees it. */
export interface HandshakeRequest {
  readonly method: string;
  /** Request target as sent, e.g. `/chat?room=1`. */
  readonly url: string;
  /** Pathname part of `url`. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lower-cased header names, as Node parses them. */
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Subprotocols the client offered, in its order of preference. */
  readonly subprotocols: readonly string[];
  readonly origin: string | undefined;
  /** The underlying Node request, for anything not covered above. */
  readonly raw: IncomingMessage;
}

/** Lets `onHandshake` set response headers, pick a subprotocol, or reject. */
export interface HandshakeResponse {
  /** Adds a header to the 101 (or to the rejection). Reserved WebSocket headers are refused. */
  setHeader(name: string, value: string | readonly string[]): void;
  /** Picks one of the subprotocols the client offered. */
  setSubprotocol(protocol: string): void;
  /** Rejects the upgrade with a status >= 300 and an optional plain-text body. */
  reject(status: number, body?: string): void;
}

type MaybePromise<T> = T | Promise<T>;

/**
 * A WebSocket application: the Aerys `Websocket` interface. Every hook may return a promise,
 * which is awaited; see docs/lifecycle.md for the ordering guarantees.
 *
 * @typeParam H - what `onHandshake` returns and `onOpen` receives.
 */
export interface Websocket<H = unknown> {
  /** Server starting; store the endpoint. The server accepts nothing until this settles. */
  onStart?(endpoint: Endpoint): MaybePromise<void>;
  /** Each upgrade request that passed the RFC 6455 checks; its return value becomes `handshakeData`. */
  onHandshake?(request: HandshakeRequest, response: HandshakeResponse): MaybePromise<H>;
  /** The 101 was written; messages wait until this settles. */
  onOpen?(clientId: number, handshakeData: H): MaybePromise<void>;
  /** One data message; by default one at a time per client, in arrival order. */
  onData?(clientId: number, message: Message): MaybePromise<void>;
  /**
   * Exactly once per client that got `onOpen`, after its socket is gone. With a
   * `clientMachine`, `machine` is that client's final machine snapshot (its actor is stopped).
   */
  onClose?(clientId: number, code: number, reason: string, machine?: AnyMachineSnapshot): MaybePromise<void>;
  /** Server stopping; runs before clients are closed with 1001. */
  onStop?(): MaybePromise<void>;
  /**
   * Optional per-client machine (see {@link clientMachine}): one actor of it per opened client,
   * fed by that client's messages in place of `onData` (which is not called then).
   */
  readonly clientMachine?: ClientMachineConfig;
}
