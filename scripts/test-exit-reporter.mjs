/**
 * A node:test reporter that prints, for a test file whose process failed as a whole (no failed
 * test inside it), how that process ended: the spec reporter says only "test failed".
 */
export default async function* exitReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const error = event.data.details?.error;
    if (!error || error.failureType === 'subtestsFailed') continue;
    if (error.exitCode === undefined && error.signal === undefined) continue;
    yield `[tests] ${event.data.name}: its process ended with exit code ${error.exitCode ?? 'none'}, signal ${error.signal ?? 'none'}\n`;
  }
}
