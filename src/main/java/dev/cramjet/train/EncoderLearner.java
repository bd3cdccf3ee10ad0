package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.dist.DataParallel;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * An encoder and its AdamW optimizer as a {@link ModelLearner}. Pretraining: each micro-batch arrives masked (targets
 * only at the chosen positions), and the sparse head scores only those; fine-tuning: a pooled classifier head,
 * one target per sequence. Evaluation reports the
 * masked tokens' loss and how many the top logit got right. Checkpoints hold an encoder model directory
 * ({@link EncoderDir}) and the optimizer state.
 */
public final class EncoderLearner extends ModelLearner {
    private final Encoder model;
    private final double maskRate;
    private final ModelScore score;

    /** @param maskRate the share of positions masked, for the FLOPs count (the decoder runs on those rows only; 0 for a classifier) */
    public EncoderLearner(Encoder model, AdamWOptimizer optimizer, double maskRate) { this(model, alone(model, optimizer), maskRate); }

    /** One rank of a data-parallel run. */
    public EncoderLearner(Encoder model, DataParallel step, double maskRate) {
        super(model, step, null);
        this.model = model;
        this.maskRate = maskRate;
        this.score = new ModelScore(model);
    }

    public Encoder model() { return model; }

    @Override public float loss(Batch batch) { return score.loss(batch); }

    @Override public long correct() { return score.correct(); }

    /**
     * FLOPs per token: 6 per trunk parameter, the tied decoder (6·Vp·C) only on the masked share of positions, and
     * attention's 12·L·C·T — but a frozen parameter costs 4, having no weight gradient (a classifier fine-tuned
     * with --train head or lora).
     */
    @Override
    public double flopsPerToken() {
        long n = model.parameterCount(false), trained = Math.min(model.parameters().trainableCount(), n);
        return flopsPerToken(model.config(), n, model.seq(), maskRate) - 2.0 * (n - trained);
    }

    /** 6·(N − Vp·C) + 6·Vp·C·rate + 12·L·C·T for N parameters without positions. */
    public static double flopsPerToken(EncoderConfig c, long parameters, int seq, double maskRate) {
        double decoder = 6.0 * c.paddedVocab() * c.nEmbd();
        return 6.0 * parameters - decoder + decoder * maskRate + 12.0 * c.nLayer() * c.nEmbd() * seq;
    }

    @Override
    void saveModel(Path dir, Function<Param, float[]> values) throws IOException {
        EncoderDir.save(model.config(), model.parameterList(), values, dir);
    }

    @Override
    void loadModel(Path weights) throws IOException { EncoderDir.loadWeights(model, weights); }
}
