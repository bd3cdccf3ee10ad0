package dev.cramjet.data;

import dev.cramjet.CramjetException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The 128-byte header of a token shard, little-endian:
 * <pre>
 *   0  8 bytes  magic "CRAMJTOK"
 *   8  u32      format version (1)
 *  12  u32      token width in bytes: 2 (uint16, when the vocabulary has at most 65536 ids) or 4 (uint32)
 *  16  u64      token count
 *  24  u64      documents that start in this shard
 *  32  u32      vocabulary size
 *  36  u32      end-of-text token id (it precedes every document)
 *  40  u32      length of the tokenizer hash in bytes (at most 84)
 *  44  ...      the tokenizer hash, UTF-8, zero-padded to byte 128
 * </pre>
 * then {@code count} tokens of {@code width} bytes each, and nothing after them.
 */
public record ShardHeader(int width, long tokens, long documents, int vocabSize, int eot, String tokenizerHash) {
    public static final int BYTES = 128;
    public static final int VERSION = 1;
    private static final byte[] MAGIC = "CRAMJTOK".getBytes(StandardCharsets.US_ASCII);
    private static final int MAX_HASH = BYTES - 44;

    public ShardHeader {
        if (width != 2 && width != 4) throw new IllegalArgumentException("token width must be 2 or 4, got " + width);
        if (tokenizerHash.getBytes(StandardCharsets.UTF_8).length > MAX_HASH) {
            throw new IllegalArgumentException("tokenizer hash longer than " + MAX_HASH + " bytes: " + tokenizerHash);
        }
    }

    /** The narrowest width that holds every id of a vocabulary of this size. */
    public static int widthFor(int vocabSize) { return vocabSize <= 65536 ? 2 : 4; }

    public ByteBuffer encode() {
        ByteBuffer b = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN);
        byte[] hash = tokenizerHash.getBytes(StandardCharsets.UTF_8);
        b.put(MAGIC).putInt(VERSION).putInt(width).putLong(tokens).putLong(documents).putInt(vocabSize).putInt(eot)
                .putInt(hash.length).put(hash);
        return b.position(0);
    }

    /** Parses and checks a header; {@code fileSize} must match what it announces. Errors name {@code file}. */
    public static ShardHeader decode(ByteBuffer b, long fileSize, String file) {
        if (fileSize < BYTES) {
            throw new CramjetException(file + ": truncated token shard: " + fileSize + " bytes, the header alone needs " + BYTES);
        }
        b = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[MAGIC.length];
        b.get(magic);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new CramjetException(file + ": not a Cramjet token shard (bad magic: expected \"CRAMJTOK\", found \""
                    + new String(magic, StandardCharsets.ISO_8859_1).replaceAll("[^ -~]", "?") + "\")");
        }
        int version = b.getInt();
        if (version != VERSION) {
            throw new CramjetException(file + ": token shard format version " + version + ", this Cramjet reads version " + VERSION);
        }
        int width = b.getInt();
        if (width != 2 && width != 4) throw new CramjetException(file + ": token width " + width + " in header, expected 2 or 4");
        long tokens = b.getLong(), docs = b.getLong();
        int vocab = b.getInt(), eot = b.getInt(), hashLen = b.getInt();
        if (tokens < 0 || docs < 0 || vocab <= 0 || eot < 0 || eot >= vocab || hashLen < 0 || hashLen > MAX_HASH) {
            throw new CramjetException(file + ": corrupt token shard header (tokens " + tokens + ", documents " + docs
                    + ", vocabulary " + vocab + ", eot " + eot + ", hash length " + hashLen + ")");
        }
        // Compared by division: a lying count times the width could overflow back to the real size.
        if (tokens != (fileSize - BYTES) / width || (fileSize - BYTES) % width != 0) {
            throw new CramjetException(file + ": truncated token shard: the header announces " + tokens + " tokens of "
                    + width + " bytes, but the file has " + fileSize + " bytes (" + BYTES + " of header, then room for "
                    + (fileSize - BYTES) / width + " tokens)");
        }
        byte[] hash = new byte[hashLen];
        b.get(hash);
        return new ShardHeader(width, tokens, docs, vocab, eot, new String(hash, StandardCharsets.UTF_8));
    }
}
