package dev.cramjet.infer;

import dev.cramjet.CramjetException;
import dev.cramjet.nn.GPT;

import java.util.SplittableRandom;

/**
 * Batch-1 generation speed through the KV cache, the way `cramjet bench`, `quantize` and `prune` report it: a
 * prompt of random tokens (prefill tokens/s), then single tokens, each step computing the next-token logits and
 * bringing them to the host (decode tokens/s). One untimed warm-up of the same work first, so the figures are of
 * compiled code.
 */
public record DecodeBench(int promptTokens, double prefillTokensPerSecond, int decodeTokens, double decodeTokensPerSecond) {

    public static DecodeBench run(GPT model, int prompt, int decode, long seed) {
        int vocab = model.config().vocabSize();
        if (prompt < 1 || prompt + decode + 1 > model.config().blockSize()) {
            throw new CramjetException("a " + prompt + "-token prompt and " + decode + " decoded tokens do not fit the model's context of "
                    + model.config().blockSize());
        }
        SplittableRandom rng = new SplittableRandom(seed);
        int[] ids = new int[prompt];
        for (int i = 0; i < prompt; i++) ids[i] = rng.nextInt(vocab);
        int[] steps = new int[decode];
        for (int i = 0; i < decode; i++) steps[i] = rng.nextInt(vocab);
        GPT.Session session = model.session(prompt + decode + 1);
        double[] timed = new double[2];
        for (int round = 0; round < 2; round++) {   // round 0 warms up
            session.reset();
            long t0 = System.nanoTime();
            session.next(ids);
            long t1 = System.nanoTime();
            for (int id : steps) session.next(new int[] {id});
            long t2 = System.nanoTime();
            timed[0] = (t1 - t0) / 1e9;
            timed[1] = (t2 - t1) / 1e9;
        }
        return new DecodeBench(prompt, prompt / timed[0], decode, decode == 0 ? Double.NaN : decode / timed[1]);
    }
}
