package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.ShardWriter;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class EvalCommandTest {
    @TempDir
    Path dir;

    @Test
    void evaluatesEveryTargetOnceAcrossBatchesAndAPartialWindow() throws IOException {
        GPTConfig cfg = GPTConfig.preset("micro").with(Map.of("block_size", 8L), "t");
        try (Backend be = new CpuBackend()) {
            GPT saved = new GPT(be, cfg, 1, 8, 5);
            ModelDir.save(saved, dir.resolve("m"));
            SplittableRandom r = new SplittableRandom(1);
            int[] stream = new int[3 * 8 + 4];
            for (int i = 0; i < stream.length; i++) stream[i] = r.nextInt(cfg.vocabSize());

            EvalCommand.Result res = EvalCommand.evaluate(ModelDir.load(be, dir.resolve("m"), 2, 8), stream);
            assertEquals(stream.length - 1, res.targets());

            // The same windows one at a time with a batch-1 model.
            double sum = 0;
            for (int start = 0; start + 1 < stream.length; start += 8) {
                int[] x = new int[8], y = new int[8];
                Arrays.fill(y, -1);
                int n = 0;
                for (int t = 0; t < 8 && start + t + 1 < stream.length; t++, n++) {
                    x[t] = stream[start + t];
                    y[t] = stream[start + t + 1];
                }
                sum += (double) saved.forward(x, y) * n;
            }
            assertEquals(sum / (stream.length - 1), res.loss(), 1e-5);
            assertTrue(res.loss() > 4 && res.loss() < 7, "near ln(256) for an untrained model: " + res.loss());
        }
    }

    /** The command end to end on the same tokens as an id file and as a shard directory. */
    @Test
    void commandReadsIdFilesAndShards() throws IOException {
        GPTConfig cfg = GPTConfig.preset("micro").with(Map.of("block_size", 8L), "t");
        int[] doc = new int[30];
        SplittableRandom r = new SplittableRandom(4);
        for (int i = 0; i < doc.length; i++) doc[i] = r.nextInt(cfg.vocabSize());
        double expected;
        try (Backend be = new CpuBackend()) {
            GPT g = new GPT(be, cfg, 2, 8, 6);
            ModelDir.save(g, dir.resolve("m"));
            int[] stream = new int[doc.length + 1]; // a shard document starts with the end-of-text token (0 here)
            System.arraycopy(doc, 0, stream, 1, doc.length);
            expected = EvalCommand.evaluate(g, stream).loss();
        }
        ShardWriter w = new ShardWriter(dir.resolve("data"), "val", cfg.vocabSize(), 0, "none", 1000);
        w.add(doc);
        w.finish();
        StringBuilder ids = new StringBuilder("0");
        for (int t : doc) ids.append(' ').append(t);
        Files.writeString(dir.resolve("ids.txt"), ids + "\n");

        for (String src : new String[] {"ids.txt", "data"}) {
            String out = run("eval", "--model", dir.resolve("m").toString(), "--tokens", dir.resolve(src).toString(), "--batch", "3", "--json");
            var json = dev.cramjet.io.Json.object(dev.cramjet.io.Json.parse(out.strip(), "out"), "out");
            assertEquals(expected, dev.cramjet.io.Json.number(json.get("loss"), "loss"), 1e-5, src);
            assertEquals(30L, json.get("targets"));
        }
        assertEquals("", run("eval", "--model", dir.resolve("m").toString()));
    }

    /** Runs the CLI, returning stdout (empty when the command fails). */
    private static String run(String... argv) {
        var old = System.out;
        var buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            int rc = Main.run(argv);
            return rc == 0 ? buf.toString(java.nio.charset.StandardCharsets.UTF_8) : "";
        } finally {
            System.setOut(old);
        }
    }

    /** Before, eval --text scored Latin-1 text and binaries that prepare rejects. */
    @Test
    void textMustBeUtf8AsForPrepare() throws IOException {
        var tok = new dev.cramjet.tokenizer.BpeTrainer().train(java.util.List.of("some text to learn from"), 280,
                dev.cramjet.tokenizer.Tokenizer.DEFAULT_SPECIALS);
        try (Backend be = new CpuBackend()) {
            ModelDir.save(new GPT(be, GPTConfig.gpt2(1, 2, 16, tok.vocabSize(), 16), 1, 8, 1), dir.resolve("m"));
        }
        tok.save(dir.resolve("m/tokenizer.json"));
        Path latin1 = Files.write(dir.resolve("latin1.txt"), "ok\ncaf\u00e9 au lait".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        Cli r = Cli.run("eval", "--model", dir.resolve("m").toString(), "--text", latin1.toString());
        assertEquals(new Cli(2, "", "cramjet eval: " + latin1 + ":2: invalid UTF-8 at column 4 (byte 0xE9); expected a text file in UTF-8\n"), r);
        Path binary = Files.write(dir.resolve("image.gif"), new byte[] {'G', 'I', 'F', '8', 0, 1});
        r = Cli.run("eval", "--model", dir.resolve("m").toString(), "--text", binary.toString());
        assertEquals(new Cli(2, "", "cramjet eval: " + binary + ":1: NUL byte at column 5 (a binary file?); expected a text file in UTF-8\n"), r);
        Files.writeString(dir.resolve("fine.txt"), "some text to learn from, and more text");
        assertEquals(0, Cli.run("eval", "--model", dir.resolve("m").toString(), "--text", dir.resolve("fine.txt").toString()).rc());
    }

    @Test
    void tokenFilesAreCheckedWithLineNumbers() throws IOException {
        Path f = dir.resolve("t.txt");
        Files.writeString(f, "1 2 3\n4\t5\n");
        assertArrayEquals(new int[] {1, 2, 3, 4, 5}, EvalCommand.readTokenIds(f, 10));
        Files.writeString(f, "1 2\n3 x\n");
        CramjetException e = assertThrows(CramjetException.class, () -> EvalCommand.readTokenIds(f, 10));
        assertTrue(e.getMessage().contains("t.txt line 2: 'x'"), e.getMessage());
        Files.writeString(f, "1 2\n\n3 10\n");
        e = assertThrows(CramjetException.class, () -> EvalCommand.readTokenIds(f, 10));
        assertTrue(e.getMessage().contains("line 3: token id 10"), e.getMessage());
    }
}
