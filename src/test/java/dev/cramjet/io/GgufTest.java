package dev.cramjet.io;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.DType;
import dev.cramjet.io.Gguf.TensorType;
import dev.cramjet.io.Gguf.Type;
import dev.cramjet.io.Gguf.Value;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Parameters;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * GGUF against its spec: the container round-trips every value type and tensor type, a model round-trips through
 * the file for both architectures and every tensor type, Q8_0 blocks follow ggml's rule bit for bit, and the reader
 * refuses broken files — truncated, lying counts or offsets, unknown types, misalignment, random mutations — with
 * the project's one clear error.
 */
class GgufTest {
    private final Backend be = Backends.open("cpu");

    @AfterEach
    void close() { be.close(); }

    static Tokenizer tokenizer() {
        List<String> docs = new ArrayList<>();
        for (int d = 0; d < 40; d++) docs.add(TrainedModels.text(d, 200));
        return new BpeTrainer().train(docs, 300, Tokenizer.DEFAULT_SPECIALS);
    }

    static GPTConfig config(String arch, int vocab) {
        GPTConfig gpt2 = GPTConfig.gpt2(2, 2, 32, vocab, 16);
        return arch.equals("gpt2") ? gpt2 : gpt2.with(Map.of("positions", "rope", "norm", "rms", "mlp", "swiglu",
                "bias", true, "tied_embeddings", false, "mlp_hidden", 96L, "rope_theta", 500000.0), "test");
    }

    @Test
    void containerRoundTripsEveryValueAndTensorType(@TempDir Path dir) throws IOException {
        Map<String, Value> meta = new LinkedHashMap<>();
        meta.put("a.u8", new Value(Type.UINT8, 255L));
        meta.put("a.i8", new Value(Type.INT8, -128L));
        meta.put("a.u16", new Value(Type.UINT16, 65535L));
        meta.put("a.i16", new Value(Type.INT16, -32768L));
        meta.put("a.u32", Value.u32(4294967295L));
        meta.put("a.i32", Value.i32(-2147483648L));
        meta.put("a.f32", Value.f32(0.1f));
        meta.put("a.bool", Value.bool(true));
        meta.put("a.string", Value.string("中文 and 😀"));
        meta.put("a.u64", new Value(Type.UINT64, -1L));
        meta.put("a.i64", new Value(Type.INT64, Long.MIN_VALUE));
        meta.put("a.f64", new Value(Type.FLOAT64, Math.PI));
        meta.put("a.strings", Value.strings(List.of("x", "", "Ġthe")));
        meta.put("a.nested", new Value(Type.ARRAY, new Gguf.Array(Type.ARRAY,
                List.of(new Gguf.Array(Type.INT32, List.of(1L, -2L)), new Gguf.Array(Type.INT32, List.of())))));
        byte[] f32 = bytes(4 * 6), f16 = bytes(2 * 3 * 2 * 2), q8 = bytes(34 * 2), bf16 = bytes(2 * 5);
        List<Gguf.Tensor> tensors = List.of(new Gguf.Tensor("f32", new long[] {6}, TensorType.F32, () -> f32),
                new Gguf.Tensor("f16.4d", new long[] {3, 2, 1, 2}, TensorType.F16, () -> f16),
                new Gguf.Tensor("q8", new long[] {32, 2}, TensorType.Q8_0, () -> q8),
                new Gguf.Tensor("bf16", new long[] {5}, TensorType.BF16, () -> bf16));
        Path file = dir.resolve("all.gguf");
        Gguf.write(file, meta, tensors);
        try (Gguf.Reader r = Gguf.open(file)) {
            assertEquals(meta, r.metadata());
            assertEquals(List.of("f32", "f16.4d", "q8", "bf16"), List.copyOf(r.tensors().keySet()));
            long expectOffset = 0;
            for (Gguf.Tensor t : tensors) {
                Gguf.TensorInfo info = r.tensors().get(t.name());
                assertArrayEquals(t.ne(), info.ne());
                assertEquals(t.type(), info.type());
                assertEquals(expectOffset, info.offset(), "tensors back to back, each padded to 32 bytes");
                assertArrayEquals(t.data().get(), r.bytes(info));
                expectOffset += Gguf.align(info.bytes(), 32);
            }
            assertArrayEquals(new float[] {Float.intBitsToFloat((f32[3] & 0xFF) << 24 | (f32[2] & 0xFF) << 16 | (f32[1] & 0xFF) << 8 | (f32[0] & 0xFF))},
                    Arrays.copyOf(r.floats(r.tensors().get("f32")), 1));
            assertEquals(-2147483648L, r.integer("a.i32"));
            assertEquals(0.1f, (float) r.number("a.f32"));
            assertTrue(r.bool("a.bool"));
            assertEquals(List.of("x", "", "Ġthe"), r.array("a.strings", Type.STRING));
            assertTrue(assertThrows(CramjetException.class, () -> r.string("a.u8")).getMessage()
                    .endsWith("metadata key 'a.u8' is UINT8, expected a string"));
            assertTrue(assertThrows(CramjetException.class, () -> r.integer("nope")).getMessage().endsWith("metadata key 'nope' is missing"));
        }
        byte[] raw = Files.readAllBytes(file);
        assertEquals("GGUF", new String(raw, 0, 4, java.nio.charset.StandardCharsets.US_ASCII));
        assertEquals(3, le(raw, 4, 4));
        assertEquals(4, le(raw, 8, 8));
        assertEquals(meta.size(), le(raw, 16, 8));
        assertEquals(0, (raw.length - Gguf.align(34 * 2, 32) - Gguf.align(24, 32) - Gguf.align(24, 32) - Gguf.align(10, 32)) % 32,
                "the data section starts aligned");
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        new SplittableRandom(n).nextBytes(b);
        return b;
    }

    private static long le(byte[] b, int at, int n) {
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = v << 8 | (b[at + i] & 0xFF);
        return v;
    }

    @ParameterizedTest
    @CsvSource({"gpt2, F32, 0", "gpt2, F16, 0", "gpt2, Q8_0, 0", "llama, F32, 0", "llama, F16, 0", "llama, Q8_0, 0", "llama, BF16, 0",
        "llama, F32, 16", "llama, Q8_0, 16"})
    void modelRoundTripsThroughTheFile(String arch, TensorType type, int headDim, @TempDir Path dir) throws IOException {
        Tokenizer tok = tokenizer();
        // headDim > 0: 4 heads of 16 in a width of 32, heads that do not split the width (as pruning leaves them)
        GPTConfig cfg = headDim == 0 ? config(arch, tok.vocabSize())
                : config(arch, tok.vocabSize()).with(Map.of("n_head", 4L, "head_dim", (long) headDim), "test");
        GPT model = new GPT(be, cfg, 1, 4, 11, dev.cramjet.nn.Model.Options.INFERENCE);
        Path file = dir.resolve("m.gguf");
        GgufModel.write(model, tok, type, "round trip", "{{ messages }}", file);
        GPT back = GgufModel.load(be, file, 1, 4, false);
        assertEquals(cfg, back.config(), "the file describes the configuration in full");
        for (Parameters.Param p : model.parameterList()) {
            float[] want = values(model, p.name()), got = values(back, p.name());
            boolean quantized = type == TensorType.Q8_0 && p.shape().length == 2 && !p.name().equals("wpe.weight");
            assertEquals(quantized, back.parameter(p.name()).value().dtype() == DType.Q8_0, p.name());
            for (int i = 0; i < want.length; i++) {
                float expect = p.shape().length == 1 || p.name().equals("wpe.weight") ? want[i] : switch (type) {
                    case F32 -> want[i];
                    case F16 -> Float.float16ToFloat(Float.floatToFloat16(want[i]));
                    case BF16 -> Float.intBitsToFloat((Safetensors.toBf16(want[i]) & 0xFFFF) << 16);
                    case Q8_0 -> Float.NaN;
                };
                if (!Float.isNaN(expect)) assertEquals(expect, got[i], p.name() + "[" + i + "]");
            }
            if (quantized) assertArrayEquals(quantizedValues(want), got, p.name() + ": the backend's Q8_0 values");
        }
        try (Gguf.Reader r = Gguf.open(file)) {
            assertEquals(tok.hash(), GgufModel.tokenizer(r).hash(), "the embedded tokenizer encodes as the original");
            assertEquals("{{ messages }}", r.string("tokenizer.chat_template"));
            assertEquals(arch, r.string("general.architecture"));
            if (headDim > 0) {
                assertEquals(headDim, r.integer("llama.attention.key_length"));
                assertEquals(headDim, r.integer("llama.attention.value_length"));
                assertArrayEquals(new long[] {32, 4 * headDim}, r.tensors().get("blk.0.attn_q.weight").ne());
                assertArrayEquals(new long[] {4 * headDim, 32}, r.tensors().get("blk.0.attn_output.weight").ne());
            } else {
                assertNull(r.get(arch + ".attention.key_length"), "written only where llama.cpp's default n_embd / n_head is wrong");
            }
            assertFalse(r.bool("tokenizer.ggml.add_bos_token"));
            assertEquals("smaug-bpe", r.string("tokenizer.ggml.pre"));
            assertEquals((long) tok.eot(), r.integer("tokenizer.ggml.eos_token_id"));
            assertEquals(TensorType.F32, r.tensors().get("blk.0.attn_norm.weight").type());
            assertEquals(arch.equals("gpt2") ? TensorType.F32 : type, arch.equals("gpt2")
                    ? r.tensors().get("position_embd.weight").type() : r.tensors().get("output.weight").type());
        }
        // What Cramjet reads back, it writes again byte for byte.
        Path again = dir.resolve("again.gguf");
        GgufModel.write(back, tok, type, "round trip", "{{ messages }}", again);
        assertArrayEquals(Files.readAllBytes(file), Files.readAllBytes(again));
        GPT fp32 = GgufModel.load(be, file, 1, 4, true);
        assertEquals(DType.F32, fp32.parameter("wte.weight").value().dtype(), "fp32 on request, e.g. to fine-tune");
    }

    private float[] values(GPT m, String name) {
        Parameters.Param p = m.parameter(name);
        float[] v = new float[(int) p.size()];
        be.download(p.value(), v);
        return v;
    }

    private float[] quantizedValues(float[] x) {
        var q = be.alloc(DType.Q8_0, x.length);
        be.upload(q, x);
        float[] v = new float[x.length];
        be.download(q, v);
        return v;
    }

    @Test
    void q8BlocksFollowGgmlsRoundingRule(@TempDir Path dir) throws IOException {
        Tokenizer tok = tokenizer();
        GPT model = new GPT(be, config("gpt2", tok.vocabSize()), 1, 4, 11, dev.cramjet.nn.Model.Options.INFERENCE);
        Parameters.Param w = model.parameter("h.0.attn.proj.weight");   // [32, 32]: a block per row
        float[] x = values(model, w.name());
        // Row 0: max |x| 127 → d = 1, q = x rounded half away from zero (0.5 → 1, -2.5 → -3; rint would give 0, -2).
        float[] row0 = {127f, 0.5f, -0.5f, 2.5f, -2.5f, 1.49f, -126.6f};
        Arrays.fill(x, 0, 32, 0f);
        System.arraycopy(row0, 0, x, 0, row0.length);
        // Row 1: max |x| at a negative value; d = 2.54/127 is stored as fp16 but q uses 1/d of the fp32 d.
        Arrays.fill(x, 32, 64, 0.25f);
        x[40] = -2.54f;
        Arrays.fill(x, 64, 96, 0f);                                    // row 2: all zero → d = 0, q = 0
        be.upload(w.value(), x);
        Path file = dir.resolve("q8.gguf");
        GgufModel.write(model, tok, TensorType.Q8_0, "q8", null, file);
        try (Gguf.Reader r = Gguf.open(file)) {
            Gguf.TensorInfo t = r.tensors().get("blk.0.attn_output.weight");
            assertEquals(TensorType.Q8_0, t.type());
            byte[] b = r.bytes(t);
            assertEquals(32 * 34, b.length);
            for (int row = 0; row < 32; row++) {
                byte[] expect = referenceBlock(Arrays.copyOfRange(x, 32 * row, 32 * row + 32));
                assertArrayEquals(expect, Arrays.copyOfRange(b, 34 * row, 34 * row + 34), "row " + row);
            }
            assertEquals(0x3C00, (b[0] & 0xFF) | (b[1] & 0xFF) << 8, "d = 1.0 in fp16, little-endian");
            assertArrayEquals(new byte[] {127, 1, -1, 3, -3, 1, -127}, Arrays.copyOfRange(b, 2, 9));
            assertEquals(-127, b[34 + 2 + 8]);
            assertEquals(Math.round(0.25f * (127 / 2.54f)), b[34 + 2]);
        }
    }

    /** ggml's quantize_row_q8_0_ref, written from its definition: d = amax/127 (fp16), q = roundf(x · 1/d). */
    private static byte[] referenceBlock(float[] x) {
        float amax = 0;
        for (float v : x) amax = Math.max(amax, Math.abs(v));
        float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
        ByteBuffer b = ByteBuffer.allocate(34).order(ByteOrder.LITTLE_ENDIAN).putShort(Float.floatToFloat16(d));
        for (float v : x) {
            float s = v * id;
            b.put((byte) (s < 0 ? -Math.floor(-s + 0.5) : Math.floor(s + 0.5)));
        }
        return b.array();
    }

    // ---- refusing broken files -------------------------------------------------------------------------------

    private Path validFile(Path dir) throws IOException {
        Tokenizer tok = tokenizer();
        GPT model = new GPT(be, config("gpt2", tok.vocabSize()), 1, 4, 11, dev.cramjet.nn.Model.Options.INFERENCE);
        Path file = dir.resolve("valid.gguf");
        GgufModel.write(model, tok, TensorType.Q8_0, "valid", null, file);
        return file;
    }

    /** Reads a file the way a command does: the container, then the model and its tokenizer. */
    private void readFully(Path file) throws IOException {
        try (Gguf.Reader r = Gguf.open(file)) {
            GgufModel.config(r);
            GgufModel.tokenizer(r);
        }
        GgufModel.load(be, file, 1, 4, false);
    }

    private String refused(Path file) {
        return assertThrows(CramjetException.class, () -> readFully(file)).getMessage();
    }

    /** Offsets of the tensor-info fields in a file: [name start, n_dims, ne..., type, offset] per tensor. */
    private static List<long[]> tensorInfoFields(Path file) throws IOException {
        List<long[]> out = new ArrayList<>();
        try (Gguf.Reader r = Gguf.open(file)) {
            byte[] raw = Files.readAllBytes(file);
            // Tensor infos follow the metadata; find each by its name, then walk its fields.
            int from = 0;
            for (Gguf.TensorInfo t : r.tensors().values()) {
                byte[] name = t.name().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                int at = indexOf(raw, name, from) - 8;
                int dims = at + 8 + name.length;
                int type = dims + 4 + 8 * t.ne().length;
                out.add(new long[] {at, dims, type, type + 4});
                from = type + 12;
            }
        }
        return out;
    }

    private static int indexOf(byte[] raw, byte[] pattern, int from) {
        outer:
        for (int i = from; i <= raw.length - pattern.length; i++) {
            for (int j = 0; j < pattern.length; j++) if (raw[i + j] != pattern[j]) continue outer;
            // The name is preceded by its length as a uint64.
            if (i >= 8 && le(raw, i - 8, 8) == pattern.length) return i;
        }
        throw new AssertionError("not found");
    }

    private static Path mutate(Path file, Path out, java.util.function.Consumer<byte[]> change) throws IOException {
        byte[] raw = Files.readAllBytes(file);
        change.accept(raw);
        Files.write(out, raw);
        return out;
    }

    private static void putLe(byte[] b, long at, int n, long v) {
        for (int i = 0; i < n; i++) b[(int) at + i] = (byte) (v >>> (8 * i));
    }

    @Test
    void refusesBrokenFilesWithOneClearLine(@TempDir Path dir) throws IOException {
        Path ok = validFile(dir);
        readFully(ok);
        byte[] raw = Files.readAllBytes(ok);
        List<long[]> fields = tensorInfoFields(ok);
        Path bad = dir.resolve("bad.gguf");

        Files.write(bad, Arrays.copyOf(raw, raw.length - 100));
        assertTrue(refused(bad).contains("truncated file: tensor 'output_norm.bias' needs bytes"), refused(bad));
        Files.write(bad, Arrays.copyOf(raw, 1000));
        assertTrue(refused(bad).endsWith("metadata key 'tokenizer.ggml.tokens' claims 300 elements, more than the file can hold"), refused(bad));
        Files.write(bad, Arrays.copyOf(raw, 10));
        assertTrue(refused(bad).endsWith("truncated file: 10 bytes, shorter than a GGUF header"), refused(bad));

        mutate(ok, bad, b -> putLe(b, 8, 8, 1L << 40));
        assertTrue(refused(bad).endsWith("tensor count 1099511627776 is more than the file can hold"), refused(bad));
        mutate(ok, bad, b -> putLe(b, 8, 8, le(raw, 8, 8) + 1));     // one tensor more than there is
        assertTrue(refused(bad).contains("invalid GGUF file"), refused(bad));
        mutate(ok, bad, b -> putLe(b, 16, 8, 1L << 60));
        assertTrue(refused(bad).endsWith("metadata count 1152921504606846976 is more than the file can hold"), refused(bad));

        long[] second = fields.get(1);
        mutate(ok, bad, b -> putLe(b, second[3], 8, le(raw, (int) second[3], 8) + 4));
        assertTrue(refused(bad).endsWith("tensor 'position_embd.weight' has offset " + (le(raw, (int) second[3], 8) + 4)
                + ", not a multiple of the alignment 32"), refused(bad));
        mutate(ok, bad, b -> putLe(b, second[3], 8, 0));
        assertTrue(refused(bad).endsWith("tensors 'token_embd.weight' and 'position_embd.weight' overlap"), refused(bad));
        mutate(ok, bad, b -> putLe(b, second[3], 8, 1L << 40));
        assertTrue(refused(bad).contains("truncated file: tensor 'position_embd.weight' needs bytes [1099511627776"), refused(bad));
        mutate(ok, bad, b -> putLe(b, second[2], 4, 12));
        assertTrue(refused(bad).endsWith("tensor 'position_embd.weight' has ggml type 12 (Q4_K), which Cramjet does not read (F32, F16, BF16, Q8_0)"), refused(bad));
        mutate(ok, bad, b -> putLe(b, second[2], 4, 99));
        assertTrue(refused(bad).endsWith("has ggml type 99, which Cramjet does not read (F32, F16, BF16, Q8_0)"), refused(bad));
        mutate(ok, bad, b -> putLe(b, second[1], 4, 7));
        assertTrue(refused(bad).endsWith("tensor 'position_embd.weight' has 7 dimensions (expected 1 to 4)"), refused(bad));
        mutate(ok, bad, b -> putLe(b, second[1] + 4, 8, 33));        // ne0 33: not whole Q8_0 blocks if Q8_0, else a shape lie
        assertTrue(refused(bad).contains("position_embd.weight"), refused(bad));
        long[] first = fields.get(0);
        mutate(ok, bad, b -> putLe(b, first[1] + 4, 8, 48));          // token_embd rows of 48 values: not whole Q8_0 blocks
        assertTrue(refused(bad).endsWith("tensor 'token_embd.weight' is Q8_0 with rows of 48 values, not whole blocks of 32"), refused(bad));

        mutate(ok, bad, b -> b[0] = 'X');
        assertTrue(refused(bad).endsWith("not a GGUF file (the first four bytes are not \"GGUF\")"), refused(bad));
        mutate(ok, bad, b -> putLe(b, 4, 4, 1));
        assertTrue(refused(bad).endsWith("GGUF version 1 is not supported (expected 3, or 2)"), refused(bad));
        mutate(ok, bad, b -> putLe(b, 0, 4, Integer.reverseBytes(Gguf.MAGIC)));
        assertTrue(refused(bad).endsWith("a big-endian GGUF file; only little-endian files are supported"), refused(bad));
        assertTrue(refused(bad).startsWith(bad + ": invalid GGUF file: "));

        // Metadata lies: a string longer than the file, an array longer than the file, an unknown value type.
        int key = indexOf(raw, "general.architecture".getBytes(), 0);
        mutate(ok, bad, b -> putLe(b, key - 8, 8, 1L << 50));
        assertTrue(refused(bad).contains("truncated file: metadata key 0 claims 1125899906842624 bytes"), refused(bad));
        int tokens = indexOf(raw, "tokenizer.ggml.tokens".getBytes(), 0) + "tokenizer.ggml.tokens".length();
        mutate(ok, bad, b -> putLe(b, tokens + 8, 8, 1L << 40));
        assertTrue(refused(bad).endsWith("metadata key 'tokenizer.ggml.tokens' claims 1099511627776 elements, more than the file can hold"), refused(bad));
        mutate(ok, bad, b -> putLe(b, tokens, 4, 77));
        assertTrue(refused(bad).endsWith("metadata key 'tokenizer.ggml.tokens' has value type 77 (expected 0 to 12)"), refused(bad));
    }

    @Test
    void refusesWhatItCannotRunFaithfully(@TempDir Path dir) throws IOException {
        Tokenizer tok = tokenizer();
        GPT model = new GPT(be, config("llama", tok.vocabSize()), 1, 4, 11, dev.cramjet.nn.Model.Options.INFERENCE);
        Path file = dir.resolve("m.gguf");
        GgufModel.write(model, tok, TensorType.F32, "m", null, file);
        Map<String, Value> meta = new LinkedHashMap<>();
        List<Gguf.Tensor> tensors = new ArrayList<>();
        try (Gguf.Reader r = Gguf.open(file)) {
            meta.putAll(r.metadata());
            for (Gguf.TensorInfo t : r.tensors().values()) {
                byte[] b = r.bytes(t);
                tensors.add(new Gguf.Tensor(t.name(), t.ne(), t.type(), () -> b));
            }
        }
        Path bad = dir.resolve("bad.gguf");
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("tokenizer.ggml.pre=llama-bpe", "tokenizer.ggml.pre 'llama-bpe' makes llama.cpp take a pre-token that is in the vocabulary as one token");
        cases.put("tokenizer.ggml.pre=default", "tokenizer.ggml.pre 'default' is not a pre-tokenizer Cramjet reproduces");
        cases.put("tokenizer.ggml.model=llama", "tokenizer.ggml.model is 'llama'; Cramjet reads byte-level BPE (\"gpt2\")");
        cases.put("general.architecture=qwen2", "general.architecture is 'qwen2'; Cramjet runs \"gpt2\" and \"llama\"");
        cases.put("llama.attention.head_count_kv=1", "grouped-query attention is not supported");
        cases.put("llama.block_count=3", "tensor blk.2.attn_norm.weight is missing (a llama model with 3 layers and biases has it)");
        cases.put("llama.feed_forward_length=200", "tensor blk.0.ffn_gate.weight has ne [32, 96], expected [32, 200] for this model");
        cases.put("llama.embedding_length=64", "llama.rope.dimension_count must be the head size 32 (partial RoPE is not supported)");
        cases.put("llama.rope.scaling.type=linear", "metadata key 'llama.rope.scaling.type': RoPE scaling is not supported");
        cases.put("llama.attention.key_length=8", "llama.rope.dimension_count must be the head size 8");
        cases.put("llama.attention.value_length=8", "llama.attention.value_length is given without key_length");
        for (var c : cases.entrySet()) {
            String[] kv = c.getKey().split("=");
            Map<String, Value> m = new LinkedHashMap<>(meta);
            m.put(kv[0], kv[1].matches("\\d+") ? Value.u32(Long.parseLong(kv[1])) : Value.string(kv[1]));
            Gguf.write(bad, m, tensors);
            String msg = refused(bad);
            assertTrue(msg.startsWith(bad.toString()) && msg.contains(c.getValue()), c.getKey() + " → " + msg);
        }
        GPTConfig pruned = config("gpt2", tok.vocabSize()).with(Map.of("n_head", 1L, "head_dim", 16L), "test");
        GPT narrow = new GPT(be, pruned, 1, 4, 11, dev.cramjet.nn.Model.Options.INFERENCE);
        String msg = assertThrows(CramjetException.class, () -> GgufModel.write(narrow, tok, TensorType.F32, "m", null, bad)).getMessage();
        assertTrue(msg.contains("llama.cpp's gpt2 takes the head size as n_embd / n_head") && msg.contains("1×16 = 16 is not n_embd 32"), msg);
        Gguf.write(bad, meta, List.of(tensors.getFirst()));
        assertTrue(refused(bad).endsWith("tensor blk.0.attn_norm.weight is missing (a llama model with 2 layers has it)"), refused(bad));
        List<Gguf.Tensor> extra = new ArrayList<>(tensors);
        extra.add(new Gguf.Tensor("rope_freqs.weight", new long[] {8}, TensorType.F32, () -> new byte[32]));
        Gguf.write(bad, meta, extra);
        assertTrue(refused(bad).endsWith("unexpected tensor rope_freqs.weight for a llama model of this shape"), refused(bad));
    }

    /**
     * Random mutations of a valid file — bit flips, byte runs, truncations, lying 8- and 4-byte fields — each read
     * as a command reads it: the only failure allowed is the project's clear error, and none may hang.
     */
    @Test
    void fuzzedFilesFailOnlyWithTheClearError(@TempDir Path dir) throws IOException {
        Path ok = validFile(dir);
        byte[] raw = Files.readAllBytes(ok);
        SplittableRandom r = new SplittableRandom(2024);
        Path bad = dir.resolve("fuzz.gguf");
        int refusedCount = 0, cases = 400;
        long deadline = System.nanoTime() + 60_000_000_000L;
        for (int k = 0; k < cases && System.nanoTime() < deadline; k++) {
            byte[] b = raw.clone();
            // Most mutations land in the header, where a byte means something to the parser.
            int header = (int) Math.min(b.length, 12_000);
            switch (r.nextInt(5)) {
                case 0 -> { for (int i = 1 + r.nextInt(4); i > 0; i--) b[r.nextInt(header)] ^= (byte) (1 << r.nextInt(8)); }
                case 1 -> { int at = r.nextInt(header); for (int i = 0; i < 8 && at + i < b.length; i++) b[at + i] = (byte) r.nextInt(256); }
                case 2 -> b = Arrays.copyOf(b, r.nextInt(b.length));
                case 3 -> { int at = r.nextInt(header - 8); putLe(b, at, 8, r.nextBoolean() ? r.nextLong() : r.nextInt(1 << 20)); }
                default -> { int at = r.nextInt(header - 4); putLe(b, at, 4, r.nextInt(64)); }
            }
            Files.write(bad, b);
            try {
                readFully(bad);
            } catch (CramjetException e) {
                refusedCount++;
                assertTrue(e.getMessage().startsWith(bad.toString()), "the error names the file: " + e.getMessage());
            } catch (Throwable t) {
                throw new AssertionError("case " + k + ": " + t, t);
            }
        }
        assertTrue(refusedCount > cases / 4, "most mutations are refused, " + refusedCount + " were");
    }
}
