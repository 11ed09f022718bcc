/**
 * The token ids an AR reads for one explanation, as the NLA release builds them: the filled
 * template tokenized in one piece with the tokenizer's special tokens (BOS on Gemma and Llama 3).
 *
 * One difference is deliberate: special tokens are matched only in the template, never in the
 * explanation, which is generated text and must not turn into a control token. Hugging Face
 * splits text at special tokens before anything else, so tokenizing the template's special
 * tokens on their own and the text between them in one piece gives the release's ids whenever
 * the explanation holds no special token.
 */
import { EngineError } from '../engine';
import { ManifestError } from './manifest-files';
import type { SpecialTokensAround } from './post-processor';
import type { Tokenizer } from './tokenizer';

const PLACEHOLDER = '{explanation}';

export class ArPrompt {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly around: SpecialTokensAround,
    /** The template up to and including its last special token before the explanation. */
    private readonly headIds: number[],
    /** Plain template text around the explanation, tokenized together with it. */
    private readonly before: string,
    private readonly after: string,
    /** The template from its first special token after the explanation. */
    private readonly tailIds: number[],
    private readonly maxTokens: number,
  ) {}

  static build(tokenizer: Tokenizer, template: string, maxTokens: number): ArPrompt {
    const at = template.indexOf(PLACEHOLDER);
    if (at < 0) throw new EngineError(500, 'bad_model', `The AR template has no ${PLACEHOLDER} placeholder.`);
    const prefix = template.slice(0, at);
    const suffix = template.slice(at + PLACEHOLDER.length);

    const pre = tokenizer.encode(prefix, { allowSpecial: true });
    const last = pre.special.lastIndexOf(true);
    const headIds = pre.ids.slice(0, last + 1);
    const before = last >= 0 ? prefix.slice(pre.offsets[last][1]) : prefix;

    const suf = tokenizer.encode(suffix, { allowSpecial: true });
    const first = suf.special.indexOf(true);
    const cut = first >= 0 ? suf.offsets[first][0] : suffix.length;
    const tailIds = first >= 0 ? tokenizer.encode(suffix.slice(cut), { allowSpecial: true }).ids : [];

    const prompt = new ArPrompt(tokenizer, tokenizer.specialTokensAround(), headIds, before, suffix.slice(0, cut), tailIds, maxTokens);
    const empty = prompt.ids('').length;
    if (empty >= maxTokens) {
      throw new EngineError(500, 'bad_model', `The AR template alone is ${empty} tokens; the AR's context is ${maxTokens}, which leaves no room for an explanation.`);
    }
    return prompt;
  }

  /**
   * The AR's ids for `text`. An explanation longer than the AR's context is cut at the end
   * (the template's own tokens are kept): a score on most of the text is more use to a reviewer
   * than an error.
   */
  ids(text: string): number[] {
    const fixed = this.around.prefix.length + this.headIds.length + this.tailIds.length + this.around.suffix.length;
    const room = this.maxTokens - fixed;
    let middle = this.middle(text);
    if (middle.length > room && text.length > 0) {
      const body = this.tokenizer.encode(text, { allowSpecial: false });
      let keep = Math.min(body.ids.length, Math.max(0, room - this.middle('').length));
      for (;;) {
        middle = this.middle(keep > 0 ? text.slice(0, body.offsets[keep - 1][1]) : '');
        // Cutting can change how the template's edge merges; give back one token at a time.
        if (middle.length <= room || keep === 0) break;
        keep--;
      }
    }
    return [...this.around.prefix, ...this.headIds, ...middle, ...this.tailIds, ...this.around.suffix];
  }

  private middle(text: string): number[] {
    return this.tokenizer.encode(this.before + text + this.after, { allowSpecial: false }).ids;
  }

  /**
   * The release records the stable tail of its tokenized AR template (`critic_suffix_ids`);
   * a prompt that ends otherwise means another tokenizer or template than the AR was trained on.
   */
  checkSuffix(expected: number[] | null, sidecar: string): void {
    if (!expected) return;
    const ids = this.ids('The text is about an example.');
    const actual = ids.slice(-expected.length);
    if (actual.length !== expected.length || actual.some((id, i) => id !== expected[i])) {
      throw new ManifestError(
        sidecar,
        'tokens.critic_suffix_ids',
        `is [${expected}], but the AR prompt tokenized by ${this.tokenizer.source} ends with [${actual}]: the AR's tokenizer or template is not the one it was trained with`,
      );
    }
  }
}
