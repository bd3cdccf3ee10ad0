package dev.cramjet.train;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class ScheduleTest {
    @Test
    void cosineWarmsUpThenFollowsAHalfCosineToTheFloor() {
        Schedule s = Schedule.of("cosine", 1.0, 0.1, 0.1, 0);
        assertEquals(0.0, s.lr(0));
        assertEquals(0.5, s.lr(0.05), 1e-12);
        assertEquals(1.0, s.lr(0.1), 1e-12);
        assertEquals(0.55, s.lr(0.55), 1e-12, "half-way through the decay: the mean of peak and floor");
        assertEquals(0.1, s.lr(1), 1e-12);
    }

    @Test
    void linearAndWsdAndOneCycle() {
        Schedule lin = Schedule.of("linear", 2.0, 0.0, 0.0, 0);
        assertEquals(2.0, lin.lr(0), 1e-12);
        assertEquals(1.0, lin.lr(0.5), 1e-12);
        assertEquals(0.0, lin.lr(1), 1e-12);

        Schedule wsd = Schedule.of("wsd", 1.0, 0.0, 0.1, 0.2);
        assertEquals(1.0, wsd.lr(0.1), 1e-12);
        assertEquals(1.0, wsd.lr(0.8), 1e-12, "flat until the decay starts");
        assertEquals(0.5, wsd.lr(0.9), 1e-12);
        assertEquals(0.0, wsd.lr(1), 1e-12);

        Schedule oc = Schedule.of("one-cycle", 1.0, 0.001, 0.25, 0);
        assertEquals(0.04, oc.lr(0), 1e-12, "starts at peak/25");
        assertEquals(1.0, oc.lr(0.25), 1e-12);
        assertEquals(0.001, oc.lr(1), 1e-12);
        assertTrue(oc.lr(0.5) < 1.0 && oc.lr(0.5) > 0.5);
    }

    @Test
    void crammingsBudgetTriangleRisesFromAQuarterToThePeakAtThreeQuartersThenFallsToZero() {
        Schedule t = Schedule.of("triangle", 1e-3, 0.0, 0.75, 0);
        assertEquals(0.25e-3, t.lr(0), 1e-15);
        assertEquals(0.625e-3, t.lr(0.375), 1e-15, "half-way up");
        assertEquals(1e-3, t.lr(0.75), 1e-15);
        assertEquals(0.5e-3, t.lr(0.875), 1e-15, "half-way down");
        assertEquals(0.0, t.lr(1), 1e-15);
        assertEquals(0.75, ((Schedule.Triangle) Schedule.of("triangle", 1, 0, 0, 0)).rise(), "the default rise");
    }

    @Test
    void rejectsImpossibleSettingsByKey() {
        assertTrue(assertThrows(CramjetException.class, () -> Schedule.of("step", 1, 0.1, 0, 0)).getMessage().startsWith("schedule:"));
        assertTrue(assertThrows(CramjetException.class, () -> Schedule.of("wsd", 1, 0.1, 0.5, 0.6)).getMessage().startsWith("decay:"));
        assertTrue(assertThrows(CramjetException.class, () -> Schedule.of("cosine", 0, 0, 0, 0)).getMessage().startsWith("lr:"));
    }

    @Test
    void batchRampGrowsAccumulationToTheTarget() {
        BatchRamp r = new BatchRamp(8, 0.2);
        assertEquals(1, r.at(0));
        assertEquals(4, r.at(0.1));
        assertEquals(8, r.at(0.2));
        assertEquals(8, r.at(0.9));
        assertEquals(8, new BatchRamp(8, 0).at(0));
    }
}
