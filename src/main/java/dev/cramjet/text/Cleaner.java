package dev.cramjet.text;

import dev.cramjet.Hash;

import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;
import java.util.zip.Deflater;

/**
 * The cleaning pipeline. Per-document steps (normalization, control characters, HTML, whitespace, case, stop
 * words, length and compression filters) run in parallel over a batch; the duplicate filters then run in corpus
 * order, so the output is the same whatever the thread count. Every step counts documents in, out and changed.
 * Order: controls → HTML → Unicode → whitespace → lower-case → stop words → length → compression → exact
 * duplicates → near duplicates (cheap filters first, so the duplicate indexes only hold survivors).
 */
public final class Cleaner {
    /** A surviving document and a 64-bit fingerprint of its cleaned text (for exact dedup and the data split). */
    public record Kept(Document document, long fingerprint) {}

    /** A per-document step: returns the new text, or null to drop the document. */
    private record Step(String name, UnaryOperator<String> apply) {}

    private final List<Step> steps = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();
    private final LongSet exact;
    private final NearDuplicates near;
    /** Per step (per-document steps, then exact, then near): in, out, changed, chars in, chars out. */
    private final AtomicLongArray counts;
    /** Per step, the sources of the first documents it dropped (in corpus order), for the report. */
    private final List<List<String>> droppedExamples = new ArrayList<>();
    private static final int EXAMPLES = 5;

    public Cleaner(CleaningOptions o) {
        if (o.controls()) steps.add(new Step("control chars", Cleaner::controls));
        if (o.html()) steps.add(new Step("html", Html::strip));
        switch (o.normalization()) {
            case NFC -> steps.add(new Step("unicode NFC", s -> Normalizer.normalize(s, Normalizer.Form.NFC)));
            case NFKC -> steps.add(new Step("unicode NFKC", s -> Normalizer.normalize(s, Normalizer.Form.NFKC)));
            case NONE -> { }
        }
        if (o.whitespace()) steps.add(new Step("whitespace", Cleaner::whitespace));
        if (o.lowercase()) {
            steps.add(new Step("lower-case", s -> s.toLowerCase(Locale.ROOT)));
            warnings.add("lower-casing is on: fine for classic NLP, but a language model trained on it cannot write capitals");
        }
        if (o.stopWords()) {
            steps.add(new Step("stop words", s -> StopWords.remove(s, StopWords.ENGLISH)));
            warnings.add("stop-word removal is on: fine for bag-of-words uses, but it breaks the grammar a language model learns");
        }
        int min = o.minChars(), max = o.maxChars();
        steps.add(new Step("length", s -> {
            int n = s.codePointCount(0, s.length());
            return n < min || (max > 0 && n > max) ? null : s;
        }));
        if (o.maxCompression() > 0) {
            double limit = o.maxCompression();
            int minBytes = o.compressionMinBytes();
            steps.add(new Step("compression ratio", s -> compressionRatio(s, minBytes) > limit ? null : s));
        }
        exact = o.exactDedup() ? new LongSet() : null;
        near = o.nearDuplicate() > 0 ? new NearDuplicates(o.nearDuplicate()) : null;
        counts = new AtomicLongArray(5 * (steps.size() + 2));
        for (int k = 0; k < steps.size() + 2; k++) droppedExamples.add(new ArrayList<>());
    }

    /** Cleans a batch; returns the survivors in input order. Call batches in corpus order (dedup remembers). */
    public List<Kept> clean(List<Document> batch) {
        int n = batch.size();
        String[] texts = new String[n];
        long[] prints = new long[n];
        short[][] sigs = near != null ? new short[n][] : null;
        int[] droppedAt = new int[n];
        IntStream.range(0, n).parallel().forEach(i -> {
            String s = batch.get(i).text();
            for (int k = 0; k < steps.size() && s != null; k++) {
                String t = steps.get(k).apply.apply(s);
                count(k, s, t);
                if (t == null) droppedAt[i] = k;
                s = t;
            }
            texts[i] = s;
            if (s != null) {
                prints[i] = fingerprint(s);
                if (sigs != null) sigs[i] = NearDuplicates.signature(s);
            }
        });
        List<Kept> out = new ArrayList<>();
        int ex = steps.size(), nr = ex + 1;
        for (int i = 0; i < n; i++) {
            String s = texts[i], source = batch.get(i).source();
            if (s == null) {
                example(droppedAt[i], source);
                continue;
            }
            if (exact != null) {
                boolean fresh = exact.add(prints[i]);
                count(ex, s, fresh ? s : null);
                if (!fresh) { example(ex, source); continue; }
            }
            if (near != null) {
                boolean dup = near.seen(sigs[i]);
                count(nr, s, dup ? null : s);
                if (dup) { example(nr, source); continue; }
            }
            out.add(new Kept(new Document(s, batch.get(i).source()), prints[i]));
        }
        return out;
    }

    private void example(int step, String source) {
        List<String> l = droppedExamples.get(step);
        if (l.size() < EXAMPLES) l.add(source);
    }

    private void count(int step, String in, String out) {
        int b = 5 * step;
        counts.incrementAndGet(b);
        counts.addAndGet(b + 3, in.length());
        if (out != null) {
            counts.incrementAndGet(b + 1);
            counts.addAndGet(b + 4, out.length());
            if (!out.equals(in)) counts.incrementAndGet(b + 2);
        }
    }

    public CleaningReport report() {
        List<CleaningReport.StepCount> list = new ArrayList<>();
        for (int k = 0; k < steps.size(); k++) list.add(stepCount(steps.get(k).name, k));
        if (exact != null) list.add(stepCount("exact duplicates", steps.size()));
        if (near != null) list.add(stepCount("near duplicates", steps.size() + 1));
        return new CleaningReport(list, List.copyOf(warnings));
    }

    private CleaningReport.StepCount stepCount(String name, int k) {
        int b = 5 * k;
        return new CleaningReport.StepCount(name, counts.get(b), counts.get(b + 1), counts.get(b + 2), counts.get(b + 3),
                counts.get(b + 4), List.copyOf(droppedExamples.get(k)));
    }

    public List<String> warnings() { return List.copyOf(warnings); }

    // ---- the steps --------------------------------------------------------------------------------------------

    /** Drops control characters except newline and tab; CR LF and lone CR become LF. */
    static String controls(String s) {
        int i = 0;
        while (i < s.length() && !isControl(s.charAt(i))) i++;
        if (i == s.length()) return s;
        StringBuilder sb = new StringBuilder(s.length()).append(s, 0, i);
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\r') {
                if (i + 1 < s.length() && s.charAt(i + 1) == '\n') continue;
                sb.append('\n');
            } else if (!isControl(c)) {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static boolean isControl(char c) {
        return (c < 0x20 && c != '\n' && c != '\t') || (c >= 0x7f && c <= 0x9f);
    }

    /**
     * Runs of spaces and tabs (and other horizontal white space) become one space; lines lose leading and trailing
     * white space; more than one blank line in a row becomes one; the document is trimmed.
     */
    static String whitespace(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        int newlines = 0;
        boolean pendingSpace = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n') {
                pendingSpace = false;
                newlines++;
            } else if (Character.isWhitespace(c) || c == '\u00A0') {
                pendingSpace = true;
            } else {
                if (!sb.isEmpty()) {
                    if (newlines > 0) sb.append(newlines > 1 ? "\n\n" : "\n");
                    else if (pendingSpace) sb.append(' ');
                }
                newlines = 0;
                pendingSpace = false;
                sb.append(c);
            }
        }
        return sb.length() == s.length() && sb.toString().equals(s) ? s : sb.toString();
    }

    /** Raw UTF-8 bytes over deflated bytes; 1 for documents too short to judge. */
    static double compressionRatio(String s, int minBytes) {
        byte[] raw = s.getBytes(StandardCharsets.UTF_8);
        if (raw.length < minBytes) return 1;
        Deflater d = new Deflater(Deflater.BEST_SPEED, true);
        try {
            d.setInput(raw);
            d.finish();
            byte[] buf = new byte[raw.length + 64];
            int total = 0;
            while (!d.finished()) total += d.deflate(buf);
            return raw.length / (double) Math.max(1, total);
        } finally {
            d.end();
        }
    }

    /** A 64-bit fingerprint of a text: FNV-style over the chars, finished with SplitMix64's mixer. */
    public static long fingerprint(String s) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < s.length(); i++) h = (h ^ s.charAt(i)) * 0x100000001B3L;
        return Hash.mix(h ^ s.length());
    }
}
