package dev.cramjet.train;

import dev.cramjet.data.Masking;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.eval.Validation;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.Parameters;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.optim.Ema;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
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
 * adapters only) — and with an encoder pretrained by masked-language modelling (masks follow the data position);
 * the evaluations and the last checkpoint's files match too, and so they do with an average of the weights (ema),
 * which the evaluations read and the checkpoint's model holds.
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
        final List<Evaluator.Result> evals = new ArrayList<>();
        final TrainData td;
        final Trainer trainer;
        final MetricsLog metrics;
        long stopAt;

        Run(Path dir, TrainConfig cfg, Model.Options options) throws IOException {
            td = TrainData.open(data);
            metrics = new MetricsLog(dir.resolve("metrics.jsonl"));
            if (cfg.mlm()) {
                EncoderConfig ec = cfg.encoderConfig(td.tokenizer.vocabSize());
                int t = ec.blockSize();
                Masking masking = new Masking(cfg.maskRate(), td.tokenizer.specials().get(Tokenizer.MASK), td.tokenizer.vocabSize(),
                        td.tokenizer.specials().values().stream().mapToInt(Integer::intValue).toArray());
                Encoder model = new Encoder(be, ec, cfg.batch(), t, cfg.seed(), options);
                EncoderLearner learner = new EncoderLearner(model, new AdamWOptimizer(be, model.parameters(), AdamWOptimizer.Settings.defaults()), cfg.maskRate());
                learner.averaging(cfg.ema());
                Evaluator evaluator = new Evaluator(td.maskedValidation(cfg.batch(), t, masking), cfg.batch(), t, cfg.evalTokens(), td.tokenBytes());
                trainer = new Trainer(cfg, t, learner, td.maskedBatches(cfg.batch(), t, cfg.seed(), masking), () -> evaluator.run(learner),
                        List::of, dir, metrics, Clock.SYSTEM, this, Double.NaN);
                return;
            }
            GPTConfig mc = cfg.modelConfig(td.tokenizer.vocabSize());
            GPT model = new GPT(be, mc, cfg.batch(), mc.blockSize(), cfg.seed(), options);
            GptLearner learner = new GptLearner(model, new AdamWOptimizer(model.backend(), model.parameters(), AdamWOptimizer.Settings.defaults()));
            learner.averaging(cfg.ema());
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

        @Override public void evaluated(long step, Validation r, List<String> samples) { evals.add((Evaluator.Result) r); }

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
        resumesExactly(cfg, options, "gpt" + options.hashCode());
    }

    @ParameterizedTest
    @MethodSource("options")
    void withAnAverageOfTheWeightsTheEvaluationsAndCheckpointsResumeExactly(Model.Options options) throws Exception {
        Map<String, String> keys = new java.util.HashMap<>(Map.of("model", "micro", "context", "16", "batch", "4",
                "tokens-per-step", "128", "dropout", "0.1", "max-steps", "12", "eval-every", "4", "eval-tokens", "64",
                "checkpoint-minutes", "0", "lr", "0.01"));
        TrainConfig plain = TrainConfig.resolve(Map.of(), "test", keys);
        keys.put("ema", "0.8");
        TrainConfig averaged = TrainConfig.resolve(Map.of(), "test", keys);
        String name = "ema" + options.hashCode();
        List<Double> withAverage = resumesExactly(averaged, options, name).stream().map(Evaluator.Result::loss).toList();
        List<Double> without;
        try (Run r = new Run(tmp.resolve("plain-" + name), plain, options)) {
            r.trainer.run();
            without = r.evals.stream().map(Evaluator.Result::loss).toList();
        }
        assertEquals(3, withAverage.size());
        for (int i = 0; i < 3; i++) assertNotEquals(without.get(i), withAverage.get(i), "the evaluation at step " + 4 * (i + 1) + " reads the average");
        Path last = tmp.resolve("whole-" + name).resolve("checkpoints/step-000000012");
        try (Safetensors.Reader ema = Safetensors.open(last.resolve(Ema.FILE))) {
            assertEquals(Map.of("decay", "0.8"), ema.metadata());
            assertFalse(java.util.Arrays.equals(ema.read("trained"), ema.read("average")), "the checkpoint keeps both");
        }
    }

    @Test
    void anEncoderPretrainedOnMaskedTokensResumesExactlyAndLearns() throws Exception {
        Map<String, String> keys = new java.util.HashMap<>(Map.of("model", "crammed-tiny", "layers", "2", "width", "32",
                "heads", "2", "context", "16", "batch", "8", "max-steps", "12"));
        keys.putAll(Map.of("eval-every", "4", "eval-tokens", "256", "checkpoint-minutes", "0", "lr", "0.01", "dropout", "0.1"));
        TrainConfig cfg = TrainConfig.resolve(Map.of(), "test", keys);
        List<Evaluator.Result> evals = resumesExactly(cfg, Model.Options.TRAIN.sparse(), "encoder");
        Evaluator.Result last = evals.getLast();
        assertTrue(last.accuracy() > 0.05 && last.accuracy() < 1, "masked-token accuracy " + last.accuracy());
        assertTrue(last.loss() < evals.getFirst().loss(), "validation loss falls: " + evals);
        long scored = (long) (256 * cfg.maskRate());
        assertTrue(Math.abs(last.tokens() - scored) < scored / 3, "about a quarter of the positions scored: " + last.tokens());
    }

    /**
     * Runs cfg whole, then interrupted at step 5 and resumed; asserts equal losses, evaluations and last checkpoint
     * files; returns the whole run's evaluations.
     */
    private List<Evaluator.Result> resumesExactly(TrainConfig cfg, Model.Options options, String name) throws Exception {
        List<Float> whole;
        List<Evaluator.Result> evals;
        try (Run r = new Run(tmp.resolve("whole-" + name), cfg, options)) {
            assertEquals("budget", r.trainer.run().reason());
            whole = r.losses;
            evals = r.evals;
        }
        assertEquals(12, whole.size());
        assertTrue(whole.getLast() < whole.getFirst(), "the model learns: " + whole);

        List<Float> resumed = new ArrayList<>();
        List<Double> lrs = new ArrayList<>();
        List<Evaluator.Result> resumedEvals = new ArrayList<>();
        try (Run r = new Run(tmp.resolve("split-" + name), cfg, options)) {
            r.stopAt = 5;
            assertEquals("interrupted", r.trainer.run().reason());
            resumed.addAll(r.losses);
            lrs.addAll(r.lrs);
            resumedEvals.addAll(r.evals);
        }
        try (Run r = new Run(tmp.resolve("split-" + name), cfg, options)) {
            r.trainer.resume(r.trainer.checkpoints().latest(m -> fail(m)).orElseThrow());
            assertEquals("budget", r.trainer.run().reason());
            resumed.addAll(r.losses);
            lrs.addAll(r.lrs);
            resumedEvals.addAll(r.evals);
        }
        assertEquals(whole, resumed, "float losses, compared exactly");
        assertEquals(12, lrs.size());
        assertEquals(evals, resumedEvals, "evaluations, compared exactly");
        String last = "checkpoints/step-000000012";
        List<String> files;
        try (Stream<Path> s = Files.list(tmp.resolve("whole-" + name).resolve(last))) {
            files = s.map(p -> p.getFileName().toString()).filter(f -> f.endsWith(".safetensors")).sorted().toList();
        }
        assertEquals(cfg.ema() > 0, files.contains(Ema.FILE), "" + files);
        for (String f : files) {
            assertArrayEquals(Files.readAllBytes(tmp.resolve("whole-" + name).resolve(last).resolve(f)),
                    Files.readAllBytes(tmp.resolve("split-" + name).resolve(last).resolve(f)), f);
        }
        return evals;
    }
}
