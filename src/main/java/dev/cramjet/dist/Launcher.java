package dev.cramjet.dist;

import dev.cramjet.CramjetException;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code cramjet train --nproc N}: starts N ranks on this machine and stops them all if one fails.
 * <ul>
 * <li>CPU ranks talk over MPI, so Open MPI's mpirun starts them ({@code -np N --oversubscribe --bind-to none}:
 *     unbound, so every rank sees all cores and splits its loops the same way); mpirun stops the others when one
 *     exits with an error or dies, and says which.</li>
 * <li>GPU ranks are N child processes with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR =
 *     127.0.0.1, MASTER_PORT = a free port) and CRAMJET_CUDA_DEVICE = LOCAL_RANK, one GPU each. The launcher waits
 *     for them; when one exits with a non-zero status it names the rank and stops the rest (SIGTERM, which makes a
 *     rank checkpoint and stop at the next step boundary, then SIGKILL after a grace period).</li>
 * </ul>
 * A rank that hangs rather than dies is the {@link Heartbeat} watchdog's case: the ranks waiting for it stop with a
 * message naming it, and the launcher then stops the rest.
 */
public final class Launcher {
    /** Seconds a rank gets to checkpoint and exit after SIGTERM before it is killed. */
    static final long GRACE_SECONDS = 30;

    private Launcher() {}

    /** The java command line that runs {@code mainClass} with {@code args} in a JVM configured like this one. */
    public static List<String> javaCommand(String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /** mpirun's environment: containers often run as root, which mpirun refuses without this pair of variables. */
    public static final Map<String, String> MPIRUN_ENV = Map.of("OMPI_ALLOW_RUN_AS_ROOT", "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");

    /** mpirun's command line for {@code nproc} unbound local ranks of {@code command}. */
    static List<String> mpirun(String mpirun, int nproc, List<String> command) {
        List<String> cmd = new ArrayList<>(List.of(mpirun, "-np", Integer.toString(nproc), "--oversubscribe", "--bind-to", "none"));
        cmd.addAll(command);
        return cmd;
    }

    /** The same with mpirun found on the PATH (or $CRAMJET_MPIRUN); run it with {@link #MPIRUN_ENV}. */
    public static List<String> mpirunCommand(int nproc, List<String> command) {
        return mpirun(find("mpirun", System.getenv("CRAMJET_MPIRUN")), nproc, command);
    }

    /** Runs {@code command} as {@code nproc} MPI ranks under mpirun; returns mpirun's exit status. */
    public static int underMpirun(int nproc, List<String> command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(mpirunCommand(nproc, command)).inheritIO();
        pb.environment().putAll(MPIRUN_ENV);
        Process p = pb.start();
        Thread stopper = stopOnExit(List.of(p));
        int status = p.waitFor();
        Runtime.getRuntime().removeShutdownHook(stopper);
        if (status != 0) System.err.println("cramjet: mpirun ended the run with status " + status + " (a rank failed; its message is above)");
        return status;
    }

    /**
     * Runs {@code command} as {@code nproc} child processes with torchrun's variables (plus {@code extra}); when one
     * fails, stops the others. Returns 0, or the status of the first rank that failed.
     */
    public static int asChildren(int nproc, List<String> command, Map<String, String> extra) throws IOException, InterruptedException {
        int port = freePort();
        List<Process> ranks = new ArrayList<>();
        Thread stopper = stopOnExit(ranks);
        for (int r = 0; r < nproc; r++) {
            ProcessBuilder pb = new ProcessBuilder(command).inheritIO();
            Map<String, String> env = pb.environment();
            env.putAll(extra);
            env.put("RANK", Integer.toString(r));
            env.put("LOCAL_RANK", Integer.toString(r));
            env.put("WORLD_SIZE", Integer.toString(nproc));
            env.put("LOCAL_WORLD_SIZE", Integer.toString(nproc));
            env.put("MASTER_ADDR", "127.0.0.1");
            env.put("MASTER_PORT", Integer.toString(port));
            env.put("CRAMJET_CUDA_DEVICE", Integer.toString(r));
            ranks.add(pb.start());
        }
        int failed = -1, status = 0;
        while (failed < 0) {
            boolean running = false;
            for (int r = 0; r < nproc && failed < 0; r++) {
                Process p = ranks.get(r);
                if (p.isAlive()) {
                    running = true;
                } else if (p.exitValue() != 0) {
                    failed = r;
                    status = p.exitValue();
                }
            }
            if (!running) break;
            if (failed < 0) Thread.sleep(200);
        }
        if (failed >= 0) {
            System.err.println("cramjet: rank " + failed + " " + describe(status) + "; stopping the other ranks");
            stop(ranks);
        }
        Runtime.getRuntime().removeShutdownHook(stopper);
        return status;
    }

    /** "exited with status 2" or "was killed by signal 9" (a shell's 128 + N convention, as Java reports it). */
    static String describe(int status) {
        return status > 128 && status < 160 ? "was killed by signal " + (status - 128) : "exited with status " + status;
    }

    /** SIGTERM to every live rank, then SIGKILL to those still alive after the grace period. */
    private static void stop(List<Process> ranks) throws InterruptedException {
        for (Process p : ranks) if (p.isAlive()) p.destroy();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(GRACE_SECONDS);
        for (Process p : ranks) {
            long left = deadline - System.nanoTime();
            if (left > 0) p.waitFor(left, TimeUnit.NANOSECONDS);
            if (p.isAlive()) p.destroyForcibly().waitFor();
        }
    }

    /** If the launcher itself is stopped (SIGTERM, Ctrl-C), the ranks are stopped too rather than orphaned. */
    private static Thread stopOnExit(List<Process> ranks) {
        Thread t = new Thread(() -> {
            try {
                stop(ranks);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "cramjet-launcher-stop");
        Runtime.getRuntime().addShutdownHook(t);
        return t;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * {@code override} if set, else {@code name} on the PATH with its links resolved: Open MPI derives its
     * installation prefix from the path it was started by, and Debian's /bin/mpirun (a link through
     * /etc/alternatives to /usr/bin/orterun, and first on the PATH Maven gives its tests) would make it "/", which
     * mpirun refuses ("a prefix … that only contained slashes").
     */
    static String find(String name, String override) { return find(name, override, System.getenv("PATH")); }

    static String find(String name, String override, String path) {
        if (override != null && !override.isBlank()) return override;
        for (String dir : path == null ? new String[0] : path.split(File.pathSeparator)) {
            Path p = Path.of(dir, name);
            if (!Files.isExecutable(p)) continue;
            try {
                return p.toRealPath().toString();
            } catch (IOException e) {
                return p.toString();
            }
        }
        throw new CramjetException("--nproc on the CPU starts the ranks with Open MPI's " + name + ", which is not on the PATH:"
                + " install Open MPI (scripts/setup-openmpi.sh, or apt-get install openmpi-bin) or set CRAMJET_MPIRUN");
    }
}
