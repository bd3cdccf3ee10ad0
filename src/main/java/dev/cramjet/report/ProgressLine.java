package dev.cramjet.report;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Progress for people watching: of training (step, loss, learning rate, tokens/s, MFU) or of any other long job
 * (`cramjet prepare`'s stages). On a terminal: one live status line redrawn in place (carriage return), fitted to
 * the terminal's width, with the fields, the elapsed time and a bar with the time left. Anywhere else (a pipe, a
 * log file, CI): a plain line every {@code every} seconds, so logs stay readable and small.
 * <pre>
 * ProgressLine progress = ProgressLine.stdout();
 * for (...) {
 *     progress.update(new ProgressLine.Status(step, loss, lr, tokensPerSecond, mfu, elapsed, remaining, progress));
 *     if (evaluated) progress.log("step 500: val loss 3.91"); // a permanent line; the status line stays below it
 * }
 * progress.finish();                                          // leaves the last status on screen
 * </pre>
 * Throttling uses the status's own elapsed time, so output depends only on the calls made (and tests are exact).
 * Methods are synchronized: the trainer may log from another thread (an evaluation or checkpoint writer).
 */
public final class ProgressLine {
    /**
     * What one status line shows: {@code fields} in order of importance (when a terminal is too narrow they are
     * dropped from the end, the first two always stay), the seconds elapsed, and the fraction of the job done in
     * [0, 1] (NaN when unknown) with the seconds left (NaN: extrapolated from the fraction and the elapsed time).
     */
    public record Line(List<String> fields, double elapsedSeconds, double remainingSeconds, double progress) {}

    /**
     * One training report. progress is the fraction of the run's budget spent, in [0, 1] (NaN when unknown);
     * remainingSeconds is the time left (NaN when the budget is not wall-clock time: it is then extrapolated from
     * progress and elapsed time). lr, tokensPerSecond and mfu may be NaN when unknown and are then left out.
     * mfu is a fraction (0.41 = 41%).
     */
    public record Status(long step, double loss, double lr, double tokensPerSecond, double mfu,
                         double elapsedSeconds, double remainingSeconds, double progress) {
        /** step, loss, tokens/s, lr, MFU — in the order they are dropped from the end when space is short. */
        public Line line() {
            List<String> f = new ArrayList<>();
            f.add(String.format(Locale.ROOT, "step %,d", step));
            f.add(String.format(Locale.ROOT, "loss %.4f", loss));
            if (Double.isFinite(tokensPerSecond)) f.add(Report.compact(tokensPerSecond) + " tok/s");
            if (Double.isFinite(lr)) f.add("lr " + (lr == 0 ? "0" : String.format(Locale.ROOT, "%.2e", lr).replace("e-0", "e-")));
            if (Double.isFinite(mfu)) f.add(String.format(Locale.ROOT, "MFU %.1f%%", 100 * mfu));
            return new Line(f, elapsedSeconds, remainingSeconds, progress);
        }
    }

    /** Bar cells when there is room: fixed, so the bar does not jump as the numbers beside it change length. */
    private static final int BAR = 24;

    /** Terminal redraws at most this often (seconds of the run's elapsed time). */
    private static final double REDRAW_SECONDS = 0.1;

    private final PrintStream out;
    private final boolean terminal, unicode;
    private final int width;
    private final double every;
    private Line last;
    private double lastShown = Double.NEGATIVE_INFINITY;
    private boolean lastPrinted, lineOpen;

    /**
     * @param terminal redraw one line in place (true) or print plain lines (false)
     * @param width    the terminal's width in columns (terminal mode)
     * @param unicode  draw the bar and separators with Unicode block characters (else ASCII)
     * @param every    seconds between plain lines
     */
    public ProgressLine(PrintStream out, boolean terminal, int width, boolean unicode, double every) {
        this.out = out;
        this.terminal = terminal;
        this.width = Math.max(40, width);
        this.unicode = unicode;
        this.every = every;
    }

    /** For standard output: live on an interactive terminal, plain lines every 10 s otherwise (pipes, CI). */
    public static ProgressLine stdout() { return on(System.out, "stdout.encoding"); }

    /**
     * For standard error, where commands whose standard output is their result report progress. Java cannot ask
     * whether standard error is a terminal, so this follows standard output (as the console does).
     */
    public static ProgressLine stderr() { return on(System.err, "stderr.encoding"); }

    private static ProgressLine on(PrintStream out, String encoding) {
        var console = System.console();
        boolean terminal = console != null && console.isTerminal() && System.getenv("CI") == null
                && !"dumb".equals(System.getenv("TERM"));
        boolean unicode = StandardCharsets.UTF_8.name().equalsIgnoreCase(System.getProperty(encoding, ""));
        return new ProgressLine(out, terminal, terminal ? terminalWidth() : 100, unicode, 10);
    }

    /** Reports training progress; see {@link #update(Line)}. */
    public void update(Status s) { update(s.line()); }

    /** Reports progress; shown now or later depending on the mode and how recently something was shown. */
    public synchronized void update(Line s) {
        last = s;
        lastPrinted = false;
        double gap = terminal ? REDRAW_SECONDS : every;
        if (s.elapsedSeconds() - lastShown < gap) return;
        show(s);
    }

    /** Prints a permanent line (an evaluation result, a saved checkpoint); a live status line is redrawn below. */
    public synchronized void log(String message) {
        if (terminal && lineOpen) {
            out.print("\r\033[K" + message + "\n");
            out.print(terminalLine(last));
        } else {
            out.println(message);
        }
        out.flush();
    }

    /** Ends progress output: the final status stays visible (and is printed if throttling held it back). */
    public synchronized void finish() {
        if (last != null && !lastPrinted) show(last);
        if (terminal && lineOpen) out.println();
        lineOpen = false;
        out.flush();
    }

    private void show(Line s) {
        lastShown = s.elapsedSeconds();
        lastPrinted = true;
        if (terminal) {
            out.print("\r" + terminalLine(s) + "\033[K");
            lineOpen = true;
        } else {
            out.println(plainLine(s));
        }
        out.flush();
    }

    // ---- formatting ------------------------------------------------------------------------------------------

    /** The fraction of the run done and the seconds left, or null when the progress is unknown. */
    private static double[] remaining(Line s) {
        double p = s.progress();
        if (!(p >= 0)) return null;
        double left = s.remainingSeconds();
        // Extrapolated from under a thousandth of the job, the time left is noise (it printed 925346306920 hours).
        if (Double.isNaN(left)) left = p >= 1e-3 ? s.elapsedSeconds() * (1 - p) / p : Double.POSITIVE_INFINITY;
        return new double[] {Math.clamp(p, 0, 1), Math.max(0, left)};
    }

    /** The plain log line: every field, space-separated. */
    String plainLine(Line s) {
        List<String> f = new ArrayList<>(s.fields());
        f.add("elapsed " + clock(s.elapsedSeconds()));
        double[] r = remaining(s);
        if (r != null) f.add(String.format(Locale.ROOT, "left %s (%d%%)", clock(r[1]), (int) Math.floor(r[0] * 100)));
        return String.join("  ", f);
    }

    /**
     * The live line, at most width − 1 columns (the last column stays free so no terminal wraps): fields are
     * dropped from the least important (the last) and the bar shrinks until it fits.
     */
    String terminalLine(Line s) {
        String sep = unicode ? " │ " : " | ";
        List<String> f = new ArrayList<>(s.fields());
        double[] r = remaining(s);
        String time = clock(s.elapsedSeconds());
        String left = r == null ? "" : " " + clock(r[1]) + " left";
        int max = width - 1;
        while (true) {
            String head = String.join(sep, f) + sep + time;
            int room = max - head.length() - left.length() - 3; // " [" and "]"
            if (r == null && head.length() <= max) return head;
            if (r != null && room >= 10) return head + " [" + bar(r[0], Math.min(BAR, room)) + "]" + left;
            if (f.size() > 2) f.remove(f.size() - 1);
            else if (r != null) return head.length() + left.length() <= max ? head + left : cut(head, max);
            else return cut(head, max);
        }
    }

    private String bar(double fraction, int cells) {
        if (!unicode) {
            int full = (int) Math.round(fraction * cells);
            return "#".repeat(full) + "-".repeat(cells - full);
        }
        // Eighth blocks give the bar sub-cell resolution.
        int eighths = (int) Math.round(fraction * cells * 8);
        int full = eighths / 8, part = eighths % 8;
        StringBuilder b = new StringBuilder(cells);
        b.repeat('█', full);
        if (full < cells) {
            b.append(part == 0 ? '░' : "▏▎▍▌▋▊▉".charAt(part - 1));
            b.repeat('░', cells - full - 1);
        }
        return b.toString();
    }

    /** Seconds as h:mm:ss or m:ss. */
    static String clock(double seconds) {
        if (!Double.isFinite(seconds)) return "?";
        long s = Math.round(Math.max(0, seconds));
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s % 3600 / 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    private static String cut(String s, int max) { return s.length() <= max ? s : s.substring(0, max); }

    /** COLUMNS when exported, else what `stty size` reports for the controlling terminal, else 100. */
    private static int terminalWidth() {
        try {
            String cols = System.getenv("COLUMNS");
            if (cols != null) return Integer.parseInt(cols.trim());
            Process p = new ProcessBuilder("stty", "size").redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/tty")))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String[] size = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim().split("\\s+");
            if (p.waitFor() == 0 && size.length == 2) return Integer.parseInt(size[1]);
        } catch (java.io.IOException | NumberFormatException e) {
            // Not a Unix terminal, or no stty: the fallback width is safe everywhere.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 100;
    }
}
