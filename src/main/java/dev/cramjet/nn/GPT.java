package dev.cramjet.nn;

import dev.cramjet.Hash;
import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Glu;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A GPT decoder over the {@link Backend} ops, in the spirit of nanoGPT and llm.c:
 * <pre>
 *   x = drop(wte[tokens] + wpe[t])                          (no wpe with RoPE)
 *   for each block:  x = x + drop(proj(attention(rope(qkv(norm1(x))))))
 *                    x = x + drop(proj2(act(fc(norm2(x)))))     act = gelu, or silu(gate)·up for SwiGLU
 *   logits = norm_f(x) · headᵀ                              head = wte when tied
 * </pre>
 *
 * <h2>Memory</h2>
 * Parameters live in one buffer and gradients in another with the same layout: weight matrices first (the group
 * AdamW decays), then embeddings, then norm weights and biases, so the optimizer is two launches. Activations come
 * from an arena sized once for (batch, seq); a step allocates nothing. Per layer the backward keeps only what it
 * cannot cheaply redo: the residual stream before each branch, qkv (after RoPE), the attention output and its
 * log-sum-exps, the MLP pre-activation, and the norms' statistics. The norm outputs and the MLP activation are
 * recomputed in the backward pass into shared scratch buffers; the residual stream's gradient is one buffer that
 * the norms' backward passes accumulate into.
 *
 * <h2>Use</h2>
 * {@code forward(tokens, targets)} returns the mean loss; {@code backward(accum)} adds this micro-batch's gradient
 * (scaled by 1/(valid targets · accum)) into the gradient buffer. In training mode the forward pass's fused
 * cross-entropy already overwrites the logits with their gradient (one pass over [B·T, Vp] instead of two); in
 * eval mode the logits stay readable and a backward pass, if any, recomputes the loss gradient. {@link #train(long)} turns dropout on with a seed for the next forward/backward pair (give each
 * micro-batch its own seed); {@link #eval()} turns it off.
 */
public final class GPT {

    /** Which optimizer group a parameter tensor belongs to; the buffer holds the groups in this order. */
    public enum Group { MATRIX, EMBEDDING, NORM_OR_BIAS }

    /** A named parameter tensor: its value and gradient are views into the two big buffers. */
    public record Param(String name, Group group, Tensor value, Tensor grad) {}

    private record Spec(String name, Group group, int... shape) {}

    /** One block's parameters; biases are null without {@code bias}, norm biases null for RMSNorm. */
    private record Block(Param ln1w, Param ln1b, Param qkvW, Param qkvB, Param projW, Param projB,
                         Param ln2w, Param ln2b, Param fcW, Param fcB, Param proj2W, Param proj2B) {}

    private final Backend be;
    private final GPTConfig cfg;
    private final int batch, seq, rows, c, vocab;
    private final boolean layerNorm;

    private final Tensor params, grads;
    private final List<Param> paramList;
    private final Map<String, Param> byName = new LinkedHashMap<>();
    private final long matrixElements;
    private final Param wte, wpe, head, lnfW, lnfB;
    private final Block[] blocks;

    // Activations [rows = B·T, ...], per layer where the backward pass needs them.
    private final Tensor tokens, targets, losses;
    private final Tensor[] res, resBtc;        // L+1 residual streams, block inputs (and the final one)
    private final Tensor[] mid;                // residual stream between attention and MLP
    private final Tensor[] qkv, qkvBtc, atty, attyBtc, lse, pre;
    private final Tensor[] mean1, rstd1, mean2, rstd2;
    private final Tensor lnf, meanF, rstdF, logits;
    // Scratch shared by all layers.
    private final Tensor lnBuf, hBuf;
    private final Tensor dres, dresBtc, dTmp, dAtty, dAttyBtc, dQkv, dQkvBtc, dPre, dH;
    private final float[] hostLosses;

    private boolean training;
    private long stepSeed;
    // What the last forward pass did, for the backward pass.
    private float forwardDropout;
    private long forwardSeed;
    private int forwardValid = -1;
    private boolean gradInLogits;

    public GPT(Backend backend, GPTConfig config, int batch, int seq, long seed) {
        if (batch <= 0) throw new CramjetException("batch size must be positive, got " + batch);
        if (seq <= 0 || seq > config.blockSize()) {
            throw new CramjetException("sequence length must be in [1, block_size = " + config.blockSize() + "], got " + seq);
        }
        this.be = backend;
        this.cfg = config;
        this.batch = batch;
        this.seq = seq;
        this.rows = batch * seq;
        this.c = config.nEmbd();
        this.vocab = config.vocabSize();
        this.layerNorm = config.norm() == GPTConfig.Norm.LAYER;
        int layers = config.nLayer();

        // ---- parameter layout: matrices, then embeddings, then norms and biases -----------------------------
        List<Spec> specs = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            specs.add(new Spec(p + "attn.qkv.weight", Group.MATRIX, 3 * c, c));
            specs.add(new Spec(p + "attn.proj.weight", Group.MATRIX, c, c));
            specs.add(new Spec(p + "mlp.fc.weight", Group.MATRIX, config.fcWidth(), c));
            specs.add(new Spec(p + "mlp.proj.weight", Group.MATRIX, c, config.mlpHidden()));
        }
        if (!config.tiedEmbeddings()) specs.add(new Spec("lm_head.weight", Group.MATRIX, config.paddedVocab(), c));
        specs.add(new Spec("wte.weight", Group.EMBEDDING, config.paddedVocab(), c));
        if (config.positions() == GPTConfig.Positions.LEARNED) {
            specs.add(new Spec("wpe.weight", Group.EMBEDDING, config.blockSize(), c));
        }
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            specs.add(new Spec(p + "ln_1.weight", Group.NORM_OR_BIAS, c));
            if (layerNorm && config.bias()) specs.add(new Spec(p + "ln_1.bias", Group.NORM_OR_BIAS, c));
            if (config.bias()) {
                specs.add(new Spec(p + "attn.qkv.bias", Group.NORM_OR_BIAS, 3 * c));
                specs.add(new Spec(p + "attn.proj.bias", Group.NORM_OR_BIAS, c));
            }
            specs.add(new Spec(p + "ln_2.weight", Group.NORM_OR_BIAS, c));
            if (layerNorm && config.bias()) specs.add(new Spec(p + "ln_2.bias", Group.NORM_OR_BIAS, c));
            if (config.bias()) {
                specs.add(new Spec(p + "mlp.fc.bias", Group.NORM_OR_BIAS, config.fcWidth()));
                specs.add(new Spec(p + "mlp.proj.bias", Group.NORM_OR_BIAS, c));
            }
        }
        specs.add(new Spec("ln_f.weight", Group.NORM_OR_BIAS, c));
        if (layerNorm && config.bias()) specs.add(new Spec("ln_f.bias", Group.NORM_OR_BIAS, c));

        long total = 0, matrices = 0;
        for (Spec s : specs) {
            long n = 1;
            for (int d : s.shape) n *= d;
            total += n;
            if (s.group == Group.MATRIX) matrices += n;
        }
        if (total > Integer.MAX_VALUE) throw new CramjetException("model has " + total + " parameters; at most 2^31 are supported");
        DType dt = backend.computeType();
        this.params = backend.alloc(dt, (int) total);
        this.grads = backend.alloc(dt, (int) total);
        this.matrixElements = matrices;
        List<Param> list = new ArrayList<>();
        long at = 0;
        for (Spec s : specs) {
            Param p = new Param(s.name, s.group, params.view(at, s.shape), grads.view(at, s.shape));
            list.add(p);
            byName.put(p.name(), p);
            at += p.value().size();
        }
        this.paramList = Collections.unmodifiableList(list);
        this.wte = byName.get("wte.weight");
        this.wpe = byName.get("wpe.weight");
        this.head = config.tiedEmbeddings() ? wte : byName.get("lm_head.weight");
        this.lnfW = byName.get("ln_f.weight");
        this.lnfB = byName.get("ln_f.bias");
        this.blocks = new Block[layers];
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            blocks[l] = new Block(byName.get(p + "ln_1.weight"), byName.get(p + "ln_1.bias"),
                    byName.get(p + "attn.qkv.weight"), byName.get(p + "attn.qkv.bias"),
                    byName.get(p + "attn.proj.weight"), byName.get(p + "attn.proj.bias"),
                    byName.get(p + "ln_2.weight"), byName.get(p + "ln_2.bias"),
                    byName.get(p + "mlp.fc.weight"), byName.get(p + "mlp.fc.bias"),
                    byName.get(p + "mlp.proj.weight"), byName.get(p + "mlp.proj.bias"));
        }

        // ---- activation arena --------------------------------------------------------------------------------
        int h = config.mlpHidden(), fc = config.fcWidth(), heads = config.nHead();
        tokens = backend.alloc(DType.I32, batch, seq);
        targets = backend.alloc(DType.I32, rows);
        losses = backend.alloc(DType.F32, rows);
        hostLosses = new float[rows];
        Tensor resAll = backend.alloc(dt, layers + 1, rows, c);
        Tensor midAll = backend.alloc(dt, layers, rows, c);
        Tensor qkvAll = backend.alloc(dt, layers, rows, 3 * c);
        Tensor attyAll = backend.alloc(dt, layers, rows, c);
        Tensor lseAll = backend.alloc(DType.F32, layers, batch, heads, seq);
        Tensor preAll = backend.alloc(dt, layers, rows, fc);
        Tensor statsAll = backend.alloc(DType.F32, 4, layers, rows);
        res = new Tensor[layers + 1];
        resBtc = new Tensor[layers + 1];
        mid = new Tensor[layers];
        qkv = new Tensor[layers];
        qkvBtc = new Tensor[layers];
        atty = new Tensor[layers];
        attyBtc = new Tensor[layers];
        lse = new Tensor[layers];
        pre = new Tensor[layers];
        mean1 = new Tensor[layers];
        rstd1 = new Tensor[layers];
        mean2 = new Tensor[layers];
        rstd2 = new Tensor[layers];
        for (int l = 0; l <= layers; l++) {
            res[l] = resAll.slice(l);
            resBtc[l] = res[l].reshape(batch, seq, c);
        }
        for (int l = 0; l < layers; l++) {
            mid[l] = midAll.slice(l);
            qkv[l] = qkvAll.slice(l);
            qkvBtc[l] = qkv[l].reshape(batch, seq, 3 * c);
            atty[l] = attyAll.slice(l);
            attyBtc[l] = atty[l].reshape(batch, seq, c);
            lse[l] = lseAll.slice(l);
            pre[l] = preAll.slice(l);
            mean1[l] = statsAll.slice(0).slice(l);
            rstd1[l] = statsAll.slice(1).slice(l);
            mean2[l] = statsAll.slice(2).slice(l);
            rstd2[l] = statsAll.slice(3).slice(l);
        }
        lnf = backend.alloc(dt, rows, c);
        meanF = backend.alloc(DType.F32, rows);
        rstdF = backend.alloc(DType.F32, rows);
        logits = backend.alloc(dt, rows, config.paddedVocab());
        lnBuf = backend.alloc(dt, rows, c);
        hBuf = backend.alloc(dt, rows, h);
        dres = backend.alloc(dt, rows, c);
        dresBtc = dres.reshape(batch, seq, c);
        dTmp = backend.alloc(dt, rows, c);
        dAtty = backend.alloc(dt, rows, c);
        dAttyBtc = dAtty.reshape(batch, seq, c);
        // dqkv (attention branch) and dpre (MLP branch) are never live together: one buffer serves both.
        Tensor wide = backend.alloc(dt, rows * Math.max(3 * c, fc));
        dQkv = wide.view(0, rows, 3 * c);
        dQkvBtc = dQkv.reshape(batch, seq, 3 * c);
        dPre = wide.view(0, rows, fc);
        // GELU's backward runs in place (dpre = dh); SwiGLU's maps dh [N,H] to dpre [N,2H] and needs its own dh.
        dH = config.mlp() == GPTConfig.Mlp.GELU ? dPre : backend.alloc(dt, rows, h);

        initialize(seed);
    }

    // ---- initialization --------------------------------------------------------------------------------------

    /**
     * GPT-2 initialization from a seeded host RNG: weights N(0, 0.02), the projections into the residual stream
     * N(0, 0.02/√(2L)) so the stream's variance does not grow with depth, biases 0, norm weights 1. Padding rows
     * of the vocabulary are 0 (they are never read by the loss and get no gradient).
     */
    private void initialize(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double residualStd = 0.02 / Math.sqrt(2.0 * cfg.nLayer());
        float[] chunk = new float[1 << 16]; // uploaded piece by piece: no host copy of the whole model
        for (Param p : paramList) {
            String n = p.name();
            boolean bias = n.endsWith(".bias"), normWeight = !bias && p.group() == Group.NORM_OR_BIAS;
            double std = n.endsWith("proj.weight") ? residualStd : 0.02;
            long real = (n.equals("wte.weight") || n.equals("lm_head.weight")) ? (long) vocab * c : p.value().size();
            Tensor flat = p.value().reshape((int) p.value().size());
            for (long at = 0; at < flat.size(); at += chunk.length) {
                int len = (int) Math.min(chunk.length, flat.size() - at);
                float[] v = len == chunk.length ? chunk : new float[len];
                for (int i = 0; i < len; i++) {
                    v[i] = bias ? 0f : normWeight ? 1f : at + i < real ? (float) (rng.nextGaussian() * std) : 0f;
                }
                be.upload(flat.view(at, len), v);
            }
        }
    }

    // ---- forward ---------------------------------------------------------------------------------------------

    /** Dropout on for the next forward/backward pair, masks drawn from {@code seed} (use a new seed per micro-batch). */
    public void train(long seed) {
        training = true;
        stepSeed = seed;
    }

    /** Dropout off. */
    public void eval() { training = false; }

    public boolean training() { return training; }

    /**
     * Runs the model on tokens [batch·seq] (row-major [B,T]). With targets (same length; negative = ignored)
     * returns the mean cross-entropy over the non-ignored targets (NaN when all are ignored); with null targets
     * only the logits are computed and the result is NaN.
     */
    public float forward(int[] tokenIds, int[] targetIds) {
        checkIds(tokenIds, "token", false);
        be.upload(tokens, tokenIds);
        forwardDropout = training ? cfg.dropout() : 0f;
        forwardSeed = stepSeed;
        float p = forwardDropout;
        int heads = cfg.nHead();

        be.embedding(resBtc[0], tokens, wteRows(wte.value()), wpe == null ? null : wpe.value(), 0);
        if (p > 0) be.dropout(res[0], res[0], p, seed(0));
        for (int l = 0; l < blocks.length; l++) {
            Block b = blocks[l];
            norm(lnBuf, mean1[l], rstd1[l], res[l], b.ln1w, b.ln1b);
            linear(qkv[l], lnBuf, b.qkvW, b.qkvB, Epilogue.NONE);
            if (cfg.positions() == GPTConfig.Positions.ROPE) be.rope(qkvBtc[l], heads, cfg.ropeTheta(), 0);
            be.attention(attyBtc[l], lse[l], qkvBtc[l], heads, Mask.CAUSAL);
            linear(mid[l], atty[l], b.projW, b.projB, new Epilogue.Residual(res[l], p, seed(1 + 2 * l)));
            norm(lnBuf, mean2[l], rstd2[l], mid[l], b.ln2w, b.ln2b);
            mlpActivation(b, l, true);
            linear(res[l + 1], hBuf, b.proj2W, b.proj2B, new Epilogue.Residual(mid[l], p, seed(2 + 2 * l)));
        }
        norm(lnf, meanF, rstdF, res[blocks.length], lnfW, lnfB);
        linear(logits, lnf, head, null, Epilogue.NONE);

        if (targetIds == null) {
            forwardValid = -1;
            return Float.NaN;
        }
        checkIds(targetIds, "target", true);
        int valid = 0;
        for (int id : targetIds) if (id >= 0) valid++;
        be.upload(targets, targetIds);
        // In training the loss pass also leaves dloss/dlogits (for one micro-batch) in the logits buffer.
        gradInLogits = training && valid > 0;
        be.crossEntropy(losses, logits, targets, vocab, gradInLogits ? 1f / valid : 0f);
        be.download(losses, hostLosses);
        double sum = 0;
        for (int i = 0; i < rows; i++) if (targetIds[i] >= 0) sum += hostLosses[i];
        forwardValid = valid;
        return valid == 0 ? Float.NaN : (float) (sum / valid);
    }

    /**
     * The MLP's hidden activation into hBuf: in the forward pass the fc matmul also stores its pre-activation;
     * in the backward pass ({@code forward} false) the activation is recomputed from the stored pre-activation.
     */
    private void mlpActivation(Block b, int l, boolean forward) {
        if (cfg.mlp() == GPTConfig.Mlp.GELU) {
            if (forward) linear(hBuf, lnBuf, b.fcW, b.fcB, new Epilogue.Gelu(pre[l]));
            else be.gelu(hBuf, pre[l]);
        } else {
            if (forward) linear(pre[l], lnBuf, b.fcW, b.fcB, Epilogue.NONE);
            be.glu(hBuf, pre[l], Glu.SWIGLU);
        }
    }

    // ---- backward --------------------------------------------------------------------------------------------

    /** {@link #backward(int)} without gradient accumulation. */
    public void backward() { backward(1); }

    /**
     * Adds the gradient of the last forward pass's loss into the gradient buffer, scaled by
     * 1/(valid targets · accumSteps) so that accumSteps micro-batches sum to the gradient of their mean loss.
     * Overwrites the logits with their gradient.
     */
    public void backward(int accumSteps) {
        if (forwardValid < 0) throw new IllegalStateException("backward() needs a forward pass with targets first");
        if (accumSteps < 1) throw new IllegalArgumentException("accumSteps must be ≥ 1, got " + accumSteps);
        float scale = forwardValid == 0 ? 0f : 1f / ((float) forwardValid * accumSteps);
        float p = forwardDropout;
        int heads = cfg.nHead();

        if (!gradInLogits) {
            be.crossEntropy(losses, logits, targets, vocab, scale);          // logits ← dlogits
        } else if (accumSteps > 1) {
            // dlogits carry 1/valid only; the head's gradients are linear in lnf, so scale that ([N,C], not [N,Vp]).
            be.scale(lnf, 1f / accumSteps);
        }
        linearBackward(dTmp, logits, lnf, head, null);
        if (gradInLogits && accumSteps > 1) be.scale(dTmp, 1f / accumSteps);
        be.zero(dres);
        normBackward(dres, dTmp, res[blocks.length], lnfW, lnfB, meanF, rstdF);
        for (int l = blocks.length - 1; l >= 0; l--) {
            Block b = blocks[l];
            // MLP branch: res[l+1] = mid + drop(proj2(act(fc(norm2(mid))))); the skip passes dres through.
            mlpActivation(b, l, false);
            linearBackward(dH, dropoutBackward(dres, p, seed(2 + 2 * l)), hBuf, b.proj2W, b.proj2B);
            if (cfg.mlp() == GPTConfig.Mlp.GELU) be.geluBackward(dPre, pre[l], dH);
            else be.gluBackward(dPre, dH, pre[l], Glu.SWIGLU);
            norm(lnBuf, mean2[l], rstd2[l], mid[l], b.ln2w, b.ln2b);
            linearBackward(dTmp, dPre, lnBuf, b.fcW, b.fcB);
            normBackward(dres, dTmp, mid[l], b.ln2w, b.ln2b, mean2[l], rstd2[l]);
            // Attention branch: mid = res[l] + drop(proj(attention(qkv(norm1(res[l]))))).
            linearBackward(dAtty, dropoutBackward(dres, p, seed(1 + 2 * l)), atty[l], b.projW, b.projB);
            be.attentionBackward(dQkvBtc, dAttyBtc, qkvBtc[l], attyBtc[l], lse[l], heads, Mask.CAUSAL);
            if (cfg.positions() == GPTConfig.Positions.ROPE) be.ropeBackward(dQkvBtc, heads, cfg.ropeTheta());
            norm(lnBuf, mean1[l], rstd1[l], res[l], b.ln1w, b.ln1b);
            linearBackward(dTmp, dQkv, lnBuf, b.qkvW, b.qkvB);
            normBackward(dres, dTmp, res[l], b.ln1w, b.ln1b, mean1[l], rstd1[l]);
        }
        if (p > 0) be.dropoutBackward(dres, dres, p, seed(0));
        be.embeddingBackward(wteRows(wte.grad()), wpe == null ? null : wpe.grad(), dresBtc, tokens);
        forwardValid = -1;
    }

    /** The gradient of a residual branch's output: dres through the branch's dropout mask (into dTmp), or dres itself. */
    private Tensor dropoutBackward(Tensor d, float p, long seed) {
        if (p == 0) return d;
        be.dropoutBackward(dTmp, d, p, seed);
        return dTmp;
    }

    public void zeroGrad() { be.zero(grads); }

    // ---- small helpers over the backend ----------------------------------------------------------------------

    private void norm(Tensor out, Tensor mean, Tensor rstd, Tensor in, Param w, Param b) {
        if (layerNorm) be.layerNorm(out, mean, rstd, in, w.value(), b == null ? null : b.value(), cfg.normEps());
        else be.rmsNorm(out, rstd, in, w.value(), cfg.normEps());
    }

    private void normBackward(Tensor din, Tensor dout, Tensor in, Param w, Param b, Tensor mean, Tensor rstd) {
        if (layerNorm) be.layerNormBackward(din, w.grad(), b == null ? null : b.grad(), dout, in, w.value(), mean, rstd);
        else be.rmsNormBackward(din, w.grad(), dout, in, w.value(), rstd);
    }

    private void linear(Tensor out, Tensor in, Param w, Param b, Epilogue epilogue) {
        be.matmul(out, in, w.value(), b == null ? null : b.value(), epilogue);
    }

    private void linearBackward(Tensor din, Tensor dout, Tensor in, Param w, Param b) {
        be.matmulBackward(din, w.grad(), b == null ? null : b.grad(), dout, in, w.value());
    }

    /** The real-vocabulary rows [V, C] of a padded [Vp, C] table: the embedding op rejects ids ≥ V. */
    private Tensor wteRows(Tensor table) { return table.view(0, vocab, c); }

    /** A dropout site's seed: site 0 is the embedding, 1 + 2l and 2 + 2l are block l's two residual branches. */
    private long seed(int site) { return Hash.mix(forwardSeed + site * Hash.GOLDEN); }

    private void checkIds(int[] ids, String what, boolean allowIgnored) {
        if (ids.length != rows) {
            throw new CramjetException(what + "s: expected batch·seq = " + batch + "·" + seq + " = " + rows + " ids, got " + ids.length);
        }
        for (int i = 0; i < ids.length; i++) {
            int id = ids[i];
            if (id >= vocab || (id < 0 && !allowIgnored)) {
                throw new CramjetException(what + " id " + id + " at position " + i + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }

    // ---- access ----------------------------------------------------------------------------------------------

    public Backend backend() { return be; }

    public GPTConfig config() { return cfg; }

    public int batch() { return batch; }

    public int seq() { return seq; }

    /** The logits [B·T, Vp] of the last forward pass (their gradient after a training-mode forward with targets). */
    public Tensor logits() { return logits; }

    /** Downloads the logits of row {@code b·seq + t} of the last forward pass: vocabSize floats. */
    public float[] logitsAt(int row) {
        float[] padded = new float[cfg.paddedVocab()];
        be.download(logits.slice(row), padded);
        return java.util.Arrays.copyOf(padded, vocab);
    }

    /** All parameters, one buffer, in {@link #parameterList()} order. */
    public Tensor parameters() { return params; }

    /** All gradients, the same layout as {@link #parameters()}. */
    public Tensor gradients() { return grads; }

    public List<Param> parameterList() { return paramList; }

    public Param parameter(String name) {
        Param p = byName.get(name);
        if (p == null) throw new IllegalArgumentException("no parameter named '" + name + "'");
        return p;
    }

    public boolean hasParameter(String name) { return byName.containsKey(name); }

    /** Elements of the weight-matrix group, which comes first in the buffers (AdamW decays these). */
    public long matrixElements() { return matrixElements; }

    /** Elements of the matrices and embeddings, which come first (for optimizers that decay embeddings too). */
    public long matrixAndEmbeddingElements() {
        long n = 0;
        for (Param p : paramList) if (p.group() != Group.NORM_OR_BIAS) n += p.value().size();
        return n;
    }

    /** Every parameter, padded vocabulary rows included. */
    public long parameterCount() { return params.size(); }

    /** The parameter count with or without the learned position table (the FLOPs formula leaves it out). */
    public long parameterCount(boolean withPositions) {
        return withPositions || wpe == null ? params.size() : params.size() - wpe.value().size();
    }

    // ---- inference with a KV cache ---------------------------------------------------------------------------

    /** A batch-1 generation session holding up to {@code maxTokens} positions of keys and values per layer. */
    public Session session(int maxTokens) { return new Session(maxTokens); }

    /**
     * Incremental decoding: each {@link #next} call runs only the new tokens, attending to the cached keys and
     * values of everything before them. Buffers are allocated once per session (reuse it with {@link #reset}).
     * Dropout is always off.
     */
    public final class Session {
        private final int max;
        private final Tensor tok, x, ln, mean, rstd, q, y, hid, preAct, logitRow;
        private final Tensor[] kCache, vCache;
        private final float[] hostLogits;
        private int pos;

        private Session(int maxTokens) {
            if (maxTokens < 1 || maxTokens > cfg.blockSize()) {
                throw new CramjetException("session length must be in [1, block_size = " + cfg.blockSize() + "], got " + maxTokens);
            }
            DType dt = be.computeType();
            max = maxTokens;
            tok = be.alloc(DType.I32, maxTokens);
            x = be.alloc(dt, maxTokens, c);
            ln = be.alloc(dt, maxTokens, c);
            mean = be.alloc(DType.F32, maxTokens);
            rstd = be.alloc(DType.F32, maxTokens);
            q = be.alloc(dt, maxTokens, 3 * c);
            y = be.alloc(dt, maxTokens, c);
            hid = be.alloc(dt, maxTokens, cfg.mlpHidden());
            preAct = be.alloc(dt, maxTokens, cfg.fcWidth());
            logitRow = be.alloc(dt, 1, cfg.paddedVocab());
            hostLogits = new float[cfg.paddedVocab()];
            kCache = new Tensor[blocks.length];
            vCache = new Tensor[blocks.length];
            Tensor kv = be.alloc(dt, 2, blocks.length, 1, maxTokens, c);
            for (int l = 0; l < blocks.length; l++) {
                kCache[l] = kv.slice(0).slice(l);
                vCache[l] = kv.slice(1).slice(l);
            }
        }

        /** Tokens processed so far (the position the next token will take). */
        public int position() { return pos; }

        /** Forgets the cached tokens; the buffers are kept. */
        public void reset() { pos = 0; }

        /** Runs {@code newTokens} at positions [position, position + n) and returns the last one's logits [V]. */
        public float[] next(int[] newTokens) {
            int n = newTokens.length;
            if (n == 0) throw new IllegalArgumentException("next() needs at least one token");
            if (pos + n > max) {
                throw new CramjetException("generation session is full: " + pos + " + " + n + " tokens exceed its "
                        + max + " positions");
            }
            for (int i = 0; i < n; i++) {
                if (newTokens[i] < 0 || newTokens[i] >= vocab) {
                    throw new CramjetException("token id " + newTokens[i] + " is outside the vocabulary [0, " + vocab + ")");
                }
            }
            int heads = cfg.nHead();
            Tensor t = tok.view(0, 1, n);
            be.upload(t, newTokens);
            Tensor xs = x.view(0, n, c), lns = ln.view(0, n, c), ms = mean.view(0, n), rs = rstd.view(0, n);
            Tensor qs = q.view(0, 1, n, 3 * c), ys = y.view(0, 1, n, c);
            Tensor qRows = q.view(0, n, 3 * c), yRows = y.view(0, n, c);
            Tensor hs = hid.view(0, n, cfg.mlpHidden()), ps = preAct.view(0, n, cfg.fcWidth());
            be.embedding(xs.reshape(1, n, c), t, wteRows(wte.value()), wpe == null ? null : wpe.value(), pos);
            for (int l = 0; l < blocks.length; l++) {
                Block b = blocks[l];
                norm(lns, ms, rs, xs, b.ln1w, b.ln1b);
                linear(qRows, lns, b.qkvW, b.qkvB, Epilogue.NONE);
                if (cfg.positions() == GPTConfig.Positions.ROPE) be.rope(qs, heads, cfg.ropeTheta(), pos);
                be.attentionCached(ys, qs, kCache[l], vCache[l], pos, heads);
                linear(xs, yRows, b.projW, b.projB, new Epilogue.Residual(xs, 0f, 0));
                norm(lns, ms, rs, xs, b.ln2w, b.ln2b);
                if (cfg.mlp() == GPTConfig.Mlp.GELU) {
                    linear(hs, lns, b.fcW, b.fcB, new Epilogue.Gelu(null));
                } else {
                    linear(ps, lns, b.fcW, b.fcB, Epilogue.NONE);
                    be.glu(hs, ps, Glu.SWIGLU);
                }
                linear(xs, hs, b.proj2W, b.proj2B, new Epilogue.Residual(xs, 0f, 0));
            }
            // Only the last token's logits are needed.
            Tensor last = xs.view((long) (n - 1) * c, 1, c);
            norm(lns.view(0, 1, c), ms.view(0, 1), rs.view(0, 1), last, lnfW, lnfB);
            linear(logitRow, lns.view(0, 1, c), head, null, Epilogue.NONE);
            be.download(logitRow, hostLogits);
            pos += n;
            return java.util.Arrays.copyOf(hostLogits, vocab);
        }
    }
}
