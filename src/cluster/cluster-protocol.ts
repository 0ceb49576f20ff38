/**
 * What the cluster primary and its workers tell each other: environment variables at fork
 * time, then tagged IPC messages (the tag keeps them apart from the app's own messages).
 */

/** Environment variables the primary sets for each worker it forks. */
export const ENV = {
  /** The node id the primary picked, or `'adapter'` when the cluster adapter assigns it. */
  nodeId: 'WSACTOR_CLUSTER_NODE_ID',
  port: 'WSACTOR_CLUSTER_PORT',
  /** Absent when the server listens on all interfaces. */
  host: 'WSACTOR_CLUSTER_HOST',
} as const;

/** The value of {@link ENV.nodeId} when the adapter assigns node ids. */
export const ADAPTER_ASSIGNS = 'adapter';

const TAG = 'wsactor.cluster';

/** Worker → primary. */
export type WorkerMessage =
  /** runCluster() runs in the worker and listens for primary messages from now on. */
  | { readonly tag: typeof TAG; readonly type: 'hello' }
  | { readonly tag: typeof TAG; readonly type: 'ready'; readonly nodeId: number; readonly port: number }
  | { readonly tag: typeof TAG; readonly type: 'failed'; readonly message: string };

/** Primary → worker. */
export type PrimaryMessage = { readonly tag: typeof TAG; readonly type: 'stop' };

type Untagged<M> = M extends unknown ? Omit<M, 'tag'> : never;

/** Adds the tag to a message body. */
export function tagged<M extends WorkerMessage | PrimaryMessage>(body: Untagged<M>): M {
  return { tag: TAG, ...body } as M;
}

function isTagged(value: unknown): value is { tag: typeof TAG; type: unknown } {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === TAG;
}

/** Narrows an IPC message from a worker; anything else (the app's messages) gives null. */
export function asWorkerMessage(value: unknown): WorkerMessage | null {
  if (!isTagged(value)) return null;
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case 'hello':
      return value as WorkerMessage;
    case 'ready':
      return typeof message.nodeId === 'number' && typeof message.port === 'number' ? (value as WorkerMessage) : null;
    case 'failed':
      return typeof message.message === 'string' ? (value as WorkerMessage) : null;
    default:
      return null;
  }
}

/** Narrows an IPC message from the primary; anything else gives null. */
export function asPrimaryMessage(value: unknown): PrimaryMessage | null {
  return isTagged(value) && value.type === 'stop' ? (value as PrimaryMessage) : null;
}
