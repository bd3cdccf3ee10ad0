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

/**
 * A token shard mapped into memory (read-only; the OS pages it in on demand, so shards larger than RAM work).
 * The header is checked on open: magic, version, width, the file size it implies, and — when given — the
 * tokenizer hash, so a model is never fed tokens from a different vocabulary.
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
            return new ShardReader(path, h, arena, seg);
        } catch (NoSuchFileException e) {
            throw new CramjetException(path + ": no such token shard");
        } catch (IOException e) {
            throw new CramjetException(path + ": cannot read token shard: " + e.getMessage(), e);
        }
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
