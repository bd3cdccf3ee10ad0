package dev.cramjet.optim;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.Parameters;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The weights' moving average against the host: its update rule to the bit, the swap, and its checkpoint file. */
class EmaTest {
    @TempDir Path tmp;

    /** A frozen base matrix (6 values) before two trained head ranges — a matrix (4) and a bias (3): 7 averaged. */
    private static Parameters params(CpuBackend be) {
        Parameters p = new Parameters();
        p.add("base", Group.BASE, Kind.MATRIX, new Init.Constant(0), false, 2, 3);
        p.add("head.w", Group.HEAD, Kind.MATRIX, new Init.Constant(0), false, 2, 2);
        p.add("head.b", Group.HEAD, Kind.NORM_OR_BIAS, new Init.Constant(0), false, 3);
        p.allocate(be, Set.of(Group.HEAD), DType.F32);
        return p;
    }

    private static final float[] FROZEN = {9, 8, 7, 6, 5, 4};

    /** Update t's trained values: 13 values in buffer order, the frozen six unchanged. */
    private static float[] weights(int t) {
        float[] v = new float[13];
        System.arraycopy(FROZEN, 0, v, 0, 6);
        for (int i = 6; i < 13; i++) v[i] = (float) Math.sin(1.7 * i + t) * t + 0.1f * i;
        return v;
    }

    private static float[] all(CpuBackend be, Parameters p) {
        float[] h = new float[13];
        be.download(p.values(), h);
        return h;
    }

    @Test
    void eachUpdateIsTheBiasCorrectedAverageComputedOnTheHostBitForBit() {
        try (CpuBackend be = new CpuBackend()) {
            Parameters p = params(be);
            double d = 0.9;
            Ema ema = new Ema(be, p, d);
            float[] want = new float[7];
            double[] exact = new double[7], norm = {0};
            for (int t = 1; t <= 4; t++) {
                float[] theta = weights(t);
                be.upload(p.values(), theta);
                ema.update(t);
                double w = (1 - d) / (1 - Math.pow(d, t));
                float newest = (float) w, kept = (float) (1 - w);
                for (int i = 0; i < 7; i++) {
                    want[i] = kept * want[i] + newest * theta[6 + i];        // Java rounds each product and the sum to float
                    exact[i] = d * exact[i] + theta[6 + i];
                }
                norm[0] = d * norm[0] + 1;
                float[] got = new float[7];
                System.arraycopy(ema.values(p.get("head.w")), 0, got, 0, 4);
                System.arraycopy(ema.values(p.get("head.b")), 0, got, 4, 3);
                for (int i = 0; i < 7; i++) {
                    assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]), "update " + t + ", element " + i);
                    assertEquals(exact[i] / norm[0], got[i], 1e-5, "Σ dᵗ⁻ⁱ θᵢ / Σ dᵗ⁻ⁱ");
                }
                if (t == 1) assertArrayEquals(java.util.Arrays.copyOfRange(theta, 6, 13), got, "the first update is the weights");
            }
            assertEquals(0.1 / (1 - 0.81), Ema.weight(0.9, 2), 1e-15);
        }
    }

    @Test
    void swapInPutsTheAverageInTheTrainedParametersOnlyAndSwapOutRestoresThemExactly() {
        try (CpuBackend be = new CpuBackend()) {
            Parameters p = params(be);
            Ema ema = new Ema(be, p, 0.5);
            be.upload(p.values(), weights(1));
            ema.update(1);
            float[] trained = weights(2);
            be.upload(p.values(), trained);
            ema.update(2);
            float[] avg = new float[7];
            System.arraycopy(ema.values(p.get("head.w")), 0, avg, 0, 4);
            System.arraycopy(ema.values(p.get("head.b")), 0, avg, 4, 3);
            ema.swapIn();
            float[] in = all(be, p);
            assertArrayEquals(FROZEN, java.util.Arrays.copyOf(in, 6), "the frozen base is not averaged");
            assertArrayEquals(avg, java.util.Arrays.copyOfRange(in, 6, 13));
            assertFalse(java.util.Arrays.equals(avg, java.util.Arrays.copyOfRange(trained, 6, 13)), "the average differs from the weights");
            assertThrows(IllegalStateException.class, () -> ema.update(3), "no update over the average");
            ema.swapOut();
            assertArrayEquals(trained, all(be, p));
        }
    }

    @Test
    void theCheckpointFileRestoresTheTrainedWeightsAndTheAverage() throws Exception {
        float[] trained, avg = new float[7];
        try (CpuBackend be = new CpuBackend()) {
            Parameters p = params(be);
            Ema ema = new Ema(be, p, 0.8);
            for (int t = 1; t <= 3; t++) {
                be.upload(p.values(), weights(t));
                ema.update(t);
            }
            trained = all(be, p);
            System.arraycopy(ema.values(p.get("head.w")), 0, avg, 0, 4);
            System.arraycopy(ema.values(p.get("head.b")), 0, avg, 4, 3);
            ema.save(tmp);
        }
        try (CpuBackend be = new CpuBackend()) {
            Parameters p = params(be);
            be.upload(p.values(), weights(7));                 // what the model directory's load left there
            Ema ema = new Ema(be, p, 0.8);
            ema.load(tmp);
            float[] got = all(be, p);
            assertArrayEquals(java.util.Arrays.copyOfRange(trained, 6, 13), java.util.Arrays.copyOfRange(got, 6, 13));
            float[] again = new float[7];
            System.arraycopy(ema.values(p.get("head.w")), 0, again, 0, 4);
            System.arraycopy(ema.values(p.get("head.b")), 0, again, 4, 3);
            assertArrayEquals(avg, again);
            CramjetException e = assertThrows(CramjetException.class, () -> ema.load(tmp.resolve("nowhere")));
            assertTrue(e.getMessage().contains("no ema.safetensors"), e.getMessage());
        }
    }
}
