/**
 * Small apps for the kit's own tests: a correct chat room app, and the same app with one
 * planted bug each (what the kit must catch, with a report that names it).
 */
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import type { Endpoint, HandshakeRequest, HandshakeResponse, Message, Websocket } from '../../src/index.js';

/** The bugs an app can be built with. */
export type Bug =
  | 'none'
  /** onClose forgets the room membership: state kept after onClose. */
  | 'state-after-close'
  /** Counts every attempted recipient as delivered, without looking at the send results. */
  | 'counts-failed-sends'
  /** onData starts the handling and returns at once (the promise is not returned). */
  | 'detached-ondata'
  /** onData reads `text` without checking it is there. */
  | 'throws-on-missing-text'
  /** `leave` forgets the client before closing it, and onClose assumes it is still known: onClose throws. */
  | 'throws-in-onclose'
  /** `claim` checks the seat is free, awaits the "database", then takes it: two clients' claims race. */
  | 'claim-race';

/** Client -> server messages of the room chat. */
export type ChatIn = { type: 'say'; text?: string } | { type: 'who' } | { type: 'leave' } | { type: 'claim' };

/**
 * A chat with rooms (`?room=`): `say` goes to the room, `who` lists it, `leave` closes with
 * 4000, `claim` asks for the one seat (the first to claim it holds it: `{"type":"claimed","ok":true}`).
 */
export class RoomChat implements Websocket<{ room: string }> {
  /** Per-client state: the room of each open client. */
  readonly members = new Map<number, string>();
  /** Room name -> ids in it. */
  readonly rooms = new Map<string, Set<number>>();
  /** Recipients the app counts as reached (what it would report to its users). */
  delivered = 0;
  /** The client holding the seat, or null. */
  seat: number | null = null;
  #endpoint: Endpoint | null = null;

  constructor(private readonly bug: Bug = 'none') {}

  onStart(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
  }

  onHandshake(request: HandshakeRequest, response: HandshakeResponse): { room: string } {
    const room = request.query.get('room') ?? 'lobby';
    if (room === 'private') response.reject(403, 'private room');
    return { room };
  }

  async onOpen(clientId: number, { room }: { room: string }): Promise<void> {
    this.members.set(clientId, room);
    const ids = this.rooms.get(room) ?? new Set<number>();
    ids.add(clientId);
    this.rooms.set(room, ids);
    await this.#endpoint?.send(JSON.stringify({ type: 'welcome', room, size: ids.size }), clientId);
  }

  onData(clientId: number, message: Message): Promise<void> | undefined {
    if (this.bug === 'detached-ondata') {
      void this.#handle(clientId, message);
      return undefined;
    }
    return this.#handle(clientId, message);
  }

  async #handle(clientId: number, message: Message): Promise<void> {
    const endpoint = this.#endpoint as Endpoint;
    let parsed: ChatIn;
    try {
      parsed = JSON.parse(await message.text()) as ChatIn;
    } catch {
      await endpoint.send(JSON.stringify({ type: 'error', error: 'bad json' }), clientId);
      return;
    }
    // Some "database" work before answering.
    await tick();
    const room = this.members.get(clientId);
    if (room === undefined) return;
    if (parsed.type === 'leave') {
      if (this.bug === 'throws-in-onclose') this.members.delete(clientId);
      await endpoint.close(clientId, 4000, 'left');
    } else if (parsed.type === 'claim') {
      if (this.bug === 'claim-race') {
        if (this.seat === null) {
          await sleep(25); // "is the seat free?" answered, the write comes later
          this.seat = clientId;
        }
      } else {
        this.seat ??= clientId;
      }
      await endpoint.send(JSON.stringify({ type: 'claimed', ok: this.seat === clientId }), clientId);
    } else if (parsed.type === 'who') {
      await endpoint.send(JSON.stringify({ type: 'who', ids: [...(this.rooms.get(room) ?? [])] }), clientId);
    } else if (parsed.type === 'say') {
      if (this.bug === 'detached-ondata') await sleep(3);
      const text = this.bug === 'throws-on-missing-text' ? (parsed.text as string).trim() : (parsed.text ?? '').trim();
      const ids = [...(this.rooms.get(room) ?? [])];
      const result = await endpoint.multicast(JSON.stringify({ type: 'said', from: clientId, text }), ids);
      this.delivered += this.bug === 'counts-failed-sends' ? ids.length : result.sent.length;
    } else {
      await endpoint.send(JSON.stringify({ type: 'error', error: 'unknown type' }), clientId);
    }
  }

  onClose(clientId: number): void {
    if (this.bug === 'throws-in-onclose') {
      const room = this.members.get(clientId) as string;
      (this.rooms.get(room) as Set<number>).delete(clientId);
    }
    const room = this.members.get(clientId);
    this.members.delete(clientId);
    if (room === undefined || this.bug === 'state-after-close') return;
    const ids = this.rooms.get(room);
    ids?.delete(clientId);
    if (ids?.size === 0) this.rooms.delete(room);
  }
}
