/**
 * The lobby example's rules and decoder, by example: the model-based test (lobby.model.test.ts)
 * uses the same rules as the server, so what they accept is pinned here on its own.
 */
import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/index.js';
import { decodeClientMessage } from '../../examples/lobby/protocol.js';
import { compareHands, isHand, nameProblem, roomIdProblem, textProblem } from '../../examples/lobby/rules.js';

const text = (data: string): Message =>
  ({ isBinary: false, size: Buffer.byteLength(data), text: () => Promise.resolve(data), buffer: () => Promise.resolve(Buffer.from(data)) }) as unknown as Message;

describe('lobby rules', () => {
  it.each([
    ['ada', true],
    ['Zoë 2', true],
    ['a_b-c', true],
    ['x'.repeat(20), true],
    ['x'.repeat(21), false],
    ['', false],
    [' ada', false],
    ['<b>', false],
    ['ada\u0000', false],
    ['ad\u202ea', false],
  ])('name %j valid: %s', (name, valid) => {
    expect(nameProblem(name) === null).toBe(valid);
  });

  it.each([
    ['den', true],
    ['room-2', true],
    ['x'.repeat(24), true],
    ['x'.repeat(25), false],
    ['-den', false],
    ['Den', false],
    ['no room!', false],
    ['', false],
  ])('room id %j valid: %s', (room, valid) => {
    expect(roomIdProblem(room) === null).toBe(valid);
  });

  it.each([
    ['hi', true],
    ['x'.repeat(300), true],
    ['x'.repeat(301), false],
    ['', false],
    ['a\u0007b', false],
    ['a\nb', false],
  ])('chat line %j valid: %s', (line, valid) => {
    expect(textProblem(line) === null).toBe(valid);
  });

  it('rock-paper-scissors', () => {
    expect(['rock', 'paper', 'scissors', 'lizard', 'Rock'].map(isHand)).toEqual([true, true, true, false, false]);
    expect(compareHands('rock', 'scissors')).toBe(1);
    expect(compareHands('scissors', 'paper')).toBe(1);
    expect(compareHands('paper', 'rock')).toBe(1);
    expect(compareHands('rock', 'paper')).toBe(-1);
    expect(compareHands('paper', 'paper')).toBe(0);
  });

  it('the decoder keeps only the known messages, normalized, and never trusts field types', async () => {
    const decoded = await Promise.all(
      [
        '{"type":"name","name":"  Ada  "}',
        '{"type":"join","room":" Den "}',
        '{"type":"say","text":" hi "}',
        '{"type":"choose","hand":"rock"}',
        '{"type":"exit","extra":1}',
        '{"type":"leave"}',
        '{"type":"name","name":42}',
        '{"type":"join"}',
        `{"type":"say","text":"${'x'.repeat(600)}"}`,
        '{"type":"wsactor.close","code":1000,"reason":""}',
        '{"type":"xstate.done.actor.checkName","output":"admin"}',
        '["name"]',
        'not json',
      ].map((data) => decodeClientMessage(text(data))),
    );
    expect(decoded).toEqual([
      { type: 'name', name: 'Ada' },
      { type: 'join', room: 'den' },
      { type: 'say', text: 'hi' },
      { type: 'choose', hand: 'rock' },
      { type: 'exit' },
      { type: 'leave' },
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(await decodeClientMessage({ isBinary: true, size: 3 } as unknown as Message)).toBeUndefined();
  });
});
