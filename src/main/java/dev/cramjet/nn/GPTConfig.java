package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The shape of a GPT decoder. Two families are covered by three switches: GPT-2 (learned positions, LayerNorm,
 * GELU MLP, biases) and Llama-style (RoPE, RMSNorm, SwiGLU MLP, no biases), and any mix of the two.
 *
 * @param nLayer         transformer blocks L
 * @param nHead          attention heads H
 * @param nEmbd          width C
 * @param vocabSize      real vocabulary V (token ids are in [0, V))
 * @param paddedVocab    rows of the embedding/logits Vp ≥ V; padding makes the head's matmul tile evenly
 * @param blockSize      the longest context T the model is built for (rows of the position table)
 * @param dropout        residual and embedding dropout probability in training mode
 * @param bias           biases in linear layers and LayerNorm
 * @param tiedEmbeddings the output head reuses the token embedding
 * @param positions      LEARNED (a position table), ROPE (rotary, no table) or SINUSOIDAL (fixed sinusoids with a
 *                       learned scale, as Cramming's encoder has them)
 * @param norm           LAYER (LayerNorm) or RMS (RMSNorm)
 * @param mlp            GELU (C → H → C), or a gated unit on C → 2·H gate|up → H → C: SWIGLU or GEGLU
 * @param ropeTheta      RoPE base θ
 * @param mlpHidden      MLP hidden width H
 * @param normEps        ε inside the norms' square root
 * @param headDim        the size of each attention head hs. Usually C / H; after attention heads are pruned the
 *                       heads keep their size and the attention width H·hs is below C: q, k and v are
 *                       [H·hs, C] and the output projection [C, H·hs], as Hugging Face Llama's {@code head_dim}
 */
public record GPTConfig(int nLayer, int nHead, int nEmbd, int vocabSize, int paddedVocab, int blockSize,
                        float dropout, boolean bias, boolean tiedEmbeddings, Positions positions, Norm norm,
                        Mlp mlp, float ropeTheta, int mlpHidden, float normEps, int headDim) {

    public enum Positions { LEARNED, ROPE, SINUSOIDAL }

    public enum Norm { LAYER, RMS }

    public enum Mlp { GELU, SWIGLU, GEGLU }

    /** The JSON keys, in the order {@link #toJson()} writes them. */
    private static final String[] KEYS = {"n_layer", "n_head", "n_embd", "vocab_size", "padded_vocab", "block_size",
        "dropout", "bias", "positions", "norm", "mlp", "mlp_hidden", "norm_eps", "tied_embeddings", "rope_theta", "head_dim"};

    public GPTConfig {
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_embd", nEmbd);
        positive("vocab_size", vocabSize);
        positive("block_size", blockSize);
        positive("mlp_hidden", mlpHidden);
        positive("head_dim", headDim);
        if (paddedVocab < vocabSize) {
            throw new CramjetException("model config: padded_vocab (" + paddedVocab + ") must be at least vocab_size ("
                    + vocabSize + ")");
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new CramjetException("model config: dropout must be in [0, 1), got " + dropout);
        }
        if (positions == null || norm == null || mlp == null) {
            throw new CramjetException("model config: positions, norm and mlp must be set");
        }
        if (positions == Positions.ROPE) {
            if (headDim % 2 != 0) throw new CramjetException("model config: RoPE needs an even head size, head_dim = " + headDim);
            if (!(ropeTheta > 1)) throw new CramjetException("model config: rope_theta must be > 1, got " + ropeTheta);
        }
        if (!(normEps > 0 && normEps < 1)) throw new CramjetException("model config: norm_eps must be in (0, 1), got " + normEps);
        if ((long) paddedVocab * nEmbd > Integer.MAX_VALUE || (long) mlpHidden * 2 * nEmbd > Integer.MAX_VALUE
                || (long) nHead * headDim * 3 * nEmbd > Integer.MAX_VALUE) {
            throw new CramjetException("model config: a weight matrix would exceed 2^31 elements");
        }
    }

    /** A configuration whose heads split the width: head_dim = n_embd / n_head, which n_head must divide. */
    public GPTConfig(int nLayer, int nHead, int nEmbd, int vocabSize, int paddedVocab, int blockSize, float dropout,
                     boolean bias, boolean tiedEmbeddings, Positions positions, Norm norm, Mlp mlp, float ropeTheta,
                     int mlpHidden, float normEps) {
        this(nLayer, nHead, nEmbd, vocabSize, paddedVocab, blockSize, dropout, bias, tiedEmbeddings, positions, norm,
                mlp, ropeTheta, mlpHidden, normEps, splitWidth(nEmbd, nHead));
    }

    /** n_embd / n_head, refused unless n_head divides n_embd. */
    static int splitWidth(int nEmbd, int nHead) {
        positive("n_head", nHead);
        if (nEmbd % nHead != 0) {
            throw new CramjetException("model config: n_head (" + nHead + ") must divide n_embd (" + nEmbd
                    + "), or head_dim must be given");
        }
        return nEmbd / nHead;
    }

    static void positive(String key, int v) {
        if (v <= 0) throw new CramjetException("model config: " + key + " must be positive, got " + v);
    }

    /** The trunk this configuration builds: pre-norm blocks with a final norm, no embedding norm. */
    Transformer.Shape shape() {
        return new Transformer.Shape(nLayer, nHead, nEmbd, vocabSize, paddedVocab, blockSize, dropout, bias, positions,
                norm, mlp, ropeTheta, mlpHidden, normEps, true, false, attnWidth());
    }

    /** Head size hs (C / H unless heads were pruned). */
    public int headSize() { return headDim; }

    /** The attention width H·hs: q, k, v and the attention output per position (C unless heads were pruned). */
    public int attnWidth() { return nHead * headDim; }

    /** Output width of the first MLP matmul: H for GELU, 2·H (gate | up) for the gated units. */
    public int fcWidth() { return mlp == Mlp.GELU ? mlpHidden : 2 * mlpHidden; }

    /** The vocabulary rounded up to a multiple of 64, so the head's matmul tiles evenly. */
    public static int padVocab(int vocab) { return (vocab + 63) / 64 * 64; }

    /** GPT-2's 4·C, or for a gated unit ≈ 8/3·C rounded up to a multiple of 64 (the parameters of a 4·C GELU). */
    public static int defaultMlpHidden(Mlp mlp, int nEmbd) {
        if (mlp == Mlp.GELU) return 4 * nEmbd;
        return (8 * nEmbd / 3 + 63) / 64 * 64;
    }

    // ---- presets ---------------------------------------------------------------------------------------------

    /** The names {@link #preset} knows. */
    public static final String[] PRESETS = {"micro", "tiny", "small", "gpt2-124m", "gpt2-medium"};

    /** A named GPT-2-style configuration. */
    public static GPTConfig preset(String name) {
        return switch (name) {
            case "micro" -> gpt2(2, 2, 32, 256, 64);
            case "tiny" -> gpt2(4, 4, 256, 8192, 256);
            case "small" -> gpt2(6, 6, 384, 8192, 256);
            case "gpt2-124m" -> gpt2(12, 12, 768, 50257, 1024);
            case "gpt2-medium" -> gpt2(24, 16, 1024, 50257, 1024);
            default -> throw new CramjetException("unknown model preset '" + name + "' (expected one of "
                    + String.join(", ", PRESETS) + ")");
        };
    }

    /** A GPT-2-style configuration with default padding, MLP width and ε, no dropout. */
    public static GPTConfig gpt2(int nLayer, int nHead, int nEmbd, int vocab, int blockSize) {
        return new GPTConfig(nLayer, nHead, nEmbd, vocab, padVocab(vocab), blockSize, 0f, true, true,
                Positions.LEARNED, Norm.LAYER, Mlp.GELU, 10000f, 4 * nEmbd, 1e-5f);
    }

    // ---- JSON ------------------------------------------------------------------------------------------------

    /** The configuration as a JSON object with every key (snake_case, enums in lower case). */
    public Map<String, Object> toJson() {
        Map<String, Object> m = shape().toJson();
        m.put("tied_embeddings", tiedEmbeddings);
        m.put("rope_theta", decimal(ropeTheta));
        m.put("head_dim", (long) headDim);
        return m;
    }

    /** The shortest decimal that reads back as {@code f}: 0.1f is written "0.1", not "0.10000000149011612". */
    public static double decimal(float f) { return Double.parseDouble(Float.toString(f)); }

    /**
     * Reads a configuration object. It may name a {@code "preset"} to start from; every other key overrides it.
     * Without a preset, n_layer, n_head, n_embd, vocab_size and block_size are required. padded_vocab, mlp_hidden
     * and head_dim default to values derived from the others. Unknown keys are rejected by name.
     */
    public static GPTConfig fromJson(Map<String, Object> json, String source) {
        Object preset = json.get("preset");
        GPTConfig base = preset == null ? null : preset(Json.string(preset, source + ": preset"));
        Map<String, Object> rest = new LinkedHashMap<>(json);
        rest.remove("preset");
        if (base == null) {
            requireShape(rest, source);
            base = gpt2(1, 1, 1, 1, 1);
        }
        return base.with(rest, source);
    }

    /** A configuration without a preset must name its whole shape (GPT and encoder alike). */
    static void requireShape(Map<String, Object> json, String source) {
        for (String k : new String[] {"n_layer", "n_head", "n_embd", "vocab_size", "block_size"}) {
            if (!json.containsKey(k)) throw new CramjetException(source + ": missing key \"" + k + "\"");
        }
    }

    /**
     * This configuration with some keys replaced (values as JSON types, or strings as typed on a command line).
     * padded_vocab, mlp_hidden and head_dim follow a changed vocab_size / n_embd / mlp / n_head unless given
     * explicitly or previously set to a non-default value.
     */
    public GPTConfig with(Map<String, ?> changes, String source) {
        for (String k : changes.keySet()) {
            if (!java.util.Arrays.asList(KEYS).contains(k)) {
                throw new CramjetException(source + ": unknown model config key \"" + k + "\" (expected one of "
                        + String.join(", ", KEYS) + ")");
            }
        }
        boolean paddedDerived = paddedVocab == padVocab(vocabSize);
        boolean hiddenDerived = mlpHidden == defaultMlpHidden(mlp, nEmbd);
        boolean headDerived = headDim * nHead == nEmbd;
        int l = intOf(changes, "n_layer", nLayer, source);
        int h = intOf(changes, "n_head", nHead, source);
        int c = intOf(changes, "n_embd", nEmbd, source);
        int v = intOf(changes, "vocab_size", vocabSize, source);
        int t = intOf(changes, "block_size", blockSize, source);
        float p = (float) numberOf(changes, "dropout", dropout, source);
        boolean b = boolOf(changes, "bias", bias, source);
        boolean tied = boolOf(changes, "tied_embeddings", tiedEmbeddings, source);
        Positions pos = enumOf(changes, "positions", positions, Positions.class, source);
        Norm n = enumOf(changes, "norm", norm, Norm.class, source,
                Map.of("layernorm", Norm.LAYER, "rmsnorm", Norm.RMS));
        Mlp m = enumOf(changes, "mlp", mlp, Mlp.class, source);
        float theta = (float) numberOf(changes, "rope_theta", ropeTheta, source);
        float eps = (float) numberOf(changes, "norm_eps", normEps, source);
        int vp = intOf(changes, "padded_vocab", paddedDerived ? padVocab(v) : paddedVocab, source);
        int hidden = intOf(changes, "mlp_hidden", hiddenDerived ? defaultMlpHidden(m, c) : mlpHidden, source);
        int hs = intOf(changes, "head_dim", headDerived ? 0 : headDim, source);
        try {
            if (hs == 0 && !changes.containsKey("head_dim")) hs = splitWidth(c, h);
            return new GPTConfig(l, h, c, v, vp, t, p, b, tied, pos, n, m, theta, hidden, eps, hs);
        } catch (CramjetException e) {
            throw new CramjetException(source + ": " + e.getMessage());
        }
    }

    private static Object raw(Map<String, ?> m, String key) { return m.get(key); }

    static int intOf(Map<String, ?> m, String key, int fallback, String source) {
        Object v = raw(m, key);
        if (v == null) return fallback;
        long x;
        if (v instanceof String s) {
            try {
                x = Long.parseLong(s.replace("_", ""));
            } catch (NumberFormatException e) {
                throw new CramjetException(source + ": \"" + key + "\" expects an integer, got '" + s + "'");
            }
        } else {
            x = Json.integer(v, source + ": \"" + key + "\"");
        }
        if (x < Integer.MIN_VALUE || x > Integer.MAX_VALUE) {
            throw new CramjetException(source + ": \"" + key + "\" is out of range: " + x);
        }
        return (int) x;
    }

    static double numberOf(Map<String, ?> m, String key, double fallback, String source) {
        Object v = raw(m, key);
        if (v == null) return fallback;
        if (v instanceof String s) {
            try {
                return Double.parseDouble(s);
            } catch (NumberFormatException e) {
                throw new CramjetException(source + ": \"" + key + "\" expects a number, got '" + s + "'");
            }
        }
        return Json.number(v, source + ": \"" + key + "\"");
    }

    static boolean boolOf(Map<String, ?> m, String key, boolean fallback, String source) {
        Object v = raw(m, key);
        if (v == null) return fallback;
        if (v instanceof Boolean bo) return bo;
        if ("true".equals(v)) return true;
        if ("false".equals(v)) return false;
        throw new CramjetException(source + ": \"" + key + "\" expects true or false, got " + Json.kind(v));
    }

    static <E extends Enum<E>> E enumOf(Map<String, ?> m, String key, E fallback, Class<E> type, String source) {
        return enumOf(m, key, fallback, type, source, Map.of());
    }

    static <E extends Enum<E>> E enumOf(Map<String, ?> m, String key, E fallback, Class<E> type, String source,
                                        Map<String, E> aliases) {
        Object v = raw(m, key);
        if (v == null) return fallback;
        if (!(v instanceof String s)) {
            throw new CramjetException(source + ": \"" + key + "\" expects a string, got " + Json.kind(v));
        }
        String lower = s.toLowerCase(Locale.ROOT);
        if (aliases.containsKey(lower)) return aliases.get(lower);
        for (E e : type.getEnumConstants()) {
            if (e.name().toLowerCase(Locale.ROOT).equals(lower)) return e;
        }
        StringBuilder expected = new StringBuilder();
        for (E e : type.getEnumConstants()) {
            if (!expected.isEmpty()) expected.append(" or ");
            expected.append(e.name().toLowerCase(Locale.ROOT));
        }
        throw new CramjetException(source + ": \"" + key + "\" expects " + expected + ", got '" + s + "'");
    }
}
