package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.engine.cuda.CudaBackend;

/**
 * The collectives over NCCL, between GPUs. Every collective is queued on the CUDA backend's own stream, in order
 * with the step's kernels: the gradient all-reduce starts when the backward pass's last kernel is done and the
 * optimizer's kernels wait for it, with no host synchronisation (only the step's one download of the loss and
 * gradient norm waits). Tensors are reduced in their own dtype (bf16 gradients in bf16, as PyTorch's DDP does with
 * bf16 gradients). The host-number reduction goes through a small device buffer in fp64 and synchronises.
 */
public final class NcclCommunicator implements Communicator {
    /** Host numbers one {@link #allReduce(double[])} may carry. */
    static final int MAX_NUMBERS = 64;

    private final Nccl nccl;
    private final CudaBackend be;
    private final int rank, size;
    private final long comm;
    private final Tensor numbers, token;
    private final int[] bits = new int[2 * MAX_NUMBERS];

    /** Joins the NCCL clique named by {@code id} (128 bytes from ncclGetUniqueId on rank 0) as {@code rank} of {@code size}. */
    NcclCommunicator(Nccl nccl, CudaBackend backend, int rank, int size, byte[] id) {
        this.nccl = nccl;
        this.be = backend;
        this.rank = rank;
        this.size = size;
        be.stream();  // makes the backend's context current here: NCCL binds to the calling thread's device
        this.comm = nccl.initRank(size, id, rank);
        this.numbers = be.alloc(DType.I32, 2 * MAX_NUMBERS);
        this.token = be.alloc(DType.F32, 1);
    }

    /** A world of one GPU: every collective runs on the real library (the GPU check script's case). */
    public static NcclCommunicator single(CudaBackend backend, dev.cramjet.engine.cuda.LibraryFinder finder) {
        Nccl n = Nccl.load(finder);
        return new NcclCommunicator(n, backend, 0, 1, n.uniqueId());
    }

    /** The library loaded and its version, for logs. */
    public String describe() { return "NCCL " + Nccl.versionString(nccl.version) + " (" + nccl.where + ")"; }

    @Override public String name() { return "nccl"; }

    @Override public int rank() { return rank; }

    @Override public int size() { return size; }

    private static int type(String op, Tensor t) {
        return switch (t.dtype()) {
            case F32 -> Nccl.FLOAT32;
            case BF16 -> Nccl.BFLOAT16;
            default -> throw new IllegalArgumentException(op + ": " + t + " is not F32 or BF16");
        };
    }

    private static int op(Op op) { return op == Op.SUM ? Nccl.SUM : Nccl.AVG; }

    @Override
    public void allReduce(Tensor x, Op op) {
        long p = be.address(x);
        nccl.allReduce(p, p, x.size(), type("allReduce", x), op(op), comm, be.stream());
    }

    @Override
    public void reduceScatter(Tensor in, Tensor out, Op op) {
        Shapes.pieces("reduceScatter", in, out, rank, size);
        nccl.reduceScatter(be.address(in), be.address(out), out.size(), type("reduceScatter", in), op(op), comm, be.stream());
    }

    @Override
    public void allGather(Tensor in, Tensor out) {
        Shapes.pieces("allGather", out, in, rank, size);
        nccl.allGather(be.address(in), be.address(out), in.size(), type("allGather", in), comm, be.stream());
    }

    @Override
    public void broadcast(Tensor x, int root) {
        Shapes.root("broadcast", root, size);
        long p = be.address(x);
        nccl.broadcast(p, p, x.size(), type("broadcast", x), root, comm, be.stream());
    }

    /** An all-reduce of one number, waited for: every rank has reached it once it returns. */
    @Override
    public void barrier() {
        allReduce(token, Op.SUM);
        be.synchronize();
    }

    /** The doubles travel as pairs of int bits (an I32 upload copies bits; a float one might not keep NaN payloads). */
    @Override
    public void allReduce(double[] values) {
        if (values.length > MAX_NUMBERS) throw new IllegalArgumentException("allReduce: at most " + MAX_NUMBERS + " numbers, got " + values.length);
        int n = values.length;
        for (int i = 0; i < n; i++) {
            long b = Double.doubleToRawLongBits(values[i]);
            bits[2 * i] = (int) b;
            bits[2 * i + 1] = (int) (b >>> 32);
        }
        for (int i = 2 * n; i < bits.length; i++) bits[i] = 0;
        be.upload(numbers, bits);
        long p = be.address(numbers);
        nccl.allReduce(p, p, n, Nccl.FLOAT64, Nccl.SUM, comm, be.stream());
        be.download(numbers, bits);
        for (int i = 0; i < n; i++) values[i] = Double.longBitsToDouble((bits[2 * i] & 0xffffffffL) | ((long) bits[2 * i + 1] << 32));
    }

    @Override
    public String asyncError() {
        int code = nccl.asyncError(comm);
        return code == 0 ? null : "NCCL: " + nccl.describe(code, comm);
    }

    @Override
    public void close() {
        be.synchronize();
        nccl.destroy(comm);
    }

    /** How rank 0's id reaches the others. */
    interface IdExchange {
        byte[] share(byte[] idOnRankZero);
    }

    /** Creates rank 0's id, shares it with {@code exchange}, and joins. */
    static NcclCommunicator open(Nccl nccl, CudaBackend backend, int rank, int size, IdExchange exchange) {
        byte[] id = exchange.share(rank == 0 ? nccl.uniqueId() : new byte[Nccl.UNIQUE_ID_BYTES]);
        if (id.length != Nccl.UNIQUE_ID_BYTES) {
            throw new CramjetException("rank " + rank + ": NCCL unique id of " + id.length + " bytes, expected " + Nccl.UNIQUE_ID_BYTES);
        }
        return new NcclCommunicator(nccl, backend, rank, size, id);
    }
}
