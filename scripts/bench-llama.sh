#!/usr/bin/env bash
# Cramjet and llama.cpp side by side on this machine, decoding the same GGUF files at batch 1 with the same number
# of threads: Cramjet's fp32 against llama.cpp's F32, Cramjet's int8 against llama.cpp's Q8_0. Rounds alternate
# the four so that a change in the machine's load hits all of them; the table gives each one's best round (the
# least disturbed) and the ratios. llama.cpp is node-llama-cpp's CPU build (scripts/setup-node-llama-cpp.sh) with
# its defaults otherwise (F16 KV cache, flash attention "auto"); Cramjet keeps its KV cache in fp32.
#
# usage: scripts/bench-llama.sh MODEL_DIR [ROUNDS] [PROMPT] [DECODE]     (defaults 5, 64, 128)
# THREADS=N (default: all cores) sets both engines' threads; one thread is the steadier figure on a shared machine,
# where llama.cpp's threads, which wait for each other at every op, lose the most to a stolen core.
# REPEATS=N (default 3): timed runs per engine process after its warm-up, so the JVM's figure is of compiled code.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
model=${1:?usage: scripts/bench-llama.sh MODEL_DIR [ROUNDS] [PROMPT] [DECODE]}
rounds=${2:-5} prompt=${3:-64} decode=${4:-128}
threads=${THREADS:-$(nproc)} repeats=${REPEATS:-3}
nlc="$root/.cache/node/node_modules/node-llama-cpp"
[ -d "$nlc" ] || { echo "bench-llama: node-llama-cpp is not installed; run scripts/setup-node-llama-cpp.sh" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/cramjet" export --model "$model" --format gguf --out "$work/f32.gguf" >&2
"$root/cramjet" export --model "$model" --format gguf --type q8_0 --out "$work/q8_0.gguf" >&2
vocab=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$model/config.json', 'utf8')).vocab_size)")
for r in $(seq "$rounds"); do
  for t in f32 q8_0; do
    CRAMJET_JAVA_OPTS="${CRAMJET_JAVA_OPTS:-} -Dcramjet.threads=$threads" "$root/cramjet" bench --model "$work/$t.gguf" --prompt "$prompt" --decode "$decode" --repeats "$repeats" --json \
      | sed "s/^{/{\"engine\":\"cramjet\",\"type\":\"$t\",/"
    NODE_LLAMA_CPP="$nlc" node "$root/src/test/resources/io/llama.mjs" bench "$work/$t.gguf" "$threads" "$prompt" "$decode" "$repeats" "$vocab" \
      | sed "s/^{/{\"engine\":\"llama.cpp\",\"type\":\"$t\",/"
  done
done > "$work/rounds.jsonl"
node - "$work/rounds.jsonl" "$threads" "$prompt" "$decode" "$rounds" "$repeats" <<'JS'
const [file, threads, prompt, decode, rounds, repeats] = process.argv.slice(2);
const rows = require("fs").readFileSync(file, "utf8").trim().split("\n").map(l => JSON.parse(l));
const best = (engine, type, key) => Math.max(...rows.filter(r => r.engine === engine && r.type === type).map(r => r[key]));
console.log(`batch 1, ${threads} threads, ${prompt}-token prompt, ${decode} decoded tokens; best of ${rounds} rounds × ${repeats} repeats each`);
console.log("| weights | Cramjet prefill | llama.cpp prefill | ratio | Cramjet decode | llama.cpp decode | ratio |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const t of ["f32", "q8_0"]) {
  const cp = best("cramjet", t, "prefill_tokens_per_s"), lp = best("llama.cpp", t, "prefill_tokens_per_s");
  const cd = best("cramjet", t, "decode_tokens_per_s"), ld = best("llama.cpp", t, "decode_tokens_per_s");
  console.log(`| ${t === "f32" ? "fp32 / F32" : "int8 / Q8_0"} | ${cp.toFixed(0)} tok/s | ${lp.toFixed(0)} tok/s | ${(cp / lp).toFixed(2)}× | ` +
      `${cd.toFixed(1)} tok/s | ${ld.toFixed(1)} tok/s | ${(cd / ld).toFixed(2)}× |`);
}
const c8 = best("cramjet", "q8_0", "decode_tokens_per_s") / best("cramjet", "f32", "decode_tokens_per_s");
const l8 = best("llama.cpp", "q8_0", "decode_tokens_per_s") / best("llama.cpp", "f32", "decode_tokens_per_s");
console.log(`int8 over fp32 decode: Cramjet ${c8.toFixed(2)}×, llama.cpp ${l8.toFixed(2)}×`);
JS
