package dev.cramjet.train;

import dev.cramjet.Hash;
import dev.cramjet.CramjetException;
import dev.cramjet.data.Batch;
import dev.cramjet.dist.Heartbeat;
import dev.cramjet.dist.World;
import dev.cramjet.eval.Validation;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The training loop. Each step accumulates gradients over micro-batches, checks that the loss and gradient norm are
 * finite, and only then updates the weights at the learning rate the schedule gives for the fraction of the budget
 * spent. Around that: evaluation (every N steps and/or minutes) with samples, early stopping, checkpoints (every N
 * minutes and/or steps, and at the end), and a stop request (SIGINT/SIGTERM) honoured at the next step boundary
 * with a checkpoint.
 *
 * <p>Without validation data (a null validation) the run never evaluates; the config must then ask for no
 * evaluation, which {@code cli.TrainingRun} checks.
 *
 * <p>A non-finite step is skipped and counted; {@code max-bad-steps} in a row roll the run back to the last
 * checkpoint with the learning rate halved. The run starts with a step-0 checkpoint, so there is always one.
 *
 * <p>With an average of the weights ({@code ema}), evaluations and samples read the average
 * ({@link Learner#useAverage}), so early stopping and the best checkpoint follow it.
 *
 * <p>Resuming is exact: the checkpoint holds the weights (and their average), optimizer moments and step, the data
 * position, and the counters; dropout masks are a pure function of (seed, step, micro-batch), so a resumed run
 * computes the same losses bit for bit as one never interrupted (on the CPU, whose kernels are deterministic).
 *
 * <p>Data parallel: with a {@link World} of W ranks, each step's W·A micro-batches are shared out — rank r reads
 * the r-th A of them (the stream skips the others, so its position stays the whole state and is the same on every
 * rank) with dropout seeds of their index in the step — the learner exchanges gradients, and everything that
 * decides what happens next is agreed through the communicator rather than read locally: rank 0's clock (so the
 * schedule's learning rate and the budget are the same everywhere), stop requests, the loss, the validation sums
 * (the ranks split the evaluation) and whether a checkpoint exists. Rank 0 alone writes metrics.jsonl, samples and
 * the checkpoint's manifest; every rank writes its part of a checkpoint between two barriers.
 */
public final class Trainer {
    /** Generates a few samples from the current weights. */
    @FunctionalInterface
    public interface Samples {
        List<String> generate();
    }

    /** What the run shows as it goes (a progress line, log lines, refreshed plots). */
    public interface Listener {
        void step(Status status);

        void message(String line);

        /** After an evaluation and its samples (and after its metrics line was written). */
        void evaluated(long step, Validation result, List<String> samples);
    }

    /** One step's figures. {@code remaining} is NaN without a wall-clock budget; {@code mfu} NaN without a peak. */
    public record Status(long step, long tokens, double loss, double lr, double gradNorm, double tokensPerSecond,
                         double mfu, double elapsed, double remaining, double progress, int accumulation) {}

    /** How a run ended: "budget", "early stop", "interrupted". */
    public record Outcome(String reason, long step, long tokens, double elapsed, double loss,
                          Validation eval, int skipped, int rollbacks) {}

    /** Rollbacks after which the run gives up rather than halving the learning rate again. */
    static final int MAX_ROLLBACKS = 4;

    private final TrainConfig config;
    private final Learner learner;
    private final Batches batches;
    private final Supplier<? extends Validation> validation;
    private final Samples samples;
    private final Checkpoints checkpoints;
    private final MetricsLog metrics;
    private final Path runDir;
    private final Clock clock;
    private final Listener listener;
    private final Budget budget;
    private final BatchRamp ramp;
    private final Batch batch;
    private final double peakFlops;
    /** The data-parallel ranks, or null for a single process. */
    private final World world;
    private final int rank, ranks;
    private final boolean leader;
    private final Heartbeat heartbeat;
    /** Scratch of the per-step agreements (no allocation per step). */
    private final double[] header = new double[2], one = new double[1];

    private volatile String stopRequest;

    // The run's state: what a checkpoint holds besides the learner and the data position.
    private long step;
    private long tokensSeen;
    private double elapsedBefore;
    private double lrScale = 1;
    private Schedule schedule;
    private int skipped;
    private int rollbacks;
    private int badStreak;
    private EarlyStopping early;
    private double lastEvalAt;
    private double lastCheckpointAt;

    private long sessionStart;
    private Validation lastEval;
    private long lastEvalStep = -1;
    private long lastCheckpointStep = -1;

    /** {@code validation} runs one validation pass (in evaluation mode) over the current weights. */
    public Trainer(TrainConfig config, int context, Learner learner, Batches batches, Supplier<? extends Validation> validation,
                   Samples samples, Path runDir, MetricsLog metrics, Clock clock, Listener listener, double peakFlops) {
        this(config, context, learner, batches, validation, samples, runDir, metrics, clock, listener, peakFlops, null);
    }

    /**
     * One rank of a data-parallel run ({@code world} null: a single process). Every rank calls {@code validation}
     * at the same steps, so it may be a collective (each rank evaluating its share, see
     * {@link World#validation}). {@code metrics} may be null on the ranks other than 0, which write none.
     */
    public Trainer(TrainConfig config, int context, Learner learner, Batches batches, Supplier<? extends Validation> validation,
                   Samples samples, Path runDir, MetricsLog metrics, Clock clock, Listener listener, double peakFlops,
                   World world) {
        this.world = world;
        this.rank = world == null ? 0 : world.rank();
        this.ranks = world == null ? 1 : world.size();
        this.leader = rank == 0;
        this.heartbeat = world == null ? Heartbeat.NONE : world.heartbeat();
        if (leader && metrics == null) throw new IllegalArgumentException("rank 0 keeps the metrics log");
        this.config = config;
        this.learner = learner;
        this.batches = batches;
        this.validation = validation;
        this.samples = samples;
        this.runDir = runDir;
        this.metrics = metrics;
        this.clock = clock;
        this.listener = listener;
        this.peakFlops = peakFlops;
        this.checkpoints = new Checkpoints(runDir.resolve("checkpoints"), config.keep());
        this.budget = config.budget();
        this.ramp = config.accumulation(context, ranks);
        this.batch = batches.allocate(config.batch(), context);
        this.early = new EarlyStopping(config.patience());
        this.schedule = config.schedule(lrScale);
    }

    /** Asks the loop to checkpoint and stop at the next step boundary (safe from a signal handler's thread). */
    public void requestStop(String why) { stopRequest = why; }

    public Checkpoints checkpoints() { return checkpoints; }

    public long step() { return step; }

    /** Continues from a checkpoint: weights, optimizer, data position and counters; drops later metrics lines. */
    public void resume(Checkpoints.Saved saved) throws IOException {
        learner.load(saved.dir());
        restoreState(saved, true);
        if (leader) metrics.truncateAfter(step);
    }

    /**
     * Continues from the newest checkpoint that verifies (an error naming the run when there is none), saying
     * which; returns it.
     */
    public Checkpoints.Saved resumeLatest() throws IOException {
        Checkpoints.Saved saved = checkpoints.latest(listener::message).orElseThrow(() ->
                new CramjetException(runDir + ": no valid checkpoint to resume from in checkpoints/"));
        resume(saved);
        listener.message("resuming from " + runDir.relativize(saved.dir()) + " (step " + saved.step() + ")");
        return saved;
    }

    /** Runs until the budget is spent, early stopping triggers or a stop is requested. */
    public Outcome run() throws IOException {
        sessionStart = clock.nanos();
        if (agreed(leader && checkpoints.list().isEmpty())) checkpoint(null);
        String reason;
        double loss = Double.NaN;
        double rate = Double.NaN;
        while (true) {
            double elapsed = elapsed();
            boolean stop = stopRequest != null;
            if (ranks > 1) {                    // rank 0's clock and anyone's stop request, for every rank
                header[0] = leader ? elapsed : 0;
                header[1] = stop ? 1 : 0;
                world.comm().allReduce(header);
                elapsed = header[0];
                stop = header[1] > 0;
                if (stop && stopRequest == null) stopRequest = "another rank was asked to stop";
            }
            double progress = budget.progress(step, tokensSeen, elapsed);
            if (progress >= 1) { reason = "budget"; break; }
            if (stop) { reason = "interrupted"; break; }
            if (early.shouldStop()) { reason = "early stop"; break; }

            long t0 = clock.nanos();
            double lr = schedule.lr(progress);
            int accum = ramp.at(progress);
            heartbeat.step(step);
            learner.zeroGrad();
            double sum = 0;
            long stepTokens = 0;
            if (ranks > 1) batches.skip((long) rank * accum);
            for (int micro = 0; micro < accum; micro++) {
                heartbeat.beat();
                batches.next(batch);
                stepTokens += realTokens(batch);
                sum += learner.trainMicroBatch(batch, dropoutSeed(step, rank * accum + micro), accum * ranks);
            }
            if (ranks > 1) {                    // the step's loss and tokens are all the ranks'
                batches.skip((long) (ranks - 1 - rank) * accum);
                header[0] = sum;
                header[1] = stepTokens;
                world.comm().allReduce(header);
                sum = header[0];
                stepTokens = (long) header[1];
            }
            float stepLoss = (float) (sum / (accum * ranks));
            float norm = learner.gradNorm();
            step++;
            tokensSeen += stepTokens;
            if (!Float.isFinite(stepLoss) || !Float.isFinite(norm)) {
                skipped++;
                badStreak++;
                event(String.format(Locale.ROOT, "step %d: non-finite %s (loss %s, gradient norm %s); step skipped (%d in a row, %d in all)",
                        step, Float.isFinite(stepLoss) ? "gradient" : "loss", stepLoss, norm, badStreak, skipped));
                if (badStreak >= config.maxBadSteps()) rollback();
                continue;
            }
            badStreak = 0;
            learner.step(lr);
            loss = stepLoss;

            double seconds = (clock.nanos() - t0) / 1e9;
            double r = stepTokens / Math.max(seconds, 1e-9);
            rate = Double.isNaN(rate) ? r : 0.9 * rate + 0.1 * r;
            double mfu = peakFlops > 0 ? rate * learner.flopsPerToken() / (peakFlops * ranks) : Double.NaN;
            elapsed = agreedElapsed();
            if (step % config.logEvery() == 0) {
                Map<String, Object> m = line("train");
                m.put("loss", (double) stepLoss);
                m.put("lr", lr);
                m.put("grad_norm", (double) norm);
                m.put("tokens_per_s", rate);
                if (!Double.isNaN(mfu)) m.put("mfu", mfu);
                m.put("accum", (long) accum);
                if (ranks > 1) m.put("ranks", (long) ranks);
                m.putAll(learner.metrics());
                log(m);
            }
            listener.step(new Status(step, tokensSeen, stepLoss, lr, norm, rate, mfu, elapsed,
                    budget.remainingSeconds(elapsed), budget.progress(step, tokensSeen, elapsed), accum));

            boolean improved = false;
            if (evalDue(elapsed)) improved = evaluate();
            if (checkpointDue(agreedElapsed()) || (improved && config.patience() > 0)) checkpoint(lastEvalStep == step ? lastEval : null);
        }

        if (validation != null && !reason.equals("interrupted") && lastEvalStep != step) evaluate();
        if (lastCheckpointStep != step) checkpoint(lastEvalStep == step ? lastEval : null);
        Map<String, Object> end = line("event");
        end.put("message", "run ended: " + reason + (reason.equals("interrupted") ? " (" + stopRequest + ")" : ""));
        log(end);
        if (leader) metrics.force();
        return new Outcome(reason, step, tokensSeen, elapsed(), loss, lastEval, skipped, rollbacks);
    }

    /** Rank 0's elapsed seconds, on every rank (a collective when there are several). */
    private double agreedElapsed() {
        double e = elapsed();
        if (ranks == 1) return e;
        one[0] = leader ? e : 0;
        world.comm().allReduce(one);
        return one[0];
    }

    /** Rank 0's {@code flag}, on every rank. */
    private boolean agreed(boolean flag) {
        if (ranks == 1) return flag;
        one[0] = flag ? 1 : 0;
        world.comm().allReduce(one);
        return one[0] > 0;
    }

    private void barrier() {
        if (ranks > 1) world.comm().barrier();
    }

    /** Appends a metrics line: rank 0 keeps the log. */
    private void log(Map<String, Object> line) throws IOException {
        if (leader) metrics.append(line);
    }

    /** The tokens a micro-batch holds: every position, or the valid ones of padded sequences (padding is not data). */
    private static long realTokens(Batch b) {
        if (b.lengths == null) return b.tokens.length;
        long n = 0;
        for (int len : b.lengths) n += len;
        return n;
    }

    private boolean evalDue(double elapsed) {
        if (config.evalEvery() > 0 && step % config.evalEvery() == 0) return true;
        return config.evalMinutes() > 0 && elapsed - lastEvalAt >= config.evalMinutes() * 60;
    }

    private boolean checkpointDue(double elapsed) {
        if (config.checkpointEvery() > 0 && step % config.checkpointEvery() == 0) return true;
        return config.checkpointMinutes() > 0 && elapsed - lastCheckpointAt >= config.checkpointMinutes() * 60;
    }

    /** Evaluates, writes samples, records the metrics line; returns true on a new best validation objective. */
    private boolean evaluate() throws IOException {
        Validation r;
        List<String> texts;
        learner.useAverage(true);          // the validation pass and the samples read the average, when one is kept
        try {
            r = validation.get();
            texts = leader ? samples.generate() : List.of();
        } finally {
            learner.useAverage(false);
        }
        lastEval = r;
        lastEvalStep = step;
        lastEvalAt = agreedElapsed();
        boolean improved = early.update(r.objective());
        if (!texts.isEmpty()) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < texts.size(); i++) sb.append("--- sample ").append(i + 1).append(" (step ").append(step).append(")\n").append(texts.get(i)).append('\n');
            AtomicFile.writeString(runDir.resolve("samples").resolve(String.format("step-%09d.txt", step)), sb.toString());
        }
        Map<String, Object> m = line("eval");
        m.putAll(r.metrics());
        log(m);
        for (String text : texts) {
            Map<String, Object> sm = line("sample");
            sm.put("text", text);
            log(sm);
        }
        listener.message(String.format(Locale.ROOT, "step %d: validation %s%s", step, r.describe(),
                improved ? "" : " (no improvement: " + early.bad() + ")"));
        listener.evaluated(step, r, texts);
        return improved;
    }

    /**
     * Saves a checkpoint, with the validation of this step when there was one (it ranks the best checkpoint). With
     * several ranks: rank 0 prepares the partial directory, every rank writes its part into it between two
     * barriers, rank 0 writes state.json and the manifest and renames it into place, and a third barrier holds
     * everyone until the checkpoint is complete.
     */
    private void checkpoint(Validation v) throws IOException {
        lastCheckpointAt = agreedElapsed();
        lastCheckpointStep = step;
        Checkpoints.Payload parts = d -> {
            barrier();
            learner.save(d);
            barrier();
        };
        Path dir = checkpoints.dir(step);
        if (leader) dir = checkpoints.save(step, v == null ? Double.NaN : v.loss(), v == null ? Double.NaN : v.objective(), state(), parts);
        else parts.write(checkpoints.partial(step));
        barrier();
        if (leader) metrics.force();
        listener.message("step " + step + ": checkpoint " + runDir.relativize(dir));
    }

    /** Back to the last checkpoint with half the learning rate, after repeated non-finite steps. */
    private void rollback() throws IOException {
        if (rollbacks >= MAX_ROLLBACKS) {
            throw new CramjetException("giving up at step " + step + ": " + badStreak + " non-finite steps in a row after "
                    + rollbacks + " rollbacks (learning rate now ×" + lrScale + "); try a lower --lr, --clip or --warmup");
        }
        var saved = checkpoints.latest(listener::message)
                .orElseThrow(() -> new CramjetException("no valid checkpoint to roll back to in " + checkpoints.root()));
        learner.load(saved.dir());
        long from = step;
        restoreState(saved, false);
        rollbacks++;
        lrScale *= 0.5;
        schedule = config.schedule(lrScale);
        badStreak = 0;
        event(String.format(Locale.ROOT, "step %d: rolled back to the checkpoint at step %d after %d non-finite steps; learning rate now ×%s (rollback %d)",
                from, step, config.maxBadSteps(), lrScale, rollbacks));
    }

    private void event(String message) throws IOException {
        Map<String, Object> m = line("event");
        m.put("message", message);
        log(m);
        listener.message(message);
    }

    private Map<String, Object> line(String type) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", type);
        m.put("step", step);
        m.put("tokens", tokensSeen);
        m.put("elapsed_s", elapsed());
        return m;
    }

    private double elapsed() { return elapsedBefore + (clock.nanos() - sessionStart) / 1e9; }

    /** The dropout seed of one micro-batch: a pure function of (seed, step, micro), so resume redraws the same masks. */
    long dropoutSeed(long step, int micro) {
        return Hash.mix(Hash.mix(config.seed()) + step * Hash.GOLDEN + micro);
    }

    private Map<String, Object> state() {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("step", step);
        s.put("tokens", tokensSeen);
        s.put("elapsed", elapsed());
        s.put("lr_scale", lrScale);
        s.put("skipped", (long) skipped);
        s.put("rollbacks", (long) rollbacks);
        s.put("best_objective", Double.isFinite(early.best()) ? early.best() : null);
        s.put("bad_evals", (long) early.bad());
        s.put("last_eval_at", lastEvalAt);
        s.put("last_checkpoint_at", lastCheckpointAt);
        s.put("data", batches.state());
        return s;
    }

    /**
     * Restores counters and data position from a checkpoint's state. A resume takes everything; a rollback keeps
     * the clock, the skip and rollback counts and the learning-rate scale, which describe this run's history.
     */
    private void restoreState(Checkpoints.Saved saved, boolean resume) {
        Map<String, Object> s = saved.state();
        String where = saved.dir().resolve(Checkpoints.STATE).toString();
        step = Json.integer(s.get("step"), where + ": step");
        tokensSeen = Json.integer(s.get("tokens"), where + ": tokens");
        Object best = s.containsKey("best_objective") ? s.get("best_objective") : s.get("best_val_loss"); // older checkpoints
        early = new EarlyStopping(config.patience(), best == null ? Double.POSITIVE_INFINITY : Json.number(best, where + ": best_objective"),
                (int) Json.integer(s.get("bad_evals"), where + ": bad_evals"));
        batches.restore(Json.object(s.get("data"), where + ": data"), where + ": data");
        if (resume) {
            elapsedBefore = Json.number(s.get("elapsed"), where + ": elapsed");
            lrScale = Json.number(s.get("lr_scale"), where + ": lr_scale");
            if (!(lrScale > 0 && lrScale <= 1)) throw new CramjetException(where + ": lr_scale must be in (0, 1] (rollbacks halve it), got " + lrScale);
            schedule = config.schedule(lrScale);
            skipped = (int) Json.integer(s.get("skipped"), where + ": skipped");
            rollbacks = (int) Json.integer(s.get("rollbacks"), where + ": rollbacks");
            lastEvalAt = Json.number(s.get("last_eval_at"), where + ": last_eval_at");
            lastCheckpointAt = Json.number(s.get("last_checkpoint_at"), where + ": last_checkpoint_at");
        }
    }
}
