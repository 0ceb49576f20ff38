/**
 * prom-client, loaded when `createMetrics()` first builds a metric or registry, not when wsactor
 * is imported. Only `new` is forwarded (see {@link lazyClass}); the types are prom-client's.
 */
import type * as PromClient from 'prom-client';
import { lazyClass, requireOptional } from './require-optional.js';

export type { Metric, PrometheusContentType, RegistryContentType } from 'prom-client';

const load = (): typeof PromClient => requireOptional<typeof PromClient>('prom-client', 'createMetrics');

export type Registry<T extends PromClient.RegistryContentType = PromClient.PrometheusContentType> = PromClient.Registry<T>;
export const Registry = lazyClass('Registry', () => load().Registry);
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Counter = lazyClass('Counter', () => load().Counter);
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export const Gauge = lazyClass('Gauge', () => load().Gauge);
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
export const Histogram = lazyClass('Histogram', () => load().Histogram);
