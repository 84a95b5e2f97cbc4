// Installs npm dependencies on a fresh clone so `npm test` and `npm run demo` work as the first command.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const lock = 'package-lock.json';
const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  // `npm ci`: exactly the lock file's versions (it holds every platform's optional packages), and
  // a clear error when package.json and the lock file disagree.
  console.error('[vectorsync] installing npm dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
