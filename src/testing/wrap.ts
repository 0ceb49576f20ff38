/**
 * Wraps (does not mock) a user's app: each hook the server calls is recorded, optionally
 * delayed, then the app's real hook runs with the real arguments, inside an AsyncLocalStorage
 * context naming the hook call, so Endpoint calls made by its work (after awaits, in timers it
 * started) are attributed to it. The Endpoint handed to the app's `onStart` records every
 * send, broadcast, multicast and close with its result.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BroadcastResult, Endpoint, SendResult } from '../endpoint/types.js';
import type { Message } from '../runtime/message.js';
import type { HandshakeRequest, HandshakeResponse, Websocket } from '../types.js';
import { describeMessage } from './scenario.js';
import type { EndpointCall, EndpointMethod, HookCall, HookName, Mutable, Recorder } from './trace.js';

/** The request header that tells the kit which generated connection an upgrade is (removed before the app sees it). */
export const CONNECTION_HEADER = 'x-wsactor-testing-connection';

/** Milliseconds to wait before the real hook: by hook, connection label and (onData) message index. */
export type DelayOf = (hook: HookName, connection: string | null, index: number) => number;

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** A list of ids from an iterable (materialized once, so a generator is not consumed twice), or the value as it was. */
function idList(ids: unknown): unknown {
  if (ids !== null && typeof ids === 'object' && Symbol.iterator in ids && typeof ids !== 'string') {
    return [...(ids as Iterable<unknown>)];
  }
  return ids;
}

function preview(data: unknown): string {
  if (typeof data === 'string') return describeMessage(data);
  if (data instanceof Uint8Array) return describeMessage(data);
  if (data instanceof ArrayBuffer) return describeMessage(new Uint8Array(data));
  return String(data);
}

/** The app as the server sees it during a run: the user's app with every hook recorded. */
export class RecordingApp {
  readonly als = new AsyncLocalStorage<Mutable<HookCall>>();
  /** The client id the server just admitted (its onHandshake call follows synchronously). */
  #admitted: number | null = null;
  readonly #dataCount = new Map<number, number>();
  #nextCall = 0;
  #nextEndpointCall = 0;

  constructor(
    private readonly app: Websocket<unknown>,
    private readonly rec: Recorder,
    private readonly delayOf: DelayOf,
    /** Called as the server invokes `onClose`, before anything else (the client is still known to the Endpoint). */
    private readonly beforeClose: (clientId: number) => void = () => undefined,
  ) {}

  /** Lifecycle listener input: a connection was created (to: 'handshaking'). */
  admitted(clientId: number): void {
    this.#admitted = clientId;
  }

  /** The wrapped app. */
  websocket(): Websocket<unknown> {
    const app = this.app;
    const wrapped: Websocket<unknown> = {
      onStart: (endpoint) => this.#run(this.#start('onStart', null, null), () => app.onStart?.(this.#recordingEndpoint(endpoint))),
      onHandshake: (request, response) => this.#handshake(request, response),
      onOpen: (clientId, data) => this.#run(this.#start('onOpen', clientId, null), () => app.onOpen?.(clientId, data)),
      onData: (clientId, message) => this.#data(clientId, message),
      onClose: (clientId, code, reason, machine) => {
        this.beforeClose(clientId);
        const call = this.#start('onClose', clientId, null);
        call.close = { code, reason };
        return this.#run(call, () => (machine === undefined ? app.onClose?.(clientId, code, reason) : app.onClose?.(clientId, code, reason, machine)));
      },
      onStop: () => this.#run(this.#start('onStop', null, null), () => app.onStop?.()),
      ...(app.clientMachine === undefined ? {} : { clientMachine: app.clientMachine }),
    };
    return wrapped;
  }

  #handshake(request: HandshakeRequest, response: HandshakeResponse): Promise<unknown> {
    const clientId = this.#admitted;
    this.#admitted = null;
    const header = request.headers[CONNECTION_HEADER];
    const label = typeof header === 'string' ? header : null;
    delete (request.headers as Record<string, unknown>)[CONNECTION_HEADER];
    const connection = label === null ? undefined : this.rec.connections.find((c) => c.label === label);
    if (connection !== undefined && clientId !== null) connection.clientId = clientId;
    const call = this.#start('onHandshake', clientId, null, label);
    call.url = request.url;
    return this.#run(call, () => this.app.onHandshake?.(request, response));
  }

  async #data(clientId: number, message: Message): Promise<void> {
    const index = this.#dataCount.get(clientId) ?? 0;
    this.#dataCount.set(clientId, index + 1);
    const call = this.#start('onData', clientId, index);
    call.message = { data: await message.buffer(), isBinary: message.isBinary };
    await this.#run(call, () => this.app.onData?.(clientId, message));
  }

  #start(hook: HookName, clientId: number | null, index: number | null, label: string | null = this.rec.labelOf(clientId)): Mutable<HookCall> {
    const call: Mutable<HookCall> = {
      id: ++this.#nextCall,
      hook,
      connection: label,
      clientId,
      index,
      startSeq: 0,
      endSeq: null,
      error: null,
      delayMs: this.delayOf(hook, label, index ?? 0),
      message: null,
      close: null,
      url: null,
    };
    this.rec.hookCalls.push(call);
    call.startSeq = this.rec.add({ kind: 'hook-start', call });
    return call;
  }

  /** Waits the kit's delay, then runs the real hook in the call's context; records how it settled. */
  async #run<T>(call: Mutable<HookCall>, hook: () => T | Promise<T>): Promise<T> {
    if (call.delayMs > 0) await sleep(call.delayMs);
    try {
      const value = await this.als.run(call, hook);
      call.endSeq = this.rec.add({ kind: 'hook-end', call });
      return value;
    } catch (error) {
      call.error = errorText(error);
      call.endSeq = this.rec.add({ kind: 'hook-end', call });
      throw error;
    }
  }

  #recordingEndpoint(endpoint: Endpoint): Endpoint {
    const record = <R extends SendResult | BroadcastResult>(
      method: EndpointMethod,
      clientIds: readonly number[] | null,
      details: { code?: number; preview: string },
      call: () => Promise<R>,
    ): Promise<R> => {
      const entry: Mutable<EndpointCall> = {
        id: ++this.#nextEndpointCall,
        method,
        clientIds,
        from: this.als.getStore() ?? null,
        calledSeq: 0,
        settledSeq: null,
        sent: [],
        failed: [],
        code: details.code ?? null,
        preview: details.preview,
        threw: null,
      };
      this.rec.endpointCalls.push(entry);
      entry.calledSeq = this.rec.add({ kind: 'endpoint-call', call: entry });
      const settle = (): void => {
        entry.settledSeq = this.rec.add({ kind: 'endpoint-result', call: entry });
      };
      let promise: Promise<R>;
      try {
        promise = call();
      } catch (error) {
        entry.threw = `threw ${errorText(error)}`;
        settle();
        throw error;
      }
      promise.then(
        (result) => {
          if ('ok' in result) {
            const id = clientIds?.[0] ?? NaN;
            if (result.ok) entry.sent = [id];
            else entry.failed = [{ clientId: id, code: result.error.code }];
          } else {
            entry.sent = [...result.sent];
            entry.failed = result.failed.map((f) => ({ clientId: f.clientId, code: f.error.code }));
          }
          settle();
        },
        (error: unknown) => {
          entry.threw = `rejected with ${errorText(error)}`;
          settle();
        },
      );
      return promise;
    };
    const recorded: Partial<Endpoint> = {
      send: (data, clientId) => record('send', [clientId], { preview: preview(data) }, () => endpoint.send(data, clientId)),
      sendBinary: (data, clientId) => record('sendBinary', [clientId], { preview: preview(data) }, () => endpoint.sendBinary(data, clientId)),
      broadcast: (data, exceptIds) => {
        const except = idList(exceptIds) as Iterable<number> | undefined;
        return record('broadcast', null, { preview: preview(data) }, () => endpoint.broadcast(data, except));
      },
      broadcastBinary: (data, exceptIds) => {
        const except = idList(exceptIds) as Iterable<number> | undefined;
        return record('broadcastBinary', null, { preview: preview(data) }, () => endpoint.broadcastBinary(data, except));
      },
      multicast: (data, clientIds) => {
        const ids = idList(clientIds);
        const list = Array.isArray(ids) ? ids.filter((id): id is number => typeof id === 'number') : [];
        return record('multicast', list, { preview: preview(data) }, () => endpoint.multicast(data, ids as Iterable<number>));
      },
      multicastBinary: (data, clientIds) => {
        const ids = idList(clientIds);
        const list = Array.isArray(ids) ? ids.filter((id): id is number => typeof id === 'number') : [];
        return record('multicastBinary', list, { preview: preview(data) }, () => endpoint.multicastBinary(data, ids as Iterable<number>));
      },
      close: (clientId, code, reason) =>
        record('close', [clientId], { code: code ?? 1000, preview: reason === undefined || reason === '' ? '' : JSON.stringify(reason) }, () =>
          endpoint.close(clientId, code, reason),
        ),
    };
    // Everything else (getInfo, getClients, ... and members added later) goes to the real Endpoint.
    return new Proxy(endpoint, {
      get(target, property) {
        if (typeof property === 'string' && Object.hasOwn(recorded, property)) return recorded[property as keyof Endpoint];
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}
