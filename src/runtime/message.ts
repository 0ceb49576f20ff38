/**
 * One data message from a client. `ws` hands over whole messages (bounded by `maxPayload`),
 * so a Message holds its frames' payloads; iterating yields them one by one.
 */
export class Message implements AsyncIterable<Buffer> {
  /** True for a binary message, false for text. */
  readonly isBinary: boolean;
  /** Payload length in bytes. */
  readonly size: number;
  readonly #chunks: readonly Buffer[];

  constructor(chunks: readonly Buffer[], isBinary: boolean) {
    this.#chunks = chunks;
    this.isBinary = isBinary;
    let size = 0;
    for (const chunk of chunks) size += chunk.length;
    this.size = size;
  }

  /** The whole payload as bytes. */
  buffer(): Promise<Buffer> {
    return Promise.resolve(this.#whole());
  }

  /** The whole payload decoded as UTF-8 (text messages were validated on arrival). */
  text(): Promise<string> {
    return Promise.resolve(this.#whole().toString('utf8'));
  }

  /** Yields the payload chunk by chunk, in order. */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (const chunk of this.#chunks) yield await Promise.resolve(chunk);
  }

  #whole(): Buffer {
    const [first] = this.#chunks;
    if (this.#chunks.length === 1 && first !== undefined) return first;
    return Buffer.concat(this.#chunks, this.size);
  }
}
