package dev.cramjet.tune;

import dev.cramjet.CramjetException;

import java.util.Locale;

/**
 * Two classifiers stacked: p(c) ∝ exp(a·log p₁(c) + b·log p₂(c) + β_c), with a, b and the class biases β (β₀ = 0)
 * fitted on a held-out split by minimising the mean cross-entropy plus (μ/2)(a² + b²). This is Wolpert's stacked
 * generalisation with a logistic combiner — how a fine-tuned model and a bag-of-words model are usually combined —
 * and it needs no threshold: a is how far to trust the first, b the second, β corrects the classes' base rates.
 *
 * <p>The fit is Newton's method on the k + 1 parameters (the problem is convex, and μ keeps it strictly so when the
 * held-out split is separable) with a halving line search, from a = 1, b = 0, β = 0: the first classifier alone.
 * Log-probabilities are floored at log 1e-30, as {@link Evaluation}'s loss is.
 */
public record Blend(double first, double second, double[] bias) {
    static final double MU = 1e-3, FLOOR = Math.log(1e-30);
    private static final int ITERATIONS = 50;

    public Blend {
        if (bias.length < 2) throw new CramjetException("a blend needs two classes or more, not " + bias.length);
    }

    /** Fits the blend of two classifiers' probabilities {@code p1}, {@code p2} on examples with class ids {@code truth}. */
    public static Blend fit(float[][] p1, float[][] p2, int[] truth) {
        if (truth.length == 0) throw new CramjetException("nothing to fit a blend on: the held-out split is empty");
        int k = p1[0].length, d = k + 1; // θ = (a, b, β₁ … β_{k−1})
        double[][] l1 = logs(p1), l2 = logs(p2);
        double[] theta = new double[d];
        theta[0] = 1;
        double f = objective(theta, l1, l2, truth);
        for (int it = 0; it < ITERATIONS; it++) {
            double[] g = new double[d];
            double[][] h = new double[d][d];
            double[] z = new double[k], q = new double[k], j = new double[d * k];
            for (int i = 0; i < truth.length; i++) {
                probs(theta, l1[i], l2[i], z, q);
                // the Jacobian of the logits in θ: ∂z_c/∂a = l1_c, ∂z_c/∂b = l2_c, ∂z_c/∂β_j = [c = j]
                for (int c = 0; c < k; c++) {
                    j[c] = l1[i][c];
                    j[k + c] = l2[i][c];
                    for (int p = 2; p < d; p++) j[p * k + c] = c == p - 1 ? 1 : 0;
                }
                for (int p = 0; p < d; p++) {
                    double jq = 0;
                    for (int c = 0; c < k; c++) jq += j[p * k + c] * q[c];
                    g[p] += (jq - j[p * k + truth[i]]) / truth.length;
                    for (int r = 0; r <= p; r++) {
                        double jr = 0, jpr = 0;
                        for (int c = 0; c < k; c++) {
                            jr += j[r * k + c] * q[c];
                            jpr += j[p * k + c] * j[r * k + c] * q[c];
                        }
                        h[p][r] += (jpr - jq * jr) / truth.length; // Jᵀ(diag q − q qᵀ)J
                    }
                }
            }
            for (int p = 0; p < d; p++) for (int r = 0; r < p; r++) h[r][p] = h[p][r];
            for (int p = 0; p < 2; p++) {
                g[p] += MU * theta[p];
                h[p][p] += MU;
            }
            double[] step = solve(h, g);
            double t = 1, next = Double.NaN;
            double[] trial = new double[d];
            for (int halvings = 0; halvings < 30; halvings++, t /= 2) {
                for (int p = 0; p < d; p++) trial[p] = theta[p] - t * step[p];
                next = objective(trial, l1, l2, truth);
                if (next <= f) break;
            }
            if (!(next <= f)) break;
            System.arraycopy(trial, 0, theta, 0, d);
            boolean converged = f - next < 1e-12;
            f = next;
            if (converged) break;
        }
        double[] bias = new double[k];
        System.arraycopy(theta, 2, bias, 1, k - 1);
        return new Blend(theta[0], theta[1], bias);
    }

    /** The blended class probabilities of each example. */
    public float[][] probabilities(float[][] p1, float[][] p2) {
        int k = bias.length;
        if (p1.length != p2.length) throw new CramjetException("a blend reads both classifiers on the same examples: " + p1.length + " against " + p2.length);
        double[] theta = theta(), z = new double[k], q = new double[k];
        double[][] l1 = logs(p1), l2 = logs(p2);
        float[][] out = new float[p1.length][k];
        for (int i = 0; i < p1.length; i++) {
            probs(theta, l1[i], l2[i], z, q);
            for (int c = 0; c < k; c++) out[i][c] = (float) q[c];
        }
        return out;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%.4g × log p(model) + %.4g × log p(words)", first, second));
        for (int c = 1; c < bias.length; c++) b.append(String.format(Locale.ROOT, ", class %d bias %+.4g", c, bias[c]));
        return b.toString();
    }

    private double[] theta() {
        double[] t = new double[bias.length + 1];
        t[0] = first;
        t[1] = second;
        System.arraycopy(bias, 1, t, 2, bias.length - 1);
        return t;
    }

    private static double[][] logs(float[][] p) {
        double[][] l = new double[p.length][];
        for (int i = 0; i < p.length; i++) {
            l[i] = new double[p[i].length];
            for (int c = 0; c < p[i].length; c++) l[i][c] = Math.max(Math.log(p[i][c]), FLOOR);
        }
        return l;
    }

    /** z = a·l1 + b·l2 + β, q = softmax(z). */
    private static void probs(double[] theta, double[] l1, double[] l2, double[] z, double[] q) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int c = 0; c < z.length; c++) {
            z[c] = theta[0] * l1[c] + theta[1] * l2[c] + (c == 0 ? 0 : theta[c + 1]);
            max = Math.max(max, z[c]);
        }
        for (int c = 0; c < z.length; c++) sum += q[c] = Math.exp(z[c] - max);
        for (int c = 0; c < z.length; c++) q[c] /= sum;
    }

    private static double objective(double[] theta, double[][] l1, double[][] l2, int[] truth) {
        int k = l1[0].length;
        double[] z = new double[k], q = new double[k];
        double f = 0;
        for (int i = 0; i < truth.length; i++) {
            probs(theta, l1[i], l2[i], z, q);
            f -= Math.log(Math.max(q[truth[i]], 1e-300));
        }
        return f / truth.length + MU / 2 * (theta[0] * theta[0] + theta[1] * theta[1]);
    }

    /** Solves h·x = g by Gaussian elimination with partial pivoting (h is small and positive definite). */
    private static double[] solve(double[][] h, double[] g) {
        int n = g.length;
        double[][] a = new double[n][];
        for (int i = 0; i < n; i++) {
            a[i] = java.util.Arrays.copyOf(h[i], n + 1);
            a[i][n] = g[i];
        }
        for (int col = 0; col < n; col++) {
            int piv = col;
            for (int r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[piv][col])) piv = r;
            double[] t = a[col];
            a[col] = a[piv];
            a[piv] = t;
            for (int r = col + 1; r < n; r++) {
                double m = a[r][col] / a[col][col];
                for (int c = col; c <= n; c++) a[r][c] -= m * a[col][c];
            }
        }
        double[] x = new double[n];
        for (int r = n - 1; r >= 0; r--) {
            double s = a[r][n];
            for (int c = r + 1; c < n; c++) s -= a[r][c] * x[c];
            x[r] = s / a[r][r];
        }
        return x;
    }
}
