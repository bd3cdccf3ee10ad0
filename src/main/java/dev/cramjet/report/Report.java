package dev.cramjet.report;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.io.TextFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The report of a run directory: {@code plots/loss.png}, {@code plots/lr.png} and a self-contained
 * {@code report.html} (the charts are embedded as data URIs, so the one file can be mailed or archived).
 * It reads the run's {@code metrics.jsonl} (schema in {@link Metrics}) and {@code config.json} (any JSON object;
 * nested keys are shown dotted), so it works on a finished run, a running one, or one that crashed.
 * The HTML has a summary (final and best losses, steps, tokens, time), the charts, throughput, the validation
 * results, the samples the trainer logged, its events (skipped steps, rollbacks, how the run ended) and the
 * configuration. A classifier's run adds its validation metrics curve ({@code plots/metrics.png}) and, once its
 * {@code test_metrics.json} is written, the test scores and confusion matrix ({@code plots/confusion.png}).
 */
public final class Report {
    private Report() {}

    /** Chart size in pixels: 16:9, sharp on a laptop screen and in a browser at full width. */
    static final int WIDTH = 1200, HEIGHT = 675;

    /** What {@link #write} produced. */
    public record Written(Path lossPng, Path lrPng, Path html) {}

    /** Regenerates the plots and the HTML report of {@code runDir}. */
    public static Written write(Path runDir) throws IOException {
        if (!Files.isDirectory(runDir)) throw new CramjetException(runDir + ": not a directory (expected a run directory)");
        Metrics metrics = Metrics.read(runDir.resolve("metrics.jsonl"));
        Map<String, Object> config = readConfig(runDir.resolve("config.json"));
        Path plots = runDir.resolve("plots");
        Path lossPng = plots.resolve("loss.png"), lrPng = plots.resolve("lr.png"), html = runDir.resolve("report.html");

        Map<String, Object> test = readConfig(runDir.resolve("test_metrics.json"));
        byte[] loss = null, lr = null, scores = null, confusion = null;
        String plotError = plotsMissing(ModuleLayer.boot());
        if (plotError == null) {
            try {
                loss = Plots.png(lossChart(metrics), WIDTH, HEIGHT);
                lr = Plots.png(lrChart(metrics), WIDTH, HEIGHT);
                if (metrics.evals().stream().anyMatch(e -> !e.others().isEmpty())) scores = Plots.png(metricsChart(metrics), WIDTH, HEIGHT);
                if (test.containsKey("confusion")) confusion = confusionPng(test);
            } catch (CramjetException e) {
                plotError = e.getMessage(); // no fonts on this machine: the report still has every number
            }
        }
        if (loss != null) {
            byte[] l = loss, r = lr;
            AtomicFile.writeStream(lossPng, out -> out.write(l));
            AtomicFile.writeStream(lrPng, out -> out.write(r));
        }
        if (scores != null) {
            byte[] s = scores;
            AtomicFile.writeStream(plots.resolve("metrics.png"), out -> out.write(s));
        }
        if (confusion != null) {
            byte[] c = confusion;
            AtomicFile.writeStream(plots.resolve("confusion.png"), out -> out.write(c));
        }
        String name = runDir.toAbsolutePath().normalize().getFileName().toString();
        AtomicFile.writeString(html, html(name, metrics, config, new Images(loss, lr, scores, confusion), test, plotError, Instant.now()));
        return new Written(loss == null ? null : lossPng, lr == null ? null : lrPng, html);
    }

    /**
     * Why this runtime cannot draw charts, or null when it can. The GPU bundle's runtime leaves out java.desktop
     * (AWT and ImageIO, a sixth of the bundle) to fit what may be sent to a GPU machine at once; Plots is only
     * touched when the module is there, so a run on such a runtime still gets its report with every number.
     */
    static String plotsMissing(ModuleLayer layer) {
        return layer.findModule("java.desktop").isPresent() ? null
                : "this Java runtime has no java.desktop module (the GPU bundle leaves it out); "
                  + "run `cramjet report RUN_DIR` with a full JDK to draw the PNG charts";
    }

    private static Map<String, Object> readConfig(Path file) throws IOException {
        if (!Files.exists(file)) return Map.of();
        String where = file.toString();
        return Json.object(Json.parse(TextFile.read(file, "run config"), where), where);
    }

    // ---- charts ----------------------------------------------------------------------------------------------

    /** Training loss (raw and smoothed) and validation loss against step, log scale, tokens on the top axis. */
    public static Plots.Chart lossChart(Metrics m) {
        int n = m.train().size();
        double[] step = new double[n], loss = new double[n];
        for (int i = 0; i < n; i++) {
            step[i] = m.train().get(i).step();
            loss[i] = m.train().get(i).loss();
        }
        double[] evalStep = m.evals().stream().mapToDouble(Metrics.Eval::step).toArray();
        double[] val = m.evals().stream().mapToDouble(Metrics.Eval::valLoss).toArray();
        List<Plots.Series> series = new ArrayList<>();
        double span = smoothingSpan(n);
        if (span < 2) {
            series.add(new Plots.Series("train loss", step, loss, Plots.BLUE, Plots.Style.LINE)); // too few steps to smooth
        } else {
            series.add(new Plots.Series("train loss", step, loss, Plots.BLUE, Plots.Style.FAINT));
            series.add(new Plots.Series("train loss (smoothed)", step, Plots.smooth(loss, span), Plots.BLUE, Plots.Style.LINE));
        }
        if (val.length > 0) series.add(new Plots.Series("validation loss", evalStep, val, Plots.VERMILION, Plots.Style.MARKERS));
        return new Plots.Chart("Loss", "step", "loss (nats/token)", true, series, "tokens", tokensPerStep(m));
    }

    /** The classifier's validation metrics (accuracy, macro-F1, ROC-AUC …) against step. */
    public static Plots.Chart metricsChart(Metrics m) {
        java.util.LinkedHashSet<String> keys = new java.util.LinkedHashSet<>();
        for (Metrics.Eval e : m.evals()) keys.addAll(e.others().keySet());
        double[] step = m.evals().stream().mapToDouble(Metrics.Eval::step).toArray();
        java.awt.Color[] colors = {Plots.BLUE, Plots.VERMILION, Plots.GREEN, Plots.PURPLE, Plots.ORANGE, Plots.SKY};
        List<Plots.Series> series = new ArrayList<>();
        int c = 0;
        for (String k : keys) {
            double[] y = m.evals().stream().mapToDouble(e -> e.others().getOrDefault(k, Double.NaN)).toArray();
            series.add(new Plots.Series(k.substring(4).replace('_', ' '), step, y, colors[c++ % colors.length], Plots.Style.MARKERS));
        }
        return new Plots.Chart("Validation metrics", "step", "score", false, series);
    }

    private static byte[] confusionPng(Map<String, Object> test) throws IOException {
        List<String> labels = new ArrayList<>();
        for (Object o : Json.array(test.get("labels"), "test_metrics.json: labels")) labels.add(Json.string(o, "test_metrics.json: labels[]"));
        List<Object> rows = Json.array(test.get("confusion"), "test_metrics.json: confusion");
        long[][] m = new long[rows.size()][];
        for (int i = 0; i < m.length; i++) {
            m[i] = Json.array(rows.get(i), "test_metrics.json: confusion[" + i + "]").stream()
                    .mapToLong(v -> Json.integer(v, "test_metrics.json: confusion")).toArray();
        }
        return ConfusionPlot.png(labels, m, "Confusion matrix on the test split");
    }

    /** Learning rate against step. */
    public static Plots.Chart lrChart(Metrics m) {
        double[] step = m.train().stream().mapToDouble(Metrics.Train::step).toArray();
        double[] lr = m.train().stream().mapToDouble(Metrics.Train::lr).toArray();
        return new Plots.Chart("Learning rate", "step", "learning rate",
                false, List.of(new Plots.Series("learning rate", step, lr, Plots.GREEN, Plots.Style.LINE)));
    }

    /** EMA span for n training steps: enough to see the trend through batch noise, short enough not to lag. */
    private static double smoothingSpan(int n) { return Math.clamp(n / 150.0, 1, 25); }

    /** Tokens per optimizer step from the last train record that has both, or 0 when unknown. */
    private static double tokensPerStep(Metrics m) {
        for (int i = m.train().size() - 1; i >= 0; i--) {
            Metrics.Train t = m.train().get(i);
            if (t.step() > 0 && t.tokens() > 0) return (double) t.tokens() / t.step();
        }
        return 0;
    }

    // ---- HTML ------------------------------------------------------------------------------------------------

    /** The report's PNGs; those a run does not have are null. */
    record Images(byte[] loss, byte[] lr, byte[] metrics, byte[] confusion) {}

    static String html(String name, Metrics m, Map<String, Object> config, Images images, Map<String, Object> test,
                       String plotError, Instant now) {
        StringBuilder h = new StringBuilder(64 * 1024);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
         .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
         .append("<title>Cramjet run ").append(esc(name)).append("</title>\n<style>\n").append(CSS).append("</style>\n</head>\n<body>\n");
        h.append("<h1>Cramjet run <code>").append(esc(name)).append("</code></h1>\n");
        h.append("<p class=\"sub\">Report generated ")
         .append(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC).format(now)).append("</p>\n");

        summary(h, m);

        h.append("<h2>Loss</h2>\n");
        if (images.loss() != null) {
            img(h, images.loss(), "training and validation loss by step");
            if (images.metrics() != null) {
                h.append("<h2>Validation metrics</h2>\n");
                img(h, images.metrics(), "validation metrics by step");
            }
            h.append("<h2>Learning rate</h2>\n");
            img(h, images.lr(), "learning rate by step");
        } else {
            h.append("<p class=\"warn\">Charts unavailable: ").append(esc(plotError)).append("</p>\n");
        }

        throughput(h, m);
        evals(h, m);
        test(h, test, images.confusion());
        samples(h, m);
        events(h, m);
        config(h, config);
        h.append("</body>\n</html>\n");
        return h.toString();
    }

    private static void summary(StringBuilder h, Metrics m) {
        List<String[]> cards = new ArrayList<>();
        if (!m.train().isEmpty()) {
            Metrics.Train last = m.train().getLast();
            double[] loss = m.train().stream().mapToDouble(Metrics.Train::loss).toArray();
            double span = smoothingSpan(loss.length);
            if (span < 2) {
                cards.add(new String[] {"final train loss", fixed(last.loss(), 3), ""});
            } else {
                double[] smooth = Plots.smooth(loss, span);
                cards.add(new String[] {"final train loss", fixed(smooth[smooth.length - 1], 3), "smoothed; last step " + fixed(last.loss(), 3)});
            }
            cards.add(new String[] {"steps", count(last.step()), ""});
            if (last.tokens() > 0) cards.add(new String[] {"tokens", compact(last.tokens()), ""});
            if (Double.isFinite(last.elapsedSeconds())) cards.add(new String[] {"training time", duration(last.elapsedSeconds()), ""});
        }
        Metrics.Eval best = bestEval(m);
        if (best != null) {
            cards.add(new String[] {"best validation loss", fixed(best.valLoss(), 3), "at step " + count(best.step())});
            if (Double.isFinite(best.valPpl())) cards.add(new String[] {"validation perplexity", fixed(best.valPpl(), 2), "at best loss"});
            if (Double.isFinite(best.valBpb())) cards.add(new String[] {"bits per byte", fixed(best.valBpb(), 3), "at best loss"});
        }
        if (cards.isEmpty()) {
            h.append("<p class=\"warn\">No training steps logged yet.</p>\n");
            return;
        }
        h.append("<div class=\"cards\">\n");
        for (String[] c : cards) {
            h.append("<div class=\"card\"><div class=\"k\">").append(esc(c[0])).append("</div><div class=\"v\">")
             .append(esc(c[1])).append("</div>");
            if (!c[2].isEmpty()) h.append("<div class=\"n\">").append(esc(c[2])).append("</div>");
            h.append("</div>\n");
        }
        h.append("</div>\n");
    }

    private static Metrics.Eval bestEval(Metrics m) {
        Metrics.Eval best = null;
        for (Metrics.Eval e : m.evals()) {
            if (Double.isFinite(e.valLoss()) && (best == null || e.valLoss() < best.valLoss())) best = e;
        }
        return best;
    }

    private static void throughput(StringBuilder h, Metrics m) {
        double[] tps = finite(m.train().stream().mapToDouble(Metrics.Train::tokensPerSecond).toArray());
        double[] mfu = finite(m.train().stream().mapToDouble(Metrics.Train::mfu).toArray());
        if (tps.length == 0 && mfu.length == 0) return;
        h.append("<h2>Throughput</h2>\n<table class=\"kv\">\n");
        if (tps.length > 0) {
            row(h, "tokens/s (median)", compact(percentile(tps, 0.5)));
            row(h, "tokens/s (10th – 90th percentile)", compact(percentile(tps, 0.1)) + " – " + compact(percentile(tps, 0.9)));
        }
        if (mfu.length > 0) row(h, "MFU (median)", fixed(100 * percentile(mfu, 0.5), 1) + "%");
        Metrics.Train last = m.train().getLast();
        if (last.tokens() > 0 && Double.isFinite(last.elapsedSeconds()) && last.elapsedSeconds() > 0) {
            row(h, "tokens/s (overall, including evaluation and checkpoints)", compact(last.tokens() / last.elapsedSeconds()));
        }
        h.append("</table>\n");
    }

    private static void evals(StringBuilder h, Metrics m) {
        if (m.evals().isEmpty()) return;
        java.util.LinkedHashSet<String> others = new java.util.LinkedHashSet<>();
        for (Metrics.Eval e : m.evals()) others.addAll(e.others().keySet());
        boolean lm = m.evals().stream().anyMatch(e -> Double.isFinite(e.valPpl()));
        h.append("<h2>Validation</h2>\n<table class=\"grid\">\n<tr><th>step</th><th>loss</th>");
        if (lm) h.append("<th>perplexity</th><th>bits/byte</th>");
        for (String k : others) h.append("<th>").append(esc(k.substring(4).replace('_', ' '))).append("</th>");
        h.append("</tr>\n");
        for (Metrics.Eval e : m.evals()) {
            h.append("<tr><td>").append(count(e.step())).append("</td><td>").append(fixed(e.valLoss(), 4)).append("</td>");
            if (lm) h.append("<td>").append(fixed(e.valPpl(), 2)).append("</td><td>").append(fixed(e.valBpb(), 4)).append("</td>");
            for (String k : others) h.append("<td>").append(fixed(e.others().getOrDefault(k, Double.NaN), 4)).append("</td>");
            h.append("</tr>\n");
        }
        h.append("</table>\n");
    }

    /** A classifier's scores on the test split (test_metrics.json), with its confusion matrix. */
    private static void test(StringBuilder h, Map<String, Object> test, byte[] confusion) {
        if (!test.containsKey("accuracy")) return;
        h.append("<h2>Test split</h2>\n<table class=\"kv\">\n");
        if (test.get("checkpoint") instanceof String c) row(h, "checkpoint", c);
        row(h, "examples", String.valueOf(test.get("examples")));
        row(h, "accuracy", fixed(Json.number(test.get("accuracy"), "accuracy"), 4));
        if (test.get("macro") instanceof Map<?, ?> mac && mac.get("f1") instanceof Number f) row(h, "macro-F1", fixed(f.doubleValue(), 4));
        if (test.get("roc_auc") instanceof Number auc) row(h, "ROC-AUC", fixed(auc.doubleValue(), 4));
        h.append("</table>\n");
        if (test.get("per_class") instanceof Map<?, ?> per) {
            h.append("<table class=\"grid\">\n<tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
            for (var e : per.entrySet()) {
                Map<String, Object> c = Json.object(e.getValue(), "per_class");
                h.append("<tr><td>").append(esc(String.valueOf(e.getKey()))).append("</td><td>").append(fixed(Json.number(c.get("precision"), "precision"), 4))
                 .append("</td><td>").append(fixed(Json.number(c.get("recall"), "recall"), 4)).append("</td><td>")
                 .append(fixed(Json.number(c.get("f1"), "f1"), 4)).append("</td><td>").append(String.valueOf(c.get("support"))).append("</td></tr>\n");
            }
            h.append("</table>\n");
        }
        if (confusion != null) img(h, confusion, "confusion matrix on the test split");
    }

    private static void samples(StringBuilder h, Metrics m) {
        if (m.samples().isEmpty()) return;
        h.append("<h2>Samples</h2>\n");
        for (Metrics.Sample s : m.samples()) {
            h.append("<div class=\"sample\"><div class=\"step\">step ").append(count(s.step())).append("</div><pre>");
            String p = s.prompt();
            if (p != null && !p.isEmpty() && s.text().startsWith(p)) {
                h.append("<b>").append(esc(p)).append("</b>").append(esc(s.text().substring(p.length())));
            } else {
                h.append(esc(s.text()));
            }
            h.append("</pre></div>\n");
        }
    }

    private static void events(StringBuilder h, Metrics m) {
        if (m.events().isEmpty()) return;
        h.append("<h2>Events</h2>\n<table class=\"kv\">\n");
        for (Metrics.Event e : m.events()) row(h, "step " + count(e.step()), e.message());
        h.append("</table>\n");
    }

    private static void config(StringBuilder h, Map<String, Object> config) {
        h.append("<h2>Configuration</h2>\n");
        if (config.isEmpty()) {
            h.append("<p class=\"warn\">No config.json in the run directory.</p>\n");
            return;
        }
        Map<String, String> flat = new LinkedHashMap<>();
        flatten("", config, flat);
        h.append("<table class=\"kv\">\n");
        flat.forEach((k, v) -> row(h, k, v));
        h.append("</table>\n");
    }

    private static void flatten(String prefix, Map<String, Object> map, Map<String, String> out) {
        for (Map.Entry<String, Object> e : map.entrySet()) {
            String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            if (e.getValue() instanceof Map<?, ?> inner) flatten(key, Json.object(inner, key), out);
            else if (e.getValue() instanceof String s) out.put(key, s);
            else if (e.getValue() instanceof Double d) out.put(key, d.toString().replace('E', 'e'));
            else out.put(key, Json.write(e.getValue()));
        }
    }

    private static void row(StringBuilder h, String k, String v) {
        h.append("<tr><th>").append(esc(k)).append("</th><td>").append(esc(v)).append("</td></tr>\n");
    }

    private static void img(StringBuilder h, byte[] png, String alt) {
        h.append("<img src=\"data:image/png;base64,").append(Base64.getEncoder().encodeToString(png))
         .append("\" alt=\"").append(esc(alt)).append("\">\n");
    }

    // ---- formatting ------------------------------------------------------------------------------------------

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    private static String fixed(double v, int decimals) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%." + decimals + "f", v) : "–";
    }

    private static String count(long v) { return String.format(Locale.ROOT, "%,d", v); }

    /** 1234 → "1.23k", 5.6e6 → "5.60M". */
    static String compact(double v) {
        if (!Double.isFinite(v)) return "–";
        double a = Math.abs(v);
        if (a >= 1e9) return String.format(Locale.ROOT, "%.2fB", v / 1e9);
        if (a >= 1e6) return String.format(Locale.ROOT, "%.2fM", v / 1e6);
        if (a >= 1e3) return String.format(Locale.ROOT, "%.2fk", v / 1e3);
        return String.format(Locale.ROOT, "%.1f", v);
    }

    /** Seconds as "1h 02m 03s", "4m 05s" or "6.0s". */
    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) return String.format(Locale.ROOT, "%dh %02dm %02ds", s / 3600, s % 3600 / 60, s % 60);
        if (s >= 60) return String.format(Locale.ROOT, "%dm %02ds", s / 60, s % 60);
        return String.format(Locale.ROOT, "%.1fs", seconds);
    }

    private static double[] finite(double[] v) { return Arrays.stream(v).filter(Double::isFinite).toArray(); }

    private static double percentile(double[] v, double q) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[(int) Math.min(s.length - 1, Math.round(q * (s.length - 1)))];
    }

    private static final String CSS = """
            body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
                   max-width: 1240px; margin: 2em auto; padding: 0 1.5em; }
            h1 { font-size: 1.6em; margin-bottom: 0.1em; }
            h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
            code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
            .sub { color: #777; margin-top: 0; }
            .warn { color: #a0522d; }
            .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 1.5em 0; }
            .card { border: 1px solid #e2e2e2; border-radius: 8px; padding: 10px 16px; min-width: 150px; background: #fafafa; }
            .card .k { color: #666; font-size: 0.85em; }
            .card .v { font-size: 1.5em; font-weight: 600; }
            .card .n { color: #888; font-size: 0.8em; }
            img { width: 100%; max-width: 1200px; border: 1px solid #eee; border-radius: 6px; }
            table { border-collapse: collapse; margin: 0.5em 0; }
            table.kv th { text-align: left; font-weight: normal; color: #555; padding: 3px 24px 3px 0; vertical-align: top; }
            table.kv td { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; padding: 3px 0; }
            table.grid th, table.grid td { padding: 4px 14px; border-bottom: 1px solid #eee; text-align: right; }
            table.grid th { color: #555; font-weight: 600; }
            .sample { margin: 1em 0; }
            .sample .step { color: #777; font-size: 0.85em; }
            .sample pre { white-space: pre-wrap; background: #f6f6f4; border-left: 3px solid #0072B2; padding: 10px 14px;
                          margin: 0.3em 0; font: 14px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
            """;
}
