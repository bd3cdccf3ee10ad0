package dev.cramjet.engine;

import java.util.List;
import java.util.Map;

/**
 * What a GPU backend reports beyond the {@link Backend} contract, for `cramjet doctor` and `cramjet bench`. Reached
 * through {@link Backends#accelerator}, so commands never name a GPU backend's class and the CPU-only build needs
 * none.
 */
public interface Accelerator {
    /** Where each native library was loaded from, by role ("driver", "nvrtc", "cublasLt"). */
    Map<String, String> libraries();

    /** Streaming multiprocessors (or the device's equivalent unit). */
    int multiprocessors();

    /** {free, total} bytes of device memory as the driver reports them (other processes included). */
    long[] memoryInfo();

    /** Compiles (or loads from the cache) every kernel module; returns their names. */
    List<String> compileKernels();

    /** Starts (true) or stops timing every op by family on the device; see {@link #kernelMillis}. */
    void profile(boolean on);

    /**
     * Device milliseconds per op family (matmul, attention, layernorm, elementwise, embedding, cross-entropy,
     * optimizer, memory) since profiling started or the last call, largest first. Synchronises.
     */
    Map<String, Double> kernelMillis();

    /** The measured matmul ceiling in the compute type: FLOP/s of a size³ GEMM, the best of {@code reps} runs. */
    double gemmCeilingFlops(int size, int reps);

    /** The most device memory the backend has held at once (tensors, workspace and scratch). */
    long peakAllocatedBytes();

    /**
     * Runs {@code work}: device work that repeats alike, such as a training micro-step's forward and backward
     * pass. Once it has run twice the same way it replays as one captured CUDA graph; work that differs from the
     * capture (a new dropout seed, a different count of scored targets) runs as it is, and a host transfer inside
     * it ends the recording there, so the result is always exactly that of running it.
     */
    void repeat(Runnable work);

    /** What {@link #repeat} did so far. */
    GraphStats graphStats();

    /**
     * {@link #repeat} calls served by a captured graph, graphs captured, and why graphs are off (null while they
     * are on): a capture the driver refused turns them off for the backend's life, and the work runs as it is.
     */
    record GraphStats(long replays, long captures, String off) {}
}
