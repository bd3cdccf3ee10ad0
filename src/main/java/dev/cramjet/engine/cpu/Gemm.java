package dev.cramjet.engine.cpu;

/**
 * fp32 matrix multiplication on row-major float arrays, the three shapes a linear layer needs:
 * forward y = x·Wᵀ ({@link #nt}), input gradient dx = dy·W ({@link #nn}), weight gradient dW += dyᵀ·x ({@link #tn}).
 * Offsets are in elements. Parallel over all cores.
 */
public final class Gemm {
    private Gemm() {}

    /** C[M,N] = (accumulate ? C : 0) + A[M,K] · B[N,K]ᵀ. */
    public static void nt(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        Parallel.range(m, (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int j = 0; j < n; j++) {
                    float s = accumulate ? c[cOff + i * n + j] : 0f;
                    for (int p = 0; p < k; p++) s += a[aOff + i * k + p] * b[bOff + j * k + p];
                    c[cOff + i * n + j] = s;
                }
            }
        });
    }

    /** C[M,N] = (accumulate ? C : 0) + A[M,K] · B[K,N]. */
    public static void nn(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        Parallel.range(m, (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int j = 0; j < n; j++) {
                    float s = accumulate ? c[cOff + i * n + j] : 0f;
                    for (int p = 0; p < k; p++) s += a[aOff + i * k + p] * b[bOff + p * n + j];
                    c[cOff + i * n + j] = s;
                }
            }
        });
    }

    /** C[M,N] = (accumulate ? C : 0) + A[K,M]ᵀ · B[K,N]. */
    public static void tn(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        Parallel.range(m, (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int j = 0; j < n; j++) {
                    float s = accumulate ? c[cOff + i * n + j] : 0f;
                    for (int p = 0; p < k; p++) s += a[aOff + p * m + i] * b[bOff + p * n + j];
                    c[cOff + i * n + j] = s;
                }
            }
        });
    }
}
