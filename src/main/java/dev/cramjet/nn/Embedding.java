package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

/**
 * x = wte[tokens] + positions: the token table [Vp, C] (rows past the real vocabulary V are padding that keeps the
 * output head's matmul evenly tiled, never looked up and never trained) plus, by {@link GPTConfig.Positions}:
 * <ul>
 * <li>LEARNED — a position table wpe [T, C];</li>
 * <li>SINUSOIDAL — Cramming's scaled sinusoids: s·PE[t] with the fixed table of "Attention is all you need"
 *     (PE[t, 2i] = sin(t·ω_i), PE[t, 2i+1] = cos(t·ω_i), ω_i = 10000^(−2i/C)) and one learned scale s, started at
 *     1/√C (FLASH, Hua et al. 2022);</li>
 * <li>ROPE — nothing here (the attention rotates q and k).</li>
 * </ul>
 * With prompt tuning ({@link Prompt}) the first n positions of every sequence take their rows from
 * {@code prompt_embeddings} [n, C] instead of wte.
 */
public final class Embedding {
    private final Backend be;
    final Param tokens, positions, scale, prompt;
    private final int vocab, c;
    /** Scaled sinusoids: the fixed table PE [T, C], s·PE as the embedding op reads it, and its gradient. */
    private final Tensor sinusoids, scaled, dScaled;
    /** The ids 0 … n-1 [1, n] that look the virtual tokens up in the prompt table. */
    private final Tensor virtualIds;

    /**
     * @param blockSize the longest sequence: the rows of a position table
     * @param prompt prompt-tuning virtual tokens (0: none)
     */
    Embedding(Backend be, Parameters ps, int vocab, int paddedVocab, int c, GPTConfig.Positions kind, int blockSize, int prompt) {
        this.be = be;
        this.vocab = vocab;
        this.c = c;
        this.tokens = ps.add("wte.weight", Group.BASE, Kind.EMBEDDING, new Init.Normal(0.02, (long) vocab * c), true, paddedVocab, c);
        this.positions = kind != GPTConfig.Positions.LEARNED ? null
                : ps.add("wpe.weight", Group.BASE, Kind.EMBEDDING, new Init.Normal(0.02, (long) blockSize * c), false, blockSize, c);
        boolean sin = kind == GPTConfig.Positions.SINUSOIDAL;
        this.scale = sin ? ps.add("wpe.scale", Group.BASE, Kind.NORM_OR_BIAS, new Init.Constant((float) (1 / Math.sqrt(c))), false, 1) : null;
        this.sinusoids = sin ? be.alloc(be.computeType(), blockSize, c) : null;
        this.scaled = sin ? be.alloc(be.computeType(), blockSize, c) : null;
        this.dScaled = sin ? be.alloc(be.computeType(), blockSize, c) : null;
        if (sin) be.upload(sinusoids, table(blockSize, c));
        this.prompt = prompt == 0 ? null
                : ps.add("prompt_embeddings", Group.ADAPTER, Kind.EMBEDDING, new Init.Normal(0.02, (long) prompt * c), false, prompt, c);
        if (prompt > 0) {
            virtualIds = be.alloc(DType.I32, 1, prompt);
            int[] ids = new int[prompt];
            for (int i = 0; i < prompt; i++) ids[i] = i;
            be.upload(virtualIds, ids);
        } else {
            virtualIds = null;
        }
    }

    /** The sinusoid table PE [rows, C], row-major. */
    static float[] table(int rows, int c) {
        float[] pe = new float[rows * c];
        for (int t = 0; t < rows; t++) {
            for (int i = 0; 2 * i < c; i++) {
                double angle = t * Math.pow(10000, -2.0 * i / c);
                pe[t * c + 2 * i] = (float) Math.sin(angle);
                if (2 * i + 1 < c) pe[t * c + 2 * i + 1] = (float) Math.cos(angle);
            }
        }
        return pe;
    }

    /**
     * out [B,T,C] for ids [B,T] at positions [offset, offset + T). With a prompt, a call at offset 0 covers the
     * virtual positions and their rows come from the prompt table.
     */
    void forward(Tensor out, Tensor ids, int offset) {
        Tensor wpe = positions == null ? null : positions.value();
        if (scale != null) {
            // s·PE as a matmul of PE's elements [T·C, 1] by the scale [1, 1]: the scale stays on the device.
            int n = (int) sinusoids.size();
            be.matmul(scaled.reshape(n, 1), sinusoids.reshape(n, 1), scale.value().reshape(1, 1), null, Epilogue.NONE);
            wpe = scaled;
        }
        be.embedding(out, ids, rows(tokens.value()), wpe, offset);
        if (prompt == null || offset > 0) return;
        for (int b = 0; b < out.dim(0); b++) be.embedding(virtualRows(out, b, out.dim(1)), virtualIds, prompt.value(), wpe, 0);
    }

    /** Adds dout [B,T,C] into the tables' gradients (those trained). */
    void backward(Tensor dout, Tensor ids) {
        Tensor dwte = tokens.grad() == null ? null : rows(tokens.grad());
        boolean scaleTrains = scale != null && scale.grad() != null;
        Tensor dwpe = scale != null ? (scaleTrains ? dScaled : null) : positions == null ? null : positions.grad();
        if (scaleTrains) be.zero(dScaled);
        if (dwte != null || dwpe != null) be.embeddingBackward(dwte, dwpe, dout, ids);
        if (scaleTrains) {
            // ds += Σ ∂L/∂(s·PE) ∘ PE: a [1, T·C] by [T·C] dot product whose epilogue adds into the gradient.
            int n = (int) sinusoids.size();
            Tensor ds = scale.grad().reshape(1, 1);
            be.matmul(ds, dScaled.reshape(1, n), sinusoids.reshape(1, n), null, new Epilogue.Residual(ds, 0f, 0));
        }
        if (prompt == null || prompt.grad() == null) return;
        for (int b = 0; b < dout.dim(0); b++) be.embeddingBackward(prompt.grad(), null, virtualRows(dout, b, dout.dim(1)), virtualIds);
    }

    /** Rows [0, n) of sequence b of a [B, T, C] tensor, as [1, n, C]. */
    private Tensor virtualRows(Tensor x, int b, int t) {
        int n = virtualIds.dim(1);
        return x.view((long) b * t * c, 1, n, c);
    }

    /** The real-vocabulary rows [V, C] of the padded table: the embedding op rejects ids ≥ V. */
    private Tensor rows(Tensor table) { return table.view(0, vocab, c); }

    boolean trainable() {
        return tokens.trainable() || (positions != null && positions.trainable()) || (scale != null && scale.trainable())
                || (prompt != null && prompt.trainable());
    }
}
