package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * The GPT and its AdamW optimizer as a {@link ModelLearner}. A checkpoint holds the weights — by default as a model
 * directory (model.safetensors + config.json, so {@code cramjet generate} can load a checkpoint directly; the F32
 * master weights where the backend computes in BF16), or as its {@link Weights} say (a fine-tune of a frozen base
 * keeps only what it trains) — and optimizer.safetensors with the moments m and v of the trained parameters, the
 * master weights, and the step count in the metadata ({@link OptimizerFile}).
 */
public final class GptLearner extends ModelLearner {
    public static final String OPTIMIZER = OptimizerFile.NAME;

    private final GPT model;

    /** Checkpoints hold the whole model as a model directory. */
    public GptLearner(GPT model, AdamWOptimizer optimizer) { this(model, optimizer, null); }

    /** @param weights what a checkpoint holds of the weights (null: the whole model) */
    public GptLearner(GPT model, AdamWOptimizer optimizer, Weights weights) {
        super(model, optimizer, weights);
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
        return 6.0 * parameters + 12.0 * c.nLayer() * c.nEmbd() * context;
    }

    @Override
    void saveModel(Path dir, Function<Param, float[]> values) throws IOException {
        ModelDir.save(model.config(), model.parameterList(), values, dir);
    }

    @Override
    void loadModel(Path weights) throws IOException { ModelDir.loadWeights(model, weights); }
}
