package dev.cramjet.engine;

/**
 * One AdamW update's hyper-parameters (Loshchilov &amp; Hutter, decoupled weight decay):
 * <pre>
 *   g  = grad · clip                      clip = min(1, maxGradNorm / (‖grad‖ + 1e-6)) when a norm tensor is given
 *   m  = β1·m + (1-β1)·g
 *   v  = β2·v + (1-β2)·g²
 *   m̂ = m / (1-β1^t),  v̂ = v / (1-β2^t)
 *   w  = w - lr·( m̂ / (√v̂ + ε) + λ·w )
 * </pre>
 * {@code step} is t, counted from 1.
 */
public record AdamW(float lr, float beta1, float beta2, float eps, float weightDecay, int step, float maxGradNorm) {
    public AdamW {
        if (step < 1) throw new IllegalArgumentException("AdamW step counts from 1, got " + step);
    }

    public AdamW withWeightDecay(float wd) { return new AdamW(lr, beta1, beta2, eps, wd, step, maxGradNorm); }
}
