package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Param;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A model built from the layers here: the shared {@link Transformer} trunk, causal or bidirectional, under a
 * {@link Head}. {@link GPT} (a causal language model, which also generates) and {@link Encoder} (bidirectional,
 * masked-token prediction) are the two; each is a constructor that picks the trunk's direction and the head.
 *
 * <p>{@code forward} returns the mean loss; {@code backward(accum)} adds this micro-batch's gradient (scaled by
 * 1/(valid targets · accum)) into the trained parameters' gradients. {@link #train(long)} turns dropout on with a
 * seed for the next forward/backward pair (give each micro-batch its own seed); {@link #eval()} turns it off.
 */
public abstract sealed class Model permits GPT, Encoder {

    /**
     * How a model is built beyond its shape: the parameter groups it trains (none for inference: no gradients, no
     * backward buffers), the storage of its weight matrices (null: the compute type; Q8_0 for int8 inference), an
     * optional LoRA adapter, an optional {@link Prompt} (virtual tokens: prompt or prefix tuning), and its head: the
     * language-model head over every position ({@code ALL}) or only the targeted ones ({@code TARGETS}), or a
     * classifier over {@code classes} labels pooling each sequence.
     */
    public record Options(Set<Group> trainable, DType weights, LoRA.Spec lora, Prompt.Spec prompt, Head.Pooling pooling,
                          int classes) {
        /** Trains every group: pretraining. */
        public static final Options TRAIN = new Options(EnumSet.allOf(Group.class), null, null, null, Head.Pooling.ALL, 0);
        /** Trains nothing: evaluation and generation. */
        public static final Options INFERENCE = new Options(Set.of(), null, null, null, Head.Pooling.ALL, 0);

        public Options {
            trainable = trainable.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(trainable));
            boolean classifier = pooling == Head.Pooling.LAST || pooling == Head.Pooling.FIRST || pooling == Head.Pooling.MEAN;
            if (classifier != classes > 0) {
                throw new CramjetException(classifier ? "a classifier needs at least one class, got " + classes
                        : "classes are for a pooled classifier head, not " + pooling);
            }
        }

        public Options training(Group... groups) { return new Options(Set.of(groups), weights, lora, prompt, pooling, classes); }

        public Options weights(DType type) { return new Options(trainable, type, lora, prompt, pooling, classes); }

        public Options lora(LoRA.Spec spec) { return new Options(trainable, weights, spec, prompt, pooling, classes); }

        /** Virtual tokens in front of every sequence (prompt or prefix tuning); the base must stay frozen. */
        public Options prompt(Prompt.Spec spec) { return new Options(trainable, weights, lora, spec, pooling, classes); }

        /** Only positions with a target go through the language-model head. */
        public Options sparse() { return new Options(trainable, weights, lora, prompt, Head.Pooling.TARGETS, 0); }

        /** A classifier head over {@code n} labels, reading each sequence as {@code pooling} says. */
        public Options classify(int n, Head.Pooling how) { return new Options(trainable, weights, lora, prompt, how, n); }
    }

    final Backend be;
    final Transformer.Shape shape;
    final Options options;
    final Parameters params = new Parameters();
    final Transformer trunk;
    private Head head;
    /** The hidden states the last forward pass gave the head. */
    private Tensor hidden;
    private boolean training;
    private long stepSeed;
    private boolean forwardDone;

    /** Declares the trunk; the subclass then declares its head and calls {@link #complete}. */
    Model(Backend backend, Transformer.Shape shape, int batch, int seq, Options options, boolean causal) {
        if (batch <= 0) throw new CramjetException("batch size must be positive, got " + batch);
        if (seq <= 0 || seq > shape.blockSize()) {
            throw new CramjetException("sequence length must be in [1, block_size = " + shape.blockSize() + "], got " + seq);
        }
        if (options.prompt() != null && options.trainable().contains(Group.BASE)) {
            throw new CramjetException("prompt and prefix tuning train the virtual tokens alone: the base must stay frozen");
        }
        this.be = backend;
        this.shape = shape;
        this.options = options;
        int c = shape.width();
        LoRA.Spec lora = options.lora();
        Workspace ws = new Workspace(backend, batch * seq, c, shape.attnWidth(), shape.mlpHidden(), shape.fcWidth(),
                shape.mlp() == GPTConfig.Mlp.GELU, lora == null ? 0 : lora.rank(),
                lora == null ? 0 : Math.max(Math.max(c, shape.attnWidth()), shape.mlpHidden()), !options.trainable().isEmpty(), false, !shape.preNorm());
        trunk = new Transformer(backend, params, ws, shape, batch, seq, causal, lora, options.prompt());
    }

    /** Takes the head, then allocates every parameter and initialises it from {@code seed}: the model is ready. */
    final void complete(Head modelHead, long seed) {
        this.head = modelHead;
        params.allocate(be, options.trainable(), options.weights() == null ? be.computeType() : options.weights());
        params.initialize(be, seed);
        trunk.ready();
    }

    final Head head() { return head; }

    /** A pooled classifier head over {@code options.classes()} labels ("score", in the HEAD group). */
    Head classifier() {
        Linear score = new Linear(be, params, "score", Group.HEAD, shape.width(), options.classes(), true, 0.02);
        return new Head(be, score, options.pooling(), options.classes(), batch(), seq(), options.trainable());
    }

    /** Dropout on for the next forward/backward pair, masks drawn from {@code seed} (use a new seed per micro-batch). */
    public void train(long seed) {
        training = true;
        stepSeed = seed;
    }

    /** Dropout off. */
    public void eval() { training = false; }

    public boolean training() { return training; }

    /** {@link #forward(int[], int[], int[])} over whole sequences. */
    public float forward(int[] tokenIds, int[] targetIds) { return forward(tokenIds, null, targetIds); }

    /**
     * Runs the model on tokens [batch·seq] (row-major [B,T]); {@code validLengths} [B] (null: all seq) marks each
     * sequence's real tokens, the rest being padding no position attends to. Targets: one per position for a
     * token head, one per sequence for a classifier; negative = ignored; null computes the logits only.
     * Returns the mean cross-entropy over the targets not ignored (NaN when there are none, or no targets).
     */
    public float forward(int[] tokenIds, int[] validLengths, int[] targetIds) {
        hidden = trunk.forward(tokenIds, validLengths, training, stepSeed);
        if (targetIds != null) checkTargets(targetIds);
        float loss = head.forward(hidden, targetIds, trunk.lengths(), training, trunk.outputGradient());
        forwardDone = targetIds != null;
        return loss;
    }

    /**
     * A training forward (dropout as {@link #train} set it) that leaves the logits as computed, for a loss the
     * caller builds on them (distillation): the caller writes the whole loss's gradient with respect to
     * {@link #logits()}, scaled by 1/{@link #scored()} as the cross-entropy's is, into logits(), then calls
     * {@link #backward(int, Tensor)}. Returns the cross-entropy against the targets.
     */
    public float forwardKeepingLogits(int[] tokenIds, int[] validLengths, int[] targetIds) {
        hidden = trunk.forward(tokenIds, validLengths, training, stepSeed);
        checkTargets(targetIds);
        float loss = head.forward(hidden, targetIds, trunk.lengths(), false, null);
        head.gradientWritten();
        forwardDone = true;
        return loss;
    }

    /** The width of a row of {@link #logits()}: the head's outputs, padded (Vp for a token head). */
    public int logitsWidth() { return head.width(); }

    /** The targets the last forward pass scored: the rows of {@link #logits()} that carry a target. */
    public int scored() { return head.scored(); }

    /**
     * {@link #forward(int[], int[], int[])} with targets then {@link #backward(int)}, with every host transfer at
     * the two ends: the batch goes to the device first, then {@code device} is given the device work in between
     * (forward, loss, backward) as one piece — a GPU backend replays it as a CUDA graph — and the loss comes back
     * last. Returns the mean loss, as forward does.
     */
    public float trainStep(int[] tokenIds, int[] validLengths, int[] targetIds, int accumSteps, Consumer<Runnable> device) {
        if (trunk.ws.dres == null) throw new IllegalStateException("trainStep on a model built to train nothing");
        checkTargets(targetIds);
        trunk.stage(tokenIds, validLengths, training, stepSeed);
        head.stage(targetIds, trunk.lengths(), training);
        device.accept(() -> {
            hidden = trunk.compute();
            head.compute(hidden, trunk.outputGradient());
            forwardDone = true;
            backward(accumSteps);
        });
        return head.loss();
    }

    /** {@link #backward(int)} without gradient accumulation. */
    public void backward() { backward(1); }

    /**
     * Adds the gradient of the last forward pass's loss into the gradients, scaled by 1/(valid targets ·
     * accumSteps) so that accumSteps micro-batches sum to the gradient of their mean loss. Overwrites the logits
     * with their gradient.
     */
    public void backward(int accumSteps) { backward(accumSteps, null); }

    /**
     * {@link #backward(int)} with a gradient of another loss on the hidden states added at the head's input:
     * {@code dHidden} [B·T, C] (already scaled for accumulation), or null.
     */
    public void backward(int accumSteps, Tensor dHidden) {
        if (trunk.ws.dres == null) throw new IllegalStateException("backward() on a model built to train nothing");
        if (!forwardDone) throw new IllegalStateException("backward() needs a forward pass with targets first");
        forwardDone = false;
        Tensor dOut = trunk.outputGradient();
        head.backward(dOut, hidden, accumSteps);
        if (dHidden != null) be.add(dOut, dOut, dHidden);
        trunk.backward();
    }

    /**
     * Adds the gradient of Σ_b weights[b]·NLL_b for the last forward pass with targets, NLL_b being sequence b's
     * summed loss ({@link #sequenceLosses}): the gradient of any objective over whole sequences, given its
     * derivative by each sequence's log-likelihood (DPO's, for instance). Overwrites the logits.
     */
    public void backward(float[] weights) {
        if (trunk.ws.dres == null) throw new IllegalStateException("backward() on a model built to train nothing");
        if (!forwardDone) throw new IllegalStateException("backward() needs a forward pass with targets first");
        forwardDone = false;
        head.backward(trunk.outputGradient(), hidden, weights);
        trunk.backward();
    }

    /**
     * Each sequence's summed loss over its targets in the last forward pass with targets: for a language model the
     * negative log-likelihood −Σ log p(target) of the tokens it scores (0 for a sequence scoring none).
     */
    public double[] sequenceLosses() { return head.sequenceLosses(); }

    /** Switches the LoRA adapters on (the default) or off: off, the model is its base alone. */
    public void lora(boolean on) { trunk.lora(on); }

    /**
     * Starts the virtual tokens (prompt or prefix tuning) as the real tokens {@code ids} would be at their
     * positions: their embeddings, or the keys and values the base computes for them.
     */
    public void initPrompt(int[] ids) { trunk.initPrompt(ids); }

    /** The virtual tokens at the start of every sequence (prompt or prefix tuning), 0 without a prompt. */
    public int virtualTokens() { return trunk.virtual; }

    public void zeroGrad() { params.zeroGrad(be); }

    private void checkTargets(int[] ids) {
        int limit = options.classes() > 0 ? options.classes() : shape.vocab();
        String range = options.classes() > 0 ? "the classes [0, " + limit + ")" : "the vocabulary [0, " + limit + ")";
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] >= limit) throw new CramjetException("target id " + ids[i] + " at position " + i + " is outside " + range);
        }
    }

    public Backend backend() { return be; }

    /** The real vocabulary V: token ids are in [0, V). */
    public int vocabSize() { return shape.vocab(); }

    /** The width C of the hidden states. */
    public int width() { return shape.width(); }

    public Options options() { return options; }

    public int batch() { return trunk.batch; }

    public int seq() { return trunk.seq; }

    public Parameters parameters() { return params; }

    /** The logits of the last forward pass [rows, outputs] (their gradient after a training forward with targets). */
    public Tensor logits() { return head.logits(); }

    /** The hidden states [B·T, C] the last forward pass gave the head (valid until the next forward). */
    public Tensor hidden() { return hidden; }

    /** Row {@code row} of the last forward pass's logits (position b·seq + t, or sequence b for a classifier). */
    public float[] logitsAt(int row) { return head.logitsAt(row); }

    /** Every parameter, padded vocabulary rows included. */
    public long parameterCount() { return params.count(); }

    /** The parameter count with or without the learned position table (the FLOPs formula leaves it out). */
    public long parameterCount(boolean withPositions) {
        Param wpe = trunk.embed.positions;
        return withPositions || wpe == null ? params.count() : params.count() - wpe.size();
    }

    public List<Param> parameterList() { return params.all(); }

    public Param parameter(String name) { return params.get(name); }
}
