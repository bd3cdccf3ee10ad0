package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * An encoder and its AdamW optimizer as a {@link Learner}. Pretraining: each micro-batch arrives masked (targets
 * only at the chosen positions), and the sparse head scores only those; fine-tuning: a pooled classifier head,
 * one target per sequence. Evaluation reports the
 * masked tokens' loss and how many the top logit got right. Checkpoints hold an encoder model directory
 * ({@link EncoderDir}) and the optimizer state.
 */
public final class EncoderLearner implements Learner, Evaluator.Model {
    private final Encoder model;
    private final AdamWOptimizer optimizer;
    private final Backend be;
    private final double maskRate;
    private final ModelScore score;
    /** Where a micro-step's device work runs: as a repeatable region on a GPU (a CUDA graph), else directly. */
    private final Consumer<Runnable> device;

    /** @param maskRate the share of positions masked, for the FLOPs count (the decoder runs on those rows only; 0 for a classifier) */
    public EncoderLearner(Encoder model, AdamWOptimizer optimizer, double maskRate) {
        this.model = model;
        this.optimizer = optimizer;
        this.be = model.backend();
        this.maskRate = maskRate;
        this.score = new ModelScore(model);
        this.device = Backends.repeater(be);
    }

    public Encoder model() { return model; }

    @Override public void zeroGrad() { model.zeroGrad(); }

    @Override
    public float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) {
        model.train(dropoutSeed);
        return model.trainStep(batch.tokens, batch.lengths, batch.targets, accumulation, device);
    }

    @Override public float gradNorm() { return optimizer.gradNorm(); }

    @Override public void step(double lr) { optimizer.update((float) lr); }

    @Override public float loss(Batch batch) { return score.loss(batch); }

    @Override public long correct() { return score.correct(); }

    /**
     * FLOPs per token: 6 per trunk parameter, the tied decoder (6·Vp·C) only on the masked share of positions, and
     * attention's 12·L·C·T.
     */
    @Override
    public double flopsPerToken() { return flopsPerToken(model.config(), model.parameterCount(false), model.seq(), maskRate); }

    /** 6·(N − Vp·C) + 6·Vp·C·rate + 12·L·C·T for N parameters without positions. */
    public static double flopsPerToken(EncoderConfig c, long parameters, int seq, double maskRate) {
        double decoder = 6.0 * c.paddedVocab() * c.nEmbd();
        return 6.0 * parameters - decoder + decoder * maskRate + 12.0 * c.nLayer() * c.nEmbd() * seq;
    }

    @Override
    public void save(Path dir) throws IOException {
        EncoderDir.save(model.config(), model.parameterList(), p -> ModelDir.download(be, optimizer.weights(p)), dir);
        OptimizerFile.save(be, optimizer, dir);
    }

    @Override
    public void load(Path dir) throws IOException {
        EncoderDir.loadWeights(model, dir.resolve(ModelDir.WEIGHTS));
        OptimizerFile.load(be, optimizer, dir);
    }
}
