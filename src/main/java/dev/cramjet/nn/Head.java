package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;

import java.util.Set;

/**
 * The output head and its loss: rows of the final hidden states [B·T, C] → (BERT's {@link HeadTransform}, where
 * the model has one) → a linear layer → logits → softmax cross-entropy. Which rows go through it is the
 * {@link Pooling}, and that is what tells the heads apart:
 * <ul>
 * <li>{@code ALL} — a language model: every position predicts the next token;</li>
 * <li>{@code TARGETS} — a sparse head: only the positions that have a target are gathered, so the
 *     [rows, vocabulary] logits cost nothing for the rest (masked-token prediction; instruction tuning, where only
 *     the answer is scored);</li>
 * <li>{@code LAST}, {@code FIRST}, {@code MEAN} — a sequence classifier: each sequence's last valid position (a
 *     causal model's summary), its first, or the mean over its valid positions, one target per sequence.</li>
 * </ul>
 * In training the loss pass also writes the loss gradient into the logits (one pass over them instead of two).
 * Besides the mean loss, a forward pass with targets gives each sequence's summed loss — its negative
 * log-likelihood under the model — and the backward pass can take the gradient of any weighted sum of those
 * instead of the mean (preference optimisation, per-example weights).
 *
 * <p>A <b>frozen head in a training model</b> (a fine-tune of a frozen base: LoRA, prompt, prefix) needs nothing of
 * the logits after the loss: its weight has no gradient, and the hidden states' gradient is dlogits·W. So it runs
 * in chunks of rows — logits, loss and dlogits, then straight away the input gradient — and holds one chunk of
 * [rows, vocabulary] logits instead of all of them (412 MB for GPT-2's vocabulary over 4 × 512 positions). The
 * backward pass then only scales that gradient (by 1/accumulation, or per sequence by its weight). Its logits are
 * readable ({@link #logitsAt}) after a logits-only forward of at most one chunk of rows.
 */
public final class Head {

    /** Which rows of the hidden states the head reads. */
    public enum Pooling { ALL, TARGETS, LAST, FIRST, MEAN }

    /**
     * Most logit elements per chunk of a frozen head (128 MB in fp32). Each chunk streams the whole head weight
     * through the GEMM twice (logits, input gradient) and packs it again, which only a few hundred rows amortise:
     * on GPT-2's vocabulary, chunks of 160 rows (32 MB) ran the head's two products at a third to a half of the
     * GEMM's rate on 512 rows or more, and took over a quarter of a LoRA step (docs/PERFORMANCE.md, fine-tuning).
     */
    private static final int CHUNK_ELEMENTS = 1 << 25;

    private final Backend be;
    private final Linear linear;
    /** BERT's dense + GELU + norm between the pooled rows and the linear layer (null: none). */
    private final HeadTransform transform;
    private final Pooling pooling;
    private final int classes, batch, seq;
    /** A frozen head in a training model: chunked, its input gradient computed with the loss. */
    private final boolean frozenTraining;
    /** Rows per chunk: all of them, unless the head is frozen in a training model. */
    private final int chunk;
    private final Tensor pooled, dPooled, segments, targets, losses, logits;
    private final int[] hostSegments, hostTargets;
    private final float[] hostLosses;
    /** Per sequence of the last forward pass: its first row through the head, one past its last, its summed loss. */
    private final int[] runFrom, runTo;
    private final double[] sequenceLoss;
    /**
     * What the last forward pass did, for the backward pass: rows through the head, targets scored among them (-1:
     * no targets), and valid = scored once the loss is computed (-1 until then, and after the backward pass).
     */
    private int rows, scored = -1, valid = -1;
    /** The head reads the hidden rows themselves (no pooling). */
    private boolean direct;
    /** The transform's output, the linear layer's input (with a transform). */
    private Tensor transformed;
    /** The last forward wrote dlogits (training) — into the logits, or, for a frozen head, on into dIn. */
    private boolean gradInLogits;
    /** A frozen head's training forward leaves the input gradient (1/valid scale) in dIn. */
    private boolean early;

    /**
     * @param linear  the output layer: [classes padded, C] (a language model's vocabulary, maybe tied to the
     *                embedding) or [classes, C] with a bias for a classifier
     * @param classes the real number of outputs (columns past it are padding and ignored by the loss)
     * @param trainable the groups the model trains (none: inference)
     */
    Head(Backend be, Linear linear, Pooling pooling, int classes, int batch, int seq, Set<Group> trainable) {
        this(be, linear, null, pooling, classes, batch, seq, trainable);
    }

    /** A head whose rows pass through {@code transform} (may be null) before the linear layer. */
    Head(Backend be, Linear linear, HeadTransform transform, Pooling pooling, int classes, int batch, int seq, Set<Group> trainable) {
        boolean training = !trainable.isEmpty();
        boolean frozen = !trainable.contains(linear.weight.group()) && (linear.bias == null || !trainable.contains(linear.bias.group()));
        this.be = be;
        this.linear = linear;
        this.transform = transform;
        this.pooling = pooling;
        this.classes = classes;
        this.batch = batch;
        this.seq = seq;
        DType dt = be.computeType();
        int max = pooling == Pooling.ALL || pooling == Pooling.TARGETS ? batch * seq : batch;
        int c = linear.in;
        frozenTraining = training && frozen;
        chunk = frozenTraining ? evenChunk(max, Math.max(16, CHUNK_ELEMENTS / linear.out / 16 * 16)) : max;
        pooled = pooling == Pooling.ALL ? null : be.alloc(dt, max, c);
        dPooled = pooling == Pooling.ALL || !training ? null : be.alloc(dt, max, c);
        segments = pooling == Pooling.ALL ? null : be.alloc(DType.I32, max, 2);
        hostSegments = pooling == Pooling.ALL ? null : new int[2 * max];
        targets = be.alloc(DType.I32, max);
        hostTargets = new int[max];
        losses = be.alloc(DType.F32, max);
        hostLosses = new float[max];
        logits = be.alloc(dt, chunk, linear.out);
        runFrom = new int[batch];
        runTo = new int[batch];
        sequenceLoss = new double[batch];
    }

    /**
     * Rows per chunk for {@code max} rows and at most {@code cap} per chunk: the fewest chunks, of equal size (a
     * multiple of 16), so no small last chunk runs the head at a poor rate (2048 rows, cap 656: 4 × 512, not
     * 3 × 656 + 80).
     */
    private static int evenChunk(int max, int cap) {
        if (max <= cap) return max;
        int chunks = (max + cap - 1) / cap;
        return Math.min(cap, ((max + chunks - 1) / chunks + 15) / 16 * 16);
    }

    /**
     * Scores hidden [B·T, C]. targetIds: one per position (ALL, TARGETS) or one per sequence (LAST, FIRST, MEAN),
     * negative = ignored; null computes the logits only. lengths: each sequence's valid positions (null: all T).
     * With {@code writeGradient} the loss gradient replaces the logits. Returns the mean loss over the targets that
     * are not ignored (NaN when there are none or no targets).
     */
    float forward(Tensor hidden, int[] targetIds, int[] lengths, boolean writeGradient, Tensor dHidden) {
        stage(targetIds, lengths, writeGradient);
        compute(hidden, dHidden);
        return loss();
    }

    /** The host half of {@link #forward} before the device work: checks, the rows to read, uploads. */
    void stage(int[] targetIds, int[] lengths, boolean writeGradient) {
        int expected = pooling == Pooling.ALL || pooling == Pooling.TARGETS ? batch * seq : batch;
        if (targetIds != null && targetIds.length != expected) {
            throw new CramjetException("targets: expected " + expected + " (" + (expected == batch ? "one per sequence" : "batch·seq")
                    + "), got " + targetIds.length);
        }
        gather(targetIds, lengths);
        valid = -1;
        early = false;
        scored = -1;
        if (rows == 0 || targetIds == null) return;
        int n = 0;
        for (int i = 0; i < rows; i++) if (hostTargets[i] >= 0) n++;
        be.upload(Workspace.rows(targets, rows), java.util.Arrays.copyOf(hostTargets, rows));
        gradInLogits = writeGradient && n > 0;
        early = gradInLogits && frozenTraining;
        scored = n;
    }

    /**
     * The device half: pooling, the transform, the logits and, with targets, the loss (and dlogits in training;
     * for a frozen head in training, chunk by chunk, with the input gradient in dHidden's rows, the pooled rows'
     * or the transform's output's).
     */
    void compute(Tensor hidden, Tensor dHidden) {
        if (rows == 0) return;
        Tensor in = direct ? hidden : Workspace.rows(pooled, rows);
        if (!direct) be.pool(in, hidden, segments.view(0, rows, 2));
        Tensor dIn = direct ? dHidden : dPooled;
        if (transform != null) {
            in = transformed = transform.forward(in);
            dIn = early ? transform.outputGradient(rows) : null;
        }
        if (scored < 0) {
            if (rows > chunk) throw new IllegalStateException("this training model's frozen head keeps logits for " + chunk + " rows, not " + rows);
            be.matmul(Workspace.rows(logits, rows), in, linear.weight.value(), linear.bias == null ? null : linear.bias.value(), Epilogue.NONE);
            return;
        }
        chunks(in, early ? dIn : null, gradInLogits ? 1f / scored : 0f);
        valid = scored;
    }

    /**
     * The last forward pass's mean loss, brought back from the device (NaN without targets or scored rows), and
     * each sequence's summed loss.
     */
    float loss() {
        java.util.Arrays.fill(sequenceLoss, 0);
        if (rows == 0 || scored <= 0) return Float.NaN;
        float[] host = rows == hostLosses.length ? hostLosses : new float[rows];
        be.download(Workspace.rows(losses, rows), host);
        double sum = 0;
        for (int i = 0; i < rows; i++) if (hostTargets[i] >= 0) sum += host[i];
        for (int b = 0; b < batch; b++) {
            for (int i = runFrom[b]; i < runTo[b]; i++) if (hostTargets[i] >= 0) sequenceLoss[b] += host[i];
        }
        return (float) (sum / scored);
    }

    /**
     * Logits, losses and — with gradScale ≠ 0 — dlogits, chunk by chunk; with {@code dIn} (a frozen head) each
     * chunk's input gradient dlogits·W too, before the next chunk overwrites the logits.
     */
    private void chunks(Tensor in, Tensor dIn, float gradScale) {
        Tensor w = linear.weight.value(), b = linear.bias == null ? null : linear.bias.value();
        Tensor l = Workspace.rows(losses, rows), t = Workspace.rows(targets, rows);
        int width = in.dim(-1);
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int m = Math.min(chunk, rows - r0);
            Tensor z = logits.view(0, m, linear.out), x = in.view((long) r0 * width, m, width);
            be.matmul(z, x, w, b, Epilogue.NONE);
            be.crossEntropy(l.view(r0, m), z, t.view(r0, m), classes, gradScale);
            if (dIn != null) be.matmulBackward(dIn.view((long) r0 * width, m, width), null, null, z, x, w);
        }
    }

    /** The rows the head reads, on the host: sets direct, rows and hostTargets, and uploads the pooling segments. */
    private void gather(int[] targetIds, int[] lengths) {
        direct = pooling == Pooling.ALL || (pooling == Pooling.TARGETS && targetIds == null);
        if (direct) {
            rows = batch * seq;
            if (targetIds != null) System.arraycopy(targetIds, 0, hostTargets, 0, rows);
            for (int b = 0; b < batch; b++) {
                runFrom[b] = b * seq;
                runTo[b] = (b + 1) * seq;
            }
            return;
        }
        int s = 0;
        if (pooling == Pooling.TARGETS) {
            for (int i = 0; i < targetIds.length; i++) {
                if (i % seq == 0) runFrom[i / seq] = s;
                if (targetIds[i] >= 0) {
                    hostSegments[2 * s] = i;
                    hostSegments[2 * s + 1] = 1;
                    hostTargets[s++] = targetIds[i];
                }
                if (i % seq == seq - 1) runTo[i / seq] = s;
            }
        } else {
            for (int b = 0; b < batch; b++, s++) {
                runFrom[b] = s;
                runTo[b] = s + 1;
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
        if (accumSteps < 1) throw new IllegalArgumentException("accumSteps must be ≥ 1, got " + accumSteps);
        backward(dHidden, hidden, accumSteps, null);
    }

    /**
     * dHidden [B·T, C] (overwritten) = ∂(Σ_b weights[b]·NLL_b)/∂hidden, NLL_b being sequence b's summed loss
     * ({@link #sequenceLosses}) in the last forward pass with targets; the head's parameter gradients are added.
     */
    void backward(Tensor dHidden, Tensor hidden, float[] weights) {
        if (weights.length != batch) throw new IllegalArgumentException("weights: expected " + batch + " (one per sequence), got " + weights.length);
        backward(dHidden, hidden, 1, weights);
    }

    private void backward(Tensor dHidden, Tensor hidden, int accumSteps, float[] weights) {
        if (valid < 0) throw new IllegalStateException("backward() needs a forward pass with targets first");
        if (rows == 0 || valid == 0) {
            be.zero(dHidden);
            valid = -1;
            return;
        }
        Tensor rowsIn = pooling == Pooling.ALL ? hidden : Workspace.rows(pooled, rows);
        Tensor dRowsIn = pooling == Pooling.ALL ? dHidden : Workspace.rows(dPooled, rows);
        // The linear layer's input and its gradient: the rows read, or the transform's output.
        Tensor in = transform == null ? rowsIn : transformed, dIn = transform == null ? dRowsIn : transform.outputGradient(rows);
        if (frozenTraining) {
            // The input gradient at 1/valid: from the training forward, or now after an evaluation-mode one.
            if (!early) chunks(in, dIn, 1f / valid);
            if (weights != null) {
                for (int b = 0; b < batch; b++) {
                    int n = runTo[b] - runFrom[b];
                    if (n > 0) be.scale(dIn.view((long) runFrom[b] * linear.in, n, linear.in), weights[b] * valid);
                }
            } else if (accumSteps > 1) {
                be.scale(dIn, 1f / accumSteps);
            }
            if (transform != null) transform.backward(dRowsIn, rowsIn);
            if (pooling != Pooling.ALL) be.poolBackward(dHidden, dRowsIn, segments.view(0, rows, 2));
            valid = -1;
            return;
        }
        Tensor z = Workspace.rows(logits, rows);
        float scale = 1f / accumSteps;
        boolean scaleInput = weights == null && gradInLogits && accumSteps > 1 && linear.bias == null;
        if (weights != null) {
            // The gradient of a weighted sum of sequence losses: softmax − onehot per row, times its sequence's weight.
            float undo = gradInLogits ? valid : 1f;    // the forward wrote it already, with 1/valid
            if (!gradInLogits) be.crossEntropy(Workspace.rows(losses, rows), z, Workspace.rows(targets, rows), classes, 1f);
            int width = linear.out;
            for (int b = 0; b < batch; b++) {
                int n = runTo[b] - runFrom[b];
                if (n > 0) be.scale(z.view((long) runFrom[b] * width, n, width), weights[b] * undo);
            }
        } else if (!gradInLogits) {
            be.crossEntropy(Workspace.rows(losses, rows), z, Workspace.rows(targets, rows), classes, 1f / ((float) valid * accumSteps));
        } else if (accumSteps > 1 && linear.bias != null) {
            be.scale(z, scale);       // a bias gradient sums dlogits: scale them
        } else if (scaleInput) {
            be.scale(in, scale);      // dlogits carry 1/valid only; dW is linear in the input, which is smaller
        }
        linear.backward(dIn, z, in, null, null);
        if (scaleInput) be.scale(dIn, scale);
        if (transform != null) transform.backward(dRowsIn, rowsIn);
        if (pooling != Pooling.ALL) be.poolBackward(dHidden, dRowsIn, segments.view(0, rows, 2));
        valid = -1;
    }

    /**
     * Each sequence's summed loss over its targets in the last forward pass with targets — for a language model
     * its negative log-likelihood of the targeted tokens, −Σ log p(target) — 0 for a sequence with none.
     */
    double[] sequenceLosses() { return sequenceLoss.clone(); }

    /** The logits of the last forward pass [rows, outputs] (their gradient after a training forward with targets). */
    Tensor logits() {
        if (rows > chunk) throw new IllegalStateException("a frozen head keeps only its last chunk of " + chunk + " rows of logits");
        return Workspace.rows(logits, rows);
    }

    /** The caller has written the loss gradient into {@link #logits}, scaled by 1/(targets not ignored). */
    void gradientWritten() { gradInLogits = valid > 0; }

    /** The targets not ignored in the last forward pass (−1 before one, or without targets). */
    int scored() { return scored; }

    /** Row r of the last forward pass's logits: the first {@code classes} values. */
    float[] logitsAt(int r) {
        if (r >= chunk) throw new IllegalStateException("a frozen head keeps only its last chunk of " + chunk + " rows of logits");
        float[] padded = new float[linear.out];
        be.download(logits.slice(r), padded);
        return java.util.Arrays.copyOf(padded, classes);
    }

    Pooling pooling() { return pooling; }

    /** The logits' row width: the outputs, padded. */
    int width() { return linear.out; }

    boolean trainable() { return linear.trainable(); }
}
