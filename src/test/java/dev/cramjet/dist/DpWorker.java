package dev.cramjet.dist;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.eval.Validation;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.train.Clock;
import dev.cramjet.train.GptLearner;
import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.train.TrainData;
import dev.cramjet.train.Trainer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One rank (or the single process) of DataParallelTest's runs: the micro GPT with an untied head — with tied
 * embeddings two ops add into one gradient per micro-batch, which no longer sums in the same order on one process
 * and on two ranks — trained by the real Trainer on the world its launcher says. Arguments: DATA RUN ZERO(0|1)
 * MAX_STEPS new|resume.
 */
public final class DpWorker {
    private DpWorker() {}

    public static void main(String[] args) throws Exception {
        Path data = Path.of(args[0]), run = Path.of(args[1]);
        Launch launch = Launch.fromEnvironment();
        launch.shareCores();
        TrainConfig cfg = TrainConfig.resolve(Map.of(), "DpWorker", Map.ofEntries(Map.entry("model", "micro"), Map.entry("context", "16"),
                Map.entry("batch", "4"), Map.entry("tokens-per-step", "128"), Map.entry("dropout", "0.1"), Map.entry("max-steps", "6"),
                Map.entry("eval-every", "3"), Map.entry("eval-tokens", "128"), Map.entry("checkpoint-every", "3"),
                Map.entry("checkpoint-minutes", "0"), Map.entry("clip", args[3]), Map.entry("lr", "0.01"), Map.entry("samples", "0"),
                Map.entry("zero", args[2])));
        try (TrainData td = TrainData.open(data); Backend be = new CpuBackend()) {
            GPTConfig mc = cfg.modelConfig(td.tokenizer.vocabSize()).with(Map.of("tied_embeddings", false), "DpWorker");
            Communicator comm = World.connect(launch, be, 60);
            if (comm.rank() == 0) Files.createDirectories(run);
            comm.barrier();
            World world = World.of(comm, run.resolve(".ranks"), 60);
            GPT model = new GPT(be, mc, cfg.batch(), mc.blockSize(), cfg.seed());
            var settings = new AdamWOptimizer.Settings((float) cfg.beta1(), (float) cfg.beta2(), (float) cfg.eps(),
                    (float) cfg.weightDecay(), (float) cfg.clip(), false);
            GptLearner learner = new GptLearner(model, new DataParallel(world, be, model.parameters(), settings, cfg.zero()));
            int t = mc.blockSize();
            Evaluator evaluator = new Evaluator(td.validation(cfg.batch(), t), cfg.batch(), t, cfg.evalTokens(), td.tokenBytes());
            Trainer.Listener quiet = new Trainer.Listener() {
                @Override public void step(Trainer.Status s) {}

                @Override public void message(String line) {}

                @Override public void evaluated(long step, Validation r, List<String> samples) {}
            };
            try (MetricsLog metrics = world.leader() ? new MetricsLog(run.resolve("metrics.jsonl")) : null) {
                Trainer trainer = new Trainer(cfg, t, learner, td.batches(cfg.batch(), t, cfg.seed()), world.validation(evaluator, learner), List::of,
                        run, metrics, Clock.SYSTEM, quiet, Double.NaN, world);
                if (args[4].equals("resume")) trainer.resume(trainer.checkpoints().latest(m -> { throw new IllegalStateException(m); }).orElseThrow());
                trainer.run();
            }
            world.close();
        }
    }
}
