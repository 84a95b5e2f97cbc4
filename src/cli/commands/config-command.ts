import type { Command } from 'commander';
import { CheckCode, type CheckFinding, type CheckReport, checkReport } from '../../check/check-finding.js';
import { type CheckResult, runCheck } from '../../check/run-check.js';
import { assertSourceReachable } from '../../db/connection-failure.js';
import { PgDatabase } from '../../db/pg-database.js';
import { ErrorCode, isVectorsyncError } from '../../errors.js';
import { createCliLogger, type GlobalOptions, loadConfig, printJson, printTable } from '../cli-context.js';
import { printFindings } from '../print-findings.js';

export function registerConfigCommand(program: Command): void {
  program
    .command('check')
    .description(
      'check the config and the database without changing anything: migrations, each collection against its table, the privileges its sync mode needs',
    )
    .option('--json', 'print the findings as JSON')
    .option('--strict', 'exit 1 on warnings too, not only on errors')
    .action(async (commandOptions: { json?: boolean; strict?: boolean }) => {
      const options = program.opts<GlobalOptions>();
      const result = await check(options);
      const failed = result.counts.error > 0 || (commandOptions.strict === true && result.counts.warning > 0);
      if (commandOptions.json) printJson({ ok: !failed, ...result });
      else {
        if ('collections' in result && result.collections.length > 0) {
          process.stdout.write(`database ${result.database}, role ${result.role}\n\n`);
          printTable(
            result.collections.map((c) => ({
              collection: c.collection,
              table: c.table,
              mode: c.mode,
              store: c.store,
              embedder: c.embedder,
              index: c.index ?? 'none',
            })),
          );
          process.stdout.write('\n');
        }
        printFindings(result.findings, result.counts);
      }
      process.exitCode = failed ? 1 : 0;
    });
}

async function check(options: GlobalOptions): Promise<CheckReport | CheckResult> {
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(options);
  } catch (error) {
    // An invalid config is a finding per problem (with its "did you mean"), like any other.
    if (!isVectorsyncError(error, ErrorCode.ConfigInvalid)) throw error;
    const problems = (error.details.problems as string[] | undefined) ?? [error.message];
    return checkReport(problems.map(configProblem));
  }
  if (!config.databaseUrl)
    return checkReport([
      {
        severity: 'error',
        code: CheckCode.DatabaseNotConfigured,
        object: 'databaseUrl',
        message: 'no database to check: neither DATABASE_URL nor databaseUrl in the config is set',
        hint: 'set DATABASE_URL=postgres://user@host/db',
      },
    ]);
  const db = PgDatabase.fromUrl(config.databaseUrl, {
    max: 2,
    logger: createCliLogger(options.logLevel),
    applicationName: 'vectorsync-check',
  });
  try {
    // A database that cannot be reached is the one-line SOURCE_UNAVAILABLE error, as for every command.
    await assertSourceReachable(db);
    return await runCheck(db, config);
  } finally {
    await db.close();
  }
}

function configProblem(problem: string): CheckFinding {
  const separator = problem.indexOf(': ');
  return {
    severity: 'error',
    code: CheckCode.ConfigInvalid,
    object: separator > 0 ? problem.slice(0, separator) : 'config',
    message: separator > 0 ? problem.slice(separator + 2) : problem,
  };
}
