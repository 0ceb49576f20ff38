import { describe, expect, it } from 'vitest';
import { Message } from '../../src/index.js';

async function chunksOf(message: Message): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of message) chunks.push(chunk);
  return chunks;
}

describe('Message', () => {
  it('yields its chunks in order and joins them for buffer() and text()', async () => {
    const message = new Message([Buffer.from([0x61, 0xe2]), Buffer.from([0x82]), Buffer.from([0xac, 0x62])], false);
    expect(message.size).toBe(5);
    expect(await chunksOf(message)).toEqual([Buffer.from([0x61, 0xe2]), Buffer.from([0x82]), Buffer.from([0xac, 0x62])]);
    expect(await message.text()).toBe('a€b');
    expect(await message.buffer()).toEqual(Buffer.from('a€b'));
  });

  it('joins chunks that are adjacent views of one buffer without copying', async () => {
    const whole = Buffer.from('a€b');
    const message = new Message([whole.subarray(0, 2), whole.subarray(2, 3), whole.subarray(3)], false);
    const joined = await message.buffer();
    expect(joined).toEqual(whole);
    expect(joined.buffer).toBe(whole.buffer);
    expect(joined.byteOffset).toBe(whole.byteOffset);
    expect(await message.text()).toBe('a€b');
  });

  it('copies views of one buffer that are not adjacent', async () => {
    const backing = Buffer.from('ab--cd');
    const message = new Message([backing.subarray(0, 2), backing.subarray(4)], true);
    expect(await message.buffer()).toEqual(Buffer.from('abcd'));
  });

  it('an empty message has no chunks and an empty payload', async () => {
    const message = new Message([], true);
    expect(message.size).toBe(0);
    expect(await chunksOf(message)).toEqual([]);
    expect(await message.buffer()).toEqual(Buffer.alloc(0));
    expect(await message.text()).toBe('');
  });
});
