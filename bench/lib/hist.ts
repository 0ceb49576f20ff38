/** HDR histograms of latencies in microseconds, shipped between processes as compressed base64. */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records a duration given in milliseconds, as whole microseconds (at least 1). */
export function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
}

export function encode(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function merge(encoded: readonly string[]): Histogram {
  const total = newHistogram();
  for (const one of encoded) total.add(hdr.decodeFromCompressedBase64(one));
  return total;
}

/** Percentile in milliseconds. */
export function percentileMs(histogram: Histogram, p: number): number {
  return histogram.totalCount === 0 ? Number.NaN : histogram.getValueAtPercentile(p) / 1000;
}
