package dev.cramjet.serve;

import dev.cramjet.Node;
import dev.cramjet.io.Json;
import dev.cramjet.train.MetricsLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The web page in headless Chromium (Debian's package, driven by playwright-core from npm; both installed by
 * scripts/setup-chromium.sh — the test skips without them): chat with streamed text, then the run view of a run
 * whose metrics.jsonl grows while the page watches. Screenshots go to target/screenshots/.
 */
class BrowserTest {
    @Test
    void chatStreamsAndTheRunViewGainsPoints(@TempDir Path run) throws Exception {
        Path node = Node.onPath("node"), modules = Node.MODULES;
        assumeTrue(node != null, "node is not on the PATH; skipping the browser test");
        assumeTrue(Files.isDirectory(modules.resolve("playwright-core")), "playwright-core is not installed (run scripts/setup-chromium.sh); skipping");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/chromium")), "no /usr/bin/chromium (run scripts/setup-chromium.sh); skipping");

        AtomicBoolean training = new AtomicBoolean(true);
        Thread trainer;
        try (MetricsLog log = new MetricsLog(run.resolve("metrics.jsonl"))) {
            for (int s = 1; s <= 5; s++) log.append(train(s));
            log.append(Map.of("type", "sample", "step", 5L, "prompt", "Once", "text", "Once upon a sample"));
            // A run that is training: a step every 150 ms, at most 400 of them (a minute).
            trainer = Thread.ofVirtual().start(() -> {
                try {
                    for (int s = 6; s < 406 && training.get(); s++) {
                        Thread.sleep(150);
                        log.append(train(s));
                        if (s % 10 == 0) log.append(Map.of("type", "eval", "step", (long) s, "val_loss", 5.0 - s / 100.0));
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (TinyModel tiny = new TinyModel(4, 16, null, null, 1 << 16, 60, run)) {
                Path shots = Path.of("target/screenshots").toAbsolutePath();
                Files.createDirectories(shots);
                Path script = Path.of(BrowserTest.class.getResource("/serve/browser.js").toURI());
                String out = Node.run(List.of(node.toString(), script.toString(), tiny.url(), shots.toString()), 150);
                Map<String, Object> seen = Json.object(Json.parse(out, "browser.js"), "browser.js");

                System.out.println("browser timings (ms since start): " + Json.write(seen.get("timings")) + "; reply lengths seen: " + seen.get("lengths"));
                assertEquals(List.of(), seen.get("foreign"), "the page loads nothing from elsewhere");
                assertEquals(List.of(), seen.get("consoleErrors"));
                assertEquals(List.of(), seen.get("unlabelled"), "every control has a label");
                assertEquals("Hello, tiny model!", seen.get("user"));
                String reply = (String) seen.get("reply");
                assertEquals(sameRequest(tiny.url()), reply, "the page's streamed reply is the API's reply for the page's settings and seed");
                long distinct = Json.array(seen.get("lengths"), "lengths").stream().filter(l -> (Long) l > 0).distinct().count();
                // The page only ever appends deltas, so two different non-empty lengths mean it showed the reply before
                // it was complete; more are usual, but Chromium may hand the throttled stream over in as few as two
                // reads, and events in one read are one mutation record (a clean-clone CI run saw [0, 15, 25]).
                assertTrue(distinct >= 2, "the reply streamed in (" + distinct + " distinct lengths): " + seen.get("lengths"));
                assertTrue(((String) seen.get("chatStatus")).startsWith("done"), (String) seen.get("chatStatus"));
                List<Object> points = Json.array(seen.get("points"), "points");
                assertTrue((Long) points.get(1) >= (Long) points.get(0) + 3, "the loss curve gained points: " + points);
                assertTrue(((String) seen.get("stats")).contains("training loss"));
                assertTrue(((String) seen.get("samples")).contains("Once upon a sample"));
                assertEquals(Boolean.FALSE, seen.get("phoneOverflow"), "no sideways scrolling on a phone");
                for (String png : List.of("chat.png", "run.png", "chat-phone.png")) assertTrue(Files.size(shots.resolve(png)) > 1000, png);
            } finally {
                training.set(false);
                trainer.join(5000);
            }
        }
    }

    /** The API's whole reply (not streamed) to the request the page sends: browser.js's message, settings and seed. */
    private static String sameRequest(String url) throws Exception {
        String body = "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello, tiny model!\"}],"
                + "\"temperature\":2,\"top_p\":0.95,\"max_tokens\":24,\"seed\":3}";
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        Map<String, Object> choice = Json.object(Json.array(Json.object(Json.parse(r.body(), "reply"), "reply").get("choices"), "choices").get(0), "choice");
        assertEquals("length", choice.get("finish_reason"), "seed 3 gives a reply of all 24 tokens");
        return (String) Json.object(choice.get("message"), "message").get("content");
    }

    private static Map<String, Object> train(long step) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "train");
        m.put("step", step);
        m.put("tokens", step * 4096);
        m.put("loss", 6.0 * Math.exp(-step / 80.0) + 2.0);
        m.put("lr", 6e-4 * Math.min(1.0, step / 20.0));
        m.put("grad_norm", 1.0);
        m.put("tokens_per_s", 16000.0 + 100 * Math.sin(step));
        m.put("elapsed_s", step * 0.15);
        return m;
    }
}
