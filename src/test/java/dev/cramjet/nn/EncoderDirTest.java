package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Json;
import dev.cramjet.io.Safetensors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Encoder model directories. A tiny BERT is written by hand in Hugging Face's BertForMaskedLM names and
 * conventions (as modeling_bert.py defines them: word + position + token-type embeddings, a LayerNorm, per layer
 * attention.self.query/key/value → attention.output.dense → attention.output.LayerNorm(x + ·) → intermediate.dense
 * → gelu → output.dense → output.LayerNorm(x + ·), then cls.predictions.transform.dense → gelu →
 * transform.LayerNorm → the decoder tied to the word embeddings + cls.predictions.bias) and scored by an independent
 * double-precision forward written here; our encoder must load it and give the same logits and MLM loss.
 */
class EncoderDirTest {
    private final Backend be = new CpuBackend();
    @TempDir Path tmp;

    @AfterEach
    void close() { be.close(); }

    private static final int L = 2, C = 16, H = 2, I = 40, V = 53, T = 12;
    private static final double EPS = 1e-12;

    /** HF tensor name → values (row-major, [out, in] for Linear weights). */
    private static Map<String, float[]> tinyBert(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Map<String, float[]> w = new LinkedHashMap<>();
        put(w, r, "bert.embeddings.word_embeddings.weight", V * C, 0.5, 0);
        put(w, r, "bert.embeddings.position_embeddings.weight", T * C, 0.5, 0);
        put(w, r, "bert.embeddings.token_type_embeddings.weight", 2 * C, 0.5, 0);
        put(w, r, "bert.embeddings.LayerNorm.weight", C, 0.2, 1);
        put(w, r, "bert.embeddings.LayerNorm.bias", C, 0.2, 0);
        for (int l = 0; l < L; l++) {
            String p = "bert.encoder.layer." + l + ".";
            for (String m : new String[] {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
                put(w, r, p + m + ".weight", C * C, 0.4, 0);
                put(w, r, p + m + ".bias", C, 0.2, 0);
            }
            put(w, r, p + "attention.output.LayerNorm.weight", C, 0.2, 1);
            put(w, r, p + "attention.output.LayerNorm.bias", C, 0.2, 0);
            put(w, r, p + "intermediate.dense.weight", I * C, 0.4, 0);
            put(w, r, p + "intermediate.dense.bias", I, 0.2, 0);
            put(w, r, p + "output.dense.weight", C * I, 0.3, 0);
            put(w, r, p + "output.dense.bias", C, 0.2, 0);
            put(w, r, p + "output.LayerNorm.weight", C, 0.2, 1);
            put(w, r, p + "output.LayerNorm.bias", C, 0.2, 0);
        }
        put(w, r, "cls.predictions.transform.dense.weight", C * C, 0.4, 0);
        put(w, r, "cls.predictions.transform.dense.bias", C, 0.2, 0);
        put(w, r, "cls.predictions.transform.LayerNorm.weight", C, 0.2, 1);
        put(w, r, "cls.predictions.transform.LayerNorm.bias", C, 0.2, 0);
        put(w, r, "cls.predictions.bias", V, 0.5, 0);
        return w;
    }

    private static void put(Map<String, float[]> w, SplittableRandom r, String name, int n, double std, double mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (mean + std * r.nextGaussian());
        w.put(name, v);
    }

    private static long[] shape(String name) {
        if (name.contains("word_embeddings")) return new long[] {V, C};
        if (name.contains("position_embeddings")) return new long[] {T, C};
        if (name.contains("token_type")) return new long[] {2, C};
        if (name.equals("cls.predictions.bias")) return new long[] {V};
        if (name.endsWith("intermediate.dense.weight")) return new long[] {I, C};
        if (name.endsWith("intermediate.dense.bias")) return new long[] {I};
        if (name.endsWith("output.dense.weight") && !name.contains("attention")) return new long[] {C, I};
        return name.endsWith(".weight") && !name.contains("LayerNorm") ? new long[] {C, C} : new long[] {C};
    }

    /** The HF directory: model.safetensors + a config.json with BertConfig's keys only (as transformers writes it). */
    private static Path write(Path dir, Map<String, float[]> w) throws IOException {
        List<Safetensors.Item> items = new ArrayList<>();
        w.forEach((name, v) -> items.add(new Safetensors.Item(name, shape(name), v)));
        Files.createDirectories(dir);
        Safetensors.write(dir.resolve(ModelDir.WEIGHTS), Map.of("format", "pt"), items);
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("architectures", List.of("BertForMaskedLM"));
        cfg.put("model_type", "bert");
        cfg.put("vocab_size", (long) V);
        cfg.put("hidden_size", (long) C);
        cfg.put("num_hidden_layers", (long) L);
        cfg.put("num_attention_heads", (long) H);
        cfg.put("intermediate_size", (long) I);
        cfg.put("hidden_act", "gelu_new");
        cfg.put("hidden_dropout_prob", 0.1);
        cfg.put("attention_probs_dropout_prob", 0.1);
        cfg.put("max_position_embeddings", (long) T);
        cfg.put("type_vocab_size", 2L);
        cfg.put("layer_norm_eps", EPS);
        cfg.put("pad_token_id", 0L);
        Files.writeString(dir.resolve(ModelDir.CONFIG), Json.pretty(cfg));
        return dir;
    }

    // ---- the independent forward -------------------------------------------------------------------------

    /** BertForMaskedLM's logits [len][V] for one sequence of {@code len} real tokens (padding masked out). */
    private static double[][] reference(Map<String, float[]> w, int[] tokens, int len) {
        double[][] x = new double[len][C];
        for (int t = 0; t < len; t++) {
            for (int j = 0; j < C; j++) {
                x[t][j] = w.get("bert.embeddings.word_embeddings.weight")[tokens[t] * C + j]
                        + w.get("bert.embeddings.position_embeddings.weight")[t * C + j]
                        + w.get("bert.embeddings.token_type_embeddings.weight")[j];   // token_type_ids = 0
            }
        }
        x = layerNorm(x, w, "bert.embeddings.LayerNorm");
        int hs = C / H;
        for (int l = 0; l < L; l++) {
            String p = "bert.encoder.layer." + l + ".";
            double[][] q = linear(x, w, p + "attention.self.query"), k = linear(x, w, p + "attention.self.key");
            double[][] v = linear(x, w, p + "attention.self.value"), ctx = new double[len][C];
            for (int h = 0; h < H; h++) {
                for (int i = 0; i < len; i++) {
                    double[] s = new double[len];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < len; j++) {
                        for (int d = 0; d < hs; d++) s[j] += q[i][h * hs + d] * k[j][h * hs + d];
                        s[j] /= Math.sqrt(hs);
                        max = Math.max(max, s[j]);
                    }
                    for (int j = 0; j < len; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j < len; j++) for (int d = 0; d < hs; d++) ctx[i][h * hs + d] += s[j] / sum * v[j][h * hs + d];
                }
            }
            x = layerNorm(sum(x, linear(ctx, w, p + "attention.output.dense")), w, p + "attention.output.LayerNorm");
            double[][] inter = gelu(linear(x, w, p + "intermediate.dense"));
            x = layerNorm(sum(x, linear(inter, w, p + "output.dense")), w, p + "output.LayerNorm");
        }
        double[][] t = layerNorm(gelu(linear(x, w, "cls.predictions.transform.dense")), w, "cls.predictions.transform.LayerNorm");
        double[][] logits = new double[len][V];
        float[] wte = w.get("bert.embeddings.word_embeddings.weight"), bias = w.get("cls.predictions.bias");
        for (int i = 0; i < len; i++) {
            for (int o = 0; o < V; o++) {
                double z = bias[o];
                for (int j = 0; j < C; j++) z += t[i][j] * wte[o * C + j];
                logits[i][o] = z;
            }
        }
        return logits;
    }

    private static double[][] linear(double[][] x, Map<String, float[]> w, String name) {
        float[] wt = w.get(name + ".weight"), b = w.get(name + ".bias");
        int out = b.length, in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < out; o++) {
                double z = b[o];
                for (int j = 0; j < in; j++) z += x[i][j] * wt[o * in + j];
                y[i][o] = z;
            }
        }
        return y;
    }

    private static double[][] layerNorm(double[][] x, Map<String, float[]> w, String name) {
        float[] g = w.get(name + ".weight"), b = w.get(name + ".bias");
        double[][] y = new double[x.length][C];
        for (int i = 0; i < x.length; i++) {
            double mean = 0, var = 0;
            for (double v : x[i]) mean += v / C;
            for (double v : x[i]) var += (v - mean) * (v - mean) / C;
            for (int j = 0; j < C; j++) y[i][j] = (x[i][j] - mean) / Math.sqrt(var + EPS) * g[j] + b[j];
        }
        return y;
    }

    /** HF's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
    private static double[][] gelu(double[][] x) {
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            y[i] = new double[x[i].length];
            for (int j = 0; j < x[i].length; j++) {
                double v = x[i][j];
                y[i][j] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
            }
        }
        return y;
    }

    private static double[][] sum(double[][] a, double[][] b) {
        double[][] y = new double[a.length][a[0].length];
        for (int i = 0; i < a.length; i++) for (int j = 0; j < a[i].length; j++) y[i][j] = a[i][j] + b[i][j];
        return y;
    }

    // ---- the tests ---------------------------------------------------------------------------------------

    @Test
    void aHandWrittenHuggingFaceBertScoresTheReferenceMlmLoss() throws IOException {
        Map<String, float[]> w = tinyBert(7);
        Path dir = write(tmp.resolve("hf"), w);
        int batch = 2, seq = 10;
        Encoder e = EncoderDir.load(be, dir, batch, seq, Model.Options.INFERENCE);
        assertTrue(e.config().bertLayout());
        assertEquals(1e-12f, e.config().normEps());
        SplittableRandom r = new SplittableRandom(3);
        int[] x = GPTTest.ids(r, batch * seq, V), lengths = {10, 6}, y = new int[batch * seq];
        java.util.Arrays.fill(y, -1);
        int[] masked = {1, 4, 9, 10, 13, 15};
        for (int i : masked) y[i] = r.nextInt(V);
        float loss = e.forward(x, lengths, y);
        double want = 0;
        for (int b = 0; b < batch; b++) {
            double[][] ref = reference(w, java.util.Arrays.copyOfRange(x, b * seq, b * seq + seq), lengths[b]);
            for (int t = 0; t < lengths[b]; t++) {
                float[] got = e.logitsAt(b * seq + t);
                for (int o = 0; o < V; o++) assertEquals(ref[t][o], got[o], 2e-4 * (1 + Math.abs(ref[t][o])), "sequence " + b + " position " + t + " logit " + o);
                int target = y[b * seq + t];
                if (target < 0) continue;
                double max = Double.NEGATIVE_INFINITY, z = 0;
                for (double v : ref[t]) max = Math.max(max, v);
                for (double v : ref[t]) z += Math.exp(v - max);
                want += (max + Math.log(z) - ref[t][target]) / masked.length;
            }
        }
        assertEquals(want, loss, 1e-5 * Math.abs(want), "MLM loss");

        // Saved again, the file is BertForMaskedLM's: the same names, the type-0 row folded (zeros written).
        Path again = tmp.resolve("again");
        EncoderDir.save(e, again);
        try (Safetensors.Reader file = Safetensors.open(again.resolve(ModelDir.WEIGHTS))) {
            java.util.Set<String> names = new java.util.TreeSet<>(w.keySet());
            assertEquals(names, new java.util.TreeSet<>(file.tensors().keySet()));
            for (float v : file.read("bert.embeddings.token_type_embeddings.weight")) assertEquals(0f, v);
        }
        Map<String, Object> cfg = Json.object(Json.parse(Files.readString(again.resolve(ModelDir.CONFIG)), "c"), "c");
        assertEquals("bert", cfg.get("model_type"));
        assertEquals(List.of("BertForMaskedLM"), cfg.get("architectures"));
        assertEquals("gelu_new", cfg.get("hidden_act"));
        Encoder back = EncoderDir.load(be, again, batch, seq, Model.Options.INFERENCE);
        assertEquals(loss, back.forward(x, lengths, y), 1e-6f, "a round trip scores the same");
    }

    @Test
    void crammedEncodersRoundTripUnderOurNamesAndClassifiersSkipTheMlmHead() throws IOException {
        EncoderConfig cfg = EncoderTest.micro(false);
        Encoder e = new Encoder(be, cfg, 2, 8, 5, Model.Options.INFERENCE);
        GPTTest.randomize(e, 9);
        Path dir = tmp.resolve("crammed");
        EncoderDir.save(e, dir);
        assertTrue(EncoderDir.isEncoder(dir));
        try (Safetensors.Reader file = Safetensors.open(dir.resolve(ModelDir.WEIGHTS))) {
            assertTrue(file.tensors().containsKey("wpe.scale"));
            assertTrue(file.tensors().containsKey("h.1.mlp.fc.weight"));
            assertArrayEquals(new long[] {cfg.vocabSize(), cfg.nEmbd()}, file.entry("wte.weight").shape(), "real vocabulary rows only");
        }
        Encoder back = EncoderDir.load(be, dir, 2, 8, Model.Options.INFERENCE);
        assertEquals(cfg, back.config());
        int[] x = GPTTest.ids(new SplittableRandom(1), 16, cfg.vocabSize());
        e.forward(x, null);
        back.forward(x, null);
        assertArrayEquals(e.logitsAt(11), back.logitsAt(11));

        Path bert = tmp.resolve("bert");
        Encoder b = new Encoder(be, EncoderTest.micro(true), 2, 8, 5, Model.Options.INFERENCE);
        EncoderDir.save(b, bert);
        Encoder classifier = EncoderDir.load(be, bert, 2, 8, Model.Options.TRAIN.classify(3, Head.Pooling.FIRST));
        float[] word = new float[(int) b.parameter("wte.weight").size()], loaded = word.clone();
        be.download(b.parameter("wte.weight").value(), word);
        be.download(classifier.parameter("wte.weight").value(), loaded);
        assertArrayEquals(word, loaded, "the base loads; the MLM head is skipped; the classifier keeps its init");
        CramjetException notGpt = assertThrows(CramjetException.class, () -> ModelDir.readConfig(bert));
        assertTrue(notGpt.getMessage().contains("describes an encoder"), notGpt.getMessage());
    }

    @Test
    void badFilesAreNamed() throws IOException {
        Map<String, float[]> w = tinyBert(1);
        w.remove("bert.encoder.layer.1.output.dense.bias");
        Path dir = write(tmp.resolve("missing"), w);
        CramjetException e = assertThrows(CramjetException.class, () -> EncoderDir.load(be, dir, 1, 4, Model.Options.INFERENCE));
        assertTrue(e.getMessage().endsWith("tensor 'bert.encoder.layer.1.output.dense.bias' is missing"), e.getMessage());

        Path erf = write(tmp.resolve("erf"), tinyBert(1));
        String text = Files.readString(erf.resolve(ModelDir.CONFIG)).replace("\"gelu_new\"", "\"gelu\"");
        Files.writeString(erf.resolve(ModelDir.CONFIG), text);
        e = assertThrows(CramjetException.class, () -> EncoderDir.readConfig(erf));
        assertTrue(e.getMessage().contains("hidden_act 'gelu' is not supported"), e.getMessage());
    }
}
