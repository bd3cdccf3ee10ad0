package dev.cramjet.infer;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class Utf8StreamTest {
    private static byte[] bytes(int... b) {
        byte[] out = new byte[b.length];
        for (int i = 0; i < b.length; i++) out[i] = (byte) b[i];
        return out;
    }

    @Test
    void holdsBackSplitCharactersUntilTheyComplete() {
        byte[] zh = "中文".getBytes(StandardCharsets.UTF_8); // E4 B8 AD E6 96 87
        Utf8Stream s = new Utf8Stream();
        assertEquals("", s.feed(Arrays.copyOfRange(zh, 0, 2)));
        assertTrue(s.pending());
        assertEquals("中", s.feed(Arrays.copyOfRange(zh, 2, 4)));
        assertEquals("", s.feed(Arrays.copyOfRange(zh, 4, 5)));
        assertEquals("文", s.feed(Arrays.copyOfRange(zh, 5, 6)));
        assertFalse(s.pending());
        assertEquals("", s.finish());
    }

    @Test
    void everySplitOfMixedTextReassemblesExactly() {
        String text = "héllo 中文 😀 done";
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        for (int step = 1; step <= 4; step++) {
            Utf8Stream s = new Utf8Stream();
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < b.length; i += step) {
                String piece = s.feed(Arrays.copyOfRange(b, i, Math.min(b.length, i + step)));
                assertFalse(!piece.isEmpty() && Character.isHighSurrogate(piece.charAt(piece.length() - 1)),
                        "emitted half a surrogate pair");
                out.append(piece);
            }
            out.append(s.finish());
            assertEquals(text, out.toString(), "chunks of " + step);
        }
    }

    @Test
    void invalidBytesBecomeReplacementCharactersAndDecodingGoesOn() {
        Utf8Stream s = new Utf8Stream();
        assertEquals("a\uFFFDb", s.feed(bytes('a', 0xFF, 'b')));
        assertEquals("\uFFFDc", s.feed(bytes(0x80, 'c')));           // stray continuation byte
        assertEquals("", s.feed(bytes(0xE4, 0xB8)));                 // a good start ...
        assertEquals("\uFFFDx", s.feed(bytes('x')));                  // ... cut short by an ASCII byte
        assertEquals("\uFFFD\uFFFD", s.feed(bytes(0xC0, 0x80)));      // overlong encoding of NUL
        assertEquals("", s.feed(bytes(0xF0, 0x9F)));
        assertEquals("\uFFFD", s.finish());                           // the stream ends mid-character
        assertEquals("ok", s.feed(bytes('o', 'k')));
    }
}
