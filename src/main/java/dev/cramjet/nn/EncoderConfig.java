package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.cramjet.nn.GPTConfig.boolOf;
import static dev.cramjet.nn.GPTConfig.enumOf;
import static dev.cramjet.nn.GPTConfig.intOf;
import static dev.cramjet.nn.GPTConfig.numberOf;
import static dev.cramjet.nn.GPTConfig.positive;

/**
 * The shape of a BERT-style {@link Encoder}. It spans the original BERT (post-norm blocks, GELU, biases, learned
 * positions, BERT's dense + GELU + norm head transform and decoder bias) and Cramming's crammed BERT (Geiping &amp;
 * Goldstein 2022: pre-norm blocks with a final norm, gated GELU, no biases, scaled sinusoidal positions, no head
 * transform, no decoder bias), and any mix. Both have a norm over the embedding sum and a masked-language-model
 * decoder tied to the token embedding.
 *
 * @param mlpHidden     MLP hidden width H after any gating (Cramming's "FFN 3072 before gating" is H = 1536)
 * @param preNorm       pre-norm blocks and a final norm (false: post-norm blocks, no final norm)
 * @param embeddingNorm a norm over the embedding sum
 * @param headTransform BERT's dense + GELU + norm between the hidden states and the decoder
 * @param decoderBias   a bias on the decoder's vocabulary logits
 */
public record EncoderConfig(int nLayer, int nHead, int nEmbd, int vocabSize, int paddedVocab, int blockSize,
                            float dropout, boolean bias, GPTConfig.Positions positions, GPTConfig.Norm norm,
                            GPTConfig.Mlp mlp, int mlpHidden, float normEps, boolean preNorm, boolean embeddingNorm,
                            boolean headTransform, boolean decoderBias) {

    /** The JSON keys, in the order {@link #toJson()} writes them. */
    private static final String[] KEYS = {"n_layer", "n_head", "n_embd", "vocab_size", "padded_vocab", "block_size",
        "dropout", "bias", "positions", "norm", "mlp", "mlp_hidden", "norm_eps", "norm_placement", "embedding_norm",
        "head_transform", "decoder_bias"};

    public EncoderConfig {
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_embd", nEmbd);
        positive("vocab_size", vocabSize);
        positive("block_size", blockSize);
        positive("mlp_hidden", mlpHidden);
        if (nEmbd % nHead != 0) throw new CramjetException("encoder config: n_head (" + nHead + ") must divide n_embd (" + nEmbd + ")");
        if (paddedVocab < vocabSize) {
            throw new CramjetException("encoder config: padded_vocab (" + paddedVocab + ") must be at least vocab_size (" + vocabSize + ")");
        }
        if (!(dropout >= 0 && dropout < 1)) throw new CramjetException("encoder config: dropout must be in [0, 1), got " + dropout);
        if (positions == null || norm == null || mlp == null) throw new CramjetException("encoder config: positions, norm and mlp must be set");
        if (positions == GPTConfig.Positions.ROPE) {
            throw new CramjetException("encoder config: positions must be learned or sinusoidal (rotary positions are for decoders here)");
        }
        if (!(normEps > 0 && normEps < 1)) throw new CramjetException("encoder config: norm_eps must be in (0, 1), got " + normEps);
        if ((long) paddedVocab * nEmbd > Integer.MAX_VALUE || (long) mlpHidden * 2 * nEmbd > Integer.MAX_VALUE) {
            throw new CramjetException("encoder config: a weight matrix would exceed 2^31 elements");
        }
    }

    /** The trunk this configuration builds. */
    Transformer.Shape shape() {
        return new Transformer.Shape(nLayer, nHead, nEmbd, vocabSize, paddedVocab, blockSize, dropout, bias, positions,
                norm, mlp, 10000f, mlpHidden, normEps, preNorm, embeddingNorm, nEmbd);
    }

    public int headSize() { return nEmbd / nHead; }

    /** The original BERT's architecture: what Hugging Face's BertForMaskedLM implements (and its file layout). */
    public boolean bertLayout() {
        return !preNorm && embeddingNorm && headTransform && decoderBias && bias && positions == GPTConfig.Positions.LEARNED
                && norm == GPTConfig.Norm.LAYER && mlp == GPTConfig.Mlp.GELU;
    }

    /** 4·C for GELU; for a gated unit 2·C, Cramming's 4·C before gating split into gate and up. */
    public static int defaultMlpHidden(GPTConfig.Mlp mlp, int nEmbd) { return mlp == GPTConfig.Mlp.GELU ? 4 * nEmbd : 2 * nEmbd; }

    /** The same shape with {@code layers} blocks (a distillation student). */
    public EncoderConfig withLayers(int layers) {
        return new EncoderConfig(layers, nHead, nEmbd, vocabSize, paddedVocab, blockSize, dropout, bias, positions, norm,
                mlp, mlpHidden, normEps, preNorm, embeddingNorm, headTransform, decoderBias);
    }

    // ---- presets ---------------------------------------------------------------------------------------------

    /** The names {@link #preset} knows. */
    public static final String[] PRESETS = {"bert-tiny", "crammed-tiny", "crammed-small", "bert-base", "crammed-bert"};

    public static boolean isPreset(String name) { return Arrays.asList(PRESETS).contains(name); }

    /**
     * bert-base is Devlin et al.'s (110M parameters with its 30,522-token vocabulary); crammed-bert is Cramming's
     * final architecture (16 layers, sequence 128); bert-tiny and crammed-tiny/small are the same recipes at sizes
     * that pretrain on a CPU in minutes. Vocabulary sizes are replaced by the tokenizer's when training.
     */
    public static EncoderConfig preset(String name) {
        return switch (name) {
            case "bert-tiny" -> bert(4, 4, 256, 8192, 128);
            case "crammed-tiny" -> crammed(4, 4, 256, 8192, 128);
            case "crammed-small" -> crammed(6, 6, 384, 8192, 128);
            case "bert-base" -> bert(12, 12, 768, 30522, 512);
            case "crammed-bert" -> crammed(16, 12, 768, 32768, 128);
            default -> throw new CramjetException("unknown encoder preset '" + name + "' (expected one of " + String.join(", ", PRESETS) + ")");
        };
    }

    /** The original BERT's architecture: post-norm, GELU, biases, learned positions, dropout 0.1, ε 1e-12. */
    public static EncoderConfig bert(int layers, int heads, int width, int vocab, int blockSize) {
        return new EncoderConfig(layers, heads, width, vocab, GPTConfig.padVocab(vocab), blockSize, 0.1f, true,
                GPTConfig.Positions.LEARNED, GPTConfig.Norm.LAYER, GPTConfig.Mlp.GELU, 4 * width, 1e-12f, false, true, true, true);
    }

    /** Cramming's architecture: pre-norm + final norm, GEGLU, no biases, scaled sinusoids, no dropout, tied head only. */
    public static EncoderConfig crammed(int layers, int heads, int width, int vocab, int blockSize) {
        return new EncoderConfig(layers, heads, width, vocab, GPTConfig.padVocab(vocab), blockSize, 0f, false,
                GPTConfig.Positions.SINUSOIDAL, GPTConfig.Norm.LAYER, GPTConfig.Mlp.GEGLU, 2 * width, 1e-12f, true, true, false, false);
    }

    // ---- JSON ------------------------------------------------------------------------------------------------

    /** Every key (snake_case; enums in lower case; norm_placement "pre" or "post"). */
    public Map<String, Object> toJson() {
        Map<String, Object> m = shape().toJson();
        m.put("norm_placement", preNorm ? "pre" : "post");
        m.put("embedding_norm", embeddingNorm);
        m.put("head_transform", headTransform);
        m.put("decoder_bias", decoderBias);
        return m;
    }

    /** Reads a configuration object: a {@code "preset"} to start from, or every shape key; unknown keys are refused. */
    public static EncoderConfig fromJson(Map<String, Object> json, String source) {
        Object preset = json.get("preset");
        Map<String, Object> rest = new LinkedHashMap<>(json);
        rest.remove("preset");
        EncoderConfig base;
        if (preset != null) {
            base = preset(Json.string(preset, source + ": preset"));
        } else {
            GPTConfig.requireShape(rest, source);
            base = crammed(1, 1, 2, 1, 1);
        }
        return base.with(rest, source);
    }

    /**
     * This configuration with some keys replaced (JSON values, or strings as typed on a command line). padded_vocab
     * and mlp_hidden follow a changed vocab_size / n_embd / mlp unless given or previously set to a non-default value.
     */
    public EncoderConfig with(Map<String, ?> changes, String source) {
        for (String k : changes.keySet()) {
            if (!Arrays.asList(KEYS).contains(k)) {
                throw new CramjetException(source + ": unknown encoder config key \"" + k + "\" (expected one of " + String.join(", ", KEYS) + ")");
            }
        }
        boolean paddedDerived = paddedVocab == GPTConfig.padVocab(vocabSize);
        boolean hiddenDerived = mlpHidden == defaultMlpHidden(mlp, nEmbd);
        int c = intOf(changes, "n_embd", nEmbd, source);
        int v = intOf(changes, "vocab_size", vocabSize, source);
        GPTConfig.Mlp m = enumOf(changes, "mlp", mlp, GPTConfig.Mlp.class, source);
        Object placement = changes.get("norm_placement");
        if (placement != null && !"pre".equals(placement) && !"post".equals(placement)) {
            throw new CramjetException(source + ": \"norm_placement\" expects pre or post, got " + Json.kind(placement));
        }
        try {
            return new EncoderConfig(intOf(changes, "n_layer", nLayer, source), intOf(changes, "n_head", nHead, source), c, v,
                    intOf(changes, "padded_vocab", paddedDerived ? GPTConfig.padVocab(v) : paddedVocab, source),
                    intOf(changes, "block_size", blockSize, source), (float) numberOf(changes, "dropout", dropout, source),
                    boolOf(changes, "bias", bias, source), enumOf(changes, "positions", positions, GPTConfig.Positions.class, source),
                    enumOf(changes, "norm", norm, GPTConfig.Norm.class, source, Map.of("layernorm", GPTConfig.Norm.LAYER, "rmsnorm", GPTConfig.Norm.RMS)),
                    m, intOf(changes, "mlp_hidden", hiddenDerived ? defaultMlpHidden(m, c) : mlpHidden, source),
                    (float) numberOf(changes, "norm_eps", normEps, source), placement == null ? preNorm : placement.equals("pre"),
                    boolOf(changes, "embedding_norm", embeddingNorm, source), boolOf(changes, "head_transform", headTransform, source),
                    boolOf(changes, "decoder_bias", decoderBias, source));
        } catch (CramjetException e) {
            throw new CramjetException(source + ": " + e.getMessage());
        }
    }
}
