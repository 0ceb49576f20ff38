/**
 * How every browser test launches Chromium: Debian's headless build (`/usr/bin/chromium`,
 * installed by `npm run setup`) through playwright-core, which never downloads a browser.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

/** Launches Chromium with the flags above and `extraArgs`; a missing or failing browser says what to do. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing. Run \`npm run setup\` (Debian package chromium).`);
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs], timeout: 20_000 });
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`cannot launch ${CHROMIUM} (${why}). Run \`npm run setup\` (Debian package chromium).`, { cause: error });
  }
}
