package dev.cramjet.engine;

/**
 * Memory a backend owns: a Java array on the CPU, a device pointer on a GPU. Only the owning backend looks inside;
 * everything else handles it through {@link Tensor}.
 */
public interface Storage {
    DType dtype();

    /** Capacity in elements. */
    long size();
}
