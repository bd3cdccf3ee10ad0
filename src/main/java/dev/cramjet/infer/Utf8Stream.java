package dev.cramjet.infer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of byte chunks into text, one chunk at a time, emitting only complete characters. A byte-level
 * BPE token can end in the middle of a multi-byte UTF-8 sequence (a Chinese character is three bytes and often
 * spans two or three tokens), so the trailing bytes of an incomplete sequence are held back until the next chunk
 * completes them. Bytes that can never form a character (0xFF, a stray continuation byte, a truncated sequence
 * followed by something else, an overlong or surrogate encoding) become U+FFFD, the replacement character, one per
 * maximal invalid subpart, and decoding carries on.
 */
public final class Utf8Stream {
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    /** Bytes of an incomplete sequence held back from the previous chunk (at most 3). */
    private byte[] pending = new byte[0];

    /** Decodes {@code bytes} after whatever was held back; returns the complete characters (possibly ""). */
    public String feed(byte[] bytes) {
        ByteBuffer in = ByteBuffer.allocate(pending.length + bytes.length).put(pending).put(bytes).flip();
        String out = decode(in, false);
        pending = new byte[in.remaining()];
        in.get(pending);
        return out;
    }

    /** Ends the stream: an incomplete sequence still held back becomes U+FFFD. Returns the remaining text. */
    public String finish() {
        String out = decode(ByteBuffer.wrap(pending), true);
        pending = new byte[0];
        decoder.reset();
        return out;
    }

    /** True when bytes of an unfinished character are held back. */
    public boolean pending() { return pending.length > 0; }

    private String decode(ByteBuffer in, boolean end) {
        CharBuffer out = CharBuffer.allocate(in.remaining() + 4);
        CoderResult r = decoder.decode(in, out, end);
        if (r.isOverflow()) throw new IllegalStateException("UTF-8 output larger than its input"); // cannot happen
        if (end) decoder.flush(out);
        return out.flip().toString();
    }
}
