/**
 * `wsactor/cluster`: several processes or hosts behind one Endpoint. `runCluster` (one primary,
 * forked workers), the in-process `memoryCluster`, and the types a custom adapter implements.
 * The Redis adapter is `wsactor/redis`. Everything here is also exported by `wsactor`.
 */
export {
  nodeOf,
  NODE_ID_SHIFT,
  MAX_NODE_ID,
  type ClusterAdapter,
  type AdapterStats,
  type Gathered,
  type NodeRequest,
  type NodeReply,
  type RequestHandler,
  type WireError,
} from '../cluster/adapter.js';
export { memoryCluster, MemoryCluster, type MemoryAdapterOptions } from '../cluster/memory-adapter.js';
export {
  runCluster,
  type ClusterOptions,
  type ClusterHandle,
  type ClusterReady,
  type ClusterWorker,
  type ForkedWorker,
  type ClusterEvent,
  type ClusterSetup,
  type ClusterServerOptions,
  type ClusterWorkerContext,
} from '../cluster/cluster.js';
