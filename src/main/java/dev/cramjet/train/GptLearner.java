package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.eval.Evaluator;
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
 * The GPT and its AdamW optimizer as a {@link Learner}. A checkpoint holds the weights as a model directory
 * (model.safetensors + config.json, so {@code cramjet generate} can load a checkpoint directly; the F32 master
 * weights where the backend computes in BF16) and optimizer.safetensors with the moments m and v of the trained
 * parameters, the master weights, and the step count in the metadata ({@link OptimizerFile}).
 */
public final class GptLearner implements Learner, Evaluator.Model {
    public static final String OPTIMIZER = OptimizerFile.NAME;

    private final GPT model;
    private final AdamWOptimizer optimizer;
    private final Backend be;
    /** Where a micro-step's device work runs: as a repeatable region on a GPU (a CUDA graph), else directly. */
    private final Consumer<Runnable> device;

    public GptLearner(GPT model, AdamWOptimizer optimizer) {
        this.model = model;
        this.optimizer = optimizer;
        this.be = model.backend();
        this.device = Backends.repeater(be);
    }

    public GPT model() { return model; }

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

    /** FLOPs per trained token: 6 per parameter (forward 2, backward 4) plus attention's 12·L·C·T (PaLM, appendix B). */
    @Override
    public double flopsPerToken() { return flopsPerToken(model.config(), model.parameterCount(false), model.seq()); }

    static double flopsPerToken(GPTConfig c, long parameters, int context) {
        return 6.0 * parameters + 12.0 * c.nLayer() * c.nEmbd() * context;
    }

    @Override
    public void save(Path dir) throws IOException {
        ModelDir.save(model.config(), model.parameterList(), p -> ModelDir.download(be, optimizer.weights(p)), dir);
        OptimizerFile.save(be, optimizer, dir);
    }

    @Override
    public void load(Path dir) throws IOException {
        ModelDir.loadWeights(model, dir.resolve(ModelDir.WEIGHTS));
        OptimizerFile.load(be, optimizer, dir);
    }
}
