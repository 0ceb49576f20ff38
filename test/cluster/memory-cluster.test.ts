/** The cross-node Endpoint contract on the in-process adapter, plus what is particular to it. */
import { describe, expect, it } from 'vitest';
import { createMetrics, createServer, ErrorCodes, InvalidOptionError, memoryCluster } from '../../src/index.js';
import { describeCrossNode } from './cross-node.contract.js';

describeCrossNode('in-process', (() => {
  const cluster = memoryCluster();
  return () => cluster.adapter();
})());

describe('cluster options', () => {
  it('cluster excludes nodeId, and nodeId is range-checked', () => {
    const adapter = memoryCluster().adapter();
    expect(() => createServer({}, { cluster: adapter, nodeId: 3 })).toThrow(InvalidOptionError);
    expect(() => createServer({}, { nodeId: -1 })).toThrow(/"nodeId" must be an integer from 0 to 2097151/);
    expect(() => createServer({}, { nodeId: 2 ** 21 })).toThrow(InvalidOptionError);
    expect(() => createServer({}, { cluster: {} as never })).toThrow(/"cluster" must be a cluster adapter/);
  });

  it('an adapter joins once: a second server on the same adapter fails to start', async () => {
    const adapter = memoryCluster().adapter();
    const one = createServer({}, { cluster: adapter, host: '127.0.0.1' });
    await one.start();
    const two = createServer({}, { cluster: adapter, host: '127.0.0.1' });
    await expect(two.start()).rejects.toMatchObject({ code: ErrorCodes.CLUSTER });
    expect(two.state).toBe('failed');
    await one.stop();
  });
});

describe('cluster metrics', () => {
  it('mirror the adapter counters under wsactor_cluster_events_total', async () => {
    const cluster = memoryCluster();
    const a = createServer({}, { cluster: cluster.adapter(), host: '127.0.0.1' });
    const b = createServer({}, { cluster: cluster.adapter(), host: '127.0.0.1' });
    await Promise.all([a.start(), b.start()]);
    expect(createServer({}).clusterStats).toBeNull();
    const metrics = createMetrics(a);
    await a.endpoint.broadcast('x'); // one request out to b, one reply back
    await a.endpoint.getClients(); // and again
    const text = await metrics.registry.metrics();
    expect(text).toContain('wsactor_cluster_events_total{event="published"} 2');
    expect(text).toContain('wsactor_cluster_events_total{event="received"} 2');
    expect(text).toContain('wsactor_cluster_events_total{event="gaps"} 0');
    metrics.close();
    await Promise.all([a.stop(), b.stop()]);
  });
});
