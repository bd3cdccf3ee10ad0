package dev.cramjet.serve;

import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BooleanSupplier;

/**
 * A training run's {@code metrics.jsonl} as server-sent events, for the page's run view: every complete line the file
 * holds, then each new one as the trainer appends it (the file is polled; a half-written last line waits for its
 * newline). One event per line, its data the line itself (the schema is report.Metrics'). The stream ends when the
 * client goes away or the server stops; a comment line every few seconds finds out which.
 */
final class RunFeed {
    static final String FILE = "metrics.jsonl";
    private static final long POLL_MS = 250, HEARTBEAT_MS = 5000;

    private final Path dir;
    private volatile boolean closed;

    RunFeed(Path dir) { this.dir = dir; }

    String name() { return dir.toAbsolutePath().normalize().getFileName().toString(); }

    void close() { closed = true; }

    void stream(HttpExchange ex, BooleanSupplier stopping) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        ex.sendResponseHeaders(200, 0);
        OutputStream os = ex.getResponseBody();
        Path file = dir.resolve(FILE);
        long offset = 0, quietSince = System.currentTimeMillis();
        // Bytes of a line not yet ended; split on '\n' as bytes (it never occurs inside a UTF-8 sequence).
        java.io.ByteArrayOutputStream partial = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        while (!closed && !stopping.getAsBoolean()) {
            boolean sent = false;
            if (Files.isRegularFile(file)) {
                try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
                    if (f.length() < offset) {                        // a new run replaced the file: start over
                        offset = 0;
                        partial.reset();
                    }
                    f.seek(offset);
                    int n;
                    StringBuilder events = new StringBuilder();
                    while ((n = f.read(buf)) > 0) {
                        offset += n;
                        int from = 0;
                        for (int i = 0; i < n; i++) {
                            if (buf[i] != '\n') continue;
                            partial.write(buf, from, i - from);
                            String line = partial.toString(StandardCharsets.UTF_8).strip();
                            partial.reset();
                            if (!line.isEmpty()) events.append("data: ").append(line).append("\n\n");
                            from = i + 1;
                        }
                        partial.write(buf, from, n - from);
                    }
                    if (!events.isEmpty()) {
                        os.write(events.toString().getBytes(StandardCharsets.UTF_8));
                        sent = true;
                    }
                }
            }
            long now = System.currentTimeMillis();
            if (sent) quietSince = now;
            else if (now - quietSince > HEARTBEAT_MS) {
                os.write(": waiting\n\n".getBytes(StandardCharsets.UTF_8));
                quietSince = now;
                sent = true;
            }
            if (sent) os.flush();
            try {
                Thread.sleep(POLL_MS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
