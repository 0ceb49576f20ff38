/** What the example servers share to run as a program: start only as the entry point, stop on signals. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Runs `main` when the module at `moduleUrl` is the script node was started with (not when imported). */
export function runIfEntryPoint(moduleUrl: string, main: () => Promise<void>): void {
  const script = process.argv[1];
  let entry = false;
  try {
    entry = script !== undefined && realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    entry = false;
  }
  if (!entry) return;
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

/** SIGINT/SIGTERM stop `running` gracefully and exit 0 (1 if the stop failed); a second signal exits at once. */
export function stopOnSignals(running: { stop(): Promise<void> }): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`${signal} again, exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal} received, shutting down`);
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('shutdown failed', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
