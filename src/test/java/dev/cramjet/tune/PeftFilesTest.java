package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Json;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.GPTTest;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.nn.Prompt;
import dev.cramjet.nn.Reference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/** PEFT's adapter files: against the format's names and shapes, by round trip, and from an adapter written by hand. */
class PeftFilesTest {
    @TempDir Path dir;
    private final Backend be = new CpuBackend();

    @AfterEach
    void close() { be.close(); }

    /** A GPT-2-layout micro model (learned positions, LayerNorm, GELU, biases) saved as the base. */
    private Path base(GPTConfig cfg) throws Exception {
        GPT g = new GPT(be, cfg, 1, 8, 1, Model.Options.INFERENCE);
        GPTTest.randomize(g, 3);
        Path b = dir.resolve("base");
        ModelDir.save(g, b);
        return b;
    }

    /** A model with the options, base weights from {@code base}, its own parameters random (LoRA's B ≠ 0). */
    private GPT adapted(GPTConfig cfg, Path base, Model.Options o) throws Exception {
        GPT g = new GPT(be, cfg, 1, 8, 1, o);
        ModelDir.loadWeights(g, base.resolve(ModelDir.WEIGHTS));
        SplittableRandom r = new SplittableRandom(11);
        for (Param p : g.parameterList()) {
            if (p.group() == Parameters.Group.BASE) continue;
            float[] v = new float[(int) p.size()];
            for (int i = 0; i < v.length; i++) v[i] = (float) (0.3 * r.nextGaussian());
            be.upload(p.value(), v);
        }
        return g;
    }

    private float[][] logits(GPT g, int[] x) {
        g.forward(x, null);
        float[][] out = new float[x.length][];
        for (int i = 0; i < x.length; i++) out[i] = g.logitsAt(i);
        return out;
    }

    private static final int[] X = {3, 1, 4, 1, 5, 9, 2, 6};

    @Test
    void loraFilesHavePeftsNamesShapesAndConfig() throws Exception {
        GPTConfig cfg = GPTTest.micro(0);
        Path b = base(cfg);
        LoRA.Spec spec = new LoRA.Spec(2, 4f, 0.1f, false, EnumSet.allOf(LoRA.Target.class));
        GPT g = adapted(cfg, b, Model.Options.INFERENCE.lora(spec));
        Path out = dir.resolve("adapter");
        PeftFiles.save(out, g, p -> ModelDir.download(be, p.value()), b.toString());

        int c = cfg.nEmbd(), h = cfg.mlpHidden();
        Map<String, List<Long>> want = new TreeMap<>();
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "base_model.model.transformer.h." + l + ".";
            long[][] io = {{c, 3L * c}, {c, c}, {c, h}, {h, c}};
            String[] mods = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
            for (int k = 0; k < 4; k++) {
                want.put(p + mods[k] + ".lora_A.weight", List.of(2L, io[k][0]));     // [r, in]
                want.put(p + mods[k] + ".lora_B.weight", List.of(io[k][1], 2L));     // [out, r]
            }
        }
        Map<String, List<Long>> got = new TreeMap<>();
        try (Safetensors.Reader r = Safetensors.open(out.resolve(PeftFiles.WEIGHTS))) {
            for (var e : r.tensors().values()) got.put(e.name(), Arrays.stream(e.shape()).boxed().toList());
            assertEquals("pt", r.metadata().get("format"));
        }
        assertEquals(want, got);
        Map<String, Object> conf = Json.object(Json.parse(Files.readString(out.resolve(PeftFiles.CONFIG)), "test"), "test");
        assertEquals("LORA", conf.get("peft_type"));
        assertEquals("CAUSAL_LM", conf.get("task_type"));
        assertEquals(2L, conf.get("r"));
        assertEquals(4L, conf.get("lora_alpha"));
        assertEquals(0.1, conf.get("lora_dropout"));
        assertEquals(true, conf.get("fan_in_fan_out"), "GPT-2's Conv1D layers");
        assertEquals("none", conf.get("bias"));
        assertEquals(b.toString(), conf.get("base_model_name_or_path"));
        assertEquals(List.of("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"), conf.get("target_modules"));
        assertEquals(new TreeMap<>(conf).keySet().stream().toList(), conf.keySet().stream().toList(), "sorted keys, as PEFT writes them");

        // Round trip: the same logits through a model built from the files alone.
        float[][] before = logits(g, X);
        GPT back = PeftFiles.load(be, b, out, 1, 8);
        assertEquals(spec, back.options().lora());
        float[][] after = logits(back, X);
        for (int i = 0; i < X.length; i++) assertArrayEquals(before[i], after[i], "position " + i);
    }

    /** The base's tensors by Hugging Face name. */
    private static Map<String, float[]> hf(Path modelDir) throws Exception {
        Map<String, float[]> w = new HashMap<>();
        try (Safetensors.Reader r = Safetensors.open(modelDir.resolve(ModelDir.WEIGHTS))) {
            for (String n : r.tensors().keySet()) w.put(n, r.read(n));
        }
        return w;
    }

    @Test
    void anAdapterWrittenByHandFromTheSpecGivesPeftsLogits() throws Exception {
        // What PEFT computes for a Conv1D layer with fan_in_fan_out: W (in, out) + (α/r)·(B·A)ᵀ, here on c_attn only.
        GPTConfig cfg = GPTTest.micro(0);
        Path b = base(cfg);
        int r = 2, c = cfg.nEmbd();
        float alpha = 6;
        Map<String, float[]> w = hf(b);
        SplittableRandom rng = new SplittableRandom(4);
        List<Safetensors.Item> items = new java.util.ArrayList<>();
        for (int l = 0; l < cfg.nLayer(); l++) {
            float[] a = new float[r * c], bb = new float[3 * c * r];
            for (int i = 0; i < a.length; i++) a[i] = (float) (0.5 * rng.nextGaussian());
            for (int i = 0; i < bb.length; i++) bb[i] = (float) (0.5 * rng.nextGaussian());
            String m = "base_model.model.transformer.h." + l + ".attn.c_attn";
            items.add(new Safetensors.Item(m + ".lora_A.weight", new long[] {r, c}, a));
            items.add(new Safetensors.Item(m + ".lora_B.weight", new long[] {3L * c, r}, bb));
            float[] conv = w.get("h." + l + ".attn.c_attn.weight");                  // (in, out)
            for (int i = 0; i < c; i++) {
                for (int o = 0; o < 3 * c; o++) {
                    double d = 0;
                    for (int k = 0; k < r; k++) d += (double) bb[o * r + k] * a[k * c + i];
                    conv[i * 3 * c + o] += (float) (alpha / r * d);
                }
            }
        }
        Path ad = dir.resolve("by-hand");
        Files.createDirectories(ad);
        Safetensors.write(ad.resolve(PeftFiles.WEIGHTS), Map.of("format", "pt"), items);
        Files.writeString(ad.resolve(PeftFiles.CONFIG), """
                {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 6, "lora_dropout": 0.0,
                 "target_modules": ["c_attn"], "fan_in_fan_out": true, "bias": "none", "modules_to_save": null,
                 "base_model_name_or_path": "gpt2", "some_future_field": 1}""");
        GPT g = PeftFiles.load(be, b, ad, 1, 8);
        assertEquals(EnumSet.of(LoRA.Target.QKV), g.options().lora().targets());
        double[][] want = new Reference(cfg, w, true).logits(X);
        float[][] got = logits(g, X);
        for (int t = 0; t < X.length; t++) {
            for (int v = 0; v < cfg.vocabSize(); v++) assertEquals(want[t][v], got[t][v], 2e-4, "position " + t + ", token " + v);
        }
    }

    @Test
    void mergedWeightsGiveTheAdaptedLogits() throws Exception {
        GPTConfig cfg = GPTTest.micro(0);
        Path b = base(cfg);
        GPT g = adapted(cfg, b, Model.Options.INFERENCE.lora(new LoRA.Spec(3, 5f, EnumSet.of(LoRA.Target.QKV, LoRA.Target.MLP_FC, LoRA.Target.MLP_PROJ))));
        Path ad = dir.resolve("adapter"), merged = dir.resolve("merged");
        PeftFiles.save(ad, g, p -> ModelDir.download(be, p.value()), b.toString());
        assertEquals(3 * cfg.nLayer(), Merge.merge(b, ad, merged));
        GPT plain = ModelDir.load(be, merged, 1, 8);
        assertNull(plain.options().lora());
        float[][] want = logits(g, X), got = logits(plain, X);
        for (int i = 0; i < X.length; i++) assertArrayEquals(want[i], got[i], 1e-4f, "position " + i);
        assertFalse(Arrays.equals(logits(ModelDir.load(be, b, 1, 8), X)[7], got[7]), "the merge changed the base");
    }

    @Test
    void promptAndPrefixFilesRoundTripInPeftsLayout() throws Exception {
        GPTConfig cfg = GPTTest.micro(0);
        Path b = base(cfg);
        int n = 3, c = cfg.nEmbd(), layers = cfg.nLayer();
        for (Prompt.Kind kind : Prompt.Kind.values()) {
            GPT g = adapted(cfg, b, Model.Options.INFERENCE.prompt(new Prompt.Spec(kind, n)));
            if (kind == Prompt.Kind.PREFIX) {          // the q third is not saved: make it zero, as loading leaves it
                for (int l = 0; l < layers; l++) {
                    Param p = g.parameter("h." + l + ".attn.prefix");
                    float[] v = ModelDir.download(be, p.value());
                    for (int i = 0; i < n; i++) Arrays.fill(v, i * 3 * c, i * 3 * c + c, 0f);
                    be.upload(p.value(), v);
                }
            }
            Path ad = dir.resolve(kind.name());
            PeftFiles.save(ad, g, p -> ModelDir.download(be, p.value()), b.toString());
            Map<String, Object> conf = Json.object(Json.parse(Files.readString(ad.resolve(PeftFiles.CONFIG)), "t"), "t");
            assertEquals(kind == Prompt.Kind.INPUT ? "PROMPT_TUNING" : "PREFIX_TUNING", conf.get("peft_type"));
            assertEquals((long) n, conf.get("num_virtual_tokens"));
            assertEquals((long) c, conf.get("token_dim"));
            assertEquals((long) layers, conf.get("num_layers"));
            assertEquals((long) cfg.nHead(), conf.get("num_attention_heads"));
            assertEquals(1L, conf.get("num_transformer_submodules"));
            try (Safetensors.Reader r = Safetensors.open(ad.resolve(PeftFiles.WEIGHTS))) {
                assertEquals(List.of("prompt_embeddings"), List.copyOf(r.tensors().keySet()));
                long[] shape = r.entry("prompt_embeddings").shape();
                assertArrayEquals(kind == Prompt.Kind.INPUT ? new long[] {n, c} : new long[] {n, 2L * layers * c}, shape);
                if (kind == Prompt.Kind.PREFIX) {
                    // PEFT views a row as [2L, H, hs]: layer l's key, then its value. Token 2's value in layer 1:
                    float[] kv = r.read("prompt_embeddings"), ours = ModelDir.download(be, g.parameter("h.1.attn.prefix").value());
                    assertArrayEquals(Arrays.copyOfRange(ours, 2 * 3 * c + 2 * c, 3 * 3 * c),
                            Arrays.copyOfRange(kv, 2 * 2 * layers * c + (2 + 1) * c, 2 * 2 * layers * c + (2 + 2) * c));
                }
            }
            GPT back = PeftFiles.load(be, b, ad, 1, 8);
            assertEquals(n, back.virtualTokens());
            int[] x = X.clone();
            float[][] want = logits(g, x), got = logits(back, x);
            for (int i = n; i < x.length; i++) assertArrayEquals(want[i], got[i], kind + " position " + i);
        }
    }

    @Test
    void llamaLayoutSplitsTheFusedLayersAndFusesThemBack() throws Exception {
        GPTConfig cfg = GPTTest.micro(1);                       // RoPE, RMSNorm, SwiGLU: Llama names
        Path b = base(cfg);
        GPT g = adapted(cfg, b, Model.Options.INFERENCE.lora(new LoRA.Spec(2, 2f, EnumSet.of(LoRA.Target.QKV, LoRA.Target.MLP_FC))));
        Path ad = dir.resolve("llama");
        PeftFiles.save(ad, g, p -> ModelDir.download(be, p.value()), b.toString());
        try (Safetensors.Reader r = Safetensors.open(ad.resolve(PeftFiles.WEIGHTS))) {
            for (String m : List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj")) {
                assertTrue(r.tensors().containsKey("base_model.model.model.layers.0." + m + ".lora_A.weight"), m);
            }
            assertArrayEquals(new long[] {cfg.nEmbd(), 2}, r.entry("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight").shape());
            assertArrayEquals(new long[] {cfg.mlpHidden(), 2}, r.entry("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight").shape());
        }
        float[][] want = logits(g, X), got = logits(PeftFiles.load(be, b, ad, 1, 8), X);
        for (int i = 0; i < X.length; i++) assertArrayEquals(want[i], got[i], "position " + i);
    }

    @Test
    void aClassifiersHeadIsSavedAsModulesToSave() throws Exception {
        GPTConfig cfg = GPTTest.micro(0);
        Path b = base(cfg);
        Model.Options o = Model.Options.INFERENCE.classify(3, dev.cramjet.nn.Head.Pooling.LAST).lora(new LoRA.Spec(2, 2f, EnumSet.of(LoRA.Target.QKV)));
        GPT g = adapted(cfg, b, o);
        Path ad = dir.resolve("classifier");
        PeftFiles.save(ad, g, p -> ModelDir.download(be, p.value()), b.toString());
        Map<String, Object> conf = Json.object(Json.parse(Files.readString(ad.resolve(PeftFiles.CONFIG)), "t"), "t");
        assertEquals("SEQ_CLS", conf.get("task_type"));
        assertEquals(List.of("score"), conf.get("modules_to_save"));
        try (Safetensors.Reader r = Safetensors.open(ad.resolve(PeftFiles.WEIGHTS))) {
            assertArrayEquals(new long[] {3, cfg.nEmbd()}, r.entry("base_model.model.score.weight").shape(), "nn.Linear's (out, in)");
        }
        PeftFiles.Adapter a = PeftFiles.readConfig(ad, cfg);
        assertEquals(List.of("score"), a.modulesToSave());
        GPT back = new GPT(be, cfg, 1, 8, 1, Model.Options.INFERENCE.classify(3, dev.cramjet.nn.Head.Pooling.LAST).lora(a.lora()));
        ModelDir.loadWeights(back, b.resolve(ModelDir.WEIGHTS));
        PeftFiles.loadWeights(ad, back);
        g.forward(X, null);
        back.forward(X, null);
        assertArrayEquals(g.logitsAt(0), back.logitsAt(0));
        CramjetException e = assertThrows(CramjetException.class, () -> PeftFiles.load(be, b, ad, 1, 8));
        assertTrue(e.getMessage().contains("classifier"), "not loaded as a language model: " + e.getMessage());
    }

    @Test
    void whatWeCannotRepresentIsRefusedByName() throws Exception {
        GPTConfig cfg = GPTTest.micro(0);
        String ok = "\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, ";
        String[][] cases = {
            {ok + "\"target_modules\": [\"c_attn\"], \"use_dora\": true", "DoRA"},
            {ok + "\"target_modules\": [\"c_attn\"], \"bias\": \"all\"", "bias 'all'"},
            {ok + "\"target_modules\": \"transformer\\\\.h\\\\.0\\\\.attn\\\\.c_attn\"", "layer 1 differently"},
            {ok + "\"target_modules\": [\"c_attn\"], \"rank_pattern\": {\"c_attn\": 4}", "rank_pattern"},
            {ok + "\"target_modules\": [\"q_proj\"]", "matches no layer"},
            {"\"peft_type\": \"IA3\"", "'IA3' is not supported"},
            {"\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": 4, \"token_dim\": 99", "token_dim is 99"},
        };
        for (String[] c : cases) {
            Path ad = dir.resolve("bad" + Math.abs(c[0].hashCode()));
            Files.createDirectories(ad);
            Files.writeString(ad.resolve(PeftFiles.CONFIG), "{" + c[0] + "}");
            CramjetException e = assertThrows(CramjetException.class, () -> PeftFiles.readConfig(ad, cfg), c[1]);
            assertTrue(e.getMessage().contains(c[1]) && e.getMessage().contains(PeftFiles.CONFIG), e.getMessage());
        }
    }
}
