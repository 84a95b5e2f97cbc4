// Installs npm dependencies on a fresh clone so `npm test` and `npm run demo` work as the first command.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const lock = 'package-lock.json';
const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  // `npm install` rather than `npm ci`: it honours the lock file's versions, and tolerates the
  // platform-specific optional packages that some npm versions leave out of the lock file.
  console.error('[vectorsync] installing npm dependencies…');
  execSync('npm install --no-audit --no-fund', { stdio: 'inherit' });
}
