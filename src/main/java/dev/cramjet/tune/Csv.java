package dev.cramjet.tune;

import dev.cramjet.CramjetException;

import java.util.ArrayList;
import java.util.List;

/**
 * Comma- or tab-separated records as RFC 4180 (and pandas, and spreadsheet exports) write them: a field may be
 * quoted, a quoted field may hold the delimiter, line breaks and doubled quotes (""), and a record ends at an
 * unquoted line break (LF or CRLF). Each record remembers the line it started on, for error messages.
 */
final class Csv {
    private Csv() {}

    record Row(long line, List<String> fields) {}

    static List<Row> parse(String text, char delimiter, String file) {
        List<Row> rows = new ArrayList<>();
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        long line = 1, start = 1;
        boolean quoted = false, wasQuoted = false, any = false;
        int n = text.length();
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c == '"') {
                    if (i + 1 < n && text.charAt(i + 1) == '"') { field.append('"'); i++; }
                    else quoted = false;
                } else {
                    if (c == '\n') line++;
                    field.append(c);
                }
                continue;
            }
            if (c == '"' && field.isEmpty() && !wasQuoted) {
                quoted = wasQuoted = any = true;
            } else if (c == delimiter) {
                fields.add(field.toString());
                field.setLength(0);
                wasQuoted = false;
                any = true;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') i++;
                if (any || !field.isEmpty()) {
                    fields.add(field.toString());
                    rows.add(new Row(start, List.copyOf(fields)));
                }
                fields.clear();
                field.setLength(0);
                wasQuoted = any = false;
                start = ++line;
            } else {
                if (wasQuoted) throw new CramjetException(file + ":" + line + ": text after a closing quote (a quote inside a field must be doubled: \"\")");
                field.append(c);
                any = true;
            }
        }
        if (quoted) throw new CramjetException(file + ":" + start + ": a quoted field is never closed");
        if (any || !field.isEmpty()) {
            fields.add(field.toString());
            rows.add(new Row(start, List.copyOf(fields)));
        }
        return rows;
    }
}
