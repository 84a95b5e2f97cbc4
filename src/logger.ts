/**
 * The library never writes to the console. It logs through this interface, whose shape
 * matches pino (`logger.info({ collection, id }, 'message')`), so the service plugs pino in
 * directly and embedders of the library can pass their own.
 */
export type LogFields = Record<string, unknown>;

/** A pino-compatible logger: `logger.info({ collection, id }, 'message')`; `child(fields)` adds scope fields. */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
  child(fields: LogFields): Logger;
}

const noop = (): void => {};

export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
