#!/usr/bin/env node
import { Command } from 'commander';
import { sourceUnavailable } from '../db/connection-failure.js';
import { isVectorsyncError } from '../errors.js';
import { packageVersion } from '../package-version.js';
import { formatCliError } from './cli-error.js';
import { registerBudgetCommand } from './commands/budget-command.js';
import { registerCdcCommand } from './commands/cdc-command.js';
import { registerConfigCommand } from './commands/config-command.js';
import { registerDemoCommand } from './commands/demo-command.js';
import { registerEvalCommand } from './commands/eval-command.js';
import { registerEventsCommand } from './commands/events-command.js';
import { registerIndexCommand } from './commands/index-command.js';
import { registerKeysCommand } from './commands/keys-command.js';
import { registerMigrateCommand } from './commands/migrate-command.js';
import { registerMigrateStoreCommand } from './commands/migrate-store-command.js';
import { registerReconcileCommand } from './commands/reconcile-command.js';
import { registerReembedCommand } from './commands/reembed-command.js';
import { registerReplayCommand } from './commands/replay-command.js';
import { registerServeCommand } from './commands/serve-command.js';
import { registerSetupCommand } from './commands/setup-command.js';
import { registerStatusCommand } from './commands/status-command.js';
import { registerSwitchModeCommand } from './commands/switch-mode-command.js';
import { registerWorkerCommand } from './commands/worker-command.js';

const program = new Command()
  .name('vectorsync')
  .description('Keep search indexes correct as your Postgres data changes.')
  .version(packageVersion(), '-V, --version', 'print the vectorsync version')
  .option('--config <path>', 'config file (default: $VECTORSYNC_CONFIG or ./vectorsync.config.json)')
  .option('--log-level <level>', 'debug, info, warn or error (default: $LOG_LEVEL or info)')
  .showHelpAfterError();

registerDemoCommand(program);
registerMigrateCommand(program);
registerSetupCommand(program);
registerServeCommand(program);
registerWorkerCommand(program);
registerStatusCommand(program);
registerEventsCommand(program);
registerReconcileCommand(program);
registerKeysCommand(program);
registerBudgetCommand(program);
registerConfigCommand(program);
registerEvalCommand(program);
registerCdcCommand(program);
registerSwitchModeCommand(program);
registerReplayCommand(program);
registerMigrateStoreCommand(program);
registerReembedCommand(program);
registerIndexCommand(program);

program.parseAsync(process.argv).then(
  // Commands report an outcome other than success through process.exitCode (e.g. reconcile: drift).
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    // A database that cannot be reached is an operator's problem, not a bug: one line, no stack.
    const reported = isVectorsyncError(error) ? error : sourceUnavailable(error, undefined);
    if (reported) process.stderr.write(`${formatCliError(reported)}\n`);
    else process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
