/**
 * Messages read in the same TCP read as a protocol violation (docs/lifecycle.md, C4 and S3):
 * they are delivered to onData, but the violation began the close, so replies to them fail with
 * WSA_ERR_CLIENT_CLOSING (counted, never reported as sent) and the client gets 1002 and no
 * replies. Raw ws answers them before its close frame; wsactor keeps S3 ("a send called after
 * the client's close began never resolves as success") instead: a peer that breaks the protocol
 * gets no more data, and nothing the app was told is sent is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, Message, SendResult, Websocket } from '../../src/index.js';
import { Opcode, frame, rawUpgrade, type RawClient } from '../helpers/raw-client.js';
import { startServer, waitFor, type StartedServer } from '../helpers/harness.js';

let running: StartedServer<unknown> | null = null;
const raws: RawClient[] = [];

afterEach(async () => {
  for (const raw of raws.splice(0)) raw.socket.destroy();
  await running?.server.stop();
  running = null;
});

describe('replies to messages read before a protocol violation', () => {
  it('are delivered (C4), their replies fail as the close began (S3), the client gets 1002 and no data', async () => {
    let endpoint!: Endpoint;
    const delivered: string[] = [];
    const results: SendResult[] = [];
    const closes: number[] = [];
    const app: Websocket<unknown> = {
      onStart: (e) => void (endpoint = e),
      async onData(id: number, message: Message) {
        const text = await message.text();
        delivered.push(text);
        results.push(await endpoint.send(`echo ${text}`, id));
      },
      onClose: (_id, code) => void closes.push(code),
    };
    running = await startServer(app);
    const raw = await rawUpgrade(running.port);
    raws.push(raw);
    // Three valid messages and a frame with a reserved opcode (0x3), in one write.
    raw.send(
      frame({ opcode: Opcode.TEXT, payload: 'e1' }),
      frame({ opcode: Opcode.TEXT, payload: 'e2' }),
      frame({ opcode: Opcode.TEXT, payload: 'e3' }),
      frame({ opcode: 0x3, payload: '' }),
    );
    const close = await raw.closeFrame();
    expect(close.code).toBe(1002);
    await waitFor(() => closes.length === 1, 3000, 'onClose');
    expect(delivered).toEqual(['e1', 'e2', 'e3']);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['WSA_ERR_CLIENT_CLOSING', 'WSA_ERR_CLIENT_CLOSING', 'WSA_ERR_CLIENT_CLOSING']);
    expect(raw.frames.filter((f) => f.opcode === Opcode.TEXT)).toEqual([]);
    expect(closes).toEqual([1002]);
  });
});
