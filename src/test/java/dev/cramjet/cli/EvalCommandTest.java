package dev.cramjet.cli;

import dev.cramjet.CramjetException;
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
