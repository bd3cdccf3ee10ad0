package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A model and its AdamW optimizer as a {@link Learner}, what the GPT's and the encoder's have in common: the
 * micro-step, the update, and the checkpoint — the model directory (the F32 master weights where the backend
 * computes in BF16) in the family's layout, then optimizer.safetensors ({@link OptimizerFile}).
 */
abstract sealed class ModelLearner implements Learner, Evaluator.Model permits GptLearner, EncoderLearner {
    private final Model model;
    final AdamWOptimizer optimizer;
    final Backend be;
    /** Where a micro-step's device work runs: as a repeatable region on a GPU (a CUDA graph), else directly. */
    private final Consumer<Runnable> device;

    ModelLearner(Model model, AdamWOptimizer optimizer) {
        this.model = model;
        this.optimizer = optimizer;
        this.be = model.backend();
        this.device = Backends.repeater(be);
    }

    @Override public final void zeroGrad() { model.zeroGrad(); }

    @Override
    public final float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) {
        model.train(dropoutSeed);
        return model.trainStep(batch.tokens, batch.lengths, batch.targets, accumulation, device);
    }

    @Override public final float gradNorm() { return optimizer.gradNorm(); }

    @Override public final void step(double lr) { optimizer.update((float) lr); }

    @Override
    public final void save(Path dir) throws IOException {
        saveModel(dir, p -> ModelDir.download(be, optimizer.weights(p)));
        OptimizerFile.save(be, optimizer, dir);
    }

    @Override
    public final void load(Path dir) throws IOException {
        loadModel(dir.resolve(ModelDir.WEIGHTS));
        OptimizerFile.load(be, optimizer, dir);
    }

    /** Writes the model directory with each parameter's values from {@code values}. */
    abstract void saveModel(Path dir, Function<Param, float[]> values) throws IOException;

    /** Reads the weights file into the model. */
    abstract void loadModel(Path weights) throws IOException;
}
