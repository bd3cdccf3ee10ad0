package dev.cramjet.train;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class TrainerTest {
    @TempDir Path tmp;

    @Test
    void learnsAndEndsAtTheStepBudgetWithAnEvalAndACheckpoint() throws Exception {
        var h = new Harness(tmp.resolve("run"), Harness.config(Map.of("max-steps", "60", "eval-every", "20")), new ManualClock());
        Trainer.Outcome o = h.trainer.run();
        assertEquals("budget", o.reason());
        assertEquals(60, o.step());
        assertEquals(60L * 4 * Harness.CONTEXT, o.tokens());
        assertEquals(3, h.evals.size(), "evaluations at steps 20, 40 and 60 (the last doubles as the final one)");
        assertTrue(h.evals.get(2).loss() < h.evals.get(0).loss() - 0.2, "validation loss falls: " + h.evals);
        assertEquals(Math.exp(h.evals.get(2).loss()), h.evals.get(2).perplexity(), 1e-9);
        assertEquals(List.of(0L, 60L), h.trainer.checkpoints().list().stream().map(p -> Long.parseLong(p.getFileName().toString().substring(5))).toList());
        assertEquals(h.evals.get(2).loss(), Checkpoints.load(h.trainer.checkpoints().list().getLast()).valLoss(), 1e-12);
        assertTrue(Files.readString(tmp.resolve("run/samples/step-000000060.txt")).contains("sample at 60"));
        long trainLines = MetricsLog.read(h.metrics.file()).stream().filter(m -> m.get("type").equals("train")).count();
        assertEquals(60, trainLines);
    }

    @Test
    void resumeAfterAnInterruptionReproducesTheUninterruptedLossesBitForBit() throws Exception {
        Map<String, String> cfg = Map.of("max-steps", "40", "dropout", "0.1", "tokens-per-step", "64", "eval-every", "10");
        var whole = new Harness(tmp.resolve("a"), Harness.config(cfg), new ManualClock());
        whole.trainer.run();
        assertEquals(40, whole.steps.size());
        assertEquals(2, whole.steps.getFirst().accumulation(), "64 tokens per step from 32-token micro-batches");

        var first = new Harness(tmp.resolve("b"), Harness.config(cfg), new ManualClock());
        first.stopAt = 15;
        Trainer.Outcome o = first.trainer.run();
        assertEquals("interrupted", o.reason());
        assertEquals(15, o.step());

        // A new process: fresh weights and data stream, everything else from the checkpoint.
        var second = new Harness(tmp.resolve("b"), Harness.config(cfg), new ManualClock());
        second.trainer.resume(second.trainer.checkpoints().latest(m -> fail(m)).orElseThrow());
        second.trainer.run();

        float[] resumed = new float[40];
        System.arraycopy(first.losses(), 0, resumed, 0, 15);
        System.arraycopy(second.losses(), 0, resumed, 15, 25);
        assertArrayEquals(whole.losses(), resumed);
        assertArrayEquals(whole.learner.w, second.learner.w);
        for (int i = 0; i < 25; i++) assertEquals(whole.steps.get(15 + i).lr(), second.steps.get(i).lr());
        // The metrics file tells one story: one train line per step 1..40.
        List<Long> steps = MetricsLog.read(tmp.resolve("b/metrics.jsonl")).stream()
                .filter(m -> m.get("type").equals("train")).map(m -> (Long) m.get("step")).toList();
        assertEquals(40, steps.size());
        assertEquals(40L, steps.getLast());
    }

    @Test
    void scheduleFollowsTheWallClockBudgetAndEndsAnnealedWhenTimeIsUp() throws Exception {
        TrainConfig cfg = Harness.config(Map.of("budget", "100s", "schedule", "cosine"));
        ManualClock clock = new ManualClock();
        var learner = new BigramLearner(Harness.VOCAB, 0);
        // Each micro-batch costs one second for the first 50 seconds, then the machine gets twice as fast.
        learner.onMicroBatch = () -> clock.advanceSeconds(clock.now < 50e9 ? 1.0 : 0.5);
        var h = new Harness(tmp.resolve("run"), cfg, clock, learner);
        Trainer.Outcome o = h.trainer.run();
        assertEquals("budget", o.reason());
        assertEquals(150, o.step(), "50 one-second steps, then 100 half-second ones");
        Schedule s = cfg.schedule(1);
        for (Trainer.Status st : h.steps) {
            double startedAt = st.step() <= 50 ? st.step() - 1 : 50 + (st.step() - 51) * 0.5;
            assertEquals(s.lr(startedAt / 100), st.lr(), 1e-12, "step " + st.step());
        }
        double last = h.steps.getLast().lr();
        assertEquals(cfg.lr() * cfg.minLrRatio(), last, cfg.lr() * 1e-3, "annealed to the floor at the end");
        assertEquals(0, h.steps.getLast().remaining(), 1e-9);
        assertEquals(1.0, h.steps.getLast().progress(), 1e-12);
    }

    @Test
    void aNonFiniteStepIsSkippedAndCountedWithoutTouchingTheWeights() throws Exception {
        var h = new Harness(tmp.resolve("run"), Harness.config(Map.of("max-steps", "12")), new ManualClock());
        h.learner.poison.add(5);
        Trainer.Outcome o = h.trainer.run();
        assertEquals(1, o.skipped());
        assertEquals(0, o.rollbacks());
        assertEquals(11, h.learner.t, "the optimizer stepped on every step but the poisoned one");
        assertEquals(11, h.steps.size());
        assertTrue(h.messages.stream().anyMatch(m -> m.startsWith("step 5: non-finite loss")), h.messages.toString());
        assertTrue(MetricsLog.read(h.metrics.file()).stream().anyMatch(m -> m.get("type").equals("event")
                && ((String) m.get("message")).contains("step skipped")));
    }

    @Test
    void repeatedNonFiniteStepsRollBackToTheLastCheckpointWithHalfTheLearningRate() throws Exception {
        var h = new Harness(tmp.resolve("run"), Harness.config(Map.of("max-steps", "30", "checkpoint-every", "10",
                "max-bad-steps", "3", "schedule", "wsd", "warmup", "0", "decay", "0.1")), new ManualClock());
        h.learner.poison.addAll(List.of(15, 16, 17));
        Trainer.Outcome o = h.trainer.run();
        assertEquals(1, o.rollbacks());
        assertEquals(3, o.skipped());
        assertEquals(30, o.step());
        assertTrue(h.messages.stream().anyMatch(m -> m.equals(
                "step 17: rolled back to the checkpoint at step 10 after 3 non-finite steps; learning rate now ×0.5 (rollback 1)")), h.messages.toString());
        // The step after the rollback is step 11 again, at half the flat-phase rate.
        int after = h.steps.indexOf(h.steps.stream().filter(s -> s.step() == 11).skip(1).findFirst().orElseThrow());
        assertEquals(0.025, h.steps.get(after).lr(), 1e-12);
        assertEquals(10 + 20, h.learner.t, "the rollback restored the optimizer at t=10, then 20 more updates followed");
    }

    @Test
    void givesUpAfterTooManyRollbacks() throws Exception {
        var h = new Harness(tmp.resolve("run"), Harness.config(Map.of("max-steps", "50", "max-bad-steps", "2")), new ManualClock());
        for (int i = 1; i <= 100; i++) h.learner.poison.add(i);
        CramjetException e = assertThrows(CramjetException.class, h.trainer::run);
        assertTrue(e.getMessage().contains("after 4 rollbacks"), e.getMessage());
    }

    @Test
    void earlyStoppingEndsTheRunAfterPatienceEvaluationsWithoutImprovement() throws Exception {
        var learner = new BigramLearner(Harness.VOCAB, 0);
        var h = new Harness(tmp.resolve("run"), Harness.config(Map.of("max-steps", "100", "eval-every", "5", "patience", "2")),
                new ManualClock(), learner, b -> 2.0f);
        Trainer.Outcome o = h.trainer.run();
        assertEquals("early stop", o.reason());
        assertEquals(15, o.step(), "the first evaluation sets the best, two more without improvement stop the run");
        assertEquals(3, h.evals.size());
    }

    @Test
    void bitsPerByteUsesTheTokensByteLengths() throws Exception {
        var h = new Harness(tmp.resolve("run"), Harness.config(Map.of("max-steps", "1")), new ManualClock());
        h.trainer.run();
        var r = h.evals.getLast();
        assertEquals(256, r.tokens());
        assertEquals(512, r.bytes(), "two bytes per token in the harness");
        assertEquals(r.loss() / (2 * Math.log(2)), r.bitsPerByte(), 1e-12);
        for (float l : h.losses()) assertTrue(Float.isFinite(l));
    }
}
