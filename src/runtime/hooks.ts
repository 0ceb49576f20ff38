/** Calls an app hook, turning a throw or a rejection into a value so nothing escapes. */
export type HookOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export async function callHook<T>(run: () => T | Promise<T>): Promise<HookOutcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error };
  }
}
