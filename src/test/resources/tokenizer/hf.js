// Drives Hugging Face `tokenizers` (Node binding) for TokenizerCompatTest.
//   node hf.js encode TOKENIZER_JSON TEXTS_JSON      → prints [[ids...], ...], one array per text
//   node hf.js train PATTERN_JSON CORPUS_TXT OUT_JSON → trains a byte-level BPE with that split pattern, saves it
// NODE_PATH points at the node_modules holding `tokenizers`.
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function encode(tokenizerPath, textsPath) {
  const tok = Tokenizer.fromFile(tokenizerPath);
  const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
  const out = [];
  for (const t of texts) out.push((await tok.encode(t, null, { addSpecialTokens: false })).getIds());
  process.stdout.write(JSON.stringify(out));
}

function train(patternPath, corpusPath, outPath) {
  const pattern = JSON.parse(fs.readFileSync(patternPath, 'utf8'));
  const spec = {
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
             fuse_unk: false, byte_fallback: false, vocab: {}, merges: [] },
  };
  const tok = Tokenizer.fromString(JSON.stringify(spec));
  tok.train([corpusPath]); // the model's default trainer
  tok.addSpecialTokens(['<|endoftext|>', '<|user|>']);
  tok.save(outPath, true);
}

const [mode, a, b, c] = process.argv.slice(2);
if (mode === 'encode') encode(a, b).catch(e => { console.error(e); process.exit(1); });
else if (mode === 'train') train(a, b, c);
else { console.error('usage: hf.js encode|train ...'); process.exit(2); }
