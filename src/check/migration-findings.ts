import type { MigrationState } from '../db/migrator.js';
import { CheckCode, type CheckFinding } from './check-finding.js';

/** Pending migrations are normal on a fresh database: a finding, never a refusal. */
export function migrationFindings(state: MigrationState, database: string): CheckFinding[] {
  if (state.unknownBreaking.length > 0)
    return [
      {
        severity: 'error',
        code: CheckCode.MigrationAhead,
        object: `migration ${state.unknownBreaking.at(-1)}`,
        message: `database ${database} has breaking migration ${state.unknownBreaking.at(-1)}, which this version of vectorsync (knows up to ${state.latestKnown}) cannot run against`,
        hint: 'upgrade vectorsync',
      },
    ];
  if (state.pending.length === 0) return [];
  const next = `${state.pending[0]!.id}_${state.pending[0]!.name}`;
  if (state.applied.length === 0)
    return [
      {
        severity: 'info',
        code: CheckCode.NotInstalled,
        object: 'schema vectorsync',
        message: `vectorsync is not installed in database ${database} yet (${state.pending.length} migrations to apply)`,
        hint: '`vectorsync setup` (or `vectorsync migrate`) installs it',
      },
    ];
  return [
    {
      severity: 'warning',
      code: CheckCode.MigrationsPending,
      object: `migration ${next}`,
      message: `database ${database} is missing ${state.pending.length} vectorsync migration(s) (next: ${next}); serve and worker refuse to start until they are applied`,
      hint: '`vectorsync migrate`',
    },
  ];
}
