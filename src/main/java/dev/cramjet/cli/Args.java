package dev.cramjet.cli;

import dev.cramjet.CramjetException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Command-line arguments: `--key value`, `--key=value`, bare `--flag`, and positionals.
 * Every option a command reads is recorded; {@link #finish()} then rejects the ones nobody asked for, so a typo
 * like `--budjet` is an error that names the option rather than something silently ignored. An option read for
 * its value but given bare (`--out` at the end of the line, or before another option) is an error too, rather
 * than the value "true".
 */
public final class Args {
    /** Option → value; null for a bare `--key`. */
    private final Map<String, String> options = new LinkedHashMap<>();
    private final List<String> positionals = new ArrayList<>();
    private final Set<String> read = new TreeSet<>();
    /** Where each positional, and each value an option took from the next word, stood on the command line. */
    private final List<Integer> positionalAt = new ArrayList<>();
    private final Map<String, Integer> valueAt = new LinkedHashMap<>();

    public Args(String[] argv) {
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (a.startsWith("--") && a.length() > 2) {
                String key = a.substring(2);
                int eq = key.indexOf('=');
                if (eq >= 0) {
                    options.put(key.substring(0, eq), key.substring(eq + 1));
                } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
                    valueAt.put(key, i + 1);
                    options.put(key, argv[++i]);
                } else {
                    options.put(key, null);
                }
            } else {
                positionals.add(a);
                positionalAt.add(i);
            }
        }
    }

    public boolean has(String key) { read.add(key); return options.containsKey(key); }

    public boolean flag(String key) {
        read.add(key);
        if (!options.containsKey(key)) return false;
        String v = options.get(key);
        if (v == null || v.equals("true")) return true;
        if (v.equals("false")) return false;
        // `--flag value` swallowed a positional: give it back where it stood.
        int at = valueAt.get(key), k = 0;
        while (k < positionalAt.size() && positionalAt.get(k) < at) k++;
        positionals.add(k, v);
        positionalAt.add(k, at);
        options.put(key, null);
        return true;
    }

    public String string(String key, String fallback) {
        read.add(key);
        if (!options.containsKey(key)) return fallback;
        String v = options.get(key);
        if (v == null) throw new CramjetException("--" + key + " needs a value (see --help)");
        return v;
    }

    public String required(String key) {
        String v = string(key, null);
        if (v == null) throw new CramjetException("missing required option --" + key);
        return v;
    }

    public int integer(String key, int fallback) {
        long v = longValue(key, fallback);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new CramjetException("--" + key + ": " + v + " is too " + (v > 0 ? "large (at most " + Integer.MAX_VALUE + ")"
                    : "small (at least " + Integer.MIN_VALUE + ")"));
        }
        return (int) v;
    }

    public long longValue(String key, long fallback) {
        String v = string(key, null);
        if (v == null) return fallback;
        String digits = v.replace("_", "");
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            if (digits.matches("[-+]?[0-9]+")) throw new CramjetException("--" + key + ": " + v + " is out of range (a 64-bit integer)");
            throw new CramjetException("--" + key + " expects an integer, got '" + v + "'");
        }
    }

    public double number(String key, double fallback) {
        String v = string(key, null);
        if (v == null) return fallback;
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new CramjetException("--" + key + " expects a number, got '" + v + "'");
        }
    }

    /** The names of all options given, in order (for commands that forward unknown keys as config overrides). */
    public List<String> keys() { return List.copyOf(options.keySet()); }

    /** The value given for {@code key} as written, null for a bare `--key` (to repeat a command line to child processes). */
    public String given(String key) { return options.get(key); }

    public List<String> positionals() { return positionals; }

    /** Rejects options no one read. Call after the command has read all it understands. */
    public void finish() {
        for (String k : options.keySet()) {
            if (!read.contains(k)) throw new CramjetException("unknown option --" + k + " (see --help)");
        }
    }
}
