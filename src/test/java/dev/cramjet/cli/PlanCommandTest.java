package dev.cramjet.cli;

import dev.cramjet.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class PlanCommandTest {
    /** The throughput probe trains real steps (gradient norm, then update), so it must run a whole step. */
    @Test
    void measuresTrainingThroughputOfAPlannerShape() {
        try (CpuBackend cpu = new CpuBackend()) {
            double flops = PlanCommand.throughput(cpu, 2, 64, 16, 2, 0.05);
            assertTrue(flops > 1e6 && Double.isFinite(flops), "FLOP/s " + flops);
        }
    }
}
