package dev.cramjet;

import dev.cramjet.io.Json;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Mutates valid files at random and checks that a parser answers each with success or the project's clear error:
 * a {@link CramjetException} of one line that names the file — never another exception, and never a file written
 * beside it. Mutations: bit flips, truncation, cut or inserted bytes, lying length and count fields (little-endian
 * integers near the start overwritten with boundary values) and, for JSON, values replaced by ones of another type,
 * keys dropped, numbers made huge, negative or fractional. Every case is a pure function of (seed, case), so a
 * failure names the case that reproduces it.
 */
public final class Fuzz {
    private Fuzz() {}

    /** Reads (and uses) the file at the path; may throw. */
    @FunctionalInterface
    public interface Parser {
        void parse(Path file) throws Exception;
    }

    /** One mutated file's bytes; {@code how[0]} receives a description of the mutation. */
    @FunctionalInterface
    public interface Mutator {
        byte[] mutate(SplittableRandom r, String[] how);
    }

    private static final long[] BOUNDARY = {0, 1, -1, 2, 255, 256, 65535, 65536, Integer.MAX_VALUE, Integer.MIN_VALUE,
        1L << 31, 1L << 32, 1L << 62, Long.MAX_VALUE, Long.MIN_VALUE};

    /**
     * Writes {@code cases} mutations to {@code file} and runs {@code parser} on each; what the file held before is
     * put back at the end.
     */
    public static void check(Path file, int cases, long seed, Mutator mutator, Parser parser) throws IOException {
        byte[] valid = Files.readAllBytes(file);
        Path dir = file.toAbsolutePath().getParent();
        List<Path> before = list(dir);
        for (int c = 0; c < cases; c++) {
            String[] how = {"?"};
            Files.write(file, mutator.mutate(new SplittableRandom(seed * 1_000_003 + c), how));
            String where = file.getFileName() + " case " + c + " (" + how[0] + ")";
            try {
                parser.parse(file);
            } catch (CramjetException e) {
                String m = e.getMessage();
                if (m == null || m.isBlank() || m.contains("\n") || !m.contains(file.getFileName().toString())) {
                    throw new AssertionError(where + ": an error that does not name the file in one line: " + m, e);
                }
            } catch (Throwable t) {
                throw new AssertionError(where + ": " + t, t);
            }
            List<Path> after = list(dir);
            if (!after.equals(before)) throw new AssertionError(where + ": the directory changed: " + before + " → " + after);
        }
        Files.write(file, valid);
    }

    /** Bit flips, truncations, cut or inserted bytes, lying integer fields near the start. */
    public static Mutator binary(byte[] valid) { return (r, how) -> binaryMutation(valid, r, how); }

    /** For a JSON file: a third of the cases replace or drop a value, the rest are binary mutations. */
    public static Mutator json(byte[] valid) {
        Object tree = Json.parse(new String(valid, StandardCharsets.UTF_8), "valid");
        return (r, how) -> r.nextInt(3) == 0 ? mutateJson(tree, r, how) : binaryMutation(valid, r, how);
    }

    private static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    static byte[] binaryMutation(byte[] valid, SplittableRandom r, String[] how) {
        byte[] b = valid.clone();
        switch (r.nextInt(5)) {
            case 0 -> {
                int flips = 1 + r.nextInt(8);
                for (int i = 0; i < flips && b.length > 0; i++) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                how[0] = flips + " bit flips";
            }
            case 1 -> {
                int n = r.nextInt(Math.max(1, b.length));
                b = Arrays.copyOf(b, n);
                how[0] = "truncated to " + n + " bytes";
            }
            case 2 -> {
                int width = r.nextBoolean() ? 4 : 8, room = Math.min(b.length, 256) - width;
                if (room <= 0) return b;
                int at = r.nextInt(room / width + 1) * width;
                long v = r.nextInt(4) == 0 ? r.nextLong() : BOUNDARY[r.nextInt(BOUNDARY.length)];
                ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                if (width == 4) bb.putInt(at, (int) v); else bb.putLong(at, v);
                how[0] = "the " + width + "-byte field at " + at + " set to " + (width == 4 ? (int) v : v);
            }
            case 3 -> {
                int from = r.nextInt(Math.max(1, b.length)), n = 1 + r.nextInt(Math.max(1, Math.min(64, b.length - from)));
                byte[] cut = new byte[Math.max(0, b.length - n)];
                System.arraycopy(b, 0, cut, 0, from);
                System.arraycopy(b, Math.min(b.length, from + n), cut, from, Math.max(0, b.length - from - n));
                b = cut;
                how[0] = n + " bytes cut at " + from;
            }
            default -> {
                int at = r.nextInt(b.length + 1), n = 1 + r.nextInt(16);
                byte[] grown = new byte[b.length + n];
                System.arraycopy(b, 0, grown, 0, at);
                for (int i = 0; i < n; i++) grown[at + i] = (byte) r.nextInt(256);
                System.arraycopy(b, at, grown, at + n, b.length - at);
                b = grown;
                how[0] = n + " random bytes inserted at " + at;
            }
        }
        return b;
    }

    private static final Object[] VALUES = {null, true, false, 0L, -1L, 1L, 3.5, -2.25, 1e300, Long.MAX_VALUE, Long.MIN_VALUE,
        (long) Integer.MAX_VALUE + 1, "", "x", "\u0000", List.of(), List.of(1L, "a"), Map.of(), Map.of("k", 1L)};

    /** The JSON tree with one value replaced by a value of another kind, or one key dropped. */
    public static byte[] mutateJson(Object tree, SplittableRandom r, String[] how) {
        Object copy = deepCopy(tree);
        List<Object[]> slots = new ArrayList<>(); // {container, key or index}
        collect(copy, slots);
        if (slots.isEmpty()) return Json.pretty(VALUES[r.nextInt(VALUES.length)]).getBytes(StandardCharsets.UTF_8);
        Object[] slot = slots.get(r.nextInt(slots.size()));
        boolean drop = slot[0] instanceof Map<?, ?> && r.nextInt(4) == 0;
        if (drop) {
            ((Map<?, ?>) slot[0]).remove(slot[1]);
            how[0] = "key " + slot[1] + " dropped";
        } else {
            Object v = VALUES[r.nextInt(VALUES.length)];
            set(slot, v);
            how[0] = slot[1] + " set to " + Json.write(v);
        }
        return Json.pretty(copy).getBytes(StandardCharsets.UTF_8);
    }

    @SuppressWarnings("unchecked")
    private static void set(Object[] slot, Object v) {
        if (slot[0] instanceof Map<?, ?> m) ((Map<String, Object>) m).put((String) slot[1], v);
        else ((List<Object>) slot[0]).set((Integer) slot[1], v);
    }

    private static void collect(Object v, List<Object[]> slots) {
        if (v instanceof Map<?, ?> m) {
            for (Object k : m.keySet()) {
                slots.add(new Object[] {m, k});
                collect(m.get(k), slots);
            }
        } else if (v instanceof List<?> l) {
            // Long arrays (merges, vocabularies) would swamp the choice; a few elements of each stand for the rest.
            for (int i = 0; i < Math.min(l.size(), 8); i++) {
                slots.add(new Object[] {l, i});
                collect(l.get(i), slots);
            }
        }
    }

    private static Object deepCopy(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> c = new LinkedHashMap<>();
            m.forEach((k, x) -> c.put((String) k, deepCopy(x)));
            return c;
        }
        if (v instanceof List<?> l) {
            List<Object> c = new ArrayList<>(l.size());
            for (Object x : l) c.add(deepCopy(x));
            return c;
        }
        return v;
    }
}
