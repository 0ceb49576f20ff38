/** Timer options on the wire: heartbeats can be turned off; Node's timer limit is refused up front. */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/index.js';
import { InvalidOptionError } from '../../src/errors.js';
import { Opcode, rawUpgrade, type RawClient } from '../helpers/raw-client.js';
import { startServer, type StartedServer } from '../helpers/harness.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let running: StartedServer<unknown> | null = null;
const raws: RawClient[] = [];

afterEach(async () => {
  for (const raw of raws.splice(0)) raw.socket.destroy();
  await running?.server.stop();
  running = null;
});

describe('timer options', () => {
  it('heartbeatMs: 30 pings a silent client; heartbeatMs: null never does, and never closes it', async () => {
    for (const heartbeatMs of [30, null]) {
      running = await startServer({}, { heartbeatMs, maxUnansweredPings: 100 });
      const raw = await rawUpgrade(running.port);
      raws.push(raw);
      await sleep(250);
      const pings = raw.frames.filter((f) => f.opcode === Opcode.PING).length;
      if (heartbeatMs === null) {
        expect(pings).toBe(0);
        expect(raw.closed).toBe(false);
      } else {
        expect(pings).toBeGreaterThanOrEqual(3);
      }
      await running.server.stop();
      running = null;
    }
  });

  it.each(['handshakeTimeoutMs', 'closePeriodMs', 'heartbeatMs', 'stopTimeoutMs'])('%s: 2**31 is refused by createServer (it would fire after 1 ms)', (key) => {
    expect(() => createServer({}, { [key]: 2 ** 31 })).toThrow(InvalidOptionError);
  });
});
