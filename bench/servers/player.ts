/**
 * The per-client state of the `machine` scenario, the same in both servers: a player in one of
 * three states (lobby → playing ⇄ paused) with a small context `{ name, score }`. `join` names
 * the player and starts playing; `score` adds points while playing and answers the new score;
 * every accepted message gets one JSON reply. The raw ws server keeps it in a Map, as an app
 * without wsactor would; the wsactor server runs it as a client machine.
 */
export type PlayerEvent = { type: 'join'; name: string } | { type: 'score'; points: number } | { type: 'pause' } | { type: 'resume' };

export type PlayerState = 'lobby' | 'playing' | 'paused';

export interface PlayerContext {
  name: string;
  score: number;
}

/**
 * The replies: `joined` after `join`, `score` after `score`, `state` after `pause`/`resume`;
 * `error` for a message the state does not accept (wsactor's default policy says the same).
 */
export type PlayerReply =
  | { type: 'joined'; name: string }
  | { type: 'score'; score: number }
  | { type: 'state'; state: PlayerState }
  | { type: 'error'; error: string; event: string | null; state: string };

/** What the load generator sends. */
export function joinMessage(name: string): string {
  return JSON.stringify({ type: 'join', name } satisfies PlayerEvent);
}

export const SCORE_MESSAGE = JSON.stringify({ type: 'score', points: 1 } satisfies PlayerEvent);
