import type { Command } from 'commander';
import { numberArgument } from './number-argument.js';

/** The options `reembed` and `migrate-store` share: how a new version is filled and checked. */
export interface BuildCheckOptions {
  pageSize: number;
  queries: number;
  minOverlap: number;
  verifyFraction: number;
}

export function addBuildCheckOptions(command: Command, minOverlapHelp: string): Command {
  return command
    .option('--page-size <n>', 'source rows per fill page', numberArgument({ integer: true, min: 1 }), 500)
    .option(
      '--queries <n>',
      'shadow-read queries generated from the corpus',
      numberArgument({ integer: true, min: 1 }),
      50,
    )
    .option('--min-overlap <x>', minOverlapHelp, numberArgument({ min: 0, max: 1 }), 0.8)
    .option(
      '--verify-fraction <f>',
      'share of the id space compared id by id (0–1]',
      numberArgument({ above: 0, max: 1 }),
      1,
    );
}
