package dev.cramjet.data;

import dev.cramjet.Hash;
import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class ShardsTest {
    @TempDir Path dir;

    /** Writes docs of lengths 1..n with token values derived from position, returns the expected stream. */
    private int[] writeDocs(String prefix, int vocab, int eot, int docs, int shardTokens, String hash) throws IOException {
        ShardWriter w = new ShardWriter(dir, prefix, vocab, eot, hash, shardTokens);
        int[] stream = new int[0];
        for (int d = 1; d <= docs; d++) {
            int[] doc = new int[d];
            // Ids in [1, vocab - 2]: never the eot, which the tests put at 0 or vocab - 1.
            for (int k = 0; k < d; k++) doc[k] = 1 + (d * 7919 + k * 104729) % (vocab - 2);
            w.add(doc);
            int[] next = Arrays.copyOf(stream, stream.length + d + 1);
            next[stream.length] = eot;
            System.arraycopy(doc, 0, next, stream.length + 1, d);
            stream = next;
        }
        w.finish();
        assertEquals(stream.length, w.tokens());
        assertEquals(docs, w.documents());
        return stream;
    }

    private static int[] readAll(TokenShards s) {
        int[] all = new int[(int) s.tokens()];
        int at = 0;
        for (ShardReader r : s.shards()) {
            r.read(0, all, at, (int) r.size());
            at += (int) r.size();
        }
        return all;
    }

    @Test
    void roundTripsUint16AcrossShards() throws IOException {
        int[] stream = writeDocs("train", 50_000, 49_999, 40, 100, "h16");
        try (TokenShards s = TokenShards.open(dir, "train", "h16")) {
            assertEquals(2, s.shards().getFirst().header().width());
            assertEquals((stream.length + 99) / 100, s.shards().size());
            assertEquals(100, s.shards().getFirst().size());
            assertArrayEquals(stream, readAll(s));
            assertEquals(49_999, s.eot());
            assertEquals(ShardHeader.BYTES + 100 * 2, Files.size(s.shards().getFirst().path()));
            long docs = s.shards().stream().mapToLong(r -> r.header().documents()).sum();
            assertEquals(40, docs);
        }
    }

    @Test
    void roundTripsUint32WhenTheVocabularyIsLarge() throws IOException {
        int[] stream = writeDocs("val", 100_000, 0, 12, 1000, "h32");
        try (TokenShards s = TokenShards.open(dir, "val", null)) {
            assertEquals(4, s.shards().getFirst().header().width());
            assertArrayEquals(stream, readAll(s));
            assertTrue(Arrays.stream(stream).anyMatch(t -> t > 65535), "test must use ids above 16 bits");
            assertEquals(stream[5], s.shards().getFirst().get(5));
        }
    }

    @Test
    void rejectsTokensOutsideTheVocabulary() {
        ShardWriter w = new ShardWriter(dir, "train", 300, 299, "h", 100);
        assertThrows(IllegalArgumentException.class, () -> w.add(new int[]{1, 300}));
    }

    @Test
    void aSingleIdOutsideTheVocabularyIsFoundWhenTheShardOpens() throws IOException {
        writeDocs("train", 1000, 999, 5, 1000, "h");
        Path p = dir.resolve("train_000.bin");
        byte[] b = Files.readAllBytes(p);
        ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putShort(ShardHeader.BYTES + 2 * 13, (short) 1000);
        Files.write(p, b);
        CramjetException e = assertThrows(CramjetException.class, () -> TokenShards.open(dir, "train", "h"));
        assertEquals(p + ": token 13 has id 1000, outside the vocabulary [0, 1000) its header declares (a corrupted shard; "
                + "re-run `cramjet prepare`)", e.getMessage());
    }

    @Test
    void headerValidationNamesTheFileAndTheProblem() throws IOException {
        writeDocs("train", 1000, 999, 5, 1000, "abc123");
        Path good = dir.resolve("train_000.bin");
        byte[] bytes = Files.readAllBytes(good);

        Path badMagic = dir.resolve("magic.bin");
        byte[] copy = bytes.clone();
        copy[0] = 'X';
        Files.write(badMagic, copy);
        CramjetException e = assertThrows(CramjetException.class, () -> ShardReader.open(badMagic, null));
        assertTrue(e.getMessage().startsWith(badMagic + ": not a Cramjet token shard (bad magic"), e.getMessage());

        Path truncated = dir.resolve("trunc.bin");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 3));
        e = assertThrows(CramjetException.class, () -> ShardReader.open(truncated, null));
        assertTrue(e.getMessage().contains(truncated + ": truncated token shard: the header announces 20 tokens of 2 bytes"), e.getMessage());

        // A count whose product with the width overflows to the real size (width 4: + 2^62 tokens).
        Path lying = dir.resolve("lying.bin");
        writeDocs("wide", 100_000, 0, 3, 1000, "h32");
        copy = Files.readAllBytes(dir.resolve("wide_000.bin"));
        ByteBuffer lb = ByteBuffer.wrap(copy).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        lb.putLong(16, lb.getLong(16) + (1L << 62));
        Files.write(lying, copy);
        e = assertThrows(CramjetException.class, () -> ShardReader.open(lying, null));
        assertTrue(e.getMessage().startsWith(lying + ": truncated token shard: the header announces 4611686018427387913 tokens of 4 bytes"),
                e.getMessage());

        Path tiny = dir.resolve("tiny.bin");
        Files.write(tiny, Arrays.copyOf(bytes, 10));
        e = assertThrows(CramjetException.class, () -> ShardReader.open(tiny, null));
        assertTrue(e.getMessage().contains("10 bytes, the header alone needs 128"), e.getMessage());

        e = assertThrows(CramjetException.class, () -> ShardReader.open(good, "def456"));
        assertTrue(e.getMessage().contains("made with tokenizer abc123, but the tokenizer in use is def456"), e.getMessage());

        Path version = dir.resolve("version.bin");
        copy = bytes.clone();
        ByteBuffer.wrap(copy).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(8, 9);
        Files.write(version, copy);
        e = assertThrows(CramjetException.class, () -> ShardReader.open(version, null));
        assertTrue(e.getMessage().contains("format version 9"), e.getMessage());

        e = assertThrows(CramjetException.class, () -> TokenShards.open(dir, "val", null));
        assertTrue(e.getMessage().contains("no val_NNN.bin token shards"), e.getMessage());
    }

    @Test
    void splitIsDeterministicAndNearTheFraction() {
        Split a = new Split(0.1, 7), b = new Split(0.1, 7), c = new Split(0.1, 8);
        int val = 0, differ = 0;
        for (long f = 0; f < 20_000; f++) {
            long print = Hash.mix(f);
            assertEquals(a.isValidation(print), b.isValidation(print));
            if (a.isValidation(print)) val++;
            if (a.isValidation(print) != c.isValidation(print)) differ++;
        }
        assertEquals(2000, val, 150);
        assertTrue(differ > 1000, "another seed gives another split");
        assertThrows(CramjetException.class, () -> new Split(1.0, 0));
    }

    @Test
    void permutationIsABijection() {
        for (long n : new long[]{1, 2, 3, 17, 1000, 4097}) {
            Set<Long> seen = new HashSet<>();
            for (long i = 0; i < n; i++) {
                long p = BatchSampler.permute(i, n, 12345);
                assertTrue(p >= 0 && p < n);
                seen.add(p);
            }
            assertEquals(n, seen.size());
        }
    }

    @Test
    void samplerIsDeterministicResumesExactlyAndCoversAnEpoch() throws IOException {
        // Token i of the stream is i (mod vocab), so a window's first token says where it came from.
        ShardWriter w = new ShardWriter(dir, "train", 70_000, 69_999, "h", 1000);
        int[] doc = new int[2999];
        for (int k = 0; k < doc.length; k++) doc[k] = k + 1;
        w.add(doc); // stream: eot, 1, 2, ..., 2999 → 3 shards of 1000
        w.finish();
        int B = 4, T = 16;
        try (TokenShards s = TokenShards.open(dir, "train", "h")) {
            BatchSampler a = new BatchSampler(s, B, T, 42), b = new BatchSampler(s, B, T, 42);
            assertEquals(3 * ((1000 - T) / T), a.windows());
            int[] x1 = new int[B * T], y1 = new int[B * T], x2 = new int[B * T], y2 = new int[B * T];
            Set<Integer> starts = new HashSet<>();
            int batches = (int) (a.windows() / B);
            int[][] saved = new int[batches][];
            for (int i = 0; i < batches; i++) {
                a.next(x1, y1);
                b.next(x2, y2);
                assertArrayEquals(x1, x2);
                assertArrayEquals(y1, y2);
                saved[i] = x1.clone();
                for (int r = 0; r < B; r++) {
                    for (int t = 0; t < T; t++) {
                        int v = x1[r * T + t];
                        assertEquals(v == 69_999 ? 1 : v + 1, y1[r * T + t], "the target is the next token of the stream");
                        if (t > 0) assertEquals(y1[r * T + t - 1], v, "a row is a contiguous window");
                    }
                    assertTrue(starts.add(x1[r * T]), "a window repeats within an epoch");
                }
            }
            assertEquals(batches, a.position());
            // Later epochs stay inside the shards and move the window boundaries (a new offset per epoch).
            Set<Integer> later = new HashSet<>();
            for (int i = 0; i < 5 * batches; i++) {
                a.next(x1, y1);
                for (int r = 0; r < B; r++) later.add(x1[r * T]);
            }
            assertFalse(starts.containsAll(later), "every epoch cut the same windows");
            // Resume: a fresh sampler restored to a saved state reproduces batch 5 onwards exactly.
            BatchSampler c = new BatchSampler(s, B, T, 42);
            BatchSampler.State st = new BatchSampler.State(42, B, T, a.windows(), 5);
            c.restore(st);
            for (int i = 5; i < batches; i++) {
                c.next(x2, y2);
                assertArrayEquals(saved[i], x2, "batch " + i + " after resume");
            }
            BatchSampler d = new BatchSampler(s, B, T, 43);
            d.next(x2, y2);
            assertFalse(Arrays.equals(saved[0], x2), "another seed gives other batches");
            assertThrows(CramjetException.class, () -> d.restore(st));
            assertThrows(CramjetException.class, () -> new BatchSampler(s, B, 600, 1));
        }
    }

    @Test
    void sequentialBatchesCoverEveryWindowInOrder() throws IOException {
        ShardWriter w = new ShardWriter(dir, "val", 1000, 999, "h", 50);
        int[] doc = new int[99];
        for (int k = 0; k < doc.length; k++) doc[k] = k + 1;
        w.add(doc); // two shards of 50 tokens: eot,1..49 | 50..99
        w.finish();
        try (TokenShards s = TokenShards.open(dir, "val", "h")) {
            int T = 8, B = 4;
            SequentialBatches v = new SequentialBatches(s, B, T);
            assertEquals(2 * (49 / T), v.windows());
            int[] x = new int[B * T], y = new int[B * T];
            int rows = 0, batches = 0, n;
            List<Integer> firsts = new java.util.ArrayList<>();
            while ((n = v.next(x, y)) > 0) {
                for (int r = 0; r < n; r++) {
                    firsts.add(x[r * T]);
                    assertEquals(x[r * T + 1], y[r * T]);
                }
                rows += n;
                batches++;
            }
            assertEquals(v.windows(), rows);
            assertEquals(3, batches);
            assertEquals(List.of(999, 8, 16, 24, 32, 40, 50, 58, 66, 74, 82, 90), firsts);
            v.reset();
            assertEquals(4, v.next(x, y));
            assertEquals(999, x[0]);
        }
    }
}
