package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.dist.DataParallel;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * The GPT and its AdamW optimizer as a {@link ModelLearner}: checkpoints hold a model directory
 * (model.safetensors + config.json, so {@code cramjet generate} can load a checkpoint directly), or what its
 * {@link Weights} say, and the optimizer state.
 */
public final class GptLearner extends ModelLearner {
    public static final String OPTIMIZER = DataParallel.REPLICATED;

    private final GPT model;

    /** One process; checkpoints hold the whole model as a model directory. */
    public GptLearner(GPT model, AdamWOptimizer optimizer) { this(model, alone(model, optimizer), null); }

    /** One process whose checkpoints hold the weights as {@code weights} say. */
    public GptLearner(GPT model, AdamWOptimizer optimizer, Weights weights) { this(model, alone(model, optimizer), weights); }

    /** One rank of a data-parallel run; rank 0's checkpoints hold the whole model as a model directory. */
    public GptLearner(GPT model, DataParallel step) { this(model, step, null); }

    private GptLearner(GPT model, DataParallel step, Weights weights) {
        super(model, step, weights);
        this.model = model;
    }

    public GPT model() { return model; }

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
        return 6.0 * parameters + 12.0 * c.nLayer() * c.attnWidth() * context;   // q·kᵀ and p·v span the attention width
    }

    @Override
    void saveModel(Path dir, Function<Param, float[]> values) throws IOException {
        ModelDir.save(model.config(), model.parameterList(), values, dir);
    }

    @Override
    void loadModel(Path weights) throws IOException { ModelDir.loadWeights(model, weights); }
}
