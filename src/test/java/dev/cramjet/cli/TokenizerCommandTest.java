package dev.cramjet.cli;

import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerCommandTest {
    /** Runs the CLI, returning exit status and what it printed on standard output and error. */
    static String[] cramjet(String... argv) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            int status = Main.run(argv);
            return new String[] {String.valueOf(status), o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void trainsEncodesAndDecodes(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.txt"), b = dir.resolve("b.txt"), tok = dir.resolve("tok.json");
        Files.writeString(a, "the cat sat on the mat\nthe dog sat on the log\n".repeat(20));
        Files.writeString(b, "床前明月光，疑是地上霜。\n".repeat(20));
        String[] r = cramjet("tokenizer", "train", "--input", a.toString(), b.toString(), "--vocab", "300", "--out", tok.toString());
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].startsWith("wrote " + tok + ": 300 ids (6 specials)"), r[1]);
        Tokenizer t = Tokenizer.load(tok);

        r = cramjet("tokenizer", "encode", "--tokenizer", tok.toString(), "--text", "the cat<|endoftext|>明月");
        assertEquals("0", r[0], r[2]);
        String ids = r[1].trim();
        StringBuilder expected = new StringBuilder();
        for (int id : t.encode("the cat<|endoftext|>明月")) expected.append(expected.isEmpty() ? "" : " ").append(id);
        assertEquals(expected.toString(), ids);

        r = cramjet("tokenizer", "decode", "--tokenizer", tok.toString(), "--ids", ids);
        assertEquals("0", r[0], r[2]);
        assertEquals("the cat<|endoftext|>明月", r[1]);
    }

    @Test
    void badInputIsAnErrorThatSaysWhat(@TempDir Path dir) {
        String[] r = cramjet("tokenizer", "train", "--input", dir.resolve("nope.txt").toString(), "--vocab", "300",
                "--out", dir.resolve("t.json").toString());
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("nope.txt: no such file"), r[2]);
        r = cramjet("tokenizer", "decode", "--tokenizer", dir.resolve("missing.json").toString(), "--ids", "1");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("missing.json: no such tokenizer file"), r[2]);
        r = cramjet("tokenizer", "frobnicate");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("unknown sub-command 'frobnicate'"), r[2]);
    }
}
