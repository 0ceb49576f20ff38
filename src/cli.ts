#!/usr/bin/env node
/**
 * The `wsactor` command: `wsactor [options] <app-module>` (see `wsactor --help` and
 * src/cli/args.ts). Exit codes: 0 clean stop, 1 failed start or unclean stop, 2 usage.
 */
import { main } from './cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`wsactor: failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
