package dev.cramjet.dist;

import dev.cramjet.CramjetException;

import java.util.Map;

/**
 * Who started this process and which rank it is, from the launcher's environment variables, first match wins:
 * <ul>
 * <li>torchrun (and {@code cramjet train --nproc} on GPUs): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT;</li>
 * <li>Open MPI's mpirun (and {@code --nproc} on the CPU): OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
 *     OMPI_COMM_WORLD_LOCAL_RANK;</li>
 * <li>Slurm's srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (all three: an sbatch script's own shell has
 *     SLURM_NTASKS but is no rank), with MASTER_ADDR or else SLURM_LAUNCH_NODE_IPADDR;</li>
 * <li>none of them: a single process.</li>
 * </ul>
 * torchrun's variables win over Open MPI's, which win over Slurm's, because each may run inside the next (mpirun
 * inside a Slurm allocation sees SLURM_PROCID too). MASTER_PORT defaults to torchrun's 29500. The ranks on this
 * machine come from LOCAL_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_SIZE or SLURM_NTASKS_PER_NODE (1 when unset).
 */
public record Launch(String launcher, int rank, int size, int localRank, int localSize, String masterAddr, int masterPort) {
    public static final Launch SINGLE = new Launch("none", 0, 1, 0, 1, null, 0);
    static final int DEFAULT_PORT = 29500;

    public Launch {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new CramjetException(launcher + ": rank " + rank + " of a world of " + size + " is impossible (a rank is in [0, size))");
        }
        if (localRank < 0) throw new CramjetException(launcher + ": local rank " + localRank + " is negative");
        if (localSize < 1 || localSize > size) throw new CramjetException(launcher + ": " + localSize + " ranks on this machine of a world of " + size);
    }

    public static Launch fromEnvironment() { return from(System.getenv()); }

    static Launch from(Map<String, String> env) {
        if (env.containsKey("RANK") && env.containsKey("WORLD_SIZE")) {
            return new Launch("torchrun", number(env, "RANK"), number(env, "WORLD_SIZE"), optional(env, "LOCAL_RANK", 0),
                    optional(env, "LOCAL_WORLD_SIZE", 1), env.get("MASTER_ADDR"), port(env));
        }
        if (env.containsKey("OMPI_COMM_WORLD_RANK") && env.containsKey("OMPI_COMM_WORLD_SIZE")) {
            return new Launch("Open MPI", number(env, "OMPI_COMM_WORLD_RANK"), number(env, "OMPI_COMM_WORLD_SIZE"),
                    optional(env, "OMPI_COMM_WORLD_LOCAL_RANK", 0), optional(env, "OMPI_COMM_WORLD_LOCAL_SIZE", 1), env.get("MASTER_ADDR"), port(env));
        }
        if (env.containsKey("SLURM_PROCID") && env.containsKey("SLURM_NTASKS") && env.containsKey("SLURM_LOCALID")) {
            return new Launch("Slurm", number(env, "SLURM_PROCID"), number(env, "SLURM_NTASKS"), number(env, "SLURM_LOCALID"),
                    optional(env, "SLURM_NTASKS_PER_NODE", 1), env.getOrDefault("MASTER_ADDR", env.get("SLURM_LAUNCH_NODE_IPADDR")), port(env));
        }
        return SINGLE;
    }

    /** True when more than one rank takes part. */
    public boolean distributed() { return size > 1; }

    /**
     * On the CPU the ranks on one machine share its cores: unless {@code cramjet.threads} is set, each rank's
     * thread team gets cores / local ranks (at least one), as torchrun limits OMP_NUM_THREADS, so the ranks do not
     * oversubscribe the cores — a parallel loop waits for its slowest thread, and a descheduled one costs a whole
     * time slice. Call before the CPU backend's first op.
     */
    public void shareCores() {
        if (localSize > 1 && System.getProperty("cramjet.threads") == null) {
            System.setProperty("cramjet.threads", Integer.toString(Math.max(1, Runtime.getRuntime().availableProcessors() / localSize)));
        }
    }

    /** Started by Open MPI's mpirun: MPI itself can carry NCCL's id. */
    public boolean underMpi() { return launcher.equals("Open MPI"); }

    /** MASTER_ADDR and MASTER_PORT, required for the TCP rendezvous. */
    public String master() {
        if (masterAddr == null || masterAddr.isBlank()) {
            throw new CramjetException(launcher + " started rank " + rank + " of " + size + " without MASTER_ADDR: set MASTER_ADDR"
                    + " (rank 0's host) and MASTER_PORT (a free port there) so the ranks can exchange NCCL's id");
        }
        return masterAddr;
    }

    private static int number(Map<String, String> env, String key) {
        String v = env.get(key);
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new CramjetException(key + "=" + v + ": expected a whole number (a launcher sets it)");
        }
    }

    private static int optional(Map<String, String> env, String key, int fallback) { return env.containsKey(key) ? number(env, key) : fallback; }

    private static int port(Map<String, String> env) {
        if (!env.containsKey("MASTER_PORT")) return DEFAULT_PORT;
        int p = number(env, "MASTER_PORT");
        if (p < 1 || p > 65535) throw new CramjetException("MASTER_PORT=" + p + ": expected a TCP port in [1, 65535]");
        return p;
    }
}
