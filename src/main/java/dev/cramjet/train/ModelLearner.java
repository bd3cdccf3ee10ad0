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
import dev.cramjet.optim.Ema;

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
 *
 * <p>With {@link #averaging} it keeps an {@link Ema} of the trained weights: evaluations read it
 * ({@link #useAverage}), a checkpoint's model holds it, and {@value Ema#FILE} beside it holds the trained weights
 * and the average, which the resume reads.
 */
public abstract sealed class ModelLearner implements Learner, Evaluator.Model permits GptLearner, EncoderLearner {

    /** How a checkpoint directory holds the weights being trained. */
    public interface Weights {
        /** Writes the weights, each parameter's values from {@code values} (see {@link #values}). */
        void save(Path dir, Function<Param, float[]> values) throws IOException;

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
    /** The average of the trained weights, or null when none is kept. */
    private Ema average;

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

    /**
     * Keeps an exponential moving average of the trained weights with {@code decay} (0: none, the default), from
     * the next update on; call at set-up time, before a resume loads a checkpoint.
     */
    public final ModelLearner averaging(double decay) {
        average = decay > 0 ? new Ema(be, model.parameters(), decay) : null;
        return this;
    }

    /**
     * What a checkpoint's model holds of each parameter: the average when one is kept and there has been an update
     * to average, else the most precise copy of the weights.
     */
    public final Function<Param, float[]> values() {
        boolean averaged = average != null && step.stepCount() > 0;
        return p -> averaged && p.trainable() ? average.values(p) : ModelDir.download(be, step.weights(p));
    }

    @Override
    public final void useAverage(boolean on) {
        if (average == null || step.stepCount() == 0) return;
        if (on) average.swapIn();
        else average.swapOut();
    }

    @Override public final void zeroGrad() { model.zeroGrad(); }

    @Override
    public final float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) {
        model.train(dropoutSeed);
        return model.trainStep(batch.tokens, batch.lengths, batch.targets, accumulation, device);
    }

    @Override public final float gradNorm() { return step.gradNorm(); }

    @Override
    public final void step(double lr) {
        step.update((float) lr);
        if (average != null) average.update(step.stepCount());
    }

    @Override
    public final void save(Path dir) throws IOException {
        if (step.world().leader()) {
            if (weights != null) weights.save(dir, values());
            else saveModel(dir, values());
            if (average != null) average.save(dir);
        }
        step.save(dir);
    }

    @Override
    public final void load(Path dir) throws IOException {
        if (weights != null) weights.load(dir);
        else loadModel(dir.resolve(ModelDir.WEIGHTS));
        if (average != null) average.load(dir);      // the trained weights over the average the model holds
        step.load(dir);
    }

    /** Writes the model directory with each parameter's values from {@code values}. */
    abstract void saveModel(Path dir, Function<Param, float[]> values) throws IOException;

    /** Reads the weights file into the model. */
    abstract void loadModel(Path weights) throws IOException;
}
