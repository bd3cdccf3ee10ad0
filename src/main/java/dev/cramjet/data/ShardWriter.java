package dev.cramjet.data;

import dev.cramjet.io.AtomicFile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes documents as token shards {@code PREFIX_000.bin, PREFIX_001.bin, ...}: each document is the end-of-text
 * token followed by its tokens; a shard holds at most {@code shardTokens} tokens (a document may continue in the
 * next shard). A shard is buffered in memory and written atomically when full or at {@link #finish()}, so a
 * crash never leaves a half-written shard behind.
 */
public final class ShardWriter {
    private final Path dir;
    private final String prefix;
    private final int vocabSize, eot, width;
    private final String tokenizerHash;
    private final int shardTokens;
    private final List<Path> written = new ArrayList<>();
    private ByteBuffer buf;
    private long docsInShard, totalTokens, totalDocs;

    public ShardWriter(Path dir, String prefix, int vocabSize, int eot, String tokenizerHash, int shardTokens) {
        if (shardTokens < 2 || shardTokens > (1 << 28)) {
            throw new IllegalArgumentException("shardTokens must be in [2, 2^28], got " + shardTokens);
        }
        if (eot < 0 || eot >= vocabSize) throw new IllegalArgumentException("eot " + eot + " outside vocabulary " + vocabSize);
        this.dir = dir;
        this.prefix = prefix;
        this.vocabSize = vocabSize;
        this.eot = eot;
        this.width = ShardHeader.widthFor(vocabSize);
        this.tokenizerHash = tokenizerHash;
        this.shardTokens = shardTokens;
        this.buf = ByteBuffer.allocate(Math.min(shardTokens, 1 << 16) * width).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Appends one document: the end-of-text token, then {@code tokens}. */
    public void add(int[] tokens) throws IOException {
        docsInShard++;
        totalDocs++;
        put(eot);
        for (int t : tokens) {
            if (t < 0 || t >= vocabSize) throw new IllegalArgumentException("token " + t + " outside vocabulary of " + vocabSize);
            put(t);
        }
    }

    private void put(int t) throws IOException {
        if (buf.position() == shardTokens * width) flush();
        if (!buf.hasRemaining()) {
            ByteBuffer bigger = ByteBuffer.allocate((int) Math.min((long) shardTokens * width, 2L * buf.capacity()))
                    .order(ByteOrder.LITTLE_ENDIAN);
            bigger.put(buf.flip());
            buf = bigger;
        }
        if (width == 2) buf.putShort((short) t); else buf.putInt(t);
        totalTokens++;
    }

    private void flush() throws IOException {
        long tokens = buf.position() / width;
        if (tokens == 0) return;
        ShardHeader h = new ShardHeader(width, tokens, docsInShard, vocabSize, eot, tokenizerHash);
        Path p = dir.resolve(String.format("%s_%03d.bin", prefix, written.size()));
        ByteBuffer body = buf.duplicate().flip();
        AtomicFile.write(p, ch -> {
            ByteBuffer head = h.encode();
            while (head.hasRemaining()) ch.write(head);
            while (body.hasRemaining()) ch.write(body);
        });
        written.add(p);
        buf.clear();
        docsInShard = 0;
    }

    /** Writes the last shard; returns every shard written, in order. */
    public List<Path> finish() throws IOException {
        flush();
        return List.copyOf(written);
    }

    public long tokens() { return totalTokens; }

    public long documents() { return totalDocs; }
}
