package dev.cramjet.cli;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.DType;
import dev.cramjet.io.Gguf;
import dev.cramjet.io.GgufModel;
import dev.cramjet.io.Json;
import dev.cramjet.io.ModelFiles;
import dev.cramjet.io.Safetensors;
import dev.cramjet.io.TrainedModels;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Reference;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** `cramjet export`, `import` and `quantize` end to end on small trained models. */
class ExportCommandsTest {
    @TempDir
    Path dir;

    record Run(int status, String out, String err) {}

    static Run run(String... argv) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int rc = Main.run(argv);
            return new Run(rc, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static Run ok(String... argv) {
        Run r = run(argv);
        assertEquals(0, r.status, () -> String.join(" ", argv) + " failed: " + r.err);
        return r;
    }

    private static Map<String, Object> json(Path file) throws IOException {
        return Json.object(Json.parse(Files.readString(file), file.toString()), file.toString());
    }

    private static Path model(String arch) { return arch.equals("gpt2") ? TrainedModels.gpt2() : TrainedModels.llama(); }

    private Path heldOut() throws IOException { return TrainedModels.heldOut(dir, 9000, 12); }

    /** The HF directory by transformers' conventions, and a hand-written forward pass over its tensors agrees. */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void hfExportIsADirectoryTransformersLoadsWhole(String arch) throws IOException {
        Path out = dir.resolve("hf");
        ok("export", "--model", model(arch).toString(), "--format", "hf", "--out", out.toString());
        for (String f : List.of("model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        Tokenizer tok = Tokenizer.load(out.resolve("tokenizer.json"));
        assertEquals(Tokenizer.load(model(arch).resolve("tokenizer.json")).hash(), tok.hash());
        GPTConfig cfg = ModelDir.readConfig(out);
        long eot = tok.eot(), pad = tok.special("<|pad|>");

        Map<String, Object> config = json(out.resolve("config.json"));
        boolean gpt2 = arch.equals("gpt2");
        assertEquals(gpt2 ? "gpt2" : "llama", config.get("model_type"));
        assertEquals(List.of(gpt2 ? "GPT2LMHeadModel" : "LlamaForCausalLM"), config.get("architectures"));
        assertEquals((long) tok.vocabSize(), config.get("vocab_size"));
        assertEquals(gpt2, config.get("tie_word_embeddings"));
        assertEquals(eot, config.get("bos_token_id"));
        assertEquals(eot, config.get("eos_token_id"));
        assertEquals(pad, config.get("pad_token_id"));
        assertEquals((long) TrainedModels.T, config.get(gpt2 ? "n_positions" : "max_position_embeddings"));

        Map<String, Object> tc = json(out.resolve("tokenizer_config.json"));
        assertEquals("PreTrainedTokenizerFast", tc.get("tokenizer_class"));
        assertEquals(Tokenizer.END_OF_TEXT, tc.get("eos_token"));
        assertEquals(Tokenizer.END_OF_TEXT, tc.get("bos_token"));
        assertEquals("<|pad|>", tc.get("pad_token"));
        assertEquals(Tokenizer.MASK, tc.get("mask_token"));
        assertEquals(false, tc.get("clean_up_tokenization_spaces"));
        Map<String, Object> decoder = Json.object(tc.get("added_tokens_decoder"), "added_tokens_decoder");
        assertEquals(tok.specials().size(), decoder.size());
        tok.specials().forEach((content, id) -> {
            Map<String, Object> t = Json.object(decoder.get(Integer.toString(id)), "token " + id);
            assertEquals(content, t.get("content"));
            assertEquals(true, t.get("special"));
        });
        assertEquals(List.of("<|system|>", "<|user|>", "<|assistant|>"), json(out.resolve("special_tokens_map.json")).get("additional_special_tokens"));
        Map<String, Object> gen = json(out.resolve("generation_config.json"));
        assertEquals(eot, gen.get("eos_token_id"));
        assertEquals(0.8, gen.get("temperature"));

        // Tensors: transformers' names, shapes and dtypes.
        Map<String, float[]> tensors = new LinkedHashMap<>();
        int c = cfg.nEmbd(), v = cfg.vocabSize();
        try (Safetensors.Reader r = Safetensors.open(out.resolve("model.safetensors"))) {
            assertEquals("pt", r.metadata().get("format"));
            Map<String, long[]> want = new LinkedHashMap<>();
            if (gpt2) {
                want.put("wte.weight", new long[] {v, c});
                want.put("wpe.weight", new long[] {TrainedModels.T, c});
                want.put("h.0.attn.c_attn.weight", new long[] {c, 3 * c});   // Conv1D: (in, out)
                want.put("h.1.mlp.c_proj.weight", new long[] {4 * c, c});
                want.put("ln_f.bias", new long[] {c});
                assertFalse(r.tensors().containsKey("lm_head.weight"), "tied: transformers ties lm_head to wte");
            } else {
                want.put("model.embed_tokens.weight", new long[] {v, c});
                want.put("model.layers.0.self_attn.q_proj.weight", new long[] {c, c});
                want.put("model.layers.1.mlp.gate_proj.weight", new long[] {cfg.mlpHidden(), c});
                want.put("model.layers.1.mlp.down_proj.weight", new long[] {c, cfg.mlpHidden()});
                want.put("model.norm.weight", new long[] {c});
                want.put("lm_head.weight", new long[] {v, c});
            }
            want.forEach((name, shape) -> assertArrayEquals(shape, r.entry(name).shape(), name));
            for (var e : r.tensors().values()) {
                assertEquals("F32", e.dtype(), e.name());
                tensors.put(e.name(), r.read(e.name()));
            }
        }
        int[] tokens = Arrays.copyOf(tok.encode(TrainedModels.text(31, 400)), 24);
        double[][] expect = new Reference(cfg, tensors, gpt2).logits(tokens);
        try (Backend be = Backends.open("cpu")) {
            GPT m = ModelDir.load(be, out, 1, tokens.length);
            m.forward(tokens, null);
            for (int i = 0; i < tokens.length; i++) {
                float[] got = m.logitsAt(i);
                for (int j = 0; j < v; j++) assertEquals(expect[i][j], got[j], 2e-4, "logit " + i + "," + j);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void ggufRunsInEvalAndGenerateAndImportsBack(String arch) throws IOException {
        Path src = model(arch), text = heldOut();
        Path f32 = dir.resolve("m-f32.gguf"), f16 = dir.resolve("m-f16.gguf");
        assertTrue(ok("export", "--model", src.toString(), "--format", "gguf", "--out", f32.toString()).out.contains("llama.cpp " + arch + ", F32"));
        ok("export", "--model", src.toString(), "--format", "gguf", "--type", "f16", "--out", f16.toString());
        assertTrue(Files.size(f16) < 0.6 * Files.size(f32));

        double dirLoss = loss(ok("eval", "--model", src.toString(), "--text", text.toString(), "--json"));
        assertEquals(dirLoss, loss(ok("eval", "--model", f32.toString(), "--text", text.toString(), "--json")), 1e-6, "F32 GGUF evaluates as the directory");
        assertEquals(dirLoss, loss(ok("eval", "--model", f16.toString(), "--text", text.toString(), "--json")), 2e-3);

        String[] gen = {"--prompt", "床前明月光 the model", "--temperature", "0", "--max-tokens", "20"};
        String fromDir = ok(concat(new String[] {"generate", "--model", src.toString()}, gen)).out;
        assertEquals(fromDir, ok(concat(new String[] {"generate", "--model", f32.toString()}, gen)).out);

        Path imported = dir.resolve("imported");
        assertTrue(ok("import", "--from", f32.toString(), "--out", imported.toString()).out.startsWith("imported "));
        assertEquals(dirLoss, loss(ok("eval", "--model", imported.toString(), "--text", text.toString(), "--json")), 1e-6);
        assertEquals(ModelDir.readConfig(src).with(Map.of("dropout", 0.0), "t"), ModelDir.readConfig(imported));

        Run again = run("import", "--from", f32.toString(), "--out", imported.toString());
        assertEquals(2, again.status);
        assertTrue(again.err.contains("already exists (--force replaces it)"), again.err);
        ok("import", "--from", f32.toString(), "--out", imported.toString(), "--force");
    }

    /** A training checkpoint exports as it is: its tokenizer is its run's (RUN/tokenizer.json), not in the checkpoint. */
    @Test
    void exportsATrainingCheckpointWithItsRunsTokenizer() throws IOException {
        Path run = dir.resolve("run"), checkpoint = run.resolve("checkpoints/step-000000007");
        Files.createDirectories(checkpoint);
        for (String f : new String[] {"config.json", "model.safetensors"}) Files.copy(TrainedModels.gpt2().resolve(f), checkpoint.resolve(f));
        Run missing = run("export", "--model", checkpoint.toString(), "--format", "gguf", "--out", dir.resolve("no.gguf").toString());
        assertEquals(2, missing.status);
        assertTrue(missing.err.contains("no tokenizer.json"), missing.err);
        assertFalse(Files.exists(dir.resolve("no.gguf")));

        Files.copy(TrainedModels.gpt2().resolve("tokenizer.json"), run.resolve("tokenizer.json"));
        Path out = dir.resolve("step7.gguf");
        ok("export", "--model", checkpoint.toString(), "--format", "gguf", "--out", out.toString());
        String text = TrainedModels.text(4242, 200);
        assertArrayEquals(Tokenizer.load(run.resolve("tokenizer.json")).encodeOrdinary(text), ModelFiles.tokenizer(out).encodeOrdinary(text));
    }

    @Test
    void importsAHubStyleCheckpoint() throws IOException {
        // A GPT-2 checkpoint as the hub has them: HF keys only (no "cramjet" block), a transformer. prefix, the
        // causal-mask buffers, and BF16 weights.
        Path hub = dir.resolve("hub");
        Files.createDirectories(hub);
        Map<String, Object> config = json(TrainedModels.gpt2().resolve("config.json"));
        config.remove("cramjet");
        Files.writeString(hub.resolve("config.json"), Json.pretty(config));
        Files.copy(TrainedModels.gpt2().resolve("tokenizer.json"), hub.resolve("tokenizer.json"));
        List<Safetensors.Item> items = new java.util.ArrayList<>();
        try (Safetensors.Reader r = Safetensors.open(TrainedModels.gpt2().resolve("model.safetensors"))) {
            for (var e : r.tensors().values()) {
                items.add(new Safetensors.Item("transformer." + e.name(), Safetensors.WriteType.BF16, e.shape(), r.read(e.name()), 0));
            }
        }
        items.add(new Safetensors.Item("transformer.h.0.attn.bias", new long[] {1, 1, 4, 4}, new float[16]));
        Safetensors.write(hub.resolve("model.safetensors"), Map.of("format", "pt"), items);
        Path out = dir.resolve("mine");
        ok("import", "--from", hub.toString(), "--out", out.toString());
        assertEquals(ModelDir.readConfig(hub), ModelDir.readConfig(out));
        Path text = heldOut();
        double hubLoss = loss(ok("eval", "--model", hub.toString(), "--text", text.toString(), "--json"));
        assertEquals(hubLoss, loss(ok("eval", "--model", out.toString(), "--text", text.toString(), "--json")), 1e-6);
        assertTrue(json(out.resolve("config.json")).containsKey("cramjet"), "the imported directory has our full config");
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void quantizeWritesInt8GgufWithSizeAndLoss(String arch) throws IOException {
        Path src = model(arch), text = heldOut(), out = dir.resolve("int8.gguf");
        Map<String, Object> r = Json.object(Json.parse(ok("quantize", "--model", src.toString(), "--text", text.toString(),
                "--out", out.toString(), "--json").out.strip(), "quantize"), "quantize");
        Map<String, Object> fp32 = Json.object(r.get("fp32"), "fp32"), int8 = Json.object(r.get("int8"), "int8");
        double weights = Json.number(int8.get("weight_bytes"), "w") / Json.number(fp32.get("weight_bytes"), "w");
        assertTrue(weights > 0.26 && weights < 0.30, "int8 matrices are 34/128 of fp32's bytes, norms stay fp32: " + weights);
        assertEquals(Files.size(out), Json.integer(int8.get("file_bytes"), "f"));
        assertEquals(Files.size(src.resolve("model.safetensors")), Json.integer(fp32.get("file_bytes"), "f"));
        double a = Json.number(fp32.get("val_loss"), "l"), b = Json.number(int8.get("val_loss"), "l");
        assertTrue(Math.abs(b - a) / a < 0.01, "int8 validation loss within 1% of fp32: " + a + " → " + b);
        assertNotEquals(a, b, "int8 weights are not the fp32 ones");
        assertEquals(a, loss(ok("eval", "--model", src.toString(), "--text", text.toString(), "--json")), 1e-9);
        assertEquals(b, loss(ok("eval", "--model", out.toString(), "--text", text.toString(), "--json")), 1e-9, "eval loads it as int8");
        try (Backend be = Backends.open("cpu")) {
            assertEquals(DType.Q8_0, ModelFiles.load(be, out, 1, 1).parameter("h.0.mlp.fc.weight").value().dtype());
        }
        try (Gguf.Reader g = Gguf.open(out)) {
            assertEquals(7, g.integer("general.file_type"), "llama.cpp's MOSTLY_Q8_0");
            assertEquals(arch, GgufModel.architecture(GgufModel.config(g)));
        }
        Run human = ok("quantize", "--model", src.toString(), "--out", out.toString(), "--force");
        assertTrue(human.out.contains("weights read per token") && human.out.contains("decode (batch 1)"), human.out);
        assertFalse(human.out.contains("validation loss"), "no held-out text, no loss");
        Run twice = run("quantize", "--model", src.toString(), "--out", out.toString());
        assertTrue(twice.status == 2 && twice.err.contains("already exists"), twice.err);
    }

    @Test
    void badInputGetsOneClearLine() throws IOException {
        Path src = model("gpt2");
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("export --model " + src + " --format onnx --out x", "--format must be hf or gguf, got 'onnx'");
        cases.put("export --model " + src + " --format gguf --type q4_k --out x", "--type must be f32, f16, bf16 or q8_0, got 'q4_k'");
        cases.put("export --model " + src + " --format hf --type f16 --out x", "--type is for --format gguf");
        cases.put("export --model " + dir.resolve("nothing") + " --format gguf --out x", "no such model directory or GGUF file");
        cases.put("quantize --model " + src + " --type q4_0", "--type must be q8_0 (int8 blocks), got 'q4_0'");
        Path notModel = dir.resolve("notes.txt");
        Files.writeString(notModel, "hello");
        cases.put("eval --model " + notModel + " --text " + notModel, "neither a model directory (config.json, model.safetensors) nor a GGUF file");
        Path noTok = dir.resolve("no-tokenizer");
        Files.createDirectories(noTok);
        Files.copy(src.resolve("config.json"), noTok.resolve("config.json"));
        Files.copy(src.resolve("model.safetensors"), noTok.resolve("model.safetensors"));
        cases.put("export --model " + noTok + " --format gguf --out " + dir.resolve("x.gguf"), "no tokenizer.json (an exported model carries its tokenizer)");
        for (var e : cases.entrySet()) {
            Run r = run(e.getKey().split(" "));
            assertEquals(2, r.status, e.getKey());
            assertTrue(r.err.contains(e.getValue()) && r.err.strip().lines().count() == 1, e.getKey() + " → " + r.err);
        }
        assertFalse(Files.exists(dir.resolve("x.gguf")), "nothing is written when the input is bad");
        GPTConfig mix = ModelDir.readConfig(src).with(Map.of("norm", "rms"), "t");
        try (Backend be = Backends.open("cpu")) {
            Path d = dir.resolve("mix");
            ModelDir.save(new GPT(be, mix, 1, 1, 1), d);
            Files.copy(src.resolve("tokenizer.json"), d.resolve("tokenizer.json"));
            Run r = run("export", "--model", d.toString(), "--format", "gguf", "--out", dir.resolve("mix.gguf").toString());
            assertTrue(r.status == 2 && r.err.contains("is a mix llama.cpp has no architecture for"), r.err);
        }
    }

    private static double loss(Run r) {
        return Json.number(Json.object(Json.parse(r.out.strip(), "eval"), "eval").get("loss"), "loss");
    }

    static String[] concat(String[] a, String[] b) {
        String[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
