package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.nn.Prompt;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Adapters in Hugging Face PEFT's on-disk format: a directory with {@code adapter_config.json} and
 * {@code adapter_model.safetensors}, which {@code PeftModel.from_pretrained(base, dir)} loads over our saved base
 * model, and which we load from PEFT. Three methods:
 * <ul>
 * <li><b>LORA</b> — {@code base_model.model.<module>.lora_A.weight} [r, in] and {@code …lora_B.weight} [out, r] per
 *     adapted module, scaling lora_alpha / r (rsLoRA: / √r). GPT-2 layout modules are
 *     {@code transformer.h.N.attn.c_attn}, {@code attn.c_proj}, {@code mlp.c_fc}, {@code mlp.c_proj}, Conv1D layers
 *     whose weights are stored (in, out) — hence {@code fan_in_fan_out: true}; A and B keep PEFT's [r, in] and
 *     [out, r], as ours. Llama layout: our fused qkv (and gate|up) adapter is one A and one B; PEFT has a module
 *     each for q, k, v ({@code model.layers.N.self_attn.q_proj} …), so each gets the shared A and its rows of B —
 *     the same function — and loading fuses them back, which requires their A to be equal.</li>
 * <li><b>PROMPT_TUNING</b> — {@code prompt_embeddings} [n, C].</li>
 * <li><b>PREFIX_TUNING</b> — {@code prompt_embeddings} [n, 2·L·C], each row layer by layer the key then the value
 *     of that virtual token (what PEFT views as [n, 2L, H, hs] and splits into per-layer past keys and values;
 *     without prefix_projection).</li>
 * </ul>
 * A classifier's head trained with the adapter is PEFT's {@code modules_to_save}:
 * {@code base_model.model.score.weight} (GPT2ForSequenceClassification's name). The config's
 * {@code base_model_name_or_path} is the directory of the base model the adapter was trained on.
 */
public final class PeftFiles {
    private PeftFiles() {}

    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";

    private static final String PREFIX = "base_model.model.";

    /** What an adapter directory holds: its method and shape, the base it adapts, and the head it trained. */
    public record Adapter(Method method, LoRA.Spec lora, Prompt.Spec prompt, String base, List<String> modulesToSave) {}

    /** One PEFT module an adapted layer of ours maps to, and the rows [from, to) of our B it holds. */
    private record Part(String module, int from, int to) {}

    private static List<Part> parts(GPTConfig cfg, int layer, LoRA.Target t) {
        int c = cfg.nEmbd(), a = cfg.attnWidth(), h = cfg.mlpHidden();
        if (ModelDir.gpt2Layout(cfg)) {
            String p = "transformer.h." + layer + ".";
            return List.of(switch (t) {
                case QKV -> new Part(p + "attn.c_attn", 0, 3 * c);
                case ATTN_PROJ -> new Part(p + "attn.c_proj", 0, c);
                case MLP_FC -> new Part(p + "mlp.c_fc", 0, h);
                case MLP_PROJ -> new Part(p + "mlp.c_proj", 0, c);
            });
        }
        String p = "model.layers." + layer + ".";
        return switch (t) {
            case QKV -> List.of(new Part(p + "self_attn.q_proj", 0, a), new Part(p + "self_attn.k_proj", a, 2 * a),
                    new Part(p + "self_attn.v_proj", 2 * a, 3 * a));
            case ATTN_PROJ -> List.of(new Part(p + "self_attn.o_proj", 0, c));
            case MLP_FC -> cfg.mlp() == GPTConfig.Mlp.GELU ? List.of(new Part(p + "mlp.up_proj", 0, h))
                    : List.of(new Part(p + "mlp.gate_proj", 0, h), new Part(p + "mlp.up_proj", h, 2 * h));
            case MLP_PROJ -> List.of(new Part(p + "mlp.down_proj", 0, c));
        };
    }

    /** The module names of one layer (without "transformer.h.N." / "model.layers.N.") a target covers. */
    private static List<String> targetModules(GPTConfig cfg, LoRA.Target t) {
        List<String> out = new ArrayList<>();
        for (Part p : parts(cfg, 0, t)) out.add(p.module().substring(p.module().indexOf(".0.") + 3));
        return out;
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    /**
     * Writes the adapter {@code model} trains (LoRA, or its virtual tokens) into {@code dir}, with the values
     * {@code values} gives each parameter (an optimizer's F32 master copy, say); {@code base} is the directory of
     * the base model. HEAD parameters, when the model has any, go in as modules_to_save.
     */
    public static void save(Path dir, GPT model, Function<Param, float[]> values, String base) throws IOException {
        GPTConfig cfg = model.config();
        Method method = Method.of(model.options());
        if (method == Method.FULL) throw new IllegalArgumentException("a full fine-tune is a model directory, not an adapter");
        if (method == Method.PREFIX && cfg.attnWidth() != cfg.nEmbd()) {
            throw new CramjetException("PEFT's prefix tuning sizes each layer's keys and values by token_dim, the hidden size "
                    + cfg.nEmbd() + "; this model's attention is " + cfg.attnWidth() + " wide (heads were pruned), which it cannot express");
        }
        Map<String, Object> conf = new TreeMap<>();           // PEFT writes its config with sorted keys
        conf.put("base_model_name_or_path", base);
        conf.put("revision", null);
        conf.put("inference_mode", true);
        boolean classifier = model.options().classes() > 0;
        conf.put("task_type", classifier ? "SEQ_CLS" : "CAUSAL_LM");
        List<Safetensors.Item> items = new ArrayList<>();
        List<String> heads = new ArrayList<>();
        for (Param p : model.parameterList()) {
            if (p.group() != Parameters.Group.HEAD) continue;
            items.add(new Safetensors.Item(PREFIX + p.name(), longs(p.shape()), values.apply(p)));
            String module = p.name().substring(0, p.name().lastIndexOf('.'));
            if (!heads.contains(module)) heads.add(module);
        }
        conf.put("modules_to_save", heads.isEmpty() ? null : heads);
        switch (method) {
            case LORA -> {
                LoRA.Spec spec = model.options().lora();
                conf.put("peft_type", "LORA");
                conf.put("r", (long) spec.rank());
                conf.put("lora_alpha", spec.alpha() == Math.rint(spec.alpha()) ? (Object) (long) spec.alpha() : (Object) GPTConfig.decimal(spec.alpha()));
                conf.put("lora_dropout", GPTConfig.decimal(spec.dropout()));
                conf.put("use_rslora", spec.rslora());
                List<String> targets = new ArrayList<>();
                for (LoRA.Target t : LoRA.Target.values()) if (spec.targets().contains(t)) targets.addAll(targetModules(cfg, t));
                conf.put("target_modules", targets);
                conf.put("fan_in_fan_out", ModelDir.gpt2Layout(cfg));
                conf.put("bias", "none");
                conf.put("use_dora", false);
                conf.put("init_lora_weights", true);
                conf.put("layers_to_transform", null);
                conf.put("layers_pattern", null);
                conf.put("rank_pattern", Map.of());
                conf.put("alpha_pattern", Map.of());
                for (int l = 0; l < cfg.nLayer(); l++) {
                    for (LoRA.Target t : LoRA.Target.values()) {
                        if (!spec.targets().contains(t)) continue;
                        String ours = "h." + l + "." + t.layer;
                        float[] a = values.apply(model.parameter(ours + ".lora_A.weight"));
                        float[] b = values.apply(model.parameter(ours + ".lora_B.weight"));
                        int in = a.length / spec.rank();
                        for (Part part : parts(cfg, l, t)) {
                            items.add(new Safetensors.Item(PREFIX + part.module() + ".lora_A.weight", new long[] {spec.rank(), in}, a));
                            items.add(new Safetensors.Item(PREFIX + part.module() + ".lora_B.weight", Safetensors.WriteType.F32,
                                    new long[] {part.to() - part.from(), spec.rank()}, b, part.from() * spec.rank()));
                        }
                    }
                }
            }
            case PROMPT, PREFIX -> {
                Prompt.Spec spec = model.options().prompt();
                int n = spec.tokens(), c = cfg.nEmbd(), layers = cfg.nLayer();
                conf.put("peft_type", method == Method.PROMPT ? "PROMPT_TUNING" : "PREFIX_TUNING");
                conf.put("num_virtual_tokens", (long) n);
                conf.put("token_dim", (long) c);
                conf.put("num_transformer_submodules", 1L);
                conf.put("num_attention_heads", (long) cfg.nHead());
                conf.put("num_layers", (long) layers);
                if (method == Method.PROMPT) {
                    conf.put("prompt_tuning_init", "RANDOM");   // how it started does not matter to a trained prompt
                    items.add(new Safetensors.Item("prompt_embeddings", new long[] {n, c}, values.apply(model.parameter("prompt_embeddings"))));
                } else {
                    conf.put("encoder_hidden_size", (long) c);
                    conf.put("prefix_projection", false);
                    float[] kv = new float[n * 2 * layers * c];
                    for (int l = 0; l < layers; l++) {
                        float[] rows = values.apply(model.parameter("h." + l + ".attn.prefix"));   // [n, q | k | v]
                        for (int i = 0; i < n; i++) System.arraycopy(rows, i * 3 * c + c, kv, (i * layers + l) * 2 * c, 2 * c);
                    }
                    items.add(new Safetensors.Item("prompt_embeddings", new long[] {n, 2L * layers * c}, kv));
                }
            }
            case FULL -> throw new AssertionError();
        }
        Files.createDirectories(dir);
        Safetensors.write(dir.resolve(WEIGHTS), Map.of("format", "pt"), items);
        AtomicFile.writeString(dir.resolve(CONFIG), Json.pretty(conf));
    }

    private static long[] longs(int[] shape) {
        long[] l = new long[shape.length];
        for (int i = 0; i < shape.length; i++) l[i] = shape[i];
        return l;
    }

    // ---- reading ---------------------------------------------------------------------------------------------

    /**
     * A base model directory with the adapter in {@code adapter} applied: built for (batch, seq) — seq at least one
     * position past the adapter's virtual tokens — with the adapter's options, base weights and adapter weights.
     */
    public static GPT load(Backend be, Path base, Path adapter, int batch, int seq) throws IOException {
        GPTConfig cfg = ModelDir.readConfig(base);
        Adapter a = readConfig(adapter, cfg);
        if (!a.modulesToSave().isEmpty()) {
            throw new CramjetException(adapter + ": the adapter trains " + a.modulesToSave() + " (a classifier's head); it is loaded with its classifier, not as a language model");
        }
        Model.Options o = Model.Options.INFERENCE;
        o = a.lora() != null ? o.lora(a.lora()) : o.prompt(a.prompt());
        GPT model = new GPT(be, cfg, batch, Math.max(seq, 1 + (a.prompt() == null ? 0 : a.prompt().tokens())), 0, o);
        ModelDir.loadWeights(model, base.resolve(ModelDir.WEIGHTS));
        loadWeights(adapter, model);
        return model;
    }

    /** True when {@code dir} holds a PEFT adapter (its config file). */
    public static boolean isAdapter(Path dir) { return Files.isRegularFile(dir.resolve(CONFIG)); }

    /**
     * Reads {@code dir/adapter_config.json} for a base of configuration {@code cfg}: which method, its shape and
     * targets. What PEFT can express and we cannot (DoRA, trained biases, per-layer ranks or targets, a projected
     * prefix) is refused by name.
     */
    public static Adapter readConfig(Path dir, GPTConfig cfg) throws IOException {
        Path f = dir.resolve(CONFIG);
        if (!Files.isRegularFile(f)) throw new CramjetException(dir + ": no " + CONFIG + " (not a PEFT adapter directory)");
        String where = f.toString();
        Map<String, Object> m = Json.object(Json.parse(Files.readString(f), where), where);
        Object type = m.get("peft_type");
        String base = m.get("base_model_name_or_path") == null ? null : Json.string(m.get("base_model_name_or_path"), where + ": base_model_name_or_path");
        List<String> heads = new ArrayList<>();
        if (m.get("modules_to_save") != null) {
            for (Object o : Json.array(m.get("modules_to_save"), where + ": modules_to_save")) heads.add(Json.string(o, where + ": modules_to_save"));
        }
        if ("LORA".equals(type)) return new Adapter(Method.LORA, loraSpec(m, cfg, where), null, base, heads);
        if ("PROMPT_TUNING".equals(type) || "PREFIX_TUNING".equals(type)) {
            boolean prefix = "PREFIX_TUNING".equals(type);
            int n = (int) positive(m, "num_virtual_tokens", where);
            expect(m, "token_dim", cfg.nEmbd(), where);
            if (m.get("num_layers") != null) expect(m, "num_layers", cfg.nLayer(), where);
            if (m.get("num_attention_heads") != null) expect(m, "num_attention_heads", cfg.nHead(), where);
            if (m.get("num_transformer_submodules") != null) expect(m, "num_transformer_submodules", 1, where);
            if (prefix && Boolean.TRUE.equals(m.get("prefix_projection")) && !Boolean.FALSE.equals(m.get("inference_mode"))) {
                throw new CramjetException(where + ": prefix_projection with inference_mode stores the prefix before its MLP, which we do not have; "
                        + "save it from PEFT with inference_mode false (the projected prefix)");
            }
            return new Adapter(prefix ? Method.PREFIX : Method.PROMPT, null,
                    new Prompt.Spec(prefix ? Prompt.Kind.PREFIX : Prompt.Kind.INPUT, n), base, heads);
        }
        throw new CramjetException(where + ": peft_type " + (type == null ? "is missing" : "'" + type + "' is not supported")
                + " (expected LORA, PROMPT_TUNING or PREFIX_TUNING)");
    }

    private static LoRA.Spec loraSpec(Map<String, Object> m, GPTConfig cfg, String where) {
        int r = (int) positive(m, "r", where);
        double alpha = m.get("lora_alpha") == null ? 8 : Json.number(m.get("lora_alpha"), where + ": lora_alpha");
        double dropout = m.get("lora_dropout") == null ? 0 : Json.number(m.get("lora_dropout"), where + ": lora_dropout");
        refuse(m, "use_dora", true, "DoRA adapters are not supported", where);
        refuse(m, "lora_bias", true, "LoRA biases are not supported", where);
        if (m.get("bias") != null && !"none".equals(m.get("bias"))) throw new CramjetException(where + ": bias '" + m.get("bias") + "' is not supported (expected \"none\")");
        for (String k : List.of("rank_pattern", "alpha_pattern")) {
            if (m.get(k) != null && !Json.object(m.get(k), where + ": " + k).isEmpty()) {
                throw new CramjetException(where + ": " + k + " is not supported (every adapted layer has rank r and lora_alpha)");
            }
        }
        for (String k : List.of("layers_to_transform", "layer_replication", "trainable_token_indices", "target_parameters")) {
            if (m.get(k) != null) throw new CramjetException(where + ": " + k + " is not supported (adapters cover every block)");
        }
        Set<LoRA.Target> targets = EnumSet.noneOf(LoRA.Target.class);
        Object tm = m.get("target_modules"), ex = m.get("exclude_modules");
        if (tm == null) throw new CramjetException(where + ": target_modules is missing");
        for (int l = 0; l < cfg.nLayer(); l++) {
            Set<LoRA.Target> here = EnumSet.noneOf(LoRA.Target.class);
            for (LoRA.Target t : LoRA.Target.values()) {
                List<Part> ps = parts(cfg, l, t);
                int hit = 0;
                for (Part p : ps) if (matches(tm, p.module(), where) && (ex == null || !matches(ex, p.module(), where))) hit++;
                if (hit == ps.size()) here.add(t);
                else if (hit > 0) {
                    throw new CramjetException(where + ": target_modules adapts " + hit + " of " + ps.stream().map(Part::module).toList()
                            + ", which are one fused layer here; adapt all of them or none");
                }
            }
            if (l == 0) targets.addAll(here);
            else if (!here.equals(targets)) throw new CramjetException(where + ": target_modules adapts layer " + l + " differently from layer 0 (not supported)");
        }
        if (targets.isEmpty()) throw new CramjetException(where + ": target_modules " + tm + " matches no layer of this model");
        return new LoRA.Spec(r, (float) alpha, (float) dropout, Boolean.TRUE.equals(m.get("use_rslora")), targets);
    }

    /**
     * PEFT's rule: a list matches a module whose name is an entry or ends with "." + an entry; a string is a
     * regular expression the whole name must match; "all-linear" is every linear layer but the output head.
     */
    private static boolean matches(Object targets, String module, String where) {
        if (targets instanceof String s) {
            if (s.equals("all-linear")) return true;
            try {
                return Pattern.compile(s).matcher(module).matches();
            } catch (PatternSyntaxException e) {
                throw new CramjetException(where + ": target_modules '" + s + "' is not a regular expression: " + e.getDescription());
            }
        }
        for (Object o : Json.array(targets, where + ": target_modules")) {
            String k = Json.string(o, where + ": target_modules");
            if (module.equals(k) || module.endsWith("." + k)) return true;
        }
        return false;
    }

    private static void refuse(Map<String, Object> m, String key, Object value, String why, String where) {
        if (value.equals(m.get(key))) throw new CramjetException(where + ": " + key + " = " + value + ": " + why);
    }

    private static long positive(Map<String, Object> m, String key, String where) {
        if (m.get(key) == null) throw new CramjetException(where + ": " + key + " is missing");
        long v = Json.integer(m.get(key), where + ": " + key);
        if (v < 1) throw new CramjetException(where + ": " + key + " must be positive, got " + v);
        return v;
    }

    private static void expect(Map<String, Object> m, String key, long want, String where) {
        long v = Json.integer(m.get(key), where + ": " + key);
        if (v != want) throw new CramjetException(where + ": " + key + " is " + v + ", the base model has " + want);
    }

    /**
     * Loads the adapter's tensors into {@code model}, built with the adapter's {@link #readConfig} options: every
     * tensor present with its shape, nothing else in the file.
     */
    public static void loadWeights(Path dir, GPT model) throws IOException {
        Path file = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) throw new CramjetException(dir + ": no " + WEIGHTS);
        GPTConfig cfg = model.config();
        Backend be = model.backend();
        try (Safetensors.Reader r = Safetensors.open(file)) {
            Map<String, Safetensors.Entry> left = new LinkedHashMap<>(r.tensors());
            for (Param p : model.parameterList()) {
                if (p.group() == Parameters.Group.HEAD) be.upload(p.value(), take(r, left, PREFIX + p.name(), p.shape(), file));
            }
            Method method = Method.of(model.options());
            int c = cfg.nEmbd(), layers = cfg.nLayer();
            switch (method) {
                case LORA -> {
                    LoRA.Spec spec = model.options().lora();
                    for (int l = 0; l < layers; l++) {
                        for (LoRA.Target t : spec.targets()) {
                            String ours = "h." + l + "." + t.layer;
                            Param pa = model.parameter(ours + ".lora_A.weight"), pb = model.parameter(ours + ".lora_B.weight");
                            float[] a = null, b = new float[(int) pb.size()];
                            for (Part part : parts(cfg, l, t)) {
                                float[] pA = take(r, left, PREFIX + part.module() + ".lora_A.weight", pa.shape(), file);
                                if (a == null) a = pA;
                                else if (!Arrays.equals(a, pA)) {
                                    throw new CramjetException(file + ": " + part.module() + ".lora_A differs from " + parts(cfg, l, t).getFirst().module()
                                            + "'s; here they are one fused layer and need one A");
                                }
                                float[] pB = take(r, left, PREFIX + part.module() + ".lora_B.weight", new int[] {part.to() - part.from(), spec.rank()}, file);
                                System.arraycopy(pB, 0, b, part.from() * spec.rank(), pB.length);
                            }
                            be.upload(pa.value(), a);
                            be.upload(pb.value(), b);
                        }
                    }
                }
                case PROMPT -> {
                    Param p = model.parameter("prompt_embeddings");
                    be.upload(p.value(), take(r, left, "prompt_embeddings", p.shape(), file));
                }
                case PREFIX -> {
                    int n = model.options().prompt().tokens();
                    float[] kv = take(r, left, "prompt_embeddings", new int[] {n, 2 * layers * c}, file);
                    for (int l = 0; l < layers; l++) {
                        float[] rows = new float[n * 3 * c];          // the q third is never read: zero
                        for (int i = 0; i < n; i++) System.arraycopy(kv, (i * layers + l) * 2 * c, rows, i * 3 * c + c, 2 * c);
                        be.upload(model.parameter("h." + l + ".attn.prefix").value(), rows);
                    }
                }
                case FULL -> throw new IllegalArgumentException("a full fine-tune has no adapter");
            }
            if (!left.isEmpty()) {
                List<String> names = new ArrayList<>(left.keySet());
                throw new CramjetException(file + ": unexpected tensor" + (names.size() > 1 ? "s " : " ")
                        + String.join(", ", names.subList(0, Math.min(5, names.size()))) + (names.size() > 5 ? " (and " + (names.size() - 5) + " more)" : "")
                        + " for this adapter config and base model");
            }
        }
    }

    /** Reads a tensor that must be in the file with this shape and a floating-point dtype, and marks it used. */
    private static float[] take(Safetensors.Reader r, Map<String, Safetensors.Entry> left, String name, int[] shape, Path file) {
        Safetensors.Entry e = r.tensors().get(name);
        if (e == null) throw new CramjetException(file + ": tensor '" + name + "' is missing");
        if (!Arrays.equals(e.shape(), longs(shape))) {
            throw new CramjetException(file + ": tensor '" + name + "' has shape " + e.shapeString() + ", expected " + Arrays.toString(shape));
        }
        if (!e.dtype().equals("F32") && !e.dtype().equals("BF16") && !e.dtype().equals("F16")) {
            throw new CramjetException(file + ": tensor '" + name + "' has dtype " + e.dtype() + ", expected F32, BF16 or F16");
        }
        left.remove(name);
        return r.read(name);
    }
}
