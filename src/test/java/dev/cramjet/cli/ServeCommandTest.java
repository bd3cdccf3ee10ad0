package dev.cramjet.cli;

import dev.cramjet.serve.TinyModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** `cramjet serve` as a user runs it: a process that serves, and on SIGTERM lets the stream in flight finish. */
class ServeCommandTest {
    @Test
    void servesThenShutsDownGracefullyOnSigterm(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("model");
        TinyModel.saveModelDir(model);
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path"), "dev.cramjet.cli.Main", "serve", "--model", model.toString(),
                "--port", "0", "--slots", "2", "--grace", "20", "--name", "tiny"));
        Path log = dir.resolve("serve.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            // --port 0: the system picks a free port, which the start-up line names.
            Pattern serving = Pattern.compile("serving 'tiny' at http://127\\.0\\.0\\.1:(\\d+)/");
            Matcher m = serving.matcher("");
            for (int i = 0; i < 600 && !(m = serving.matcher(Files.readString(log))).find(); i++) {
                assertTrue(p.isAlive(), () -> "serve exited: " + read(log));
                Thread.sleep(100);                                          // at most 60 s to start
            }
            assertTrue(m.find(0), () -> read(log));
            int port = Integer.parseInt(m.group(1));
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            String base = "http://127.0.0.1:" + port;
            HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, health.statusCode(), () -> health.body() + "\n" + read(log));
            // A long stream, then SIGTERM while it runs: it still ends with [DONE].
            String body = "{\"prompt\": \"Once upon\", \"max_tokens\": 100, \"stream\": true, \"seed\": 1}";
            HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, r.statusCode());
            var lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
            StringBuilder got = new StringBuilder();
            // SIGTERM once the first token has streamed, so the request is surely running (not still queued) when the
            // server starts draining, however slow a loaded machine is.
            for (String line; (line = lines.readLine()) != null; ) {
                got.append(line).append('\n');
                if (line.startsWith("data: {")) break;
            }
            p.destroy();                                                    // SIGTERM
            StringWriter rest = new StringWriter();
            lines.transferTo(rest);
            got.append(rest);
            assertTrue(got.toString().endsWith("data: [DONE]\n\n"), got.toString());
            assertTrue(p.waitFor(40, TimeUnit.SECONDS), "serve exits within its grace period");
            String out = Files.readString(log);
            assertTrue(out.contains("cramjet serve: stopping"), out);
            assertTrue(out.contains("\"POST /v1/completions\" 200"), out);
        } finally {
            p.destroyForcibly();
        }
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    @Test
    void badOptionsGetOneLine(@TempDir Path dir) throws Exception {
        assertEquals(2, Main.run(new String[] {"serve"}));
        assertEquals(2, Main.run(new String[] {"serve", "--model", dir.resolve("none").toString()}));
        Path model = dir.resolve("m");
        TinyModel.saveModelDir(model);
        assertEquals(2, Main.run(new String[] {"serve", "--model", model.toString(), "--weights", "fp8"}));
        assertEquals(2, Main.run(new String[] {"serve", "--model", model.toString(), "--context", "4096"}));
        assertEquals(2, Main.run(new String[] {"dashboard"}));
        assertTrue(Files.isDirectory(model));
    }
}
