package dev.cramjet.serve;

import dev.cramjet.io.Json;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.*;

/** A plain HTTP client for the serve tests that look at the wire: status codes, headers, the SSE framing. */
final class Http {
    final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).executor(Executors.newVirtualThreadPerTaskExecutor()).build();
    final String base;
    String key;

    Http(String base) { this.base = base; }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return client.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return client.send(request(path).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, Map<String, Object> body) throws IOException, InterruptedException {
        return post(path, Json.write(body));
    }

    HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return b;
    }

    static Map<String, Object> json(HttpResponse<String> r) {
        return Json.object(Json.parse(r.body(), "response"), "response");
    }

    /** The JSON chunks of an event stream, checking the framing: data lines, blank-line separated, [DONE] last. */
    static List<Map<String, Object>> events(String body) {
        List<Map<String, Object>> out = new ArrayList<>();
        String[] blocks = body.split("\n\n");
        boolean done = false;
        for (String block : blocks) {
            if (block.startsWith(":")) continue;                       // comments keep the connection honest
            assertTrue(block.startsWith("data: "), "an event is a data line: " + block);
            assertFalse(done, "nothing after [DONE]");
            String data = block.substring(6);
            if (data.equals("[DONE]")) { done = true; continue; }
            out.add(Json.object(Json.parse(data, "event"), "event"));
        }
        assertTrue(done, "the stream ends with data: [DONE]");
        assertTrue(body.endsWith("\n\n"), "the last event is terminated");
        return out;
    }

    /** An OpenAI error body: returns error.code after checking the shape. */
    static String errorCode(HttpResponse<String> r, int status) {
        assertEquals(status, r.statusCode(), r.body());
        Map<String, Object> e = Json.object(json(r).get("error"), "error");
        assertTrue(e.get("message") instanceof String m && !m.isEmpty(), r.body());
        assertTrue(e.get("type") instanceof String, r.body());
        assertTrue(e.containsKey("code"), r.body());
        return (String) e.get("code");
    }

    @SuppressWarnings("unchecked")
    static <T> T at(Object v, Object... path) {
        for (Object p : path) v = p instanceof Integer i ? ((List<Object>) v).get(i) : ((Map<String, Object>) v).get(p);
        return (T) v;
    }
}
