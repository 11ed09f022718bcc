import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../../src/worker/runtime/tokenizer';
import { bytesToUnicode } from '../../../src/worker/runtime/byte-level';
import { byteTokenizerJson } from './fixtures';

const utf8 = (s: string) => Array.from(Buffer.from(s, 'utf8'));
const QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

describe('tokenizer: the reference byte-level tokenizer', () => {
  const tok = Tokenizer.fromJSON(byteTokenizerJson());

  it('maps text to its UTF-8 bytes and back', () => {
    const text = 'Héllo, wörld! 😀 ㈎ ok';
    const enc = tok.encode(text, { allowSpecial: false });
    expect(enc.ids).toEqual(utf8(text));
    expect(tok.decode(enc.ids)).toBe(text);
    expect(tok.vocabSize).toBe(260);
  });

  it('gives UTF-16 offsets, overlapping for the bytes of one character', () => {
    const text = 'aé😀';
    const enc = tok.encode(text, { allowSpecial: false });
    // a: 1 byte; é: 2 bytes (1 UTF-16 unit); 😀: 4 bytes (2 UTF-16 units)
    expect(enc.offsets).toEqual([[0, 1], [1, 2], [1, 2], [2, 4], [2, 4], [2, 4], [2, 4]]);
    // A token holding part of a character decodes alone to U+FFFD.
    expect(tok.decode([enc.ids[1]])).toBe('\uFFFD');
  });

  it('never turns user text into special tokens', () => {
    const text = '<|bos|>hi㈎<|eos|>';
    const user = tok.encode(text, { allowSpecial: false });
    expect(user.ids.every((id) => id < 256)).toBe(true);
    expect(user.ids).toEqual(utf8(text));
    expect(user.special.some(Boolean)).toBe(false);
    const template = tok.encode(text, { allowSpecial: true });
    expect(template.ids).toEqual([256, 104, 105, 259, 257]);
    expect(template.special).toEqual([true, false, false, true, true]);
    expect(template.offsets[3]).toEqual([9, 10]);
    expect(tok.decode(template.ids, { skipSpecial: true })).toBe('hi');
    expect(tok.decode(template.ids, { skipSpecial: false })).toBe(text);
  });

  it('added tokens with lstrip/rstrip absorb the whitespace beside them', () => {
    const json = byteTokenizerJson();
    json.added_tokens!.push({ id: 260, content: '<mask>', special: true, lstrip: true, rstrip: true });
    const tok = Tokenizer.fromJSON(json);
    const enc = tok.encode('a  <mask> b', { allowSpecial: true });
    expect(enc.ids).toEqual([97, 260, 98]);
    expect(enc.offsets).toEqual([[0, 1], [1, 10], [10, 11]]);
  });

  it('exposes each token as raw bytes for stop-string checks', () => {
    expect(Array.from(tok.tokenBytes(0x3c))).toEqual([0x3c]);
    expect(Buffer.from(tok.tokenBytes(259)).toString('utf8')).toBe('㈎');
  });
});

describe('tokenizer: BPE merges and pre-tokenizers', () => {
  it('applies merges by rank, not by position', () => {
    const ab = Tokenizer.fromJSON(byteTokenizerJson({ merges: ['a b', 'b c'], extraVocab: ['ab', 'bc'] }));
    const bc = Tokenizer.fromJSON(byteTokenizerJson({ merges: ['b c', 'a b'], extraVocab: ['ab', 'bc'] }));
    expect(ab.encode('abc', { allowSpecial: false }).ids).toEqual([ab.tokenId('ab'), 99]);
    expect(bc.encode('abc', { allowSpecial: false }).ids).toEqual([97, bc.tokenId('bc')]);
  });

  it('splits with the GPT-2 regex before merging (ByteLevel use_regex)', () => {
    const g = bytesToUnicode()[32]; // 'Ġ'
    const json = byteTokenizerJson({
      useRegex: true,
      merges: ['o r', 'l d', `${g} w`, `${g}w or`, `${g}wor ld`, 'o Ġ'.replace('Ġ', g)],
      extraVocab: ['or', 'ld', `${g}w`, `${g}wor`, `${g}world`, `o${g}`],
    });
    const tok = Tokenizer.fromJSON(json);
    const enc = tok.encode('hello world', { allowSpecial: false });
    // "o " never merges: the regex puts the space with "world".
    expect(enc.ids).toEqual([104, 101, 108, 108, 111, tok.tokenId(`${g}world`)]);
    expect(enc.offsets[5]).toEqual([5, 11]);
    expect(tok.decode(enc.ids)).toBe('hello world');
  });

  it('ByteLevel add_prefix_space puts a sourceless space before each segment, as RoBERTa does', () => {
    const json = byteTokenizerJson();
    json.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: true, use_regex: true };
    const tok = Tokenizer.fromJSON(json);
    const enc = tok.encode('hi<|eos|>yo', { allowSpecial: true });
    expect(enc.ids).toEqual([32, 104, 105, 257, 32, 121, 111]);
    expect(enc.offsets[0]).toEqual([0, 0]);
    expect(enc.offsets[4]).toEqual([9, 9]);
    expect(tok.encode(' x', { allowSpecial: false }).ids).toEqual([32, 120]);
  });

  it('reads a Qwen2/Llama-3 style Split regex with (?i:...) groups', () => {
    const json = byteTokenizerJson({
      preTokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: QWEN2_PATTERN }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
        ],
      },
      merges: ["' S", 'T \'', '1 2', '12 3', '3 4'],
      extraVocab: ["'S", "T'", '12', '123', '34'],
    });
    const tok = Tokenizer.fromJSON(json);
    const enc = tok.encode("IT'S 12345", { allowSpecial: false });
    // Pieces: IT | 'S | ' ' | 123 | 45 — so "T'" and "34" cannot form across piece boundaries.
    expect(enc.ids).toEqual([73, 84, tok.tokenId("'S"), 32, tok.tokenId('123'), 52, 53]);
    expect(enc.offsets.slice(2, 5)).toEqual([[2, 4], [4, 5], [5, 8]]);
  });

  it('normalizes NFC while keeping offsets into the original string', () => {
    const tok = Tokenizer.fromJSON(byteTokenizerJson({ normalizer: { type: 'NFC' } }));
    const enc = tok.encode('xe\u0301y', { allowSpecial: false });
    expect(enc.ids).toEqual([120, 0xc3, 0xa9, 121]);
    expect(enc.offsets).toEqual([[0, 1], [1, 3], [1, 3], [3, 4]]);
  });

  it('reads SentencePiece-style BPE with byte fallback (Gemma)', () => {
    const vocab: Record<string, number> = { '<unk>': 0 };
    for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 1 + b;
    Object.assign(vocab, { '▁': 257, h: 258, i: 259, '▁h': 260, '▁hi': 261, hi: 262 });
    const tok = Tokenizer.fromJSON({
      added_tokens: [{ id: 300, content: '<bos>', special: true }],
      normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      pre_tokenizer: null,
      decoder: {
        type: 'Sequence',
        decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }],
      },
      model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, vocab: { ...vocab, '<bos>': 300 }, merges: [['▁', 'h'], ['▁h', 'i'], ['h', 'i']] },
    });
    const enc = tok.encode('<bos>hi hi☃', { allowSpecial: true });
    expect(enc.ids).toEqual([300, 262, 261, 1 + 0xe2, 1 + 0x98, 1 + 0x83]);
    expect(enc.offsets).toEqual([[0, 5], [5, 7], [7, 10], [10, 11], [10, 11], [10, 11]]);
    expect(tok.decode(enc.ids)).toBe('hi hi☃');
  });

  it('Split MergedWithPrevious / MergedWithNext glue the delimiter to one side', () => {
    const g = bytesToUnicode()[32];
    // Each case ranks first the merge that the split must prevent.
    const split = (behavior: string, merges: string[]) =>
      Tokenizer.fromJSON(
        byteTokenizerJson({
          preTokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { String: ' ' }, behavior, invert: false }, { type: 'ByteLevel', add_prefix_space: false, use_regex: false }] },
          merges,
          extraVocab: [`a${g}`, `${g}b`],
        }),
      );
    const prev = split('MergedWithPrevious', [`${g} b`, `a ${g}`]);
    expect(prev.encode('a b', { allowSpecial: false }).ids).toEqual([prev.tokenId(`a${bytesToUnicode()[32]}`), 98]);
    const next = split('MergedWithNext', [`a ${g}`, `${g} b`]);
    expect(next.encode('a b', { allowSpecial: false }).ids).toEqual([97, next.tokenId(`${bytesToUnicode()[32]}b`)]);
  });

  it('refuses tokenizers it cannot reproduce, by name', () => {
    expect(() => Tokenizer.fromJSON({ model: { type: 'WordPiece', vocab: {} } }, 'bert/tokenizer.json')).toThrow(
      /bert\/tokenizer\.json: model\.type "WordPiece" is not supported/,
    );
    expect(() => Tokenizer.fromJSON(byteTokenizerJson({ preTokenizer: { type: 'Whitespace' } }))).toThrow(/pre_tokenizer "Whitespace" is not supported/);
  });
});

describe('tokenizer: the character bound that lets a prompt be refused before tokenizing', () => {
  const texts = ['plain ascii words', 'Héllo, wörld! 😀 ㈎ ok', 'abcabcabc bc ab', 'e\u0301\u0323 ậ 한 ᄒ\u1161\u11ab', ' '.repeat(40)];

  it('is a lower bound on the token count: chars / maxCharsPerToken <= tokens, whatever the text', () => {
    const tokenizers = [
      Tokenizer.fromJSON(byteTokenizerJson()),
      Tokenizer.fromJSON(byteTokenizerJson({ merges: ['a b', 'ab c', 'b c'], extraVocab: ['ab', 'abc', 'bc'] })),
      Tokenizer.fromJSON(byteTokenizerJson({ normalizer: { type: 'NFC' } })),
    ];
    expect(tokenizers.map((t) => t.maxCharsPerToken())).toEqual([1, 3, 4]);
    for (const tok of tokenizers) {
      for (const text of texts) {
        const ids = tok.encode(text, { allowSpecial: false }).ids;
        expect(ids.length, `${JSON.stringify(text)} with bound ${tok.maxCharsPerToken()}`).toBeGreaterThanOrEqual(text.length / tok.maxCharsPerToken());
      }
    }
  });

  it('ignores special tokens, which user text never matches, and counts the others', () => {
    const json = byteTokenizerJson();
    json.added_tokens = [...(json.added_tokens ?? []), { id: 400, content: '<|a-long-added-token|>', special: false }];
    json.model!.vocab!['<|a-long-added-token|>'] = 400;
    expect(Tokenizer.fromJSON(byteTokenizerJson()).maxCharsPerToken()).toBe(1);
    expect(Tokenizer.fromJSON(json).maxCharsPerToken()).toBe('<|a-long-added-token|>'.length);
  });

  it('is Infinity where no bound holds: a normalizer that deletes text, an added token that swallows whitespace', () => {
    const deleting = byteTokenizerJson({ normalizer: { type: 'Replace', pattern: { String: 'x' }, content: '' } });
    expect(Tokenizer.fromJSON(deleting).maxCharsPerToken()).toBe(Infinity);
    const stripping = byteTokenizerJson();
    stripping.added_tokens = [...(stripping.added_tokens ?? []), { id: 400, content: '<mask>', special: false, rstrip: true }];
    expect(Tokenizer.fromJSON(stripping).maxCharsPerToken()).toBe(Infinity);
  });
});
