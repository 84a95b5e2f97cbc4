import { ErrorCode, VectorsyncError } from '../errors.js';

export type TokenEncoding = 'o200k_base' | 'cl100k_base';

/** Counts the tokens of a text; `exact` is false when no tokenizer could be loaded. */
export interface TokenCounter {
  readonly exact: boolean;
  count(text: string): number;
}

const tokenizers = new Map<TokenEncoding, Promise<(text: string) => number>>();

/**
 * gpt-tokenizer (an optional dependency, loaded once per encoding): the byte-pair encodings
 * OpenAI's models use, so a count here is the count the model bills. Throws CONFIG_INVALID,
 * naming the package, when it is not installed.
 */
export function loadTokenizer(encoding: TokenEncoding, purpose: string): Promise<(text: string) => number> {
  let loading = tokenizers.get(encoding);
  if (!loading) {
    loading = import(`gpt-tokenizer/encoding/${encoding}`).then(
      (module: { encode(text: string, options: { disallowedSpecial: Set<string> }): number[] }) => {
        // Text that spells a special token (<|endoftext|>) is counted as text, never refused.
        const none = new Set<string>();
        return (text: string) => module.encode(text, { disallowedSpecial: none }).length;
      },
      (error: Error) => {
        tokenizers.delete(encoding);
        throw new VectorsyncError(
          ErrorCode.ConfigInvalid,
          `${purpose} needs the gpt-tokenizer package (npm install gpt-tokenizer): ${error.message}`,
        );
      },
    );
    tokenizers.set(encoding, loading);
  }
  return loading;
}

/** About four characters a token in English text: the estimate when no tokenizer is installed. */
export const approximateTokenCounter: TokenCounter = {
  exact: false,
  count: (text) => Math.max(1, Math.ceil(text.length / 4)),
};

/** The real tokenizer when gpt-tokenizer is installed, else the approximation (marked inexact). */
export async function tokenCounterFor(encoding: TokenEncoding): Promise<TokenCounter> {
  try {
    const count = await loadTokenizer(encoding, 'counting tokens');
    return { exact: true, count };
  } catch {
    return approximateTokenCounter;
  }
}
