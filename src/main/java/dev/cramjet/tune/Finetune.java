package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.eval.Validation;
import dev.cramjet.infer.Generator;
import dev.cramjet.infer.Sampler;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.train.Clock;
import dev.cramjet.train.GptLearner;
import dev.cramjet.train.ModelLearner;
import dev.cramjet.train.Learner;
import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.StopSignals;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.train.TrainData;
import dev.cramjet.train.Trainer;
import dev.cramjet.tune.ChatTemplate.Message;
import dev.cramjet.tune.ChatTemplate.Role;
import dev.cramjet.tune.Examples.Example;
import dev.cramjet.tune.ChatData.Conversation;
import dev.cramjet.tune.ChatData.Preference;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A fine-tuning run: a base model, task data, a {@link Method}, and the {@link Trainer} with everything it gives
 * (budget, schedule, evaluation, early stopping, checkpoints, exact resume, metrics). Two tasks:
 * <ul>
 * <li>{@code sft} — supervised fine-tuning on conversations: the loss is the cross-entropy of the assistant's
 *     replies only (their tokens and closing end-of-text), through the sparse head so the other positions cost
 *     no logits; evaluation is that loss on held-out conversations, and the samples are the model's replies to
 *     held-out prompts;</li>
 * <li>{@code dpo} — {@link Dpo} on preference pairs, starting from the base (usually an SFT model).</li>
 * </ul>
 * The run directory holds config.json ({@code "finetune"}: these settings, {@code "train"}: the trainer's keys),
 * tokenizer.json, chat_template.json, metrics.jsonl, checkpoints/ and, at the end, {@code adapter/} (a PEFT
 * adapter directory) or, for a full fine-tune, {@code model/} (a model directory), each with the tokenizer and the
 * chat template beside the weights.
 */
public final class Finetune {
    private Finetune() {}

    public static final String CONFIG = "config.json";

    /** Tasks by name. */
    public static final List<String> TASKS = List.of("sft", "dpo");

    /**
     * What a fine-tune is told besides the trainer's keys. {@code data} is a JSONL file or a built-in set
     * ({@code builtin}); {@code validation} an optional JSONL file of held-out examples (else 2% of the data, by a
     * hash of each example's source); {@code dropout} the base's residual dropout (null: as the base was trained).
     */
    public record Settings(String task, String base, String tokenizer, String data, String builtin, String validation,
                           Method method, int loraRank, float loraAlpha, float loraDropout, boolean rslora,
                           Set<LoRA.Target> loraTargets, int virtualTokens, String promptInit, double beta,
                           double epochs, Float dropout) {
        public Settings {
            if (!TASKS.contains(task)) throw new CramjetException("--task: expected one of " + TASKS + " here, got '" + task + "'");
            if ((data == null) == (builtin == null)) throw new CramjetException("give exactly one of --data FILE.jsonl or --builtin NAME");
            if (builtin != null && !PoetryTasks.NAMES.contains(builtin)) {
                throw new CramjetException("--builtin: expected one of " + new java.util.TreeSet<>(PoetryTasks.NAMES) + ", got '" + builtin + "'");
            }
            if (task.equals("dpo") && (method == Method.PROMPT || method == Method.PREFIX)) {
                throw new CramjetException("--task dpo trains --train lora or full (its reference is the base, with the adapters off or as a copy)");
            }
            if (!(beta > 0) || !Double.isFinite(beta)) throw new CramjetException("--beta must be a positive number, got " + beta);
            if (!(epochs >= 0) || !Double.isFinite(epochs)) throw new CramjetException("--epochs must be a number ≥ 0, got " + epochs);
            if (virtualTokens < 1) throw new CramjetException("--virtual-tokens must be at least 1, got " + virtualTokens);
            new LoRA.Spec(loraRank, loraAlpha, loraDropout, rslora, loraTargets);      // checks them
            loraTargets = Set.copyOf(loraTargets);
        }

        public LoRA.Spec lora() { return new LoRA.Spec(loraRank, loraAlpha, loraDropout, rslora, loraTargets); }

        Model.Options options() { return method.options(lora(), virtualTokens); }

        int virtual() { return method == Method.PROMPT || method == Method.PREFIX ? virtualTokens : 0; }

        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("task", task);
            m.put("base", base);
            m.put("tokenizer", tokenizer);
            m.put("data", data);
            m.put("builtin", builtin);
            m.put("validation", validation);
            m.put("method", method.key());
            m.put("lora_r", (long) loraRank);
            m.put("lora_alpha", GPTConfig.decimal(loraAlpha));
            m.put("lora_dropout", GPTConfig.decimal(loraDropout));
            m.put("rslora", rslora);
            m.put("lora_targets", loraTargets.stream().sorted().map(Finetune::targetName).toList());
            m.put("virtual_tokens", (long) virtualTokens);
            m.put("prompt_init", promptInit);
            m.put("beta", beta);
            m.put("epochs", epochs);
            m.put("dropout", dropout == null ? null : GPTConfig.decimal(dropout));
            return m;
        }

        static Settings fromJson(Map<String, Object> m, String where) {
            Set<LoRA.Target> targets = EnumSet.noneOf(LoRA.Target.class);
            for (Object o : Json.array(m.get("lora_targets"), where + ".lora_targets")) targets.add(target(Json.string(o, where + ".lora_targets")));
            return new Settings(Json.string(m.get("task"), where + ".task"), Json.string(m.get("base"), where + ".base"),
                    Json.string(m.get("tokenizer"), where + ".tokenizer"), optString(m, "data", where), optString(m, "builtin", where),
                    optString(m, "validation", where), Method.of(Json.string(m.get("method"), where + ".method"), Method.LANGUAGE),
                    (int) Json.integer(m.get("lora_r"), where + ".lora_r"), (float) Json.number(m.get("lora_alpha"), where + ".lora_alpha"),
                    (float) Json.number(m.get("lora_dropout"), where + ".lora_dropout"), Boolean.TRUE.equals(m.get("rslora")), targets,
                    (int) Json.integer(m.get("virtual_tokens"), where + ".virtual_tokens"), optString(m, "prompt_init", where),
                    Json.number(m.get("beta"), where + ".beta"), Json.number(m.get("epochs"), where + ".epochs"),
                    m.get("dropout") == null ? null : (float) Json.number(m.get("dropout"), where + ".dropout"));
        }

        private static String optString(Map<String, Object> m, String k, String where) {
            return m.get(k) == null ? null : Json.string(m.get(k), where + "." + k);
        }
    }

    /** The command-line names of the LoRA targets: qkv, attn-proj, mlp-fc, mlp-proj. */
    public static String targetName(LoRA.Target t) { return t.name().toLowerCase(Locale.ROOT).replace('_', '-'); }

    public static LoRA.Target target(String name) {
        for (LoRA.Target t : LoRA.Target.values()) if (targetName(t).equals(name)) return t;
        throw new CramjetException("LoRA target '" + name + "': expected qkv, attn-proj, mlp-fc or mlp-proj");
    }

    /** How a finished run ended and where its adapter or model is. */
    public record Result(Trainer.Outcome outcome, Path output) {}

    /** The trainer's defaults for a fine-tune, below the user's config file and command line. */
    static Map<String, Object> defaults(Settings s) {
        Map<String, Object> d = new LinkedHashMap<>();
        boolean dpo = s.task().equals("dpo");
        double lr = switch (s.method()) {
            case FULL, HEAD -> 1e-4;
            case LORA -> 1e-3;
            case PROMPT -> 3e-2;
            case PREFIX -> 1e-2;
        };
        d.put("lr", dpo ? lr / 10 : lr);
        d.put("batch", 8L);
        d.put("weight-decay", 0.0);            // what PEFT and TRL train with
        d.put("warmup", 0.03);
        d.put("eval-minutes", 1.0);
        d.put("eval-tokens", 32768L);
        d.put("checkpoint-minutes", 5.0);
        d.put("samples", 3L);
        d.put("sample-tokens", 100L);
        d.put("temperature", 0.7);
        return d;
    }

    /** Keys of the trainer that do not apply to a fine-tune: the model's shape and data come from the base and the task. */
    public static final Set<String> NOT_APPLICABLE = Set.of("data", "model", "layers", "heads", "width", "dropout");

    // ---- the data ---------------------------------------------------------------------------------------------

    /** Task items (one example, or a preference pair) tokenized, truncated, split, with what happened on the way. */
    record Items(List<Example[]> train, List<Example[]> validation, List<List<Message>> prompts, int context,
                 int longest, int truncated, int dropped) {}

    /** A conversation or preference pair as tokens, before truncation, with the source that picks its split. */
    private record Raw(ChatTemplate.Tokens[] parts, List<Message> prompt, String source) {}

    private static List<Raw> raw(Settings s, Tokenizer tok, ChatTemplate template, boolean validationFile) throws IOException {
        List<Raw> out = new ArrayList<>();
        boolean dpo = s.task().equals("dpo");
        if (s.builtin() != null && !validationFile) {
            List<Path> files = PoetryTasks.corpusFiles();
            if (dpo != s.builtin().equals("poetry-preferences")) {
                throw new CramjetException("--builtin " + s.builtin() + " is a " + (dpo ? "conversation" : "preference") + " set; --task " + s.task()
                        + " needs " + (dpo ? "poetry-preferences" : "poetry"));
            }
            if (dpo) for (Preference p : PoetryTasks.preferences(files)) out.add(pair(p, tok, template));
            else for (Conversation c : PoetryTasks.instructions(files)) out.add(conversation(c, tok, template));
            return out;
        }
        Path file = Path.of(validationFile ? s.validation() : s.data());
        if (dpo) for (Preference p : ChatData.preferences(file)) out.add(pair(p, tok, template));
        else for (Conversation c : ChatData.conversations(file)) out.add(conversation(c, tok, template));
        return out;
    }

    private static Raw conversation(Conversation c, Tokenizer tok, ChatTemplate template) {
        List<Message> m = c.messages();
        int last = m.size() - 1;
        while (m.get(last).role() != Role.ASSISTANT) last--;
        return new Raw(new ChatTemplate.Tokens[] {template.encode(tok, m, false)}, m.subList(0, last), c.source());
    }

    private static Raw pair(Preference p, Tokenizer tok, ChatTemplate template) {
        List<Message> chosen = new ArrayList<>(p.prompt()), rejected = new ArrayList<>(p.prompt());
        chosen.add(new Message(Role.ASSISTANT, p.chosen()));
        rejected.add(new Message(Role.ASSISTANT, p.rejected()));
        return new Raw(new ChatTemplate.Tokens[] {template.encode(tok, chosen, false), template.encode(tok, rejected, false)}, p.prompt(), p.source());
    }

    /**
     * Reads and tokenizes the task's data. The context is the trainer's {@code context} when set, else the
     * longest item's length (with the virtual tokens) rounded up to 8 and capped at the model's block size;
     * longer items are cut and counted, and an item with nothing left to score is dropped.
     */
    static Items items(Settings s, Tokenizer tok, ChatTemplate template, int blockSize, int contextKey) throws IOException {
        List<Raw> all = raw(s, tok, template, false);
        List<Raw> held = s.validation() == null ? null : raw(s, tok, template, true);
        int longest = 0;
        for (List<Raw> list : held == null ? List.of(all) : List.of(all, held)) {
            for (Raw r : list) for (ChatTemplate.Tokens t : r.parts()) longest = Math.max(longest, t.ids().length);
        }
        int virtual = s.virtual();
        int context = contextKey > 0 ? contextKey : Math.min(blockSize, (longest + virtual + 7) / 8 * 8);
        if (context > blockSize) throw new CramjetException("context " + context + " exceeds the base model's block size " + blockSize);
        if (context <= virtual + 1) throw new CramjetException("context " + context + " leaves no room after " + virtual + " virtual tokens");
        List<Example[]> train = new ArrayList<>(), val = new ArrayList<>();
        List<List<Message>> prompts = new ArrayList<>();
        int truncated = 0, dropped = 0;
        for (int pass = 0; pass < (held == null ? 1 : 2); pass++) {
            for (Raw r : pass == 0 ? all : held) {
                Example[] item = new Example[r.parts().length];
                boolean ok = true;
                for (int i = 0; i < item.length; i++) {
                    if (r.parts()[i].ids().length > context - virtual) truncated++;
                    item[i] = Examples.of(r.parts()[i], context - virtual);
                    ok &= item[i] != null;
                }
                if (!ok) {
                    dropped++;
                    continue;
                }
                boolean validation = held == null ? Math.floorMod(Hash.mix(r.source().hashCode()), 50L) == 0 : pass == 1;
                (validation ? val : train).add(item);
                if (validation) prompts.add(r.prompt());
            }
        }
        if (held == null && val.isEmpty() && train.size() > 1) {
            val.add(train.removeLast());                         // a small set still gets one held-out item
            prompts.add(all.getLast().prompt());
        }
        if (train.isEmpty()) throw new CramjetException("no training examples left (" + dropped + " had nothing to learn within " + context + " tokens)");
        if (val.isEmpty()) throw new CramjetException("no validation examples: give more data, or held-out examples with --val FILE");
        return new Items(train, val, prompts, context, longest, truncated, dropped);
    }

    // ---- the run ----------------------------------------------------------------------------------------------

    /**
     * Runs a new fine-tune into {@code runDir} (prepared by the caller), or with {@code resume} continues the one
     * there from its newest checkpoint. {@code file} holds the trainer keys of a --config file (empty: none).
     */
    public static Result run(Settings s, Map<String, Object> file, Map<String, String> overrides, Path runDir, boolean resume,
                             Trainer.Listener listener, Consumer<String> log) throws IOException {
        Tokenizer tok = Tokenizer.load(Path.of(s.tokenizer()));
        Path base = Path.of(s.base());
        ChatTemplate template = resume ? ChatTemplate.find(runDir) : ChatTemplate.find(base);
        GPTConfig cfg = ModelDir.readConfig(base);
        if (s.dropout() != null) cfg = cfg.with(Map.of("dropout", (double) s.dropout()), "--dropout");
        Map<String, Object> layered = new LinkedHashMap<>(resume ? Map.of() : defaults(s));
        layered.putAll(file);
        int contextKey = (int) Budgets.context(layered, overrides);
        Items items = items(s, tok, template, cfg.blockSize(), contextKey);
        if (!resume && !Budgets.given(layered, overrides)) {
            TrainConfig probe = TrainConfig.resolve(layered, "finetune", with(overrides, "max-steps", "1"));
            layered.put("max-steps", probe.stepsFor(s.epochs() > 0 ? s.epochs() : 1, items.train().size(), items.context()));
        }
        TrainConfig tc = TrainConfig.resolve(layered, resume ? runDir.resolve(CONFIG).toString() : "finetune", overrides);
        boolean dpo = s.task().equals("dpo");
        int group = dpo ? 2 : 1, rows = tc.batch() * group, context = items.context();
        if (!resume) {
            Map<String, Object> train = new LinkedHashMap<>(tc.toJson());
            NOT_APPLICABLE.forEach(train::remove);
            train.put("context", (long) context);
            Map<String, Object> conf = new LinkedHashMap<>();
            conf.put("finetune", s.toJson());
            conf.put("train", train);
            AtomicFile.writeString(runDir.resolve(CONFIG), Json.pretty(conf));
            tok.save(runDir.resolve(TrainData.TOKENIZER));
            template.save(runDir);
        }
        report(s, items, log);

        try (Backend be = Backends.open(tc.device())) {
            GPT model = new GPT(be, cfg, rows, context, tc.seed(), s.options());
            ModelDir.loadWeights(model, base.resolve(ModelDir.WEIGHTS));
            if (model.virtualTokens() > 0) model.initPrompt(promptIds(s, tok, cfg, tc.seed()));
            var settings = new AdamWOptimizer.Settings((float) tc.beta1(), (float) tc.beta2(), (float) tc.eps(),
                    (float) tc.weightDecay(), (float) tc.clip(), false);
            AdamWOptimizer optimizer = new AdamWOptimizer(be, model.parameters(), settings);
            GptLearner policy = s.method() == Method.FULL ? new GptLearner(model, optimizer)
                    : new GptLearner(model, optimizer, adapterWeights(model, s.base(), tok, template));
            policy.averaging(tc.ema());
            long trained = model.parameters().trainableCount(), all = model.parameterCount(false);
            log.accept(String.format(Locale.ROOT, "model: %s, %d layers, width %d; %s: %,d of %,d parameters trained (%.2f%%); device %s",
                    base, cfg.nLayer(), cfg.nEmbd(), describe(s), trained, all, 100.0 * trained / all, be.describe()));

            Learner learner;
            Supplier<Validation> evaluation;
            Batch valBatch = Examples.batch(tc.batch(), group, context);
            Evaluator.Source val = Examples.validation(items.validation(), group, s.virtual());
            long evalTokens = Math.max(tc.evalTokens(), (long) rows * context);
            if (dpo) {
                GPT reference = null;
                if (s.method() == Method.FULL) {
                    reference = new GPT(be, cfg, rows, context, 0, Model.Options.INFERENCE.sparse());
                    ModelDir.loadWeights(reference, base.resolve(ModelDir.WEIGHTS));
                }
                Dpo d = new Dpo(policy, reference, (float) s.beta());
                learner = d;
                evaluation = () -> d.evaluate(val, valBatch, evalTokens);
            } else {
                learner = policy;
                Evaluator evaluator = new Evaluator(val, valBatch, evalTokens, Evaluator.tokenBytes(tok));
                evaluation = () -> evaluator.run(policy);
            }
            Examples.Training batches = new Examples.Training(items.train(), group, s.virtual(), tc.seed());
            Trainer.Samples samples = samples(model, tok, template, items.prompts(), tc);
            try (MetricsLog metrics = new MetricsLog(runDir.resolve("metrics.jsonl"))) {
                Trainer trainer = new Trainer(tc, context, learner, batches, evaluation, samples, runDir, metrics, Clock.SYSTEM, listener, be.peakFlops());
                if (resume) trainer.resumeLatest();
                StopSignals.install(trainer::requestStop);
                Trainer.Outcome o = trainer.run();
                Path out = runDir.resolve(s.method() == Method.FULL ? "model" : "adapter");
                if (s.method() == Method.FULL) {
                    ModelDir.save(cfg, model.parameterList(), policy.values(), out);     // the average, when one is kept
                    tok.save(out.resolve(TrainData.TOKENIZER));
                    template.save(out);
                } else {
                    adapterWeights(model, s.base(), tok, template).save(out, policy.values());
                }
                return new Result(o, out);
            }
        }
    }

    private static Map<String, String> with(Map<String, String> m, String k, String v) {
        Map<String, String> out = new LinkedHashMap<>(m);
        out.putIfAbsent(k, v);
        return out;
    }

    /** Where a fine-tune's budget and context come from: the command line over the config file and defaults. */
    private static final class Budgets {
        static boolean given(Map<String, Object> file, Map<String, String> overrides) {
            for (String k : List.of("budget", "max-steps", "tokens")) {
                if (overrides.containsKey(k) || file.containsKey(k) || file.containsKey(k.replace('-', '_'))) return true;
            }
            return false;
        }

        static long context(Map<String, Object> file, Map<String, String> overrides) {
            Object v = overrides.containsKey("context") ? overrides.get("context") : file.get("context");
            if (v == null) return 0;
            try {
                long n = v instanceof Number num ? num.longValue() : Long.parseLong(v.toString());
                if (n < 0) throw new NumberFormatException();
                return n;
            } catch (NumberFormatException e) {
                throw new CramjetException("context: expected a whole number of tokens, got '" + v + "'");
            }
        }
    }

    /** A PEFT adapter directory per checkpoint (and at the end), with the tokenizer and chat template beside it. */
    private static ModelLearner.Weights adapterWeights(GPT model, String base, Tokenizer tok, ChatTemplate template) {
        return new ModelLearner.Weights() {
            @Override
            public void save(Path dir, Function<Parameters.Param, float[]> values) throws IOException {
                PeftFiles.save(dir, model, values, base);
                tok.save(dir.resolve(TrainData.TOKENIZER));
                template.save(dir);
            }

            @Override public void load(Path dir) throws IOException { PeftFiles.loadWeights(dir, model); }
        };
    }

    /**
     * The tokens the virtual tokens start as: the prompt-init text's, repeated to length, or real tokens sampled
     * from the vocabulary (PEFT's TEXT and SAMPLE_VOCAB; both train better than noise).
     */
    private static int[] promptIds(Settings s, Tokenizer tok, GPTConfig cfg, long seed) {
        int n = s.virtualTokens();
        int[] ids = new int[n];
        if (s.promptInit() != null && !s.promptInit().isEmpty()) {
            int[] text = tok.encodeOrdinary(s.promptInit());
            if (text.length == 0) throw new CramjetException("--prompt-init encodes to no tokens");
            for (int i = 0; i < n; i++) ids[i] = text[i % text.length];
            return ids;
        }
        Set<Integer> specials = Set.copyOf(tok.specials().values());
        SplittableRandom r = new SplittableRandom(Hash.mix(seed + 0x50524f4dL));
        for (int i = 0; i < n; i++) {
            int id;
            do id = r.nextInt(Math.min(tok.vocabSize(), cfg.vocabSize())); while (specials.contains(id));
            ids[i] = id;
        }
        return ids;
    }

    /** Replies to the first held-out prompts, at the run's temperature, as "prompt → reply". */
    private static Trainer.Samples samples(GPT model, Tokenizer tok, ChatTemplate template, List<List<Message>> prompts, TrainConfig tc) {
        Generator generator = new Generator(model, tok, true);
        List<List<Message>> chosen = prompts.subList(0, Math.min(tc.samples(), prompts.size()));
        return () -> {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < chosen.size(); i++) {
                List<Message> m = chosen.get(i);
                Sampler sampler = new Sampler(new Sampler.Settings(tc.temperature(), 40, 1, 1, tc.seed() + i), tok.vocabSize());
                int[] ids = template.encode(tok, m, true).ids();
                String reply = generator.generate(ids, tc.sampleTokens(), sampler, null).text();
                out.add(m.getLast().content() + "\n→ " + reply);
            }
            return out;
        };
    }

    static String describe(Settings s) {
        return switch (s.method()) {
            case FULL, HEAD -> "full fine-tune";
            case LORA -> String.format(Locale.ROOT, "LoRA r=%d α=%s dropout %s on %s%s", s.loraRank(), plain(s.loraAlpha()),
                    plain(s.loraDropout()), String.join(", ", s.loraTargets().stream().sorted().map(Finetune::targetName).toList()),
                    s.rslora() ? " (rsLoRA)" : "");
            case PROMPT -> "prompt tuning, " + s.virtualTokens() + " virtual tokens";
            case PREFIX -> "prefix tuning, " + s.virtualTokens() + " virtual tokens";
        };
    }

    /** 16 rather than 16.0, 0.05 rather than 0.05000000074505806. */
    private static String plain(float f) { return f == Math.rint(f) ? Long.toString((long) f) : Float.toString(f); }

    private static void report(Settings s, Items it, Consumer<String> log) {
        long positions = 0, real = 0;
        for (Example[] item : it.train()) {
            for (Example e : item) {
                positions += it.context();
                real += e.length() + s.virtual();
            }
        }
        String what = s.builtin() != null ? "built-in " + s.builtin() : s.data();
        log.accept(String.format(Locale.ROOT, "data: %s, %,d %s for training and %,d held out%s; context %d (longest %d tokens); %d truncated, %d dropped; padding %.0f%% of positions",
                what, it.train().size(), s.task().equals("dpo") ? "pairs" : "conversations", it.validation().size(),
                s.validation() != null ? " (" + s.validation() + ")" : "", it.context(), it.longest(), it.truncated(), it.dropped(),
                100.0 * (positions - real) / positions));
    }

    /** Reads a fine-tune run's config.json: its settings and the trainer's keys. */
    public static Map.Entry<Settings, Map<String, Object>> readConfig(Path runDir) throws IOException {
        Path f = runDir.resolve(CONFIG);
        if (!Files.isRegularFile(f)) throw new CramjetException(runDir + ": not a run directory (no " + CONFIG + ")");
        Map<String, Object> m = Json.object(Json.parse(Files.readString(f), f.toString()), f.toString());
        if (!m.containsKey("finetune")) throw new CramjetException(f + ": not a fine-tune run (no \"finetune\" settings); continue it with cramjet train --resume");
        return Map.entry(Settings.fromJson(Json.object(m.get("finetune"), f + ": finetune"), f + ": finetune"),
                Json.object(m.get("train"), f + ": train"));
    }
}
