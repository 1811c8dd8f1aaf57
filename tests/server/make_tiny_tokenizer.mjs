// Writes tiny-tokenizer.json: a Gemma-style BPE tokenizer.json with exactly
// 512 ids, for the tiny golden checkpoints (vocab 512). Layout:
//   0 <pad>, 1 <eos>, 2 <bos>, 3 <unk>, 4 <start_of_turn>, 5 <end_of_turn>,
//   6..261 byte tokens <0x00>..<0xFF>, 262 "\n", 263 "▁" (space),
//   264..357 printable ASCII '!'..'~', a few merged words, <unusedN> fillers,
//   500 <start_of_image>, 501 <end_of_image>, 502 <image_soft_token>
//   (the ids gemma3-mm-tiny-a uses), fillers up to 511.
// Usage: node make_tiny_tokenizer.mjs > tiny-tokenizer.json
const SP = '\u2581';
const vocab = {};
const added = [];
let next = 0;
const add = (tok, special = null) => {
  vocab[tok] = next;
  if (special !== null) added.push({ id: next, content: tok, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
  next++;
};
['<pad>', '<eos>', '<bos>', '<unk>', '<start_of_turn>', '<end_of_turn>'].forEach((t) => add(t, true));
for (let b = 0; b < 256; b++) add('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>');
add('\n', false);
add(SP);
for (let c = 33; c <= 126; c++) add(String.fromCharCode(c));
// A few merges so that BPE does some work.
const merges = [];
const word = (w) => {
  let cur = w[0];
  for (let i = 1; i < w.length; i++) {
    const nxt = cur + w[i];
    if (!(nxt in vocab)) { merges.push([cur, w[i]]); add(nxt); }
    cur = nxt;
  }
};
['he', 'the', SP + 't', SP + 'the', 'in', 'er', 'an', 'on', 'user', 'model'].forEach(word);
let unused = 0;
while (next < 500) add('<unused' + unused++ + '>', false);
['<start_of_image>', '<end_of_image>', '<image_soft_token>'].forEach((t) => add(t, true));
while (next < 512) add('<unused' + unused++ + '>', false);

const tokenizer = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: added,
  normalizer: { type: 'Replace', pattern: { String: ' ' }, content: SP },
  pre_tokenizer: null,
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
           { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<bos>': { id: '<bos>', ids: [2], tokens: ['<bos>'] } },
  },
  decoder: {
    type: 'Sequence',
    decoders: [{ type: 'Replace', pattern: { String: SP }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }],
  },
  model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
           fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges },
};
process.stdout.write(JSON.stringify(tokenizer, null, 1) + '\n');
