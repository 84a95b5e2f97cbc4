import type { CheckFinding, CheckSeverity } from '../check/check-finding.js';

/** Findings for a terminal: severity, code and object on one line, then the message and hint. */
export function printFindings(
  findings: readonly CheckFinding[],
  counts: Record<CheckSeverity, number>,
): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  for (const finding of findings) {
    out(`${finding.severity.padEnd(7)} ${finding.code}  ${finding.object}`);
    out(`        ${finding.message}`);
    if (finding.hint) out(`        hint: ${finding.hint}`);
  }
  if (findings.length > 0) out('');
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  out(
    counts.error + counts.warning + counts.info === 0
      ? 'check: no problems found'
      : `check: ${plural(counts.error, 'error')}, ${plural(counts.warning, 'warning')}, ${counts.info} info`,
  );
}
