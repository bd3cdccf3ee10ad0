package dev.cramjet.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class PlannerTest {
    @Test
    void parameterCountMatchesGpt2Small() {
        // GPT-2 124M: 12 layers, width 768, vocabulary 50257, tied embeddings; 124,439,808 with the 1024 positions.
        assertEquals(124_439_808L - 1024 * 768, Planner.parameters(12, 50257));
    }

    @Test
    void plansAboutTwentyTokensPerParameter() {
        // A day on a device sustaining 400 TFLOP/s with ample data.
        Planner.Plan p = Planner.plan(400e12, 86400, 100_000_000_000L, 50257, 1024);
        assertFalse(p.dataLimited());
        assertEquals(20, p.tokensPerParameter(), 6, p.describe());
        assertEquals(p.tokens() * p.flopsPerToken(), 400e12 * 86400, 400e12 * 86400 * 1e-6, "the plan spends the budget");
        assertEquals(p.tokens() / 100e9, p.epochs(), 1e-9);
    }

    @Test
    void saysWhenTheBudgetIsTooSmallForTheSmallestShape() {
        Planner.Plan p = Planner.plan(20e9, 600, 20_000_000L, 4096, 128);
        assertEquals(2, p.layers());
        assertTrue(p.describe().contains("expect an undertrained model"), p.describe());
    }

    @Test
    void scarceDataTakesALargerModelOnFewerTokensWithinFourEpochs() {
        Planner.Plan ample = Planner.plan(400e12, 86400, 100_000_000_000L, 50257, 1024);
        Planner.Plan scarce = Planner.plan(400e12, 86400, 1_000_000_000L, 50257, 1024);
        assertTrue(scarce.dataLimited());
        assertTrue(scarce.epochs() <= Planner.MAX_EPOCHS, scarce.describe());
        assertTrue(scarce.parameters() > ample.parameters());
        assertTrue(scarce.describe().contains("data-limited"), scarce.describe());
    }
}
