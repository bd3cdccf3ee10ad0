package dev.cramjet.report;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class ProgressLineTest {
    private static final ProgressLine.Status MID =
            new ProgressLine.Status(1234, 5000, 3.45216, 6e-4, 45_210, 0.4132, 754, 3600);

    @Test
    void plainLineHasEveryField() {
        ProgressLine p = new ProgressLine(System.out, false, 100, false, 10);
        assertEquals("step 1,234/5,000  loss 3.4522  45.21k tok/s  lr 6.00e-04  MFU 41.3%  elapsed 12:34  left 38:21 (24%)",
                p.plainLine(MID));
        // Both a step limit and a time budget: the one that ends the run first decides (here the steps: 1234 of
        // 5000 in 754 s leaves 2301 s, sooner than the budget's 2846 s). With the budget alone it decides.
        assertTrue(p.plainLine(new ProgressLine.Status(1234, 0, 3, Double.NaN, Double.NaN, Double.NaN, 754, 3600))
                .endsWith("elapsed 12:34  left 47:26 (20%)"));
        // No limits and unknown throughput: only what is known.
        assertEquals("step 7  loss 9.0000  elapsed 0:03",
                p.plainLine(new ProgressLine.Status(7, 0, 9, Double.NaN, Double.NaN, Double.NaN, 3.2, 0)));
        // A step limit alone: time left is extrapolated from the rate so far (100 steps in 50 s, 300 to go).
        assertTrue(p.plainLine(new ProgressLine.Status(100, 400, 5, Double.NaN, Double.NaN, Double.NaN, 50, 0))
                .endsWith("left 2:30 (25%)"));
    }

    @Test
    void terminalLineFitsTheWidthAndDropsMinorFieldsFirst() {
        ProgressLine wide = new ProgressLine(System.out, true, 140, true, 10);
        String line = wide.terminalLine(MID);
        assertEquals("step 1,234/5,000 │ loss 3.4522 │ 45.21k tok/s │ lr 6.00e-04 │ MFU 41.3% │ 12:34 [███████▍"
                + "░".repeat(22) + "] 38:21 left", line);
        assertTrue(line.length() <= 139);

        ProgressLine narrow = new ProgressLine(System.out, true, 80, false, 10);
        String n = narrow.terminalLine(MID);
        assertTrue(n.length() <= 79, n);
        assertEquals("step 1,234/5,000 | loss 3.4522 | 45.21k tok/s | 12:34 [###---------] 38:21 left", n);

        ProgressLine tiny = new ProgressLine(System.out, true, 40, false, 10);
        String t = tiny.terminalLine(MID);
        assertTrue(t.length() <= 39, t);
        assertTrue(t.startsWith("step 1,234/5,000 | loss 3.4522"), t);
    }

    @Test
    void terminalModeRedrawsInPlaceAndLogsAbove() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressLine p = new ProgressLine(new PrintStream(bytes, true, StandardCharsets.UTF_8), true, 60, false, 10);
        p.update(new ProgressLine.Status(1, 0, 5, Double.NaN, Double.NaN, Double.NaN, 1.0, 0));
        p.update(new ProgressLine.Status(2, 0, 4, Double.NaN, Double.NaN, Double.NaN, 1.05, 0)); // within 0.1 s: held
        p.log("eval: val loss 3.9");
        p.update(new ProgressLine.Status(3, 0, 3, Double.NaN, Double.NaN, Double.NaN, 2.0, 0));
        p.finish();
        String s = bytes.toString(StandardCharsets.UTF_8);
        assertEquals("\rstep 1 | loss 5.0000 | 0:01\033[K"
                + "\r\033[Keval: val loss 3.9\nstep 2 | loss 4.0000 | 0:01"
                + "\rstep 3 | loss 3.0000 | 0:02\033[K\n", s);
    }

    @Test
    void plainModePrintsEveryIntervalAndTheFinalStatus() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressLine p = new ProgressLine(new PrintStream(bytes, true, StandardCharsets.UTF_8), false, 100, false, 10);
        for (int step = 1; step <= 25; step++) {
            p.update(new ProgressLine.Status(step, 25, 10.0 / step, Double.NaN, Double.NaN, Double.NaN, step, 0));
        }
        p.finish();
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(4, lines.length, String.join("\n", lines));
        assertTrue(lines[0].startsWith("step 1/25 "));
        assertTrue(lines[1].startsWith("step 11/25 "));
        assertTrue(lines[2].startsWith("step 21/25 "));
        assertTrue(lines[3].startsWith("step 25/25  loss 0.4000"));
        assertFalse(bytes.toString(StandardCharsets.UTF_8).contains("\r"));
    }

    @Test
    void clockFormats() {
        assertEquals("0:00", ProgressLine.clock(0));
        assertEquals("1:05", ProgressLine.clock(65));
        assertEquals("2:00:01", ProgressLine.clock(7201));
        assertEquals("?", ProgressLine.clock(Double.POSITIVE_INFINITY));
    }
}
