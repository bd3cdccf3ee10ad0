package dev.cramjet.dist;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.LongPredicate;
import java.util.function.Supplier;

/**
 * A rank's sign of life, and the watchdog that stops a rank left waiting for one that died or hung.
 *
 * <p>Each rank keeps a 72-byte record in {@code DIR/rank-NNNNN} (DIR is shared by the ranks: the run directory's
 * {@code .ranks/}): its pid and host, whether it is working, waiting in a collective (which one, and since when) or
 * finished, how many collectives it has entered, its training step, and when it last showed life. Work beats at
 * every micro-batch and evaluation batch (a write at most every 200 ms); a collective marks the record waiting on
 * entry and working again on return.
 *
 * <p>A watchdog thread checks every second. When this rank has waited in one collective for longer than the
 * timeout, it reads the other ranks' records and names the culprits — a rank that is gone (its process no longer
 * exists), hung (working but silent for longer than the timeout), unresponsive (waiting, but its own watchdog,
 * which refreshes the record of a waiting rank every tick, has gone quiet: the process is stopped or frozen),
 * finished, missing (no record), or in another collective (the ranks are out of step) — prints one line and halts
 * the process with status
 * {@value #EXIT_STOPPED}; the launcher (mpirun, torchrun, {@code cramjet train --nproc}) then stops the rest. It
 * also stops the rank when the communicator reports an asynchronous failure (NCCL's remote errors).
 */
public final class Heartbeat implements AutoCloseable {
    /** Exit status of a rank the watchdog stopped. */
    public static final int EXIT_STOPPED = 3;
    static final int BYTES = 72;
    private static final long MAGIC = 0x5441454254524a43L; // "CJRTBEAT" little-endian
    private static final long WRITE_EVERY_NANOS = 200_000_000L;

    /** What a waiting rank waits in. */
    public enum Wait {
        ALL_REDUCE("an all-reduce"), REDUCE_SCATTER("a reduce-scatter"), ALL_GATHER("an all-gather"), BROADCAST("a broadcast"),
        BARRIER("a barrier"), NUMBERS("the reduction of the step's numbers"), DEVICE("the device finishing the step's collectives");

        final String text;

        Wait(String text) { this.text = text; }
    }

    enum State { WORKING, WAITING, FINISHED }

    /** One rank's record as read from its file. */
    record Record(int rank, long pid, long host, State state, Wait waitsIn, long seq, long step, long updatedMillis, long waitingSinceMillis) {}

    /** A heartbeat that records nothing and watches nothing: a single process. */
    public static final Heartbeat NONE = new Heartbeat();

    private final Path dir;
    private final int rank, size;
    private final long timeoutMillis;
    private final FileChannel file;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final long pid = ProcessHandle.current().pid(), host = hostHash();
    private final Supplier<String> asyncError;
    private final Thread watchdog;
    private volatile State state = State.WORKING;
    private volatile Wait waitsIn = Wait.BARRIER;
    private volatile long seq, step, waitingSince;
    private int depth;
    private long lastWrite;
    private volatile boolean closed;

    private Heartbeat() {
        dir = null;
        rank = 0;
        size = 1;
        timeoutMillis = 0;
        file = null;
        asyncError = () -> null;
        watchdog = null;
    }

    private Heartbeat(Path dir, int rank, int size, double timeoutSeconds, Supplier<String> asyncError) throws IOException {
        this.dir = dir;
        this.rank = rank;
        this.size = size;
        this.timeoutMillis = (long) (timeoutSeconds * 1000);
        this.asyncError = asyncError;
        Files.createDirectories(dir);
        this.file = FileChannel.open(fileOf(dir, rank), StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
        write();
        watchdog = Thread.ofPlatform().daemon().name("cramjet-watchdog").start(this::watch);
    }

    /**
     * Starts rank {@code rank}'s record in {@code dir} and its watchdog: a collective that waits longer than
     * {@code timeoutSeconds} stops the process; so does an error {@code asyncError} reports (null: none).
     */
    public static Heartbeat start(Path dir, int rank, int size, double timeoutSeconds, Supplier<String> asyncError) {
        if (timeoutSeconds <= 0) throw new CramjetException("dist-timeout: must be positive, got " + timeoutSeconds);
        try {
            return new Heartbeat(dir, rank, size, timeoutSeconds, asyncError);
        } catch (IOException e) {
            throw new CramjetException(dir + ": cannot write this rank's heartbeat: " + e.getMessage());
        }
    }

    static Path fileOf(Path dir, int rank) { return dir.resolve(String.format(Locale.ROOT, "rank-%05d", rank)); }

    /** The training step, shown in messages about this rank. */
    public void step(long s) { step = s; }

    /** This rank is working and alive. Cheap: it writes at most every 200 ms. */
    public void beat() {
        if (file == null) return;
        long now = System.nanoTime();
        if (now - lastWrite >= WRITE_EVERY_NANOS) write();
    }

    /** Entering a collective (calls may nest: only the outermost counts). */
    public void enter(Wait w) {
        if (file == null || depth++ > 0) return;
        seq++;
        waitsIn = w;
        waitingSince = System.currentTimeMillis();
        state = State.WAITING;
        write();
    }

    /** Back from the collective entered last. */
    public void exit() {
        if (file == null || --depth > 0) return;
        state = State.WORKING;
        write();
    }

    private synchronized void write() {
        lastWrite = System.nanoTime();
        buffer.clear();
        buffer.putLong(MAGIC).putLong(pid).putLong(host).putLong(state.ordinal()).putLong(waitsIn.ordinal()).putLong(seq)
                .putLong(step).putLong(System.currentTimeMillis()).putLong(waitingSince).flip();
        try {
            while (buffer.hasRemaining()) file.write(buffer, buffer.position());
        } catch (IOException e) {
            throw new UncheckedIOException(fileOf(dir, rank) + ": cannot update the heartbeat", e);
        }
    }

    /** Marks this rank finished and stops its watchdog. */
    @Override
    public void close() {
        if (file == null || closed) return;
        closed = true;
        state = State.FINISHED;
        write();
        watchdog.interrupt();
        try {
            file.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long tickMillis(long timeoutMillis) { return Math.min(1000, Math.max(50, timeoutMillis / 4)); }

    private void watch() {
        while (!closed) {
            try {
                Thread.sleep(tickMillis(timeoutMillis));
            } catch (InterruptedException e) {
                return;
            }
            if (closed) return;
            String failure = asyncError.get();
            if (failure != null) stop("rank " + rank + ": " + failure + " at step " + step + "; stopping this rank");
            long now = System.currentTimeMillis(), since = waitingSince, n = seq;
            Wait w = waitsIn;
            if (state != State.WAITING) continue;
            write();  // a waiting rank is alive: its record says so every tick
            if (now - since > timeoutMillis) {
                Record[] all = new Record[size];
                for (int r = 0; r < size; r++) if (r != rank) all[r] = read(dir, r);
                Record me = new Record(rank, pid, host, State.WAITING, w, n, step, now, since);
                stop(diagnose(me, all, now, timeoutMillis, host, pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)));
            }
        }
    }

    private static void stop(String message) {
        System.err.println("\ncramjet: " + message);
        System.err.flush();
        Runtime.getRuntime().halt(EXIT_STOPPED);
    }

    /** Rank {@code r}'s record in {@code dir}, or null when it has none (yet). */
    static Record read(Path dir, int r) {
        try (FileChannel ch = FileChannel.open(fileOf(dir, r), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining() && ch.read(b) > 0) { /* read the record */ }
            if (b.position() < BYTES) return null;
            b.flip();
            if (b.getLong() != MAGIC) return null;
            return new Record(r, b.getLong(), b.getLong(), State.values()[(int) b.getLong()], Wait.values()[(int) b.getLong()],
                    b.getLong(), b.getLong(), b.getLong(), b.getLong());
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * The line a rank that waited too long prints: what it waits in, for how long, and what each other rank is
     * doing wrong. {@code all[q]} is rank q's record (null: it has none; this rank's entry is ignored), and
     * {@code alive} says whether a pid on this host exists.
     */
    static String diagnose(Record me, Record[] all, long now, long timeoutMillis, long localHost, LongPredicate alive) {
        // How old a waiting rank's record may get: its watchdog refreshes it every tick, but a loaded machine delays it.
        long stale = Math.max(2 * tickMillis(timeoutMillis), Math.min(timeoutMillis / 2, 10_000));
        List<String> causes = new ArrayList<>();
        List<Integer> silent = new ArrayList<>();
        for (int q = 0; q < all.length; q++) {
            Record o = all[q];
            if (q == me.rank) continue;
            if (o == null) {
                silent.add(q);
            } else if (o.state == State.FINISHED) {
                causes.add("rank " + q + " has finished (at step " + o.step + ")");
            } else if (o.host == localHost && !alive.test(o.pid)) {
                causes.add("rank " + q + " (pid " + o.pid + ") is gone (last seen at step " + o.step + ")");
            } else if (o.state == State.WORKING && now - o.updatedMillis > timeoutMillis) {
                causes.add("rank " + q + " is hung: no sign of life for " + seconds(now - o.updatedMillis) + " (at step " + o.step + ")");
            } else if (o.state == State.WAITING && now - o.updatedMillis > stale) {
                causes.add("rank " + q + " has stopped responding in " + o.waitsIn.text + " (collective #" + o.seq + ", step " + o.step
                        + "): no sign of life for " + seconds(now - o.updatedMillis) + " (the process is stopped, frozen or swapped out)");
            } else if (o.state == State.WAITING && o.seq < me.seq) {
                causes.add("rank " + q + " is alive but still in " + o.waitsIn.text + " (collective #" + o.seq
                        + "), which this rank has left: the transport between them is stuck");
            } else if (o.state == State.WAITING && o.seq > me.seq) {
                causes.add("rank " + q + " waits in " + o.waitsIn.text + " (collective #" + o.seq + ", step " + o.step
                        + "), ahead of this rank's #" + me.seq + ": the ranks are out of step");
            }
        }
        if (!silent.isEmpty()) {
            StringBuilder sb = new StringBuilder(silent.size() > 1 ? "ranks " : "rank ");
            for (int i = 0; i < silent.size(); i++) sb.append(i > 0 ? ", " : "").append(silent.get(i));
            causes.add(sb + " never wrote a heartbeat (not started, or stuck before training)");
        }
        String why = causes.isEmpty() ? "every rank waits in it: the collective itself is stuck (the transport between the ranks failed)"
                : String.join("; ", causes);
        return "rank " + me.rank + ": " + me.waitsIn.text + " (collective #" + me.seq + ", step " + me.step + ") has waited "
                + seconds(now - me.waitingSinceMillis) + " for the other ranks (dist-timeout " + seconds(timeoutMillis) + "): "
                + why + "; stopping this rank";
    }

    private static String seconds(long millis) { return String.format(Locale.ROOT, "%.0f s", millis / 1000.0); }

    private static long hostHash() {
        try {
            return InetAddress.getLocalHost().getHostName().hashCode();
        } catch (IOException e) {
            return 0;
        }
    }
}
