// llama.cpp (through node-llama-cpp, CPU build) on a GGUF file, for the tests and the side-by-side benchmark.
//   node llama.mjs check MODEL.gguf SPEC.json   SPEC: {texts: [...], score: [ids], greedy: {prompt: [ids], n}, kv: "F32"|"F16"}
//       prints {tokens: [[ids] per text], logprobs: [log p(score[i+1] | score[..i])], distribution: ids scored,
//               bos: whether llama.cpp prepends a BOS token, greedy: [ids]}
//   node llama.mjs bench MODEL.gguf THREADS PROMPT DECODE REPEATS VOCAB
//       prints {prefill_tokens_per_s, decode_tokens_per_s} per repeat (the best of each is what a table quotes)
// NODE_LLAMA_CPP points at node-llama-cpp's package directory (scripts/setup-node-llama-cpp.sh installs it).
import {readFileSync} from "node:fs";

const [cmd, modelPath, ...rest] = process.argv.slice(2);
const {getLlama} = await import(process.env.NODE_LLAMA_CPP + "/dist/index.js");
const llama = await getLlama({gpu: false, build: "never", progressLogs: false, logLevel: "error"});

if (cmd === "check") {
    const spec = JSON.parse(readFileSync(rest[0], "utf8"));
    const model = await llama.loadModel({modelPath, gpuLayers: 0});
    const out = {bos: model.tokens.shouldPrependBosToken};
    out.tokens = spec.texts.map(t => Array.from(model.tokenize(t, false)));
    const kv = spec.kv ?? "F32";
    const context = await model.createContext({
        contextSize: Math.max(spec.score.length, (spec.greedy?.prompt.length ?? 0) + (spec.greedy?.n ?? 0)) + 1,
        threads: 2, experimentalKvCacheKeyType: kv, experimentalKvCacheValueType: kv, flashAttention: false});
    const seq = context.getSequence();
    // Every position but the last asks for the full next-token distribution (greedy sampler: no truncation).
    const input = spec.score.map((t, i) => i < spec.score.length - 1 ? [t, {generateNext: {probabilities: true}}] : t);
    const results = await seq.controlledEvaluate(input);
    out.logprobs = [];
    for (let i = 0; i < spec.score.length - 1; i++) {
        const probs = results[i].next.probabilities;
        if (i === 0) out.distribution = probs.size;
        out.logprobs.push(Math.log(probs.get(spec.score[i + 1]) ?? 0));
    }
    if (spec.greedy) {
        await seq.clearHistory();
        out.greedy = [];
        for await (const token of seq.evaluate(spec.greedy.prompt, {temperature: 0})) {
            out.greedy.push(token);
            if (out.greedy.length === spec.greedy.n) break;
        }
    }
    console.log(JSON.stringify(out));
    await context.dispose();
    await model.dispose();
} else if (cmd === "bench") {
    const [threads, prompt, decode, repeats, vocab] = rest.map(Number);
    const model = await llama.loadModel({modelPath, gpuLayers: 0});
    const context = await model.createContext({contextSize: prompt + decode + 8, threads, batchSize: Math.max(prompt, 8)});
    const seq = context.getSequence();
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % vocab;
    const ids = Array.from({length: prompt}, random);
    for (let r = 0; r <= repeats; r++) {   // round 0 warms up
        await seq.clearHistory();
        const t0 = performance.now();
        let t1 = 0, n = 0;
        for await (const token of seq.evaluate(ids, {temperature: 0})) {
            void token;
            if (n === 0) t1 = performance.now();
            if (++n === decode + 1) break;
        }
        const t2 = performance.now();
        if (r > 0) console.log(JSON.stringify({prefill_tokens_per_s: prompt / ((t1 - t0) / 1e3),
            decode_tokens_per_s: decode / ((t2 - t1) / 1e3)}));
    }
    await context.dispose();
    await model.dispose();
} else {
    console.error("usage: llama.mjs check|bench ...");
    process.exit(2);
}
await llama.dispose();
