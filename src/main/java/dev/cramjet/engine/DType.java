package dev.cramjet.engine;

/** Element types a backend stores. Compute is fp32 everywhere; BF16 is a storage format with fp32 accumulation. */
public enum DType {
    F32(4), BF16(2), I32(4);

    public final int bytes;

    DType(int bytes) { this.bytes = bytes; }

    /** The safetensors spelling ("F32", "BF16", "I32"). */
    public String safetensorsName() { return name(); }
}
