package dev.cramjet.io;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.io.Gguf.TensorInfo;
import dev.cramjet.io.Gguf.TensorType;
import dev.cramjet.io.Gguf.Value;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Cramjet GPT as a llama.cpp model file: GGUF with llama.cpp's architecture names and its tokenizer embedded, so
 * llama.cpp and everything built on it (Ollama, LM Studio, node-llama-cpp) run what Cramjet trains, and Cramjet
 * runs the file as well ({@code eval} and {@code generate} take a .gguf wherever they take a model directory,
 * through {@link ModelFiles}).
 *
 * <h2>Architectures</h2>
 * A GPT-2-layout model (learned positions, LayerNorm, GELU, biases) is llama.cpp's {@code gpt2}; a Llama-layout one
 * (RoPE, RMSNorm, SwiGLU; biases optional) is {@code llama}. Tensor names, ne[0] first (our [out, in] weights are
 * ggml's {in, out}):
 * <pre>
 *   token_embd.weight {C, V}   position_embd.weight {C, T} (gpt2)   output_norm.weight (+ .bias)   output.weight {C, V}
 *   blk.N.attn_norm.weight (+ .bias)    gpt2: blk.N.attn_qkv.weight {C, 3C} + bias
 *                                       llama: blk.N.attn_q / attn_k / attn_v .weight {C, A} (+ .bias)
 *   blk.N.attn_output.weight {A, C} (+ .bias)     blk.N.ffn_norm.weight (+ .bias)
 *   blk.N.ffn_up.weight {C, H} (+ .bias)   llama: blk.N.ffn_gate.weight {C, H} (+ .bias)   blk.N.ffn_down.weight {H, C} (+ .bias)
 * </pre>
 * A = heads × head size is C unless heads were pruned; then a llama file says the head size in
 * {@code llama.attention.key_length} and {@code value_length} (llama.cpp's own keys for it), and a GPT-2-layout model
 * is refused, as llama.cpp's gpt2 derives the head size from n_embd. Only the real vocabulary rows are stored; {@code output.weight} only when the head is not tied to the embedding
 * (llama.cpp then reuses token_embd, as we do). llama.cpp's {@code llama} applies RoPE to interleaved pairs
 * (x[2i], x[2i+1]) while we, like Hugging Face, rotate halves (x[i], x[i + hs/2]); so, as llama.cpp's own
 * converter does, the rows of q and k are permuted within each head, row 2i + a taking row a·hs/2 + i, and back
 * on reading — the dot products q·k, hence the model, are unchanged.
 *
 * <h2>Types</h2>
 * F32, F16 or Q8_0 for the 2-D weights; norms, biases and the position table stay F32, as llama.cpp's converter
 * keeps them (a Q8_0 row that is not whole blocks of 32 falls back to F16, as there). Q8_0 blocks come from the
 * backend's quantizer (ggml's rule, see {@link DType#Q8_0}), so a Cramjet int8 model and the file hold the same
 * bytes. Reading: when every weight an int8 model would keep as Q8_0 is Q8_0 in the file, the model is built with
 * Q8_0 weights and the blocks are loaded as they are; otherwise it is an fp32 model (F16 and Q8_0 values are
 * exactly representable in fp32, so nothing is rounded either way).
 *
 * <h2>Tokenizer</h2>
 * {@code tokenizer.ggml.model} "gpt2" (byte-level BPE), the tokens spelled as tokenizer.json spells them, token
 * types (CONTROL for the specials, NORMAL otherwise), merges, and a {@code tokenizer.ggml.pre} that selects our
 * pre-tokenizer's regex: GPT-4's cl100k pattern is llama.cpp's LLAMA3 regex, which the names "llama-bpe",
 * "llama3", "dbrx" and "smaug-bpe" select; but "llama-bpe" (like "llama3") also turns on {@code ignore_merges} —
 * a pre-token that is itself in the vocabulary becomes that token without merging, which can differ from BPE by
 * merges — and adding a BOS token. No GGUF key turns ignore_merges off, so we write "smaug-bpe", llama.cpp's name
 * for exactly the cl100k regex with plain merges and no BOS (GPT-2's pattern is "gpt-2"). bos/eos are
 * {@code <|endoftext|>} (GPT-2's convention), padding {@code <|pad|>} when there is one, and
 * {@code add_bos_token} / {@code add_eos_token} are written false, so llama.cpp tokenizes text to our ids exactly.
 */
public final class GgufModel {
    private GgufModel() {}

    /** llama.cpp's file types (general.file_type). */
    private static final Map<TensorType, Integer> FILE_TYPE = Map.of(TensorType.F32, 0, TensorType.F16, 1, TensorType.Q8_0, 7, TensorType.BF16, 32);
    /** ggml's GGML_QNT_VERSION. */
    private static final int QUANTIZATION_VERSION = 2;
    private static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, BYTE = 6;
    /** tokenizer.ggml.pre names whose regex is cl100k's, without ignore_merges or an added BOS. */
    private static final Set<String> CL100K_PRE = Set.of("smaug-bpe", "dbrx");
    private static final Set<String> LLAMA3_PRE = Set.of("llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2");

    /** One GGUF tensor cut from one of our parameters: rows [from, to); rope = q or k of a llama (rows permuted). */
    private record Slot(String gguf, String param, int from, int to, boolean rope) {}

    /** The llama.cpp architecture of a configuration, or an error saying why it has none. */
    public static String architecture(GPTConfig c) {
        if (ModelDir.gpt2Layout(c)) return "gpt2";
        if (ModelDir.gpt2Architecture(c)) {
            throw new CramjetException("llama.cpp's gpt2 takes the head size as n_embd / n_head, and this model's attention width "
                    + c.nHead() + "×" + c.headSize() + " = " + c.attnWidth() + " is not n_embd " + c.nEmbd()
                    + " (heads were pruned): only the Llama layout carries a head size (attention.key_length) in GGUF");
        }
        if (c.positions() == GPTConfig.Positions.ROPE && c.norm() == GPTConfig.Norm.RMS && c.mlp() == GPTConfig.Mlp.SWIGLU) return "llama";
        throw new CramjetException("GGUF holds the GPT-2 layout (learned positions, LayerNorm, GELU, biases) or the Llama layout "
                + "(RoPE, RMSNorm, SwiGLU); this model (" + c.positions().name().toLowerCase() + " positions, " + c.norm().name().toLowerCase()
                + " norm, " + c.mlp().name().toLowerCase() + (c.bias() ? "" : ", no biases") + ") is a mix llama.cpp has no architecture for");
    }

    /** Every tensor of a configuration's file and where it comes from, in our parameter order. */
    private static List<Slot> slots(GPTConfig cfg) {
        boolean llama = architecture(cfg).equals("llama");
        int v = cfg.vocabSize(), c = cfg.nEmbd(), a = cfg.attnWidth(), h = cfg.mlpHidden();
        List<Slot> s = new ArrayList<>();
        s.add(new Slot("token_embd.weight", "wte.weight", 0, v, false));
        if (!llama) s.add(new Slot("position_embd.weight", "wpe.weight", 0, cfg.blockSize(), false));
        List<String> kinds = cfg.bias() ? List.of("weight", "bias") : List.of("weight");
        for (int l = 0; l < cfg.nLayer(); l++) {
            String b = "blk." + l + ".", p = "h." + l + ".";
            for (String k : llama ? List.of("weight") : kinds) s.add(new Slot(b + "attn_norm." + k, p + "ln_1." + k, 0, c, false));
            for (String k : kinds) {  // a bias is cut by elements, as rows of one
                if (llama) {
                    s.add(new Slot(b + "attn_q." + k, p + "attn.qkv." + k, 0, a, true));
                    s.add(new Slot(b + "attn_k." + k, p + "attn.qkv." + k, a, 2 * a, true));
                    s.add(new Slot(b + "attn_v." + k, p + "attn.qkv." + k, 2 * a, 3 * a, false));
                } else {
                    s.add(new Slot(b + "attn_qkv." + k, p + "attn.qkv." + k, 0, 3 * c, false));
                }
                s.add(new Slot(b + "attn_output." + k, p + "attn.proj." + k, 0, c, false));
            }
            for (String k : llama ? List.of("weight") : kinds) s.add(new Slot(b + "ffn_norm." + k, p + "ln_2." + k, 0, c, false));
            for (String k : kinds) {
                if (llama) {
                    s.add(new Slot(b + "ffn_gate." + k, p + "mlp.fc." + k, 0, h, false));
                    s.add(new Slot(b + "ffn_up." + k, p + "mlp.fc." + k, h, 2 * h, false));
                } else {
                    s.add(new Slot(b + "ffn_up." + k, p + "mlp.fc." + k, 0, h, false));
                }
                s.add(new Slot(b + "ffn_down." + k, p + "mlp.proj." + k, 0, c, false));
            }
        }
        for (String k : llama ? List.of("weight") : kinds) s.add(new Slot("output_norm." + k, "ln_f." + k, 0, c, false));
        if (!cfg.tiedEmbeddings()) s.add(new Slot("output.weight", "lm_head.weight", 0, v, false));
        return s;
    }

    /** Columns of a parameter (1 for a vector, whose rows are its elements). */
    private static int cols(int[] shape) { return shape.length == 1 ? 1 : shape[1]; }

    /** ggml's ne of rows [from, to) of a parameter. */
    private static long[] ne(Slot s, int[] shape) {
        return shape.length == 1 ? new long[] {s.to - s.from} : new long[] {shape[1], s.to - s.from};
    }

    /** The type a tensor is stored in for a file of {@code type}: llama.cpp's converter rule. */
    private static TensorType storage(Slot s, int[] shape, TensorType type) {
        if (shape.length == 1 || s.param.equals("wpe.weight")) return TensorType.F32;
        if (type == TensorType.Q8_0 && shape[1] % TensorType.Q8_0.block != 0) return TensorType.F16;
        return type;
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    /**
     * Writes {@code model} (fp32 or int8 weights) with its tokenizer as a GGUF file of {@code type} (F32, F16,
     * BF16 or Q8_0), named {@code name} in general.name; {@code chatTemplate} may be null.
     */
    public static void write(GPT model, Tokenizer tokenizer, TensorType type, String name, String chatTemplate, Path out)
            throws IOException {
        GPTConfig cfg = model.config();
        String arch = architecture(cfg);
        for (Parameters.Param p : model.parameterList()) {
            if (p.group() != Parameters.Group.BASE) {
                throw new CramjetException("GGUF holds a base language model; parameter " + p.name() + " belongs to the "
                        + p.group().name().toLowerCase() + " group (merge or drop it first)");
            }
        }
        if (tokenizer.vocabSize() != cfg.vocabSize()) {
            throw new CramjetException("the tokenizer has " + tokenizer.vocabSize() + " ids but the model's vocab_size is " + cfg.vocabSize());
        }
        Map<String, Value> meta = new LinkedHashMap<>();
        meta.put("general.architecture", Value.string(arch));
        meta.put("general.name", Value.string(name));
        meta.put("general.file_type", Value.u32(FILE_TYPE.get(type)));
        meta.put("general.quantization_version", Value.u32(QUANTIZATION_VERSION));
        meta.put(arch + ".context_length", Value.u32(cfg.blockSize()));
        meta.put(arch + ".embedding_length", Value.u32(cfg.nEmbd()));
        meta.put(arch + ".block_count", Value.u32(cfg.nLayer()));
        meta.put(arch + ".feed_forward_length", Value.u32(cfg.mlpHidden()));
        meta.put(arch + ".attention.head_count", Value.u32(cfg.nHead()));
        if (arch.equals("gpt2")) {
            meta.put("gpt2.attention.layer_norm_epsilon", Value.f32(cfg.normEps()));
        } else {
            meta.put("llama.attention.head_count_kv", Value.u32(cfg.nHead()));
            meta.put("llama.attention.layer_norm_rms_epsilon", Value.f32(cfg.normEps()));
            meta.put("llama.rope.freq_base", Value.f32(cfg.ropeTheta()));
            meta.put("llama.rope.dimension_count", Value.u32(cfg.headSize()));
            if (cfg.attnWidth() != cfg.nEmbd()) {   // pruned heads: llama.cpp's default is n_embd / n_head
                meta.put("llama.attention.key_length", Value.u32(cfg.headSize()));
                meta.put("llama.attention.value_length", Value.u32(cfg.headSize()));
            }
            meta.put("llama.vocab_size", Value.u32(cfg.vocabSize()));
        }
        tokenizerMetadata(tokenizer, meta);
        if (chatTemplate != null) meta.put("tokenizer.chat_template", Value.string(chatTemplate));

        Backend be = model.backend();
        List<Slot> slots = slots(cfg);
        long widest = 0;
        for (Slot s : slots) widest = Math.max(widest, (long) (s.to - s.from) * cols(model.parameter(s.param).shape()));
        // Quantized through the backend, so the file holds exactly the blocks an int8 model computes with.
        Tensor q8 = type == TensorType.Q8_0 ? be.alloc(DType.Q8_0, (int) widest) : null;
        List<Gguf.Tensor> tensors = new ArrayList<>();
        for (Slot s : slots) {
            Parameters.Param p = model.parameter(s.param);
            int[] shape = p.shape();
            TensorType t = storage(s, shape, type);
            tensors.add(new Gguf.Tensor(s.gguf, ne(s, shape), t, () -> bytes(be, p, s, t, q8, cfg.headSize())));
        }
        Gguf.write(out, meta, tensors);
    }

    private static void tokenizerMetadata(Tokenizer t, Map<String, Value> meta) {
        String pre;
        if (t.pattern().equals(Tokenizer.CL100K_PATTERN)) pre = "smaug-bpe";
        else if (t.pattern().equals(Tokenizer.GPT2_PATTERN)) pre = "gpt-2";
        else throw new CramjetException("the tokenizer's pre-tokenizer pattern is neither GPT-4's cl100k nor GPT-2's, so llama.cpp has no name for it");
        List<String> tokens = new ArrayList<>(t.vocabSize());
        int[] types = new int[t.vocabSize()];
        Set<Integer> specials = new LinkedHashSet<>(t.specials().values());
        for (int id = 0; id < t.vocabSize(); id++) {
            tokens.add(t.spelling(id));
            types[id] = specials.contains(id) ? CONTROL : NORMAL;
        }
        List<String> merges = new ArrayList<>(t.mergeCount());
        for (int r = 0; r < t.mergeCount(); r++) merges.add(t.mergeSpelling(r));
        meta.put("tokenizer.ggml.model", Value.string("gpt2"));
        meta.put("tokenizer.ggml.pre", Value.string(pre));
        meta.put("tokenizer.ggml.tokens", Value.strings(tokens));
        meta.put("tokenizer.ggml.token_type", Value.i32s(types));
        meta.put("tokenizer.ggml.merges", Value.strings(merges));
        Integer eot = t.special(Tokenizer.END_OF_TEXT), pad = t.special("<|pad|>");
        if (eot != null) {
            meta.put("tokenizer.ggml.bos_token_id", Value.u32(eot));
            meta.put("tokenizer.ggml.eos_token_id", Value.u32(eot));
        }
        if (pad != null) meta.put("tokenizer.ggml.padding_token_id", Value.u32(pad));
        meta.put("tokenizer.ggml.add_bos_token", Value.bool(false));
        meta.put("tokenizer.ggml.add_eos_token", Value.bool(false));
    }

    /** The bytes of one slot of parameter p in type t (llama q/k rows permuted to llama.cpp's RoPE order). */
    private static byte[] bytes(Backend be, Parameters.Param p, Slot s, TensorType t, Tensor q8, int headSize) {
        int cols = cols(p.shape()), rows = s.to - s.from;
        Tensor view = p.value().view((long) s.from * cols, rows, cols);
        byte[] out;
        if (t == TensorType.Q8_0) {
            out = new byte[(int) DType.Q8_0.bytes((long) rows * cols)];
            if (view.dtype() == DType.Q8_0) {
                be.download(view, out);
            } else {
                Tensor scratch = q8.view(0, rows, cols);
                be.copy(scratch, view);
                be.download(scratch, out);
            }
        } else {
            float[] x = new float[rows * cols];
            be.download(view, x);
            ByteBuffer b = ByteBuffer.allocate((int) t.bytes(x.length)).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : x) {
                switch (t) {
                    case F32 -> b.putFloat(f);
                    case F16 -> b.putShort(Float.floatToFloat16(f));
                    case BF16 -> b.putShort(Safetensors.toBf16(f));
                    case Q8_0 -> throw new IllegalStateException();
                }
            }
            out = b.array();
        }
        return s.rope ? ropeOrder(out, rows, headSize, true) : out;
    }

    /**
     * Permutes rows within each head of {@code headSize} rows: toGgml moves row a·hs/2 + i to 2i + a (our
     * rotate-half order to llama.cpp's interleaved pairs); otherwise the inverse.
     */
    static byte[] ropeOrder(byte[] data, int rows, int headSize, boolean toGgml) {
        int rowBytes = data.length / rows, half = headSize / 2;
        byte[] out = new byte[data.length];
        for (int r = 0; r < rows; r++) {
            int head = r / headSize * headSize, within = r % headSize;
            int ours = head + (within % 2) * half + within / 2;      // row `r` in llama.cpp's order is our row `ours`
            if (toGgml) System.arraycopy(data, ours * rowBytes, out, r * rowBytes, rowBytes);
            else System.arraycopy(data, r * rowBytes, out, ours * rowBytes, rowBytes);
        }
        return out;
    }

    // ---- reading ---------------------------------------------------------------------------------------------

    /** Whether a file starts with GGUF's magic. */
    public static boolean isGguf(Path file) throws IOException {
        if (!Files.isRegularFile(file)) return false;
        try (var in = Files.newInputStream(file)) {
            byte[] m = in.readNBytes(4);
            return m.length == 4 && m[0] == 'G' && m[1] == 'G' && m[2] == 'U' && m[3] == 'F';
        }
    }

    /** The model configuration a GGUF file describes (llama.cpp's gpt2 or llama keys and its tensors). */
    public static GPTConfig config(Gguf.Reader r) {
        String arch = r.string("general.architecture");
        if (!arch.equals("gpt2") && !arch.equals("llama")) {
            throw bad(r, "general.architecture is '" + arch + "'; Cramjet runs \"gpt2\" and \"llama\"");
        }
        int c = positive(r, arch + ".embedding_length"), layers = positive(r, arch + ".block_count");
        int heads = positive(r, arch + ".attention.head_count"), ff = positive(r, arch + ".feed_forward_length");
        int context = positive(r, arch + ".context_length");
        TensorInfo emb = r.tensors().get("token_embd.weight");
        if (emb == null || emb.ne().length != 2) throw bad(r, "tensor token_embd.weight is missing or not a matrix");
        if (emb.ne()[1] > Integer.MAX_VALUE) throw bad(r, "token_embd.weight has " + emb.ne()[1] + " rows");
        int vocab = (int) emb.ne()[1];
        boolean tied = !r.tensors().containsKey("output.weight");
        GPTConfig cfg;
        try {
            if (arch.equals("gpt2")) {
                cfg = new GPTConfig(layers, heads, c, vocab, GPTConfig.padVocab(vocab), context, 0f, true, tied,
                        GPTConfig.Positions.LEARNED, GPTConfig.Norm.LAYER, GPTConfig.Mlp.GELU, 10000f, ff,
                        (float) r.number("gpt2.attention.layer_norm_epsilon"));
            } else {
                if (r.get("llama.attention.head_count_kv") != null && positive(r, "llama.attention.head_count_kv") != heads) {
                    throw bad(r, "llama.attention.head_count_kv differs from head_count: grouped-query attention is not supported");
                }
                int headDim = headDim(r, c, heads);
                if (r.get("llama.rope.dimension_count") != null && positive(r, "llama.rope.dimension_count") != headDim) {
                    throw bad(r, "llama.rope.dimension_count must be the head size " + headDim + " (partial RoPE is not supported)");
                }
                for (String k : r.metadata().keySet()) {
                    if (k.startsWith("llama.rope.scaling.") && !(k.equals("llama.rope.scaling.type") && "none".equals(r.metadata().get(k).value()))) {
                        throw bad(r, "metadata key '" + k + "': RoPE scaling is not supported");
                    }
                }
                boolean bias = r.tensors().containsKey("blk.0.attn_q.bias");
                double theta = r.get("llama.rope.freq_base") == null ? 10000 : r.number("llama.rope.freq_base");
                cfg = new GPTConfig(layers, heads, c, vocab, GPTConfig.padVocab(vocab), context, 0f, bias, tied,
                        GPTConfig.Positions.ROPE, GPTConfig.Norm.RMS, GPTConfig.Mlp.SWIGLU, (float) theta, ff,
                        (float) r.number("llama.attention.layer_norm_rms_epsilon"), headDim);
            }
        } catch (CramjetException e) {
            if (e.getMessage().startsWith(r.path().toString())) throw e;
            throw bad(r, e.getMessage());
        }
        return cfg;
    }

    /** A llama file's head size: attention.key_length (= value_length) when given, else n_embd / n_head. */
    private static int headDim(Gguf.Reader r, int c, int heads) {
        if (r.get("llama.attention.key_length") == null) {
            if (r.get("llama.attention.value_length") != null) throw bad(r, "llama.attention.value_length is given without key_length");
            if (c % heads != 0) throw bad(r, "llama.attention.head_count " + heads + " does not divide embedding_length " + c + " and there is no key_length");
            return c / heads;
        }
        int k = positive(r, "llama.attention.key_length");
        if (r.get("llama.attention.value_length") != null && positive(r, "llama.attention.value_length") != k) {
            throw bad(r, "llama.attention.value_length differs from key_length: Cramjet's heads have one size");
        }
        return k;
    }

    private static int positive(Gguf.Reader r, String key) {
        long v = r.integer(key);
        if (v <= 0 || v > Integer.MAX_VALUE) throw bad(r, "metadata key '" + key + "' must be a positive 32-bit integer, got " + v);
        return (int) v;
    }

    /**
     * Checks that the file holds exactly the tensors {@code cfg} needs, with their shapes — before anything is
     * allocated for it — and says whether the weights an int8 model keeps as Q8_0 all are Q8_0 here.
     */
    private static boolean check(Gguf.Reader r, GPTConfig cfg, List<Slot> slots, Map<String, int[]> shapes) {
        Set<String> expected = new LinkedHashSet<>();
        boolean allQ8 = true;
        for (Slot s : slots) {
            expected.add(s.gguf);
            TensorInfo t = r.tensors().get(s.gguf);
            if (t == null) throw bad(r, "tensor " + s.gguf + " is missing (a " + architecture(cfg) + " model with "
                    + cfg.nLayer() + " layers" + (cfg.bias() ? " and biases" : "") + " has it)");
            long[] want = ne(s, shapes.get(s.param));
            if (!Arrays.equals(t.ne(), want)) {
                throw bad(r, "tensor " + s.gguf + " has ne " + Arrays.toString(t.ne()) + ", expected " + Arrays.toString(want) + " for this model");
            }
            int[] shape = shapes.get(s.param);
            boolean int8Weight = shape.length == 2 && !s.param.equals("wpe.weight") && shape[1] % TensorType.Q8_0.block == 0;
            if (int8Weight && t.type() != TensorType.Q8_0) allQ8 = false;
        }
        for (String name : r.tensors().keySet()) {
            if (!expected.contains(name)) throw bad(r, "unexpected tensor " + name + " for a " + architecture(cfg) + " model of this shape");
        }
        return allQ8;
    }

    /** The parameter shapes of a base GPT of {@code cfg}, by our names. */
    private static Map<String, int[]> shapes(GPTConfig cfg) {
        Map<String, int[]> m = new LinkedHashMap<>();
        int c = cfg.nEmbd(), a = cfg.attnWidth(), h = cfg.mlpHidden();
        m.put("wte.weight", new int[] {cfg.paddedVocab(), c});
        m.put("wpe.weight", new int[] {cfg.blockSize(), c});
        m.put("lm_head.weight", new int[] {cfg.paddedVocab(), c});
        for (String n : List.of("ln_1", "ln_2")) for (int l = 0; l < cfg.nLayer(); l++) {
            m.put("h." + l + "." + n + ".weight", new int[] {c});
            m.put("h." + l + "." + n + ".bias", new int[] {c});
        }
        m.put("ln_f.weight", new int[] {c});
        m.put("ln_f.bias", new int[] {c});
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "h." + l + ".";
            m.put(p + "attn.qkv.weight", new int[] {3 * a, c});
            m.put(p + "attn.qkv.bias", new int[] {3 * a});
            m.put(p + "attn.proj.weight", new int[] {c, a});
            m.put(p + "attn.proj.bias", new int[] {c});
            m.put(p + "mlp.fc.weight", new int[] {cfg.fcWidth(), c});
            m.put(p + "mlp.fc.bias", new int[] {cfg.fcWidth()});
            m.put(p + "mlp.proj.weight", new int[] {c, h});
            m.put(p + "mlp.proj.bias", new int[] {c});
        }
        return m;
    }

    /**
     * Reads a GGUF file into a new inference model for (batch, seq): int8 weights when the file's are Q8_0 (see
     * the class comment), fp32 otherwise; {@code fp32} forces fp32 (e.g. to fine-tune what a Q8_0 file holds).
     */
    public static GPT load(Backend be, Path file, int batch, int seq, boolean fp32) throws IOException {
        try (Gguf.Reader r = Gguf.open(file)) {
            GPTConfig cfg = config(r);
            List<Slot> slots = slots(cfg);
            boolean q8 = check(r, cfg, slots, shapes(cfg)) && !fp32;
            GPT model = new GPT(be, cfg, batch, seq, 0, Model.Options.INFERENCE.weights(q8 ? DType.Q8_0 : null));
            Map<String, float[]> host = new LinkedHashMap<>();
            for (Slot s : slots) {
                Parameters.Param p = model.parameter(s.param);
                int cols = cols(p.shape()), rows = s.to - s.from;
                TensorInfo t = r.tensors().get(s.gguf);
                byte[] data = r.bytes(t);
                if (s.rope) data = ropeOrder(data, rows, cfg.headSize(), false);
                if (p.value().dtype() == DType.Q8_0) {
                    be.upload(p.value().view((long) s.from * cols, rows, cols), data);
                    continue;
                }
                float[] x = host.computeIfAbsent(s.param, k -> new float[(int) p.size()]);
                decode(t.type(), data, x, s.from * cols);
            }
            for (Map.Entry<String, float[]> e : host.entrySet()) be.upload(model.parameter(e.getKey()).value(), e.getValue());
            return model;
        }
    }

    /** Values of a tensor's bytes into x[at ..]: F32, F16, BF16, or Q8_0 (value = d·q, d the block's fp16 scale). */
    private static void decode(TensorType type, byte[] data, float[] x, int at) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int n = (int) (data.length / type.blockBytes * type.block);
        switch (type) {
            case F32 -> b.asFloatBuffer().get(x, at, n);
            case F16 -> { for (int i = 0; i < n; i++) x[at + i] = Float.float16ToFloat(b.getShort(2 * i)); }
            case BF16 -> { for (int i = 0; i < n; i++) x[at + i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xFFFF) << 16); }
            case Q8_0 -> {
                for (int blk = 0; blk < n / 32; blk++) {
                    float d = Float.float16ToFloat(b.getShort(34 * blk));
                    for (int j = 0; j < 32; j++) x[at + 32 * blk + j] = d * data[34 * blk + 2 + j];
                }
            }
        }
    }

    /** The tokenizer embedded in a GGUF file (byte-level BPE: tokenizer.ggml.model "gpt2"). */
    public static Tokenizer tokenizer(Gguf.Reader r) {
        String model = r.string("tokenizer.ggml.model");
        if (!model.equals("gpt2")) throw bad(r, "tokenizer.ggml.model is '" + model + "'; Cramjet reads byte-level BPE (\"gpt2\")");
        String pre = r.get("tokenizer.ggml.pre") == null ? "(missing)" : r.string("tokenizer.ggml.pre");
        String pattern;
        if (CL100K_PRE.contains(pre)) {
            pattern = Tokenizer.CL100K_PATTERN;
        } else if (pre.equals("gpt-2")) {
            pattern = Tokenizer.GPT2_PATTERN;
        } else if (LLAMA3_PRE.contains(pre)) {
            throw bad(r, "tokenizer.ggml.pre '" + pre + "' makes llama.cpp take a pre-token that is in the vocabulary as one token without "
                    + "merging (ignore_merges), which Cramjet's BPE does not do; the same regex without it is \"smaug-bpe\"");
        } else {
            throw bad(r, "tokenizer.ggml.pre '" + pre + "' is not a pre-tokenizer Cramjet reproduces (expected \"smaug-bpe\", \"dbrx\" or \"gpt-2\")");
        }
        List<Object> tokens = r.array("tokenizer.ggml.tokens", Gguf.Type.STRING);
        List<Object> types = r.get("tokenizer.ggml.token_type") == null ? null : r.array("tokenizer.ggml.token_type", Gguf.Type.INT32);
        if (types != null && types.size() < tokens.size()) {
            throw bad(r, "tokenizer.ggml.token_type has " + types.size() + " entries for " + tokens.size() + " tokens");
        }
        Map<String, Object> vocab = new LinkedHashMap<>();
        List<Object> added = new ArrayList<>();
        for (int id = 0; id < tokens.size(); id++) {
            String tok = (String) tokens.get(id);
            long type = types == null ? NORMAL : (Long) types.get(id);
            if (type == UNKNOWN || type == BYTE) {
                throw bad(r, "token " + id + " has type " + (type == UNKNOWN ? "UNKNOWN" : "BYTE") + ", which byte-level BPE does not use");
            }
            if (type == CONTROL || type == USER_DEFINED) {
                Map<String, Object> a = new LinkedHashMap<>();
                a.put("id", (long) id);
                a.put("content", tok);
                a.put("special", true);
                added.add(a);
            } else if (vocab.put(tok, (long) id) != null) {
                throw bad(r, "tokenizer.ggml.tokens has \"" + tok + "\" twice (ids " + vocab.get(tok) + " and " + id + ")");
            }
        }
        Map<String, Object> split = new LinkedHashMap<>();
        split.put("type", "Split");
        split.put("pattern", Map.of("Regex", pattern));
        split.put("behavior", "Isolated");
        Map<String, Object> bpe = new LinkedHashMap<>();
        bpe.put("type", "BPE");
        bpe.put("vocab", vocab);
        bpe.put("merges", r.array("tokenizer.ggml.merges", Gguf.Type.STRING));
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("added_tokens", added);
        root.put("pre_tokenizer", Map.of("type", "Sequence", "pretokenizers",
                List.of(split, Map.of("type", "ByteLevel", "use_regex", false))));
        root.put("model", bpe);
        return Tokenizer.fromJson(root, r.path() + " (tokenizer.ggml.tokens and merges read as tokenizer.json)");
    }

    private static CramjetException bad(Gguf.Reader r, String what) { return new CramjetException(r.path() + ": " + what); }
}
