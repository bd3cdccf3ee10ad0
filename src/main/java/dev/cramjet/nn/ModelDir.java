package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.io.Manifest;
import dev.cramjet.io.Safetensors;
import dev.cramjet.io.TextFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * A model directory: {@code model.safetensors} (fp32 weights) and {@code config.json}, in Hugging Face layouts so
 * {@code transformers} loads what we save and we load checkpoints from the hub.
 *
 * <h2>Tensor names</h2>
 * GPT-2 architecture (learned positions, LayerNorm, GELU, biases) — {@code GPT2LMHeadModel} names; HF's Conv1D
 * stores weights as (in, out), the transpose of our [OC, C]:
 * <pre>
 *   wte.weight [V, C]  wpe.weight [T, C]   (only the real vocabulary rows are saved)
 *   h.N.ln_1.weight/bias          h.N.attn.c_attn.weight [C, 3C] + bias   h.N.attn.c_proj.weight [C, C] + bias
 *   h.N.ln_2.weight/bias          h.N.mlp.c_fc.weight [C, 4C] + bias      h.N.mlp.c_proj.weight [4C, C] + bias
 *   ln_f.weight/bias              lm_head.weight [V, C] only when untied
 * </pre>
 * On load a {@code transformer.} prefix is accepted, and the causal-mask buffers {@code h.N.attn.bias} /
 * {@code h.N.attn.masked_bias} and a tied copy of {@code lm_head.weight} are skipped.
 *
 * <p>Every other configuration — Llama names, weights in our [out, in] order, our fused qkv and gate|up matrices
 * split into their Hugging Face parts:
 * <pre>
 *   model.embed_tokens.weight [V, C]                      model.embed_positions.weight [T, C]  (learned positions)
 *                                                         model.embed_positions.scale [1]  (scaled sinusoids)
 *   model.layers.N.input_layernorm.weight (+ .bias for LayerNorm with bias)
 *   model.layers.N.self_attn.{q,k,v}_proj.weight [A, C] (+ bias)   model.layers.N.self_attn.o_proj.weight [C, A] (+ bias)
 *   model.layers.N.post_attention_layernorm.weight (+ .bias)
 *   model.layers.N.mlp.gate_proj.weight [H, C], up_proj [H, C] (SwiGLU; GELU has up_proj only), down_proj [C, H]
 *   model.norm.weight (+ .bias)                            lm_head.weight [V, C] only when untied
 * </pre>
 * (A = heads × head_dim, the attention width: C unless heads were pruned.)
 * config.json is a Hugging Face config ({@code model_type} "gpt2", or "llama" for RoPE + RMSNorm + SwiGLU, or
 * "cramjet" for mixes no Hugging Face class implements, GPT-2 with pruned heads among them) plus a {@code "cramjet"} object holding our full
 * {@link GPTConfig}, which wins when present. Without it (a hub checkpoint) the GPT-2 or Llama keys are read.
 *
 * <p>Parameters outside the base model (adapters, task heads) are saved under their own names, e.g.
 * {@code h.0.attn.qkv.lora_A.weight} or {@code score.weight}, and loaded when the file has them (a model that
 * adds them to a pretrained base starts them from their initialisation).
 */
public final class ModelDir {
    private ModelDir() {}

    public static final String WEIGHTS = "model.safetensors";
    public static final String CONFIG = "config.json";

    /** One Hugging Face tensor cut from one of our parameters: rows [from, to), transposed for HF Conv1D. */
    record Piece(String hfName, int from, int to, boolean transposed) {}

    /** Where a file puts each base parameter (by name, with its row count): the pieces it is cut into. */
    @FunctionalInterface
    interface Layout {
        List<Piece> pieces(String name, int rows);
    }

    /**
     * True when the configuration is exactly GPT-2's, so the file uses GPT2LMHeadModel names: its architecture
     * with the heads splitting the width (GPT-2's config has no head size; with heads pruned the model is saved in
     * the general layout, model_type "cramjet").
     */
    public static boolean gpt2Layout(GPTConfig c) { return gpt2Architecture(c) && c.attnWidth() == c.nEmbd(); }

    /** GPT-2's architecture — learned positions, LayerNorm, GELU, biases — whatever the attention width. */
    public static boolean gpt2Architecture(GPTConfig c) {
        return c.positions() == GPTConfig.Positions.LEARNED && c.norm() == GPTConfig.Norm.LAYER
                && c.mlp() == GPTConfig.Mlp.GELU && c.bias();
    }

    private static boolean llamaArchitecture(GPTConfig c) {
        return c.positions() == GPTConfig.Positions.ROPE && c.norm() == GPTConfig.Norm.RMS && c.mlp() == GPTConfig.Mlp.SWIGLU;
    }

    private static final Pattern LAYER = Pattern.compile("h\\.(\\d+)\\.(.*)");

    /** Where our parameter {@code name} (shape [rows, …]) goes in a Hugging Face file. */
    private static List<Piece> pieces(GPTConfig cfg, String name, int rows) {
        int v = cfg.vocabSize(), a = cfg.attnWidth(), h = cfg.mlpHidden();
        if (gpt2Layout(cfg)) {
            return switch (name) {
                case "wte.weight", "lm_head.weight" -> List.of(new Piece(name, 0, v, false));
                default -> {
                    String hf = name.replace(".attn.qkv.", ".attn.c_attn.").replace(".attn.proj.", ".attn.c_proj.")
                            .replace(".mlp.fc.", ".mlp.c_fc.").replace(".mlp.proj.", ".mlp.c_proj.");
                    boolean conv1d = name.startsWith("h.") && name.endsWith(".weight") && !name.contains(".ln_");
                    yield List.of(new Piece(hf, 0, rows, conv1d));
                }
            };
        }
        switch (name) {
            case "wte.weight": return List.of(new Piece("model.embed_tokens.weight", 0, v, false));
            case "wpe.weight": return List.of(new Piece("model.embed_positions.weight", 0, rows, false));
            case "wpe.scale": return List.of(new Piece("model.embed_positions.scale", 0, rows, false));
            case "lm_head.weight": return List.of(new Piece("lm_head.weight", 0, v, false));
            default:
        }
        if (name.startsWith("ln_f.")) return List.of(new Piece("model.norm." + name.substring(5), 0, rows, false));
        var m = LAYER.matcher(name);
        if (!m.matches()) throw new IllegalStateException("unmapped parameter " + name);
        String p = "model.layers." + m.group(1) + ".", rest = m.group(2);
        String kind = rest.substring(rest.lastIndexOf('.') + 1); // weight | bias
        return switch (rest.substring(0, rest.lastIndexOf('.'))) {
            case "ln_1" -> List.of(new Piece(p + "input_layernorm." + kind, 0, rows, false));
            case "ln_2" -> List.of(new Piece(p + "post_attention_layernorm." + kind, 0, rows, false));
            case "attn.qkv" -> List.of(new Piece(p + "self_attn.q_proj." + kind, 0, a, false),
                    new Piece(p + "self_attn.k_proj." + kind, a, 2 * a, false),
                    new Piece(p + "self_attn.v_proj." + kind, 2 * a, 3 * a, false));
            case "attn.proj" -> List.of(new Piece(p + "self_attn.o_proj." + kind, 0, rows, false));
            case "mlp.fc" -> cfg.mlp() != GPTConfig.Mlp.GELU
                    ? List.of(new Piece(p + "mlp.gate_proj." + kind, 0, h, false), new Piece(p + "mlp.up_proj." + kind, h, 2 * h, false))
                    : List.of(new Piece(p + "mlp.up_proj." + kind, 0, rows, false));
            case "mlp.proj" -> List.of(new Piece(p + "mlp.down_proj." + kind, 0, rows, false));
            default -> throw new IllegalStateException("unmapped parameter " + name);
        };
    }

    private static long[] pieceShape(Piece pc, int[] shape) {
        int r = pc.to - pc.from;
        if (shape.length == 1) return new long[] {r};
        return pc.transposed ? new long[] {shape[1], r} : new long[] {r, shape[1]};
    }

    // ---- saving ----------------------------------------------------------------------------------------------

    /** Saves the model's weights and configuration into {@code dir} (created if needed). */
    public static void save(GPT model, Path dir) throws IOException {
        save(model.config(), model.parameterList(), p -> download(model.backend(), p.value()), dir);
    }

    /** A tensor's values on the host. */
    public static float[] download(Backend be, Tensor t) {
        float[] v = new float[(int) t.size()];
        be.download(t, v);
        return v;
    }

    /**
     * Saves the parameters with the values {@code values} gives for each — e.g. an optimizer's F32 master copy,
     * more precise than BF16 parameters.
     */
    public static void save(GPTConfig cfg, List<Param> params, Function<Param, float[]> values, Path dir) throws IOException {
        write(dir, items(params, values, (name, rows) -> pieces(cfg, name, rows)), hfConfig(cfg));
    }

    /** The file's tensors: base parameters cut into their pieces, the others (adapters, task heads) under their names. */
    static List<Safetensors.Item> items(List<Param> params, Function<Param, float[]> values, Layout layout) {
        List<Safetensors.Item> items = new ArrayList<>();
        for (Param p : params) {
            int[] shape = p.shape();
            float[] all = values.apply(p);
            if (p.group() != Parameters.Group.BASE) {
                items.add(new Safetensors.Item(p.name(), Safetensors.WriteType.F32, longs(shape), all, 0));
                continue;
            }
            int cols = shape.length == 1 ? 1 : shape[1];
            for (Piece pc : layout.pieces(p.name(), shape[0])) {
                long[] hfShape = pieceShape(pc, shape);
                if (!pc.transposed) {
                    items.add(new Safetensors.Item(pc.hfName, Safetensors.WriteType.F32, hfShape, all, pc.from * cols));
                } else {
                    int r = pc.to - pc.from;
                    float[] t = new float[r * cols];
                    for (int i = 0; i < r; i++) {
                        for (int j = 0; j < cols; j++) t[j * r + i] = all[(pc.from + i) * cols + j];
                    }
                    items.add(new Safetensors.Item(pc.hfName, Safetensors.WriteType.F32, hfShape, t, 0));
                }
            }
        }
        return items;
    }

    /** Writes model.safetensors and config.json into {@code dir} (created if needed), each atomically. */
    static void write(Path dir, List<Safetensors.Item> items, Map<String, Object> config) throws IOException {
        Files.createDirectories(dir);
        // transformers refuses safetensors files without format "pt".
        Safetensors.write(dir.resolve(WEIGHTS), Map.of("format", "pt"), items);
        AtomicFile.writeString(dir.resolve(CONFIG), Json.pretty(config));
    }

    /** The Hugging Face config.json for {@code cfg}, with our full configuration under "cramjet". */
    public static Map<String, Object> hfConfig(GPTConfig cfg) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (gpt2Layout(cfg)) {
            m.put("model_type", "gpt2");
            m.put("architectures", List.of("GPT2LMHeadModel"));
            m.put("vocab_size", (long) cfg.vocabSize());
            m.put("n_positions", (long) cfg.blockSize());
            m.put("n_ctx", (long) cfg.blockSize());
            m.put("n_embd", (long) cfg.nEmbd());
            m.put("n_layer", (long) cfg.nLayer());
            m.put("n_head", (long) cfg.nHead());
            m.put("n_inner", (long) cfg.mlpHidden());
            m.put("activation_function", "gelu_new");
            m.put("resid_pdrop", GPTConfig.decimal(cfg.dropout()));
            m.put("embd_pdrop", GPTConfig.decimal(cfg.dropout()));
            m.put("attn_pdrop", 0.0);
            m.put("layer_norm_epsilon", GPTConfig.decimal(cfg.normEps()));
            m.put("tie_word_embeddings", cfg.tiedEmbeddings());
        } else {
            m.put("model_type", llamaArchitecture(cfg) ? "llama" : "cramjet");
            if (llamaArchitecture(cfg)) m.put("architectures", List.of("LlamaForCausalLM"));
            m.put("vocab_size", (long) cfg.vocabSize());
            m.put("hidden_size", (long) cfg.nEmbd());
            m.put("intermediate_size", (long) cfg.mlpHidden());
            m.put("num_hidden_layers", (long) cfg.nLayer());
            m.put("num_attention_heads", (long) cfg.nHead());
            m.put("num_key_value_heads", (long) cfg.nHead());
            m.put("head_dim", (long) cfg.headSize());
            m.put("max_position_embeddings", (long) cfg.blockSize());
            m.put("rms_norm_eps", GPTConfig.decimal(cfg.normEps()));
            m.put("rope_theta", GPTConfig.decimal(cfg.ropeTheta()));
            m.put("hidden_act", "silu");
            m.put("attention_bias", cfg.bias());
            m.put("mlp_bias", cfg.bias());
            m.put("tie_word_embeddings", cfg.tiedEmbeddings());
        }
        m.put("torch_dtype", "float32");
        m.put("cramjet", cfg.toJson());
        return m;
    }

    // ---- loading ---------------------------------------------------------------------------------------------

    /** Reads {@code dir/config.json}: our "cramjet" object when present, else the Hugging Face GPT-2 or Llama keys. */
    public static GPTConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        Map<String, Object> json = configJson(dir);
        if (EncoderDir.isEncoder(json)) {
            throw new CramjetException(file + ": describes an encoder (" + json.get("model_type") + "), not a GPT decoder");
        }
        if (json.containsKey("cramjet")) {
            GPTConfig cfg = GPTConfig.fromJson(Json.object(json.get("cramjet"), file + ": cramjet"), file + ": cramjet");
            checkHfKeys(json, cfg, file);
            return cfg;
        }
        Object type = json.get("model_type");
        if ("gpt2".equals(type)) return fromGpt2(json, file.toString());
        if ("llama".equals(type)) return fromLlama(json, file.toString());
        throw new CramjetException(file + ": model_type " + (type == null ? "is missing" : "'" + type + "' is not supported")
                + " (expected \"gpt2\" or \"llama\", or a \"cramjet\" object)");
    }

    /** A model directory's config.json as a JSON object. */
    static Map<String, Object> configJson(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        if (!Files.exists(file)) throw new CramjetException(file + ": no such file (a model directory holds " + CONFIG + " and " + WEIGHTS + ")");
        return Json.object(Json.parse(TextFile.read(file, "model config"), file.toString()), file.toString());
    }

    /**
     * Refuses a config.json whose Hugging Face keys contradict its "cramjet" block: we would load one model and
     * transformers another. Every key {@link #hfConfig} writes is compared, except torch_dtype (a converted copy
     * may hold other weights' type); keys a tool added are not ours to judge.
     */
    private static void checkHfKeys(Map<String, Object> json, GPTConfig cfg, Path file) {
        for (var e : hfConfig(cfg).entrySet()) {
            String k = e.getKey();
            if (k.equals("cramjet") || k.equals("torch_dtype") || !json.containsKey(k)) continue;
            Object v = json.get(k), want = e.getValue();
            boolean same = v instanceof Number a && want instanceof Number b ? a.doubleValue() == b.doubleValue() : Objects.equals(v, want);
            if (!same) {
                throw new CramjetException(file + ": \"" + k + "\" is " + Json.write(v) + " but the \"cramjet\" block implies "
                        + Json.write(want) + " (a Hugging Face loader would read a different model)");
            }
        }
    }

    private static GPTConfig fromGpt2(Map<String, Object> j, String src) {
        String act = j.containsKey("activation_function") ? Json.string(j.get("activation_function"), src + ": activation_function") : "gelu_new";
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw new CramjetException(src + ": activation_function '" + act + "' is not supported (expected gelu_new, the tanh approximation)");
        }
        if (Boolean.TRUE.equals(j.get("scale_attn_by_inverse_layer_idx"))) {
            throw new CramjetException(src + ": scale_attn_by_inverse_layer_idx = true is not supported");
        }
        int c = req(j, "n_embd", src);
        int v = req(j, "vocab_size", src);
        int t = j.containsKey("n_positions") ? req(j, "n_positions", src) : req(j, "n_ctx", src);
        int inner = j.get("n_inner") == null ? 4 * c : req(j, "n_inner", src);
        return new GPTConfig(req(j, "n_layer", src), req(j, "n_head", src), c, v, GPTConfig.padVocab(v), t,
                (float) num(j, "resid_pdrop", 0.1, src), true, bool(j, "tie_word_embeddings", true, src),
                GPTConfig.Positions.LEARNED, GPTConfig.Norm.LAYER, GPTConfig.Mlp.GELU, 10000f, inner,
                (float) num(j, "layer_norm_epsilon", 1e-5, src));
    }

    private static GPTConfig fromLlama(Map<String, Object> j, String src) {
        int heads = req(j, "num_attention_heads", src), c = req(j, "hidden_size", src);
        if (j.get("num_key_value_heads") != null && req(j, "num_key_value_heads", src) != heads) {
            throw new CramjetException(src + ": num_key_value_heads must equal num_attention_heads (grouped-query attention is not supported)");
        }
        if (j.get("head_dim") == null && c % heads != 0) {
            throw new CramjetException(src + ": num_attention_heads (" + heads + ") does not divide hidden_size (" + c + ") and there is no head_dim");
        }
        int headDim = j.get("head_dim") == null ? c / heads : req(j, "head_dim", src);
        if (j.get("rope_scaling") != null) throw new CramjetException(src + ": rope_scaling is not supported (expected null)");
        Object act = j.getOrDefault("hidden_act", "silu");
        if (!"silu".equals(act)) throw new CramjetException(src + ": hidden_act '" + act + "' is not supported (expected silu)");
        boolean attnBias = bool(j, "attention_bias", false, src), mlpBias = bool(j, "mlp_bias", false, src);
        if (attnBias != mlpBias) throw new CramjetException(src + ": attention_bias and mlp_bias must be equal");
        int v = req(j, "vocab_size", src);
        return new GPTConfig(req(j, "num_hidden_layers", src), heads, c, v, GPTConfig.padVocab(v),
                req(j, "max_position_embeddings", src), 0f, attnBias, bool(j, "tie_word_embeddings", false, src),
                GPTConfig.Positions.ROPE, GPTConfig.Norm.RMS, GPTConfig.Mlp.SWIGLU, (float) num(j, "rope_theta", 10000, src),
                req(j, "intermediate_size", src), (float) num(j, "rms_norm_eps", 1e-6, src), headDim);
    }

    static int req(Map<String, Object> j, String key, String src) {
        if (!j.containsKey(key)) throw new CramjetException(src + ": missing key \"" + key + "\"");
        long x = Json.integer(j.get(key), src + ": \"" + key + "\"");
        if (x <= 0 || x > Integer.MAX_VALUE) throw new CramjetException(src + ": \"" + key + "\" must be a positive integer, got " + x);
        return (int) x;
    }

    static double num(Map<String, Object> j, String key, double fallback, String src) {
        return j.get(key) == null ? fallback : Json.number(j.get(key), src + ": \"" + key + "\"");
    }

    static boolean bool(Map<String, Object> j, String key, boolean fallback, String src) {
        Object v = j.get(key);
        if (v == null) return fallback;
        if (v instanceof Boolean b) return b;
        throw new CramjetException(src + ": \"" + key + "\" expects true or false, got " + Json.kind(v));
    }

    /** Reads the configuration and weights of {@code dir} into a new inference model for (batch, seq). */
    public static GPT load(Backend backend, Path dir, int batch, int seq) throws IOException {
        return load(backend, dir, batch, seq, Model.Options.INFERENCE);
    }

    /**
     * Reads the configuration and weights of {@code dir} into a new model for (batch, seq), built as {@code options}
     * says. When a manifest sits beside them (a checkpoint), both files are verified against it first; and the
     * configuration is checked against the file's tensors before the model is allocated, so a config that lies
     * about its size is named rather than allocated.
     */
    public static GPT load(Backend backend, Path dir, int batch, int seq, Model.Options options) throws IOException {
        if (Files.exists(dir.resolve(Manifest.FILE))) Manifest.verify(dir, List.of(WEIGHTS, CONFIG));
        GPTConfig cfg = readConfig(dir);
        checkSize(cfg, dir.resolve(WEIGHTS));
        GPT model = new GPT(backend, cfg, batch, seq, 0, options);
        loadWeights(model, dir.resolve(WEIGHTS));
        return model;
    }

    private static final Pattern LAYER_INDEX = Pattern.compile("(?:transformer\\.)?h\\.(\\d+)\\..*|model\\.layers\\.(\\d+)\\..*");

    /**
     * The layer count and the shapes that set the model's size — token embedding, position table, first MLP — in
     * the file against the config, before anything is allocated (n_layer 100000 would otherwise ask for gigabytes).
     */
    private static void checkSize(GPTConfig cfg, Path file) throws IOException {
        try (Safetensors.Reader r = Safetensors.open(file)) {
            int layers = 0;
            for (String n : r.tensors().keySet()) {
                var m = LAYER_INDEX.matcher(n);
                if (m.matches()) layers = Math.max(layers, 1 + Integer.parseInt(m.group(1) != null ? m.group(1) : m.group(2)));
            }
            if (layers != cfg.nLayer()) {
                throw new CramjetException(file + ": holds " + layers + " layers, but " + CONFIG + " says n_layer " + cfg.nLayer());
            }
            Map<String, Integer> rows = new LinkedHashMap<>();
            rows.put("wte.weight", cfg.paddedVocab());
            if (cfg.positions() == GPTConfig.Positions.LEARNED) rows.put("wpe.weight", cfg.blockSize());
            rows.put("h.0.mlp.fc.weight", cfg.fcWidth());
            for (var e : rows.entrySet()) {
                for (Piece pc : pieces(cfg, e.getKey(), e.getValue())) {
                    Safetensors.Entry t = r.tensors().get(pc.hfName);
                    if (t == null) t = r.tensors().get("transformer." + pc.hfName);
                    if (t == null) throw new CramjetException(file + ": tensor '" + pc.hfName + "' is missing");
                    long[] want = pieceShape(pc, new int[] {e.getValue(), cfg.nEmbd()});
                    if (!java.util.Arrays.equals(t.shape(), want)) {
                        throw new CramjetException(file + ": tensor '" + t.name() + "' has shape " + t.shapeString() + ", but " + CONFIG
                                + " implies " + java.util.Arrays.toString(want) + " (vocab_size, n_embd, block_size and mlp_hidden set it)");
                    }
                }
            }
        }
    }

    /** Refuses NaN and infinities in {@code host[from, to)}, naming the tensor and the element. */
    private static void requireFinite(float[] host, int from, int to, Path file, String tensor) {
        for (int i = from; i < to; i++) {
            if (!Float.isFinite(host[i])) {
                throw new CramjetException(file + ": tensor '" + tensor + "' holds " + host[i] + " at element " + (i - from)
                        + " (the weights are damaged, or training diverged before they were saved)");
            }
        }
    }

    static long[] longs(int[] shape) {
        long[] l = new long[shape.length];
        for (int i = 0; i < shape.length; i++) l[i] = shape[i];
        return l;
    }

    /** Tensors hub files carry that are not parameters: causal-mask buffers and RoPE frequency tables. */
    private static final Pattern SKIPPABLE = Pattern.compile(
            "h\\.\\d+\\.attn\\.(bias|masked_bias)|model\\.layers\\.\\d+\\.self_attn\\.rotary_emb\\.inv_freq");

    /**
     * Loads weights from a safetensors file into {@code model}, checking that every expected tensor is present
     * with the expected shape and a floating-point dtype, and that nothing unexpected is there.
     */
    public static void loadWeights(GPT model, Path file) throws IOException {
        GPTConfig cfg = model.config();
        try (Safetensors.Reader r = Safetensors.open(file)) {
            Map<String, String> names = new LinkedHashMap<>(); // name without prefix → name in file
            for (String n : r.tensors().keySet()) {
                String bare = n.startsWith("transformer.") && gpt2Layout(cfg) ? n.substring("transformer.".length()) : n;
                if (names.put(bare, n) != null) throw new CramjetException(file + ": tensor '" + bare + "' appears twice (with and without the transformer. prefix)");
            }
            Set<String> used = read(model, r, file, names, (name, rows) -> pieces(cfg, name, rows));
            List<String> unexpected = new ArrayList<>();
            for (Map.Entry<String, String> e : names.entrySet()) {
                String bare = e.getKey();
                if (used.contains(bare) || SKIPPABLE.matcher(bare).matches()) continue;
                if (bare.equals("lm_head.weight") && cfg.tiedEmbeddings()) continue; // a tied copy of the embedding
                unexpected.add(e.getValue());
            }
            refuseUnexpected(file, unexpected);
        }
    }

    /**
     * Uploads every parameter of {@code model} from the file: base parameters from their pieces (each required,
     * shape and dtype checked), the others under their own names when present (a head or adapter added to a
     * pretrained base keeps its initialisation otherwise). {@code names} maps a tensor's name as the layout spells
     * it to its name in the file. Returns the layout names used.
     */
    static Set<String> read(Model model, Safetensors.Reader r, Path file, Map<String, String> names, Layout layout) throws IOException {
        Set<String> used = new LinkedHashSet<>();
        for (Param p : model.parameterList()) {
            int[] shape = p.shape();
            if (p.group() != Parameters.Group.BASE) {
                String inFile = names.get(p.name());
                if (inFile == null) continue;                       // added to a base: keeps its initialisation
                Safetensors.Entry e = r.entry(inFile);
                if (!java.util.Arrays.equals(e.shape(), longs(shape))) {
                    throw new CramjetException(file + ": tensor '" + inFile + "' has shape " + e.shapeString() + ", expected "
                            + java.util.Arrays.toString(shape) + " for this model");
                }
                float[] host = r.read(inFile);
                requireFinite(host, 0, host.length, file, inFile);
                model.backend().upload(p.value(), host);
                used.add(p.name());
                continue;
            }
            int cols = shape.length == 1 ? 1 : shape[1];
            float[] host = new float[(int) p.size()];
            for (Piece pc : layout.pieces(p.name(), shape[0])) {
                String inFile = names.get(pc.hfName);
                if (inFile == null) throw new CramjetException(file + ": tensor '" + pc.hfName + "' is missing");
                Safetensors.Entry e = r.entry(inFile);
                long[] want = pieceShape(pc, shape);
                if (!java.util.Arrays.equals(e.shape(), want)) {
                    throw new CramjetException(file + ": tensor '" + inFile + "' has shape " + e.shapeString() + ", expected "
                            + java.util.Arrays.toString(want) + " for this config");
                }
                if (!e.dtype().equals("F32") && !e.dtype().equals("BF16") && !e.dtype().equals("F16")) {
                    throw new CramjetException(file + ": tensor '" + inFile + "' has dtype " + e.dtype() + ", expected F32, BF16 or F16");
                }
                int r0 = pc.to - pc.from;
                if (!pc.transposed) {
                    r.read(inFile, host, pc.from * cols);
                } else {
                    float[] t = r.read(inFile);
                    for (int i = 0; i < r0; i++) {
                        for (int j = 0; j < cols; j++) host[(pc.from + i) * cols + j] = t[j * r0 + i];
                    }
                }
                requireFinite(host, pc.from * cols, pc.to * cols, file, inFile);
                used.add(pc.hfName);
            }
            model.backend().upload(p.value(), host);
        }
        return used;
    }

    /** Refuses a file with tensors the model does not have, naming the first few. */
    static void refuseUnexpected(Path file, List<String> unexpected) {
        if (!unexpected.isEmpty()) {
            throw new CramjetException(file + ": unexpected tensor" + (unexpected.size() > 1 ? "s " : " ")
                    + String.join(", ", unexpected.subList(0, Math.min(5, unexpected.size())))
                    + (unexpected.size() > 5 ? " (and " + (unexpected.size() - 5) + " more)" : "") + " for this config");
        }
    }
}
