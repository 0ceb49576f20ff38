/**
 * The lobby example's server around the machine: `npm run lobby` prints its URL and serves the
 * page under a strict CSP; the shared state (rooms, names) is cleaned up however a client goes
 * (it leaves, its TCP connection drops, it goes while its name is being checked); an idle
 * player's machine comes back from hibernation as it was; and messages sent while the machine
 * is busy wait their turn.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LobbyApp, type LobbyJob } from '../../examples/lobby/app.js';
import { startLobby, type RunningLobby } from '../../examples/lobby/server.js';
import { LobbyClient, until } from './lobby-client.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let running: RunningLobby | null = null;
const clients: LobbyClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await running?.stop();
  running = null;
});

/** A lobby whose slow calls wait for `release(job)` when `held`. */
async function lobbyWithGate(): Promise<{ lobby: RunningLobby; held: Set<LobbyJob>; release: (job: LobbyJob) => Promise<void> }> {
  const held = new Set<LobbyJob>();
  const waiting: { job: LobbyJob; go: () => void }[] = [];
  const latency = (job: LobbyJob): Promise<void> => (held.has(job) ? new Promise((go) => waiting.push({ job, go })) : Promise.resolve());
  running = await startLobby({ port: 0, host: '127.0.0.1', app: new LobbyApp({ latency }) });
  const release = async (job: LobbyJob): Promise<void> => {
    await until(() => waiting.some((w) => w.job === job), `a ${job} call`);
    waiting.splice(waiting.findIndex((w) => w.job === job), 1)[0]?.go();
  };
  return { lobby: running, held, release };
}

async function player(lobby: RunningLobby, name?: string, room?: string): Promise<LobbyClient> {
  const client = await LobbyClient.connect(`ws://127.0.0.1:${lobby.port}/play`);
  clients.push(client);
  if (name !== undefined) {
    client.send({ type: 'name', name });
    await client.expect((m) => m.type === 'lobby', `${name} in the lobby`);
  }
  if (room !== undefined) {
    client.send({ type: 'join', room });
    await client.expect((m) => m.type === 'room' && m.room === room, `${name ?? '?'} in ${room}`);
  }
  return client;
}

describe('lobby server', () => {
  it('`npm run lobby` runs examples/lobby/server.ts, which prints its URL and serves the page', async () => {
    const scripts = (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.lobby).toBe('tsx examples/lobby/server.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/lobby/server.ts'], {
      cwd: root,
      env: { ...process.env, PORT: '0', HOST: '', OBSERVE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((resolveLine, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolveLine(out.split('\n')[0] ?? '');
        });
        child.once('exit', (code) => reject(new Error(`lobby exited with ${String(code)}: ${out}`)));
      });
      const match = /^wsactor lobby running at (http:\/\/127\.0\.0\.1:(\d+)\/) \(listening on 127\.0\.0\.1\)$/.exec(line);
      expect(match, line).not.toBeNull();
      const page = await fetch(match?.[1] ?? '');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>wsactor lobby</title>');
    } finally {
      const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('serves the page with a CSP allowing only its own script and style, and nothing else', async () => {
    const { lobby } = await lobbyWithGate();
    const page = await fetch(lobby.url);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'; connect-src 'self'/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(new URL('/play', lobby.url))).status).toBe(426);
    expect((await fetch(new URL('/secret', lobby.url))).status).toBe(404);
    expect((await fetch(lobby.url, { method: 'POST' })).status).toBe(405);
  });

  it('a dropped connection leaves its room (the other player is told) and frees its name', async () => {
    const { lobby } = await lobbyWithGate();
    const ada = await player(lobby, 'ada', 'den');
    const bo = await player(lobby, 'bo', 'den');
    await ada.expect((m) => m.type === 'room' && m.players.length === 2, 'bo joining');
    bo.ws.terminate();
    await ada.expect((m) => m.type === 'room' && m.players.join() === 'ada', 'bo gone from the room');
    expect(lobby.app.rooms()).toEqual([{ id: 'den', players: ['ada'] }]);
    await player(lobby, 'bo'); // the name is free again
  });

  it('a client gone while its name is checked reserves nothing; the lookup learns it through its abort signal', async () => {
    const { lobby, held, release } = await lobbyWithGate();
    held.add('check-name');
    const early = await player(lobby);
    early.send({ type: 'name', name: 'cy' });
    await until(() => lobby.server.endpoint.getLocalClients().some((id) => lobby.server.endpoint.getLocalInfo(id)?.machine_state === 'checkingName'), 'checkingName');
    early.ws.terminate();
    await until(() => lobby.server.endpoint.getLocalClients().length === 0, 'the client gone');
    await release('check-name');
    held.delete('check-name');
    const later = await player(lobby, 'cy');
    expect(later.unexpected()).toEqual([]);
  });

  it('an idle player (its machine hibernated past 250 ms) comes back with its name and room', async () => {
    const { lobby } = await lobbyWithGate();
    const ada = await player(lobby, 'ada', 'den');
    await new Promise((r) => setTimeout(r, 400));
    ada.send({ type: 'say', text: 'still here' });
    await ada.expect((m) => m.type === 'said' && m.from === 'ada' && m.room === 'den' && m.text === 'still here', 'her chat line');
    expect(lobby.server.endpoint.getLocalInfo(lobby.server.endpoint.getLocalClients()[0] ?? -1)?.machine_state).toBe('room.playing');
  });

  it('while a round is being saved (busy), the winner’s next messages wait, then run in order', async () => {
    const { lobby, held, release } = await lobbyWithGate();
    const ada = await player(lobby, 'ada', 'den');
    const bo = await player(lobby, 'bo', 'den');
    ada.send({ type: 'choose', hand: 'rock' });
    await bo.expect((m) => m.type === 'room' && m.chosen.includes('ada'), 'ada chose');
    held.add('save-score');
    bo.send({ type: 'choose', hand: 'paper' });
    bo.send({ type: 'say', text: 'gg' });
    bo.send({ type: 'exit' });
    await bo.expect((m) => m.type === 'round' && m.winner === 'bo', 'the round');
    await new Promise((r) => setTimeout(r, 30));
    // Nothing after the round yet: bo's machine is saving, his chat line and exit wait.
    expect(bo.unexpected()).toEqual([]);
    expect(ada.messages.some((m) => m.type === 'said')).toBe(false);
    const boId = lobby.server.endpoint.getLocalClients().find((id) => lobby.server.endpoint.getLocalInfo(id)?.machine_state === 'room.saving');
    expect(boId).toBeDefined();
    await release('save-score');
    await bo.expect((m) => m.type === 'leaderboard' && m.leaderboard[0]?.name === 'bo', 'the saved leaderboard');
    await bo.expect((m) => m.type === 'said' && m.text === 'gg', 'his chat line');
    await bo.expect((m) => m.type === 'lobby', 'back in the lobby');
    await ada.expect((m) => m.type === 'round', 'the round');
    await ada.expect((m) => m.type === 'said' && m.from === 'bo', 'bo’s chat line');
    await ada.expect((m) => m.type === 'room' && m.players.join() === 'ada', 'bo gone back to the lobby');
  });
});
