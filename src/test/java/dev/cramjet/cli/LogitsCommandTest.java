package dev.cramjet.cli;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.ModelDir;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** `cramjet logits`: an exported fresh model in the Llama layout, its logits as written, and bad input. */
class LogitsCommandTest {
    @TempDir
    Path dir;

    private static int run(String... argv) {
        PrintStream old = System.err;
        System.setErr(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        try {
            return Main.run(argv);
        } finally {
            System.setErr(old);
        }
    }

    @Test
    void exportsAFreshModelAndWritesTheLogitsOfEveryPosition() throws Exception {
        Path config = dir.resolve("llama.json"), model = dir.resolve("model"), out = dir.resolve("a.safetensors");
        Files.writeString(config, """
                {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 61, "block_size": 16,
                 "positions": "rope", "norm": "rmsnorm", "mlp": "swiglu", "bias": false, "tied_embeddings": false}""");
        String tokens = "3,60,0,17,17,5";
        assertEquals(0, run("logits", "--init", config.toString(), "--save", model.toString(), "--seed", "7",
                "--tokens", tokens, "--out", out.toString()));
        assertTrue(Files.readString(model.resolve(ModelDir.CONFIG)).contains("\"llama\""), "exported in the Llama layout");

        float[] logits;
        try (Safetensors.Reader r = Safetensors.open(out)) {
            assertArrayEquals(new long[] {6, 61}, r.entry("logits").shape(), "real vocabulary only, padding cut");
            logits = r.read("logits");
        }
        // The same model loaded back and run directly gives the same numbers, position by position.
        try (Backend be = new CpuBackend()) {
            GPT gpt = ModelDir.load(be, model, 1, 6);
            gpt.forward(new int[] {3, 60, 0, 17, 17, 5}, null);
            for (int t = 0; t < 6; t++) {
                float[] row = gpt.logitsAt(t);
                for (int v = 0; v < 61; v++) assertEquals(row[v], logits[t * 61 + v], 0f, "position " + t + " token " + v);
            }
        }
        // Re-running on the saved directory reproduces the file.
        Path again = dir.resolve("b.safetensors");
        assertEquals(0, run("logits", "--model", model.toString(), "--tokens", tokens, "--out", again.toString()));
        try (Safetensors.Reader r = Safetensors.open(again)) {
            assertArrayEquals(logits, r.read("logits"));
        }
    }

    @Test
    void badInputIsOneClearLine() {
        assertEquals(2, run("logits", "--model", "m", "--tokens", "1,x", "--out", "o"));
        assertEquals(2, run("logits", "--tokens", "1", "--out", "o"));
        assertEquals(2, run("logits", "--init", "c.json", "--tokens", "1", "--out", "o"));
        var e = assertThrows(dev.cramjet.CramjetException.class, () -> LogitsCommand.tokens("4,,5"));
        assertTrue(e.getMessage().contains("item 2"), e.getMessage());
    }
}
