package dev.cramjet.engine;

/**
 * The contract between the model and a device. Tensors are handles to memory the backend owns; the model calls
 * these coarse, fused ops and never touches elements. A GPU backend can implement every op as kernel launches on
 * one stream: nothing here returns a value computed on the device except {@link #download}, which is the only
 * synchronising call a training step needs (the trainer downloads the losses and the gradient norm).
 *
 * <h2>Conventions</h2>
 * <ul>
 * <li>Shapes: B batch, T sequence, C channels, N = B·T rows, H heads, hs = C/H head size, V vocabulary,
 *     Vp padded vocabulary (≥ V), OC output channels. Weights of linear layers are [OC, C] (PyTorch/llm.c order):
 *     y = x·Wᵀ + b.</li>
 * <li>fp32 accumulation always. Tensors of {@link #computeType()} hold weights and activations; int32 holds tokens
 *     and targets; optimizer state, norms statistics, logsumexp and losses are fp32.</li>
 * <li>Weights are stored per tensor: a weight matrix may be {@link DType#Q8_0} (int8 blocks with a scale each)
 *     where an op says so — {@link #matmul} and {@link #embedding} read it directly. Such weights are frozen:
 *     no op writes or differentiates them.</li>
 * <li>Backward ops: gradients of <b>parameters are accumulated</b> (+=), so micro-batches accumulate for free.
 *     Gradients of <b>activations are overwritten</b>, except where an op's doc says "accumulated" — the norms'
 *     {@code din}, which is the residual stream's gradient: the model keeps one residual-gradient buffer, the skip
 *     connection passes it through untouched, and each norm backward adds its branch into it.</li>
 * <li>Values an op reads on the device (mask lengths, pooling segments, token ids) may be validated there: a bad one
 *     is reported as an error at the latest by the next synchronising call ({@link #download},
 *     {@link #synchronize}).</li>
 * <li><b>Frozen parameters</b>: every parameter gradient of a backward op may be null; the op then skips that
 *     gradient's work (a frozen weight costs no weight-gradient GEMM, no gradient memory, no optimizer state) and
 *     still computes the activation gradients.</li>
 * <li>Output tensors never alias inputs unless the op's doc allows it.</li>
 * <li>Dropout masks are a pure function of (seed, element index) — a counter-based RNG — so the backward pass
 *     recomputes the mask instead of storing it, and CPU and GPU draw the same masks.</li>
 * </ul>
 */
public interface Backend extends AutoCloseable {

    /** "cpu", "cuda", … */
    String name();

    /** A line describing the device for logs and benchmarks (CPU model and cores, GPU name and memory). */
    String describe();

    /** The dtype of weights and activations on this backend: F32 on the CPU, BF16 on CUDA. */
    DType computeType();

    /**
     * The FLOP/s that model FLOP utilisation is measured against, in the compute type: on a CPU the measured fp32
     * FMA ceiling of all cores (a shared or throttled machine has no datasheet figure); on a GPU the datasheet's
     * dense tensor-core peak for the compute type. NaN when the device is not known.
     */
    double peakFlops();

    // ---- memory ----------------------------------------------------------------------------------------------

    /**
     * Allocates a zero-filled tensor. Call at set-up time only: the training loop allocates nothing. A Q8_0 tensor's
     * last dimension must be a multiple of 32.
     */
    Tensor alloc(DType dtype, int... shape);

    /**
     * Host → device. {@code dst} is F32, BF16 (values rounded to nearest even) or Q8_0 (quantized by its rule, see
     * {@link DType#Q8_0}); length must equal dst.size().
     */
    void upload(Tensor dst, float[] src);

    /** Host → device for I32 tensors (tokens, targets). */
    void upload(Tensor dst, int[] src);

    /** Host → device of a Q8_0 tensor's blocks as stored (ggml's block_q8_0, fp16 scale little-endian first). */
    void upload(Tensor dst, byte[] blocks);

    /** Device → host, converting to fp32 (Q8_0: d·q). Synchronises. */
    void download(Tensor src, float[] dst);

    /** Device → host for I32 tensors. Synchronises. */
    void download(Tensor src, int[] dst);

    /** Device → host of a Q8_0 tensor's blocks as stored. Synchronises. */
    void download(Tensor src, byte[] blocks);

    void zero(Tensor t);

    void fill(Tensor t, float value);

    /** dst = src, converting dtype (F32 ↔ BF16; F32 or BF16 → Q8_0 quantizes; Q8_0 → F32 or BF16). Same element count. */
    void copy(Tensor dst, Tensor src);

    /** Waits for all queued work (a no-op on the CPU). */
    void synchronize();

    /** Bytes currently allocated by this backend (device memory on a GPU, arrays on the CPU). */
    long allocatedBytes();

    /** Releases all memory. Tensors of this backend are invalid afterwards. */
    @Override
    void close();

    // ---- embedding -------------------------------------------------------------------------------------------

    /**
     * out[b,t,:] = wte[tokens[b,t], :] + wpe[posOffset + t, :]   (wpe may be null: RoPE models have no table)
     * out [B,T,C], tokens [B,T] I32, wte [V,C] (compute type or Q8_0), wpe [Tmax,C]. Token ids outside [0, V) are
     * an error.
     */
    void embedding(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int posOffset);

    /** dwte[tokens[b,t]] += dout[b,t];  dwpe[t] += Σ_b dout[b,t]  (either may be null). Positions start at 0. */
    void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens);

    // ---- normalisation ---------------------------------------------------------------------------------------

    /**
     * LayerNorm over the last dimension: μ = mean(x), r = 1/√(var(x) + eps), out = (x - μ)·r·weight + bias.
     * in/out [N,C]; mean, rstd [N] F32 are saved for the backward pass; bias may be null.
     */
    void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias, float eps);

    /** din (accumulated) += ∂L/∂x; dweight, dbias (nullable: frozen) accumulated. */
    void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                           Tensor mean, Tensor rstd);

    /** RMSNorm: r = 1/√(mean(x²) + eps), out = x·r·weight. rstd [N] F32 saved. */
    void rmsNorm(Tensor out, Tensor rstd, Tensor in, Tensor weight, float eps);

    /** din (accumulated) += ∂L/∂x; dweight (nullable: frozen) accumulated. */
    void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd);

    // ---- matmul ----------------------------------------------------------------------------------------------

    /**
     * y = in·weightᵀ + bias, then the epilogue decides what lands in out.
     * in [N,C], weight [OC,C] (compute type, or Q8_0 for inference), bias [OC] or null, out [N,OC].
     * With a Q8_0 weight the CPU backend quantizes in too, per row and block of 32: d_x = max|x|/127 (fp32),
     * q_x = rint(x·(127/max|x|)) ties to even (0 for a zero block), and y = Σ_blocks (d_w·d_x)·Σ q_w·q_x + bias, the
     * integer sums exact and the scaled block sums added in one fixed order that does not depend on N (engine/cpu's
     * q8.c states it); a backend may multiply the unquantized in instead (CUDA does, in bf16).
     */
    void matmul(Tensor out, Tensor in, Tensor weight, Tensor bias, Epilogue epilogue);

    /**
     * Backward of y = in·weightᵀ + bias:
     * din = dout·weight (overwritten), dweight += doutᵀ·in, dbias += Σ_rows dout. Each of din, dweight, dbias may be
     * null and is then skipped (dweight null: a frozen weight). weight is in the compute type: an int8 (Q8_0)
     * weight is for inference only, so nothing can be trained below a frozen int8 layer.
     */
    void matmulBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight);

    // ---- activations -----------------------------------------------------------------------------------------

    /** out = gelu(in), tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). out may alias in. */
    void gelu(Tensor out, Tensor in);

    /** din = dout · gelu'(pre). din may alias dout. */
    void geluBackward(Tensor din, Tensor pre, Tensor dout);

    /** A gated linear unit: in [N, 2H] = [gate | up]; out [N,H] = act(gate) · up, act as {@code kind} says. */
    void glu(Tensor out, Tensor in, Glu kind);

    /** din [N,2H] (overwritten) from dout [N,H] and the saved input: d gate = dout·up·act'(gate), d up = dout·act(gate). */
    void gluBackward(Tensor din, Tensor dout, Tensor in, Glu kind);

    /** out = a + b elementwise (for paths the fused epilogues do not cover). out may alias a or b. */
    void add(Tensor out, Tensor a, Tensor b);

    /** t = t · s. */
    void scale(Tensor t, float s);

    // ---- attention -------------------------------------------------------------------------------------------

    /**
     * Rotary position embedding, in place on the q and k thirds of qkv [B,T,3C], head by head, "rotate-half"
     * convention (GPT-NeoX / Hugging Face Llama): for i &lt; hs/2, angle = (posOffset + t)·θ^(-2i/hs),
     * (x_i, x_{i+hs/2}) ← (x_i·cos − x_{i+hs/2}·sin, x_i·sin + x_{i+hs/2}·cos). v is untouched.
     */
    void rope(Tensor qkv, int heads, float theta, int posOffset);

    /** The transpose of {@link #rope} applied in place to dqkv (rotation by −angle); positions start at 0. */
    void ropeBackward(Tensor dqkv, int heads, float theta);

    /**
     * Multi-head self-attention, flash-style: out = softmax(q·kᵀ/√hs over the keys the mask shows) · v, computed
     * in tiles with an online softmax so no T×T matrix is ever stored. qkv [B,T,3C] (q | k | v, head h at columns
     * h·hs), out [B,T,C], lse [B,H,T] F32 receives each row's log-sum-exp of the scaled scores for the backward
     * pass. {@link Mask}: causal or bidirectional, with optional per-sequence valid lengths (padded queries get 0).
     */
    void attention(Tensor out, Tensor lse, Tensor qkv, int heads, Mask mask);

    /**
     * Backward of {@link #attention} with the same mask, recomputing probabilities from qkv and lse (memory linear
     * in T). dqkv [B,T,3C] overwritten (0 at padded positions).
     */
    void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, Mask mask);

    /**
     * Incremental attention for generation: writes the k and v of qkv [B,Tn,3C] into kCache, vCache [B,Tmax,C]
     * at positions [pos, pos+Tn), then query i (at position pos+i) attends to cache positions [0, pos+i].
     * out [B,Tn,C]. Identical in value to {@link #attention} over the whole sequence.
     */
    void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, int pos, int heads);

    /**
     * {@link #attentionCached(Tensor, Tensor, Tensor, Tensor, int, int)} for a decoding step of several sequences,
     * each at its own position, in one call: entry e of {@code step} is rows [first, first + count) of qkv [N,3C] and
     * out [N,C], the tokens of sequence seq of the caches kCache, vCache [S,Tmax,C] at positions [pos, pos + count).
     * Equal to that op on each entry's rows and its sequence's caches ([1, count, ·] views, kCache.slice(seq) as
     * [1,Tmax,C]), which is what this default does; a backend may run the entries together. Sequences are distinct.
     */
    default void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, DecodeStep step, int heads) {
        int c = out.dim(out.rank() - 1), tmax = kCache.dim(1);
        for (int e = 0; e < step.entries(); e++) {
            int first = step.first(e), count = step.count(e), s = step.seq(e);
            attentionCached(out.view((long) first * c, 1, count, c), qkv.view((long) first * 3 * c, 1, count, 3 * c),
                    kCache.slice(s).reshape(1, tmax, c), vCache.slice(s).reshape(1, tmax, c), step.pos(e), heads);
        }
    }

    // ---- regularisation --------------------------------------------------------------------------------------

    /**
     * Inverted dropout: out_i = keep_i ? in_i / (1-p) : 0, keep_i = {@link Rng#keep}(seed, i, p),
     * i the element index within the tensor. out may alias in. p = 0 copies.
     */
    void dropout(Tensor out, Tensor in, float p, long seed);

    /** din_i = keep_i ? dout_i / (1-p) : 0 with the forward's mask. din may alias dout. */
    void dropoutBackward(Tensor din, Tensor dout, float p, long seed);

    // ---- rows ------------------------------------------------------------------------------------------------

    /**
     * Averages runs of rows: out[s,:] = (1/count_s)·Σ in[first_s + r, :] for r &lt; count_s. segments [S,2] I32
     * holds (first_s, count_s ≥ 1) rows of in [N,C]; out [S,C]. A count of 1 gathers a row (the masked positions a
     * sparse head scores, a causal classifier's last token), a sequence's count averages it (mean pooling).
     */
    void pool(Tensor out, Tensor in, Tensor segments);

    /**
     * Backward of {@link #pool}: din [N,C] overwritten, din[r,:] = Σ over the segments s holding r of
     * dout[s,:]/count_s, and 0 for rows in no segment.
     */
    void poolBackward(Tensor din, Tensor dout, Tensor segments);

    // ---- loss ------------------------------------------------------------------------------------------------

    /**
     * Fused softmax + cross-entropy over the first {@code vocab} columns of logits [N,Vp] (padding columns ignored):
     * losses[i] = logsumexp(logits[i,:V]) − logits[i, targets[i]], and 0 where targets[i] &lt; 0 (ignored).
     * If gradScale ≠ 0, logits is overwritten in place by its gradient:
     * gradScale·(softmax(logits[i,:V]) − onehot(targets[i])), zero in padding columns and in ignored rows.
     * The normalised probabilities are never stored. losses [N] F32, targets [N] I32.
     */
    void crossEntropy(Tensor losses, Tensor logits, Tensor targets, int vocab, float gradScale);

    // ---- distillation ----------------------------------------------------------------------------------------

    /**
     * The soft-target loss of distillation (Hinton et al. 2015) over the first {@code vocab} columns of student and
     * teacher logits [N, Vp]: with p = softmax(teacher/τ) and q = softmax(student/τ) per row,
     * losses[i] = τ²·KL(p ‖ q) = τ²·Σ_j p_j·(log p_j − log q_j) — the τ² keeps the gradient's scale independent of
     * τ. If gradScale ≠ 0, student is overwritten by its gradient gradScale·τ·(q − p), zero in padding columns.
     * teacher is only read. τ &gt; 0; losses [N] F32.
     */
    void klDivergence(Tensor losses, Tensor student, Tensor teacher, int vocab, float temperature, float gradScale);

    /**
     * Cosine distance of rows a, b [N, C]: losses[i] = 1 − a_i·b_i / (max(‖a_i‖, ε)·max(‖b_i‖, ε)), ε = 1e-8
     * (PyTorch's cosine_similarity). If da is not null it is overwritten by gradScale·∂losses[i]/∂a_i =
     * gradScale·(cos_i·a_i/‖a_i‖² − b_i/(‖a_i‖·‖b_i‖)), the first term dropped where ‖a_i‖ &lt; ε. losses [N] F32.
     */
    void cosineLoss(Tensor losses, Tensor da, Tensor a, Tensor b, float gradScale);

    // ---- optimiser -------------------------------------------------------------------------------------------

    /** out[0] = √(Σ x²) over all of x (the global gradient norm when x is the one gradient buffer). out [1] F32. */
    void globalNorm(Tensor out, Tensor x);

    /**
     * One fused AdamW step (see {@link AdamW}) over a contiguous range of parameters. m, v are F32 and the same
     * size as params. {@code master} is the F32 master copy when params are BF16 (null when params are F32; then
     * params are updated directly). {@code gradNorm} ([1] F32, from {@link #globalNorm}) enables clipping to
     * hp.maxGradNorm() on the device; null disables clipping.
     */
    void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor master, Tensor gradNorm, AdamW hp);
}
