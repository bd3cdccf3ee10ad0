package dev.cramjet.engine.cuda;

import dev.cramjet.engine.Glu;
import dev.cramjet.engine.Tensor;

import static dev.cramjet.engine.cuda.Checks.requireActivations;
import static dev.cramjet.engine.cuda.Checks.requireProbability;
import static dev.cramjet.engine.cuda.Checks.requireSameSize;
import static dev.cramjet.engine.cuda.Checks.type;

/** Elementwise ops (elementwise.cu): GELU, the gated linear units, add, scale, and dropout. */
final class Activations {
    private final Gpu gpu;
    private final Kernels.Kernel gelu, geluBackward, glu, gluBackward, dropout;
    private final Kernels.Kernel[] add, scale;

    Activations(Gpu gpu) {
        this.gpu = gpu;
        gelu = gpu.k.kernel("elementwise", "gelu_forward");
        geluBackward = gpu.k.kernel("elementwise", "gelu_backward");
        glu = gpu.k.kernel("elementwise", "glu_forward");
        gluBackward = gpu.k.kernel("elementwise", "glu_backward");
        dropout = gpu.k.kernel("elementwise", "dropout");
        add = gpu.perType("elementwise", "add_");
        scale = gpu.perType("elementwise", "scale_");
    }

    void gelu(Tensor out, Tensor in) {
        requireActivations("gelu", out, in);
        requireSameSize("gelu", out, in);
        try (var _ = gpu.prof.time("elementwise")) {
            gpu.k.begin(gelu).ptr(gpu.ptr(out)).ptr(gpu.ptr(in)).i64(in.size()).go(gpu.stream, gpu.grid8(in.size()), 256);
        }
    }

    void geluBackward(Tensor din, Tensor pre, Tensor dout) {
        String op = "geluBackward";
        requireActivations(op, din, pre, dout);
        requireSameSize(op, din, pre);
        requireSameSize(op, dout, pre);
        try (var _ = gpu.prof.time("elementwise")) {
            gpu.k.begin(geluBackward).ptr(gpu.ptr(din)).ptr(gpu.ptr(pre)).ptr(gpu.ptr(dout)).i64(pre.size())
                    .go(gpu.stream, gpu.grid8(pre.size()), 256);
        }
    }

    /** The kind's number in elementwise.cu (GLU_SWIGLU, GLU_GEGLU). */
    private static int code(Glu kind) {
        return switch (kind) {
            case SWIGLU -> 0;
            case GEGLU -> 1;
        };
    }

    void glu(Tensor out, Tensor in, Glu kind) {
        String op = "glu";
        requireActivations(op, out, in);
        int h = out.dim(-1);
        if (!(in.dim(-1) == 2 * h && in.rows() == out.rows())) {
            throw new IllegalArgumentException(op + ": in " + in + " must be [N, 2·" + h + "] for out " + out);
        }
        try (var _ = gpu.prof.time("elementwise")) {
            gpu.k.begin(glu).ptr(gpu.ptr(out)).ptr(gpu.ptr(in)).i64(out.rows()).i32(h).i32(code(kind))
                    .go(gpu.stream, gpu.grid1(out.size()), 256);
        }
    }

    void gluBackward(Tensor din, Tensor dout, Tensor in, Glu kind) {
        String op = "gluBackward";
        requireActivations(op, din, dout, in);
        int h = dout.dim(-1);
        if (!(in.dim(-1) == 2 * h && din.size() == in.size() && in.rows() == dout.rows())) {
            throw new IllegalArgumentException(op + ": din " + din + ", dout " + dout + ", in " + in + " (shapes disagree)");
        }
        try (var _ = gpu.prof.time("elementwise")) {
            gpu.k.begin(gluBackward).ptr(gpu.ptr(din)).ptr(gpu.ptr(dout)).ptr(gpu.ptr(in)).i64(dout.rows()).i32(h)
                    .i32(code(kind)).go(gpu.stream, gpu.grid1(dout.size()), 256);
        }
    }

    void add(Tensor out, Tensor a, Tensor b) {
        requireSameSize("add", out, a);
        requireSameSize("add", out, b);
        if (!(out.dtype() == a.dtype() && out.dtype() == b.dtype())) {
            throw new IllegalArgumentException("add: " + out + " = " + a + " + " + b + " (dtypes differ)");
        }
        try (var _ = gpu.prof.time("elementwise")) {
            gpu.k.begin(add[type("add", out)]).ptr(gpu.ptr(out)).ptr(gpu.ptr(a)).ptr(gpu.ptr(b)).i64(out.size())
                    .go(gpu.stream, gpu.grid8(out.size()), 256);
        }
    }

    void scale(Tensor t, float s) {
        try (var _ = gpu.prof.time("elementwise")) {
            gpu.k.begin(scale[type("scale", t)]).ptr(gpu.ptr(t)).f32(s).i64(t.size()).go(gpu.stream, gpu.grid8(t.size()), 256);
        }
    }

    /** The forward and the backward are the same map: keep_i ? x_i/(1−p) : 0 with the mask of (seed, i). */
    void dropout(String op, Tensor out, Tensor in, float p, long seed) {
        requireActivations(op, out, in);
        requireSameSize(op, out, in);
        requireProbability(op, p);
        try (var _ = gpu.prof.time("elementwise")) {
            if (p == 0) {
                if (gpu.ptr(out) != gpu.ptr(in)) gpu.cu.copyDtoD(gpu.ptr(out), gpu.ptr(in), in.bytes(), gpu.stream);
            } else {
                gpu.k.begin(dropout).ptr(gpu.ptr(out)).ptr(gpu.ptr(in)).i64(in.size()).f32(p).i64(seed)
                        .go(gpu.stream, gpu.grid8(in.size()), 256);
            }
        }
    }
}
