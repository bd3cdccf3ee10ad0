package dev.cramjet.data;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;

/**
 * BERT's masked-language-model corruption. Each ordinary position is chosen with probability {@code rate} (BERT
 * 15%, Cramming 25%); a chosen position keeps its token as the target and its input becomes the mask token (80%),
 * a random ordinary token (10%) or stays as it was (10%). Special tokens (end-of-text, padding, …) are never
 * chosen, never drawn as a random replacement, and never scored. Every draw is a pure function of (seed, position),
 * so a batch's masks follow from the sampler's position and a resumed run masks exactly as the original would.
 */
public final class Masking {
    private final double rate;
    private final int maskId;
    private final boolean[] special;
    /** The ids a random replacement is drawn from: every id that is not special. */
    private final int[] ordinary;

    /**
     * @param vocab    token ids are in [0, vocab)
     * @param specials the special ids (the mask token among them)
     */
    public Masking(double rate, int maskId, int vocab, int... specials) {
        if (!(rate > 0 && rate < 1)) throw new CramjetException("mask-rate: must be in (0, 1), got " + rate);
        if (maskId < 0 || maskId >= vocab) throw new CramjetException("mask token id " + maskId + " is outside the vocabulary [0, " + vocab + ")");
        this.rate = rate;
        this.maskId = maskId;
        special = new boolean[vocab];
        special[maskId] = true;
        for (int s : specials) special[s] = true;
        int n = 0;
        for (boolean b : special) if (!b) n++;
        if (n == 0) throw new CramjetException("the vocabulary has no ordinary tokens to mask");
        ordinary = new int[n];
        for (int id = 0, k = 0; id < vocab; id++) if (!special[id]) ordinary[k++] = id;
    }

    /**
     * Corrupts tokens[0, n) in place and writes targets[0, n): the original token at chosen positions, −1
     * elsewhere. {@code seed} should differ per batch (e.g. mixed from the batch's position in the data).
     */
    public void apply(int[] tokens, int[] targets, int n, long seed) {
        for (int i = 0; i < n; i++) {
            int t = tokens[i];
            long h = Hash.mix(seed + i * Hash.GOLDEN);
            // The top 24 bits choose the position, the next 24 the kind of corruption; a second mix draws a random token.
            if (special[t] || (h >>> 40) >= rate * (1 << 24)) {
                targets[i] = -1;
                continue;
            }
            targets[i] = t;
            long kind = (h >>> 16) & 0xFFFFFF;
            if (kind < 0.8 * (1 << 24)) {
                tokens[i] = maskId;
            } else if (kind < 0.9 * (1 << 24)) {
                long r = Hash.mix(h);
                tokens[i] = ordinary[(int) Long.remainderUnsigned(r, ordinary.length)];
            }
        }
    }

    public int maskId() { return maskId; }

    public double rate() { return rate; }
}
