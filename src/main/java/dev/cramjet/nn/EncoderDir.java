package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.io.Json;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.ModelDir.Piece;
import dev.cramjet.nn.Parameters.Param;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An encoder's model directory: {@code model.safetensors} (fp32) and {@code config.json}.
 *
 * <h2>BERT's layout</h2>
 * An encoder of the original BERT's architecture ({@link EncoderConfig#bertLayout()}: bert-base, bert-tiny) is
 * saved as Hugging Face's {@code BertForMaskedLM}, so {@code transformers} loads it ({@code model_type} "bert",
 * {@code hidden_act} "gelu_new": our GELU is the tanh approximation). Weights are [out, in] in both; our fused qkv
 * is split into query, key and value; only the real vocabulary rows are written:
 * <pre>
 *   bert.embeddings.word_embeddings.weight [V, C]   bert.embeddings.position_embeddings.weight [T, C]
 *   bert.embeddings.token_type_embeddings.weight [2, C]   (written as zeros)   bert.embeddings.LayerNorm.weight/bias
 *   bert.encoder.layer.N.attention.self.{query,key,value}.weight [C, C] + bias
 *   bert.encoder.layer.N.attention.output.dense.weight/bias      .attention.output.LayerNorm.weight/bias
 *   bert.encoder.layer.N.intermediate.dense.weight [H, C] + bias .output.dense.weight [C, H] + bias
 *   bert.encoder.layer.N.output.LayerNorm.weight/bias
 *   cls.predictions.transform.dense.weight/bias  cls.predictions.transform.LayerNorm.weight/bias
 *   cls.predictions.bias [V]                     (the decoder's weight is tied to the word embeddings: not written)
 * </pre>
 * We have no segment ids: every token is of type 0, so on load the type-0 row is added into the position table
 * (the same sums reach the first norm) and the type-1 row is dropped.
 *
 * <h2>Every other encoder</h2>
 * Cramming's architecture has no Hugging Face class; it is saved under our parameter names, with
 * {@code model_type} "cramjet-encoder" and the real vocabulary rows only:
 * <pre>
 *   wte.weight [V, C]   wpe.weight [T, C] (learned) or wpe.scale [1] (scaled sinusoids)   emb_ln.weight (+ .bias)
 *   h.N.ln_1.*  h.N.attn.qkv.weight [3C, C]  h.N.attn.proj.weight [C, C]  h.N.ln_2.*
 *   h.N.mlp.fc.weight [H or 2H (gate | up), C]  h.N.mlp.proj.weight [C, H]   (+ .bias each, when the config has biases)
 *   ln_f.* (pre-norm)   mlm.dense.*, mlm.ln.* (head transform)   mlm.bias [V] (decoder bias)
 * </pre>
 * In both, config.json carries our full {@link EncoderConfig} under {@code "cramjet_encoder"}, which wins when
 * present; a task head (e.g. {@code score.weight}) is saved under its name, and a classifier loaded from a
 * pretrained encoder skips the file's masked-token head.
 */
public final class EncoderDir {
    private EncoderDir() {}

    static final String KEY = "cramjet_encoder";
    private static final String TOKEN_TYPES = "bert.embeddings.token_type_embeddings.weight";
    private static final Pattern LAYER = Pattern.compile("h\\.(\\d+)\\.(.*)");
    /** The masked-token head's tensors in either layout, which a classifier does not have. */
    private static final Pattern MLM_HEAD = Pattern.compile("cls\\.predictions\\..*|mlm\\..*");

    /** True when a config.json object describes an encoder. */
    static boolean isEncoder(Map<String, Object> json) {
        return json.containsKey(KEY) || "bert".equals(json.get("model_type"));
    }

    /** True when {@code dir}'s config.json describes an encoder (not a GPT). */
    public static boolean isEncoder(Path dir) throws IOException { return isEncoder(ModelDir.configJson(dir)); }

    /** Where parameter {@code name} (with {@code rows} rows) goes in the file. */
    static List<Piece> pieces(EncoderConfig cfg, String name, int rows) {
        int v = cfg.vocabSize(), c = cfg.nEmbd();
        if (!cfg.bertLayout()) {
            boolean vocabRows = name.equals("wte.weight") || name.equals("mlm.bias");
            return List.of(new Piece(name, 0, vocabRows ? v : rows, false));
        }
        switch (name) {
            case "wte.weight": return List.of(new Piece("bert.embeddings.word_embeddings.weight", 0, v, false));
            case "wpe.weight": return List.of(new Piece("bert.embeddings.position_embeddings.weight", 0, rows, false));
            case "mlm.bias": return List.of(new Piece("cls.predictions.bias", 0, v, false));
            default:
        }
        String kind = name.substring(name.lastIndexOf('.') + 1);   // weight | bias
        String module = name.substring(0, name.lastIndexOf('.'));
        switch (module) {
            case "emb_ln": return List.of(new Piece("bert.embeddings.LayerNorm." + kind, 0, rows, false));
            case "mlm.dense": return List.of(new Piece("cls.predictions.transform.dense." + kind, 0, rows, false));
            case "mlm.ln": return List.of(new Piece("cls.predictions.transform.LayerNorm." + kind, 0, rows, false));
            default:
        }
        Matcher m = LAYER.matcher(module);
        if (!m.matches()) throw new IllegalStateException("unmapped parameter " + name);
        String p = "bert.encoder.layer." + m.group(1) + ".";
        return switch (m.group(2)) {
            case "attn.qkv" -> List.of(new Piece(p + "attention.self.query." + kind, 0, c, false),
                    new Piece(p + "attention.self.key." + kind, c, 2 * c, false),
                    new Piece(p + "attention.self.value." + kind, 2 * c, 3 * c, false));
            case "attn.proj" -> List.of(new Piece(p + "attention.output.dense." + kind, 0, rows, false));
            case "ln_1" -> List.of(new Piece(p + "attention.output.LayerNorm." + kind, 0, rows, false));
            case "mlp.fc" -> List.of(new Piece(p + "intermediate.dense." + kind, 0, rows, false));
            case "mlp.proj" -> List.of(new Piece(p + "output.dense." + kind, 0, rows, false));
            case "ln_2" -> List.of(new Piece(p + "output.LayerNorm." + kind, 0, rows, false));
            default -> throw new IllegalStateException("unmapped parameter " + name);
        };
    }

    // ---- saving ----------------------------------------------------------------------------------------------

    public static void save(Encoder model, Path dir) throws IOException {
        save(model.config(), model.parameterList(), p -> ModelDir.download(model.backend(), p.value()), dir);
    }

    /** Saves parameters with the values {@code values} gives (e.g. the optimizer's F32 master copy). */
    public static void save(EncoderConfig cfg, List<Param> params, Function<Param, float[]> values, Path dir) throws IOException {
        List<Safetensors.Item> items = ModelDir.items(params, values, (name, rows) -> pieces(cfg, name, rows));
        if (cfg.bertLayout()) {
            items.add(new Safetensors.Item(TOKEN_TYPES, Safetensors.WriteType.F32, new long[] {2, cfg.nEmbd()}, new float[2 * cfg.nEmbd()], 0));
        }
        ModelDir.write(dir, items, hfConfig(cfg));
    }

    /** config.json: Hugging Face's BertConfig keys for BERT's layout, and our configuration under "cramjet_encoder". */
    public static Map<String, Object> hfConfig(EncoderConfig cfg) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (cfg.bertLayout()) {
            m.put("model_type", "bert");
            m.put("architectures", List.of("BertForMaskedLM"));
            m.put("vocab_size", (long) cfg.vocabSize());
            m.put("hidden_size", (long) cfg.nEmbd());
            m.put("num_hidden_layers", (long) cfg.nLayer());
            m.put("num_attention_heads", (long) cfg.nHead());
            m.put("intermediate_size", (long) cfg.mlpHidden());
            m.put("hidden_act", "gelu_new");
            m.put("hidden_dropout_prob", GPTConfig.decimal(cfg.dropout()));
            m.put("attention_probs_dropout_prob", 0.0);
            m.put("max_position_embeddings", (long) cfg.blockSize());
            m.put("type_vocab_size", 2L);
            m.put("layer_norm_eps", (double) cfg.normEps());
            m.put("position_embedding_type", "absolute");
            m.put("tie_word_embeddings", true);
        } else {
            m.put("model_type", "cramjet-encoder");
        }
        m.put("torch_dtype", "float32");
        m.put(KEY, cfg.toJson());
        return m;
    }

    // ---- loading ---------------------------------------------------------------------------------------------

    /** Reads {@code dir/config.json}: our "cramjet_encoder" object when present, else Hugging Face's BERT keys. */
    public static EncoderConfig readConfig(Path dir) throws IOException {
        Map<String, Object> j = ModelDir.configJson(dir);
        String src = dir.resolve(ModelDir.CONFIG).toString();
        if (j.containsKey(KEY)) return EncoderConfig.fromJson(Json.object(j.get(KEY), src + ": " + KEY), src + ": " + KEY);
        if (!"bert".equals(j.get("model_type"))) {
            throw new CramjetException(src + ": not an encoder (model_type " + j.get("model_type") + "; expected \"bert\" or a \"" + KEY + "\" object)");
        }
        Object act = j.getOrDefault("hidden_act", "gelu");
        if (!"gelu_new".equals(act) && !"gelu_pytorch_tanh".equals(act)) {
            throw new CramjetException(src + ": hidden_act '" + act + "' is not supported (expected gelu_new, the tanh approximation our GELU computes)");
        }
        Object pos = j.getOrDefault("position_embedding_type", "absolute");
        if (!"absolute".equals(pos)) throw new CramjetException(src + ": position_embedding_type '" + pos + "' is not supported (expected absolute)");
        int c = ModelDir.req(j, "hidden_size", src), v = ModelDir.req(j, "vocab_size", src);
        return EncoderConfig.bert(ModelDir.req(j, "num_hidden_layers", src), ModelDir.req(j, "num_attention_heads", src), c, v,
                        ModelDir.req(j, "max_position_embeddings", src))
                .with(Map.of("mlp_hidden", (long) ModelDir.req(j, "intermediate_size", src),
                        "dropout", ModelDir.num(j, "hidden_dropout_prob", 0.1, src),
                        "norm_eps", ModelDir.num(j, "layer_norm_eps", 1e-12, src)), src);
    }

    /** A new encoder for (batch, seq) built as {@code options} says, with the weights of {@code dir}. */
    public static Encoder load(Backend backend, Path dir, int batch, int seq, Model.Options options) throws IOException {
        Encoder model = new Encoder(backend, readConfig(dir), batch, seq, 0, options);
        loadWeights(model, dir.resolve(ModelDir.WEIGHTS));
        return model;
    }

    /**
     * Loads weights into {@code model}: every tensor the model needs, checked; nothing unexpected, except the
     * masked-token head when the model is a classifier.
     */
    public static void loadWeights(Encoder model, Path file) throws IOException {
        EncoderConfig cfg = model.config();
        try (Safetensors.Reader r = Safetensors.open(file)) {
            Map<String, String> names = new LinkedHashMap<>();
            for (String n : r.tensors().keySet()) names.put(n, n);
            Set<String> used = ModelDir.read(model, r, file, names, (name, rows) -> pieces(cfg, name, rows));
            if (cfg.bertLayout() && names.containsKey(TOKEN_TYPES)) {
                foldTokenTypes(model, r, file);
                used.add(TOKEN_TYPES);
            }
            boolean classifier = model.options().classes() > 0;
            List<String> unexpected = new ArrayList<>();
            for (String n : names.keySet()) {
                if (!used.contains(n) && !(classifier && MLM_HEAD.matcher(n).matches())) unexpected.add(n);
            }
            ModelDir.refuseUnexpected(file, unexpected);
        }
    }

    /** Adds token type 0's embedding into every position row: what BERT adds for a sequence without segment ids. */
    private static void foldTokenTypes(Encoder model, Safetensors.Reader r, Path file) throws IOException {
        int c = model.width();
        Safetensors.Entry e = r.entry(TOKEN_TYPES);
        if (e.shape().length != 2 || e.shape()[1] != c || e.shape()[0] < 1) {
            throw new CramjetException(file + ": tensor '" + TOKEN_TYPES + "' has shape " + e.shapeString() + ", expected [types, " + c + "]");
        }
        float[] types = r.read(TOKEN_TYPES);
        Param wpe = model.parameter("wpe.weight");
        float[] pos = ModelDir.download(model.backend(), wpe.value());
        for (int i = 0; i < pos.length; i++) pos[i] += types[i % c];
        model.backend().upload(wpe.value(), pos);
    }
}
