/** The cross-node Endpoint contract on the in-process adapter, plus what is particular to it. */
import { describe, expect, it } from 'vitest';
import { createServer, ErrorCodes, InvalidOptionError, memoryCluster } from '../../src/index.js';
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
