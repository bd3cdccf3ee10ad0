package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.dist.DataParallel;
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
 * micro-step, the update — on one process or as one data-parallel rank (the optimizer step is a
 * {@link DataParallel}: gradients exchanged, state replicated or ZeRO-1 sharded) — and the checkpoint: the weights,
 * written by rank 0, by default as a model directory in the family's layout (the F32 master weights where the
 * backend computes in BF16), or as its {@link Weights} say (a fine-tune of a frozen base keeps only what it trains);
 * then the optimizer state — m, v, the masters, the step count — in optimizer.safetensors (replicated) or one file
 * per rank (sharded). Everything is F32, so a CPU run resumes bit for bit.
 */
public abstract sealed class ModelLearner implements Learner, Evaluator.Model permits GptLearner, EncoderLearner {

    /** How a checkpoint directory holds the weights being trained. */
    public interface Weights {
        void save(Path dir) throws IOException;

        /** Restores what {@link #save} wrote into the model's parameters. */
        void load(Path dir) throws IOException;
    }

    private final Model model;
    private final DataParallel step;
    final Backend be;
    /** What a checkpoint holds of the weights (null: the whole model directory). */
    private final Weights weights;
    /** Where a micro-step's device work runs: as a repeatable region on a GPU (a CUDA graph), else directly. */
    private final Consumer<Runnable> device;

    /** @param weights what a checkpoint holds of the weights (null: the whole model, as a model directory) */
    ModelLearner(Model model, DataParallel step, Weights weights) {
        this.model = model;
        this.step = step;
        this.be = model.backend();
        this.weights = weights;
        this.device = Backends.repeater(be);
    }

    /** One process's optimizer step. */
    static DataParallel alone(Model model, AdamWOptimizer optimizer) {
        return new DataParallel(model.backend(), model.parameters(), optimizer);
    }

    public final AdamWOptimizer optimizer() { return step.optimizer(); }

    @Override public final void zeroGrad() { model.zeroGrad(); }

    @Override
    public final float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) {
        model.train(dropoutSeed);
        return model.trainStep(batch.tokens, batch.lengths, batch.targets, accumulation, device);
    }

    @Override public final float gradNorm() { return step.gradNorm(); }

    @Override public final void step(double lr) { step.update((float) lr); }

    @Override
    public final void save(Path dir) throws IOException {
        if (step.world().leader()) {
            if (weights != null) weights.save(dir);
            else saveModel(dir, p -> ModelDir.download(be, step.weights(p)));
        }
        step.save(dir);
    }

    @Override
    public final void load(Path dir) throws IOException {
        if (weights != null) weights.load(dir);
        else loadModel(dir.resolve(ModelDir.WEIGHTS));
        step.load(dir);
    }

    /** Writes the model directory with each parameter's values from {@code values}. */
    abstract void saveModel(Path dir, Function<Param, float[]> values) throws IOException;

    /** Reads the weights file into the model. */
    abstract void loadModel(Path weights) throws IOException;
}
