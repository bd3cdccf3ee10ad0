package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.dist.Communicator;
import dev.cramjet.dist.DataParallel;
import dev.cramjet.dist.Launch;
import dev.cramjet.dist.World;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.cpu.Parallel;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.eval.Validation;
import dev.cramjet.infer.Generator;
import dev.cramjet.infer.Sampler;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.data.Masking;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.report.RunProgress;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.train.Batches;
import dev.cramjet.train.Clock;
import dev.cramjet.train.EncoderLearner;
import dev.cramjet.train.GptLearner;
import dev.cramjet.train.Learner;
import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.StopSignals;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.train.TrainData;
import dev.cramjet.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * One training run wired together: the data directory, the model and optimizer on a backend, the trainer, and the
 * run directory — config.json, tokenizer.json, metrics.jsonl, checkpoints/, samples/, plots/ and report.html.
 * {@code cramjet train} and {@code cramjet demo} both go through here; it lives in cli because it wires every stage
 * (data, model, trainer, generation, report) together.
 */
final class TrainingRun {
    public static final String CONFIG = "config.json";
    /** The ranks' heartbeats, inside the run directory (shared by every rank, like the checkpoints). */
    static final String RANKS = ".ranks";

    /** Keys a resumed run may change: how long it goes and what it reports, not what it trains. */
    static final Set<String> RESUMABLE = Set.of("budget", "max-steps", "tokens", "eval-every", "eval-minutes", "patience",
            "checkpoint-minutes", "checkpoint-every", "keep", "samples", "sample-tokens", "temperature", "log-every",
            "max-bad-steps", "eval-tokens", "zero", "dist-timeout");

    /** What a finished run reports. */
    public record Result(Trainer.Outcome outcome, String shape, long parameters, List<String> samples, Path runDir) {}

    private TrainingRun() {}

    /**
     * Prepares {@code runDir} for a new run: refuses an existing non-empty directory unless {@code force}, which
     * removes it first (only if it looks like a run directory, so a mistyped --out cannot wipe something else).
     */
    public static void createRunDir(Path runDir, boolean force) throws IOException {
        if (Files.exists(runDir) && !isEmptyDir(runDir)) {
            if (!Files.isDirectory(runDir)) throw new CramjetException(runDir + ": exists and is not a directory; choose another --out");
            if (!Files.exists(runDir.resolve(CONFIG)) && !Files.isDirectory(runDir.resolve("checkpoints"))) {
                throw new CramjetException(runDir + ": exists and is not a run directory (no config.json); choose another --out");
            }
            if (!force) {
                throw new CramjetException(runDir + ": already exists; pass --resume " + runDir + " to continue it, or --force to start over (deletes it)");
            }
            try (Stream<Path> s = Files.walk(runDir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
        Files.createDirectories(runDir);
    }

    /**
     * Removes a run directory this command created when the run failed before its first checkpoint (bad data or
     * settings found once the run was under way), so a refused command leaves nothing behind.
     */
    public static void discardUnstarted(Path runDir) throws IOException {
        Path checkpoints = runDir.resolve("checkpoints");
        if (!Files.isDirectory(runDir) || (Files.isDirectory(checkpoints) && !isEmptyDir(checkpoints))) return;
        try (Stream<Path> s = Files.walk(runDir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static boolean isEmptyDir(Path p) throws IOException {
        if (!Files.isDirectory(p)) return false;
        try (Stream<Path> s = Files.list(p)) {
            return s.findAny().isEmpty();
        }
    }

    /**
     * Samples for each evaluation: unconditional documents (started from end-of-text, as every document in the
     * shards is) at the config's temperature with top-k 40. Sample i always uses seed + i, so successive
     * evaluations' samples differ only because the weights did. Generation has its own KV-cache session and
     * touches no training state.
     */
    static Trainer.Samples samples(GPT model, Tokenizer tokenizer, TrainConfig cfg) {
        Generator generator = new Generator(model, tokenizer, true);
        return () -> {
            List<String> out = new ArrayList<>(cfg.samples());
            for (int i = 0; i < cfg.samples(); i++) {
                Sampler sampler = new Sampler(new Sampler.Settings(cfg.temperature(), 40, 1, 1, cfg.seed() + i), tokenizer.vocabSize());
                out.add(generator.generate("", cfg.sampleTokens(), sampler, null).text());
            }
            return out;
        };
    }

    /** Reads a run's config.json and applies the overrides a resume may make (others are refused by name). */
    public static TrainConfig resumedConfig(Path runDir, Map<String, String> overrides) throws IOException {
        Path f = runDir.resolve(CONFIG);
        if (!Files.isRegularFile(f)) throw new CramjetException(runDir + ": not a run directory (no " + CONFIG + ")");
        for (String k : overrides.keySet()) {
            if (!RESUMABLE.contains(k.replace('_', '-')) && TrainConfig.isKey(k)) {
                throw new CramjetException(k + ": cannot change when resuming (it shapes what is trained); only "
                        + new java.util.TreeSet<>(RESUMABLE) + " can");
            }
        }
        return TrainConfig.load(f, overrides);
    }

    /**
     * Trains: a new run in {@code runDir} (which {@link #createRunDir} prepared), or, with {@code resume}, the
     * continuation of the run there from its newest checkpoint — in this process alone, or as one rank of the
     * data-parallel run {@code launch} describes (rank 0 prepared the run directory; it alone writes config.json,
     * the tokenizer, metrics, samples and reports).
     */
    public static Result run(TrainConfig cfg, Path runDir, boolean resume, ProgressLine progress, Launch launch) throws IOException {
        return run(cfg, runDir, resume, progress, launch, (data, be, world) -> cfg.mlm() ? encoder(cfg, data, be, world) : gpt(cfg, data, be, world));
    }

    /**
     * Builds what a run trains once its data directory, backend and world are open; it calls {@link #checkFits}
     * before it allocates anything.
     */
    @FunctionalInterface
    interface Setups {
        Setup create(TrainData data, Backend be, World world) throws IOException;
    }

    /** {@link #run(TrainConfig, Path, boolean, ProgressLine, Launch)} with the learner and its data from {@code setups}. */
    static Result run(TrainConfig cfg, Path runDir, boolean resume, ProgressLine progress, Launch launch, Setups setups) throws IOException {
        try (TrainData data = TrainData.open(Path.of(cfg.data()));
             Backend be = Backends.open(cfg.device())) {
            if (resume) {
                Tokenizer own = Tokenizer.load(runDir.resolve(TrainData.TOKENIZER));
                if (!own.hash().equals(data.tokenizer.hash())) {
                    throw new CramjetException(runDir + ": this run's tokenizer (" + own.hash() + ") differs from the data's in " + data.dir
                            + " (" + data.tokenizer.hash() + "): the data was prepared again since the run began; resume on the data it"
                            + " was trained on, or start a new run");
                }
            }
            Communicator comm = World.connect(launch, be, cfg.distTimeout());
            boolean leader = comm.rank() == 0;
            comm.barrier();                    // the run directory is ready before any rank writes into it
            World world = World.of(comm, runDir.resolve(RANKS), cfg.distTimeout());
            Setup setup;
            try {
                setup = setups.create(data, be, world);   // refuses data the run cannot use before config.json is written
            } catch (IOException | RuntimeException e) {
                if (world.size() == 1) world.close();   // its heartbeat stops; a failing rank of many just exits
                throw e;
            }
            if (!resume && leader) {
                AtomicFile.writeString(runDir.resolve(CONFIG), Json.pretty(cfg.toJson()));
                data.tokenizer.save(runDir.resolve(TrainData.TOKENIZER));
            }
            int context = setup.context;
            double peak = be.peakFlops();
            if (leader) {
                progress.log(String.format(Locale.ROOT, "model: %s, %s, context %d, vocabulary %d: %.2fM parameters",
                        cfg.model(), setup.shape, context, data.tokenizer.vocabSize(), setup.parameters / 1e6));
                progress.log(String.format(Locale.ROOT, "data: %s, %,d training tokens, %,d validation tokens; %d × %d tokens per micro-batch, %d per step",
                        data.dir, data.train.tokens(), data.val == null ? 0 : data.val.tokens(), cfg.batch(), context,
                        (long) cfg.accumulation(context, world.size()).target() * world.size()));
                progress.log(String.format(Locale.ROOT, "device: %s; %s peak %.1f GFLOP/s (the MFU reference)", be.describe(),
                        be.computeType().name().toLowerCase(Locale.ROOT), peak / 1e9));
                if (world.size() > 1) {
                    progress.log(String.format(Locale.ROOT, "data parallel: %d ranks started by %s, collectives over %s; optimizer state %s%s",
                            world.size(), launch.launcher(), comm.name(), cfg.zero() ? "sharded (ZeRO-1, 1/" + world.size() + " per rank)" : "replicated",
                            be.name().equals("cpu") ? "; " + Parallel.threads() + " thread(s) per rank" : ""));
                }
            }

            RunProgress shown = new RunProgress(progress, runDir);
            Trainer.Listener listener = leader ? shown : QUIET;
            Result result;
            try (MetricsLog metrics = leader ? new MetricsLog(runDir.resolve("metrics.jsonl")) : null) {
                Trainer trainer = new Trainer(cfg, context, setup.learner, setup.batches,
                        setup.evaluator == null ? null : world.validation(setup.evaluator, setup.evalModel), setup.samples, runDir, metrics,
                        Clock.SYSTEM, listener, peak, world);
                if (resume) trainer.resumeLatest();
                StopSignals.install(trainer::requestStop);
                Trainer.Outcome o = trainer.run();
                if (leader) {
                    progress.finish();
                    shown.refresh();
                }
                result = new Result(o, setup.shape, setup.parameters, shown.lastSamples(), runDir);
            }
            // Left only after a normal end: a failing rank exits instead, and its launcher stops the others.
            world.close();
            return result;
        }
    }

    /** The listener of ranks other than 0: rank 0 speaks for the run. */
    private static final Trainer.Listener QUIET = new Trainer.Listener() {
        @Override public void step(Trainer.Status s) {}

        @Override public void message(String line) {}

        @Override public void evaluated(long step, Validation r, List<String> samples) {}
    };

    /** What differs between runs (GPT, encoder, distillation): the learner and its data, evaluation and samples. */
    record Setup(int context, Learner learner, Evaluator.Model evalModel, Batches batches, Evaluator evaluator,
                         Trainer.Samples samples, long parameters, String shape) {}

    /** AdamW over {@code params} as this rank's share of the world's optimizer step (replicated, or ZeRO-1 with --zero). */
    static DataParallel step(TrainConfig cfg, Backend be, dev.cramjet.nn.Parameters params, World world) {
        var settings = new AdamWOptimizer.Settings((float) cfg.beta1(), (float) cfg.beta2(), (float) cfg.eps(),
                (float) cfg.weightDecay(), (float) cfg.clip(), false);
        return new DataParallel(world, be, params, settings, cfg.zero());
    }

    /** Refuses a micro-batch the data cannot fill (before a model of that size is allocated). */
    static void checkFits(TrainConfig cfg, TrainData data, int context) {
        data.checkFits(cfg.batch(), context, cfg.evalEvery() > 0 || cfg.evalMinutes() > 0 || cfg.patience() > 0);
    }

    static long evalTokens(TrainConfig cfg, int context) { return Math.max(cfg.evalTokens(), (long) cfg.batch() * context); }

    /**
     * The validation split's evaluator — next tokens, or the masked tokens when {@code masking} is given — or null
     * when the data has no validation split that fits a batch (a run without evaluation still measures the split at
     * the end when it has one).
     */
    static Evaluator evaluator(TrainConfig cfg, TrainData data, int context, Masking masking) {
        if (!data.validationFits(cfg.batch(), context)) return null;
        Evaluator.Source source = masking == null ? data.validation(cfg.batch(), context) : data.maskedValidation(cfg.batch(), context, masking);
        return new Evaluator(source, cfg.batch(), context, evalTokens(cfg, context), data.tokenBytes());
    }

    private static Setup gpt(TrainConfig cfg, TrainData data, Backend be, World world) {
        GPTConfig mc = cfg.modelConfig(data.tokenizer.vocabSize());
        int context = mc.blockSize();
        checkFits(cfg, data, context);
        GPT model = new GPT(be, mc, cfg.batch(), context, cfg.seed());
        GptLearner learner = new GptLearner(model, step(cfg, be, model.parameters(), world));
        learner.averaging(cfg.ema());
        return new Setup(context, learner, learner, data.batches(cfg.batch(), context, cfg.seed()), evaluator(cfg, data, context, null),
                samples(model, data.tokenizer, cfg), model.parameterCount(false),
                String.format(Locale.ROOT, "%d layers, %d heads, width %d", mc.nLayer(), mc.nHead(), mc.nEmbd()));
    }

    /** The masked-language model's corruption for this data's tokenizer, which must have a mask token. */
    static Masking masking(TrainConfig cfg, TrainData data) {
        Integer mask = data.tokenizer.specials().get(Tokenizer.MASK);
        if (mask == null) {
            throw new CramjetException(data.dir + ": the tokenizer has no " + Tokenizer.MASK + " token, which masked-language "
                    + "modelling needs; prepare the data again (new tokenizers have it)");
        }
        int[] specials = data.tokenizer.specials().values().stream().mapToInt(Integer::intValue).toArray();
        return new Masking(cfg.maskRate(), mask, data.tokenizer.vocabSize(), specials);
    }

    /** An encoder pretrained with masked-language modelling through its sparse head; no text samples. */
    private static Setup encoder(TrainConfig cfg, TrainData data, Backend be, World world) {
        EncoderConfig ec = cfg.encoderConfig(data.tokenizer.vocabSize());
        int context = ec.blockSize();
        checkFits(cfg, data, context);
        Masking masking = masking(cfg, data);
        Encoder model = new Encoder(be, ec, cfg.batch(), context, cfg.seed(), Model.Options.TRAIN.sparse());
        EncoderLearner learner = new EncoderLearner(model, step(cfg, be, model.parameters(), world), cfg.maskRate());
        learner.averaging(cfg.ema());
        return new Setup(context, learner, learner, data.maskedBatches(cfg.batch(), context, cfg.seed(), masking),
                evaluator(cfg, data, context, masking),
                List::of, model.parameterCount(false),
                String.format(Locale.ROOT, "encoder, %d layers, %d heads, width %d, %s-norm, masking %.0f%%", ec.nLayer(), ec.nHead(),
                        ec.nEmbd(), ec.preNorm() ? "pre" : "post", 100 * cfg.maskRate()));
    }
}
