import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogFields, Logger } from './logger.js';

const scope = new AsyncLocalStorage<LogFields>();
const scoped = new WeakSet<Logger>();

/**
 * Runs `work` with `fields` (e.g. a request id) added to every line any scoped logger writes
 * while it runs, including lines from code deep below that never sees the fields.
 */
export function runInLogScope<T>(fields: LogFields, work: () => T): T {
  return scope.run({ ...scope.getStore(), ...fields }, work);
}

/** `logger`, adding the fields of the current log scope to each line (a line's own fields win). */
export function withLogScope(logger: Logger): Logger {
  if (scoped.has(logger)) return logger;
  const merged = (fields: LogFields): LogFields => {
    const current = scope.getStore();
    return current ? { ...current, ...fields } : fields;
  };
  const wrapped: Logger = {
    debug: (fields, message) => logger.debug(merged(fields), message),
    info: (fields, message) => logger.info(merged(fields), message),
    warn: (fields, message) => logger.warn(merged(fields), message),
    error: (fields, message) => logger.error(merged(fields), message),
    child: (fields) => withLogScope(logger.child(fields)),
  };
  scoped.add(wrapped);
  return wrapped;
}
