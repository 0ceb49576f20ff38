/**
 * `wsactor/observe`: the live view (no extra dependency) and Prometheus metrics. `createMetrics`
 * needs `prom-client` (an optional peer dependency), loaded when it is first called; without it
 * that call throws `MissingDependencyError` (`WSA_ERR_MISSING_DEPENDENCY`). Everything here is
 * also exported by `wsactor`.
 */
export {
  createLiveView,
  type LiveView,
  type LiveViewOptions,
  type LiveViewListenOptions,
  type LiveViewSource,
  type LiveViewSnapshot,
  type LiveViewUpdate,
  type ClientView,
  type CloseView,
  type RefusalView,
  type LiveViewTotals,
  type ConnectionEnd,
  type TimelineEntry,
  type MachineDiagram,
  type MachineCounts,
  type AppTimelineEntry,
} from '../observe/live-view.js';
export { createMetrics, type WsActorMetrics, type MetricsOptions, type MetricsSource } from '../observe/metrics.js';
