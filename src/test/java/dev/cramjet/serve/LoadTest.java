package dev.cramjet.serve;

import dev.cramjet.io.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static dev.cramjet.serve.Http.at;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The server under load, all on loopback and every loop bounded: 100 concurrent streaming clients, clients that
 * leave mid-stream, and bad clients (malformed, oversized, wrong key, slow) next to good ones.
 */
class LoadTest {
    private static final String KEY = "load-key";
    private static final int SLOTS = 8, QUEUE = 40, PROMPTS = 10;
    static TinyModel tiny;
    static Http http;
    /** The text each prompt's seed gives with nobody else on the server. */
    static final String[] alone = new String[PROMPTS];

    private static Map<String, Object> request(int k, boolean stream, int maxTokens) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt", "Once upon a time " + "there was ".repeat(k));
        m.put("max_tokens", (long) maxTokens);
        m.put("temperature", 0.8);
        m.put("seed", 100L + k);
        if (stream) m.put("stream", true);
        return m;
    }

    @BeforeAll
    static void start() throws Exception {
        // The CPU products' sums do not depend on how many rows a step holds (here up to 8 slots + 16 prompt
        // tokens): a stream's text under load must be exactly its text alone, which shows nothing interleaved.
        tiny = new TinyModel(SLOTS, 16, QUEUE, KEY, null, 1 << 16, 60, null);
        http = new Http(tiny.url());
        http.key = KEY;
        for (int k = 0; k < PROMPTS; k++) {
            HttpResponse<String> r = http.post("/v1/completions", request(k, false, 24));
            assertEquals(200, r.statusCode(), r.body());
            alone[k] = at(Http.json(r), "choices", 0, "text");
        }
    }

    @AfterAll
    static void stop() { tiny.close(); }

    /** Outcome of one streaming client: 200 with its text, or the refusal's status. */
    private record Result(int status, String text, String code, String retryAfter) {}

    private static Result streamOnce(int k) throws Exception {
        HttpResponse<String> r = http.post("/v1/completions", request(k, true, 24));
        if (r.statusCode() != 200) {
            return new Result(r.statusCode(), null, Http.errorCode(r, r.statusCode()), r.headers().firstValue("Retry-After").orElse(null));
        }
        List<Map<String, Object>> events = Http.events(r.body());
        StringBuilder sb = new StringBuilder();
        Object id = events.getFirst().get("id");
        for (Map<String, Object> e : events) {
            assertEquals(id, e.get("id"), "every chunk of a stream is its own");
            assertEquals(0L, (Long) at(e, "choices", 0, "index"));
            sb.append((String) at(e, "choices", 0, "text"));
        }
        assertNotNull(at(events.getLast(), "choices", 0, "finish_reason"), "the stream ends with its finish chunk");
        return new Result(200, sb.toString(), null, null);
    }

    @Test
    void aHundredConcurrentStreamsCompleteOrAreCleanlyRefused() throws Exception {
        Runtime rt = Runtime.getRuntime();
        System.gc();
        long before = rt.totalMemory() - rt.freeMemory();
        List<Future<Result>> futures = new ArrayList<>();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 100; i++) {
                int k = i % PROMPTS;
                futures.add(pool.submit(() -> streamOnce(k)));
            }
            int completed = 0, refused = 0;
            for (int i = 0; i < futures.size(); i++) {
                Result r = futures.get(i).get(60, TimeUnit.SECONDS);
                if (r.status() == 200) {
                    assertEquals(alone[i % PROMPTS], r.text(), "stream " + i + " is exactly its own text");
                    completed++;
                } else {
                    assertTrue(r.status() == 429 || r.status() == 503, "status " + r.status());
                    assertNotNull(r.retryAfter(), "a refusal says when to retry");
                    refused++;
                }
            }
            assertEquals(100, completed + refused);
            assertTrue(completed >= SLOTS + QUEUE, completed + " completed, " + refused + " refused");
        }
        assertTrue(waitIdle(), "every slot is free afterwards");
        System.gc();
        long growth = rt.totalMemory() - rt.freeMemory() - before;
        assertTrue(growth < 64L << 20, "memory grew by " + (growth >> 20) + " MB");
    }

    @Test
    void clientsThatLeaveMidStreamFreeTheirSlots() throws Exception {
        List<Socket> sockets = new ArrayList<>();
        for (int i = 0; i < SLOTS; i++) {
            Socket s = open();
            String body = Json.write(request(i, true, 96));
            send(s, "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.getBytes(StandardCharsets.UTF_8).length
                    + "\r\n\r\n" + body);
            assertTrue(readUntil(s, "data: "), "stream " + i + " started");
            sockets.add(s);
        }
        assertTrue(tiny.engine.active() > 0);
        for (Socket s : sockets) s.close();
        assertTrue(waitIdle(), "the slots are free within 5 s, not after 96 tokens each");
        assertEquals(200, http.post("/v1/completions", request(1, false, 4)).statusCode());
    }

    @Test
    void badClientsGetTheirAnswerAndDoNotDisturbTheOthers() throws Exception {
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Result>> good = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                int k = i % PROMPTS;
                good.add(pool.submit(() -> streamOnce(k)));
            }
            // Slow loris: the headers trickle in; the server hangs up once its read timeout (2 s here) passes.
            Future<Long> loris = pool.submit(() -> {
                try (Socket s = open()) {
                    long t0 = System.nanoTime();
                    send(s, "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n");
                    for (int i = 0; i < 40; i++) {                       // at most 40 × 250 ms
                        try {
                            send(s, "X-Slow-" + i + ": y\r\n");
                            s.setSoTimeout(250);
                            if (s.getInputStream().read() < 0) break;        // closed by the server
                        } catch (SocketTimeoutException stillOpen) {
                            continue;
                        } catch (IOException closed) {
                            break;
                        }
                    }
                    return (System.nanoTime() - t0) / 1_000_000;
                }
            });
            // A connection that never says anything is closed too.
            Future<Long> silent = pool.submit(() -> {
                try (Socket s = open()) {
                    long t0 = System.nanoTime();
                    s.setSoTimeout(8000);
                    assertEquals(-1, s.getInputStream().read());
                    return (System.nanoTime() - t0) / 1_000_000;
                }
            });
            assertEquals("invalid_request", Http.errorCode(http.post("/v1/completions", "{\"prompt\": "), 400));
            assertEquals("request_too_large", Http.errorCode(http.post("/v1/completions", "{\"prompt\": \"" + "y".repeat(1 << 17) + "\"}"), 413));
            Http stranger = new Http(tiny.url());
            stranger.key = "not-the-key";
            assertEquals("invalid_api_key", Http.errorCode(stranger.post("/v1/completions", Json.write(request(0, false, 4))), 401));
            // Content-Length alone decides: 413 before a byte of the body is sent.
            try (Socket s = open()) {
                send(s, "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY
                        + "\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n");
                s.setSoTimeout(5000);
                String head = new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
                assertEquals("HTTP/1.1 413", head);
            }
            long lorisMs = loris.get(15, TimeUnit.SECONDS), silentMs = silent.get(15, TimeUnit.SECONDS);
            assertTrue(lorisMs >= 1500 && lorisMs < 6000, "the slow client was cut after " + lorisMs + " ms");
            assertTrue(silentMs >= 1500 && silentMs < 6000, "the silent client was cut after " + silentMs + " ms");
            for (int i = 0; i < good.size(); i++) {
                Result r = good.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(200, r.status());
                assertEquals(alone[i % PROMPTS], r.text(), "good stream " + i);
            }
        }
    }

    private static boolean waitIdle() throws InterruptedException {
        for (int i = 0; i < 100; i++) {                 // at most 5 s
            if (tiny.engine.active() == 0 && tiny.engine.queued() == 0) return true;
            Thread.sleep(50);
        }
        return false;
    }

    private static Socket open() throws IOException { return new Socket("127.0.0.1", tiny.server.port()); }

    private static void send(Socket s, String text) throws IOException {
        OutputStream os = s.getOutputStream();
        os.write(text.getBytes(StandardCharsets.UTF_8));
        os.flush();
    }

    /** Reads until {@code marker} has been seen (true) or 10 s / 1 MB pass (false). */
    private static boolean readUntil(Socket s, String marker) throws IOException {
        s.setSoTimeout(10_000);
        InputStream in = s.getInputStream();
        StringBuilder seen = new StringBuilder();
        byte[] b = new byte[4096];
        int n;
        while (seen.length() < (1 << 20) && (n = in.read(b)) > 0) {
            seen.append(new String(b, 0, n, StandardCharsets.UTF_8));
            if (seen.indexOf(marker) >= 0) return true;
        }
        return false;
    }
}
