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
 * like `--budjet` is an error that names the option rather than something silently ignored.
 */
public final class Args {
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
                    options.put(key, "true");
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
        String v = options.get(key);
        if (v == null) return false;
        if (v.equals("true")) return true;
        if (v.equals("false")) return false;
        // `--flag value` swallowed a positional: give it back where it stood.
        int at = valueAt.get(key), k = 0;
        while (k < positionalAt.size() && positionalAt.get(k) < at) k++;
        positionals.add(k, v);
        positionalAt.add(k, at);
        options.put(key, "true");
        return true;
    }

    public String string(String key, String fallback) {
        read.add(key);
        return options.getOrDefault(key, fallback);
    }

    public String required(String key) {
        read.add(key);
        String v = options.get(key);
        if (v == null || v.equals("true")) throw new CramjetException("missing required option --" + key);
        return v;
    }

    public int integer(String key, int fallback) {
        String v = string(key, null);
        if (v == null) return fallback;
        try {
            return Integer.parseInt(v.replace("_", ""));
        } catch (NumberFormatException e) {
            throw new CramjetException("--" + key + " expects an integer, got '" + v + "'");
        }
    }

    public long longValue(String key, long fallback) {
        String v = string(key, null);
        if (v == null) return fallback;
        try {
            return Long.parseLong(v.replace("_", ""));
        } catch (NumberFormatException e) {
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

    /** All options given, in order (for commands that forward unknown keys as config overrides). */
    public Map<String, String> options() { return options; }

    /** Marks an option as consumed by a caller that reads {@link #options()} directly. */
    public void markRead(String key) { read.add(key); }

    public List<String> positionals() { return positionals; }

    /** Rejects options no one read. Call after the command has read all it understands. */
    public void finish() {
        for (String k : options.keySet()) {
            if (!read.contains(k)) throw new CramjetException("unknown option --" + k + " (see --help)");
        }
    }
}
