package dev.cramjet.train;

import dev.cramjet.CramjetException;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How long a run may go: wall-clock seconds, optimizer steps and/or training tokens (0 = no limit of that kind).
 * {@link #progress} is the fraction of the budget spent — the largest of the fractions of the limits that are set —
 * and the learning-rate schedule follows it (Cramming's trick: with a time budget the run ends annealed exactly when
 * the time is up, whatever the throughput turns out to be).
 */
public record Budget(double seconds, long steps, long tokens) {
    public Budget {
        if (seconds < 0 || steps < 0 || tokens < 0) throw new CramjetException("a budget cannot be negative");
        if (seconds == 0 && steps == 0 && tokens == 0) {
            throw new CramjetException("no budget: give --budget (e.g. 10m), --max-steps or --tokens");
        }
    }

    /** Fraction of the budget spent, in [0, 1]. */
    public double progress(long step, long tokensSeen, double elapsedSeconds) {
        double p = 0;
        if (seconds > 0) p = Math.max(p, elapsedSeconds / seconds);
        if (steps > 0) p = Math.max(p, (double) step / steps);
        if (tokens > 0) p = Math.max(p, (double) tokensSeen / tokens);
        return Math.min(1, Math.max(0, p));
    }

    /** Seconds left of the wall-clock budget, or NaN when there is none. */
    public double remainingSeconds(double elapsedSeconds) {
        return seconds > 0 ? Math.max(0, seconds - elapsedSeconds) : Double.NaN;
    }

    private static final Pattern PART = Pattern.compile("(\\d+(?:\\.\\d+)?)([dhms])");

    /**
     * Parses a duration such as {@code 90s}, {@code 10m}, {@code 6h}, {@code 1h30m} or {@code 2d} into seconds.
     * A bare number is rejected: "10" could mean minutes or seconds, so the unit is required.
     */
    public static double parseDuration(String text, String key) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        Matcher m = PART.matcher(s);
        double total = 0;
        int at = 0;
        while (at < s.length() && m.find(at) && m.start() == at) {
            double v = Double.parseDouble(m.group(1));
            total += v * switch (m.group(2)) {
                case "d" -> 86400;
                case "h" -> 3600;
                case "m" -> 60;
                default -> 1;
            };
            at = m.end();
        }
        if (s.isEmpty() || at != s.length()) {
            throw new CramjetException(key + ": expected a duration like 90s, 10m, 6h or 1h30m, got '" + text + "'");
        }
        if (total <= 0) throw new CramjetException(key + ": the duration must be positive, got '" + text + "'");
        return total;
    }

    /** Parses a count with an optional K/M/B/T suffix (powers of 1000): {@code 2M}, {@code 1.5B}, {@code 300000}. */
    public static long parseCount(String text, String key) {
        String s = text.trim().replace("_", "").toUpperCase(Locale.ROOT);
        double scale = 1;
        if (!s.isEmpty()) {
            switch (s.charAt(s.length() - 1)) {
                case 'K' -> scale = 1e3;
                case 'M' -> scale = 1e6;
                case 'B', 'G' -> scale = 1e9;
                case 'T' -> scale = 1e12;
                default -> { }
            }
        }
        if (scale != 1) s = s.substring(0, s.length() - 1);
        try {
            double v = Double.parseDouble(s) * scale;
            if (v < 0 || v != Math.rint(v) || v > Long.MAX_VALUE) throw new NumberFormatException();
            return (long) v;
        } catch (NumberFormatException e) {
            throw new CramjetException(key + ": expected a whole count like 300000, 2M or 1.5B, got '" + text + "'");
        }
    }

    /** "1h05m", "4m10s", "12s" — for progress lines. */
    public static String formatDuration(double seconds) {
        if (Double.isNaN(seconds)) return "-";
        long s = Math.round(seconds);
        if (s >= 3600) return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
        if (s >= 60) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        return s + "s";
    }
}
