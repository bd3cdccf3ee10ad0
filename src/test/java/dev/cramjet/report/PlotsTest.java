package dev.cramjet.report;

import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class PlotsTest {
    private static Plots.Chart chart(boolean log) {
        int n = 200;
        double[] x = new double[n], y = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i + 1;
            y[i] = 3 + 8 * Math.exp(-i / 30.0) + 0.1 * Math.sin(i);
        }
        y[50] = Double.NaN; // a gap, not a crash
        return new Plots.Chart("Loss", "step", "loss", log, List.of(
                new Plots.Series("raw", x, y, Plots.BLUE, Plots.Style.FAINT),
                new Plots.Series("smoothed", x, Plots.smooth(y, 10), Plots.BLUE, Plots.Style.LINE),
                new Plots.Series("val", new double[] {50, 100, 150}, new double[] {4.5, 3.4, 3.2}, Plots.VERMILION, Plots.Style.MARKERS)),
                "tokens", 32768);
    }

    @Test
    void encodesAValidPngOfTheRequestedSizeWithTheSeriesDrawn() throws Exception {
        byte[] bytes = Plots.png(chart(true), 800, 450);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, java.util.Arrays.copyOf(bytes, 8));
        BufferedImage img = ImageIO.read(new java.io.ByteArrayInputStream(bytes));
        assertEquals(800, img.getWidth());
        assertEquals(450, img.getHeight());
        int white = 0xFFFFFF, blue = 0, other = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y) & 0xFFFFFF;
                if (rgb == (Plots.BLUE.getRGB() & 0xFFFFFF)) blue++;
                else if (rgb != white) other++;
            }
        }
        assertTrue(blue > 300, "the smoothed line is drawn in the series colour (" + blue + " pixels)");
        assertTrue(other > 5000, "axes, text and grid are drawn (" + other + " pixels)");
    }

    @Test
    void emptyAndDegenerateDataStillRender() {
        BufferedImage empty = Plots.render(new Plots.Chart("Loss", "step", "loss", true, List.of()), 400, 300);
        assertEquals(400, empty.getWidth());
        BufferedImage flat = Plots.render(new Plots.Chart("lr", "step", "lr", false, List.of(
                new Plots.Series("lr", new double[] {1, 2, 3}, new double[] {1e-3, 1e-3, 1e-3}, Plots.GREEN, Plots.Style.LINE))), 400, 300);
        assertEquals(300, flat.getHeight());
    }

    @Test
    void ticksAreNiceNumbers() {
        assertArrayEquals(new double[] {0, 500, 1000, 1500, 2000, 2500, 3000}, Plots.linearTicks(0, 3100, 6, true), 1e-9);
        assertArrayEquals(new double[] {0.2, 0.4, 0.6}, Plots.linearTicks(0.15, 0.7, 3, false), 1e-12);
        // Steps are whole numbers: no tick at 1.5 however short the run.
        assertArrayEquals(new double[] {1, 2, 3}, Plots.linearTicks(0.9, 3.1, 6, true), 1e-12);
        // A loss from 11 down to 3 on a log axis: less than one decade, so 1-2-3-5 mantissas are too coarse.
        assertArrayEquals(new double[] {3, 4, 5, 6, 8, 10}, Plots.logTicks(2.9, 11.5), 1e-9);
        // Many decades: powers of ten.
        assertArrayEquals(new double[] {1e-4, 1e-3, 1e-2, 1e-1, 1}, Plots.logTicks(1e-4, 1), 1e-15);
        assertArrayEquals(new String[] {"0", "5k", "10k", "15k"}, Plots.labels(new double[] {0, 5000, 10000, 15000}));
        assertArrayEquals(new String[] {"1M", "1.5M", "2M"}, Plots.labels(new double[] {1e6, 1.5e6, 2e6}));
        assertArrayEquals(new String[] {"2", "2.5", "3"}, Plots.labels(new double[] {2, 2.5, 3}));
        // Learning rates: scientific for the whole axis, with a mantissa digit only where ticks need it.
        assertArrayEquals(new String[] {"0", "2e-4", "4e-4", "6e-4"}, Plots.labels(new double[] {0, 2e-4, 4e-4, 6e-4}));
        assertArrayEquals(new String[] {"9e-4", "1e-3"}, Plots.labels(new double[] {9e-4, 1e-3}));
        assertArrayEquals(new String[] {"2.5e-4", "5.0e-4", "7.5e-4"}, Plots.labels(new double[] {2.5e-4, 5e-4, 7.5e-4}));
    }

    @Test
    void smoothingIsBiasCorrectedAndSkipsGaps() {
        double[] s = Plots.smooth(new double[] {4, 4, Double.NaN, 4}, 10);
        assertEquals(4, s[0], 1e-12, "no pull towards zero at the start");
        assertEquals(4, s[1], 1e-12);
        assertTrue(Double.isNaN(s[2]));
        assertEquals(4, s[3], 1e-12);
        double[] step = Plots.smooth(new double[] {0, 0, 0, 10, 10, 10}, 3);
        assertTrue(step[3] > 0 && step[3] < 10 && step[5] > step[3]);
    }
}
