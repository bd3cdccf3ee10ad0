package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Accelerator;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * CUDA graphs for work that repeats, such as one training micro-step's forward and backward pass: hundreds of
 * launches that a graph replays with one call and without the gaps between them.
 *
 * <p>A region ({@link #run}) first only records: launches, GEMMs, memsets and device copies queue here as values
 * instead of reaching the stream. At its end the recorded work is compared with the graph captured earlier; when
 * it is the same work — the same kernels, arguments, pointers and shapes — the graph is launched. Otherwise the
 * work runs as recorded, and when it is the same as the previous region's it is captured first (by replaying it
 * under stream capture), so a graph is only ever made of work that ran twice alike, and only ever replaces work
 * exactly equal to it. Whatever changes between steps (a dropout seed, the count of scored targets, an
 * allocation) therefore costs a region its graph, never its correctness.
 *
 * <p>What cannot be recorded — a host transfer, a synchronisation, an allocation, an event — {@link #flush}es: the
 * recorded work runs, and the rest of the region runs as it comes. A capture the driver refuses turns graphs off
 * (the reason is in {@link #stats}) and the work runs as recorded. Not thread-safe, like the backend.
 */
final class Graphs {
    /** One piece of stream work, as the values that define it (records compare by value). */
    sealed interface Work permits Launch, Gemm, Memset, Copy {}

    record Launch(long function, int gx, int gy, int bx, int by, int shared, long[] args, String name) implements Work {
        @Override
        public boolean equals(Object o) {
            return o instanceof Launch l && function == l.function && gx == l.gx && gy == l.gy && bx == l.bx && by == l.by
                    && shared == l.shared && Arrays.equals(args, l.args);
        }

        @Override
        public int hashCode() { return Long.hashCode(function) * 31 + Arrays.hashCode(args); }
    }

    /** A cuBLASLt product whose plan (descriptors, algorithm) is already chosen; see {@link CublasLt#enqueue}. */
    record Gemm(CublasLt lt, CublasLt.Plan plan, long stream, long workspace, long a, long b, boolean accumulate, long c, long d,
                long bias, long aux) implements Work {}

    /** A memset of {@code width} bytes per element. */
    record Memset(int width, long dst, int value, long count, long stream) implements Work {}

    record Copy(long dst, long src, long bytes, long stream) implements Work {}

    private final Driver cu;
    private final long stream;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment values = arena.allocate(8L * Kernels.MAX_ARGS, 16);
    private final MemorySegment pointers = arena.allocate(8L * Kernels.MAX_ARGS, 16);
    private List<Work> recorded = new ArrayList<>(), previous = List.of(), captured = List.of();
    private long graph, exec;
    private boolean recording, enabled = true;
    private long replays, captures;
    /** Why a capture failed, turning graphs off; null while they work. */
    private String failure;

    Graphs(Driver cu, long stream) {
        this.cu = cu;
        this.stream = stream;
        for (int i = 0; i < Kernels.MAX_ARGS; i++) pointers.setAtIndex(ValueLayout.JAVA_LONG, i, values.address() + 8L * i);
    }

    /** Off: regions run as plain stream work (the profiler times ops one by one). */
    void enable(boolean on) {
        flush();
        enabled = on && failure == null;
    }

    /** Runs {@code work} as a region: recorded, then replayed from a graph or run as recorded (see the class). */
    void run(Runnable work) {
        if (!enabled || recording) {
            work.run();
            return;
        }
        recording = true;
        recorded = new ArrayList<>();
        boolean whole = false;
        try {
            work.run();
            whole = recording;
        } finally {
            recording = false;
            if (!whole) {
                runAll(recorded);  // a flush or an exception cut the region: what was recorded runs now, in order
                previous = List.of();
            }
        }
        if (!whole) return;
        List<Work> w = recorded;
        if (exec != 0 && w.equals(captured)) {
            cu.graphLaunch(exec, stream);
            replays++;
        } else if (w.equals(previous) && capture(w)) {
            cu.graphLaunch(exec, stream);
            captures++;
        } else {
            runAll(w);
            previous = w;
        }
    }

    /** True while a region records: stream work goes to {@link #defer} instead of the stream. */
    boolean deferring() { return recording; }

    void defer(Work w) { recorded.add(w); }

    /** Work that cannot be recorded is about to happen: the recorded work runs first, the region's rest as it comes. */
    void flush() {
        if (!recording) return;
        recording = false;
        runAll(recorded);
        recorded = new ArrayList<>();
    }

    Accelerator.GraphStats stats() { return new Accelerator.GraphStats(replays, captures, failure); }

    /**
     * Captures {@code w} as the graph to replay. Capture queues nothing, so when the driver refuses (false, graphs
     * now off) the caller still has the work to run.
     */
    private boolean capture(List<Work> w) {
        release();
        try {
            cu.beginCapture(stream);
            try {
                runAll(w);
            } finally {
                graph = cu.endCapture(stream);
            }
            exec = cu.instantiate(graph);
            captured = w;
            return true;
        } catch (CramjetException e) {
            release();
            enabled = false;
            failure = "CUDA graph capture failed, graphs are off: " + e.getMessage();
            return false;
        }
    }

    private void runAll(List<Work> w) {
        for (Work x : w) {
            switch (x) {
                case Launch l -> {
                    MemorySegment.copy(l.args, 0, values, ValueLayout.JAVA_LONG, 0, l.args.length);
                    cu.launch(l.function, l.gx, l.gy, 1, l.bx, l.by, 1, l.shared, stream, pointers.address(), l.name);
                }
                case Gemm g -> g.lt.enqueue(g);
                case Memset m -> {
                    switch (m.width) {
                        case 1 -> cu.memset8(m.dst, (byte) m.value, m.count, m.stream);
                        case 2 -> cu.memset16(m.dst, (short) m.value, m.count, m.stream);
                        default -> cu.memset32(m.dst, m.value, m.count, m.stream);
                    }
                }
                case Copy c -> cu.copyDtoD(c.dst, c.src, c.bytes, c.stream);
            }
        }
    }

    private void release() {
        if (exec != 0) cu.destroyGraphExec(exec);
        if (graph != 0) cu.destroyGraph(graph);
        exec = graph = 0;
        captured = List.of();
    }

    void close() {
        flush();
        release();
        arena.close();
    }
}
