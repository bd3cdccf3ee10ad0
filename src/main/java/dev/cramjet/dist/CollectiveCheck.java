package dev.cramjet.dist;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Runs every collective of a {@link Communicator} on its backend with inputs whose results are known exactly, and
 * compares: {@code cramjet selftest --collectives} (on a GPU, a world of one over the real NCCL; under mpirun, the
 * MPI ranks) and the tests (the fake NCCL, two MPI ranks). Rank r's element i is (r+1)·((i mod 13) − 6)/4, so sums
 * over up to 8 ranks are exact even in bf16; the large tensors span several of MPI's staging chunks.
 */
public final class CollectiveCheck {
    /** One check: what ran, whether the result was right, and the first wrong element if not. */
    public record Result(String check, boolean passed, String detail) {}

    static final int LARGE = 3_000_007, SMALL = 1_003;

    private final Communicator comm;
    private final Backend be;
    private final int rank, size;
    private final List<Result> results = new ArrayList<>();

    private CollectiveCheck(Communicator comm, Backend be) {
        this.comm = comm;
        this.be = be;
        this.rank = comm.rank();
        this.size = comm.size();
    }

    /** Every rank calls it at the same time; each gets its own results. */
    public static List<Result> run(Communicator comm, Backend be) {
        CollectiveCheck c = new CollectiveCheck(comm, be);
        c.all();
        return c.results;
    }

    static float value(int rank, long i) { return (rank + 1) * (float) ((i % 13) - 6) / 4; }

    /** Σ over ranks of value(r, i) = W(W+1)/2 · value(0, i). */
    private float sum(long i) { return size * (size + 1) / 2f * value(0, i); }

    private void all() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            int n = t == DType.F32 ? LARGE : SMALL;
            String dt = t.name().toLowerCase(Locale.ROOT);
            Tensor x = filled(t, n, rank);
            comm.allReduce(x, Communicator.Op.SUM);
            expect("allReduce SUM " + dt + " [" + n + "]", x, this::sum, 0);

            Tensor y = filled(t, SMALL, rank);
            comm.allReduce(y, Communicator.Op.AVG);
            expect("allReduce AVG " + dt + " [" + SMALL + "]", y, i -> sum(i) / size, t == DType.F32 ? 1e-6 : 1e-2);

            int piece = t == DType.F32 ? LARGE / 2 : SMALL;
            Tensor in = filled(t, size * piece, rank), out = be.alloc(t, piece);
            comm.reduceScatter(in, out, Communicator.Op.SUM);
            expect("reduceScatter " + dt + " [" + size + "×" + piece + "]", out, i -> sum(rank * (long) piece + i), 0);
            Tensor whole = filled(t, size * piece, rank);
            Tensor mine = whole.view((long) rank * piece, piece);
            comm.reduceScatter(whole, mine, Communicator.Op.SUM);
            expect("reduceScatter in place " + dt, mine, i -> sum(rank * (long) piece + i), 0);

            Tensor part = filled(t, piece, rank), gathered = be.alloc(t, size * piece);
            comm.allGather(part, gathered);
            expect("allGather " + dt + " [" + size + "×" + piece + "]", gathered, i -> value((int) (i / piece), i % piece), 0);
            Tensor into = be.alloc(t, size * piece);
            be.copy(into.view((long) rank * piece, piece), part);
            comm.allGather(into.view((long) rank * piece, piece), into);
            expect("allGather in place " + dt, into, i -> value((int) (i / piece), i % piece), 0);
        }
        int root = size - 1;
        Tensor b = filled(DType.F32, LARGE, rank);
        comm.broadcast(b, root);
        expect("broadcast from rank " + root + " f32 [" + LARGE + "]", b, i -> value(root, i), 0);

        comm.barrier();
        results.add(new Result("barrier", true, ""));

        double[] numbers = {rank + 1, 0.5 * rank, -rank};
        comm.allReduce(numbers);
        double w = size;
        boolean ok = numbers[0] == w * (w + 1) / 2 && numbers[1] == 0.5 * w * (w - 1) / 2 && numbers[2] == -w * (w - 1) / 2;
        results.add(new Result("allReduce of host numbers (double)", ok, ok ? "" : java.util.Arrays.toString(numbers)));
    }

    /** A tensor of n values of rank {@code r} (element i = value(r, i)). */
    private Tensor filled(DType t, int n, int r) {
        Tensor x = be.alloc(t, n);
        float[] h = new float[n];
        for (int i = 0; i < n; i++) h[i] = value(r, i);
        be.upload(x, h);
        return x;
    }

    @FunctionalInterface
    private interface Expected {
        float at(long i);
    }

    private void expect(String check, Tensor t, Expected e, double tolerance) {
        float[] h = new float[(int) t.size()];
        be.download(t, h);
        for (int i = 0; i < h.length; i++) {
            float want = e.at(i);
            boolean good = tolerance == 0 ? h[i] == want : Math.abs(h[i] - want) <= tolerance * Math.max(1, Math.abs(want));
            if (!good) {
                results.add(new Result(check, false, "element " + i + " is " + h[i] + ", expected " + want));
                return;
            }
        }
        results.add(new Result(check, true, ""));
    }
}
