import { InvalidArgumentError } from 'commander';

export interface NumberBounds {
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  max?: number;
  integer?: boolean;
}

/**
 * A commander argument parser for a numeric option. `Number('abc')` is NaN, and NaN compares
 * false with everything, so an unchecked `--max-ndcg-drop abc` would have turned a quality gate
 * off in silence; here it is refused, naming the value and the range.
 */
export function numberArgument(bounds: NumberBounds = {}): (value: string) => number {
  return (value: string) => {
    const number = value.trim() === '' ? Number.NaN : Number(value);
    const range = [
      bounds.integer ? 'a whole number' : 'a number',
      bounds.min !== undefined ? `at least ${bounds.min}` : undefined,
      bounds.above !== undefined ? `above ${bounds.above}` : undefined,
      bounds.max !== undefined ? `at most ${bounds.max}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    const valid =
      Number.isFinite(number) &&
      (!bounds.integer || Number.isInteger(number)) &&
      (bounds.min === undefined || number >= bounds.min) &&
      (bounds.above === undefined || number > bounds.above) &&
      (bounds.max === undefined || number <= bounds.max);
    if (!valid) throw new InvalidArgumentError(`"${value}" is not ${range}.`);
    return number;
  };
}
