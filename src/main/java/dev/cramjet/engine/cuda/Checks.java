package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

/**
 * Argument checks shared by the CUDA ops: each names the op, the tensor and what was expected, because a wrong
 * dtype or shape reaching a kernel reads or writes the wrong bytes silently.
 */
final class Checks {
    private Checks() {}

    static void requireType(String op, Tensor t, DType type) {
        if (t.dtype() != type) {
            throw new IllegalArgumentException(op + ": " + t + " must be " + type + " on the CUDA backend");
        }
    }

    /** Activations (and weights) are BF16 on this backend. */
    static void requireActivations(String op, Tensor... ts) {
        for (Tensor t : ts) requireType(op, t, DType.BF16);
    }

    /** A dense weight (BF16) or a frozen int8 one (Q8_0). */
    static void requireWeight(String op, Tensor w) {
        if (w.dtype() != DType.BF16 && w.dtype() != DType.Q8_0) {
            throw new IllegalArgumentException(op + ": weight " + w + " must be BF16 or Q8_0 on the CUDA backend");
        }
    }

    /** F32 per-row statistics, one value per row. */
    static void requireStats(String op, int rows, Tensor... stats) {
        for (Tensor s : stats) {
            requireType(op, s, DType.F32);
            if (s.size() != rows) {
                throw new IllegalArgumentException(op + ": " + s + " must hold one value per row (" + rows + ")");
            }
        }
    }

    static void requireSameSize(String op, Tensor a, Tensor b) {
        if (a.size() != b.size()) throw new IllegalArgumentException(op + ": " + a + " and " + b + " differ in size");
    }

    /** A parameter gradient (F32 or BF16) of {@code size} elements. */
    static void requireGradient(String op, String name, Tensor g, long size) {
        type(op, g);
        if (g.size() != size) throw new IllegalArgumentException(op + ": " + name + " " + g + " must hold " + size + " elements");
    }

    static void requireLength(String op, Tensor t, long length) {
        if (t.size() != length) {
            throw new IllegalArgumentException(op + ": " + t + " has " + t.size() + " elements, the array " + length);
        }
    }

    static void requireProbability(String op, float p) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException(op + ": dropout probability " + p + " not in [0, 1)");
        }
    }

    /** Index of a float tensor's dtype in the per-dtype kernel arrays: 0 for F32, 1 for BF16. */
    static int type(String op, Tensor t) {
        return switch (t.dtype()) {
            case F32 -> 0;
            case BF16 -> 1;
            case I32, Q8_0 -> throw new IllegalArgumentException(op + ": " + t + " must be F32 or BF16");
        };
    }
}
