package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Json;
import dev.cramjet.io.Safetensors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class ModelDirTest {
    private final Backend be = new CpuBackend();

    @TempDir
    Path dir;

    @AfterEach
    void close() { be.close(); }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5})
    void saveThenLoadGivesTheSameModel(int variant) throws IOException {
        GPTConfig cfg = GPTTest.micro(variant);
        GPT g = new GPT(be, cfg, 1, 8, 1);
        float[] w = GPTTest.randomize(g, 3);
        ModelDir.save(g, dir);
        GPT back = ModelDir.load(be, dir, 1, 8);
        assertEquals(cfg, back.config());
        float[] w2 = new float[w.length];
        be.download(back.parameters().values(), w2);
        // Padding rows are not saved: they come back as zeros.
        Parameters.Param wte = g.parameter("wte.weight");
        for (int i = cfg.vocabSize() * cfg.nEmbd(); i < wte.value().size(); i++) w[(int) wte.value().offset + i] = 0;
        if (!cfg.tiedEmbeddings()) {
            Parameters.Param head = g.parameter("lm_head.weight");
            for (int i = cfg.vocabSize() * cfg.nEmbd(); i < head.value().size(); i++) w[(int) head.value().offset + i] = 0;
        }
        assertArrayEquals(w, w2);

        Map<String, Object> json = Json.object(Json.parse(Files.readString(dir.resolve("config.json")), "c"), "c");
        try (Safetensors.Reader r = Safetensors.open(dir.resolve("model.safetensors"))) {
            assertEquals("pt", r.metadata().get("format"));
            if (variant == 0) {
                assertEquals("gpt2", json.get("model_type"));
                assertArrayEquals(new long[] {16, 48}, r.entry("h.0.attn.c_attn.weight").shape());
                assertArrayEquals(new long[] {37, 16}, r.entry("wte.weight").shape());
                assertFalse(r.tensors().containsKey("lm_head.weight"));
            } else if (variant == 1) {
                assertEquals("llama", json.get("model_type"));
                assertArrayEquals(new long[] {64, 16}, r.entry("model.layers.1.mlp.gate_proj.weight").shape());
                assertArrayEquals(new long[] {16, 16}, r.entry("model.layers.0.self_attn.k_proj.weight").shape());
                assertArrayEquals(new long[] {37, 16}, r.entry("lm_head.weight").shape());
            } else if (variant == 4) {
                assertEquals("cramjet", json.get("model_type"), "GPT-2's config cannot say the head size");
                assertArrayEquals(new long[] {12, 16}, r.entry("model.layers.0.self_attn.q_proj.weight").shape());
                assertArrayEquals(new long[] {16, 12}, r.entry("model.layers.0.self_attn.o_proj.weight").shape());
                assertArrayEquals(new long[] {12}, r.entry("model.layers.0.self_attn.v_proj.bias").shape());
            } else if (variant == 5) {
                assertEquals("llama", json.get("model_type"));
                assertEquals(8L, json.get("head_dim"));
                assertEquals(3L, json.get("num_attention_heads"));
                assertArrayEquals(new long[] {24, 16}, r.entry("model.layers.1.self_attn.k_proj.weight").shape());
                assertArrayEquals(new long[] {16, 24}, r.entry("model.layers.1.self_attn.o_proj.weight").shape());
                // transformers' keys alone (no "cramjet" block) give the same configuration
                Map<String, Object> hf = new java.util.LinkedHashMap<>(json);
                hf.remove("cramjet");
                Files.writeString(dir.resolve("config.json"), Json.pretty(hf));
                assertEquals(cfg, ModelDir.readConfig(dir));
            } else {
                assertEquals("cramjet", json.get("model_type"));
            }
        }
    }

    // ---- checkpoints written by hand, as another tool would ---------------------------------------------------

    private static final int C = 8, V = 50, T = 12, L = 2, HEADS = 2;

    private static float[] normal(SplittableRandom r, int n, double mean, double std) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (mean + std * r.nextGaussian());
        return x;
    }

    /** A safetensors file from the spec alone: u64 LE header length, JSON header, LE data. Values are F32. */
    private static void writeByHand(Path f, Map<String, float[]> tensors, Map<String, long[]> shapes,
                                    Map<String, String> dtypes) throws IOException {
        StringBuilder h = new StringBuilder("{");
        long at = 0;
        for (String name : tensors.keySet()) {
            String dt = dtypes.getOrDefault(name, "F32");
            long bytes = tensors.get(name).length * 4L;
            if (h.length() > 1) h.append(',');
            h.append('"').append(name).append("\":{\"dtype\":\"").append(dt).append("\",\"shape\":[");
            long[] s = shapes.get(name);
            for (int i = 0; i < s.length; i++) h.append(i > 0 ? "," : "").append(s[i]);
            h.append("],\"data_offsets\":[").append(at).append(',').append(at + bytes).append("]}");
            at += bytes;
        }
        h.append('}');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate((int) (8 + header.length + at)).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(header.length).put(header);
        for (float[] t : tensors.values()) for (float x : t) buf.putFloat(x);
        Files.createDirectories(f.getParent());
        Files.write(f, buf.array());
    }

    private final Map<String, float[]> tensors = new LinkedHashMap<>();
    private final Map<String, long[]> shapes = new LinkedHashMap<>();

    private void put(String name, float[] x, long... shape) {
        tensors.put(name, x);
        shapes.put(name, shape);
    }

    /** GPT-2 weights in HF layout (Conv1D weights (in, out)) with the "transformer." prefix and mask buffers. */
    private void gpt2Weights() {
        SplittableRandom r = new SplittableRandom(17);
        put("transformer.wte.weight", normal(r, V * C, 0, 0.5), V, C);
        put("transformer.wpe.weight", normal(r, T * C, 0, 0.3), T, C);
        for (int l = 0; l < L; l++) {
            String p = "transformer.h." + l + ".";
            put(p + "ln_1.weight", normal(r, C, 1, 0.1), C);
            put(p + "ln_1.bias", normal(r, C, 0, 0.1), C);
            put(p + "attn.bias", new float[T * T], 1, 1, T, T); // HF's causal-mask buffer
            put(p + "attn.c_attn.weight", normal(r, C * 3 * C, 0, 0.4), C, 3 * C);
            put(p + "attn.c_attn.bias", normal(r, 3 * C, 0, 0.1), 3 * C);
            put(p + "attn.c_proj.weight", normal(r, C * C, 0, 0.4), C, C);
            put(p + "attn.c_proj.bias", normal(r, C, 0, 0.1), C);
            put(p + "ln_2.weight", normal(r, C, 1, 0.1), C);
            put(p + "ln_2.bias", normal(r, C, 0, 0.1), C);
            put(p + "mlp.c_fc.weight", normal(r, C * 4 * C, 0, 0.4), C, 4 * C);
            put(p + "mlp.c_fc.bias", normal(r, 4 * C, 0, 0.1), 4 * C);
            put(p + "mlp.c_proj.weight", normal(r, 4 * C * C, 0, 0.3), 4 * C, C);
            put(p + "mlp.c_proj.bias", normal(r, C, 0, 0.1), C);
        }
        put("transformer.ln_f.weight", normal(r, C, 1, 0.1), C);
        put("transformer.ln_f.bias", normal(r, C, 0, 0.1), C);
    }

    private Path gpt2Dir() throws IOException {
        Path d = dir.resolve("gpt2");
        Files.createDirectories(d);
        Files.writeString(d.resolve("config.json"), "{\"model_type\": \"gpt2\", \"architectures\": [\"GPT2LMHeadModel\"],"
                + " \"n_layer\": " + L + ", \"n_head\": " + HEADS + ", \"n_embd\": " + C + ", \"n_positions\": " + T
                + ", \"n_ctx\": " + T + ", \"vocab_size\": " + V + ", \"activation_function\": \"gelu_new\","
                + " \"layer_norm_epsilon\": 1e-05, \"resid_pdrop\": 0.1, \"summary_type\": \"cls_index\"}");
        return d;
    }

    /** Our forward pass against the double-precision reference, at every position. */
    private void assertLogitsMatch(GPT g, Reference ref) {
        int[] tokens = new int[T];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < T; i++) tokens[i] = r.nextInt(V);
        g.forward(tokens, null);
        double[][] want = ref.logits(tokens);
        for (int t = 0; t < T; t++) {
            float[] got = g.logitsAt(t);
            for (int v = 0; v < V; v++) {
                assertEquals(want[t][v], got[v], 1e-4 * (1 + Math.abs(want[t][v])), "position " + t + " token " + v);
            }
        }
    }

    private static Map<String, float[]> withoutPrefix(Map<String, float[]> m) {
        Map<String, float[]> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(k.replaceFirst("^transformer\\.", ""), v));
        return out;
    }

    @Test
    void loadsAHandWrittenGpt2Checkpoint() throws IOException {
        gpt2Weights();
        Path d = gpt2Dir();
        writeByHand(d.resolve("model.safetensors"), tensors, shapes, Map.of());
        GPT g = ModelDir.load(be, d, 1, T);
        GPTConfig cfg = g.config();
        assertEquals(GPTConfig.Positions.LEARNED, cfg.positions());
        assertEquals(64, cfg.paddedVocab());
        assertTrue(cfg.tiedEmbeddings());
        assertLogitsMatch(g, new Reference(cfg, withoutPrefix(tensors), true));
    }

    @Test
    void loadsAHandWrittenLlamaCheckpoint() throws IOException {
        SplittableRandom r = new SplittableRandom(23);
        int hidden = 24;
        put("model.embed_tokens.weight", normal(r, V * C, 0, 0.5), V, C);
        for (int l = 0; l < L; l++) {
            String p = "model.layers." + l + ".";
            put(p + "input_layernorm.weight", normal(r, C, 1, 0.1), C);
            for (String m : new String[] {"q_proj", "k_proj", "v_proj", "o_proj"}) {
                put(p + "self_attn." + m + ".weight", normal(r, C * C, 0, 0.4), C, C);
            }
            put(p + "post_attention_layernorm.weight", normal(r, C, 1, 0.1), C);
            put(p + "mlp.gate_proj.weight", normal(r, hidden * C, 0, 0.4), hidden, C);
            put(p + "mlp.up_proj.weight", normal(r, hidden * C, 0, 0.4), hidden, C);
            put(p + "mlp.down_proj.weight", normal(r, C * hidden, 0, 0.3), C, hidden);
        }
        put("model.norm.weight", normal(r, C, 1, 0.1), C);
        put("lm_head.weight", normal(r, V * C, 0, 0.5), V, C);
        Path d = dir.resolve("llama");
        Files.createDirectories(d);
        Files.writeString(d.resolve("config.json"), "{\"model_type\": \"llama\", \"hidden_size\": " + C
                + ", \"intermediate_size\": " + hidden + ", \"num_hidden_layers\": " + L + ", \"num_attention_heads\": "
                + HEADS + ", \"num_key_value_heads\": " + HEADS + ", \"vocab_size\": " + V
                + ", \"max_position_embeddings\": " + T + ", \"rms_norm_eps\": 1e-06, \"rope_theta\": 500.0,"
                + " \"hidden_act\": \"silu\", \"tie_word_embeddings\": false, \"rope_scaling\": null}");
        writeByHand(d.resolve("model.safetensors"), tensors, shapes, Map.of());
        GPT g = ModelDir.load(be, d, 1, T);
        assertEquals(GPTConfig.Mlp.SWIGLU, g.config().mlp());
        assertEquals(500f, g.config().ropeTheta());
        assertLogitsMatch(g, new Reference(g.config(), tensors, false));
    }

    private void rejects(Path d, String... fragments) {
        CramjetException e = assertThrows(CramjetException.class, () -> ModelDir.load(be, d, 1, T));
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "expected '" + s + "' in: " + e.getMessage());
    }

    @Test
    void rejectsCheckpointsThatDoNotFitTheConfig() throws IOException {
        gpt2Weights();
        Path d = gpt2Dir();
        Path f = d.resolve("model.safetensors");

        Map<String, float[]> missing = new LinkedHashMap<>(tensors);
        missing.remove("transformer.ln_f.bias");
        writeByHand(f, missing, shapes, Map.of());
        rejects(d, f.toString(), "'ln_f.bias' is missing");

        Map<String, float[]> extra = new LinkedHashMap<>(tensors);
        extra.put("transformer.h.0.mlp.gate.weight", new float[4]);
        Map<String, long[]> extraShapes = new LinkedHashMap<>(shapes);
        extraShapes.put("transformer.h.0.mlp.gate.weight", new long[] {4});
        writeByHand(f, extra, extraShapes, Map.of());
        rejects(d, f.toString(), "unexpected tensor transformer.h.0.mlp.gate.weight");

        Map<String, long[]> notTransposed = new LinkedHashMap<>(shapes);
        notTransposed.put("transformer.h.1.attn.c_attn.weight", new long[] {3 * C, C});
        writeByHand(f, tensors, notTransposed, Map.of());
        rejects(d, f.toString(), "'transformer.h.1.attn.c_attn.weight' has shape [24, 8], expected [8, 24]");

        writeByHand(f, tensors, shapes, Map.of("transformer.ln_f.weight", "I32"));
        rejects(d, f.toString(), "'transformer.ln_f.weight' has dtype I32");

        writeByHand(f, tensors, shapes, Map.of());
        Files.writeString(d.resolve("config.json"), "{\"model_type\": \"bert\"}");
        rejects(d, "config.json", "describes an encoder (bert), not a GPT decoder");
        Files.writeString(d.resolve("config.json"), "{\"model_type\": \"gpt2\", \"n_layer\": 2}");
        rejects(d, "config.json", "missing key \"n_embd\"");
        Files.delete(d.resolve("config.json"));
        rejects(d, "config.json", "no such file");
    }

    /** Before: eval allocated 2,457,600,000 elements for n_layer 100000 and died with a stack trace. */
    @Test
    void aConfigThatContradictsTheTensorsIsNamedBeforeAnythingIsAllocated() throws IOException {
        GPT g = new GPT(be, GPTConfig.preset("micro"), 1, 8, 1);
        Path d = dir.resolve("m");
        ModelDir.save(g, d);
        Path cfg = d.resolve("config.json");
        String good = Files.readString(cfg);
        setBoth(cfg, good, "n_layer", 100000L);
        rejects(d, d.resolve("model.safetensors") + ": holds 2 layers, but config.json says n_layer 100000");
        Map<String, Object> json = Json.object(Json.parse(good, "c"), "c");
        json.put("n_positions", 100000L);
        json.put("n_ctx", 100000L);
        Json.object(json.get("cramjet"), "c").put("block_size", 100000L);
        Files.writeString(cfg, Json.pretty(json));
        rejects(d, "tensor 'wpe.weight' has shape [64, 32], but config.json implies [100000, 32]");
    }

    /** Writes config.json with {@code key} set both at the top and in the "cramjet" block. */
    @SuppressWarnings("unchecked")
    private static void setBoth(Path cfg, String original, String key, Object value) throws IOException {
        Map<String, Object> json = Json.object(Json.parse(original, "c"), "c");
        json.put(key, value);
        ((Map<String, Object>) json.get("cramjet")).put(key, value);
        Files.writeString(cfg, Json.pretty(json));
    }

    /** Before, the top-level keys were ignored: we loaded the "cramjet" model, transformers another. */
    @Test
    void huggingFaceKeysThatContradictTheCramjetBlockAreRefused() throws IOException {
        GPT g = new GPT(be, GPTConfig.preset("micro"), 1, 8, 1);
        Path d = dir.resolve("m");
        ModelDir.save(g, d);
        Path cfg = d.resolve("config.json");
        Map<String, Object> json = Json.object(Json.parse(Files.readString(cfg), "c"), "c");
        json.put("n_layer", 12L);
        Files.writeString(cfg, Json.pretty(json));
        CramjetException e = assertThrows(CramjetException.class, () -> ModelDir.readConfig(d));
        assertEquals(cfg + ": \"n_layer\" is 12 but the \"cramjet\" block implies 2 (a Hugging Face loader would read a different model)",
                e.getMessage());
        json.put("n_layer", 2.0);
        json.put("torch_dtype", "bfloat16");
        json.put("transformers_version", "4.40.0");
        Files.writeString(cfg, Json.pretty(json));
        assertEquals(2, ModelDir.readConfig(d).nLayer(), "equal numbers, our own dtype note and keys tools add are fine");
    }

    /** Before, eval printed "loss NaN" with exit 0. */
    @Test
    void weightsThatHoldNaNOrInfinityAreRefusedByTensor() throws IOException {
        GPT g = new GPT(be, GPTConfig.preset("micro"), 1, 8, 1);
        Parameters.Param ln = g.parameters().get("h.1.ln_2.weight");
        float[] w = ModelDir.download(be, ln.value());
        w[5] = Float.NaN;
        be.upload(ln.value(), w);
        Path d = dir.resolve("nan");
        ModelDir.save(g, d);
        rejects(d, d.resolve("model.safetensors") + ": tensor 'h.1.ln_2.weight' holds NaN at element 5");

        // An adapter saved beside the base is held to the same rule.
        Model.Options lora = Model.Options.INFERENCE.lora(new LoRA.Spec(2, 4f, java.util.EnumSet.of(LoRA.Target.QKV)));
        GPT a = new GPT(be, GPTConfig.preset("micro"), 1, 8, 1, lora);
        Parameters.Param b = a.parameters().get("h.0.attn.qkv.lora_B.weight");
        float[] v = ModelDir.download(be, b.value());
        v[3] = Float.POSITIVE_INFINITY;
        be.upload(b.value(), v);
        Path ad = dir.resolve("nan-adapter");
        ModelDir.save(a, ad);
        CramjetException e = assertThrows(CramjetException.class, () -> ModelDir.load(be, ad, 1, T, lora));
        assertTrue(e.getMessage().contains("tensor 'h.0.attn.qkv.lora_B.weight' holds Infinity at element 3"), e.getMessage());
    }

    /** A model directory with a manifest (a checkpoint) is verified: one flipped byte is named. */
    @Test
    void aManifestBesideTheWeightsIsVerified() throws IOException {
        GPT g = new GPT(be, GPTConfig.preset("micro"), 1, 8, 1);
        Path d = dir.resolve("ck");
        ModelDir.save(g, d);
        dev.cramjet.io.Manifest.write(d, Map.of("format", "test"));
        ModelDir.load(be, d, 1, 8);
        Path w = d.resolve("model.safetensors");
        byte[] b = Files.readAllBytes(w);
        b[b.length - 1] ^= 1;
        Files.write(w, b);
        rejects(d, w + ": corrupted: SHA-256");
    }
}
