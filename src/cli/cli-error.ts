import type { VectorsyncError } from '../errors.js';

/** How the CLI reports a failure: one line with the stable code, the message and the hint if any. */
export function formatCliError(error: VectorsyncError): string {
  const hint = error.details.hint;
  const line = `error ${error.code}: ${error.message}${typeof hint === 'string' ? `; hint: ${hint}` : ''}`;
  // A message that quotes a multi-line driver text stays on one line.
  return line.replace(/\s*\n\s*/g, ' ');
}
