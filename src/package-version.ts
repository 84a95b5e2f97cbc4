import { readFileSync } from 'node:fs';

let version: string | undefined;

/**
 * The version in vectorsync's own package.json, read on first use. The file is one level above
 * this module both in the sources (src/) and in the published package (dist/).
 */
export function packageVersion(): string {
  version ??= (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  return version;
}
