/**
 * Clients of the `machine` scenario (servers/player.ts): opens connections that each join
 * (one message, one reply) and then stay idle; on request sends one `score` message on a
 * range of them, one connection after the other, timing each round trip and checking that the
 * score the server answers is the one this client expects (its state survived).
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { encode, newHistogram, recordMs } from '../lib/hist.js';
import { serve } from '../lib/ipc.js';
import { clientOptions, type PlayerCommands } from '../lib/protocol.js';
import { joinMessage, SCORE_MESSAGE, type PlayerReply } from '../servers/player.js';

const OPENING_AT_ONCE = 64;
const REPLY_TIMEOUT_MS = 30_000;

interface Player {
  ws: WebSocket;
  score: number;
  /** performance.now() of its last reply. */
  lastReplyAt: number;
  waiter: ((reply: PlayerReply) => void) | null;
}

const players: Player[] = [];

function request(player: Player, text: string): Promise<PlayerReply> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply to ${text} in ${REPLY_TIMEOUT_MS} ms`)), REPLY_TIMEOUT_MS);
    player.waiter = (reply) => {
      clearTimeout(timer);
      resolve(reply);
    };
    player.ws.send(text);
  });
}

async function openOne(port: number, localAddress: string, name: string): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, clientOptions(localAddress));
  const player: Player = { ws, score: 0, lastReplyAt: 0, waiter: null };
  ws.on('message', (data: Buffer) => {
    player.lastReplyAt = performance.now();
    const waiter = player.waiter;
    player.waiter = null;
    waiter?.(JSON.parse(data.toString('utf8')) as PlayerReply);
  });
  await once(ws, 'open');
  ws.on('error', () => undefined);
  const reply = await request(player, joinMessage(name));
  if (reply.type !== 'joined' || reply.name !== name) throw new Error(`join answered ${JSON.stringify(reply)}`);
  players.push(player);
}

serve<PlayerCommands>({
  connect: async ({ port, count, addresses, namePrefix }) => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        await openOne(port, addresses[i % addresses.length] ?? '127.0.0.1', `${namePrefix}${i}`);
      }
    };
    await Promise.all(Array.from({ length: OPENING_AT_ONCE }, worker));
    return { connected: players.length };
  },
  ping: async ({ from, count }) => {
    const histogram = newHistogram();
    let wrong = 0;
    let minGapMs = Number.POSITIVE_INFINITY;
    let maxGapMs = 0;
    for (const player of players.slice(from, from + count)) {
      const sentAt = performance.now();
      minGapMs = Math.min(minGapMs, sentAt - player.lastReplyAt);
      maxGapMs = Math.max(maxGapMs, sentAt - player.lastReplyAt);
      const reply = await request(player, SCORE_MESSAGE);
      recordMs(histogram, player.lastReplyAt - sentAt);
      player.score++;
      if (reply.type !== 'score' || reply.score !== player.score) wrong++;
    }
    return { hist: encode(histogram), wrong, minGapMs, maxGapMs };
  },
});
