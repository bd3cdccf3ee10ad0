package dev.cramjet.serve;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class StopFilterTest {
    @Test
    void holdsBackWhatCouldStartAStopAndCutsBeforeIt() {
        StopFilter f = new StopFilter(List.of("world"));
        assertEquals("hello ", f.push("hello wo"));
        assertEquals("", f.push("rld!"));
        assertTrue(f.stopped());
        assertEquals("", f.finish());
        assertEquals(6, f.released());

        StopFilter alarm = new StopFilter(List.of("world"));
        assertEquals("hello ", alarm.push("hello wo"));
        assertEquals("wondrous", alarm.push("ndrous"));
        assertFalse(alarm.stopped());
        assertEquals("", alarm.finish());

        StopFilter tail = new StopFilter(List.of("wx"));
        assertEquals("abc ", tail.push("abc w"));
        assertEquals("w", tail.finish(), "what was held back goes out at the end");

        StopFilter earliest = new StopFilter(List.of("cd", "bcde"));
        assertEquals("a", earliest.push("abcdef"), "the earliest stop sequence wins");

        StopFilter none = new StopFilter(List.of());
        assertEquals("any text", none.push("any text"));
    }

    @Test
    void randomPiecesReleaseExactlyTheTextBeforeTheFirstStop() {
        SplittableRandom r = new SplittableRandom(3);
        String alphabet = "abc";
        for (int trial = 0; trial < 2000; trial++) {
            StringBuilder text = new StringBuilder();
            int n = 1 + r.nextInt(30);
            for (int i = 0; i < n; i++) text.append(alphabet.charAt(r.nextInt(3)));
            List<String> stops = List.of(randomWord(r, alphabet, 1 + r.nextInt(4)), randomWord(r, alphabet, 1 + r.nextInt(4)));
            int cut = text.length();
            for (String s : stops) {
                int at = text.indexOf(s);
                if (at >= 0) cut = Math.min(cut, at);
            }
            StopFilter f = new StopFilter(stops);
            StringBuilder out = new StringBuilder();
            int i = 0;
            while (i < text.length() && !f.stopped()) {
                int len = Math.min(text.length() - i, r.nextInt(4));
                String piece = f.push(text.substring(i, i + len));
                out.append(piece);
                for (String s : stops) assertFalse(out.toString().contains(s), "released text holds a stop sequence");
                i += len;
            }
            out.append(f.finish());
            assertEquals(text.substring(0, cut), out.toString(), "text " + text + ", stops " + stops);
            assertEquals(cut < text.length() || stops.stream().anyMatch(s -> text.indexOf(s) >= 0), f.stopped());
        }
    }

    private static String randomWord(SplittableRandom r, String alphabet, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
        return sb.toString();
    }
}
