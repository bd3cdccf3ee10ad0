package dev.cramjet.text;

/**
 * A set of longs in one open-addressed array (linear probing, grown at half full): 16 bytes per member instead
 * of a boxed HashSet's ~60, which matters when it holds one fingerprint per document of a large corpus.
 * Zero is kept in a flag because it marks empty slots.
 */
final class LongSet {
    private long[] slots = new long[1024];
    private int size;
    private boolean hasZero;

    /** Adds {@code x}; returns false when it was already there. */
    boolean add(long x) {
        if (x == 0) {
            boolean fresh = !hasZero;
            hasZero = true;
            return fresh;
        }
        if (2 * (size + 1) > slots.length) grow();
        if (!insert(slots, x)) return false;
        size++;
        return true;
    }

    private static boolean insert(long[] table, long x) {
        int mask = table.length - 1;
        int i = (int) (x ^ (x >>> 32)) & mask;
        while (table[i] != 0) {
            if (table[i] == x) return false;
            i = (i + 1) & mask;
        }
        table[i] = x;
        return true;
    }

    private void grow() {
        long[] bigger = new long[slots.length * 2];
        for (long x : slots) if (x != 0) insert(bigger, x);
        slots = bigger;
    }

    int size() { return size + (hasZero ? 1 : 0); }
}
