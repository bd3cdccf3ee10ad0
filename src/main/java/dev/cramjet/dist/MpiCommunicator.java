package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * The collectives over Open MPI, for CPU ranks (and any backend, through host memory). MPI reads and writes native
 * memory, and a Java array may not be handed to a call that can block (a blocked call would hold up the JVM's
 * safepoints, the watchdog thread's included), so tensors travel through one off-heap staging segment in chunks
 * (up to 4M elements over all ranks' pieces, 16 MiB): download into a host array, copy into the segment, the MPI
 * call, and back. Sums are fp32 (MPI_FLOAT); AVG is the sum times 1/W. Host arrays are made at the first
 * collective of each size and reused, so a training step allocates nothing.
 */
public final class MpiCommunicator implements Communicator {
    private final Mpi mpi;
    /** Elements per rank's piece in one MPI call. */
    private final int chunk;
    private final Backend be;
    private final Arena arena = Arena.ofShared();
    /** (W + 1)·chunk floats: W pieces to send (or receive) and one more. */
    private final MemorySegment stage;
    private MemorySegment numbers;
    /** Host arrays by length: download and upload take arrays of exactly the tensor's size. */
    private final Map<Integer, float[]> hosts = new HashMap<>();

    /** Joins the MPI world this process was started in (by mpirun or srun). */
    public MpiCommunicator(Backend backend) {
        this.mpi = Mpi.get();
        this.be = backend;
        this.chunk = Math.max(1 << 16, (1 << 22) / (mpi.size + 1));
        this.stage = arena.allocate(4L * (mpi.size + 1) * chunk, 64);
        this.numbers = arena.allocate(8L * 16, 8);
    }

    /** The library loaded and its version line, for logs. */
    public String describe() { return mpi.version + " (" + mpi.where + ")"; }

    @Override public String name() { return "mpi"; }

    @Override public int rank() { return mpi.rank; }

    @Override public int size() { return mpi.size; }

    private float[] host(int n) { return hosts.computeIfAbsent(n, float[]::new); }

    private static Tensor flat(Tensor t) { return t.reshape((int) t.size()); }

    @Override
    public void allReduce(Tensor x, Op op) {
        Shapes.dense("allReduce", x);
        Tensor f = flat(x);
        float scale = op == Op.AVG ? 1f / mpi.size : 1f;
        for (long at = 0; at < f.size(); at += chunk) {
            int len = (int) Math.min(chunk, f.size() - at);
            Tensor part = f.view(at, len);
            float[] h = host(len);
            be.download(part, h);
            MemorySegment.copy(h, 0, stage, ValueLayout.JAVA_FLOAT, 0, len);
            mpi.allreduce(Mpi.IN_PLACE, stage.address(), len, mpi.floatType);
            MemorySegment.copy(stage, ValueLayout.JAVA_FLOAT, 0, h, 0, len);
            if (scale != 1f) for (int i = 0; i < len; i++) h[i] *= scale;
            be.upload(part, h);
        }
    }

    @Override
    public void reduceScatter(Tensor in, Tensor out, Op op) {
        int w = mpi.size, r = mpi.rank;
        Shapes.pieces("reduceScatter", in, out, r, w);
        Tensor whole = flat(in), mine = flat(out);
        long n = mine.size();
        float scale = op == Op.AVG ? 1f / w : 1f;
        for (long at = 0; at < n; at += chunk) {
            int len = (int) Math.min(chunk, n - at);
            float[] h = host(len);
            for (int q = 0; q < w; q++) {                       // piece q of this chunk goes to rank q
                be.download(whole.view(q * n + at, len), h);
                MemorySegment.copy(h, 0, stage, ValueLayout.JAVA_FLOAT, 4L * q * len, len);
            }
            long recv = 4L * w * len;
            mpi.reduceScatterBlock(stage.address(), stage.address() + recv, len, mpi.floatType);
            MemorySegment.copy(stage, ValueLayout.JAVA_FLOAT, recv, h, 0, len);
            if (scale != 1f) for (int i = 0; i < len; i++) h[i] *= scale;
            be.upload(mine.view(at, len), h);
        }
    }

    @Override
    public void allGather(Tensor in, Tensor out) {
        int w = mpi.size;
        Shapes.pieces("allGather", out, in, mpi.rank, w);
        Tensor mine = flat(in), whole = flat(out);
        long n = mine.size();
        for (long at = 0; at < n; at += chunk) {
            int len = (int) Math.min(chunk, n - at);
            float[] h = host(len);
            be.download(mine.view(at, len), h);
            MemorySegment.copy(h, 0, stage, ValueLayout.JAVA_FLOAT, 0, len);
            long recv = 4L * len;
            mpi.allgather(stage.address(), stage.address() + recv, len, mpi.floatType);
            for (int q = 0; q < w; q++) {
                MemorySegment.copy(stage, ValueLayout.JAVA_FLOAT, recv + 4L * q * len, h, 0, len);
                be.upload(whole.view(q * n + at, len), h);
            }
        }
    }

    @Override
    public void broadcast(Tensor x, int root) {
        Shapes.dense("broadcast", x);
        Shapes.root("broadcast", root, mpi.size);
        Tensor f = flat(x);
        boolean sender = mpi.rank == root;
        for (long at = 0; at < f.size(); at += chunk) {
            int len = (int) Math.min(chunk, f.size() - at);
            Tensor part = f.view(at, len);
            float[] h = host(len);
            if (sender) {
                be.download(part, h);
                MemorySegment.copy(h, 0, stage, ValueLayout.JAVA_FLOAT, 0, len);
            }
            mpi.bcast(stage.address(), len, mpi.floatType, root);
            if (!sender) {
                MemorySegment.copy(stage, ValueLayout.JAVA_FLOAT, 0, h, 0, len);
                be.upload(part, h);
            }
        }
    }

    /** Broadcasts raw bytes from {@code root} (NCCL's unique id, when mpirun started the ranks). */
    byte[] broadcast(byte[] bytes, int root) {
        MemorySegment.copy(bytes, 0, stage, ValueLayout.JAVA_BYTE, 0, bytes.length);
        mpi.bcast(stage.address(), bytes.length, mpi.byteType, root);
        byte[] out = new byte[bytes.length];
        MemorySegment.copy(stage, ValueLayout.JAVA_BYTE, 0, out, 0, out.length);
        return out;
    }

    @Override public void barrier() { mpi.barrier(); }

    @Override
    public void allReduce(double[] values) {
        if (numbers.byteSize() < 8L * values.length) numbers = arena.allocate(8L * values.length, 8);
        MemorySegment.copy(values, 0, numbers, ValueLayout.JAVA_DOUBLE, 0, values.length);
        mpi.allreduce(Mpi.IN_PLACE, numbers.address(), values.length, mpi.doubleType);
        MemorySegment.copy(numbers, ValueLayout.JAVA_DOUBLE, 0, values, 0, values.length);
    }

    @Override
    public void close() {
        mpi.finish();
        arena.close();
    }

    /** Refuses a world that is not the one the launcher announced (CPU ranks started by torchrun, say). */
    void expect(int rank, int size, String launcher) {
        if (mpi.size != size || mpi.rank != rank) {
            throw new CramjetException(launcher + " says this is rank " + rank + " of " + size + ", but MPI sees rank " + mpi.rank
                    + " of " + mpi.size + ": CPU ranks talk over MPI, so start them with mpirun (or cramjet train --nproc N)");
        }
    }
}
