import { distance } from 'fastest-levenshtein';

/**
 * The candidate a misspelt name most likely meant, or undefined when none is close enough to
 * suggest with a straight face. Case is ignored; a prefix ("tenant" for "tenant_id") counts as
 * a near miss, since it is a likelier slip than its edit distance says.
 */
export function closestMatch(wanted: string, candidates: Iterable<string>): string | undefined {
  const a = wanted.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const b = candidate.toLowerCase();
    if (a === b) return candidate;
    const d = a.length > 0 && (b.startsWith(a) || a.startsWith(b)) ? 1 : distance(a, b);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(wanted.length / 3)) ? best : undefined;
}

/** ` (did you mean "x"?)`, or an empty string when nothing is close. */
export function didYouMean(wanted: string, candidates: Iterable<string>): string {
  const match = closestMatch(wanted, candidates);
  return match === undefined ? '' : ` (did you mean "${match}"?)`;
}
