package dev.cramjet.engine.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The kernels' fp16 conversions (common.cuh, the scale of every Q8_0 block) against Java's
 * Float.floatToFloat16 / float16ToFloat, which the CPU backend's quantization uses: every fp16 value expanded, and
 * every rounding decision — the exact midpoint between each pair of neighbouring fp16 values and the floats one ulp
 * either side, in the normal and subnormal ranges, at overflow, both signs — plus random bit patterns (NaN must stay
 * NaN). Built for the host by g++ against emulation.h (skipped without g++).
 */
class HalfTest {
    @Test
    void kernelFp16ConversionsMatchJavaBitForBit(@TempDir Path tmp) throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/g++")), "g++ not installed");
        Path res = Path.of(HalfTest.class.getResource("/dev/cramjet/engine/cuda/half_host.cpp").toURI()).getParent();
        Path exe = tmp.resolve("half_host");
        Nvcc.Run build = Nvcc.run(List.of("/usr/bin/g++", "-std=c++20", "-O1", "-I", res.toString(), "-I",
                Nvcc.kernelDir().toString(), res.resolve("half_host.cpp").toString(), "-o", exe.toString(), "-lpthread"), null);
        assertEquals(0, build.status(), build.output());

        StringBuilder in = new StringBuilder();
        int cases = 0;
        for (int h = 0; h < 1 << 16; h++, cases++) {
            in.append(String.format("H %x %x%n", h, Float.floatToRawIntBits(Float.float16ToFloat((short) h))));
        }
        for (int h = 0; h < 0x7c00; h++) {  // up to the largest finite fp16 and its midpoint with Inf
            double lo = Float.float16ToFloat((short) h), hi = h == 0x7bff ? 65536.0 : Float.float16ToFloat((short) (h + 1));
            int mid = Float.floatToRawIntBits((float) ((lo + hi) / 2));  // exact: fp32 holds every fp16 midpoint
            for (int bits = mid - 1; bits <= mid + 1; bits++) {
                for (int sign : new int[] {0, 0x80000000}) {
                    in.append(f2hCase(bits | sign));
                    cases++;
                }
            }
        }
        Random r = new Random(11);
        for (int i = 0; i < 100_000; i++, cases++) in.append(f2hCase(r.nextInt()));
        for (float f : new float[] {0f, -0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NaN, 65504f, 65519.996f}) {
            in.append(f2hCase(Float.floatToRawIntBits(f)));
            cases++;
        }
        Nvcc.Run run = Nvcc.run(List.of(exe.toString()), in.toString());
        assertEquals(0, run.status(), run.output());
        assertEquals("checked " + cases, run.output().strip(), "mismatches (first lines):\n" + run.output().lines().limit(20).toList());
    }

    private static String f2hCase(int bits) {
        return String.format("F %x %x%n", bits, Float.floatToFloat16(Float.intBitsToFloat(bits)) & 0xffff);
    }
}
