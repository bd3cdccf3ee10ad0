package dev.cramjet.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class MetricsLogTest {
    @TempDir Path tmp;

    @Test
    void skipsATornLastLineAndTruncatesForResume() throws Exception {
        Path f = tmp.resolve("metrics.jsonl");
        try (MetricsLog m = new MetricsLog(f)) {
            for (long s = 1; s <= 5; s++) m.append(Map.of("type", "train", "step", s, "loss", 5.0 - s));
            m.force();
        }
        Files.writeString(f, "{\"type\":\"train\",\"st", StandardOpenOption.APPEND);
        assertEquals(5, MetricsLog.read(f).size());
        try (MetricsLog m = new MetricsLog(f)) {
            m.truncateAfter(3);
            m.append(Map.of("type", "train", "step", 4L, "loss", 0.5));
        }
        var lines = MetricsLog.read(f);
        assertEquals(4, lines.size());
        assertEquals(0.5, lines.getLast().get("loss"));
        assertFalse(Files.readString(f).contains("\"st\n"), "the torn line is gone");
    }
}
