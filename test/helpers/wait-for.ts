/** Polls a condition until it holds or the timeout passes; no fixed sleeps before assertions. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  options: {
    timeoutMs?: number;
    intervalMs?: number;
    message?: string | (() => string | Promise<string>);
  } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false && value !== null) return value as T;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const message = typeof options.message === 'function' ? await options.message() : options.message;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${message ?? 'condition'}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
