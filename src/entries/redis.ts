/**
 * `wsactor/redis`: the Redis pub/sub cluster adapter. It needs `ioredis` (an optional peer
 * dependency): importing this entry without it installed fails at once with
 * `MissingDependencyError` (`WSA_ERR_MISSING_DEPENDENCY`), naming the package and the command
 * that installs it. (`redisAdapter` is also exported by `wsactor`, where ioredis is loaded only
 * when `redisAdapter()` is first called.)
 */
import { requireOptional } from '../optional/require-optional.js';

export { redisAdapter, type RedisAdapterOptions, type RedisAdapterStats, type RedisClusterAdapter } from '../cluster/redis-adapter.js';

// Importing this entry says Redis is used: check for ioredis now rather than at the first join.
requireOptional('ioredis', 'wsactor/redis');
