package dev.cramjet.serve;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** The dashboard: a server without a model streams a run's metrics.jsonl as it grows. */
class RunFeedTest {
    private static void append(Path f, byte[] bytes) throws Exception {
        Files.write(f, bytes, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** The next data line of the stream (comments skipped), within the reader's bounded wait. */
    private static String next(Iterator<String> lines) {
        for (int i = 0; i < 1000 && lines.hasNext(); i++) {
            String l = lines.next();
            if (l.startsWith("data: ")) return l.substring(6);
        }
        fail("no event");
        return null;
    }

    @Test
    @Timeout(60)
    void streamsTheLinesSoFarThenEachNewCompleteLine(@TempDir Path run) throws Exception {
        Path f = run.resolve("metrics.jsonl");
        append(f, "{\"type\":\"train\",\"step\":1,\"loss\":5.0}\n{\"type\":\"train\",\"step\":2,\"loss\":4.5}\n".getBytes(StandardCharsets.UTF_8));
        Server.Config cfg = new Server.Config("127.0.0.1", 0, null, null, 4096, 60, 1, 1, false);
        Server server = new Server(cfg, null, null, null, run, new PrintStream(new ByteArrayOutputStream()), 2);
        try {
            Http http = new Http("http://127.0.0.1:" + server.port());
            assertEquals("no_model", Http.errorCode(http.get("/v1/models"), 404));
            assertNull(Http.json(http.get("/api/info")).get("model"));
            assertEquals(run.getFileName().toString(), Http.json(http.get("/api/info")).get("run"));
            HttpResponse<Stream<String>> r = http.client.send(http.request("/api/run/metrics").GET().build(), HttpResponse.BodyHandlers.ofLines());
            assertEquals(200, r.statusCode());
            assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
            Iterator<String> lines = r.body().iterator();
            assertEquals("{\"type\":\"train\",\"step\":1,\"loss\":5.0}", next(lines));
            assertEquals("{\"type\":\"train\",\"step\":2,\"loss\":4.5}", next(lines));
            // A line written in two parts, split inside a three-byte character, goes out once it is whole.
            byte[] sample = "{\"type\":\"sample\",\"step\":2,\"text\":\"床前明月光\"}\n".getBytes(StandardCharsets.UTF_8);
            int cut = "{\"type\":\"sample\",\"step\":2,\"text\":\"床".getBytes(StandardCharsets.UTF_8).length - 1;
            append(f, java.util.Arrays.copyOfRange(sample, 0, cut));
            Thread.sleep(600);                              // more than two polls: the half line must wait
            append(f, java.util.Arrays.copyOfRange(sample, cut, sample.length));
            assertEquals("{\"type\":\"sample\",\"step\":2,\"text\":\"床前明月光\"}", next(lines));
            r.body().close();
        } finally {
            server.close();
        }
    }
}
