package dev.cramjet.dist;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Tensor;

/** A world of one process: every collective is the identity (a copy where input and output differ). */
public final class Local implements Communicator {
    private final Backend be;

    public Local(Backend backend) { this.be = backend; }

    @Override public String name() { return "local"; }

    @Override public int rank() { return 0; }

    @Override public int size() { return 1; }

    @Override public void allReduce(Tensor x, Op op) { Shapes.dense("allReduce", x); }

    @Override
    public void reduceScatter(Tensor in, Tensor out, Op op) {
        Shapes.pieces("reduceScatter", in, out, 0, 1);
        if (!Shapes.inPlace(in, out, 0)) be.copy(out, in);
    }

    @Override
    public void allGather(Tensor in, Tensor out) {
        Shapes.pieces("allGather", out, in, 0, 1);
        if (!Shapes.inPlace(out, in, 0)) be.copy(out, in);
    }

    @Override
    public void broadcast(Tensor x, int root) {
        Shapes.dense("broadcast", x);
        Shapes.root("broadcast", root, 1);
    }

    @Override public void barrier() {}

    @Override public void allReduce(double[] values) {}

    @Override public void close() {}
}
