package dev.cramjet.train;

import dev.cramjet.eval.Evaluator;
import dev.cramjet.eval.Validation;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** A trainer over the bigram model and a synthetic corpus, recording what the loop reports. */
final class Harness implements Trainer.Listener {
    static final int VOCAB = 16, CONTEXT = 8;
    static final int[] TRAIN = ListBatches.corpus(20_000, VOCAB, 1);
    static final int[] VAL = ListBatches.corpus(2_000, VOCAB, 2);

    final List<Trainer.Status> steps = new ArrayList<>();
    final List<String> messages = new ArrayList<>();
    final List<Evaluator.Result> evals = new ArrayList<>();
    final BigramLearner learner;
    final ListBatches batches;
    final Trainer trainer;
    final MetricsLog metrics;
    final ManualClock clock;

    Harness(Path run, TrainConfig config, ManualClock clock) throws IOException {
        this(run, config, clock, new BigramLearner(VOCAB, (float) config.dropout()));
    }

    Harness(Path run, TrainConfig config, ManualClock clock, BigramLearner learner) throws IOException {
        this(run, config, clock, learner, learner);
    }

    Harness(Path run, TrainConfig config, ManualClock clock, BigramLearner learner, Evaluator.Model evalModel) throws IOException {
        this.clock = clock;
        this.learner = learner;
        this.batches = new ListBatches(TRAIN, CONTEXT, config.seed());
        this.metrics = new MetricsLog(run.resolve("metrics.jsonl"));
        int[] bytes = new int[VOCAB];
        Arrays.fill(bytes, 2);
        Evaluator evaluator = new Evaluator(ListBatches.validation(VAL), config.batch(), CONTEXT, config.evalTokens(), bytes);
        this.trainer = new Trainer(config, CONTEXT, learner, batches, () -> evaluator.run(evalModel), () -> List.of("sample at " + learner.t),
                run, metrics, clock, this, 1e9);
    }

    static TrainConfig config(Map<String, String> overrides) {
        var base = new java.util.LinkedHashMap<String, String>(Map.of("model", "tiny", "batch", "4", "eval-tokens", "256",
                "eval-minutes", "0", "checkpoint-minutes", "0", "lr", "0.05", "warmup", "0.1"));
        base.putAll(overrides);
        return TrainConfig.resolve(Map.of(), "test", base);
    }

    /** Requests a stop (as SIGINT would) once this step is done; 0 = never. */
    long stopAt;

    @Override
    public void step(Trainer.Status s) {
        steps.add(s);
        if (s.step() == stopAt) trainer.requestStop("test");
    }

    @Override public void message(String line) { messages.add(line); }

    @Override public void evaluated(long step, Validation r, List<String> samples) { evals.add((Evaluator.Result) r); }

    float[] losses() {
        float[] l = new float[steps.size()];
        for (int i = 0; i < l.length; i++) l[i] = (float) steps.get(i).loss();
        return l;
    }
}
