package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Head;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.report.RunProgress;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.train.Checkpoints;
import dev.cramjet.train.Clock;
import dev.cramjet.train.EncoderLearner;
import dev.cramjet.train.GptLearner;
import dev.cramjet.train.Learner;
import dev.cramjet.train.ModelLearner;
import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.StopSignals;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code cramjet finetune --task classify}: a pretrained model — a GPT, or an encoder pretrained by masked-language
 * modelling — becomes a classifier. The base model's weights are
 * loaded under a new pooled head, the groups asked for are trained ({@code all}: the whole model; {@code head}:
 * only the head, with no gradient memory or backward pass below it; {@code lora}: low-rank adapters and the
 * head), by the same {@link Trainer} as pretraining — budget, schedule, evaluation with early stopping on the
 * monitored validation metric, atomic checkpoints (each a classifier directory), exact resume, metrics.jsonl and
 * the report. At the end the best checkpoint is scored on the test split: {@value #TEST_METRICS}.
 *
 * <p>The run directory holds {@code config.json} (the training keys), {@value #SETTINGS} (what this file's
 * {@link Settings} say), {@code tokenizer.json}, {@code task/} (the split), {@code metrics.jsonl},
 * {@code checkpoints/}, {@code report.html}.
 */
public final class Classification {
    public static final String SETTINGS = "finetune.json", TEST_METRICS = "test_metrics.json", TASK = "task";

    /** The task-specific choices, saved as finetune.json so a resume rebuilds the same model. */
    public record Settings(Path base, Method train, Head.Pooling pooling, Classifier.Truncation truncation,
                           Evaluation.Monitor monitor, boolean balanced, int loraRank, double loraAlpha) {
        public Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("task", "classify");
            m.put("base", base.toString());
            m.put("train", train.name().toLowerCase(Locale.ROOT));
            m.put("pooling", pooling.name().toLowerCase(Locale.ROOT));
            m.put("truncation", truncation.cliName());
            m.put("monitor", monitor.cliName());
            m.put("class_weights", balanced ? "balanced" : "none");
            m.put("lora_rank", (long) loraRank);
            m.put("lora_alpha", loraAlpha);
            return m;
        }

        public static Settings read(Path runDir) throws IOException {
            Path f = runDir.resolve(SETTINGS);
            if (!Files.isRegularFile(f)) throw new CramjetException(runDir + ": no " + SETTINGS + " (not a fine-tuning run)");
            String w = f.toString();
            Map<String, Object> m = Json.object(Json.parse(Files.readString(f), w), w);
            return new Settings(Path.of(Json.string(m.get("base"), w + ": base")), Method.of(Json.string(m.get("train"), w + ": train"), Method.CLASSIFIER),
                    Classifier.pooling(Json.string(m.get("pooling"), w + ": pooling")),
                    Classifier.Truncation.parse(Json.string(m.get("truncation"), w + ": truncation")),
                    Evaluation.Monitor.parse(Json.string(m.get("monitor"), w + ": monitor")),
                    "balanced".equals(m.get("class_weights")), (int) Json.integer(m.get("lora_rank"), w + ": lora_rank"),
                    Json.number(m.get("lora_alpha"), w + ": lora_alpha"));
        }

        LoRA.Spec lora() {
            return train != Method.LORA ? null : new LoRA.Spec(loraRank, (float) loraAlpha, EnumSet.allOf(LoRA.Target.class));
        }
    }

    /** What a finished run reports: how training ended and the best checkpoint's test scores. */
    /** {@code adapter}: the best checkpoint's LoRA and head as a PEFT adapter directory (null unless --train lora on a GPT base). */
    public record Result(Trainer.Outcome outcome, Checkpoints.Saved best, Evaluation test, int truncated, int examples, Path adapter) {}

    /** Where a LoRA classifier's PEFT adapter goes in the run directory. */
    public static final String ADAPTER = "adapter";

    private Classification() {}

    /** The context a run uses: the config's, else the model's block size, checked against the latter. */
    static int context(TrainConfig cfg, int blockSize) {
        int t = cfg.context() > 0 ? cfg.context() : blockSize;
        if (t > blockSize) throw new CramjetException("context: " + t + " exceeds the base model's block size " + blockSize);
        return t;
    }

    /**
     * Fine-tunes: a new run in {@code runDir} (config.json, finetune.json and task/ already written), or, with
     * {@code resume}, the continuation of the one there.
     */
    public static Result run(TrainConfig cfg, Settings s, Path runDir, boolean resume, ProgressLine progress) throws IOException {
        TaskData task = TaskData.read(runDir.resolve(TASK));
        Path base = s.base();
        Tokenizer tokenizer = Tokenizer.load(resume ? runDir.resolve(Classifier.TOKENIZER) : tokenizerOf(base));
        if (!resume) tokenizer.save(runDir.resolve(Classifier.TOKENIZER));
        boolean encoder = EncoderDir.isEncoder(base);
        Map<String, Object> dropout = Map.of("dropout", cfg.dropout());
        EncoderConfig ec = encoder ? EncoderDir.readConfig(base).with(dropout, "--dropout") : null;
        GPTConfig mc = encoder ? null : ModelDir.readConfig(base).with(dropout, "--dropout");
        int context = context(cfg, encoder ? ec.blockSize() : mc.blockSize());
        Classifier.Spec spec = new Classifier.Spec(task.labels, s.pooling(), s.truncation(), context, s.lora());
        Encoded train = encode(task, task.train(), tokenizer, spec, "train"), val = encode(task, task.val(), tokenizer, spec, "val"),
                test = encode(task, task.test(), tokenizer, spec, "test");
        int truncated = train.truncated + val.truncated + test.truncated, examples = train.labels.length + val.labels.length + test.labels.length;
        progress.log(String.format(Locale.ROOT, "task: %d labels %s; %,d train, %,d validation, %,d test examples; %,d of %,d truncated to %d tokens (%s)",
                task.labels.size(), task.labels, train.labels.length, val.labels.length, test.labels.length, truncated, examples, context,
                s.truncation().cliName()));
        if (val.labels.length == 0) throw new CramjetException(runDir.resolve(TASK) + ": the validation split is empty; raise --val-fraction");

        try (Backend be = Backends.open(cfg.device())) {
            Model.Options options = Model.Options.TRAIN.lora(s.lora()).classify(task.labels.size(), s.pooling()).training(s.train().classifierGroups().toArray(Group[]::new));
            var settings = new AdamWOptimizer.Settings((float) cfg.beta1(), (float) cfg.beta2(), (float) cfg.eps(),
                    (float) cfg.weightDecay(), (float) cfg.clip(), false);
            Model model;
            ModelLearner own;
            if (encoder) {
                Encoder e = new Encoder(be, ec, cfg.batch(), context, cfg.seed(), options);
                if (!resume) EncoderDir.loadWeights(e, base.resolve(ModelDir.WEIGHTS));
                own = new EncoderLearner(e, new AdamWOptimizer(be, e.parameters(), settings), 0).averaging(cfg.ema());   // no token decoder
                model = e;
            } else {
                GPT g = new GPT(be, mc, cfg.batch(), context, cfg.seed(), options);
                if (!resume) ModelDir.loadWeights(g, base.resolve(ModelDir.WEIGHTS));
                own = new GptLearner(g, new AdamWOptimizer(be, g.parameters(), settings)).averaging(cfg.ema());
                model = g;
            }
            Learner learner = new ClassifierLearner(own, spec, tokenizer);
            Classifier classifier = new Classifier(model, tokenizer, spec);
            progress.log(String.format(Locale.ROOT, "model: %s, %s of %d layers, width %d, context %d: %.2fM parameters, %.2fM trained (%s), pooling %s",
                    base, encoder ? "an encoder" : "a GPT", encoder ? ec.nLayer() : mc.nLayer(), model.width(), context,
                    model.parameterCount() / 1e6, model.parameters().trainableCount() / 1e6,
                    s.train().key(), s.pooling().name().toLowerCase(Locale.ROOT)));
            double[] weights = s.balanced() ? ClassBatches.balanced(train.labels, task.labels.size()) : null;
            ClassBatches batches = new ClassBatches(train.seqs, train.labels, task.labels.size(), weights, cfg.seed());
            RunProgress listener = new RunProgress(progress, runDir);
            try (MetricsLog metrics = new MetricsLog(runDir.resolve("metrics.jsonl"))) {
                Trainer trainer = new Trainer(cfg, context, learner, batches,
                        () -> Evaluation.run(classifier, val.seqs, val.labels, s.monitor()), List::of, runDir, metrics,
                        Clock.SYSTEM, listener, be.peakFlops());
                if (resume) trainer.resumeLatest();
                StopSignals.install(trainer::requestStop);
                Trainer.Outcome o = trainer.run();
                progress.finish();
                Checkpoints.Saved best = trainer.checkpoints().best(progress::log).orElseThrow();
                learner.load(best.dir());
                learner.useAverage(true);           // the best checkpoint's model: its average, when one is kept
                Evaluation scored = test.labels.length == 0 ? null : Evaluation.run(classifier, test.seqs, test.labels, s.monitor());
                if (scored != null) {
                    Map<String, Object> out = new LinkedHashMap<>();
                    out.put("checkpoint", runDir.relativize(best.dir()).toString());
                    out.put("step", best.step());
                    out.putAll(scored.toJson());
                    AtomicFile.writeString(runDir.resolve(TEST_METRICS), Json.pretty(out));
                }
                Path adapter = null;
                if (s.train() == Method.LORA && model instanceof GPT g) {
                    // PEFT's form of the same classifier: LoRA plus the head as modules_to_save (task SEQ_CLS). PEFT
                    // files name GPT-2/Llama modules; an encoder's LoRA classifier is its checkpoint alone.
                    adapter = runDir.resolve(ADAPTER);
                    PeftFiles.save(adapter, g, own.values(), base.toAbsolutePath().normalize().toString());
                }
                listener.refresh();
                return new Result(o, best, scored, truncated, examples, adapter);
            }
        }
    }

    /** A base model's tokenizer: beside its weights, or in the run directory above a checkpoint. */
    static Path tokenizerOf(Path base) {
        for (Path p : new Path[] {base.resolve(Classifier.TOKENIZER), base.getParent() == null ? null : base.getParent().resolve(Classifier.TOKENIZER),
                base.getParent() == null || base.getParent().getParent() == null ? null : base.getParent().getParent().resolve(Classifier.TOKENIZER)}) {
            if (p != null && Files.isRegularFile(p)) return p;
        }
        throw new CramjetException(base + ": no " + Classifier.TOKENIZER + " beside the model or in its run directory");
    }

    /** A split as token sequences and class ids. */
    record Encoded(int[][] seqs, int[] labels, int truncated) {}

    static Encoded encode(TaskData task, List<Example> examples, Tokenizer tokenizer, Classifier.Spec spec, String split) {
        Classifier.Encoded e = Classifier.encode(tokenizer, examples.stream().map(Example::text).toList(), spec.context(), spec.truncation());
        int[] labels = new int[examples.size()];
        for (int i = 0; i < labels.length; i++) labels[i] = task.classOf(examples.get(i).label(), split + ": " + examples.get(i).source());
        return new Encoded(e.tokens(), labels, e.truncated());
    }

    /** The model's own learner, whose checkpoints are also classifier directories (classifier.json, tokenizer.json). */
    private record ClassifierLearner(ModelLearner own, Classifier.Spec spec, Tokenizer tokenizer) implements Learner {
        @Override public void zeroGrad() { own.zeroGrad(); }

        @Override public float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) { return own.trainMicroBatch(batch, dropoutSeed, accumulation); }

        @Override public float gradNorm() { return own.gradNorm(); }

        @Override public void step(double lr) { own.step(lr); }

        @Override public void useAverage(boolean on) { own.useAverage(on); }

        @Override
        public void save(Path dir) throws IOException {
            own.save(dir);
            spec.write(dir);
            tokenizer.save(dir.resolve(Classifier.TOKENIZER));
        }

        @Override public void load(Path dir) throws IOException { own.load(dir); }

        @Override public double flopsPerToken() { return own.flopsPerToken(); }
    }
}
