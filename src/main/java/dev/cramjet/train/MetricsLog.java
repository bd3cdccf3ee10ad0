package dev.cramjet.train;

import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The run's {@code metrics.jsonl}, written as the run goes, in the schema {@link dev.cramjet.report.Metrics} reads:
 * one JSON object per line with a "type" and a "step" — "train" (tokens, loss, lr, grad_norm, tokens_per_s, mfu,
 * elapsed_s, accum), "eval" (val_loss, val_ppl, val_bpb), "sample" (text) — plus "event" lines (message: a skipped
 * step, a rollback, the end of the run) that the report skips and people grep for.
 *
 * <p>An append-only log cannot be rewritten atomically on every line, so it is appended and forced to disk at each
 * checkpoint instead; readers skip a torn last line. On resume the lines after the checkpoint's step are dropped
 * (an atomic rewrite), so the file tells the story of the run as resumed.
 */
public final class MetricsLog implements AutoCloseable {
    private final Path file;
    private FileChannel out;

    public MetricsLog(Path file) throws IOException {
        this.file = file;
        Files.createDirectories(file.toAbsolutePath().getParent());
        this.out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    public Path file() { return file; }

    public void append(Map<String, Object> line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((Json.write(line) + "\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) out.write(b);
    }

    /** Forces appended lines to disk (called with each checkpoint). */
    public void force() throws IOException { out.force(false); }

    /** Drops every line whose step is after {@code step} (and any torn line): the state of a resumed run. */
    public void truncateAfter(long step) throws IOException {
        out.close();
        List<Map<String, Object>> kept = new ArrayList<>();
        for (Map<String, Object> m : read(file)) {
            if (!(m.get("step") instanceof Number n) || n.longValue() <= step) kept.add(m);
        }
        StringBuilder sb = new StringBuilder();
        for (Map<String, Object> m : kept) sb.append(Json.write(m)).append('\n');
        AtomicFile.writeString(file, sb.toString());
        out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    /** All complete lines of a metrics file (a torn or invalid line is skipped). */
    public static List<Map<String, Object>> read(Path file) throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        if (!Files.exists(file)) return out;
        // Decoded leniently: a line damaged by a crash fails to parse below and is dropped with the torn ones.
        for (String line : new String(Files.readAllBytes(file), StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank()) continue;
            try {
                out.add(Json.object(Json.parse(line, file.toString()), file.toString()));
            } catch (RuntimeException torn) {
                // A crash can cut the last line short; everything before it is still good.
            }
        }
        return out;
    }

    @Override
    public void close() throws IOException { out.close(); }
}
