package dev.cramjet.serve;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.cramjet.serve.Http.at;
import static org.junit.jupiter.api.Assertions.*;

/** The API on the wire, with a plain HTTP client: response shapes, streaming framing, every kind of error. */
class ApiTest {
    static TinyModel tiny;
    static Http http;

    @BeforeAll
    static void start() throws Exception {
        tiny = new TinyModel();
        http = new Http(tiny.url());
    }

    @AfterAll
    static void stop() { tiny.close(); }

    private static Map<String, Object> body(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    private static List<Object> user(String text) { return List.of(Map.of("role", "user", "content", text)); }

    @Test
    void listsTheModelAndReportsHealth() throws Exception {
        HttpResponse<String> models = http.get("/v1/models");
        assertEquals(200, models.statusCode());
        assertEquals("list", at(Http.json(models), "object"));
        assertEquals("tiny", at(Http.json(models), "data", 0, "id"));
        assertEquals(200, http.get("/v1/models/tiny").statusCode());
        assertEquals("model_not_found", Http.errorCode(http.get("/v1/models/other"), 404));
        HttpResponse<String> health = http.get("/health");
        assertEquals(200, health.statusCode());
        assertEquals("ok", at(Http.json(health), "status"));
        assertEquals(8L, (Long) at(Http.json(health), "slots"));
    }

    @Test
    void chatAnswersWithTheOpenAiShapeAndCountsTokens() throws Exception {
        HttpResponse<String> r = http.post("/v1/chat/completions", body("model", "tiny", "messages", user("hello"),
                "max_tokens", 12L, "seed", 5L));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        Map<String, Object> m = Http.json(r);
        assertEquals("chat.completion", m.get("object"));
        assertTrue(((String) m.get("id")).startsWith("chatcmpl-"));
        assertEquals("assistant", at(m, "choices", 0, "message", "role"));
        String reason = at(m, "choices", 0, "finish_reason");
        assertTrue(reason.equals("stop") || reason.equals("length"), reason);
        int promptTokens = ChatTemplate.of(tiny.tokenizer).encode(List.of(new ChatTemplate.Message("user", "hello"))).length;
        assertEquals((long) promptTokens, (Long) at(m, "usage", "prompt_tokens"));
        long completion = at(m, "usage", "completion_tokens");
        assertTrue(completion >= 1 && completion <= 12, "completion tokens " + completion);
        if (reason.equals("length")) assertEquals(12, completion);
        assertEquals(promptTokens + completion, (Long) at(m, "usage", "total_tokens"));
        assertNull(at(m, "choices", 0, "logprobs"));
    }

    @Test
    void aStreamIsTheSameTextAsTheWholeAnswerWithTheSameSeed() throws Exception {
        Map<String, Object> req = body("prompt", "Once upon a time", "max_tokens", 30L, "seed", 11L, "temperature", 0.9);
        HttpResponse<String> whole = http.post("/v1/completions", req);
        assertEquals(200, whole.statusCode(), whole.body());
        assertEquals("text_completion", at(Http.json(whole), "object"));
        String text = at(Http.json(whole), "choices", 0, "text");
        req.put("stream", true);
        HttpResponse<String> streamed = http.post("/v1/completions", req);
        assertEquals(200, streamed.statusCode());
        assertTrue(streamed.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<Map<String, Object>> events = Http.events(streamed.body());
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < events.size(); i++) {
            Map<String, Object> e = events.get(i);
            assertEquals("text_completion", e.get("object"));
            assertEquals(events.getFirst().get("id"), e.get("id"), "one id for the whole stream");
            sb.append((String) at(e, "choices", 0, "text"));
            Object reason = at(e, "choices", 0, "finish_reason");
            assertEquals(i == events.size() - 1, reason != null, "only the last chunk has a finish_reason");
        }
        assertEquals(text, sb.toString());
        assertEquals(Http.<Object>at(Http.json(whole), "choices", 0, "finish_reason"), at(events.getLast(), "choices", 0, "finish_reason"));
        // Same seed, same text; another seed, another text.
        req.remove("stream");
        assertEquals(text, at(Http.json(http.post("/v1/completions", req)), "choices", 0, "text"));
        req.put("seed", 12L);
        assertNotEquals(text, at(Http.json(http.post("/v1/completions", req)), "choices", 0, "text"));
    }

    @Test
    void chatStreamCarriesTheRoleFirstAndUsageLast() throws Exception {
        HttpResponse<String> r = http.post("/v1/chat/completions", body("messages", user("hi"), "max_tokens", 8L,
                "stream", true, "stream_options", Map.of("include_usage", true), "seed", 3L));
        List<Map<String, Object>> ev = Http.events(r.body());
        assertEquals("chat.completion.chunk", ev.getFirst().get("object"));
        assertEquals("assistant", at(ev.getFirst(), "choices", 0, "delta", "role"));
        Map<String, Object> usage = ev.getLast();
        assertEquals(List.of(), usage.get("choices"));
        long completion = at(usage, "usage", "completion_tokens");
        assertTrue(completion >= 1 && completion <= 8);
        Map<String, Object> finish = ev.get(ev.size() - 2);
        assertNotNull(at(finish, "choices", 0, "finish_reason"));
        assertEquals(Map.of(), at(finish, "choices", 0, "delta"));
        for (Map<String, Object> e : ev.subList(0, ev.size() - 1)) {
            assertTrue(e.containsKey("usage") && e.get("usage") == null, "usage: null on every chunk but the last");
        }
    }

    @Test
    void aStopSequenceEndsTheTextBeforeItEvenAcrossTokens() throws Exception {
        Map<String, Object> req = body("prompt", "Once upon", "max_tokens", 40L, "temperature", 0L);
        String full = at(Http.json(http.post("/v1/completions", req)), "choices", 0, "text");
        assertTrue(full.length() > 12, "the tiny model writes enough text: '" + full + "'");
        // A stop made of characters 6..10, which the text first contains at or before 6: it spans several tokens.
        String stop = full.substring(6, 10);
        int at = full.indexOf(stop);
        req.put("stop", List.of("\u0000never", stop));
        Map<String, Object> m = Http.json(http.post("/v1/completions", req));
        assertEquals(full.substring(0, at), at(m, "choices", 0, "text"));
        assertEquals("stop", at(m, "choices", 0, "finish_reason"));
        req.put("stream", true);
        StringBuilder sb = new StringBuilder();
        for (Map<String, Object> e : Http.events(http.post("/v1/completions", req).body())) {
            String piece = at(e, "choices", 0, "text");
            assertFalse(piece.contains(stop), "a streamed piece never holds the stop sequence");
            sb.append(piece);
        }
        assertEquals(full.substring(0, at), sb.toString());
    }

    @Test
    void nChoicesEachHaveTheirOwnSeedAndTheFirstIsTheSingleAnswer() throws Exception {
        Map<String, Object> req = body("prompt", "Once", "max_tokens", 20L, "seed", 21L, "temperature", 1.2);
        String single = at(Http.json(http.post("/v1/completions", req)), "choices", 0, "text");
        req.put("n", 3L);
        Map<String, Object> m = Http.json(http.post("/v1/completions", req));
        List<Object> choices = at(m, "choices");
        assertEquals(3, choices.size());
        for (int i = 0; i < 3; i++) assertEquals((long) i, (Long) at(m, "choices", i, "index"));
        assertEquals(single, at(m, "choices", 0, "text"));
        assertNotEquals(Http.<Object>at(m, "choices", 1, "text"), at(m, "choices", 2, "text"));
        req.put("n", 9L);
        assertEquals("invalid_value", Http.errorCode(http.post("/v1/completions", req), 400));
    }

    @Test
    void logprobsListEveryTokenWithItsMostLikelyAlternatives() throws Exception {
        Map<String, Object> m = Http.json(http.post("/v1/chat/completions", body("messages", user("hello"),
                "max_tokens", 10L, "logprobs", true, "top_logprobs", 3L, "seed", 9L)));
        List<Object> content = at(m, "choices", 0, "logprobs", "content");
        assertEquals((long) content.size(), (Long) at(m, "usage", "completion_tokens"), "one entry per generated token");
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (Object o : content) {
            double lp = at(o, "logprob");
            List<Object> top = at(o, "top_logprobs");
            assertEquals(3, top.size());
            double first = at(top, 0, "logprob"), second = at(top, 1, "logprob"), third = at(top, 2, "logprob");
            assertTrue(lp <= 0 && first >= second && second >= third && lp <= first + 1e-9, o.toString());
            for (Object b : Http.<List<Object>>at(o, "bytes")) bytes.write((int) (long) (Long) b);
        }
        // A token may end inside a character, so its text alone can be U+FFFD: the bytes are what add up (a
        // character the token limit cut in half is left out of the content).
        String reply = at(m, "choices", 0, "message", "content");
        String decoded = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(decoded.startsWith(reply) && decoded.length() - reply.length() <= 1, decoded + " vs " + reply);
        // The legacy completions form.
        Map<String, Object> c = Http.json(http.post("/v1/completions", body("prompt", "Once", "max_tokens", 5L, "logprobs", 2L, "temperature", 0L)));
        List<Object> tokens = at(c, "choices", 0, "logprobs", "tokens");
        assertEquals(5, tokens.size());
        assertEquals(5, ((List<?>) at(c, "choices", 0, "logprobs", "text_offset")).size());
        for (Object top : Http.<List<Object>>at(c, "choices", 0, "logprobs", "top_logprobs")) assertTrue(((Map<?, ?>) top).size() <= 2);
    }

    @Test
    void badRequestsGetTheOpenAiErrorWithTheRightStatus() throws Exception {
        assertEquals("unsupported_parameter", Http.errorCode(http.post("/v1/chat/completions", body("messages", user("x"), "frobnicate", 1L)), 400));
        assertEquals("invalid_value", Http.errorCode(http.post("/v1/chat/completions", body("messages", user("x"), "temperature", 3.5)), 400));
        assertEquals("invalid_value", Http.errorCode(http.post("/v1/chat/completions", body("messages", user("x"), "top_p", 0L)), 400));
        assertEquals("invalid_value", Http.errorCode(http.post("/v1/chat/completions", body("messages", List.of())), 400));
        assertEquals("invalid_value", Http.errorCode(http.post("/v1/chat/completions", body("messages", List.of(Map.of("role", "tool", "content", "x")))), 400));
        assertEquals("unsupported_parameter", Http.errorCode(http.post("/v1/chat/completions", body("messages", user("x"), "logit_bias", Map.of("1", 5L))), 400));
        assertEquals("unsupported_parameter", Http.errorCode(http.post("/v1/chat/completions", body("messages", user("x"), "tools", List.of(Map.of("type", "function")))), 400));
        assertEquals("invalid_value", Http.errorCode(http.post("/v1/chat/completions", body("messages", user("x"), "stream_options", Map.of("include_usage", true))), 400));
        assertEquals("model_not_found", Http.errorCode(http.post("/v1/chat/completions", body("model", "gpt-4o", "messages", user("x"))), 404));
        assertEquals("invalid_request", Http.errorCode(http.post("/v1/completions", "{\"prompt\": \"x\""), 400));
        assertEquals("invalid_request", Http.errorCode(http.post("/v1/completions", "[1, 2]"), 400));
        assertEquals("invalid_request", Http.errorCode(http.post("/v1/completions", "[".repeat(30_000)), 400));
        assertEquals("context_length_exceeded", Http.errorCode(http.post("/v1/completions", body("prompt", "hello ".repeat(200))), 400));
        assertEquals("context_length_exceeded", Http.errorCode(http.post("/v1/completions", body("prompt", "hello ".repeat(15), "max_tokens", 120L)), 400));
        assertEquals("invalid_value", Http.errorCode(http.post("/v1/completions", body("prompt", "hello", "max_tokens", 121L)), 400));
        assertEquals("request_too_large", Http.errorCode(http.post("/v1/completions", body("prompt", "x".repeat(70_000))), 413));
        assertEquals("not_found", Http.errorCode(http.get("/v1/embeddings"), 404));
        assertEquals("method_not_allowed", Http.errorCode(http.get("/v1/chat/completions"), 405));
        HttpResponse<String> type = http.client.send(http.request("/v1/completions").header("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("unsupported_media_type", Http.errorCode(type, 415));
        // A name that is not this machine's (DNS rebinding) gets nothing from a loopback server.
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", tiny.server.port())) {
            s.getOutputStream().write("GET /v1/models HTTP/1.1\r\nHost: attacker.example:80\r\nConnection: close\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            s.setSoTimeout(10_000);
            String reply = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(reply.startsWith("HTTP/1.1 400") && reply.contains("invalid_host"), reply);
        }
        // The server is still fine.
        assertEquals(200, http.post("/v1/completions", body("prompt", "Once", "max_tokens", 2L)).statusCode());
    }

    @Test
    void theAccessLogHasOneLinePerRequestAndNoPromptText() throws Exception {
        http.post("/v1/chat/completions", body("messages", user("a secret prompt"), "max_tokens", 3L));
        List<String> lines = new ArrayList<>();
        for (String l : tiny.accessLog().split("\n")) if (l.contains("\"POST /v1/chat/completions\" 200")) lines.add(l);
        assertFalse(lines.isEmpty(), tiny.accessLog());
        assertTrue(lines.getLast().matches(".* 127\\.0\\.0\\.1 \"POST /v1/chat/completions\" 200 prompt=\\d+ completion=\\d+ \\d+ms"), lines.getLast());
        assertFalse(tiny.accessLog().contains("secret"));
    }

    @Test
    void thePageAndItsFilesComeFromTheServerItself() throws Exception {
        HttpResponse<String> page = http.get("/");
        assertEquals(200, page.statusCode());
        assertTrue(page.body().contains("<script src=\"app.js\""));
        assertFalse(page.body().contains("http://") || page.body().contains("https://"), "no external resources");
        assertTrue(page.headers().firstValue("Content-Security-Policy").orElse("").contains("default-src 'self'"));
        assertEquals(200, http.get("/app.js").statusCode());
        assertTrue(http.get("/app.css").headers().firstValue("Content-Type").orElse("").startsWith("text/css"));
        assertEquals("no_run", Http.errorCode(http.get("/api/run/metrics"), 404));
        assertEquals("tiny", at(Http.json(http.get("/api/info")), "model"));
    }

    @Test
    void anApiKeyGuardsEverythingButHealthAndThePage() throws Exception {
        try (TinyModel keyed = new TinyModel(2, 4, "s3cret", "https://app.example", 1 << 16, 60, null)) {
            Http h = new Http(keyed.url());
            assertEquals("invalid_api_key", Http.errorCode(h.get("/v1/models"), 401));
            h.key = "wrong";
            assertEquals("invalid_api_key", Http.errorCode(h.post("/v1/completions", body("prompt", "x")), 401));
            h.key = "s3cret";
            assertEquals(200, h.get("/v1/models").statusCode());
            h.key = null;
            assertEquals(200, h.get("/health").statusCode());
            assertEquals(200, h.get("/").statusCode());
            // CORS for the one origin named, and for no other.
            HttpResponse<String> pre = h.client.send(h.request("/v1/chat/completions").header("Origin", "https://app.example")
                    .header("Access-Control-Request-Method", "POST").method("OPTIONS", HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(204, pre.statusCode());
            assertEquals("https://app.example", pre.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
            assertTrue(pre.headers().firstValue("Access-Control-Allow-Headers").orElse("").contains("Authorization"));
            HttpResponse<String> other = h.client.send(h.request("/health").header("Origin", "https://evil.example").GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(other.headers().firstValue("Access-Control-Allow-Origin").isEmpty());
        }
        HttpResponse<String> none = http.client.send(http.request("/health").header("Origin", "https://app.example").GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertTrue(none.headers().firstValue("Access-Control-Allow-Origin").isEmpty(), "CORS is off unless asked for");
    }
}
