package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.nn.Model;

/**
 * Any model as an {@link Evaluator.Model}: its loss in evaluation mode, and how many of the scored targets its top
 * logit predicted (the head's rows are the scored positions in order, or every position). Downloads the logits.
 */
public final class ModelScore implements Evaluator.Model {
    private final Model model;
    private int[] lastTargets;
    private float[] logits = new float[0];

    public ModelScore(Model model) { this.model = model; }

    @Override
    public float loss(Batch batch) {
        model.eval();
        lastTargets = batch.targets;
        return model.forward(batch.tokens, batch.lengths, batch.targets);
    }

    @Override
    public long correct() {
        int v = model.vocabSize(), rows = model.logits().rows(), width = model.logitsWidth();
        if (logits.length != rows * width) logits = new float[rows * width];
        model.backend().download(model.logits().reshape(rows * width), logits);
        boolean everyPosition = rows == lastTargets.length;
        long right = 0;
        int row = 0;
        for (int target : lastTargets) {
            if (target < 0) {
                if (everyPosition) row++;
                continue;
            }
            int best = 0, at = row * width;
            for (int j = 1; j < v; j++) if (logits[at + j] > logits[at + best]) best = j;
            if (best == target) right++;
            row++;
        }
        return right;
    }
}
