package dev.cramjet.dist;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

/** The argument checks every {@link Communicator} makes: what a collective's tensors must be to each other. */
final class Shapes {
    private Shapes() {}

    static void dense(String op, Tensor t) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16) {
            throw new IllegalArgumentException(op + ": " + t + " is not F32 or BF16");
        }
    }

    static void root(String op, int root, int size) {
        if (root < 0 || root >= size) throw new IllegalArgumentException(op + ": root " + root + " outside [0, " + size + ")");
    }

    /**
     * big.size() = size·piece.size(), one dtype, and piece either disjoint from big or exactly its slice
     * {@code rank} (the in-place form).
     */
    static void pieces(String op, Tensor big, Tensor piece, int rank, int size) {
        dense(op, big);
        if (big.dtype() != piece.dtype()) throw new IllegalArgumentException(op + ": " + big + " and " + piece + " differ in dtype");
        if (big.size() != (long) size * piece.size()) {
            throw new IllegalArgumentException(op + ": " + big + " is not " + size + " × " + piece + " (one piece per rank)");
        }
        if (big.storage != piece.storage) return;
        boolean overlap = piece.offset < big.offset + big.size() && big.offset < piece.offset + piece.size();
        if (overlap && piece.offset != big.offset + rank * piece.size()) {
            throw new IllegalArgumentException(op + ": the piece overlaps the whole but is not rank " + rank + "'s slice of it");
        }
    }

    /** True when piece is big's slice {@code rank} (nothing to copy between them). */
    static boolean inPlace(Tensor big, Tensor piece, int rank) {
        return big.storage == piece.storage && piece.offset == big.offset + rank * piece.size();
    }
}
