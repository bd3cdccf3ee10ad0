package dev.cramjet.io;

import dev.cramjet.CramjetException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader and writer (RFC 8259), enough for configs, safetensors headers, tokenizer.json and
 * metrics lines, so the jar needs no dependency. Values map to Java as: object → LinkedHashMap (key order kept),
 * array → ArrayList, string → String, number → Long when integral and in range, else Double; true/false → Boolean;
 * null → null. Parse errors name the source, line and column.
 */
public final class Json {
    private final String s;
    private final String source;
    private int i;

    private Json(String s, String source) { this.s = s; this.source = source; }

    /** Parses a whole document; {@code source} names it in errors (a file path, "line 12 of x.jsonl", …). */
    public static Object parse(String text, String source) {
        Json p = new Json(text, source);
        p.ws();
        Object v = p.value();
        p.ws();
        if (p.i != text.length()) throw p.error("unexpected text after the JSON value");
        return v;
    }

    // ---- reading ---------------------------------------------------------------------------------------------

    private Object value() {
        if (i >= s.length()) throw error("unexpected end of input, expected a value");
        char c = s.charAt(i);
        return switch (c) {
            case '{' -> object();
            case '[' -> array();
            case '"' -> string();
            case 't' -> literal("true", Boolean.TRUE);
            case 'f' -> literal("false", Boolean.FALSE);
            case 'n' -> literal("null", null);
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) yield number();
                throw error("unexpected character '" + c + "', expected a value");
            }
        };
    }

    private Map<String, Object> object() {
        Map<String, Object> m = new LinkedHashMap<>();
        i++;
        ws();
        if (peek() == '}') { i++; return m; }
        while (true) {
            ws();
            if (peek() != '"') throw error("expected a string key");
            String k = string();
            ws();
            expect(':');
            ws();
            m.put(k, value());
            ws();
            char c = next();
            if (c == '}') return m;
            if (c != ',') { i--; throw error("expected ',' or '}' in object"); }
        }
    }

    private List<Object> array() {
        List<Object> a = new ArrayList<>();
        i++;
        ws();
        if (peek() == ']') { i++; return a; }
        while (true) {
            ws();
            a.add(value());
            ws();
            char c = next();
            if (c == ']') return a;
            if (c != ',') { i--; throw error("expected ',' or ']' in array"); }
        }
    }

    private String string() {
        i++; // opening quote
        StringBuilder sb = null;
        int start = i;
        while (true) {
            if (i >= s.length()) throw error("unterminated string");
            char c = s.charAt(i);
            if (c == '"') {
                String out = sb == null ? s.substring(start, i) : sb.append(s, start, i).toString();
                i++;
                return out;
            }
            if (c == '\\') {
                if (sb == null) sb = new StringBuilder();
                sb.append(s, start, i);
                i++;
                if (i >= s.length()) throw error("unterminated escape");
                char e = s.charAt(i++);
                switch (e) {
                    case '"' -> sb.append('"');
                    case '\\' -> sb.append('\\');
                    case '/' -> sb.append('/');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'u' -> {
                        if (i + 4 > s.length()) throw error("truncated \\u escape");
                        try {
                            sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        } catch (NumberFormatException x) {
                            throw error("bad \\u escape");
                        }
                        i += 4;
                    }
                    default -> { i--; throw error("bad escape '\\" + e + "'"); }
                }
                start = i;
            } else if (c < 0x20) {
                throw error("control character in string (must be escaped)");
            } else {
                i++;
            }
        }
    }

    private Object number() {
        int start = i;
        if (peek() == '-') i++;
        while (i < s.length() && "0123456789".indexOf(s.charAt(i)) >= 0) i++;
        boolean integral = true;
        if (i < s.length() && s.charAt(i) == '.') { integral = false; i++; while (i < s.length() && Character.isDigit(s.charAt(i))) i++; }
        if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
            integral = false;
            i++;
            if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
            while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
        }
        String t = s.substring(start, i);
        try {
            if (integral && t.length() < 19) return Long.parseLong(t);
            return Double.parseDouble(t);
        } catch (NumberFormatException e) {
            i = start;
            throw error("bad number '" + t + "'");
        }
    }

    private Object literal(String word, Object v) {
        if (!s.startsWith(word, i)) throw error("unexpected token, expected a value");
        i += word.length();
        return v;
    }

    private void ws() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') i++;
            else break;
        }
    }

    private char peek() { return i < s.length() ? s.charAt(i) : '\0'; }

    private char next() {
        if (i >= s.length()) throw error("unexpected end of input");
        return s.charAt(i++);
    }

    private void expect(char c) {
        if (peek() != c) throw error("expected '" + c + "'");
        i++;
    }

    private CramjetException error(String what) {
        int line = 1, col = 1;
        for (int k = 0; k < Math.min(i, s.length()); k++) {
            if (s.charAt(k) == '\n') { line++; col = 1; } else col++;
        }
        return new CramjetException(source + ": invalid JSON at line " + line + ", column " + col + ": " + what);
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    /** Compact JSON for a value built from maps, lists, strings, numbers, booleans and null. */
    public static String write(Object v) {
        StringBuilder sb = new StringBuilder();
        write(sb, v, -1, 0);
        return sb.toString();
    }

    /** Indented JSON (two spaces), for files people read. */
    public static String pretty(Object v) {
        StringBuilder sb = new StringBuilder();
        write(sb, v, 2, 0);
        return sb.append('\n').toString();
    }

    private static void write(StringBuilder sb, Object v, int indent, int depth) {
        switch (v) {
            case null -> sb.append("null");
            case String str -> quote(sb, str);
            case Boolean b -> sb.append(b);
            case Double d -> number(sb, d);
            case Float f -> number(sb, f.doubleValue());
            case Number n -> sb.append(n.longValue());
            case Map<?, ?> m -> {
                sb.append('{');
                int k = 0;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (k++ > 0) sb.append(',');
                    newline(sb, indent, depth + 1);
                    quote(sb, String.valueOf(e.getKey()));
                    sb.append(indent >= 0 ? ": " : ":");
                    write(sb, e.getValue(), indent, depth + 1);
                }
                if (k > 0) newline(sb, indent, depth);
                sb.append('}');
            }
            case Iterable<?> it -> {
                sb.append('[');
                int k = 0;
                boolean flat = indent >= 0 && isFlat(it);
                for (Object o : it) {
                    if (k++ > 0) sb.append(flat ? ", " : ",");
                    if (!flat) newline(sb, indent, depth + 1);
                    write(sb, o, indent, depth + 1);
                }
                if (k > 0 && !flat) newline(sb, indent, depth);
                sb.append(']');
            }
            case int[] a -> { List<Object> l = new ArrayList<>(); for (int x : a) l.add((long) x); write(sb, l, indent, depth); }
            case long[] a -> { List<Object> l = new ArrayList<>(); for (long x : a) l.add(x); write(sb, l, indent, depth); }
            case double[] a -> { List<Object> l = new ArrayList<>(); for (double x : a) l.add(x); write(sb, l, indent, depth); }
            default -> throw new IllegalArgumentException("not a JSON value: " + v.getClass());
        }
    }

    private static boolean isFlat(Iterable<?> it) {
        for (Object o : it) if (o instanceof Map || o instanceof Iterable) return false;
        return true;
    }

    private static void newline(StringBuilder sb, int indent, int depth) {
        if (indent < 0) return;
        sb.append('\n');
        sb.repeat(' ', indent * depth);
    }

    private static void number(StringBuilder sb, double d) {
        if (Double.isNaN(d) || Double.isInfinite(d)) { sb.append("null"); return; }
        if (d == Math.rint(d) && Math.abs(d) < 1e15) sb.append((long) d).append(".0");
        else sb.append(d);
    }

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    // ---- typed access with errors that name the field -------------------------------------------------------

    @SuppressWarnings("unchecked")
    public static Map<String, Object> object(Object v, String what) {
        if (v instanceof Map<?, ?> m) return (Map<String, Object>) m;
        throw new CramjetException(what + ": expected a JSON object, got " + kind(v));
    }

    @SuppressWarnings("unchecked")
    public static List<Object> array(Object v, String what) {
        if (v instanceof List<?> l) return (List<Object>) l;
        throw new CramjetException(what + ": expected a JSON array, got " + kind(v));
    }

    public static String string(Object v, String what) {
        if (v instanceof String str) return str;
        throw new CramjetException(what + ": expected a string, got " + kind(v));
    }

    public static long integer(Object v, String what) {
        if (v instanceof Long l) return l;
        // A double beyond ±2^63 would clamp silently to Long.MAX_VALUE: out of range, not an integer we can use.
        if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 0x1p63) return d.longValue();
        throw new CramjetException(what + ": expected an integer, got " + (v instanceof Double d ? d.toString() : kind(v)));
    }

    public static double number(Object v, String what) {
        if (v instanceof Number n) return n.doubleValue();
        throw new CramjetException(what + ": expected a number, got " + kind(v));
    }

    public static String kind(Object v) {
        return switch (v) {
            case null -> "null";
            case Map<?, ?> m -> "an object";
            case List<?> l -> "an array";
            case String str -> "a string";
            case Boolean b -> "a boolean";
            case Number n -> "a number";
            default -> v.getClass().getSimpleName();
        };
    }
}
