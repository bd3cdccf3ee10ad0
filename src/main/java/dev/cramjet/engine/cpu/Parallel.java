package dev.cramjet.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads, one per core, that splits a loop into contiguous chunks. The calling thread works too
 * and waits for the rest. Workers spin briefly, then park, so back-to-back kernels do not pay a wake-up each.
 * Calls may not nest (a kernel body must not call {@link #range} again).
 */
public final class Parallel {
    /** Body of a parallel loop over [from, to). */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    /** Body run once per thread with its index in [0, threads()). */
    @FunctionalInterface
    public interface PerThread {
        void run(int thread);
    }

    private static final int THREADS = Integer.getInteger("cramjet.threads", Runtime.getRuntime().availableProcessors());
    private static final Worker[] WORKERS = new Worker[THREADS - 1];
    private static final Object LOCK = new Object();

    private static volatile PerThread task;
    private static volatile long generation;
    private static final AtomicInteger pending = new AtomicInteger();

    static {
        for (int i = 0; i < WORKERS.length; i++) {
            WORKERS[i] = new Worker(i + 1);
            WORKERS[i].start();
        }
    }

    private Parallel() {}

    public static int threads() { return THREADS; }

    /** Runs body(thread) on every thread of the team, the caller being thread 0. */
    public static void each(PerThread body) {
        if (THREADS == 1) { body.run(0); return; }
        synchronized (LOCK) {
            task = body;
            pending.set(THREADS - 1);
            generation++;
            for (Worker w : WORKERS) LockSupport.unpark(w);
            Throwable err = null;
            try {
                body.run(0);
            } catch (Throwable t) {
                err = t;
            }
            int spins = 0;
            while (pending.get() > 0) {
                if (++spins > 1000) Thread.yield();
                else Thread.onSpinWait();
            }
            task = null;
            Throwable w = Worker.failure;
            Worker.failure = null;
            if (err == null) err = w;
            if (err instanceof RuntimeException re) throw re;
            if (err instanceof Error e) throw e;
            if (err != null) throw new RuntimeException(err);
        }
    }

    /** Splits [0, n) into one contiguous chunk per thread (fewer when n is small). */
    public static void range(int n, Range body) {
        range(n, 1, body);
    }

    /** Like {@link #range(int, Range)}, chunk boundaries aligned to multiples of {@code grain} (except the end). */
    public static void range(int n, int grain, Range body) {
        if (n <= 0) return;
        int blocks = (n + grain - 1) / grain;
        int t = Math.min(THREADS, blocks);
        if (t <= 1) { body.run(0, n); return; }
        each(thread -> {
            if (thread >= t) return;
            int from = (int) ((long) blocks * thread / t) * grain;
            int to = Math.min(n, (int) ((long) blocks * (thread + 1) / t) * grain);
            if (from < to) body.run(from, to);
        });
    }

    private static final class Worker extends Thread {
        static volatile Throwable failure;
        private final int index;
        private long seen;

        Worker(int index) {
            super("cramjet-cpu-" + index);
            this.index = index;
            setDaemon(true);
        }

        @Override
        public void run() {
            while (true) {
                int spins = 0;
                while (generation == seen) {
                    if (++spins < 20_000) Thread.onSpinWait();
                    else LockSupport.park(this);
                }
                seen = generation;
                PerThread body = task;
                try {
                    if (body != null) body.run(index);
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    pending.decrementAndGet();
                }
            }
        }
    }
}
