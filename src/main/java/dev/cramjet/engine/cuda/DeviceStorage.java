package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Storage;

/** A device allocation owned by one {@link CudaBackend}: {@code pointer} is a CUdeviceptr (0 after close). */
final class DeviceStorage implements Storage {
    final CudaBackend owner;
    private final DType dtype;
    private final long size;
    long pointer;

    DeviceStorage(CudaBackend owner, DType dtype, long size, long pointer) {
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
