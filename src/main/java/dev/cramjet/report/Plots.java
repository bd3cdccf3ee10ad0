package dev.cramjet.report;

import dev.cramjet.CramjetException;

import javax.imageio.ImageIO;
import java.awt.AWTError;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.RoundRectangle2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Line charts as PNG images, drawn with java.awt in headless mode (no display needed): axes with "nice" ticks
 * (1, 2, 5 × 10ⁿ), grid, title, axis labels, a legend placed in the emptiest corner, an optional log-scale y axis
 * (for losses) and an optional secondary x axis on top that is a multiple of the bottom one (tokens = steps ×
 * tokens per step). Points that are NaN or infinite (or ≤ 0 on a log axis) break the line instead of bending it.
 */
public final class Plots {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Plots() {}

    /** How a series is drawn. */
    public enum Style {
        /** A solid 2-pixel line. */
        LINE,
        /** A thin translucent line, for raw noisy values under their smoothed version. */
        FAINT,
        /** A line with a dot at every point, for sparse measurements such as validation loss. */
        MARKERS
    }

    /** One line: x and y of equal length, drawn in {@code color}. */
    public record Series(String name, double[] x, double[] y, Color color, Style style) {
        public Series {
            if (x.length != y.length) throw new IllegalArgumentException(name + ": " + x.length + " x values but " + y.length + " y values");
        }
    }

    /**
     * A chart. {@code topLabel} and {@code topScale} (may be null / 0) add a top axis showing x · topScale.
     */
    public record Chart(String title, String xLabel, String yLabel, boolean logY, List<Series> series,
                        String topLabel, double topScale) {
        public Chart(String title, String xLabel, String yLabel, boolean logY, List<Series> series) {
            this(title, xLabel, yLabel, logY, series, null, 0);
        }
    }

    /** A colour-blind-safe palette (Okabe–Ito), in the order series usually get them. */
    public static final Color BLUE = new Color(0x0072B2), ORANGE = new Color(0xE69F00), GREEN = new Color(0x009E73),
            VERMILION = new Color(0xD55E00), PURPLE = new Color(0xCC79A7), SKY = new Color(0x56B4E9);

    private static final Color BACKGROUND = Color.WHITE, GRID = new Color(0xE8E8E8), AXIS = new Color(0x555555),
            TEXT = new Color(0x222222), SUBTLE = new Color(0x666666);

    /** The chart encoded as PNG bytes. */
    public static byte[] png(Chart chart, int width, int height) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (!ImageIO.write(render(chart, width, height), "png", out)) throw new IOException("no PNG writer in this Java runtime");
        return out.toByteArray();
    }

    /**
     * Draws the chart. A runtime without usable fonts (a container with no fontconfig) fails here with a
     * CramjetException that says what to install.
     */
    public static BufferedImage render(Chart chart, int width, int height) {
        try {
            return new Canvas(chart, width, height).draw();
        } catch (AWTError | LinkageError | NullPointerException | InternalError e) {
            // The JDK's font stack fails these ways when the OS has no fonts or no fontconfig.
            throw new CramjetException("cannot draw charts: java.awt found no usable fonts (" + e
                    + "); install fontconfig and a font package such as fonts-dejavu-core", e);
        }
    }

    /**
     * Exponential moving average with bias correction (as TensorBoard smooths), time constant about
     * {@code span} points; NaN values are carried through without disturbing the average.
     */
    public static double[] smooth(double[] y, double span) {
        double beta = span <= 1 ? 0 : 1 - 1 / span;
        double[] out = new double[y.length];
        double avg = 0, weight = 0;
        for (int i = 0; i < y.length; i++) {
            if (!Double.isFinite(y[i])) { out[i] = Double.NaN; continue; }
            avg = beta * avg + (1 - beta) * y[i];
            weight = beta * weight + (1 - beta);
            out[i] = avg / weight;
        }
        return out;
    }

    // ---- axes ------------------------------------------------------------------------------------------------

    /** A linear or logarithmic mapping from data to pixels, with its tick values. */
    record Axis(double min, double max, boolean log, double[] ticks) {
        double fraction(double v) {
            return log ? (Math.log(v) - Math.log(min)) / (Math.log(max) - Math.log(min)) : (v - min) / (max - min);
        }

        boolean valid(double v) { return Double.isFinite(v) && (!log || v > 0); }
    }

    /** An axis over [lo, hi] with some padding; {@code integer} data (steps, tokens) gets no fractional ticks. */
    static Axis axis(double lo, double hi, boolean log, boolean fromZero, boolean integer) {
        if (!(lo <= hi)) { lo = log ? 0.1 : 0; hi = 1; } // no data
        if (log) {
            double a = Math.log10(lo), b = Math.log10(hi);
            double pad = Math.max((b - a) * 0.04, 0.02);
            lo = Math.pow(10, a - pad);
            hi = Math.pow(10, b + pad);
            return new Axis(lo, hi, true, logTicks(lo, hi));
        }
        if (lo == hi) { double d = lo == 0 ? 1 : Math.abs(lo) * 0.1; lo -= d; hi += d; }
        if (fromZero && lo >= 0 && lo <= 0.15 * hi) lo = 0;
        else lo -= (hi - lo) * 0.04;
        hi += (hi - lo) * 0.04;
        return new Axis(lo, hi, false, linearTicks(lo, hi, 6, integer));
    }

    /** Ticks at multiples of 1, 2, 2.5 or 5 × 10ⁿ, roughly {@code target} of them, inside [lo, hi]. */
    static double[] linearTicks(double lo, double hi, int target, boolean integer) {
        double step = niceStep((hi - lo) / target);
        if (integer && step < 1) step = 1;
        List<Double> t = new ArrayList<>();
        for (double v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
            t.add(Math.abs(v) < step * 1e-9 ? 0 : v);
        }
        return t.stream().mapToDouble(Double::doubleValue).toArray();
    }

    static double niceStep(double rough) {
        double p = Math.pow(10, Math.floor(Math.log10(rough)));
        double m = rough / p;
        double nice = m < 1.5 ? 1 : m < 2.25 ? 2 : m < 3.5 ? 2.5 : m < 7.5 ? 5 : 10; // the nearest nice step
        return nice * p;
    }

    /**
     * Log-axis ticks: powers of ten when the range spans several decades, otherwise the coarsest set of
     * mantissas that gives at least four ticks, and for a very narrow range linear ticks.
     */
    static double[] logTicks(double lo, double hi) {
        double[][] mantissas = {{1}, {1, 2, 5}, {1, 2, 3, 5}, {1, 1.5, 2, 3, 4, 5, 6, 8}};
        for (double[] set : mantissas) {
            List<Double> t = new ArrayList<>();
            for (int e = (int) Math.floor(Math.log10(lo)); e <= (int) Math.ceil(Math.log10(hi)); e++) {
                for (double m : set) {
                    double v = m * Math.pow(10, e);
                    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.add(v);
                }
            }
            if (t.size() >= 4) {
                // Too many powers of ten: keep every k-th decade.
                int k = (t.size() + 9) / 10;
                double[] out = new double[(t.size() + k - 1) / k];
                for (int i = 0; i < out.length; i++) out[i] = t.get(i * k);
                return out;
            }
        }
        return linearTicks(lo, hi, 5, false);
    }

    /**
     * Labels for an axis's ticks, in one style for the whole axis: 12k / 1.5M / 2B for large values, 6e-4 for
     * small ones, otherwise as many decimals as the spacing between ticks needs (0.25, 3, 1500).
     */
    static String[] labels(double[] ticks) {
        double top = 0;
        for (double t : ticks) top = Math.max(top, Math.abs(t));
        String[] out = new String[ticks.length];
        if (top > 0 && top < 1e-2) {
            // Scientific, with the fewest mantissa digits that show every tick exactly (ticks are nice numbers).
            for (int d = 0; d <= 3; d++) {
                boolean exact = true;
                for (int i = 0; i < ticks.length; i++) {
                    out[i] = scientific(ticks[i], d);
                    exact &= Math.abs(Double.parseDouble(out[i]) - ticks[i]) <= 1e-6 * top;
                }
                if (exact) break;
            }
            return out;
        }
        double scale = top >= 1e9 ? 1e9 : top >= 1e6 ? 1e6 : top >= 1e4 ? 1e3 : 1;
        String suffix = scale == 1e9 ? "B" : scale == 1e6 ? "M" : scale == 1e3 ? "k" : "";
        for (int i = 0; i < ticks.length; i++) {
            out[i] = ticks[i] == 0 ? "0" : trim(ticks[i] / scale, spacing(ticks, i) / scale) + suffix;
        }
        return out;
    }

    private static String scientific(double v, int decimals) {
        if (v == 0) return "0";
        String s = String.format(Locale.ROOT, "%." + decimals + "e", v);
        return s.replace("e-0", "e-").replace("e+0", "e").replace("e+", "e");
    }

    /** v with the decimals that {@code spacing} needs (2.5 with spacing 0.5, 3 with spacing 1). */
    private static String trim(double v, double spacing) {
        int decimals = spacing <= 0 ? 2 : Math.max(0, Math.min(6, (int) Math.ceil(-Math.log10(spacing) - 1e-9)));
        if (spacing > 0 && Math.abs(spacing * Math.pow(10, decimals) - Math.rint(spacing * Math.pow(10, decimals))) > 1e-6) decimals++;
        String s = String.format(Locale.ROOT, "%." + decimals + "f", v);
        if (s.contains(".")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
        return s;
    }

    /** Spacing to size a tick's decimals by: the gap to its neighbour (log ticks are uneven). */
    private static double spacing(double[] ticks, int i) {
        if (ticks.length < 2) return Math.abs(ticks[0]) / 10;
        return i + 1 < ticks.length ? ticks[i + 1] - ticks[i] : ticks[i] - ticks[i - 1];
    }

    // ---- drawing ---------------------------------------------------------------------------------------------

    private static final class Canvas {
        final Chart chart;
        final int width, height;
        final BufferedImage image;
        final Graphics2D g;
        final Font titleFont, labelFont, tickFont, legendFont;
        Axis xAxis, yAxis;
        boolean integerX = true;
        Rectangle plot;

        Canvas(Chart chart, int width, int height) {
            if (width < 200 || height < 150) throw new IllegalArgumentException("chart too small: " + width + "×" + height);
            this.chart = chart;
            this.width = width;
            this.height = height;
            this.image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
            this.g = image.createGraphics();
            float s = Math.min(width / 960f, height / 540f);
            float scale = Math.max(0.75f, s);
            titleFont = new Font(Font.SANS_SERIF, Font.BOLD, Math.round(19 * scale));
            labelFont = new Font(Font.SANS_SERIF, Font.PLAIN, Math.round(14 * scale));
            tickFont = new Font(Font.SANS_SERIF, Font.PLAIN, Math.round(12 * scale));
            legendFont = new Font(Font.SANS_SERIF, Font.PLAIN, Math.round(13 * scale));
        }

        BufferedImage draw() {
            try {
                g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
                g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
                g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
                g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
                g.setColor(BACKGROUND);
                g.fillRect(0, 0, width, height);
                scales();
                layout();
                grid();
                boolean any = series();
                frame();
                texts();
                if (any) legend();
                else centered("no data yet");
                return image;
            } finally {
                g.dispose();
            }
        }

        void scales() {
            double xlo = Double.POSITIVE_INFINITY, xhi = Double.NEGATIVE_INFINITY;
            double ylo = Double.POSITIVE_INFINITY, yhi = Double.NEGATIVE_INFINITY;
            for (Series s : chart.series()) {
                for (int i = 0; i < s.x().length; i++) {
                    double x = s.x()[i], y = s.y()[i];
                    if (!Double.isFinite(x) || !Double.isFinite(y) || (chart.logY() && y <= 0)) continue;
                    xlo = Math.min(xlo, x); xhi = Math.max(xhi, x);
                    integerX &= x == Math.rint(x);
                    ylo = Math.min(ylo, y); yhi = Math.max(yhi, y);
                }
            }
            xAxis = axis(xlo, xhi, false, true, integerX);
            yAxis = axis(ylo, yhi, chart.logY(), true, false);
        }

        boolean hasTop() { return chart.topLabel() != null && chart.topScale() > 0; }

        void layout() {
            FontMetrics tm = g.getFontMetrics(tickFont), lm = g.getFontMetrics(labelFont), hm = g.getFontMetrics(titleFont);
            int tickW = 0;
            for (String l : labels(yAxis.ticks())) tickW = Math.max(tickW, tm.stringWidth(l));
            int pad = Math.round(height * 0.03f);
            int left = pad + lm.getHeight() + 8 + tickW + 8;
            int top = pad + hm.getHeight() + 6 + (hasTop() ? lm.getHeight() + tm.getHeight() + 10 : 4);
            int bottom = pad + lm.getHeight() + 6 + tm.getHeight() + 8;
            int right = pad + tm.stringWidth("0000") / 2 + 6;
            plot = new Rectangle(left, top, width - left - right, height - top - bottom);
        }

        double px(double x) { return plot.x + xAxis.fraction(x) * plot.width; }

        double py(double y) { return plot.y + plot.height - yAxis.fraction(y) * plot.height; }

        void grid() {
            g.setStroke(new BasicStroke(1f));
            g.setColor(GRID);
            for (double t : xAxis.ticks()) g.draw(new Line2D.Double(px(t), plot.y, px(t), plot.y + plot.height));
            for (double t : yAxis.ticks()) g.draw(new Line2D.Double(plot.x, py(t), plot.x + plot.width, py(t)));
        }

        boolean series() {
            Shape clip = g.getClip();
            g.clip(new Rectangle(plot.x - 4, plot.y - 4, plot.width + 8, plot.height + 8));
            boolean any = false;
            for (Series s : chart.series()) {
                float w = s.style() == Style.FAINT ? 1f : 2f;
                Color c = s.style() == Style.FAINT ? translucent(s.color(), 0.35f) : s.color();
                g.setColor(c);
                g.setStroke(new BasicStroke(w, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                Path2D.Double path = new Path2D.Double();
                boolean pen = false;
                int points = 0;
                for (int i = 0; i < s.x().length; i++) {
                    double x = s.x()[i], y = s.y()[i];
                    if (!Double.isFinite(x) || !yAxis.valid(y)) { pen = false; continue; }
                    if (pen) path.lineTo(px(x), py(y));
                    else { path.moveTo(px(x), py(y)); pen = true; }
                    points++;
                }
                if (points == 0) continue;
                any = true;
                g.draw(path);
                if (s.style() == Style.MARKERS || points == 1) {
                    double r = 3.5;
                    for (int i = 0; i < s.x().length; i++) {
                        if (!Double.isFinite(s.x()[i]) || !yAxis.valid(s.y()[i])) continue;
                        Ellipse2D dot = new Ellipse2D.Double(px(s.x()[i]) - r, py(s.y()[i]) - r, 2 * r, 2 * r);
                        g.setColor(BACKGROUND);
                        g.fill(dot);
                        g.setColor(c);
                        g.setStroke(new BasicStroke(1.8f));
                        g.draw(dot);
                    }
                }
            }
            g.setClip(clip);
            return any;
        }

        void frame() {
            g.setColor(AXIS);
            g.setStroke(new BasicStroke(1.2f));
            g.drawRect(plot.x, plot.y, plot.width, plot.height);
            g.setFont(tickFont);
            FontMetrics fm = g.getFontMetrics();
            double[] xt = xAxis.ticks();
            String[] xl = labels(xt);
            for (int i = 0; i < xt.length; i++) {
                int x = (int) Math.round(px(xt[i]));
                g.setColor(AXIS);
                g.drawLine(x, plot.y + plot.height, x, plot.y + plot.height + 5);
                g.setColor(SUBTLE);
                String s = xl[i];
                g.drawString(s, x - fm.stringWidth(s) / 2, plot.y + plot.height + 7 + fm.getAscent());
            }
            double[] yt = yAxis.ticks();
            String[] yl = labels(yt);
            for (int i = 0; i < yt.length; i++) {
                int y = (int) Math.round(py(yt[i]));
                g.setColor(AXIS);
                g.drawLine(plot.x - 5, y, plot.x, y);
                g.setColor(SUBTLE);
                String s = yl[i];
                g.drawString(s, plot.x - 8 - fm.stringWidth(s), y + fm.getAscent() / 2 - 1);
            }
            if (hasTop()) {
                double k = chart.topScale();
                double[] tt = linearTicks(xAxis.min() * k, xAxis.max() * k, 6, integerX);
                String[] tl = labels(tt);
                for (int i = 0; i < tt.length; i++) {
                    int x = (int) Math.round(px(tt[i] / k));
                    g.setColor(AXIS);
                    g.drawLine(x, plot.y, x, plot.y - 5);
                    g.setColor(SUBTLE);
                    String s = tl[i];
                    g.drawString(s, x - fm.stringWidth(s) / 2, plot.y - 8 - fm.getDescent());
                }
            }
        }

        void texts() {
            g.setColor(TEXT);
            g.setFont(titleFont);
            FontMetrics hm = g.getFontMetrics();
            int pad = Math.round(height * 0.03f);
            g.drawString(chart.title(), (width - hm.stringWidth(chart.title())) / 2, pad + hm.getAscent());

            g.setFont(labelFont);
            FontMetrics lm = g.getFontMetrics();
            g.setColor(SUBTLE);
            String xl = chart.xLabel();
            g.drawString(xl, plot.x + (plot.width - lm.stringWidth(xl)) / 2, height - pad - lm.getDescent());
            if (hasTop()) {
                String tl = chart.topLabel();
                int y = plot.y - 8 - g.getFontMetrics(tickFont).getHeight() - 4 - lm.getDescent();
                g.drawString(tl, plot.x + (plot.width - lm.stringWidth(tl)) / 2, y);
            }
            String yl = chart.yLabel() + (chart.logY() ? " (log scale)" : "");
            Graphics2D r = (Graphics2D) g.create();
            r.translate(pad + lm.getAscent(), plot.y + plot.height / 2.0 + lm.stringWidth(yl) / 2.0);
            r.rotate(-Math.PI / 2);
            r.drawString(yl, 0, 0);
            r.dispose();
        }

        /** The legend, when there are several series, in whichever plot corner covers the fewest data points. */
        void legend() {
            List<Series> named = new ArrayList<>();
            for (Series s : chart.series()) if (s.name() != null && !s.name().isEmpty()) named.add(s);
            if (named.size() < 2) return; // one line needs no key: the title and axis label name it
            g.setFont(legendFont);
            FontMetrics fm = g.getFontMetrics();
            int sample = 28, gap = 8, inner = 10, row = fm.getHeight() + 2;
            int w = 0;
            for (Series s : named) w = Math.max(w, fm.stringWidth(s.name()));
            w += sample + gap + 2 * inner;
            int h = named.size() * row + 2 * inner - 2;
            int m = 12;
            int[][] corners = {
                {plot.x + plot.width - w - m, plot.y + m}, {plot.x + m, plot.y + m},
                {plot.x + plot.width - w - m, plot.y + plot.height - h - m}, {plot.x + m, plot.y + plot.height - h - m}};
            int best = 0;
            long fewest = Long.MAX_VALUE;
            for (int c = 0; c < corners.length; c++) {
                Rectangle box = new Rectangle(corners[c][0] - 6, corners[c][1] - 6, w + 12, h + 12);
                long inside = 0;
                for (Series s : chart.series()) {
                    for (int i = 0; i < s.x().length; i++) {
                        if (Double.isFinite(s.x()[i]) && yAxis.valid(s.y()[i]) && box.contains(px(s.x()[i]), py(s.y()[i]))) inside++;
                    }
                }
                if (inside < fewest) { fewest = inside; best = c; }
            }
            int x = corners[best][0], y = corners[best][1];
            RoundRectangle2D box = new RoundRectangle2D.Double(x, y, w, h, 10, 10);
            g.setColor(translucent(BACKGROUND, 0.9f));
            g.fill(box);
            g.setColor(new Color(0xCCCCCC));
            g.setStroke(new BasicStroke(1f));
            g.draw(box);
            for (int i = 0; i < named.size(); i++) {
                Series s = named.get(i);
                int cy = y + inner + i * row + row / 2 - 1;
                g.setColor(s.color());
                g.setStroke(new BasicStroke(s.style() == Style.FAINT ? 1.5f : 2.5f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                if (s.style() == Style.FAINT) g.setColor(translucent(s.color(), 0.5f));
                g.draw(new Line2D.Double(x + inner, cy, x + inner + sample, cy));
                if (s.style() == Style.MARKERS) {
                    Ellipse2D dot = new Ellipse2D.Double(x + inner + sample / 2.0 - 3.5, cy - 3.5, 7, 7);
                    g.setColor(BACKGROUND);
                    g.fill(dot);
                    g.setColor(s.color());
                    g.setStroke(new BasicStroke(1.8f));
                    g.draw(dot);
                }
                g.setColor(TEXT);
                g.drawString(s.name(), x + inner + sample + gap, cy + fm.getAscent() / 2 - 1);
            }
        }

        void centered(String text) {
            g.setFont(labelFont);
            g.setColor(SUBTLE);
            FontMetrics fm = g.getFontMetrics();
            g.drawString(text, plot.x + (plot.width - fm.stringWidth(text)) / 2, plot.y + plot.height / 2);
        }
    }

    private static Color translucent(Color c, float alpha) {
        return new Color(c.getRed(), c.getGreen(), c.getBlue(), Math.round(alpha * 255));
    }
}
