package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Storage;

/**
 * A device allocation owned by one CUDA backend (its {@link Gpu}): {@code pointer} is a CUdeviceptr (0 after close).
 * Q8_0 storage holds ggml's blocks as they are on disk, 34 bytes per 32 values.
 */
final class DeviceStorage implements Storage {
    final Gpu owner;
    private final DType dtype;
    private final long size;
    long pointer;

    DeviceStorage(Gpu owner, DType dtype, long size, long pointer) {
        this.owner = owner;
        this.dtype = dtype;
        this.size = size;
        this.pointer = pointer;
    }

    @Override
    public DType dtype() { return dtype; }

    @Override
    public long size() { return size; }
}
