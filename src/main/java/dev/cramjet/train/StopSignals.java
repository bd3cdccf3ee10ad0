package dev.cramjet.train;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * SIGINT (Ctrl-C) and SIGTERM ask the trainer to checkpoint and stop at the next step boundary instead of killing
 * the JVM mid-step. A second signal exits at once (status 130): checkpoints are atomic, so the worst case is
 * losing the steps since the last one.
 */
public final class StopSignals {
    private StopSignals() {}

    /** Installs the handlers; {@code stop} receives "SIGINT" or "SIGTERM". */
    public static void install(Consumer<String> stop) {
        AtomicInteger received = new AtomicInteger();
        for (String name : new String[] {"INT", "TERM"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> {
                if (received.incrementAndGet() > 1) Runtime.getRuntime().halt(130);
                System.err.println("\ncramjet: SIG" + sig.getName() + " received: saving a checkpoint and stopping after this step (again to quit now)");
                stop.accept("SIG" + sig.getName());
            });
        }
    }
}
