/**
 * The stable API is exactly what `wsactor` exports at run time (types are checked by the
 * README's code blocks and the compiler); a new export must be added here on purpose. The
 * machine-to-runtime protocol is in `wsactor/internals`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import * as internals from '../../src/internals.js';

const STABLE = [
  'BackpressureError', 'ClientClosingError', 'clientMachine', 'clientOf', 'decodeJson', 'CloseCode', 'ClusterError', 'DependencyError', 'ErrorCodes', 'HookError',
  'InvalidArgumentError', 'InvalidOptionError', 'LifecycleStream', 'ListenError', 'MAX_NODE_ID', 'MemoryCluster', 'Message', 'MissingDependencyError',
  'NODE_ID_SHIFT', 'NodeUnreachableError', 'RemoteError', 'SendFailedError', 'ServerStateError', 'ServerStats',
  'UnknownClientError', 'WsActorError', 'WsActorServer', 'connectionMachine', 'createLiveView', 'createMetrics',
  'createServer', 'defaultOptions', 'isSendableCloseCode', 'jsonLinesWriter', 'memoryCluster', 'nodeOf', 'redisAdapter',
  'runCluster', 'supervisorMachine',
];
/** Still exported from `wsactor` for existing users, marked @deprecated: moved to `wsactor/internals`. */
const DEPRECATED = ['closeCodeFor'];

describe('API surface', () => {
  it('wsactor exports exactly the stable names (plus the deprecated ones kept for existing users)', () => {
    expect(Object.keys(api).sort()).toEqual([...STABLE, ...DEPRECATED].sort());
  });

  it('the deprecated names are the same functions as in wsactor/internals', () => {
    expect(api.closeCodeFor).toBe(internals.closeCodeFor);
    const source = readFileSync(new URL('../../src/index.ts', import.meta.url), 'utf8');
    for (const name of [...DEPRECATED, 'ConnectionEvent', 'ConnectionCommand', 'CloseCause']) {
      expect(source, name).toMatch(new RegExp(`@deprecated[^\\n]*\\n\\s*export (const|type) ${name}\\b`));
    }
  });

  it('wsactor/internals has the machine protocol, and package.json exports it', () => {
    expect(Object.keys(internals).sort()).toEqual(['STATE_OF_COMMAND', 'closeCodeFor', 'closeCodeForWsError', 'connectionMachine', 'initialContext']);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown> };
    expect(Object.keys(pkg.exports).sort()).toEqual(['.', './cluster', './internals', './observe', './redis', './testing']);
  });
});
