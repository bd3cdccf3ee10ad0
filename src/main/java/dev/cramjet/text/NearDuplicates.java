package dev.cramjet.text;

import dev.cramjet.Hash;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Near-duplicate detection with MinHash and locality-sensitive hashing. A document's shingles are its overlapping
 * 5-character windows (whitespace collapsed), which works for space-less scripts like Chinese as well as for
 * English. Its signature holds, for each of 64 hash functions h_i(x) = (a_i·x + b_i) mod 2^64 (top 16 bits kept),
 * the minimum over its shingles; two signatures agree in a position with probability equal to the Jaccard
 * similarity of the shingle sets. The 64 positions form 16 bands of 4: documents sharing a band become candidates
 * (likely above similarity ≈ (1/16)^(1/4) = 0.5), and a candidate counts as a duplicate when the fraction of
 * agreeing positions reaches the threshold. Only the first kept document of each band bucket is compared against.
 * Bucket keys are 32-bit (a rare false match only costs one extra comparison). Memory: 128 bytes of signature
 * and 16 eight-byte bucket slots at most 3/4 full, about 300 bytes per kept document.
 */
final class NearDuplicates {
    static final int SHINGLE = 5;
    static final int HASHES = 64;
    private static final int BANDS = 16, ROWS = HASHES / BANDS;

    private static final long[] A = new long[HASHES], B = new long[HASHES];

    static {
        for (int i = 0; i < HASHES; i++) {
            A[i] = Hash.mix(0x5EED0000L + 2 * i) | 1; // odd multipliers keep the map a bijection on 64 bits
            B[i] = Hash.mix(0x5EED0000L + 2 * i + 1);
        }
    }

    private final double threshold;
    /** Kept signatures in fixed chunks of {@code CHUNK} documents: growing never copies. */
    private static final int CHUNK = 4096;
    private final List<short[]> signatures = new ArrayList<>();
    private int kept;
    private long[] slots = new long[1 << 12];
    private int entries;

    NearDuplicates(double threshold) { this.threshold = threshold; }

    /** The MinHash signature of {@code text} (thread-safe; the parallel part of the work). */
    static short[] signature(String text) {
        long[] min = new long[HASHES];
        Arrays.fill(min, -1L); // unsigned maximum
        int[] window = new int[SHINGLE];
        int filled = 0, n = 0;
        boolean space = false;
        for (int k = 0; k < text.length(); k++) {
            char c = text.charAt(k);
            if (Character.isWhitespace(c)) { if (space || filled == 0) continue; space = true; c = ' '; } else space = false;
            window[n++ % SHINGLE] = c;
            if (++filled >= SHINGLE) mix(min, shingle(window, n));
        }
        if (filled > 0 && filled < SHINGLE) mix(min, shingle(window, n));
        short[] sig = new short[HASHES];
        for (int i = 0; i < HASHES; i++) sig[i] = (short) (min[i] >>> 48);
        return sig;
    }

    private static long shingle(int[] window, int n) {
        long h = 0;
        for (int j = 0; j < SHINGLE; j++) h = h * 0x100000001B3L + window[(n + j) % SHINGLE];
        return Hash.mix(h);
    }

    private static void mix(long[] min, long x) {
        for (int i = 0; i < HASHES; i++) {
            long h = A[i] * x + B[i];
            if (Long.compareUnsigned(h, min[i]) < 0) min[i] = h;
        }
    }

    /** True when {@code sig} is near a document seen before; otherwise remembers it and returns false. */
    boolean seen(short[] sig) {
        int[] bandKeys = new int[BANDS];
        for (int b = 0; b < BANDS; b++) {
            long h = b + 1;
            for (int r = 0; r < ROWS; r++) h = h * 0x10001L + (sig[b * ROWS + r] & 0xffff);
            bandKeys[b] = (int) Hash.mix(h) | 1; // never 0, the empty-slot marker
            int owner = get(bandKeys[b]);
            if (owner >= 0 && similarity(sig, owner) >= threshold) return true;
        }
        if (kept % CHUNK == 0) signatures.add(new short[CHUNK * HASHES]);
        System.arraycopy(sig, 0, signatures.getLast(), (kept % CHUNK) * HASHES, HASHES);
        for (int key : bandKeys) putIfAbsent(key, kept);
        kept++;
        return false;
    }

    private double similarity(short[] sig, int owner) {
        short[] chunk = signatures.get(owner / CHUNK);
        int same = 0, base = (owner % CHUNK) * HASHES;
        for (int i = 0; i < HASHES; i++) if (sig[i] == chunk[base + i]) same++;
        return same / (double) HASHES;
    }

    /** Slot layout: the band key's 32 bits (never 0, which marks an empty slot) above the owner's index. */
    private int get(int key) {
        int mask = slots.length - 1;
        for (int i = key & mask; slots[i] != 0; i = (i + 1) & mask) {
            if ((int) (slots[i] >>> 32) == key) return (int) slots[i];
        }
        return -1;
    }

    private void putIfAbsent(int key, int owner) {
        if (4 * (entries + 1) > 3 * slots.length) {
            long[] old = slots;
            slots = new long[old.length * 2];
            for (long e : old) if (e != 0) insert(slots, e);
        }
        if (get(key) < 0) {
            insert(slots, ((long) key << 32) | owner);
            entries++;
        }
    }

    private static void insert(long[] table, long entry) {
        int mask = table.length - 1;
        int i = (int) (entry >>> 32) & mask;
        while (table[i] != 0) i = (i + 1) & mask;
        table[i] = entry;
    }
}
