package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;

/**
 * The output head and its loss: rows of the final hidden states [B·T, C] → a linear layer → logits → softmax
 * cross-entropy. Which rows go through it is the {@link Pooling}, and that is what tells the heads apart:
 * <ul>
 * <li>{@code ALL} — a language model: every position predicts the next token;</li>
 * <li>{@code TARGETS} — a sparse head: only the positions that have a target are gathered, so the
 *     [rows, vocabulary] logits cost nothing for the rest (masked-token prediction; instruction tuning, where only
 *     the answer is scored);</li>
 * <li>{@code LAST}, {@code FIRST}, {@code MEAN} — a sequence classifier: each sequence's last valid position (a
 *     causal model's summary), its first, or the mean over its valid positions, one target per sequence.</li>
 * </ul>
 * In training the loss pass also writes the loss gradient into the logits (one pass over them instead of two).
 */
public final class Head {

    /** Which rows of the hidden states the head reads. */
    public enum Pooling { ALL, TARGETS, LAST, FIRST, MEAN }

    private final Backend be;
    private final Linear linear;
    private final Pooling pooling;
    private final int classes, batch, seq;
    private final Tensor pooled, dPooled, segments, targets, losses, logits;
    private final int[] hostSegments, hostTargets;
    private final float[] hostLosses;
    /**
     * What the last forward pass did, for the backward pass: rows through the head, targets scored among them (-1:
     * no targets), and valid = scored once the loss is computed (-1 until then, and after the backward pass).
     */
    private int rows, scored = -1, valid = -1;
    /** The head reads the hidden rows themselves (no pooling). */
    private boolean direct;
    private boolean gradInLogits;

    /**
     * @param linear  the output layer: [classes padded, C] (a language model's vocabulary, maybe tied to the
     *                embedding) or [classes, C] with a bias for a classifier
     * @param classes the real number of outputs (columns past it are padding and ignored by the loss)
     */
    Head(Backend be, Linear linear, Pooling pooling, int classes, int batch, int seq, boolean training) {
        this.be = be;
        this.linear = linear;
        this.pooling = pooling;
        this.classes = classes;
        this.batch = batch;
        this.seq = seq;
        DType dt = be.computeType();
        int max = pooling == Pooling.ALL || pooling == Pooling.TARGETS ? batch * seq : batch;
        int c = linear.in;
        pooled = pooling == Pooling.ALL ? null : be.alloc(dt, max, c);
        dPooled = pooling == Pooling.ALL || !training ? null : be.alloc(dt, max, c);
        segments = pooling == Pooling.ALL ? null : be.alloc(DType.I32, max, 2);
        hostSegments = pooling == Pooling.ALL ? null : new int[2 * max];
        targets = be.alloc(DType.I32, max);
        hostTargets = new int[max];
        losses = be.alloc(DType.F32, max);
        hostLosses = new float[max];
        logits = be.alloc(dt, max, linear.out);
    }

    /**
     * Scores hidden [B·T, C]. targetIds: one per position (ALL, TARGETS) or one per sequence (LAST, FIRST, MEAN),
     * negative = ignored; null computes the logits only. lengths: each sequence's valid positions (null: all T).
     * Returns the mean loss over the targets that are not ignored (NaN when there are none or no targets).
     */
    float forward(Tensor hidden, int[] targetIds, int[] lengths, boolean training) {
        stage(targetIds, lengths, training);
        compute(hidden);
        return loss();
    }

    /** The host half of {@link #forward} before the device work: checks, the rows to read, uploads. */
    void stage(int[] targetIds, int[] lengths, boolean training) {
        int expected = pooling == Pooling.ALL || pooling == Pooling.TARGETS ? batch * seq : batch;
        if (targetIds != null && targetIds.length != expected) {
            throw new CramjetException("targets: expected " + expected + " (" + (expected == batch ? "one per sequence" : "batch·seq")
                    + "), got " + targetIds.length);
        }
        gather(targetIds, lengths);
        valid = -1;
        scored = -1;
        if (rows == 0 || targetIds == null) return;
        int n = 0;
        for (int i = 0; i < rows; i++) if (hostTargets[i] >= 0) n++;
        be.upload(Workspace.rows(targets, rows), java.util.Arrays.copyOf(hostTargets, rows));
        gradInLogits = training && n > 0;
        scored = n;
    }

    /** The device half: pooling, the logits and, with targets, the loss (and dlogits in training). */
    void compute(Tensor hidden) {
        if (rows == 0) return;
        Tensor in = direct ? hidden : Workspace.rows(pooled, rows);
        if (!direct) be.pool(in, hidden, segments.view(0, rows, 2));
        Tensor z = Workspace.rows(logits, rows);
        be.matmul(z, in, linear.weight.value(), linear.bias == null ? null : linear.bias.value(), Epilogue.NONE);
        if (scored < 0) return;
        be.crossEntropy(Workspace.rows(losses, rows), z, Workspace.rows(targets, rows), classes, gradInLogits ? 1f / scored : 0f);
        valid = scored;
    }

    /** The last forward pass's mean loss, brought back from the device (NaN without targets or scored rows). */
    float loss() {
        if (rows == 0 || scored <= 0) return Float.NaN;
        float[] host = rows == hostLosses.length ? hostLosses : new float[rows];
        be.download(Workspace.rows(losses, rows), host);
        double sum = 0;
        for (int i = 0; i < rows; i++) if (hostTargets[i] >= 0) sum += host[i];
        return (float) (sum / scored);
    }

    /** The rows the head reads, on the host: sets direct, rows and hostTargets, and uploads the pooling segments. */
    private void gather(int[] targetIds, int[] lengths) {
        direct = pooling == Pooling.ALL || (pooling == Pooling.TARGETS && targetIds == null);
        if (direct) {
            rows = batch * seq;
            if (targetIds != null) System.arraycopy(targetIds, 0, hostTargets, 0, rows);
            return;
        }
        int s = 0;
        if (pooling == Pooling.TARGETS) {
            for (int i = 0; i < targetIds.length; i++) {
                if (targetIds[i] < 0) continue;
                hostSegments[2 * s] = i;
                hostSegments[2 * s + 1] = 1;
                hostTargets[s++] = targetIds[i];
            }
        } else {
            for (int b = 0; b < batch; b++, s++) {
                int len = lengths == null ? seq : lengths[b];
                hostSegments[2 * s] = b * seq + (pooling == Pooling.LAST ? len - 1 : 0);
                hostSegments[2 * s + 1] = pooling == Pooling.MEAN ? len : 1;
                hostTargets[s] = targetIds == null ? -1 : targetIds[b];
            }
        }
        rows = s;
        if (s > 0) be.upload(segments.view(0, s, 2), java.util.Arrays.copyOf(hostSegments, 2 * s));
    }

    /**
     * dHidden [B·T, C] (overwritten) = ∂(loss / accumSteps)/∂hidden for the last forward pass with targets, which
     * it reads again (hidden must be unchanged); the head's parameter gradients are added.
     */
    void backward(Tensor dHidden, Tensor hidden, int accumSteps) {
        if (valid < 0) throw new IllegalStateException("backward() needs a forward pass with targets first");
        if (accumSteps < 1) throw new IllegalArgumentException("accumSteps must be ≥ 1, got " + accumSteps);
        if (rows == 0 || valid == 0) {
            be.zero(dHidden);
            return;
        }
        Tensor z = Workspace.rows(logits, rows), in = pooling == Pooling.ALL ? hidden : Workspace.rows(pooled, rows);
        Tensor dIn = pooling == Pooling.ALL ? dHidden : Workspace.rows(dPooled, rows);
        float scale = 1f / accumSteps;
        boolean scaleInput = gradInLogits && accumSteps > 1 && linear.bias == null;
        if (!gradInLogits) {
            be.crossEntropy(Workspace.rows(losses, rows), z, Workspace.rows(targets, rows), classes, 1f / ((float) valid * accumSteps));
        } else if (accumSteps > 1 && linear.bias != null) {
            be.scale(z, scale);       // a bias gradient sums dlogits: scale them
        } else if (scaleInput) {
            be.scale(in, scale);      // dlogits carry 1/valid only; dW is linear in the input, which is smaller
        }
        linear.backward(dIn, z, in, null, null);
        if (scaleInput) be.scale(dIn, scale);
        if (pooling != Pooling.ALL) be.poolBackward(dHidden, dIn, segments.view(0, rows, 2));
        valid = -1;
    }

    /** The logits of the last forward pass [rows, outputs] (their gradient after a training forward with targets). */
    Tensor logits() { return Workspace.rows(logits, rows); }

    /** Row r of the last forward pass's logits: the first {@code classes} values. */
    float[] logitsAt(int r) {
        float[] padded = new float[linear.out];
        be.download(logits.slice(r), padded);
        return java.util.Arrays.copyOf(padded, classes);
    }

    Pooling pooling() { return pooling; }

    boolean trainable() { return linear.trainable(); }
}
