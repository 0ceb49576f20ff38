/**
 * Baseline of the `machine` scenario: raw `ws` with the player of player.ts kept as an app
 * without wsactor keeps per-client state, in a Map keyed by socket (deleted on close), a
 * switch over state and message type, one JSON reply per accepted message.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { serveControl } from './control.js';
import type { PlayerContext, PlayerEvent, PlayerReply, PlayerState } from './player.js';

interface Player extends PlayerContext {
  state: PlayerState;
}

const players = new Map<WebSocket, Player>();

function reply(ws: WebSocket, message: PlayerReply): void {
  ws.send(JSON.stringify(message));
}

function onMessage(ws: WebSocket, data: Buffer): void {
  const player = players.get(ws);
  if (player === undefined) return;
  let event: PlayerEvent;
  try {
    event = JSON.parse(data.toString('utf8')) as PlayerEvent;
  } catch {
    return;
  }
  switch (`${player.state}:${event.type}`) {
    case 'lobby:join':
      player.name = (event as Extract<PlayerEvent, { type: 'join' }>).name;
      player.state = 'playing';
      return reply(ws, { type: 'joined', name: player.name });
    case 'playing:score':
      player.score += (event as Extract<PlayerEvent, { type: 'score' }>).points;
      return reply(ws, { type: 'score', score: player.score });
    case 'playing:pause':
      player.state = 'paused';
      return reply(ws, { type: 'state', state: 'paused' });
    case 'paused:resume':
      player.state = 'playing';
      return reply(ws, { type: 'state', state: 'playing' });
    default:
      return reply(ws, { type: 'error', error: 'unexpected', event: String(event.type), state: player.state });
  }
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => {
  players.set(ws, { state: 'lobby', name: '', score: 0 });
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => {
    if (!isBinary) onMessage(ws, data as Buffer);
  });
  ws.on('close', () => players.delete(ws));
});
await once(wss, 'listening');

serveControl({
  port: (wss.address() as AddressInfo).port,
  clients: () => players.size,
  broadcast: (text) => {
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(text);
    }
    return Promise.resolve();
  },
  eventLoopDelay: false,
});
