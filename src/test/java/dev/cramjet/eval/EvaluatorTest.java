package dev.cramjet.eval;

import dev.cramjet.data.Batch;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class EvaluatorTest {
    /** Batches of 2×2 tokens, n of them. */
    private static Evaluator.Source batches(int n) {
        return new Evaluator.Source() {
            int served;

            @Override public void reset() { served = 0; }

            @Override
            public boolean next(Batch b) {
                if (served == n) return false;
                java.util.Arrays.fill(b.tokens, served);
                java.util.Arrays.fill(b.targets, served % 2);
                served++;
                return true;
            }
        };
    }

    @Test
    void lossPerplexityAndBitsPerByte() {
        // Token 0 stands for 1 byte, token 1 for 3; batches alternate targets 0 and 1; losses 1.0 and 3.0.
        Evaluator e = new Evaluator(batches(4), 2, 2, 1000, new int[] {1, 3});
        Evaluator.Result r = e.run(b -> b.targets[0] == 0 ? 1f : 3f);
        assertEquals(16, r.tokens());
        assertEquals(2 * 4 * 1 + 2 * 4 * 3, r.bytes());
        assertEquals(2.0, r.loss(), 1e-12);
        assertEquals(Math.exp(2.0), r.perplexity(), 1e-9);
        assertEquals(2.0 * 16 / (Math.log(2) * 32), r.bitsPerByte(), 1e-12);
        // Capped at maxTokens, and the same batches every time.
        Evaluator capped = new Evaluator(batches(4), 2, 2, 8, new int[] {1, 3});
        assertEquals(8, capped.run(b -> 1f).tokens());
        assertEquals(8, capped.run(b -> 1f).tokens());
    }

    @Test
    void onlyScoredTargetsCount() {
        // Half of each batch is ignored (a fine-tune's prompt); the mean is over the rest, and so are the bytes.
        Evaluator.Source half = new Evaluator.Source() {
            int served;

            @Override public void reset() { served = 0; }

            @Override
            public boolean next(Batch b) {
                if (served == 3) return false;
                java.util.Arrays.fill(b.targets, 1);
                b.targets[0] = b.targets[1] = -1;
                served++;
                return true;
            }
        };
        Evaluator e = new Evaluator(half, new Batch(2, 2, 4, true), 1000, new int[] {1, 3});
        Evaluator.Result r = e.run(b -> 2f);
        assertEquals(6, r.tokens());
        assertEquals(18, r.bytes());
        assertEquals(2.0, r.loss(), 1e-12);
        assertTrue(Double.isNaN(new Evaluator(half, new Batch(2, 2, 4, true), 1000, null).run(b -> 2f).bitsPerByte()),
                "no token bytes, no bits per byte");
    }
}
