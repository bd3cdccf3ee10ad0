package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import java.util.Arrays;

/**
 * Argument checks shared by the CPU ops: each names the op, the argument and what was expected, because a wrong
 * shape reaching a kernel would read or write the wrong elements silently.
 */
final class Checks {
    private Checks() {}

    static CpuStorage storage(String op, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": missing tensor");
        if (!(t.storage instanceof CpuStorage s)) throw new IllegalArgumentException(op + ": " + t + " is not a CPU tensor");
        if (s.released()) throw new IllegalStateException(op + ": " + t + " used after close()");
        return s;
    }

    static float[] f32(String op, Tensor t) {
        CpuStorage s = storage(op, t);
        if (s.dtype() != DType.F32) throw new IllegalArgumentException(op + ": expected an F32 tensor, got " + t);
        return s.f32;
    }

    static int[] i32(String op, Tensor t) {
        CpuStorage s = storage(op, t);
        if (s.dtype() != DType.I32) throw new IllegalArgumentException(op + ": expected an I32 tensor, got " + t);
        return s.i32;
    }

    static CpuStorage q8(String op, Tensor t) {
        CpuStorage s = storage(op, t);
        if (s.dtype() != DType.Q8_0) throw new IllegalArgumentException(op + ": expected a Q8_0 tensor, got " + t);
        if (t.offset % Q8.BLOCK != 0 || t.size() % Q8.BLOCK != 0) {
            throw new IllegalArgumentException(op + ": Q8_0 view " + t + " at element " + t.offset + " is not whole blocks of 32");
        }
        return s;
    }

    static int off(Tensor t) { return (int) t.offset; }

    static void checkLength(String op, Tensor t, int length) {
        if (t.size() != length) throw new IllegalArgumentException(op + ": array of " + length + " elements for " + t);
    }

    /** Same element count and row width: [B,T,C] and [N,C] views of one buffer are interchangeable. */
    static void requireSame(String op, Tensor a, Tensor b) {
        if (a == null || a.size() != b.size() || a.dim(-1) != b.dim(-1)) {
            throw new IllegalArgumentException(op + ": shapes " + a + " and " + b + " must match");
        }
    }

    static void requireShape(String op, String name, Tensor t, int... shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException(op + ": " + name + " is " + t + ", expected " + Arrays.toString(shape));
        }
    }

    /** Checks the element count only: per-row statistics may be [N] or [B,T], vectors [C] or [1,C]. */
    static void requireCount(String op, String name, Tensor t, long size) {
        if (t.size() != size) throw new IllegalArgumentException(op + ": " + name + " is " + t + ", expected " + size + " elements");
    }

    /** Checks element count and last dimension (so [B,T,C] and [N,C] both pass). */
    static void requireSize(String op, String name, Tensor t, long size, int last) {
        if (t.size() != size || t.dim(-1) != last) {
            throw new IllegalArgumentException(op + ": " + name + " is " + t + ", expected " + size + " elements in rows of " + last);
        }
    }

    static void checkTokens(String op, int[] tok, int off, int n, int vocab) {
        for (int i = 0; i < n; i++) {
            int id = tok[off + i];
            if (id < 0 || id >= vocab) throw new IllegalArgumentException(op + ": token " + id + " at " + i + " outside [0, " + vocab + ")");
        }
    }
}
