/**
 * One data message from a client. `ws` hands over whole messages (bounded by `maxPayload`),
 * so a Message holds its frames' payloads; iterating yields them one by one.
 *
 * Chunks are Buffers, one per frame (`ws` keeps no empty fragments), for text as for binary:
 * a text message was validated as a whole on arrival, but one of its frames may end inside a
 * UTF-8 sequence, so decode the chunks with a streaming decoder (or use `text()`).
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

  /** Yields the payload frame by frame, in order. */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (const chunk of this.#chunks) yield await Promise.resolve(chunk);
  }

  /** The whole payload, synchronously (for the runtime's own decoders). @internal */
  static bytesOf(message: Message): Buffer {
    return message.#whole();
  }

  #whole(): Buffer {
    const chunks = this.#chunks;
    const [first] = chunks;
    if (first === undefined) return Buffer.alloc(0);
    if (chunks.length === 1) return first;
    // The frames of a text message are views, one after the other, of the buffer `ws` joined
    // them into to validate it: the whole is that buffer again, without a copy.
    if (adjacent(chunks)) return Buffer.from(first.buffer, first.byteOffset, this.size);
    return Buffer.concat(chunks, this.size);
  }
}

/** True if each chunk starts where the one before it ends, in the same memory. */
function adjacent(chunks: readonly Buffer[]): boolean {
  let previous = chunks[0] as Buffer;
  for (let i = 1; i < chunks.length; i++) {
    const chunk = chunks[i] as Buffer;
    if (chunk.buffer !== previous.buffer || chunk.byteOffset !== previous.byteOffset + previous.length) return false;
    previous = chunk;
  }
  return true;
}
