/** Baseline: the minimal `ws` echo server (raw-ws-echo.ts). */
import { serveRawWsEcho } from './raw-ws-echo.js';

await serveRawWsEcho();
