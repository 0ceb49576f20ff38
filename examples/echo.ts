/**
 * Echo server: every message goes back unchanged (text as text, binary as binary).
 * Run: npm run echo -- --port 9001
 *      npm run echo -- --lifecycle-log lifecycle.jsonl   (every lifecycle transition as a JSON line)
 */
import { parseArgs } from 'node:util';
import { createServer, jsonLinesWriter, type Endpoint, type Message, type Websocket } from '../src/index.js';

export class EchoApp implements Websocket {
  #endpoint: Endpoint | null = null;

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  async onData(clientId: number, message: Message): Promise<void> {
    const endpoint = this.#endpoint as Endpoint;
    const result = message.isBinary
      ? await endpoint.sendBinary(await message.buffer(), clientId)
      : await endpoint.send(await message.text(), clientId);
    // A client that closed meanwhile is not an app failure.
    if (!result.ok && result.error.code !== 'WSA_ERR_CLIENT_CLOSING') throw result.error;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '9001' }, host: { type: 'string', default: '127.0.0.1' }, 'lifecycle-log': { type: 'string' } },
  });
  const server = createServer(new EchoApp(), { port: Number(values.port), host: values.host });
  const logFile = values['lifecycle-log'];
  const log = logFile === undefined ? null : jsonLinesWriter(logFile);
  if (log !== null) server.lifecycle.subscribe(log.listener);
  await server.start();
  const address = server.address();
  console.log(`echo server listening on ws://${values.host}:${address?.port ?? values.port}`);
  if (logFile !== undefined) console.log(`lifecycle log: ${logFile}`);
  const shutdown = (): void => {
    void server
      .stop()
      .then(() => log?.close())
      .then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
