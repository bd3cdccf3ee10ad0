package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.CorpusReader;
import dev.cramjet.text.FieldPath;
import dev.cramjet.text.Inputs;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * Reads labelled texts from what users have:
 * <ul>
 * <li>JSONL ({@code .jsonl}, {@code .ndjson}) and JSON arrays ({@code .json}): a text field and a label field,
 *     as field paths like {@code prepare}'s ({@code review.body}, {@code title+body}); a label is a string or a
 *     number;</li>
 * <li>CSV ({@code .csv}) and TSV ({@code .tsv}, {@code .tab}) with a header row: the text and label columns by
 *     name, or by 1-based number;</li>
 * <li>a directory with one subdirectory per label ({@code spam/…}, {@code ham/…}): every file below a label's
 *     directory is one text of that label (mail as {@code .eml} is parsed; other files are text).</li>
 * </ul>
 * {@code .gz} files are decompressed. A bad row (invalid JSON, a missing field, an empty label, a short CSV row)
 * goes to {@link BadInput}: an error naming the file and line, or counted and skipped with --skip-bad.
 */
public final class LabelledReader {
    private final FieldPath textField, labelField;
    private final String textName, labelName;
    private final BadInput bad;

    public LabelledReader(String textField, String labelField, BadInput bad) {
        this.textName = textField;
        this.labelName = labelField;
        this.textField = FieldPath.parse(textField);
        this.labelField = FieldPath.parse(labelField);
        this.bad = bad;
    }

    public BadInput bad() { return bad; }

    /** Every example of the inputs (files, directories, globs), in input order. */
    public List<Example> read(List<String> inputs) throws IOException {
        List<Example> out = new ArrayList<>();
        for (String spec : inputs) {
            Path p = Path.of(spec);
            if (Files.isDirectory(p) && perLabel(p)) {
                readLabelDirs(p, out);
                continue;
            }
            for (Path f : Inputs.expand(List.of(spec), false).files()) readFile(f, out);
        }
        return out;
    }

    /** A directory of label directories: subdirectories and no files of its own. */
    private static boolean perLabel(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> entries = s.filter(e -> !e.getFileName().toString().startsWith(".")).toList();
            return !entries.isEmpty() && entries.stream().allMatch(Files::isDirectory);
        }
    }

    private void readLabelDirs(Path dir, List<Example> out) throws IOException {
        List<Path> labels;
        try (Stream<Path> s = Files.list(dir)) {
            labels = s.filter(e -> !e.getFileName().toString().startsWith(".")).sorted().toList();
        }
        for (Path labelDir : labels) {
            String label = labelDir.getFileName().toString();
            List<Path> files = Inputs.expand(List.of(labelDir.toString()), true).files();   // every file is an example
            new CorpusReader(null, null, bad).read(files, d -> out.add(new Example(d.text(), label, d.source())));
        }
    }

    private void readFile(Path f, List<Example> out) throws IOException {
        String name = f.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".gz")) name = name.substring(0, name.length() - 3);
        String text = decode(f);
        if (text == null) return;
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) readJsonLines(f, text, out);
        else if (name.endsWith(".json")) readJsonArray(f, text, out);
        else if (name.endsWith(".csv")) readTable(f, text, ',', out);
        else if (name.endsWith(".tsv") || name.endsWith(".tab")) readTable(f, text, '\t', out);
        else throw new CramjetException(f + ": unknown labelled-data format (expected .jsonl, .json, .csv or .tsv, "
                + "or a directory with one subdirectory per label)");
    }

    private String decode(Path f) throws IOException {
        byte[] raw;
        try (InputStream in = f.toString().endsWith(".gz") ? new GZIPInputStream(Files.newInputStream(f)) : Files.newInputStream(f)) {
            raw = in.readAllBytes();
        }
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(raw)).toString();
            return s.startsWith("\uFEFF") ? s.substring(1) : s;
        } catch (CharacterCodingException e) {
            bad.report(f + ": not valid UTF-8; expected UTF-8 text");
            return null;
        }
    }

    private void readJsonLines(Path f, String text, List<Example> out) {
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) continue;
            String where = f + ":" + (i + 1);
            Object rec;
            try {
                rec = Json.parse(lines[i], where);
            } catch (CramjetException e) {
                bad.report(e.getMessage());
                continue;
            }
            record(rec, where, out);
        }
    }

    private void readJsonArray(Path f, String text, List<Example> out) {
        Object root;
        try {
            root = Json.parse(text, f.toString());
        } catch (CramjetException e) {
            bad.report(e.getMessage());
            return;
        }
        if (!(root instanceof List<?> records)) {
            bad.report(f + ": expected a JSON array of records, got " + Json.kind(root));
            return;
        }
        for (int i = 0; i < records.size(); i++) record(records.get(i), f + "[" + i + "]", out);
    }

    private void record(Object rec, String where, List<Example> out) {
        String text, label;
        try {
            text = textField.extract(rec, where);
            label = labelField.label(rec, where);
        } catch (FieldPath.MissingField e) {
            bad.report(e.getMessage());
            return;
        }
        add(text, label, where, out);
    }

    private void readTable(Path f, String text, char delimiter, List<Example> out) {
        List<Csv.Row> rows = Csv.parse(text, delimiter, f.toString());
        if (rows.isEmpty()) throw new CramjetException(f + ": empty (expected a header row naming the columns)");
        List<String> header = rows.getFirst().fields();
        int t = column(header, textName, f), l = column(header, labelName, f);
        for (Csv.Row r : rows.subList(1, rows.size())) {
            String where = f + ":" + r.line();
            if (r.fields().size() <= Math.max(t, l)) {
                bad.report(where + ": has " + r.fields().size() + " field(s), expected at least " + (Math.max(t, l) + 1)
                        + " (the header has " + header.size() + ")");
                continue;
            }
            add(r.fields().get(t), r.fields().get(l), where, out);
        }
    }

    private static int column(List<String> header, String name, Path f) {
        int i = header.indexOf(name);
        if (i >= 0) return i;
        if (name.matches("[1-9][0-9]*") && Integer.parseInt(name) <= header.size()) return Integer.parseInt(name) - 1;
        throw new CramjetException(f + ": no column '" + name + "' in the header " + header + " (give a name or a 1-based number)");
    }

    private void add(String text, String label, String where, List<Example> out) {
        String l = label.strip();
        if (l.isEmpty()) {
            bad.report(where + ": the label is empty");
            return;
        }
        if (text.isBlank()) {
            bad.report(where + ": the text is empty");
            return;
        }
        out.add(new Example(text, l, where));
    }
}
