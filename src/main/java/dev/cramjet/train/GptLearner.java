package dev.cramjet.train;

import dev.cramjet.CramjetException;
import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The GPT and its AdamW optimizer as a {@link Learner}. A checkpoint holds the weights — by default as a model
 * directory (model.safetensors + config.json, so {@code cramjet generate} can load a checkpoint directly; the F32
 * master weights where the backend computes in BF16), or as its {@link Weights} say (a fine-tune of a frozen base
 * keeps only what it trains) — and optimizer.safetensors with the moments m and v of the trained parameters, the
 * master weights, and the step count in the metadata. Everything is F32, so a CPU run resumes bit for bit.
 */
public final class GptLearner implements Learner, Evaluator.Model {
    public static final String OPTIMIZER = "optimizer.safetensors";

    /** How a checkpoint directory holds the weights being trained. */
    public interface Weights {
        void save(Path dir) throws IOException;

        /** Restores what {@link #save} wrote into the model's parameters. */
        void load(Path dir) throws IOException;
    }

    private final GPT model;
    private final AdamWOptimizer optimizer;
    private final Backend be;
    private final Weights weights;
    /** Where a micro-step's device work runs: as a repeatable region on a GPU (a CUDA graph), else directly. */
    private final Consumer<Runnable> device;

    /** Checkpoints hold the whole model as a model directory. */
    public GptLearner(GPT model, AdamWOptimizer optimizer) { this(model, optimizer, wholeModel(model, optimizer)); }

    public GptLearner(GPT model, AdamWOptimizer optimizer, Weights weights) {
        this.model = model;
        this.optimizer = optimizer;
        this.be = model.backend();
        this.weights = weights;
        this.device = Backends.repeater(be);
    }

    private static Weights wholeModel(GPT model, AdamWOptimizer optimizer) {
        return new Weights() {
            @Override
            public void save(Path dir) throws IOException {
                ModelDir.save(model.config(), model.parameterList(), p -> ModelDir.download(model.backend(), optimizer.weights(p)), dir);
            }

            @Override public void load(Path dir) throws IOException { ModelDir.loadWeights(model, dir.resolve(ModelDir.WEIGHTS)); }
        };
    }

    public GPT model() { return model; }

    public AdamWOptimizer optimizer() { return optimizer; }

    @Override public void zeroGrad() { model.zeroGrad(); }

    @Override
    public float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) {
        model.train(dropoutSeed);
        return model.trainStep(batch.tokens, batch.lengths, batch.targets, accumulation, device);
    }

    @Override
    public float gradNorm() { return optimizer.gradNorm(); }

    @Override public void step(double lr) { optimizer.update((float) lr); }

    /** Evaluation mode: no dropout, no gradients. */
    @Override
    public float loss(Batch batch) {
        model.eval();
        return model.forward(batch.tokens, batch.lengths, batch.targets);
    }

    /**
     * FLOPs per trained token: 6 per parameter (forward 2, backward 4) plus attention's 12·L·C·T (PaLM, appendix B)
     * — but a frozen parameter costs 4, having no weight gradient: 4·N + 2·N_trained in all.
     */
    @Override
    public double flopsPerToken() {
        long trained = Math.min(model.parameters().trainableCount(), model.parameterCount(false));
        return flopsPerToken(model.config(), model.parameterCount(false), model.seq()) - 2.0 * (model.parameterCount(false) - trained);
    }

    static double flopsPerToken(GPTConfig c, long parameters, int context) {
        return 6.0 * parameters + 12.0 * c.nLayer() * c.nEmbd() * context;
    }

    @Override
    public void save(Path dir) throws IOException {
        weights.save(dir);
        int n = (int) optimizer.m().size();
        List<Safetensors.Item> items = new ArrayList<>(List.of(
                new Safetensors.Item("m", new long[] {n}, ModelDir.download(be, optimizer.m())),
                new Safetensors.Item("v", new long[] {n}, ModelDir.download(be, optimizer.v()))));
        if (optimizer.master() != null) items.add(new Safetensors.Item("master", new long[] {n}, ModelDir.download(be, optimizer.master())));
        Safetensors.write(dir.resolve(OPTIMIZER), Map.of("step", Integer.toString(optimizer.stepCount())), items);
    }

    @Override
    public void load(Path dir) throws IOException {
        weights.load(dir);
        Path file = dir.resolve(OPTIMIZER);
        int n = (int) optimizer.m().size();
        try (Safetensors.Reader r = Safetensors.open(file)) {
            for (String name : List.of("m", "v")) {
                Safetensors.Entry e = r.entry(name);
                if (e.numel() != n) {
                    throw new CramjetException(file + ": tensor '" + name + "' has " + e.numel() + " elements, the model trains " + n + " parameters");
                }
            }
            be.upload(optimizer.m(), r.read("m"));
            be.upload(optimizer.v(), r.read("v"));
            String step = r.metadata().get("step");
            if (step == null || !step.matches("\\d{1,9}")) throw new CramjetException(file + ": metadata has no valid optimizer step");
            optimizer.restore(Integer.parseInt(step));
            if (optimizer.master() != null) be.upload(optimizer.master(), r.read("master"));
        }
    }
}
