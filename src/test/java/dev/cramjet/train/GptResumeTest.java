package dev.cramjet.train;

import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.eval.Validation;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters;
import dev.cramjet.optim.AdamWOptimizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Exact resume with the real GPT on the CPU: interrupted + resumed equals uninterrupted, bit for bit — training
 * the whole model, and training LoRA adapters on a frozen base (whose checkpoint holds optimizer state for the
 * adapters only).
 */
class GptResumeTest {
    @TempDir static Path tmp;
    static Path data;

    @BeforeAll
    static void data() throws IOException { data = TinyData.make(tmp.resolve("data")); }

    /** One "process": fresh backend, model, optimizer and data stream. Records each step's loss and lr. */
    private static final class Run implements Trainer.Listener, AutoCloseable {
        final List<Float> losses = new ArrayList<>();
        final List<Double> lrs = new ArrayList<>();
        final CpuBackend be = new CpuBackend();
        final TrainData td;
        final Trainer trainer;
        final GptLearner learner;
        final MetricsLog metrics;
        long stopAt;

        Run(Path dir, TrainConfig cfg, Model.Options options) throws IOException {
            td = TrainData.open(data);
            GPTConfig mc = cfg.modelConfig(td.tokenizer.vocabSize());
            GPT model = new GPT(be, mc, cfg.batch(), mc.blockSize(), cfg.seed(), options);
            learner = new GptLearner(model, new AdamWOptimizer(model.backend(), model.parameters(), AdamWOptimizer.Settings.defaults()));
            metrics = new MetricsLog(dir.resolve("metrics.jsonl"));
            int t = mc.blockSize();
            Evaluator evaluator = new Evaluator(td.validation(cfg.batch(), t), cfg.batch(), t, cfg.evalTokens(), td.tokenBytes());
            trainer = new Trainer(cfg, t, learner, td.batches(cfg.batch(), t, cfg.seed()), () -> evaluator.run(learner),
                    List::of, dir, metrics, Clock.SYSTEM, this, Double.NaN);
        }

        @Override
        public void step(Trainer.Status s) {
            losses.add((float) s.loss());
            lrs.add(s.lr());
            if (s.step() == stopAt) trainer.requestStop("test");
        }

        @Override public void message(String line) { }

        @Override public void evaluated(long step, Validation r, List<String> samples) { }

        @Override
        public void close() throws IOException {
            metrics.close();
            td.close();
            be.close();
        }
    }

    static Stream<Model.Options> options() {
        return Stream.of(Model.Options.TRAIN, Model.Options.TRAIN.training(Parameters.Group.ADAPTER)
                .lora(new LoRA.Spec(4, 8f, EnumSet.of(LoRA.Target.QKV, LoRA.Target.MLP_FC))));
    }

    @ParameterizedTest
    @MethodSource("options")
    void interruptedAndResumedEqualsUninterruptedBitForBit(Model.Options options) throws Exception {
        TrainConfig cfg = TrainConfig.resolve(Map.of(), "test", Map.of("model", "micro", "context", "16", "batch", "4",
                "tokens-per-step", "128", "dropout", "0.1", "max-steps", "12", "eval-every", "4", "eval-tokens", "64",
                "checkpoint-minutes", "0", "lr", "0.01"));
        List<Float> whole;
        try (Run r = new Run(tmp.resolve("whole" + options.hashCode()), cfg, options)) {
            assertEquals("budget", r.trainer.run().reason());
            whole = r.losses;
        }
        assertEquals(12, whole.size());
        assertTrue(whole.getLast() < whole.getFirst(), "the model learns: " + whole);

        List<Float> resumed = new ArrayList<>();
        List<Double> lrs = new ArrayList<>();
        try (Run r = new Run(tmp.resolve("split" + options.hashCode()), cfg, options)) {
            r.stopAt = 5;
            assertEquals("interrupted", r.trainer.run().reason());
            resumed.addAll(r.losses);
            lrs.addAll(r.lrs);
        }
        try (Run r = new Run(tmp.resolve("split" + options.hashCode()), cfg, options)) {
            r.trainer.resume(r.trainer.checkpoints().latest(m -> fail(m)).orElseThrow());
            assertEquals("budget", r.trainer.run().reason());
            resumed.addAll(r.losses);
            lrs.addAll(r.lrs);
        }
        assertEquals(whole, resumed, "float losses, compared exactly");
        assertEquals(12, lrs.size());
    }
}
