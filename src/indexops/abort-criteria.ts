import { formatDuration } from '../config/duration.js';
import type { BuildProgress } from './build-progress.js';

/**
 * Declared before an operation starts and recorded with it: when to give up. A breach cancels
 * the build's backend and drops the invalid index; the index serving searches is never touched.
 */
export interface AbortCriteria {
  /** Epoch ms by which the whole operation must be done. */
  deadlineAt: number | null;
  /** declared (--deadline), rehearsal (factor × predicted), default (indexOps.defaultDeadline). */
  deadlineSource: 'declared' | 'rehearsal' | 'default' | null;
  /** Abort when fewer rows per minute are loaded than this (after the grace period). */
  minRowsPerMinute: number | null;
  minRateGraceSeconds: number;
  /** Predicted duration of the build, from a rehearsal. */
  expectedSeconds: number | null;
  rehearsalId: number | null;
  slowFactor: number;
}

export interface CriteriaBreach {
  code: 'deadline' | 'min-rate';
  message: string;
}

export function checkAbortCriteria(
  criteria: AbortCriteria,
  progress: BuildProgress,
  now: number,
): CriteriaBreach | undefined {
  if (criteria.deadlineAt !== null && now >= criteria.deadlineAt) {
    return {
      code: 'deadline',
      message: `deadline passed (${new Date(criteria.deadlineAt).toISOString()}, ${criteria.deadlineSource}) at ${(progress.fraction * 100).toFixed(1)}% in phase "${progress.phase}"`,
    };
  }
  if (
    criteria.minRowsPerMinute !== null &&
    progress.elapsedSeconds >= criteria.minRateGraceSeconds &&
    progress.rowsDone < progress.rowsTotal &&
    progress.rowsPerMinute !== null &&
    progress.rowsPerMinute < criteria.minRowsPerMinute
  ) {
    return {
      code: 'min-rate',
      message: `rate ${Math.round(progress.rowsPerMinute)} rows/min is below the declared minimum of ${criteria.minRowsPerMinute} rows/min (phase "${progress.phase}", ${progress.rowsDone}/${progress.rowsTotal} rows)`,
    };
  }
  return undefined;
}

/** One line to paste into the incident channel before starting. */
export function describeCriteria(criteria: AbortCriteria): string {
  const parts: string[] = [];
  if (criteria.deadlineAt !== null) {
    parts.push(
      `abort at ${new Date(criteria.deadlineAt).toISOString()} (deadline, ${criteria.deadlineSource}; in ${formatDuration(criteria.deadlineAt - Date.now())})`,
    );
  } else parts.push('no deadline');
  if (criteria.minRowsPerMinute !== null)
    parts.push(
      `abort below ${criteria.minRowsPerMinute} rows/min after ${formatDuration(criteria.minRateGraceSeconds * 1000)}`,
    );
  if (criteria.expectedSeconds !== null)
    parts.push(
      `expected ${formatDuration(criteria.expectedSeconds * 1000)} (rehearsal #${criteria.rehearsalId}); warn when projected beyond ${criteria.slowFactor}×`,
    );
  else parts.push('no rehearsal: no expected duration');
  return parts.join('; ');
}
