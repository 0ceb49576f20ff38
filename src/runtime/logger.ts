/** Where wsactor reports hook failures and socket errors. */
export interface Logger {
  error(message: string, error?: unknown): void;
  warn(message: string, error?: unknown): void;
}

export const consoleLogger: Logger = {
  error: (message, error) => console.error(`[wsactor] ${message}`, ...(error === undefined ? [] : [error])),
  warn: (message, error) => console.warn(`[wsactor] ${message}`, ...(error === undefined ? [] : [error])),
};
