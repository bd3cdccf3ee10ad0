package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Cleaner;
import dev.cramjet.text.CleaningOptions;
import dev.cramjet.text.Document;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A classification task on disk: the label set and a train/validation/test split, so a result can be reproduced
 * and the baseline, the model and {@code cramjet eval} all see the same examples.
 * <pre>
 *   labels.json                  {"labels": ["ham", "spam"]} — sorted; class id = position
 *   train.jsonl val.jsonl test.jsonl   {"text": …, "label": …, "source": …} per line
 *   task.json                    where it came from, the split's settings and counts, what was dropped
 * </pre>
 * {@link #split} tidies each text (control characters, NFC, white space — HTML is kept: in mail it is signal),
 * drops exact and near duplicates (MinHash similarity ≥ {@code nearDup}) keeping the first, so no text is on both
 * sides of the split, and then splits each label's groups in the order of a seeded hash of their content: the
 * first ones to test until it holds its fraction of the label's examples, the next to validation, the rest to
 * training. The split is stratified (every label in its proportion) and depends only on the content and the seed.
 */
public final class TaskData {
    public static final String LABELS = "labels.json", SUMMARY = "task.json";
    public static final List<String> SPLITS = List.of("train", "val", "test");

    public record Settings(double valFraction, double testFraction, long seed, double nearDup) {
        public Settings {
            if (!(valFraction >= 0 && testFraction >= 0 && valFraction + testFraction < 1)) {
                throw new CramjetException("--val-fraction and --test-fraction must be >= 0 and sum to less than 1, got "
                        + valFraction + " and " + testFraction);
            }
            if (!(nearDup == 0 || (nearDup > 0 && nearDup <= 1))) throw new CramjetException("--near-dup must be in (0, 1], or 0 (off), got " + nearDup);
        }
    }

    public final List<String> labels;
    public final Map<String, List<Example>> splits;
    public final Map<String, Object> summary;

    private TaskData(List<String> labels, Map<String, List<Example>> splits, Map<String, Object> summary) {
        this.labels = List.copyOf(labels);
        this.splits = splits;
        this.summary = summary;
    }

    public List<Example> train() { return splits.get("train"); }

    public List<Example> val() { return splits.get("val"); }

    public List<Example> test() { return splits.get("test"); }

    /** The class id of a label, or an error naming where it was met. */
    public int classOf(String label, String where) {
        int id = labels.indexOf(label);
        if (id < 0) throw new CramjetException(where + ": label '" + label + "' is not one of the task's " + labels);
        return id;
    }

    /** Tidies, deduplicates and splits {@code examples}; {@code origin} says in task.json where they came from. */
    public static TaskData split(List<Example> examples, Settings s, String origin, BadInput bad) {
        if (examples.isEmpty()) throw new CramjetException(origin + ": no labelled examples");
        CleaningOptions o = new CleaningOptions().html(false).maxCompression(0).nearDuplicate(s.nearDup());
        Cleaner cleaner = new Cleaner(o);
        List<Document> docs = new ArrayList<>(examples.size());
        for (int i = 0; i < examples.size(); i++) docs.add(new Document(examples.get(i).text(), Integer.toString(i)));
        List<Cleaner.Kept> kept = cleaner.clean(docs);
        Map<String, List<Example>> byLabel = new TreeMap<>();
        Map<Example, Long> prints = new java.util.IdentityHashMap<>();
        for (Cleaner.Kept k : kept) {
            Example e = examples.get(Integer.parseInt(k.document().source()));
            Example tidy = new Example(k.document().text(), e.label(), e.source(), e.group());
            prints.put(tidy, e.group() == null ? k.fingerprint() : Cleaner.fingerprint(e.group()));
            byLabel.computeIfAbsent(e.label(), x -> new ArrayList<>()).add(tidy);
        }
        if (byLabel.size() < 2) throw new CramjetException(origin + ": a classifier needs at least two labels, found " + byLabel.keySet());
        Map<String, List<Example>> splits = new LinkedHashMap<>();
        for (String name : SPLITS) splits.put(name, new ArrayList<>());
        Map<String, Object> counts = new LinkedHashMap<>();
        long salt = Hash.mix(s.seed());
        for (var entry : byLabel.entrySet()) {
            // Groups in hash order; a group's examples stay together.
            Map<Long, List<Example>> groups = new TreeMap<>(Comparator.comparingLong((Long g) -> Hash.mix(g ^ salt)).thenComparing(g -> g));
            for (Example e : entry.getValue()) groups.computeIfAbsent(prints.get(e), g -> new ArrayList<>()).add(e);
            int n = entry.getValue().size();
            long testTarget = Math.round(n * s.testFraction()), valTarget = Math.round(n * s.valFraction());
            int[] c = new int[3];
            for (List<Example> g : groups.values()) {
                int to = c[2] < testTarget ? 2 : c[1] < valTarget ? 1 : 0;
                splits.get(SPLITS.get(to)).addAll(g);
                c[to] += g.size();
            }
            Map<String, Object> perSplit = new LinkedHashMap<>();
            for (int k = 0; k < 3; k++) perSplit.put(SPLITS.get(k), (long) c[k]);
            counts.put(entry.getKey(), perSplit);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("origin", origin);
        summary.put("seed", s.seed());
        summary.put("val_fraction", s.valFraction());
        summary.put("test_fraction", s.testFraction());
        summary.put("near_dup", s.nearDup());
        summary.put("read", (long) examples.size());
        summary.put("bad_skipped", bad.skipped());
        var report = cleaner.report();
        summary.put("empty_dropped", report.step("length").dropped());
        summary.put("exact_duplicates_dropped", report.step("exact duplicates").dropped());
        summary.put("near_duplicates_dropped", s.nearDup() > 0 ? report.step("near duplicates").dropped() : 0L);
        summary.put("counts", counts);
        return new TaskData(new ArrayList<>(byLabel.keySet()), splits, summary);
    }

    /** Writes the task into {@code dir} (each file atomically; labels.json last, so a task dir with it is whole). */
    public void write(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (String name : SPLITS) {
            StringBuilder sb = new StringBuilder();
            for (Example e : splits.get(name)) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("text", e.text());
                m.put("label", e.label());
                m.put("source", e.source());
                sb.append(Json.write(m)).append('\n');
            }
            AtomicFile.writeString(dir.resolve(name + ".jsonl"), sb.toString());
        }
        AtomicFile.writeString(dir.resolve(SUMMARY), Json.pretty(summary));
        AtomicFile.writeString(dir.resolve(LABELS), Json.pretty(Map.of("labels", labels)));
    }

    /** True when {@code dir} holds a written task (its labels.json). */
    public static boolean isTaskDir(Path dir) { return Files.isRegularFile(dir.resolve(LABELS)); }

    /** Reads a task directory back, checking every label against labels.json. */
    public static TaskData read(Path dir) throws IOException {
        List<String> labels = readLabels(dir.resolve(LABELS));
        Map<String, List<Example>> splits = new LinkedHashMap<>();
        for (String name : SPLITS) {
            Path f = dir.resolve(name + ".jsonl");
            if (!Files.isRegularFile(f)) throw new CramjetException(f + ": missing (a task directory holds train, val and test .jsonl)");
            List<Example> list = new LabelledReader("text", "label", new BadInput(false)).read(List.of(f.toString()));
            for (Example e : list) {
                if (!labels.contains(e.label())) throw new CramjetException(e.source() + ": label '" + e.label() + "' is not in " + dir.resolve(LABELS));
            }
            splits.put(name, list);
        }
        Path sf = dir.resolve(SUMMARY);
        Map<String, Object> summary = Files.isRegularFile(sf) ? Json.object(Json.parse(Files.readString(sf), sf.toString()), sf.toString()) : Map.of();
        return new TaskData(labels, splits, summary);
    }

    /** The label list of a labels.json (a task's or a classifier's). */
    public static List<String> readLabels(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new CramjetException(file + ": missing (it lists the task's labels)");
        Map<String, Object> m = Json.object(Json.parse(Files.readString(file), file.toString()), file.toString());
        List<String> labels = new ArrayList<>();
        for (Object o : Json.array(m.get("labels"), file + ": labels")) labels.add(Json.string(o, file + ": labels[]"));
        if (labels.size() < 2 || new TreeSet<>(labels).size() != labels.size()) {
            throw new CramjetException(file + ": labels must be at least two distinct names, got " + labels);
        }
        return labels;
    }
}
