package dev.cramjet.text;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Which part of a JSON record is the document's text. Syntax: parts joined by '+' (each becomes one or more
 * lines), each part a list of alternatives separated by '|' (the first present one wins), each alternative a
 * dotted path ({@code meta.body}, {@code items.0.text}). Example for chinese-poetry, where Tang poems have a
 * {@code title} and Song lyrics a {@code rhythmic}: {@code title|rhythmic+paragraphs}. A value must be a string
 * or an array of strings (its elements become lines); a number is an error rather than the text "123", since it is
 * almost always the wrong field (an id, a score).
 */
public final class FieldPath {
    private final String spec;
    private final List<List<String[]>> parts = new ArrayList<>();

    private FieldPath(String spec) {
        this.spec = spec;
        for (String part : spec.split("\\+")) {
            List<String[]> alternatives = new ArrayList<>();
            for (String alt : part.split("\\|")) {
                if (alt.isBlank()) throw new CramjetException("--field '" + spec + "': empty field name");
                alternatives.add(alt.strip().split("\\."));
            }
            parts.add(alternatives);
        }
    }

    public static FieldPath parse(String spec) { return new FieldPath(spec); }

    /** The text of {@code record}; a missing or ill-typed field is an error naming {@code where} and the field. */
    public String extract(Object record, String where) throws MissingField {
        StringBuilder sb = new StringBuilder();
        for (List<String[]> alternatives : parts) {
            Object v = null;
            for (String[] path : alternatives) {
                v = lookup(record, path);
                if (v != null) break;
            }
            if (v == null) {
                throw new MissingField(where + ": missing field '" + names(alternatives) + "' (expected "
                        + "a string or an array of strings" + presentKeys(record) + ")");
            }
            int before = sb.length();
            if (before > 0) sb.append('\n');
            Object wrong = append(sb, v);
            if (wrong != null) {
                throw new MissingField(where + ": field '" + names(alternatives) + "' is " + Json.kind(v)
                        + (wrong == v ? "" : " holding " + Json.kind(wrong)) + ", expected a string or an array of strings");
            }
            if (sb.length() == before + (before > 0 ? 1 : 0)) sb.setLength(before); // empty part adds no line
        }
        return sb.toString();
    }

    /**
     * A class label: one value, a string, an integer or a boolean (datasets write {@code "stars": 5} and
     * {@code "spam": true}); the first present alternative wins, and a '+' joins nothing here.
     */
    public String label(Object record, String where) throws MissingField {
        if (parts.size() != 1) throw new CramjetException("--label-field '" + spec + "': a label is one field, not parts joined by '+'");
        for (String[] path : parts.getFirst()) {
            Object v = lookup(record, path);
            switch (v) {
                case null -> { continue; }
                case String s -> { return s; }
                case Long n -> { return n.toString(); }
                case Boolean b -> { return b.toString(); }
                default -> throw new MissingField(where + ": field '" + names(parts.getFirst()) + "' is " + Json.kind(v)
                        + ", expected a label (a string, an integer or true/false)");
            }
        }
        throw new MissingField(where + ": missing field '" + names(parts.getFirst()) + "' (expected a label"
                + presentKeys(record) + ")");
    }

    private static Object lookup(Object v, String[] path) {
        for (String key : path) {
            if (v instanceof Map<?, ?> m) {
                v = m.get(key);
            } else if (v instanceof List<?> l && key.chars().allMatch(Character::isDigit) && !key.isEmpty()) {
                int i = Integer.parseInt(key);
                v = i < l.size() ? l.get(i) : null;
            } else {
                return null;
            }
            if (v == null) return null;
        }
        return v;
    }

    /** Appends a string or the lines of an array of them; returns the first value that is neither, or null. */
    private static Object append(StringBuilder sb, Object v) {
        if (v instanceof String s) {
            sb.append(s);
            return null;
        }
        if (!(v instanceof List<?> l)) return v;
        for (int i = 0; i < l.size(); i++) {
            if (i > 0) sb.append('\n');
            Object wrong = append(sb, l.get(i));
            if (wrong != null) return wrong;
        }
        return null;
    }

    private static String names(List<String[]> alternatives) {
        return String.join("|", alternatives.stream().map(p -> String.join(".", p)).toList());
    }

    private static String presentKeys(Object record) {
        if (record instanceof Map<?, ?> m) return "; the record has " + (m.isEmpty() ? "no keys" : "keys " + m.keySet());
        return "; the record is " + Json.kind(record);
    }

    @Override
    public String toString() { return spec; }

    /** A record lacks the field, or has it with the wrong type. */
    public static final class MissingField extends Exception {
        public MissingField(String message) { super(message, null, false, false); }
    }
}
