import { createServer, type Endpoint, type HandshakeRequest, type HandshakeResponse, type Message, type Websocket } from '../src/index.js';

class Shout implements Websocket<{ name: string }> {
  #endpoint: Endpoint | undefined;
  #names = new Map<number, string>();

  onStart(endpoint: Endpoint) { this.#endpoint = endpoint; }
  onHandshake(request: HandshakeRequest, response: HandshakeResponse) {
    const name = request.query.get('name');
    if (!name) response.reject(400, 'name required');
    return { name: name ?? '' };
  }
  onOpen(clientId: number, { name }: { name: string }) { this.#names.set(clientId, name); }
  async onData(clientId: number, message: Message) {
    const text = `${this.#names.get(clientId)}: ${(await message.text()).toUpperCase()}`;
    const { failed } = await this.#endpoint!.broadcast(text);
    if (failed.length > 0) console.warn('not delivered to', failed.map((f) => f.clientId));
  }
  onClose(clientId: number) { this.#names.delete(clientId); }
}

await createServer(new Shout(), { port: 8080 }).start();
