/**
 * The accounting: every message a client sent is matched, per connection, against what the
 * server that held it says it did (its ledger entry, written in onClose). A sent message is
 *   - answered: the client got its answer, exactly once and in order;
 *   - counted by the server: dropped (`messages_dropped`) or its reply failed with a code
 *     (backpressure, client closing, ...);
 *   - abandoned by the client: the client reset the TCP connection (churn "drop") while it was
 *     in flight, either before the server read it or after the server handed its answer to the OS;
 *     or the slow reader (not reading) sent it after the server had closed it (never read), or
 *     the server closed the slow reader with its answer handed to the OS (raw `ws` terminates it);
 *   - abandoned when the server closed a stopped client (SIGSTOP fault): the client process was
 *     stopped while the connection was open, and the server closed it (outbound limit 1008,
 *     unanswered pings 1008, or a terminate: 1006 on a peer that cannot have reset, being
 *     stopped); what the server never read and the answers it handed to the OS that never
 *     arrived went with the socket the server closed;
 *   - on a killed worker (injected fault): the worker's counts died with it;
 *   - or **lost**: anything else (an answer missing, twice, out of order, with the wrong
 *     per-client count; a server that read a message and neither answered it nor counted it).
 * Broadcast holes are lost unless the server reported that broadcast as failed or unreached.
 */
import type { BroadcastOutcome, ClientRecord, LedgerEntry } from './protocol.js';

/**
 * Closes the server began (policy, protocol, going away): what a client that was not reading
 * sent after that is discarded unread (RFC 6455 5.5.1: no data after a Close frame).
 */
const SERVER_CLOSES = new Set([1001, 1002, 1003, 1007, 1008, 1009, 1011]);

export interface Accounting {
  connections: number;
  sent: number;
  answered: number;
  serverCounted: { dropped: number; replyFailed: Record<string, number> };
  abandoned: { beforeRead: number; answerUnread: number; afterServerClose: number; slowAnswerUnread: number };
  /** Connections open in a client process while it was stopped (SIGSTOP fault). */
  stopped: {
    connections: number;
    sent: number;
    answered: number;
    /** By the server's close code ("big 1008": one of the two large senders); the rest were closed by the client after SIGCONT. */
    closedByServer: Record<string, number>;
    notClosedByServer: number;
    countedByServer: number;
    neverRead: number;
    answerUnread: number;
  };
  crash: { connections: number; unanswered: number };
  lost: number;
  lostBy: Record<string, number>;
  /** A few connections with a loss, for the report. */
  examples: { record: ClientRecord; ledger: LedgerEntry | null; why: string }[];
  broadcasts: { received: number; holes: number; explainedHoles: number };
  missingLedgers: number;
  ledgersWithoutClient: number;
  closesByMode: Record<string, number>;
  serverCloseCodes: Record<string, number>;
}

export function reconcile(records: ClientRecord[], ledgers: LedgerEntry[], killedPids: Set<string>, broadcasts: BroadcastOutcome[]): Accounting {
  const byKey = new Map<string, LedgerEntry>();
  for (const l of ledgers) byKey.set(l.key, l);
  const troubled = new Set<number>();
  for (const b of broadcasts) if (b.unreachedNodes > 0 || Object.keys(b.failed).length > 0) troubled.add(b.bseq);
  const a: Accounting = {
    connections: records.length,
    sent: 0,
    answered: 0,
    serverCounted: { dropped: 0, replyFailed: {} },
    abandoned: { beforeRead: 0, answerUnread: 0, afterServerClose: 0, slowAnswerUnread: 0 },
    stopped: { connections: 0, sent: 0, answered: 0, closedByServer: {}, notClosedByServer: 0, countedByServer: 0, neverRead: 0, answerUnread: 0 },
    crash: { connections: 0, unanswered: 0 },
    lost: 0,
    lostBy: {},
    examples: [],
    broadcasts: { received: 0, holes: 0, explainedHoles: 0 },
    missingLedgers: 0,
    ledgersWithoutClient: 0,
    closesByMode: {},
    serverCloseCodes: {},
  };
  const lose = (why: string, n: number, record: ClientRecord, ledger: LedgerEntry | null): void => {
    if (n === 0) return;
    a.lost += Math.abs(n);
    a.lostBy[why] = (a.lostBy[why] ?? 0) + Math.abs(n);
    if (a.examples.length < 8) a.examples.push({ record, ledger, why });
  };
  const seen = new Set<string>();
  for (const c of records) {
    seen.add(c.key);
    a.sent += c.sent;
    a.answered += c.answered;
    a.closesByMode[c.mode] = (a.closesByMode[c.mode] ?? 0) + 1;
    lose('answer out of order or twice', c.orderErrors, c, null);
    lose('wrong per-client count', c.stateErrors, c, null);
    a.broadcasts.received += c.bReceived;
    for (const hole of c.bGaps) {
      a.broadcasts.holes++;
      if (troubled.has(hole)) a.broadcasts.explainedHoles++;
      else lose('broadcast hole', 1, c, null);
    }
    lose('broadcast twice or backwards', c.bOrderErrors, c, null);
    const unanswered = c.sent - c.answered;
    const s = byKey.get(c.key) ?? null;
    if (s === null) {
      if (killedPids.has(c.worker)) {
        a.crash.connections++;
        a.crash.unanswered += unanswered;
      } else {
        a.missingLedgers++;
        lose('no server ledger', unanswered, c, null);
      }
      continue;
    }
    a.serverCloseCodes[s.closeCode] = (a.serverCloseCodes[s.closeCode] ?? 0) + 1;
    const failed = Object.values(s.failed).reduce((x, y) => x + y, 0);
    a.serverCounted.dropped += s.dropped;
    for (const [code, n] of Object.entries(s.failed)) a.serverCounted.replyFailed[code] = (a.serverCounted.replyFailed[code] ?? 0) + n;
    lose('read, neither delivered nor counted dropped', s.read - s.delivered - s.dropped, c, s);
    lose('delivered, neither answered nor counted failed', s.delivered - s.ok - failed, c, s);
    const neverRead = c.sent - s.read;
    const unread = s.ok - c.answered;
    const dropped = c.mode === 'drop';
    // A stopped client cannot close or reset: a close the client did not begin (its close code
    // is not its own 1000) came from the server, by policy (1008) or by terminating it (1006).
    // The same for a client that stopped reading (slow reader): 1006 at the server with no
    // reset or terminate by the client means the server terminated it (raw `ws`: its heartbeat).
    const serverClosed = SERVER_CLOSES.has(s.closeCode) || (s.closeCode === 1006 && c.clientReset !== true);
    const closedByServer = c.stopped === true && serverClosed;
    if (c.stopped === true) {
      const st = a.stopped;
      st.connections++;
      st.sent += c.sent;
      st.answered += c.answered;
      st.countedByServer += s.dropped + failed;
      // The two clients that were sending large messages when the process stopped: `big <code>`.
      const k = `${c.mode === 'stopped-slow' ? 'big ' : ''}${s.closeCode}`;
      if (closedByServer) st.closedByServer[k] = (st.closedByServer[k] ?? 0) + 1;
      else st.notClosedByServer++;
    }
    if (neverRead > 0 && dropped) a.abandoned.beforeRead += neverRead;
    else if (neverRead > 0 && serverClosed && c.mode === 'slow') a.abandoned.afterServerClose += neverRead;
    else if (neverRead > 0 && closedByServer) a.stopped.neverRead += neverRead;
    else lose(neverRead > 0 ? 'sent, never read by the server' : 'server read more than was sent', neverRead, c, s);
    if (unread > 0 && dropped) a.abandoned.answerUnread += unread;
    else if (unread > 0 && closedByServer) a.stopped.answerUnread += unread;
    else if (unread > 0 && serverClosed && c.mode === 'slow') a.abandoned.slowAnswerUnread += unread;
    else lose(unread > 0 ? 'answer handed to the OS, never received' : 'received more answers than the server sent', unread, c, s);
  }
  for (const l of ledgers) if (!seen.has(l.key)) a.ledgersWithoutClient++;
  return a;
}
