package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.engine.cuda.CudaBackend;
import dev.cramjet.engine.cuda.Parity;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole-model check of `cramjet selftest`: the loss curves of two backends training the same small GPT. */
class SelftestCommandTest {
    @Test
    void tenBf16TrainingStepsTrackTheCpuLossCurve() {
        Backend cuda;
        try {
            cuda = new CudaBackend();
        } catch (CramjetException e) {
            Assumptions.abort("no usable CUDA GPU: " + e.getMessage());
            return;
        }
        try (cuda; Backend cpu = new CpuBackend()) {
            double[][] curves = SelftestCommand.trainingCurves(cpu, cuda, 10, 42);
            List<Parity.Result> failed = SelftestCommand.lossChecks(curves).stream().filter(r -> !r.passed()).toList();
            assertTrue(failed.isEmpty(), "cpu " + Arrays.toString(curves[0]) + " vs cuda " + Arrays.toString(curves[1]));
            assertTrue(curves[1][9] < curves[1][0] - 0.1, "the model learns on the GPU: " + Arrays.toString(curves[1]));
        }
    }

    @Test
    void identicalBackendsGiveIdenticalCurvesThatFall() {
        try (Backend a = new CpuBackend(); Backend b = new CpuBackend()) {
            double[][] curves = SelftestCommand.trainingCurves(a, b, 4, 7);
            assertEquals(Arrays.toString(curves[0]), Arrays.toString(curves[1]));
            assertTrue(curves[0][3] < curves[0][0], Arrays.toString(curves[0]));
            List<Parity.Result> checks = SelftestCommand.lossChecks(curves);
            assertEquals(4, checks.size());
            assertTrue(checks.stream().allMatch(Parity.Result::passed));
        }
    }

    @Test
    void aDivergingCurveFails() {
        double[][] curves = {{5.0, 4.0}, {5.05, 4.5}};
        List<Parity.Result> checks = SelftestCommand.lossChecks(curves);
        assertTrue(checks.get(0).passed(), "1% off is within the bound");
        assertTrue(!checks.get(1).passed(), "12.5% off is not");
        assertTrue(!SelftestCommand.lossChecks(new double[][] {{5.0}, {Double.NaN}}).get(0).passed());
    }
}
