package dev.cramjet.io;

import dev.cramjet.cli.EvalCommand;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.Gguf.TensorType;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.quant.Pruning;
import dev.cramjet.quant.Weights;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * llama.cpp itself (node-llama-cpp's CPU build) runs the GGUF files Cramjet writes, for a trained GPT-2-layout and
 * Llama-layout model in F32 and Q8_0: it tokenizes held-out mixed Chinese/English text to our ids, its next-token
 * log-probabilities agree with ours (and so with `cramjet eval`'s loss), and in F32 its greedy continuation is
 * ours. Needs node and the package scripts/setup-node-llama-cpp.sh installs; skips without them.
 */
class LlamaCppTest {
    static Path node, nodeLlamaCpp, script;

    @BeforeAll
    static void find() throws Exception {
        node = onPath("node");
        nodeLlamaCpp = Path.of(".cache/node/node_modules/node-llama-cpp").toAbsolutePath();
        script = Path.of(LlamaCppTest.class.getResource("/io/llama.mjs").toURI());
    }

    @BeforeEach
    void needLlamaCpp() {
        assumeTrue(node != null, "node is not on the PATH; skipping the llama.cpp checks");
        assumeTrue(Files.isDirectory(nodeLlamaCpp), "node-llama-cpp is not installed (run scripts/setup-node-llama-cpp.sh); skipping");
    }

    /** Held-out texts: generated like the training text but from other seeds, and the edges of the pre-tokenizer. */
    static List<String> texts() {
        List<String> t = new ArrayList<>(List.of("床前明月光，疑是地上霜。 The model's 1234567 tokens!!\n\n\tend  ",
                "It's what we'll do, THEY'VE SAID so... 中文 and English 混合 text 😀👍🏽", "   leading and trailing   ",
                "numbers 3.14159 ١٢٣ Ⅻ\u00A0nbsp\u3000ideographic\r\nCRLF", "a quoted <|endoftext|> stays text", ""));
        for (int s = 0; s < 20; s++) t.add(TrainedModels.text(5000 + s, 80 + 10 * s));
        return t;
    }

    @ParameterizedTest
    @CsvSource({"gpt2, F32, 1e-3", "gpt2, Q8_0, 2e-2", "llama, F32, 1e-3", "llama, Q8_0, 2e-2", "llama-heads, F32, 1e-3",
        "llama-heads, Q8_0, 2e-2"})
    void llamaCppAgreesWithCramjet(String arch, TensorType type, double bound, @TempDir Path dir) throws Exception {
        Path modelDir = arch.equals("gpt2") ? TrainedModels.gpt2() : TrainedModels.llama();
        Tokenizer tok = Tokenizer.load(modelDir.resolve("tokenizer.json"));
        Path file = dir.resolve("model.gguf");
        try (Backend be = Backends.open("cpu")) {
            GPT model = ModelDir.load(be, modelDir, 1, 1);
            if (arch.equals("llama-heads")) {      // half the heads pruned: attention narrower than n_embd, key_length in the file
                Weights w = Weights.of(model);
                model = Pruning.heads(w, Pruning.keptHeads(w, w.config().nHead() / 2)).model(be, 1, 1, dev.cramjet.nn.Model.Options.INFERENCE);
                assertTrue(model.config().attnWidth() < model.config().nEmbd());
            }
            GgufModel.write(model, tok, type, "test", null, file);
        }
        List<String> texts = texts();
        int[] score = tok.encodeOrdinary(TrainedModels.text(7777, 2000));
        score = java.util.Arrays.copyOf(score, TrainedModels.T);
        int[] prompt = java.util.Arrays.copyOf(score, 16);
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("texts", texts);
        spec.put("score", ints(score));
        if (type == TensorType.F32) spec.put("greedy", Map.of("prompt", ints(prompt), "n", 32L));
        Map<String, Object> out = Json.object(Json.parse(llama(dir, file, spec), "llama.mjs"), "llama.mjs");

        assertEquals(false, out.get("bos"), "llama.cpp would prepend a BOS token");
        List<Object> theirTokens = Json.array(out.get("tokens"), "tokens");
        for (int k = 0; k < texts.size(); k++) {
            String text = texts.get(k);
            assertEquals(ints(tok.encodeOrdinary(text)), Json.array(theirTokens.get(k), "ids"), () -> "text: " + Json.write(text));
        }

        assertEquals((long) tok.vocabSize(), out.get("distribution"), "llama.cpp scored a truncated distribution");
        List<Object> theirs = Json.array(out.get("logprobs"), "logprobs");
        try (Backend be = Backends.open("cpu")) {
            GPT model = GgufModel.load(be, file, 1, score.length - 1, false);
            assertEquals(type == TensorType.Q8_0, model.parameter("wte.weight").value().dtype() == dev.cramjet.engine.DType.Q8_0);
            model.forward(java.util.Arrays.copyOf(score, score.length - 1), null);
            double sumDiff = 0, ourLoss = 0, theirLoss = 0;
            for (int i = 0; i < score.length - 1; i++) {
                double ours = logSoftmax(model.logitsAt(i), score[i + 1]);
                double their = Json.number(theirs.get(i), "logprob");
                sumDiff += Math.abs(ours - their);
                ourLoss -= ours;
                theirLoss -= their;
            }
            int n = score.length - 1;
            double meanDiff = sumDiff / n;
            assertTrue(meanDiff <= bound, arch + " " + type + ": mean |Δ log p| = " + meanDiff + " > " + bound);
            // `cramjet eval` over the same stream gives the loss our per-token figures average to.
            EvalCommand.Result eval = EvalCommand.evaluate(model, score);
            assertEquals(n, eval.targets());
            assertEquals(ourLoss / n, eval.loss(), 1e-5);
            assertEquals(theirLoss / n, eval.loss(), bound);
            assertFalse(meanDiff == 0 && type == TensorType.Q8_0, "Q8_0 cannot agree bit for bit: llama.cpp quantizes activations too");

            if (type == TensorType.F32) {
                GPT decoder = GgufModel.load(be, file, 1, 1, false);
                GPT.Session s = decoder.session(prompt.length + 32);
                List<Object> ours = new ArrayList<>();
                float[] logits = s.next(prompt);
                for (int i = 0; i < 32; i++) {
                    int next = argmax(logits);
                    if (next == tok.eot()) break;       // llama.cpp's evaluate ends at an end-of-generation token
                    ours.add((long) next);
                    if (i < 31) logits = s.next(new int[] {next});
                }
                assertEquals(ours, Json.array(out.get("greedy"), "greedy"), "greedy continuations differ");
            }
        }
    }

    static double logSoftmax(float[] logits, int target) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float l : logits) max = Math.max(max, l);
        for (float l : logits) sum += Math.exp(l - max);
        return logits[target] - max - Math.log(sum);
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    static List<Object> ints(int[] ids) {
        List<Object> l = new ArrayList<>();
        for (int id : ids) l.add((long) id);
        return l;
    }

    /** Runs llama.mjs check on a file with a spec; returns its JSON output. */
    static String llama(Path dir, Path gguf, Map<String, Object> spec) throws Exception {
        Path in = dir.resolve("spec.json");
        Files.writeString(in, Json.write(spec));
        return run(List.of(node.toString(), script.toString(), "check", gguf.toString(), in.toString()), dir);
    }

    static String run(List<String> command, Path dir) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("NODE_LLAMA_CPP", nodeLlamaCpp.toString());
        Path err = dir.resolve("node.err");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) p.destroyForcibly();
        String stderr = Files.readString(err);
        assertEquals(0, p.exitValue(), () -> "node failed: " + stderr);
        return new String(out, StandardCharsets.UTF_8);
    }

    static Path onPath(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }
}
