package dev.cramjet.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClassificationMetricsTest {
    private static final double EPS = 1e-12;

    /**
     * truth a a a b b c, predicted a a b b c c. By hand: confusion a:[2 1 0] b:[0 1 1] c:[0 0 1];
     * a: P 2/2, R 2/3, F1 0.8; b: P 1/2, R 1/2, F1 0.5; c: P 1/2, R 1/1, F1 2/3; accuracy 4/6.
     */
    @Test
    void perClassAndAveragesMatchHandComputedValues() {
        var m = ClassificationMetrics.of(List.of("a", "b", "c"), new int[] {0, 0, 0, 1, 1, 2}, new int[] {0, 0, 1, 1, 2, 2});
        assertArrayEquals(new long[] {2, 1, 0}, m.confusion()[0]);
        assertArrayEquals(new long[] {0, 1, 1}, m.confusion()[1]);
        assertArrayEquals(new long[] {0, 0, 1}, m.confusion()[2]);
        assertEquals(4.0 / 6, m.accuracy(), EPS);
        assertEquals(1.0, m.perClass(0).precision(), EPS);
        assertEquals(2.0 / 3, m.perClass(0).recall(), EPS);
        assertEquals(0.8, m.perClass(0).f1(), EPS);
        assertEquals(0.5, m.perClass(1).f1(), EPS);
        assertEquals(2.0 / 3, m.perClass(2).f1(), EPS);
        assertEquals((1 + 0.5 + 0.5) / 3, m.macro().precision(), EPS);
        assertEquals((2.0 / 3 + 0.5 + 1) / 3, m.macro().recall(), EPS);
        assertEquals((0.8 + 0.5 + 2.0 / 3) / 3, m.macro().f1(), EPS);
        assertEquals((0.8 * 3 + 0.5 * 2 + 2.0 / 3) / 6, m.weighted().f1(), EPS);
        assertEquals(4.0 / 6, m.micro().f1(), EPS);
        String table = m.table();
        assertTrue(table.contains("macro avg"), table);
        assertTrue(table.contains("0.8000"), table);
    }

    @Test
    void classesAbsentFromTruthAndPredictionsLeaveTheMacroAverage() {
        var m = ClassificationMetrics.of(List.of("x", "y", "unused"), new int[] {0, 1, 1}, new int[] {0, 1, 0});
        // x: P 1/2 R 1 F1 2/3; y: P 1 R 1/2 F1 2/3; "unused" never appears and is not averaged in.
        assertEquals(2.0 / 3, m.macro().f1(), EPS);
        assertEquals(0.0, m.perClass(2).f1(), EPS);
    }

    @Test
    void aClassNeverPredictedHasPrecisionZeroNotNaN() {
        var m = ClassificationMetrics.of(List.of("ham", "spam"), new int[] {0, 1}, new int[] {0, 0});
        assertEquals(0.0, m.perClass(1).precision());
        assertEquals(0.0, m.perClass(1).f1());
    }

    /** Positives score 0.9, 0.4, 0.4; negatives 0.4, 0.2. Of the 6 pairs 4 are won and 2 tied: AUC = 5/6. */
    @Test
    void rocAucCountsTiesAsHalf() {
        boolean[] pos = {true, true, true, false, false};
        double[] score = {0.9, 0.4, 0.4, 0.4, 0.2};
        assertEquals(5.0 / 6, ClassificationMetrics.rocAuc(pos, score), EPS);
        assertEquals(1.0, ClassificationMetrics.rocAuc(new boolean[] {false, true}, new double[] {0.1, 0.7}), EPS);
        assertEquals(0.0, ClassificationMetrics.rocAuc(new boolean[] {true, false}, new double[] {0.1, 0.7}), EPS);
        assertTrue(Double.isNaN(ClassificationMetrics.rocAuc(new boolean[] {true, true}, new double[] {0.1, 0.7})));
    }
}
