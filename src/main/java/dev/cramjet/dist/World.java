package dev.cramjet.dist;

import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Tensor;
import dev.cramjet.engine.cuda.CudaBackend;
import dev.cramjet.engine.cuda.LibraryFinder;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.eval.Validation;

import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * The ranks of one run as training sees them: a communicator whose every collective marks this rank's
 * {@link Heartbeat} as waiting, and the heartbeat itself. A single process is a world of one: {@link Local} and
 * {@link Heartbeat#NONE}, which cost nothing.
 */
public final class World implements AutoCloseable {
    private final Communicator comm;
    private final Heartbeat heartbeat;

    private World(Communicator comm, Heartbeat heartbeat) {
        this.comm = comm;
        this.heartbeat = heartbeat;
    }

    public static World single(Backend backend) { return new World(new Local(backend), Heartbeat.NONE); }

    /**
     * The communicator for this launch: a world of one without a launcher; NCCL between GPUs (NCCL's id shared over
     * MPI when mpirun started the ranks, else over the TCP rendezvous at MASTER_ADDR:MASTER_PORT); MPI between CPU
     * processes. Every rank must call it at the same point; it returns once all have joined.
     */
    public static Communicator connect(Launch launch, Backend backend, double timeoutSeconds) {
        if (!launch.distributed()) return new Local(backend);
        if (backend instanceof CudaBackend cuda) {
            Nccl nccl = Nccl.load(LibraryFinder.system());
            if (!launch.underMpi()) {
                String host = launch.master();
                return NcclCommunicator.open(nccl, cuda, launch.rank(), launch.size(),
                        id -> Rendezvous.share(host, launch.masterPort(), launch.rank(), launch.size(), id, timeoutSeconds));
            }
            MpiCommunicator mpi = new MpiCommunicator(backend);
            mpi.expect(launch.rank(), launch.size(), launch.launcher());
            NcclCommunicator joined = NcclCommunicator.open(nccl, cuda, launch.rank(), launch.size(), id -> mpi.broadcast(id, 0));
            mpi.close();  // MPI carried the id only; finalised now, mpirun sees a clean exit later
            return joined;
        }
        MpiCommunicator mpi = new MpiCommunicator(backend);
        mpi.expect(launch.rank(), launch.size(), launch.launcher());
        return mpi;
    }

    /** The world of {@code comm}, with this rank's heartbeat in {@code heartbeats} (unless it is a world of one). */
    public static World of(Communicator comm, Path heartbeats, double timeoutSeconds) {
        if (comm.size() == 1) return new World(comm, Heartbeat.NONE);
        Heartbeat hb = Heartbeat.start(heartbeats, comm.rank(), comm.size(), timeoutSeconds, comm::asyncError);
        return new World(new Watched(comm, hb), hb);
    }

    /**
     * The world of {@code comm} without a heartbeat, for a tool whose launcher stops every rank when one fails and
     * that has no run directory to share (a benchmark under mpirun).
     */
    public static World unwatched(Communicator comm) { return new World(comm, Heartbeat.NONE); }

    public Communicator comm() { return comm; }

    public Heartbeat heartbeat() { return heartbeat; }

    public int rank() { return comm.rank(); }

    public int size() { return comm.size(); }

    /** Rank 0: the one that writes metrics, samples, reports and the model. */
    public boolean leader() { return comm.rank() == 0; }

    /**
     * A language model's validation pass shared by the ranks: each evaluates its share of the batches (a heartbeat
     * per batch, so a long evaluation does not look like a hang), and the sums are added across ranks. Every rank
     * must call it at the same point; all get the same result.
     */
    public Supplier<Validation> validation(Evaluator evaluator, Evaluator.Model model) {
        return () -> {
            double[] sums = evaluator.sums(new Evaluator.Model() {
                @Override
                public float loss(Batch b) {
                    heartbeat.beat();
                    return model.loss(b);
                }

                @Override public long correct() { return model.correct(); }
            }, rank(), size());
            if (size() > 1) comm.allReduce(sums);
            return evaluator.result(sums);
        };
    }

    /** After a run that ended normally: marks this rank finished, then leaves the communicator. */
    @Override
    public void close() {
        heartbeat.close();
        comm.close();
    }

    /** Brackets every collective with the heartbeat's waiting mark. */
    private record Watched(Communicator inner, Heartbeat hb) implements Communicator {
        @Override public String name() { return inner.name(); }

        @Override public int rank() { return inner.rank(); }

        @Override public int size() { return inner.size(); }

        @Override
        public void allReduce(Tensor x, Op op) {
            hb.enter(Heartbeat.Wait.ALL_REDUCE);
            try {
                inner.allReduce(x, op);
            } finally {
                hb.exit();
            }
        }

        @Override
        public void reduceScatter(Tensor in, Tensor out, Op op) {
            hb.enter(Heartbeat.Wait.REDUCE_SCATTER);
            try {
                inner.reduceScatter(in, out, op);
            } finally {
                hb.exit();
            }
        }

        @Override
        public void allGather(Tensor in, Tensor out) {
            hb.enter(Heartbeat.Wait.ALL_GATHER);
            try {
                inner.allGather(in, out);
            } finally {
                hb.exit();
            }
        }

        @Override
        public void broadcast(Tensor x, int root) {
            hb.enter(Heartbeat.Wait.BROADCAST);
            try {
                inner.broadcast(x, root);
            } finally {
                hb.exit();
            }
        }

        @Override
        public void barrier() {
            hb.enter(Heartbeat.Wait.BARRIER);
            try {
                inner.barrier();
            } finally {
                hb.exit();
            }
        }

        @Override
        public void allReduce(double[] values) {
            hb.enter(Heartbeat.Wait.NUMBERS);
            try {
                inner.allReduce(values);
            } finally {
                hb.exit();
            }
        }

        @Override public String asyncError() { return inner.asyncError(); }

        @Override public void close() { inner.close(); }
    }
}
