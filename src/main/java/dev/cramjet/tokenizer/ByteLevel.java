package dev.cramjet.tokenizer;

import java.io.ByteArrayOutputStream;

/**
 * GPT-2's reversible bytes ↔ characters mapping, which tokenizer.json uses to spell byte-level tokens: printable
 * Latin-1 bytes stand for themselves, the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) are shifted to
 * U+0100…U+0143 in byte order. Every token string in a byte-level vocabulary is a string of these 256 characters.
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final short[] CHAR_TO_BYTE = new short[0x144];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int shifted = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + shifted++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {}

    /** The byte a character stands for, or -1 when it is not in the alphabet. */
    static int toByte(char c) { return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1; }

    static String encode(byte[] bytes) {
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(out);
    }

    /** The bytes a token string spells, or null when a character is outside the alphabet. */
    static byte[] decode(String token) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(token.length());
        for (int i = 0; i < token.length(); i++) {
            int b = toByte(token.charAt(i));
            if (b < 0) return null;
            out.write(b);
        }
        return out.toByteArray();
    }
}
