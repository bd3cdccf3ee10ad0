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
