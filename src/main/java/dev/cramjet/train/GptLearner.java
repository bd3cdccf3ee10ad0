package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.dist.DataParallel;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * The GPT and its AdamW optimizer as a {@link Learner}, on one process or as one data-parallel rank (the
 * optimizer step is a {@link DataParallel}: gradients exchanged, state replicated or ZeRO-1 sharded). A checkpoint
 * holds the weights — by default as a model directory (model.safetensors + config.json, so {@code cramjet
 * generate} can load a checkpoint directly; the F32 master weights where the backend computes in BF16), or as its
 * {@link Weights} say (a fine-tune of a frozen base keeps only what it trains) — written by rank 0, and the
 * optimizer state — moments m and v of the trained parameters, the master weights, the step count in the metadata
 * — in optimizer.safetensors (replicated) or one file per rank (sharded). Everything is F32, so a CPU run resumes
 * bit for bit.
 */
public final class GptLearner implements Learner, Evaluator.Model {
    public static final String OPTIMIZER = DataParallel.REPLICATED;

    /** How a checkpoint directory holds the weights being trained. */
    public interface Weights {
        void save(Path dir) throws IOException;

        /** Restores what {@link #save} wrote into the model's parameters. */
        void load(Path dir) throws IOException;
    }

    private final GPT model;
    private final DataParallel step;
    private final Backend be;
    private final Weights weights;
    /** Where a micro-step's device work runs: as a repeatable region on a GPU (a CUDA graph), else directly. */
    private final Consumer<Runnable> device;

    /** One process; checkpoints hold the whole model as a model directory. */
    public GptLearner(GPT model, AdamWOptimizer optimizer) {
        this(model, new DataParallel(model.backend(), model.parameters(), optimizer));
    }

    /** One process whose checkpoints hold the weights as {@code weights} say. */
    public GptLearner(GPT model, AdamWOptimizer optimizer, Weights weights) {
        this(model, new DataParallel(model.backend(), model.parameters(), optimizer), weights);
    }

    /** One rank of a data-parallel run; rank 0's checkpoints hold the whole model as a model directory. */
    public GptLearner(GPT model, DataParallel step) { this(model, step, wholeModel(model, step)); }

    private GptLearner(GPT model, DataParallel step, Weights weights) {
        this.model = model;
        this.step = step;
        this.be = model.backend();
        this.weights = weights;
        this.device = Backends.repeater(be);
    }

    private static Weights wholeModel(GPT model, DataParallel step) {
        return new Weights() {
            @Override
            public void save(Path dir) throws IOException {
                ModelDir.save(model.config(), model.parameterList(), p -> ModelDir.download(model.backend(), step.weights(p)), dir);
            }

            @Override public void load(Path dir) throws IOException { ModelDir.loadWeights(model, dir.resolve(ModelDir.WEIGHTS)); }
        };
    }

    public GPT model() { return model; }

    public AdamWOptimizer optimizer() { return step.optimizer(); }

    @Override public void zeroGrad() { model.zeroGrad(); }

    @Override
    public float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) {
        model.train(dropoutSeed);
        return model.trainStep(batch.tokens, batch.lengths, batch.targets, accumulation, device);
    }

    @Override
    public float gradNorm() { return step.gradNorm(); }

    @Override public void step(double lr) { step.update((float) lr); }

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
        if (step.world().leader()) weights.save(dir);
        step.save(dir);
    }

    @Override
    public void load(Path dir) throws IOException {
        weights.load(dir);
        step.load(dir);
    }
}
