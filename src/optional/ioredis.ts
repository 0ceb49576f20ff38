/**
 * ioredis, loaded when the first connection is built (by `redisAdapter()`), not when wsactor is
 * imported. Only `new Redis(...)` is forwarded (see {@link lazyClass}); the types are ioredis's.
 */
import type * as IORedis from 'ioredis';
import { lazyClass, requireOptional } from './require-optional.js';

export type { RedisOptions } from 'ioredis';
export type Redis = IORedis.Redis;
export const Redis = lazyClass('Redis', () => requireOptional<typeof IORedis>('ioredis', 'redisAdapter').Redis);
