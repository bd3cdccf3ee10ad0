package dev.cramjet.quant;

import dev.cramjet.data.ShardWriter;
import dev.cramjet.data.TokenShards;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.TrainedModels;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class PruningTest {
    private final Backend be = Backends.open("cpu");

    @AfterEach
    void close() { be.close(); }

    private Weights trained(String arch) throws IOException {
        return Weights.of(ModelDir.load(be, arch.equals("gpt2") ? TrainedModels.gpt2() : TrainedModels.llama(), 1, 1));
    }

    private static final int[] TOKENS = Arrays.copyOf(TrainedModels.tokenizer().encode(TrainedModels.text(77, 600)), 48);

    private float[][] logits(Weights w) {
        GPT m = w.model(be, 1, TOKENS.length, Model.Options.INFERENCE);
        m.forward(TOKENS, null);
        float[][] out = new float[TOKENS.length][];
        for (int i = 0; i < TOKENS.length; i++) out[i] = m.logitsAt(i);
        return out;
    }

    /** The structured-pruned model computes what the original does with the removed neurons masked to zero. */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void removingNeuronsEqualsMaskingThem(String arch) throws IOException {
        Weights w = trained(arch);
        GPTConfig cfg = w.config();
        int h = cfg.mlpHidden(), c = cfg.nEmbd(), keep = Pruning.keptWidth(h, 0.5);
        assertEquals(h / 2, keep);
        int[][] kept = Pruning.keptNeurons(w, keep);
        Weights pruned = Pruning.neurons(w, kept);
        assertEquals(keep, pruned.config().mlpHidden());
        assertEquals(cfg.with(java.util.Map.of("mlp_hidden", (long) keep), "t"), pruned.config());
        boolean gated = cfg.mlp() != GPTConfig.Mlp.GELU;
        assertEquals((long) cfg.nLayer() * (h - keep) * c * (gated ? 3 : 2) + (cfg.bias() ? (long) cfg.nLayer() * (h - keep) : 0),
                w.count() - pruned.count(), "fc rows, proj columns (and fc biases) are gone");

        // Mask the same neurons in the original: their fc rows (gate and up) and biases to zero.
        Weights masked = w.copy();
        for (int l = 0; l < cfg.nLayer(); l++) {
            boolean[] on = new boolean[h];
            for (int j : kept[l]) on[j] = true;
            float[] fc = masked.get("h." + l + ".mlp.fc.weight");
            for (int j = 0; j < h; j++) {
                if (on[j]) continue;
                Arrays.fill(fc, j * c, (j + 1) * c, 0f);
                if (gated) Arrays.fill(fc, (h + j) * c, (h + j + 1) * c, 0f);
                if (cfg.bias()) masked.get("h." + l + ".mlp.fc.bias")[j] = 0f;
            }
        }
        float[][] a = logits(masked), b = logits(pruned), original = logits(w);
        double diff = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                assertEquals(a[i][j], b[i][j], 2e-5, "logit " + i + "," + j);
                diff = Math.max(diff, Math.abs(a[i][j] - original[i][j]));
            }
        }
        assertTrue(diff > 1e-3, "pruning half the neurons changes the model: " + diff);
    }

    /**
     * The head-pruned model (fewer heads, each its size: attention narrower than n_embd) computes what the original
     * does with those heads zeroed — their q, k, v rows and biases and their output columns — in the full forward
     * and in KV-cache decoding.
     */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void removingHeadsEqualsMaskingThem(String arch) throws IOException {
        Weights w = trained(arch);
        GPTConfig cfg = w.config();
        int heads = cfg.nHead(), hs = cfg.headSize(), c = cfg.nEmbd(), a = cfg.attnWidth(), keep = Pruning.keptHeadCount(heads, 0.5);
        assertEquals(heads / 2, keep);
        int[][] kept = Pruning.keptHeads(w, keep);
        Weights pruned = Pruning.heads(w, kept);
        GPTConfig pc = pruned.config();
        assertEquals(keep, pc.nHead());
        assertEquals(hs, pc.headSize(), "heads keep their size");
        assertEquals(keep * hs, pc.attnWidth());
        assertEquals(c, pc.nEmbd());
        assertEquals((long) cfg.nLayer() * (heads - keep) * hs * c * 4 + (cfg.bias() ? (long) cfg.nLayer() * (heads - keep) * hs * 3 : 0),
                w.count() - pruned.count(), "q, k, v rows, output columns (and qkv biases) are gone");

        Weights masked = w.copy();
        for (int l = 0; l < cfg.nLayer(); l++) {
            boolean[] on = new boolean[heads];
            for (int h : kept[l]) on[h] = true;
            float[] qkv = masked.get("h." + l + ".attn.qkv.weight"), proj = masked.get("h." + l + ".attn.proj.weight");
            for (int h = 0; h < heads; h++) {
                if (on[h]) continue;
                for (int third = 0; third < 3; third++) {
                    int from = third * a + h * hs;
                    Arrays.fill(qkv, from * c, (from + hs) * c, 0f);
                    if (cfg.bias()) Arrays.fill(masked.get("h." + l + ".attn.qkv.bias"), from, from + hs, 0f);
                }
                for (int i = 0; i < c; i++) Arrays.fill(proj, i * a + h * hs, i * a + (h + 1) * hs, 0f);
            }
        }
        float[][] x = logits(masked), y = logits(pruned), original = logits(w);
        double diff = 0;
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < x[i].length; j++) {
                assertEquals(x[i][j], y[i][j], 2e-5, "logit " + i + "," + j);
                diff = Math.max(diff, Math.abs(x[i][j] - original[i][j]));
            }
        }
        assertTrue(diff > 1e-3, "pruning half the heads changes the model: " + diff);

        // Decoding with the KV cache: a prompt chunk, then token by token, against the full forward of the masked model.
        GPT.Session session = pruned.model(be, 1, TOKENS.length, Model.Options.INFERENCE).session(TOKENS.length);
        float[] last = session.next(Arrays.copyOf(TOKENS, 8));
        for (int j = 0; j < cfg.vocabSize(); j++) assertEquals(x[7][j], last[j], 2e-5, "prompt logit " + j);
        for (int i = 8; i < TOKENS.length; i++) {
            float[] step = session.next(new int[] {TOKENS[i]});
            for (int j = 0; j < cfg.vocabSize(); j++) assertEquals(x[i][j], step[j], 2e-5, "decoded position " + i + ", logit " + j);
        }
    }

    @Test
    void headsKeptAreTheMostImportant() throws IOException {
        Weights w = trained("llama");
        GPTConfig cfg = w.config();
        int c = cfg.nEmbd(), hs = cfg.headSize(), a = cfg.attnWidth();
        // Block 0: head 1's value rows grow tenfold (it survives any pruning), head 2's output columns die (it goes
        // first); head 3's q and k grow a hundredfold, which the score ignores: where a head looks is not how much it writes.
        float[] qkv = w.get("h.0.attn.qkv.weight"), proj = w.get("h.0.attn.proj.weight");
        for (int i = (2 * a + hs) * c; i < (2 * a + 2 * hs) * c; i++) qkv[i] *= 10;
        for (int i = 0; i < c; i++) Arrays.fill(proj, i * a + 2 * hs, i * a + 3 * hs, 0f);
        for (int third = 0; third < 2; third++) for (int i = (third * a + 3 * hs) * c; i < (third * a + 4 * hs) * c; i++) qkv[i] *= 100;
        assertArrayEquals(new int[] {1}, Pruning.keptHeads(w, 1)[0]);
        int[] three = Pruning.keptHeads(w, 3)[0];
        assertArrayEquals(new int[] {0, 1, 3}, three, "head 2 writes nothing and goes first");
        assertEquals(2, Pruning.keptHeadCount(4, 0.5));
        assertEquals(1, Pruning.keptHeadCount(4, 0.95), "never below one head");
        assertEquals(3, Pruning.keptHeadCount(4, 0.3));
    }

    @Test
    void neuronsKeptAreTheMostImportant() throws IOException {
        Weights w = trained("gpt2");
        int h = w.config().mlpHidden(), c = w.config().nEmbd();
        // Make neuron 5 of block 0 the strongest by far and neuron 9 dead: 5 survives any pruning, 9 goes first.
        float[] fc = w.get("h.0.mlp.fc.weight"), proj = w.get("h.0.mlp.proj.weight"), bias = w.get("h.0.mlp.fc.bias");
        for (int i = 0; i < c; i++) {
            fc[5 * c + i] *= 100;
            fc[9 * c + i] = 0;
            proj[i * h + 9] = 0;
        }
        bias[9] = 0;
        int[][] kept = Pruning.keptNeurons(w, 32);
        assertTrue(Arrays.binarySearch(kept[0], 5) >= 0);
        assertTrue(Arrays.binarySearch(Pruning.keptNeurons(w, h - 1)[0], 9) < 0);
        for (int[] k : kept) {
            assertEquals(32, k.length);
            for (int i = 1; i < k.length; i++) assertTrue(k[i] > k[i - 1], "ascending, distinct");
        }
        assertEquals(96, Pruning.keptWidth(128, 0.3), "rounded to a multiple of 32");
        assertEquals(32, Pruning.keptWidth(256, 0.99), "never below one block");
        assertEquals(7, Pruning.keptWidth(10, 0.3), "small widths are not rounded");
    }

    @Test
    void unstructuredZeroesTheSmallestWeightsOfEachMatrix() throws IOException {
        Weights w = trained("llama"), before = w.copy();
        Pruning.Masks masks = Pruning.unstructured(w, 0.6);
        assertEquals(4 * w.config().nLayer(), masks.kept().size());
        for (var e : masks.kept().entrySet()) {
            float[] x = w.get(e.getKey()), orig = before.get(e.getKey());
            int zeros = 0;
            float maxPruned = 0, minKept = Float.POSITIVE_INFINITY;
            for (int i = 0; i < x.length; i++) {
                if (!e.getValue()[i]) {
                    zeros++;
                    assertEquals(0f, x[i]);
                    maxPruned = Math.max(maxPruned, Math.abs(orig[i]));
                } else {
                    assertEquals(orig[i], x[i]);
                    minKept = Math.min(minKept, Math.abs(orig[i]));
                }
            }
            assertEquals(Math.round(0.6 * x.length), zeros, e.getKey());
            assertTrue(maxPruned <= minKept, e.getKey() + ": every pruned |w| ≤ every kept |w|");
        }
        assertArrayEquals(before.get("wte.weight"), w.get("wte.weight"), "embeddings are not pruned");
        assertArrayEquals(before.get("lm_head.weight"), w.get("lm_head.weight"), "nor the head");
    }

    @Test
    void recoveryLowersTheLossAndKeepsPrunedWeightsAtZero(@TempDir Path dir) throws IOException {
        Tokenizer tok = TrainedModels.tokenizer();
        ShardWriter sw = new ShardWriter(dir, "train", tok.vocabSize(), tok.eot(), tok.hash(), 1 << 20);
        for (int d = 1000; d < 1100; d++) sw.add(tok.encodeOrdinary(TrainedModels.text(d, 400)));
        sw.finish();
        Weights w = trained("gpt2");
        Pruning.Masks masks = Pruning.unstructured(w, 0.7);
        int[] eval = tok.encodeOrdinary(TrainedModels.text(1005, 2000));
        double before = loss(w, eval);
        Weights after;
        try (TokenShards train = TokenShards.open(dir, "train", tok.hash())) {
            after = Recovery.run(be, w, masks, train, new Recovery.Settings(30, 4, 64, 1e-3f, 9));
        }
        assertTrue(loss(after, eval) < before, "recovery lowers the loss on its training text: " + before + " → " + loss(after, eval));
        for (var e : masks.kept().entrySet()) {
            float[] x = after.get(e.getKey());
            for (int i = 0; i < x.length; i++) if (!e.getValue()[i]) assertEquals(0f, x[i], e.getKey() + "[" + i + "] was pruned");
        }
    }

    private double loss(Weights w, int[] stream) {
        return dev.cramjet.cli.EvalCommand.evaluate(w.model(be, 2, 64, Model.Options.INFERENCE), stream).loss();
    }
}
