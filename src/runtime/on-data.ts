/**
 * Calls the app's `onData` for one message without an async wrapper: a synchronous hook
 * settles at once (true, or false after `failed`), an async one returns its promise as is,
 * so a message costs no extra promise unless metrics time the hook.
 */
import type { Websocket } from '../types.js';
import type { Message } from './message.js';

export function callOnData(
  app: Websocket<unknown>,
  client: { readonly id: number; deliveryFailed(error: unknown): void },
  message: Message,
  timed: ((durationMs: number, ok: boolean) => void) | null,
): boolean | PromiseLike<unknown> {
  if (app.onData === undefined) return true;
  const started = timed === null ? 0 : performance.now();
  let result: unknown;
  try {
    result = app.onData(client.id, message);
  } catch (error) {
    timed?.(performance.now() - started, false);
    client.deliveryFailed(error);
    return false;
  }
  if (!isThenable(result)) {
    timed?.(performance.now() - started, true);
    return true;
  }
  if (timed === null) return result;
  return Promise.resolve(result).then(
    () => timed(performance.now() - started, true),
    (error: unknown) => {
      timed(performance.now() - started, false);
      throw error;
    },
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
