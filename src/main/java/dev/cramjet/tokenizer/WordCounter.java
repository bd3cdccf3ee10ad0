package dev.cramjet.tokenizer;

import dev.cramjet.CramjetException;

import java.util.Arrays;

/**
 * Counts distinct byte strings (pre-tokens) without an object per entry: the bytes live in one growing arena,
 * entries are parallel arrays, and an open-addressing table of entry indices finds them.
 */
final class WordCounter {
    private byte[] arena = new byte[1 << 16];
    private int arenaSize;
    private int[] offset = new int[1 << 12], length = new int[1 << 12], hash = new int[1 << 12];
    private long[] count = new long[1 << 12];
    private int size;
    private int[] table = new int[1 << 13]; // entry index + 1; 0 is empty
    private int mask = table.length - 1;

    int size() { return size; }

    int length(int entry) { return length[entry]; }

    long count(int entry) { return count[entry]; }

    /** Copies entry's bytes, as unsigned ints, into dst at p; returns the position after them. */
    int copyBytes(int entry, int[] dst, int p) {
        for (int i = offset[entry], end = i + length[entry]; i < end; i++) dst[p++] = arena[i] & 0xFF;
        return p;
    }

    void add(byte[] t, int from, int to, long n) {
        int h = hash(t, from, to);
        int i = h & mask;
        while (true) {
            int e = table[i] - 1;
            if (e < 0) break;
            if (hash[e] == h && Arrays.equals(arena, offset[e], offset[e] + length[e], t, from, to)) {
                count[e] += n;
                return;
            }
            i = (i + 1) & mask;
        }
        int len = to - from;
        if (arenaSize + len > arena.length) {
            if ((long) arenaSize + len > Integer.MAX_VALUE - 8) {
                throw new CramjetException("the corpus has over 2 GB of distinct pre-tokens; train on a sample of it");
            }
            long cap = Math.max((long) arena.length * 2, (long) arenaSize + len);
            arena = Arrays.copyOf(arena, (int) Math.min(cap, Integer.MAX_VALUE - 8));
        }
        System.arraycopy(t, from, arena, arenaSize, len);
        if (size == offset.length) {
            int cap = size * 2;
            offset = Arrays.copyOf(offset, cap);
            length = Arrays.copyOf(length, cap);
            hash = Arrays.copyOf(hash, cap);
            count = Arrays.copyOf(count, cap);
        }
        offset[size] = arenaSize;
        length[size] = len;
        hash[size] = h;
        count[size] = n;
        arenaSize += len;
        table[i] = ++size;
        if (size * 2 > table.length) rehash();
    }

    /** Adds every entry of other to this one. */
    void addAll(WordCounter other) {
        for (int e = 0; e < other.size; e++) {
            add(other.arena, other.offset[e], other.offset[e] + other.length[e], other.count[e]);
        }
    }

    private void rehash() {
        table = new int[table.length * 2];
        mask = table.length - 1;
        for (int e = 0; e < size; e++) {
            int i = hash[e] & mask;
            while (table[i] != 0) i = (i + 1) & mask;
            table[i] = e + 1;
        }
    }

    private static int hash(byte[] t, int from, int to) {
        int h = 0x811C9DC5;
        for (int i = from; i < to; i++) h = (h ^ t[i]) * 0x01000193;
        return h ^ (h >>> 16);
    }
}
