/**
 * The data handling both interop suites give their app: echo text as text and binary as
 * binary; the text command `close:CODE:REASON` makes the server close that client.
 */
import type { Endpoint, Message } from '../../src/index.js';

export async function echoOrClose(endpoint: Endpoint, id: number, message: Message): Promise<void> {
  if (message.isBinary) {
    const sent = await endpoint.sendBinary(await message.buffer(), id);
    if (!sent.ok && sent.error.code !== 'WSA_ERR_CLIENT_CLOSING') throw sent.error;
    return;
  }
  const text = await message.text();
  const command = /^close:(\d+):(.*)$/s.exec(text);
  if (command !== null) {
    const closing = await endpoint.close(id, Number(command[1]), command[2]);
    if (!closing.ok) throw closing.error;
    return;
  }
  const sent = await endpoint.send(text, id);
  if (!sent.ok && sent.error.code !== 'WSA_ERR_CLIENT_CLOSING') throw sent.error;
}
