package dev.cramjet.data;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.LongStream;

/**
 * A token shard mapped into memory (read-only; the OS pages it in on demand, so shards larger than RAM work).
 * The header is checked on open: magic, version, width, the file size it implies, and — when given — the
 * tokenizer hash, so a model is never fed tokens from a different vocabulary; then every token id is checked
 * against the header's vocabulary.
 */
public final class ShardReader implements AutoCloseable {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final ShardHeader header;
    private final Arena arena;
    private final MemorySegment tokens;

    private ShardReader(Path path, ShardHeader header, Arena arena, MemorySegment tokens) {
        this.path = path;
        this.header = header;
        this.arena = arena;
        this.tokens = tokens;
    }

    /** Opens and validates a shard; {@code expectedHash} null skips the tokenizer check. */
    public static ShardReader open(Path path, String expectedHash) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer head = ByteBuffer.allocate(ShardHeader.BYTES);
            while (head.hasRemaining() && ch.read(head) >= 0) { }
            ShardHeader h = ShardHeader.decode(head.flip(), size, path.toString());
            if (expectedHash != null && !expectedHash.equals(h.tokenizerHash())) {
                throw new CramjetException(path + ": made with tokenizer " + h.tokenizerHash() + ", but the tokenizer in use is "
                        + expectedHash + " (re-run `cramjet prepare` with this tokenizer, or use the one the shards came with)");
            }
            Arena arena = Arena.ofShared();
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena).asSlice(ShardHeader.BYTES);
            ShardReader r = new ShardReader(path, h, arena, seg);
            long bad = r.firstBadToken();
            if (bad >= 0) {
                long id = Integer.toUnsignedLong(r.get(bad));
                r.close();
                throw new CramjetException(path + ": token " + bad + " has id " + id + ", outside the vocabulary [0, "
                        + h.vocabSize() + ") its header declares (a corrupted shard; re-run `cramjet prepare`)");
            }
            return r;
        } catch (NoSuchFileException e) {
            throw new CramjetException(path + ": no such token shard");
        } catch (IOException e) {
            throw new CramjetException(path + ": cannot read token shard: " + e.getMessage(), e);
        }
    }

    /**
     * The position of the first id outside the vocabulary, or -1. Every id is checked when a shard opens, because
     * training samples windows at random and might never meet a single bad one; chunks run in parallel, since a
     * shard can hold hundreds of millions of tokens.
     */
    private long firstBadToken() {
        long n = size(), chunk = 1 << 20;
        int vocab = header.vocabSize();
        if (header.width() == 2 && vocab >= 65536) return -1;
        long first = LongStream.range(0, (n + chunk - 1) / chunk).parallel().map(c -> {
            for (long i = c * chunk, end = Math.min(n, i + chunk); i < end; i++) {
                if (Integer.compareUnsigned(get(i), vocab) >= 0) return i;
            }
            return Long.MAX_VALUE;
        }).min().orElse(Long.MAX_VALUE);
        return first == Long.MAX_VALUE ? -1 : first;
    }

    public ShardHeader header() { return header; }

    public Path path() { return path; }

    public long size() { return header.tokens(); }

    public int get(long i) {
        return header.width() == 2 ? Short.toUnsignedInt(tokens.getAtIndex(U16, i)) : tokens.getAtIndex(U32, i);
    }

    /** Copies tokens [from, from + n) into dst[off ...]. */
    public void read(long from, int[] dst, int off, int n) {
        if (from < 0 || from + n > size()) {
            throw new IndexOutOfBoundsException("tokens [" + from + ", " + (from + n) + ") outside " + path + " of " + size());
        }
        if (header.width() == 2) {
            for (int k = 0; k < n; k++) dst[off + k] = Short.toUnsignedInt(tokens.getAtIndex(U16, from + k));
        } else {
            MemorySegment.copy(tokens, U32, from * 4, dst, off, n);
        }
    }

    @Override
    public void close() { arena.close(); }
}
