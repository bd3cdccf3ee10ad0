package dev.cramjet.train;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class BudgetTest {
    @Test
    void parsesDurationsAndCounts() {
        assertEquals(600, Budget.parseDuration("10m", "budget"));
        assertEquals(6 * 3600, Budget.parseDuration("6h", "budget"));
        assertEquals(5400, Budget.parseDuration("1h30m", "budget"));
        assertEquals(1.5, Budget.parseDuration("1.5s", "budget"));
        assertEquals(2_000_000, Budget.parseCount("2M", "tokens"));
        assertEquals(1_500_000_000L, Budget.parseCount("1.5B", "tokens"));
        assertEquals(300_000, Budget.parseCount("300_000", "tokens"));
    }

    @Test
    void rejectsZeroUnitlessAndMalformedBudgets() {
        assertEquals("budget: the duration must be positive, got '0m'",
                assertThrows(CramjetException.class, () -> Budget.parseDuration("0m", "budget")).getMessage());
        assertTrue(assertThrows(CramjetException.class, () -> Budget.parseDuration("10", "budget")).getMessage().contains("10m"));
        assertThrows(CramjetException.class, () -> Budget.parseDuration("10mins", "budget"));
        assertThrows(CramjetException.class, () -> Budget.parseCount("1.5", "tokens"));
        assertTrue(assertThrows(CramjetException.class, () -> new Budget(0, 0, 0)).getMessage().startsWith("no budget"));
    }

    @Test
    void progressIsTheFurthestAlongOfTheLimitsSet() {
        Budget b = new Budget(100, 1000, 0);
        assertEquals(0.3, b.progress(300, 0, 10), 1e-12);
        assertEquals(0.5, b.progress(300, 0, 50), 1e-12);
        assertEquals(1.0, b.progress(2000, 0, 50));
        assertEquals(25, b.remainingSeconds(75), 1e-12);
        assertTrue(Double.isNaN(new Budget(0, 10, 0).remainingSeconds(5)));
        assertEquals(0.25, new Budget(0, 0, 4000).progress(1, 1000, 99), 1e-12);
    }
}
