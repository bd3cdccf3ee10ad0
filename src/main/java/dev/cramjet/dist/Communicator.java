package dev.cramjet.dist;

import dev.cramjet.engine.Tensor;

/**
 * The collectives data-parallel training needs, between the ranks 0 … W−1 of one run, on one backend's tensors
 * (F32 or BF16). Every rank calls the same collectives in the same order with tensors of the same sizes; a rank
 * that does not leaves the others waiting until the {@link Heartbeat} watchdog stops the run.
 *
 * <p>With x_r the tensor on rank r:
 * <pre>
 *   allReduce(x, SUM)       x_r ← Σ_q x_q on every rank           AVG: (1/W)·Σ_q x_q
 *   reduceScatter(in, out)  out_r ← Σ_q in_q[r·n, (r+1)·n)         n = out.size(), in.size() = W·n
 *   allGather(in, out)      out[q·n, (q+1)·n) ← in_q on every rank n = in.size(),  out.size() = W·n
 *   broadcast(x, root)      x_r ← x_root
 *   barrier()               returns once every rank has called it
 *   allReduce(double[] v)   v ← Σ_q v_q in double precision: the few host numbers a step agrees on (loss sums,
 *                           squared norms, flags, rank 0's clock)
 * </pre>
 * reduceScatter may work in place (out is in's own slice r) and so may allGather (in is out's slice r); otherwise
 * inputs and outputs must not overlap. The order in which ranks' terms are summed is the library's: for two ranks
 * it is x_0 + x_1 either way, which is what makes two ranks bit-for-bit equal to one process accumulating two
 * micro-batches on the CPU.
 *
 * <p>A device communicator (NCCL) queues the tensor collectives on the backend's stream: their results are seen,
 * in order, by the backend's later ops and downloads, with no host synchronisation. A host one (MPI) returns when
 * the result is in place. The host-number reduction always returns with the result.
 */
public interface Communicator extends AutoCloseable {
    /** How allReduce and reduceScatter combine the ranks' tensors. */
    enum Op { SUM, AVG }

    /** "local", "mpi" or "nccl". */
    String name();

    /** This process's rank, 0 … size−1. */
    int rank();

    /** The number of ranks W. */
    int size();

    void allReduce(Tensor x, Op op);

    void reduceScatter(Tensor in, Tensor out, Op op);

    void allGather(Tensor in, Tensor out);

    void broadcast(Tensor x, int root);

    void barrier();

    void allReduce(double[] values);

    /**
     * A failure the library detected on its own since the last call (NCCL's asynchronous errors: a peer that
     * vanished, a network error), for the watchdog; null when there is none. Blocking libraries report failures
     * from the call itself.
     */
    default String asyncError() { return null; }

    /**
     * Leaves the world after a run that ended normally (MPI_Finalize, ncclCommDestroy). Not called when a rank
     * fails: the process exits instead, and the launcher stops the others (MPI_Finalize would wait for ranks that
     * may be stuck in a collective).
     */
    @Override
    void close();
}
