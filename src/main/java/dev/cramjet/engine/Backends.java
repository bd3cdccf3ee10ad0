package dev.cramjet.engine;

import dev.cramjet.CramjetException;

import java.lang.reflect.InvocationTargetException;
import java.util.Optional;
import java.util.function.Consumer;

/** Opens a backend by name: "cpu" always works; "cuda" is loaded reflectively so the CPU build never needs it. */
public final class Backends {
    private Backends() {}

    public static Backend open(String name) {
        return switch (name) {
            case "cpu" -> new dev.cramjet.engine.cpu.CpuBackend();
            case "cuda" -> openCuda();
            default -> throw new CramjetException("unknown device '" + name + "' (expected cpu or cuda)");
        };
    }

    /** The device extras of a GPU backend (its name, memory, profiler, GEMM ceiling); empty for the CPU. */
    public static Optional<Accelerator> accelerator(Backend backend) {
        return backend instanceof Accelerator a ? Optional.of(a) : Optional.empty();
    }

    /**
     * How to run device work that repeats alike (a training micro-step): a GPU's {@link Accelerator#repeat}, which
     * replays it as a CUDA graph, or directly.
     */
    public static Consumer<Runnable> repeater(Backend backend) {
        return accelerator(backend).<Consumer<Runnable>>map(a -> a::repeat).orElse(Runnable::run);
    }

    private static Backend openCuda() {
        Class<?> type;
        try {
            type = Class.forName("dev.cramjet.engine.cuda.CudaBackend");
        } catch (ClassNotFoundException e) {
            throw new CramjetException("device cuda: this build has no CUDA backend (dev.cramjet.engine.cuda.CudaBackend); use --device cpu");
        }
        try {
            return (Backend) type.getDeclaredConstructor().newInstance();
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof CramjetException ce) throw ce; // the backend's own message (no GPU, no driver, …)
            throw new CramjetException("device cuda: the CUDA backend failed to start: " + cause, cause);
        } catch (ReflectiveOperationException e) {
            throw new CramjetException("device cuda: cannot construct dev.cramjet.engine.cuda.CudaBackend: " + e, e);
        }
    }
}
