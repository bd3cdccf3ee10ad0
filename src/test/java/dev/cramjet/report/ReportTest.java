package dev.cramjet.report;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.*;

class ReportTest {
    private static Path run(Path dir, boolean truncatedTail) throws Exception {
        List<String> lines = new ArrayList<>();
        for (int step = 1; step <= 100; step++) {
            lines.add(String.format(Locale.ROOT, "{\"type\":\"train\",\"step\":%d,\"tokens\":%d,\"loss\":%s,\"lr\":%s,"
                    + "\"grad_norm\":0.9,\"tokens_per_s\":50000.0,\"mfu\":0.35,\"elapsed_s\":%s,\"accum\":1}",
                    step, step * 4096L, 10 * Math.exp(-step / 30.0) + 3, 6e-4 * Math.min(1, step / 10.0), step * 0.5));
            if (step % 50 == 0) {
                double loss = 3.5 + 10.0 / step;
                lines.add(String.format(Locale.ROOT, "{\"type\":\"eval\",\"step\":%d,\"val_loss\":%s,\"val_ppl\":%s,\"val_bpb\":1.25}",
                        step, loss, Math.exp(loss)));
            }
        }
        lines.add("{\"type\":\"sample\",\"step\":100,\"prompt\":\"Once upon\",\"text\":\"Once upon a <time> & 中文\"}");
        lines.add("{\"type\":\"event\",\"step\":100,\"message\":\"run ended: budget\"}");
        lines.add("{\"type\":\"checkpoint\",\"step\":100,\"path\":\"x\"}"); // unknown types are skipped
        String text = String.join("\n", lines) + "\n" + (truncatedTail ? "{\"type\":\"train\",\"st" : "");
        Files.writeString(dir.resolve("metrics.jsonl"), text);
        Files.writeString(dir.resolve("config.json"), "{\"model\": {\"n_layer\": 4, \"n_embd\": 128}, \"lr\": 0.0006, \"name\": \"tiny<run>\"}");
        return dir;
    }

    @Test
    void readsEveryRecordTypeAndIgnoresACrashTruncatedLastLine(@TempDir Path dir) throws Exception {
        Metrics m = Metrics.read(run(dir, true).resolve("metrics.jsonl"));
        assertEquals(100, m.train().size());
        assertEquals(2, m.evals().size());
        assertEquals(1, m.samples().size());
        Metrics.Train t = m.train().get(9);
        assertEquals(10, t.step());
        assertEquals(40960, t.tokens());
        assertEquals(6e-4, t.lr(), 1e-15);
        assertEquals(5.0, t.elapsedSeconds());
        assertEquals("Once upon", m.samples().getFirst().prompt());
        assertEquals(List.of(new Metrics.Event(100, "run ended: budget")), m.events());
    }

    @Test
    void aBadLineInTheMiddleNamesFileAndLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("metrics.jsonl");
        Files.writeString(f, "{\"type\":\"train\",\"step\":1,\"loss\":2}\n{oops\n{\"type\":\"train\",\"step\":2,\"loss\":2}\n");
        CramjetException e = assertThrows(CramjetException.class, () -> Metrics.read(f));
        assertTrue(e.getMessage().startsWith(f + " line 2"), e.getMessage());
        Files.writeString(f, "{\"type\":\"train\",\"loss\":2}\n{\"type\":\"train\",\"step\":2}\n");
        e = assertThrows(CramjetException.class, () -> Metrics.read(f));
        assertTrue(e.getMessage().contains("line 1 field \"step\""), e.getMessage());
    }

    @Test
    void writesPlotsAndASelfContainedHtmlReport(@TempDir Path dir) throws Exception {
        Report.Written w = Report.write(run(dir, false));
        assertEquals(dir.resolve("plots/loss.png"), w.lossPng());
        assertEquals(Report.WIDTH, ImageIO.read(w.lossPng().toFile()).getWidth());
        assertEquals(Report.HEIGHT, ImageIO.read(w.lrPng().toFile()).getHeight());
        try (var files = Files.list(dir.resolve("plots"))) {
            assertEquals(2, files.count(), "the two charts and no temporary files");
        }
        String html = Files.readString(w.html());
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        // Config, flattened and escaped.
        assertTrue(html.contains("<tr><th>model.n_layer</th><td>4</td></tr>"), html);
        assertTrue(html.contains("<tr><th>lr</th><td>6.0e-4</td></tr>"));
        assertTrue(html.contains("<td>tiny&lt;run&gt;</td>"));
        // The sample, prompt in bold, text escaped.
        assertTrue(html.contains("<pre><b>Once upon</b> a &lt;time&gt; &amp; 中文</pre>"));
        // Summary: best validation loss is the later eval (3.5 + 10/100).
        assertTrue(html.contains("best validation loss</div><div class=\"v\">3.600</div>"));
        assertTrue(html.contains("50.00k"), "median tokens/s");
        assertTrue(html.contains("<tr><th>step 100</th><td>run ended: budget</td></tr>"));
        assertEquals(2, html.split("src=\"data:image/png;base64,").length - 1, "both charts embedded");
        assertFalse(html.contains("<img src=\"plots/"), "no external references");
    }

    @Test
    void aRunWithoutMetricsIsAClearError(@TempDir Path dir) {
        CramjetException e = assertThrows(CramjetException.class, () -> Report.write(dir));
        assertTrue(e.getMessage().contains("metrics.jsonl: no such file"), e.getMessage());
        assertThrows(CramjetException.class, () -> Report.write(dir.resolve("missing")));
    }

    @Test
    void aRuntimeWithoutJavaDesktopSaysWhyItHasNoCharts() {
        assertNull(Report.plotsMissing(ModuleLayer.boot()), "the test JVM has java.desktop");
        String why = Report.plotsMissing(ModuleLayer.empty());
        assertNotNull(why);
        assertTrue(why.contains("java.desktop") && why.contains("cramjet report"), why);
    }
}
