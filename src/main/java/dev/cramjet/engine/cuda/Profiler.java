package dev.cramjet.engine.cuda;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Per-op-family GPU time from pairs of CUDA events around each backend op, for `cramjet bench`. Off by default,
 * when {@link #time} costs one branch. Only the outermost op is timed (an op built from others counts once).
 * Events are created as needed the first time and reused.
 */
final class Profiler implements AutoCloseable {
    private final Driver cu;
    private final long stream;
    private boolean enabled;
    private long[] events = new long[0];
    private String[] families = new String[0];
    private int count, depth;

    Profiler(Driver cu, long stream) {
        this.cu = cu;
        this.stream = stream;
    }

    void enable(boolean on) {
        enabled = on;
        count = 0;
        depth = 0;
    }

    /** Starts timing an op of {@code family}; close the returned scope (this) when its kernels are queued. */
    Profiler time(String family) {
        if (!enabled || depth++ > 0) return this;
        if (2 * count + 2 > events.length) {
            int old = events.length;
            events = Arrays.copyOf(events, Math.max(64, 2 * old));
            families = Arrays.copyOf(families, events.length / 2);
            for (int i = old; i < events.length; i++) events[i] = cu.createEvent();
        }
        families[count] = family;
        cu.record(events[2 * count], stream);
        return this;
    }

    @Override
    public void close() {
        if (!enabled || --depth > 0) return;
        cu.record(events[2 * count + 1], stream);
        count++;
    }

    /** Waits for the GPU and returns milliseconds per family since the last call, largest first. */
    Map<String, Double> collect() {
        Map<String, Double> ms = new LinkedHashMap<>();
        if (count > 0) cu.eventSynchronize(events[2 * count - 1]);
        for (int i = 0; i < count; i++) ms.merge(families[i], (double) cu.elapsedMillis(events[2 * i], events[2 * i + 1]), Double::sum);
        count = 0;
        Map<String, Double> sorted = new LinkedHashMap<>();
        ms.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    /** Destroys the events (the backend is closing). */
    void release() {
        for (long e : events) cu.destroyEvent(e);
        events = new long[0];
        count = 0;
    }
}
