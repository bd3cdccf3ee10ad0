package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;

/**
 * Multi-head self-attention: qkv = x·Wqkvᵀ (+ RoPE on q and k), y = attention(qkv) under a {@link Mask}, then the
 * output projection, whose epilogue adds the residual stream (with dropout). Keeps qkv after RoPE, y and the
 * log-sum-exps for the backward pass; decoding writes k and v into a {@link Cache} instead.
 */
public final class Attention {
    private final Backend be;
    final Linear qkv, proj;
    private final int heads, c, batch, seq;
    private final float ropeTheta;   // 0: no RoPE
    private final Tensor qkvOut, y, lse;
    private final Workspace ws;

    /** The keys and values of the positions decoded so far: [B, Tmax, C] each. */
    public record Cache(Tensor k, Tensor v) {}

    Attention(Backend be, Parameters ps, Workspace ws, String name, int batch, int seq, int c, int heads, boolean bias,
              float ropeTheta, double projStd) {
        this.be = be;
        this.ws = ws;
        this.c = c;
        this.heads = heads;
        this.batch = batch;
        this.seq = seq;
        this.ropeTheta = ropeTheta;
        this.qkv = new Linear(be, ps, name + ".qkv", Group.BASE, c, 3 * c, bias, 0.02);
        this.proj = new Linear(be, ps, name + ".proj", Group.BASE, c, c, bias, projStd);
        DType dt = be.computeType();
        qkvOut = be.alloc(dt, batch, seq, 3 * c);
        y = be.alloc(dt, batch, seq, c);
        lse = be.alloc(DType.F32, batch, heads, seq);
    }

    /** out = residual + drop(proj(attention(qkv(x)))), x [B·T, C] the normed input. */
    void forward(Tensor out, Tensor x, Tensor residual, Mask mask, float p, long seed) {
        qkv.forward(qkvOut, x, Epilogue.NONE, null);
        if (ropeTheta > 0) be.rope(qkvOut, heads, ropeTheta, 0);
        be.attention(y, lse, qkvOut, heads, mask);
        proj.forward(out, y.reshape(batch * seq, c), new Epilogue.Residual(residual, p, seed), null);
    }

    /**
     * From dOut (the gradient reaching the residual add, before dropout) to dx, the gradient of the normed input
     * x (overwritten into the workspace's dTmp, which is returned); x is the forward's normed input, recomputed.
     */
    Tensor backward(Tensor dOut, Tensor x, Mask mask, float p, long seed) {
        Tensor dy = Block.dropped(be, ws, dOut, p, seed);
        proj.backward(ws.dAtt, dy, y.reshape(batch * seq, c), ws.adapterIn, ws.adapterRank);
        Tensor dqkv = ws.dQkv.reshape(batch, seq, 3 * c);
        be.attentionBackward(dqkv, ws.dAtt.reshape(batch, seq, c), qkvOut, y, lse, heads, mask);
        if (ropeTheta > 0) be.ropeBackward(dqkv, heads, ropeTheta);
        qkv.backward(ws.dTmp, ws.dQkv, x, ws.adapterIn, ws.adapterRank);
        return ws.dTmp;
    }

    /**
     * A decoding step's entries: entry e is {@code count[e]} rows from row {@code first[e]}, the tokens of slot
     * {@code slot[e]} at positions [pos[e], pos[e] + count[e]). Filled by {@link GPT.Batch}, read by the layers.
     */
    static final class Step {
        final int[] slot, pos, first, count;
        private int entries, rows;

        Step(int capacity) {
            slot = new int[capacity];
            pos = new int[capacity];
            first = new int[capacity];
            count = new int[capacity];
        }

        /** Appends an entry of n rows; returns its index. */
        int add(int s, int position, int n) {
            slot[entries] = s;
            pos[entries] = position;
            first[entries] = rows;
            count[entries] = n;
            rows += n;
            return entries++;
        }

        int entries() { return entries; }

        int rows() { return rows; }

        void clear() { entries = rows = 0; }
    }

    /**
     * Decoding a step: x [rows, C] normed, out = residual + the attention branch (in place when out is residual).
     * The projections run over all the step's rows at once; RoPE and attention run per entry, on its rows and its
     * slot's cache ({@code caches[slot]}, B = 1) at its own position, which also receives its keys and values.
     */
    void decode(Tensor out, Tensor x, Tensor residual, Cache[] caches, Step step, Workspace session) {
        int n = x.rows();
        Tensor q = Workspace.rows(session.qkv, n), att = Workspace.rows(session.att, n);
        qkv.forward(q, x, Epilogue.NONE, session.rank);
        for (int e = 0; e < step.entries(); e++) {
            int first = step.first[e], count = step.count[e], pos = step.pos[e];
            Tensor qe = q.view((long) first * 3 * c, 1, count, 3 * c);
            if (ropeTheta > 0) be.rope(qe, heads, ropeTheta, pos);
            Cache cache = caches[step.slot[e]];
            be.attentionCached(att.view((long) first * c, 1, count, c), qe, cache.k(), cache.v(), pos, heads);
        }
        proj.forward(out, att, new Epilogue.Residual(residual, 0f, 0), session.rank);
    }

    /** An empty cache for B sequences of up to tmax positions. */
    Cache cache(int b, int tmax) {
        return new Cache(be.alloc(be.computeType(), b, tmax, c), be.alloc(be.computeType(), b, tmax, c));
    }

    boolean trainable() { return qkv.trainable() || proj.trainable(); }
}
