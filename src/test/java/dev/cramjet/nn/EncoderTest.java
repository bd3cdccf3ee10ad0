package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The encoder family: both layouts against finite differences, sparse = dense, presets, configs. */
class EncoderTest {
    private final Backend be = new CpuBackend();

    @AfterEach
    void close() { be.close(); }

    /**
     * A micro encoder with dropout: BERT's layout (post-norm, GELU, learned positions, head transform, decoder bias),
     * or Cramming's (pre-norm + final norm, GEGLU, scaled sinusoids), here with biases so every parameter kind is in.
     */
    static EncoderConfig micro(boolean bert) {
        EncoderConfig base = bert ? EncoderConfig.bert(2, 2, 16, 37, 8) : EncoderConfig.crammed(2, 2, 16, 37, 8);
        return base.with(Map.of("dropout", 0.1, "bias", true, "norm_eps", 1e-5), "test");
    }

    private static int[] masked(SplittableRandom r, int n, int vocab) {
        int[] y = new int[n];
        Arrays.fill(y, -1);
        for (int i = 1; i < n; i += 3) y[i] = r.nextInt(vocab);
        return y;
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void wholeEncoderMatchesFiniteDifferences(boolean bert) {
        EncoderConfig cfg = micro(bert);
        for (Model.Options o : new Model.Options[] {Model.Options.TRAIN, Model.Options.TRAIN.sparse()}) {
            Encoder e = new Encoder(be, cfg, 2, 8, 1, o);
            GPTTest.randomize(e, 3);
            SplittableRandom r = new SplittableRandom(4);
            int[] x = GPTTest.ids(r, 16, cfg.vocabSize());
            e.train(9);
            ToolkitTest.gradientsMatchFiniteDifferences(e, x, new int[] {8, 6}, masked(r, 16, cfg.vocabSize()));
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void sparsePredictionEqualsDensePredictionWithIgnoredRows(boolean bert) {
        EncoderConfig cfg = micro(bert);
        Encoder dense = new Encoder(be, cfg, 2, 8, 1, Model.Options.TRAIN), sparse = new Encoder(be, cfg, 2, 8, 1, Model.Options.TRAIN.sparse());
        SplittableRandom r = new SplittableRandom(2);
        int[] x = GPTTest.ids(r, 16, cfg.vocabSize()), y = masked(r, 16, cfg.vocabSize()), lengths = {8, 7};
        float[] gd = new float[(int) dense.parameters().trainableCount()], gs = new float[gd.length];
        float[] losses = new float[2];
        Encoder[] both = {dense, sparse};
        for (int k = 0; k < 2; k++) {
            both[k].train(4);
            both[k].zeroGrad();
            losses[k] = both[k].forward(x, lengths, y);
            both[k].backward(3);
        }
        assertEquals(losses[0], losses[1], 1e-6f);
        be.download(dense.parameters().gradients(), gd);
        be.download(sparse.parameters().gradients(), gs);
        for (int i = 0; i < gd.length; i++) assertEquals(gd[i], gs[i], 1e-6f + 1e-5f * Math.abs(gd[i]), "gradient " + i);
    }

    @ParameterizedTest
    @EnumSource(value = Head.Pooling.class, names = {"FIRST", "MEAN"})
    void classifierOnAnEncoderMatchesFiniteDifferences(Head.Pooling pooling) {
        EncoderConfig cfg = micro(true);
        Encoder e = new Encoder(be, cfg, 3, 8, 1, Model.Options.TRAIN.classify(2, pooling));
        assertThrows(IllegalArgumentException.class, () -> e.parameter("mlm.bias"), "no masked-token head under a classifier");
        GPTTest.randomize(e, 4);
        e.train(2);
        ToolkitTest.gradientsMatchFiniteDifferences(e, GPTTest.ids(new SplittableRandom(5), 24, cfg.vocabSize()),
                new int[] {8, 3, 6}, new int[] {1, 0, -1});
    }

    @Test
    void scaledSinusoidsAreTheFixedTableTimesOneLearnedScale() {
        float[] pe = Embedding.table(3, 6);
        assertEquals(0f, pe[0]);
        assertEquals(1f, pe[1]);
        assertEquals((float) Math.sin(2), pe[2 * 6], 1e-7f);
        assertEquals((float) Math.cos(2 * Math.pow(10000, -4.0 / 6)), pe[2 * 6 + 5], 1e-7f);
        Encoder e = new Encoder(be, EncoderConfig.crammed(1, 2, 16, 37, 8), 1, 8, 1, Model.Options.INFERENCE);
        float[] s = new float[1];
        be.download(e.parameter("wpe.scale").value(), s);
        assertEquals((float) (1 / Math.sqrt(16)), s[0], "FLASH's 1/√C start");
    }

    @Test
    void presetsHaveThePublishedShapes() {
        EncoderConfig bert = EncoderConfig.preset("bert-base");
        assertTrue(bert.bertLayout());
        assertEquals(12, bert.nLayer());
        assertEquals(3072, bert.mlpHidden());
        assertEquals(512, bert.blockSize());
        assertEquals(1e-12f, bert.normEps());
        // BertForMaskedLM's count by its modules, less the token-type table we fold into the positions:
        // embeddings V·C + T·C + LN, 12 × (qkv, out, LN, intermediate, output, LN), head dense + LN + bias.
        int c = 256, v = 8192, t = 128, h = 1024;
        long hf = (long) v * c + (long) t * c + 2 * c + 4L * (3L * (c * c + c) + c * c + c + 2 * c + (long) h * c + h + (long) c * h + c + 2 * c)
                + c * c + c + 2 * c + v;
        Encoder tiny = new Encoder(be, EncoderConfig.preset("bert-tiny"), 1, 8, 0, Model.Options.INFERENCE);
        assertEquals(hf, tiny.parameterCount());
        EncoderConfig crammed = EncoderConfig.preset("crammed-bert");
        assertFalse(crammed.bertLayout());
        assertEquals(16, crammed.nLayer());
        assertEquals(1536, crammed.mlpHidden(), "3072 before gating");
        assertEquals(128, crammed.blockSize());
        assertFalse(crammed.bias());
        assertTrue(crammed.preNorm() && crammed.embeddingNorm() && !crammed.headTransform() && !crammed.decoderBias());
    }

    @Test
    void configRoundTripsThroughJsonAndNamesBadKeys() {
        EncoderConfig c = micro(true).with(Map.of("norm_placement", "pre", "mlp", "geglu"), "test");
        assertEquals(c, EncoderConfig.fromJson(c.toJson(), "test"));
        assertEquals(32, c.mlpHidden(), "a gated unit's default hidden width follows the mlp");
        assertEquals(EncoderConfig.preset("crammed-tiny"), EncoderConfig.fromJson(Map.of("preset", "crammed-tiny"), "x"));
        CramjetException e = assertThrows(CramjetException.class, () -> c.with(Map.of("n_layers", 2L), "cfg.json"));
        assertTrue(e.getMessage().contains("cfg.json: unknown encoder config key \"n_layers\""), e.getMessage());
        e = assertThrows(CramjetException.class, () -> c.with(Map.of("positions", "rope"), "cfg.json"));
        assertTrue(e.getMessage().contains("learned or sinusoidal"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> c.with(Map.of("norm_placement", "middle"), "cfg.json"));
        assertTrue(e.getMessage().contains("pre or post"), e.getMessage());
    }
}
