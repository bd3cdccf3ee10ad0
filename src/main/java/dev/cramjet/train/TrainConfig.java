package dev.cramjet.train;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.io.TextFile;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.GPTConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Everything a training run is told. Values come, later ones winning, from the key defaults, the preset, a JSON
 * config file and command-line overrides ({@code --lr 3e-4}). Keys are spelled with dashes ({@code max-steps});
 * underscores are accepted in files. An unknown key or an impossible value is an error that names the key, where it
 * came from and what was expected. {@link #toJson()} is what the run directory's config.json holds.
 */
public final class TrainConfig {
    enum Type { STRING, INT, COUNT, NUMBER, FRACTION, DURATION }

    record Key(String name, Type type, Object fallback, String doc) {}

    /** Every key, in the order config.json and --help list them. Defaults here are the "small" preset's. */
    static final List<Key> KEYS = List.of(
            new Key("data", Type.STRING, "", "prepared data directory (from cramjet prepare)"),
            new Key("model", Type.STRING, "small", "model preset: micro, tiny, small, gpt2-124m, gpt2-medium (GPTs); bert-tiny, crammed-tiny, crammed-small, bert-base, crammed-bert (encoders)"),
            new Key("objective", Type.STRING, "lm", "lm (next token, GPTs) or mlm (masked tokens, encoders; the encoder presets set it)"),
            new Key("mask-rate", Type.FRACTION, 0.15, "mlm: the share of positions masked (BERT 15%, Cramming 25%)"),
            new Key("layers", Type.INT, 0L, "transformer blocks (0 = the preset's)"),
            new Key("heads", Type.INT, 0L, "attention heads (0 = the preset's)"),
            new Key("width", Type.INT, 0L, "model width d_model (0 = the preset's)"),
            new Key("context", Type.INT, 0L, "sequence length in tokens (0 = the preset's)"),
            new Key("dropout", Type.FRACTION, 0.0, "dropout probability"),
            new Key("batch", Type.INT, 16L, "micro-batch size in sequences"),
            new Key("tokens-per-step", Type.COUNT, 0L, "tokens per optimizer step, reached by gradient accumulation (0 = one micro-batch)"),
            new Key("batch-ramp", Type.FRACTION, 0.0, "fraction of the budget over which tokens-per-step ramps up from one micro-batch (0 = off)"),
            new Key("schedule", Type.STRING, "cosine", "learning-rate schedule: cosine, linear, wsd, one-cycle, triangle (Cramming's)"),
            new Key("lr", Type.NUMBER, 1e-3, "peak learning rate"),
            new Key("min-lr-ratio", Type.FRACTION, 0.1, "final learning rate as a fraction of the peak"),
            new Key("warmup", Type.FRACTION, 0.02, "warm-up as a fraction of the budget (one-cycle, triangle: the rise)"),
            new Key("decay", Type.FRACTION, 0.2, "wsd: the final fraction of the budget spent decaying"),
            new Key("weight-decay", Type.NUMBER, 0.1, "AdamW decoupled weight decay"),
            new Key("beta1", Type.FRACTION, 0.9, "AdamW beta1"),
            new Key("beta2", Type.FRACTION, 0.95, "AdamW beta2"),
            new Key("eps", Type.NUMBER, 1e-8, "AdamW epsilon"),
            new Key("clip", Type.NUMBER, 1.0, "clip the global gradient norm to this (0 = off)"),
            new Key("ema", Type.FRACTION, 0.0, "keep an exponential moving average of the trained weights with this decay, e.g. 0.99; evaluations, checkpoints' models and the best model are the average (0 = off)"),
            new Key("seed", Type.COUNT, 1337L, "seed for initialisation, data order and dropout"),
            new Key("budget", Type.DURATION, 0.0, "wall-clock budget, e.g. 10m, 6h, 24h"),
            new Key("max-steps", Type.COUNT, 0L, "stop after this many optimizer steps"),
            new Key("tokens", Type.COUNT, 0L, "stop after this many training tokens, e.g. 50M"),
            new Key("eval-every", Type.COUNT, 0L, "evaluate every N steps (0 = off)"),
            new Key("eval-minutes", Type.NUMBER, 2.0, "evaluate every N minutes (0 = off)"),
            new Key("eval-tokens", Type.COUNT, 65536L, "validation tokens per evaluation"),
            new Key("patience", Type.COUNT, 0L, "stop after N evaluations without improvement (0 = never)"),
            new Key("checkpoint-minutes", Type.NUMBER, 10.0, "save a checkpoint every N minutes (0 = off)"),
            new Key("checkpoint-every", Type.COUNT, 0L, "save a checkpoint every N steps (0 = off)"),
            new Key("keep", Type.COUNT, 3L, "checkpoints to keep (the best is kept as well)"),
            new Key("samples", Type.COUNT, 3L, "samples generated at each evaluation"),
            new Key("sample-tokens", Type.COUNT, 64L, "tokens per sample"),
            new Key("temperature", Type.NUMBER, 0.8, "sampling temperature for samples"),
            new Key("log-every", Type.COUNT, 1L, "write a metrics line every N steps"),
            new Key("max-bad-steps", Type.COUNT, 3L, "non-finite steps in a row before rolling back to the last checkpoint"),
            new Key("device", Type.STRING, "cpu", "where to train: cpu or cuda"),
            new Key("zero", Type.INT, 0L, "data parallel: 1 shards AdamW's state (and fp32 master weights) across the ranks (ZeRO-1), 0 replicates it"),
            new Key("dist-timeout", Type.NUMBER, 300.0, "data parallel: seconds a rank waits in a collective before it stops, naming the rank that is behind")
    );

    /**
     * Cramming's training recipe for the encoder presets: masked-language modelling at 25%, the budget triangle to
     * zero, AdamW with β₂ 0.98, ε 1e-12, weight decay 0.01, clipping at 0.5, dropout off.
     */
    private static final Map<String, Object> CRAMMING = Map.of("objective", "mlm", "mask-rate", 0.25, "schedule", "triangle",
            "warmup", 0.75, "min-lr-ratio", 0.0, "beta2", 0.98, "eps", 1e-12, "weight-decay", 0.01, "clip", 0.5);

    private static Map<String, Object> recipe(Map<String, Object> base, Map<String, Object> settings) {
        Map<String, Object> m = new LinkedHashMap<>(base);
        m.putAll(settings);
        return Map.copyOf(m);
    }

    /** Training settings per model preset, over the key defaults (the model dimensions live with the model). */
    static final Map<String, Map<String, Object>> PRESETS = Map.of(
            "micro", Map.of("batch", 8L, "lr", 3e-3, "eval-tokens", 4096L),
            "tiny", Map.of("batch", 8L, "lr", 2e-3, "eval-tokens", 16384L),
            "small", Map.of(),
            "gpt2-124m", Map.of("batch", 16L, "tokens-per-step", 524288L, "lr", 6e-4, "eval-minutes", 10.0, "eval-tokens", 1048576L),
            "gpt2-medium", Map.of("batch", 8L, "tokens-per-step", 524288L, "lr", 3e-4, "eval-minutes", 15.0, "eval-tokens", 1048576L),
            "bert-tiny", recipe(CRAMMING, Map.of("mask-rate", 0.15, "batch", 32L, "eval-tokens", 32768L, "dropout", 0.1)),
            "crammed-tiny", recipe(CRAMMING, Map.of("batch", 32L, "eval-tokens", 32768L)),
            "crammed-small", recipe(CRAMMING, Map.of("batch", 32L, "eval-tokens", 32768L)),
            // BERT's own recipe: 15% masking, warm-up then linear decay, 256 × 512 tokens per step, dropout 0.1.
            "bert-base", recipe(Map.of("objective", "mlm", "batch", 8L, "tokens-per-step", 131072L, "lr", 1e-4, "schedule", "linear",
                    "warmup", 0.01, "min-lr-ratio", 0.0, "weight-decay", 0.01, "beta2", 0.999, "eval-tokens", 1048576L),
                    Map.of("dropout", 0.1)),
            // Cramming's final batch of 1536 sequences of 128, reached by a ramp over the first half of the budget.
            "crammed-bert", recipe(CRAMMING, Map.of("batch", 128L, "tokens-per-step", 196608L, "batch-ramp", 0.5,
                    "eval-minutes", 10.0, "eval-tokens", 1048576L)));

    private final Map<String, Object> values;

    private TrainConfig(Map<String, Object> values) { this.values = values; }

    /**
     * Resolves a config: key defaults, then the preset named by {@code model} (from the overrides, else the file,
     * else the default), then {@code file} (may be empty; {@code fileName} names it in errors), then
     * {@code overrides} (strings from the command line).
     */
    public static TrainConfig resolve(Map<String, Object> file, String fileName, Map<String, String> overrides) {
        Map<String, Object> v = new LinkedHashMap<>();
        for (Key k : KEYS) v.put(k.name, k.fallback);
        Map<String, Object> fromFile = new LinkedHashMap<>();
        file.forEach((key, value) -> {
            Key k = key(key, fileName);
            fromFile.put(k.name, convert(k, value, fileName));
        });
        Map<String, Object> fromArgs = new LinkedHashMap<>();
        overrides.forEach((key, value) -> {
            Key k = key(key, "the command line");
            fromArgs.put(k.name, convert(k, value, "the command line"));
        });
        String model = (String) fromArgs.getOrDefault("model", fromFile.getOrDefault("model", v.get("model")));
        Map<String, Object> preset = PRESETS.get(model);
        if (preset == null) {
            throw new CramjetException("model: unknown preset '" + model + "'; expected one of " + new TreeMap<>(PRESETS).keySet());
        }
        v.putAll(preset);
        v.putAll(fromFile);
        v.putAll(fromArgs);
        TrainConfig c = new TrainConfig(v);
        c.validate();
        return c;
    }

    /** Reads a JSON config file and resolves it with overrides; every error names the file. */
    public static TrainConfig load(Path file, Map<String, String> overrides) {
        if (!Files.exists(file)) throw new CramjetException(file + ": config file not found");
        Map<String, Object> m = Json.object(Json.parse(TextFile.read(file, "config file"), file.toString()), file.toString());
        try {
            return resolve(m, file.toString(), overrides);
        } catch (CramjetException e) {
            if (e.getMessage().contains(file.toString())) throw e;
            // A check across keys ("heads do not divide width") knows the keys, not where their values came from.
            throw new CramjetException(file + (overrides.isEmpty() ? "" : " with the command line's keys") + ": " + e.getMessage(), e);
        }
    }

    /** True when {@code name} (either spelling) is a config key. */
    public static boolean isKey(String name) {
        String n = name.replace('_', '-');
        return KEYS.stream().anyMatch(k -> k.name.equals(n));
    }

    private static Key key(String name, String source) {
        String n = name.replace('_', '-');
        for (Key k : KEYS) if (k.name.equals(n)) return k;
        StringBuilder near = new StringBuilder();
        for (Key k : KEYS) if (editDistance(k.name, n) <= 2) near.append(near.isEmpty() ? "; did you mean " : " or ").append(k.name);
        throw new CramjetException(source + ": unknown config key '" + name + "'" + near + " (cramjet train --help lists them)");
    }

    private static Object convert(Key k, Object value, String source) {
        String where = source + ": key '" + k.name + "'";
        try {
            return switch (k.type) {
                case STRING -> {
                    if (value instanceof String s) yield s;
                    throw new CramjetException(where + " expects a string, got " + Json.kind(value));
                }
                case INT, COUNT -> {
                    long n = switch (value) {
                        case Long l -> l;
                        case Double d when d == Math.rint(d) && Math.abs(d) < 0x1p63 -> d.longValue();
                        case String s -> Budget.parseCount(s, where);
                        case null, default -> throw new CramjetException(where + " expects a whole number, got " + describe(value));
                    };
                    if (n < 0) throw new CramjetException(where + " must not be negative, got " + n);
                    if (k.type == Type.INT && n > Integer.MAX_VALUE) throw new CramjetException(where + " is too large: " + n);
                    yield n;
                }
                case NUMBER, FRACTION -> {
                    double d = switch (value) {
                        case Number n -> n.doubleValue();
                        case String s -> Double.parseDouble(s);
                        case null, default -> throw new CramjetException(where + " expects a number, got " + describe(value));
                    };
                    if (!Double.isFinite(d) || d < 0) throw new CramjetException(where + " must be a finite number >= 0, got " + d);
                    if (k.type == Type.FRACTION && d > 1) throw new CramjetException(where + " must be a fraction in [0, 1], got " + d);
                    yield d;
                }
                case DURATION -> switch (value) {
                    case null -> 0.0; // none (how config.json records a run without a time budget)
                    case Number n when n.doubleValue() > 0 -> n.doubleValue();
                    case String s -> Budget.parseDuration(s, where);
                    default -> throw new CramjetException(where + " expects a positive duration like 10m or 6h, got " + describe(value));
                };
            };
        } catch (NumberFormatException e) {
            throw new CramjetException(where + " expects a number, got '" + value + "'");
        }
    }

    private static String describe(Object v) {
        return v instanceof String s ? "'" + s + "'" : Json.kind(v);
    }

    private void validate() {
        if (num("lr") <= 0) throw new CramjetException("lr: the learning rate must be positive");
        if (integer("batch") < 1) throw new CramjetException("batch: must be at least 1");
        if (count("keep") < 1) throw new CramjetException("keep: must keep at least 1 checkpoint");
        if (count("log-every") < 1) throw new CramjetException("log-every: must be at least 1");
        if (count("max-bad-steps") < 1) throw new CramjetException("max-bad-steps: must be at least 1");
        if (count("zero") > 1) throw new CramjetException("zero: 0 (replicated optimizer state) or 1 (ZeRO-1, sharded), got " + count("zero"));
        if (num("dist-timeout") <= 0) throw new CramjetException("dist-timeout: must be a positive number of seconds");
        if (num("eps") <= 0) throw new CramjetException("eps: must be positive");
        if (num("ema") >= 1) throw new CramjetException("ema: the decay must be below 1 (0 = off, 0.99 = the last ~100 steps), got " + num("ema"));
        if (num("warmup") >= 1) throw new CramjetException("warmup: must be below 1 (a fraction of the budget)");
        if (heads() > 0 && width() > 0 && width() % heads() != 0) {
            throw new CramjetException("heads: " + heads() + " heads do not divide width " + width()
                    + " (the head size width/heads must be a whole number)");
        }
        if (schedule().equals("wsd") && warmup() + decay() > 1) {
            throw new CramjetException("decay: warmup + decay must not exceed 1, got " + warmup() + " + " + decay());
        }
        if (!objective().equals("lm") && !objective().equals("mlm")) {
            throw new CramjetException("objective: expected lm or mlm, got '" + objective() + "'");
        }
        if (mlm() != EncoderConfig.isPreset(model())) {
            throw new CramjetException("objective: " + objective() + " needs " + (mlm() ? "an encoder" : "a GPT") + " preset, and "
                    + model() + " is " + (mlm() ? "a GPT" : "an encoder") + " (encoders: " + String.join(", ", EncoderConfig.PRESETS) + ")");
        }
        schedule(1.0); // checks the schedule's name and fractions
        budget();      // checks that some budget is set
    }

    // ---- typed access --------------------------------------------------------------------------------------

    private String str(String k) { return (String) values.get(k); }
    private long count(String k) { return (Long) values.get(k); }
    private int integer(String k) { return (int) count(k); }
    private double num(String k) { return ((Number) values.get(k)).doubleValue(); }

    public String data() { return str("data"); }
    public String model() { return str("model"); }
    public String objective() { return str("objective"); }
    /** Masked-language modelling: the model is an encoder. */
    public boolean mlm() { return objective().equals("mlm"); }
    public double maskRate() { return num("mask-rate"); }
    public int layers() { return integer("layers"); }
    public int heads() { return integer("heads"); }
    public int width() { return integer("width"); }
    public int context() { return integer("context"); }
    public double dropout() { return num("dropout"); }
    public int batch() { return integer("batch"); }
    public long tokensPerStep() { return count("tokens-per-step"); }
    public double batchRamp() { return num("batch-ramp"); }
    public String schedule() { return str("schedule"); }
    public double lr() { return num("lr"); }
    public double minLrRatio() { return num("min-lr-ratio"); }
    public double warmup() { return num("warmup"); }
    public double decay() { return num("decay"); }
    public double weightDecay() { return num("weight-decay"); }
    public double beta1() { return num("beta1"); }
    public double beta2() { return num("beta2"); }
    public double eps() { return num("eps"); }
    public double clip() { return num("clip"); }
    /** The decay of the weights' moving average; 0 when none is kept. */
    public double ema() { return num("ema"); }
    public long seed() { return count("seed"); }
    public long evalEvery() { return count("eval-every"); }
    public double evalMinutes() { return num("eval-minutes"); }
    public long evalTokens() { return count("eval-tokens"); }
    public int patience() { return (int) count("patience"); }
    public double checkpointMinutes() { return num("checkpoint-minutes"); }
    public long checkpointEvery() { return count("checkpoint-every"); }
    public int keep() { return (int) count("keep"); }
    public int samples() { return (int) count("samples"); }
    public int sampleTokens() { return (int) count("sample-tokens"); }
    public double temperature() { return num("temperature"); }
    public long logEvery() { return count("log-every"); }
    public int maxBadSteps() { return (int) count("max-bad-steps"); }
    public String device() { return str("device"); }
    public boolean zero() { return count("zero") == 1; }
    public double distTimeout() { return num("dist-timeout"); }

    public Budget budget() { return new Budget(num("budget"), count("max-steps"), count("tokens")); }

    /** The schedule with the peak learning rate scaled by {@code lrScale} (rollbacks lower it). */
    public Schedule schedule(double lrScale) {
        double peak = lr() * lrScale;
        return Schedule.of(schedule(), peak, peak * minLrRatio(), warmup(), decay());
    }

    /**
     * Micro-batches accumulated per step to reach tokens-per-step with micro-batches of batch × context tokens
     * (rounded up, at least one), ramped when batch-ramp is set.
     */
    public BatchRamp accumulation(int context) { return accumulation(context, 1); }

    /**
     * Micro-batches each of {@code ranks} data-parallel ranks accumulates per step: tokens-per-step is the whole
     * step's, shared by the ranks (rounded up, at least one each).
     */
    public BatchRamp accumulation(int context, int ranks) {
        long micro = (long) batch() * context * ranks;
        int target = (int) Math.max(1, (tokensPerStep() + micro - 1) / micro);
        return new BatchRamp(target, batchRamp());
    }

    /**
     * Optimizer steps for {@code epochs} passes over {@code examples} sequences (a fine-tune's budget when none is
     * given): batch × accumulation sequences a step, rounded up, at least one.
     */
    public long stepsFor(double epochs, long examples, int context) {
        long perStep = (long) batch() * accumulation(context).target();
        return Math.max(1, (long) Math.ceil(epochs * examples / (double) perStep));
    }

    /** The model shape: the preset's, with the config's overrides and the tokenizer's vocabulary. */
    public GPTConfig modelConfig(int vocab) { return GPTConfig.preset(model()).with(shapeChanges(vocab), "model " + model()); }

    /** The encoder shape (objective mlm): the preset's, with the config's overrides and the tokenizer's vocabulary. */
    public EncoderConfig encoderConfig(int vocab) {
        return EncoderConfig.preset(model()).with(shapeChanges(vocab), "model " + model());
    }

    private Map<String, Object> shapeChanges(int vocab) {
        Map<String, Object> changes = new LinkedHashMap<>();
        changes.put("vocab_size", (long) vocab);
        if (layers() > 0) changes.put("n_layer", (long) layers());
        if (heads() > 0) changes.put("n_head", (long) heads());
        if (width() > 0) changes.put("n_embd", (long) width());
        if (context() > 0) changes.put("block_size", (long) context());
        changes.put("dropout", dropout());
        return changes;
    }

    /** The resolved config with every key, for config.json (durations in seconds, null for none). */
    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>(values);
        for (Key k : KEYS) if (k.type == Type.DURATION && ((Double) m.get(k.name)) == 0) m.put(k.name, null);
        return m;
    }

    /** `--help` text: each key with its default and meaning. */
    public static String keysHelp() {
        StringBuilder sb = new StringBuilder();
        for (Key k : KEYS) {
            Object d = k.fallback;
            String shown = k.type == Type.DURATION ? "none" : d instanceof String s && s.isEmpty() ? "-" : String.valueOf(d);
            sb.append(String.format(Locale.ROOT, "  --%-19s %s (default %s)%n", k.name, k.doc, shown));
        }
        return sb.toString();
    }

    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev; prev = cur; cur = t;
        }
        return prev[b.length()];
    }
}
