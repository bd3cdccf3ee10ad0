package dev.cramjet.engine.cuda;

import dev.cramjet.engine.Rng;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The kernels' dropout RNG (common.cuh, host-callable) against dev.cramjet.engine.Rng bit for bit: the same
 * C++ the GPU runs, built for the host by nvcc (skipped where nvcc is absent).
 */
class RngTest {
    @Test
    void kernelRngMatchesJavaBitForBit(@TempDir Path tmp) throws Exception {
        Path nvcc = Nvcc.find().orElse(null);
        Assumptions.assumeTrue(nvcc != null, "nvcc not installed");
        Path src = Path.of(RngTest.class.getResource("/dev/cramjet/engine/cuda/rng_host.cu").toURI());
        Path exe = tmp.resolve("rng_host");
        Nvcc.Run build = Nvcc.run(List.of(nvcc.toString(), "--std=c++17", "-I", Nvcc.kernelDir().toString(), src.toString(),
                "-o", exe.toString()), null);
        assertEquals(0, build.status(), build.output());

        Random r = new Random(7);
        long[][] cases = new long[2000][];
        StringBuilder in = new StringBuilder();
        float[] ps = {0.1f, 0.3f, 0.5f};
        for (int i = 0; i < cases.length; i++) {
            long seed = i < 3 ? new long[] {0L, -1L, Long.MIN_VALUE}[i] : r.nextLong();
            long index = i % 4 == 0 ? i : (r.nextLong() >>> 20);
            cases[i] = new long[] {seed, index};
            in.append(Long.toUnsignedString(seed)).append(' ').append(Long.toUnsignedString(index)).append(' ')
                    .append(ps[i % 3]).append('\n');
        }
        Nvcc.Run run = Nvcc.run(List.of(exe.toString()), in.toString());
        assertEquals(0, run.status(), run.output());
        List<String> lines = run.output().lines().toList();
        assertEquals(cases.length, lines.size());
        for (int i = 0; i < cases.length; i++) {
            float p = ps[i % 3];
            String[] parts = lines.get(i).split(" ");
            float u = Float.intBitsToFloat(Integer.parseUnsignedInt(parts[0], 16));
            float factor = Float.intBitsToFloat(Integer.parseUnsignedInt(parts[1], 16));
            assertEquals(Rng.uniform(cases[i][0], cases[i][1]), u, 0f, "uniform for seed " + cases[i][0] + " index " + cases[i][1]);
            float expected = Rng.keep(cases[i][0], cases[i][1], p) ? 1f / (1f - p) : 0f;
            assertEquals(expected, factor, 0f, "dropout factor, case " + i);
        }
        Files.deleteIfExists(exe);
    }
}
