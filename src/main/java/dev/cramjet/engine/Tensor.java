package dev.cramjet.engine;

import java.util.Arrays;

/**
 * A tensor handle: shape and dtype over a range of a backend's {@link Storage}. Row-major, contiguous.
 * Views share storage; model code creates views (parameter slices, per-layer activations) but never reads elements.
 */
public final class Tensor {
    public final Storage storage;
    /** Offset into storage, in elements. */
    public final long offset;
    private final int[] shape;
    private final long size;

    public Tensor(Storage storage, long offset, int... shape) {
        this.storage = storage;
        this.offset = offset;
        this.shape = shape.clone();
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= d;
        }
        this.size = n;
        if (offset < 0 || offset + n > storage.size()) {
            throw new IllegalArgumentException("view [" + offset + ", " + (offset + n) + ") outside storage of " + storage.size());
        }
    }

    public DType dtype() { return storage.dtype(); }

    public int rank() { return shape.length; }

    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }

    public int[] shape() { return shape.clone(); }

    /** Number of elements. */
    public long size() { return size; }

    public long bytes() { return dtype().bytes(size); }

    /** Product of all dimensions but the last: the number of rows of a [.., C] tensor. */
    public int rows() { return (int) (size / Math.max(1, shape[shape.length - 1])); }

    /** The same elements seen with another shape. */
    public Tensor reshape(int... newShape) {
        Tensor t = new Tensor(storage, offset, newShape);
        if (t.size != size) throw new IllegalArgumentException("cannot reshape " + this + " to " + Arrays.toString(newShape));
        return t;
    }

    /** A contiguous sub-range starting {@code elementOffset} elements into this tensor. */
    public Tensor view(long elementOffset, int... newShape) {
        Tensor t = new Tensor(storage, offset + elementOffset, newShape);
        if (elementOffset < 0 || elementOffset + t.size > size) {
            throw new IllegalArgumentException("view outside " + this);
        }
        return t;
    }

    /** Slice i of the leading dimension, e.g. layer i of a stacked [L, ...] buffer or batch row i. */
    public Tensor slice(int i) {
        int[] rest = Arrays.copyOfRange(shape, 1, shape.length);
        return view((long) i * (size / shape[0]), rest);
    }

    public boolean sameShape(Tensor o) { return Arrays.equals(shape, o.shape); }

    @Override
    public String toString() { return dtype() + Arrays.toString(shape); }
}
