package dev.cramjet.engine;

/**
 * Element types a backend stores. Compute is fp32 everywhere; BF16 is a storage format with fp32 accumulation;
 * Q8_0 is a storage format for frozen weight matrices that matmul and embedding read directly.
 */
public enum DType {
    F32(4, 1), BF16(2, 1), I32(4, 1),
    /**
     * int8 weights in blocks of 32 consecutive values of a row, each block one fp16 scale d and 32 int8 q, value =
     * d·q — ggml's Q8_0, 34 bytes per block, laid out as ggml's {@code block_q8_0} {d, q[32]}. A row's length
     * must be a multiple of 32. Quantizing x: d = max|x|/127, q = round(x/d) half away from zero (d = 0: q = 0).
     */
    Q8_0(34, 32);

    /** Bytes of one block, and values per block (1 for the plain types). */
    public final int blockBytes, block;

    DType(int blockBytes, int block) {
        this.blockBytes = blockBytes;
        this.block = block;
    }

    /** Bytes taken by {@code elements} values (a multiple of {@link #block}). */
    public long bytes(long elements) {
        if (elements % block != 0) throw new IllegalArgumentException(this + ": " + elements + " values are not whole blocks of " + block);
        return elements / block * blockBytes;
    }
}
