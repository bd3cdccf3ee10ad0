package dev.cramjet.report;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class ProgressLineTest {
    private static final double NaN = Double.NaN;
    /** 754 s into a one-hour budget: 21% spent, 2846 s left. */
    private static final ProgressLine.Status MID =
            new ProgressLine.Status(1234, 3.45216, 6e-4, 45_210, 0.4132, 754, 2846, 754 / 3600.0);

    @Test
    void plainLineHasEveryField() {
        ProgressLine p = new ProgressLine(System.out, false, 100, false, 10);
        assertEquals("step 1,234  loss 3.4522  45.21k tok/s  lr 6.00e-4  MFU 41.3%  elapsed 12:34  left 47:26 (20%)",
                p.plainLine(MID.line()));
        // Unknown progress and throughput: only what is known.
        assertEquals("step 7  loss 9.0000  elapsed 0:03", p.plainLine(new ProgressLine.Status(7, 9, NaN, NaN, NaN, 3.2, NaN, NaN).line()));
        assertEquals("step 0  loss 11.0000  lr 0  elapsed 0:00", p.plainLine(new ProgressLine.Status(0, 11, 0, NaN, NaN, 0, NaN, NaN).line()));
        // A step or token budget has no time left of its own: it is extrapolated (25% in 50 s leaves 150 s).
        assertTrue(p.plainLine(new ProgressLine.Status(100, 5, NaN, NaN, NaN, 50, NaN, 0.25).line()).endsWith("left 2:30 (25%)"));
        // ... but not from almost nothing: a job one document into millions has an unknown time left.
        assertTrue(p.plainLine(new ProgressLine.Line(java.util.List.of("read+clean"), 2, NaN, 4e-16)).endsWith("left ? (0%)"));
    }

    @Test
    void terminalLineFitsTheWidthAndDropsMinorFieldsFirst() {
        ProgressLine wide = new ProgressLine(System.out, true, 140, true, 10);
        String line = wide.terminalLine(MID.line());
        // 20.9% of 24 cells = 5.03 cells: five full blocks (5.03 rounds to 40 eighths).
        assertEquals("step 1,234 │ loss 3.4522 │ 45.21k tok/s │ lr 6.00e-4 │ MFU 41.3% │ 12:34 [█████"
                + "░".repeat(19) + "] 47:26 left", line);
        ProgressLine later = new ProgressLine(System.out, true, 140, true, 10);
        // 55% of 24 cells = 13.2 cells: 13 full blocks and a fraction rounded to 2/8 (▎).
        assertTrue(later.terminalLine(new ProgressLine.Status(5000, 3, 6e-4, 45_210, 0.4132, 1980, 1620, 0.55).line())
                .contains("[" + "█".repeat(13) + "▎" + "░".repeat(10) + "]"));
        assertTrue(line.length() <= 139);

        ProgressLine narrow = new ProgressLine(System.out, true, 80, false, 10);
        String n = narrow.terminalLine(MID.line());
        assertTrue(n.length() <= 79, n);
        assertEquals("step 1,234 | loss 3.4522 | 45.21k tok/s | 12:34 [####--------------] 47:26 left", n);

        ProgressLine tiny = new ProgressLine(System.out, true, 40, false, 10);
        String t = tiny.terminalLine(MID.line());
        assertTrue(t.length() <= 39, t);
        assertTrue(t.startsWith("step 1,234 | loss 3.4522"), t);
    }

    @Test
    void terminalModeRedrawsInPlaceAndLogsAbove() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressLine p = new ProgressLine(new PrintStream(bytes, true, StandardCharsets.UTF_8), true, 60, false, 10);
        p.update(new ProgressLine.Status(1, 5, NaN, NaN, NaN, 1.0, NaN, NaN));
        p.update(new ProgressLine.Status(2, 4, NaN, NaN, NaN, 1.05, NaN, NaN)); // within 0.1 s: held back
        p.log("eval: val loss 3.9");
        p.update(new ProgressLine.Status(3, 3, NaN, NaN, NaN, 2.0, NaN, NaN));
        p.finish();
        assertEquals("\rstep 1 | loss 5.0000 | 0:01\033[K"
                + "\r\033[Keval: val loss 3.9\nstep 2 | loss 4.0000 | 0:01"
                + "\rstep 3 | loss 3.0000 | 0:02\033[K\n", bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void plainModePrintsEveryIntervalAndTheFinalStatus() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressLine p = new ProgressLine(new PrintStream(bytes, true, StandardCharsets.UTF_8), false, 100, false, 10);
        for (int step = 1; step <= 25; step++) {
            p.update(new ProgressLine.Status(step, 10.0 / step, NaN, NaN, NaN, step, 25 - step, step / 25.0));
        }
        p.log("done");
        p.finish();
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(5, lines.length, String.join("\n", lines));
        assertTrue(lines[0].startsWith("step 1 "));
        assertTrue(lines[1].startsWith("step 11 "));
        assertTrue(lines[2].startsWith("step 21 "));
        assertEquals("done", lines[3]);
        assertEquals("step 25  loss 0.4000  elapsed 0:25  left 0:00 (100%)", lines[4]);
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
