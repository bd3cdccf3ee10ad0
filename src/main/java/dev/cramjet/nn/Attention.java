package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.DecodeStep;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

/**
 * Multi-head self-attention: qkv = x·Wqkvᵀ (+ RoPE on q and k), y = attention(qkv) under a {@link Mask}, then the
 * output projection, whose epilogue adds the residual stream (with dropout). Keeps qkv after RoPE, y and the
 * log-sum-exps for the backward pass; decoding writes k and v into a {@link Cache} instead. With prefix tuning
 * ({@link Prompt}) the qkv rows of the first n positions of every sequence are the learned prefix.
 *
 * <p>The attention width A = heads × head size is the model width C unless heads were pruned: qkv is C → 3A, the
 * output projection A → C, and q, k, v, the output and the KV cache are A wide. The backend's attention ops read
 * the head size as A / heads from the qkv tensor, so nothing below this layer knows C.
 */
public final class Attention {
    private final Backend be;
    final Linear qkv, proj;
    private final int heads, a, batch, seq;
    private final float ropeTheta;   // 0: no RoPE
    private final Tensor qkvOut, y, lse;
    private final Workspace ws;
    /** Prefix tuning: the virtual positions' qkv rows [n, 3A] (null: none). */
    final Param prefix;
    /** Off while the prefix is being initialised from the qkv the layer computes for real tokens. */
    private boolean writePrefix = true;

    /** The keys and values of the positions decoded so far: [B, Tmax, A] each. */
    public record Cache(Tensor k, Tensor v) {}

    /**
     * @param a      attention width, heads × head size
     * @param prefix prefix-tuning virtual tokens (0: none)
     */
    Attention(Backend be, Parameters ps, Workspace ws, String name, int batch, int seq, int c, int a, int heads, boolean bias,
              float ropeTheta, double projStd, int prefix) {
        this.be = be;
        this.ws = ws;
        this.a = a;
        this.heads = heads;
        this.batch = batch;
        this.seq = seq;
        this.ropeTheta = ropeTheta;
        this.qkv = new Linear(be, ps, name + ".qkv", Group.BASE, c, 3 * a, bias, 0.02);
        this.proj = new Linear(be, ps, name + ".proj", Group.BASE, a, c, bias, projStd);
        this.prefix = prefix == 0 ? null
                : ps.add(name + ".prefix", Group.ADAPTER, Kind.EMBEDDING, new Init.Normal(1, (long) prefix * 3 * a), false, prefix, 3 * a);
        DType dt = be.computeType();
        qkvOut = be.alloc(dt, batch, seq, 3 * a);
        y = be.alloc(dt, batch, seq, a);
        lse = be.alloc(DType.F32, batch, heads, seq);
    }

    /** out = residual + drop(proj(attention(qkv(x)))), x [B·T, C] the normed input. */
    void forward(Tensor out, Tensor x, Tensor residual, Mask mask, float p, long seed) {
        qkv.forward(qkvOut, x, Epilogue.NONE, null);
        if (ropeTheta > 0) be.rope(qkvOut, heads, ropeTheta, 0);
        if (prefix != null && writePrefix) for (int b = 0; b < batch; b++) be.copy(virtualRows(qkvOut, b, seq), prefix.value());
        be.attention(y, lse, qkvOut, heads, mask);
        proj.forward(out, y.reshape(batch * seq, a), new Epilogue.Residual(residual, p, seed), null);
    }

    /**
     * From dOut (the gradient reaching the residual add, before dropout) to dx, the gradient of the normed input
     * x (overwritten into the workspace's dTmp, which is returned); x is the forward's normed input, recomputed.
     */
    Tensor backward(Tensor dOut, Tensor x, Mask mask, float p, long seed) {
        Tensor dy = Block.dropped(be, ws, dOut, p, seed);
        proj.backward(ws.dAtt, dy, y.reshape(batch * seq, a), ws.adapterIn, ws.adapterRank);
        Tensor dqkv = ws.dQkv.reshape(batch, seq, 3 * a);
        be.attentionBackward(dqkv, ws.dAtt.reshape(batch, seq, a), qkvOut, y, lse, heads, mask);
        if (prefix != null) {
            for (int b = 0; b < batch; b++) {
                Tensor rows = virtualRows(dqkv, b, seq);
                if (prefix.grad() != null) be.add(prefix.grad(), prefix.grad(), rows);
                be.zero(rows);                            // the prefix is a parameter: nothing flows below it
            }
        }
        if (ropeTheta > 0) be.ropeBackward(dqkv, heads, ropeTheta);
        qkv.backward(ws.dTmp, ws.dQkv, x, ws.adapterIn, ws.adapterRank);
        return ws.dTmp;
    }

    /**
     * Decoding a step: x [rows, C] normed, out = residual + the attention branch (in place when out is residual).
     * The projections and the attention run over all the step's rows at once, the attention on the batch's cache
     * (B = slots), each entry at its slot's own position, which also receives its keys and values; RoPE runs per
     * entry. A prefix-tuned layer's entry at position 0 starts with the virtual tokens: their rows take the learned
     * prefix.
     */
    void decode(Tensor out, Tensor x, Tensor residual, Cache cache, DecodeStep step, Workspace session) {
        int n = x.rows();
        Tensor q = Workspace.rows(session.qkv, n), att = Workspace.rows(session.att, n);
        qkv.forward(q, x, Epilogue.NONE, session.rank);
        for (int e = 0; e < step.entries(); e++) {
            int first = step.first(e), count = step.count(e), pos = step.pos(e);
            if (ropeTheta > 0) be.rope(q.view((long) first * 3 * a, 1, count, 3 * a), heads, ropeTheta, pos);
            if (prefix != null && pos == 0) be.copy(virtualRows(q.view((long) first * 3 * a, count, 3 * a), 0, count), prefix.value());
        }
        be.attentionCached(att, q, cache.k(), cache.v(), step, heads);
        proj.forward(out, att, new Epilogue.Residual(residual, 0f, 0), session.rank);
    }

    /** Whether the training forward writes the prefix (off: the layer's own qkv stays, for {@link #keepPrefix}). */
    void writePrefix(boolean on) { writePrefix = on; }

    /** Takes the qkv rows the last forward computed at the virtual positions of sequence 0 as the prefix. */
    void keepPrefix() { be.copy(prefix.value(), virtualRows(qkvOut, 0, seq)); }

    /** The qkv rows [n, 3A] of the virtual positions of sequence b in a [B, T, 3A] buffer. */
    private Tensor virtualRows(Tensor qkvs, int b, int t) {
        int n = prefix.shape()[0];
        return qkvs.view((long) b * t * 3 * a, n, 3 * a);
    }

    /** An empty cache for B sequences of up to tmax positions. */
    Cache cache(int b, int tmax) {
        return new Cache(be.alloc(be.computeType(), b, tmax, a), be.alloc(be.computeType(), b, tmax, a));
    }

    boolean trainable() { return qkv.trainable() || proj.trainable() || (prefix != null && prefix.trainable()); }
}
