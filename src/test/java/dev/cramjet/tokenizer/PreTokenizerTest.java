package dev.cramjet.tokenizer;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PreTokenizerTest {
    static List<String> split(PreTokenizer p, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        List<String> out = new ArrayList<>();
        p.split(b, 0, b.length, (from, to) -> out.add(new String(b, from, to - from, StandardCharsets.UTF_8)));
        return out;
    }

    @Test
    void splitsLikeGpt4() {
        PreTokenizer p = PreTokenizer.of(PreTokenizer.CL100K);
        assertEquals(List.of("Hello", ",", " world", "!!\n\n", "It", "'s", " ", " ", "123", "4", " ok"),
                split(p, "Hello, world!!\n\nIt's  1234 ok"));
        // A run of Han characters stays one pre-token; full-width punctuation leads the next run, as ASCII does.
        assertEquals(List.of("床前明月光", "，疑是地上霜", "。"), split(p, "床前明月光，疑是地上霜。"));
        assertEquals(List.of("  ", " x", "\t\n", "y", "   "), split(p, "   x\t\ny   "));
    }

    @Test
    void handScannerMatchesTheRegexOnRandomText() {
        PreTokenizer fast = PreTokenizer.of(PreTokenizer.CL100K);
        PreTokenizer regex = new PreTokenizer.Regex(PreTokenizer.CL100K);
        Random r = new Random(7);
        for (int k = 0; k < 3000; k++) {
            String s = TokenizerTest.randomText(r, 1 + r.nextInt(40));
            assertEquals(split(regex, s), split(fast, s), () -> "text: " + s.codePoints()
                    .mapToObj(c -> String.format("U+%04X", c)).toList());
        }
    }

    @Test
    void malformedBytesAreSingleOtherCharacters() {
        PreTokenizer p = PreTokenizer.of(PreTokenizer.CL100K);
        byte[] b = {'a', 'b', (byte) 0xFF, 'c', ' ', (byte) 0xE4, (byte) 0xBD, ' ', (byte) 0xC0, (byte) 0x80};
        List<int[]> spans = new ArrayList<>();
        p.split(b, 0, b.length, (from, to) -> spans.add(new int[] {from, to}));
        // "ab", then 0xFF leads the letters "c", then " " + truncated 3-byte char (two "other" bytes), " ", overlong pair.
        assertEquals(List.of("0-2", "2-4", "4-7", "7-10"), spans.stream().map(s -> s[0] + "-" + s[1]).toList());
    }
}
