package dev.cramjet.serve;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The HTTP side of {@code cramjet serve}: an OpenAI-compatible API over an {@link Engine}, the web page, and the live
 * view of a training run, on the JDK's own HTTP server ({@code com.sun.net.httpserver}) with a virtual thread per
 * exchange — so the jar and the jlink bundle stay free of dependencies, and a client waiting on a token costs a
 * parked virtual thread, not a platform thread. See docs/SERVING.md for the endpoints and limits.
 *
 * <p>Safety: a request without the right {@code Authorization: Bearer KEY} (when a key is set) gets 401, except
 * {@code /health} and the page's static files; bodies over the limit get 413 (refused from Content-Length before
 * any of it is read); a client that has not sent its whole request within the read timeout has its connection
 * closed (the JDK server's request timer); CORS headers only for the one origin {@code --cors} names; one access-log
 * line per request, with no prompt text unless asked.
 */
public final class Server implements AutoCloseable {
    /**
     * How the server runs: where it listens, the API key (null: none), the one origin allowed to call it from
     * a browser (null: none), the largest request body, how long a request may take in all, the longest prompt and
     * the most new tokens a request may ask for, and whether the access log carries prompt text.
     */
    public record Config(String host, int port, String apiKey, String corsOrigin, int maxBodyBytes, int timeoutSeconds,
                         int maxPromptTokens, int maxTokens, boolean logPrompts) {
        public Config {
            if (maxBodyBytes < 1024) throw new CramjetException("--max-body must be at least 1024 bytes, got " + maxBodyBytes);
            if (timeoutSeconds < 1) throw new CramjetException("--timeout must be at least 1 second, got " + timeoutSeconds);
            if (maxPromptTokens < 1) throw new CramjetException("--max-prompt-tokens must be at least 1, got " + maxPromptTokens);
            if (maxTokens < 1) throw new CramjetException("--max-tokens must be at least 1, got " + maxTokens);
        }
    }

    /** Seconds a client may take to send its request line, headers and body (the JDK server's request timer). */
    public static final String READ_TIMEOUT_PROPERTY = "sun.net.httpserver.maxReqTime";

    private final Config config;
    private final Engine engine;
    private final String modelId, fingerprint;
    private final Tokenizer tokenizer;
    private final ChatTemplate template;
    private final RunFeed run;
    private final PrintStream log;
    private final HttpServer http;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private final AtomicLong ids = new AtomicLong();
    private final boolean loopback;
    /** When the model was loaded: the models list's "created". */
    private final long started = Instant.now().getEpochSecond();
    private volatile boolean stopping;

    /**
     * Starts listening. {@code engine} and {@code tokenizer} may be null (a dashboard: the run view only); {@code runDir}
     * may be null (no run view).
     */
    public Server(Config config, Engine engine, String modelId, Tokenizer tokenizer, Path runDir, PrintStream log,
                  int readTimeoutSeconds) throws IOException {
        configureJdkServer(readTimeoutSeconds);
        this.config = config;
        this.engine = engine;
        this.modelId = modelId;
        this.tokenizer = tokenizer;
        this.template = tokenizer == null ? null : ChatTemplate.of(tokenizer);
        this.fingerprint = "cramjet-" + (tokenizer == null ? "none" : tokenizer.hash().substring(0, 12));
        this.run = runDir == null ? null : new RunFeed(runDir);
        this.log = log;
        try {
            http = HttpServer.create(new InetSocketAddress(config.host(), config.port()), 256);
        } catch (java.net.BindException e) {
            throw new CramjetException("cannot listen on " + config.host() + ":" + config.port() + ": " + e.getMessage());
        }
        loopback = http.getAddress().getAddress().isLoopbackAddress();
        http.setExecutor(threads);
        http.createContext("/", this::handle);
        http.start();
    }

    /**
     * The JDK server reads its settings once, when its classes load, from system properties; each is set here
     * unless the user set it: the request-read limit (a slow client is disconnected), idle and silent connections
     * checked every second rather than every ten, TCP_NODELAY (a streamed token is a small write, which Nagle's
     * algorithm would hold back for the previous one's acknowledgement), and at most 1024 connections.
     */
    private static void configureJdkServer(int readTimeoutSeconds) {
        Map<String, String> settings = Map.of(READ_TIMEOUT_PROPERTY, String.valueOf(readTimeoutSeconds),
                "sun.net.httpserver.clockTick", "1000", "sun.net.httpserver.nodelay", "true",
                "jdk.httpserver.maxConnections", "1024");
        settings.forEach((k, v) -> {
            if (System.getProperty(k) == null) System.setProperty(k, v);
        });
    }

    /** The port it listens on (the one chosen when the config said 0). */
    public int port() { return http.getAddress().getPort(); }

    /**
     * Graceful shutdown: refuse new requests (503), let running ones finish until {@code graceSeconds} have passed,
     * cut the rest, then close the listener.
     */
    public void shutdown(int graceSeconds) throws InterruptedException {
        stopping = true;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(graceSeconds);
        if (engine != null) engine.drain(deadline);
        if (run != null) run.close();
        http.stop(1);
        threads.shutdownNow();
    }

    @Override
    public void close() {
        try {
            shutdown(0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- dispatch --------------------------------------------------------------------------------------------

    /** What one exchange did, for its access-log line. */
    private static final class Outcome {
        int status, promptTokens, completionTokens;
        String prompt;
    }

    private void handle(HttpExchange ex) {
        long t0 = System.nanoTime();
        Outcome out = new Outcome();
        String method = ex.getRequestMethod(), path = ex.getRequestURI().getPath();
        try {
            cors(ex);
            if (method.equals("OPTIONS")) {
                out.status = config.corsOrigin() != null && origin(ex) ? 204 : 405;
                ex.getResponseHeaders().set("Allow", "GET, POST, OPTIONS");
                ex.sendResponseHeaders(out.status, -1);
                return;
            }
            if (stopping) throw new ApiError(503, "server_error", "shutting_down", null, "the server is shutting down", 5);
            checkHost(ex);
            route(ex, method, path, out);
        } catch (ApiError e) {
            out.status = e.status;
            sendError(ex, e);
        } catch (IOException e) {
            if (out.status == 0) out.status = 499;       // the client went away (nginx's code for it)
        } finally {
            ex.close();
            logLine(ex, method, path, out, t0);
        }
    }

    private void route(HttpExchange ex, String method, String path, Outcome out) throws IOException {
        switch (path) {
            case "/", "/index.html", "/app.js", "/app.css" -> {
                requireMethod(method, "GET");
                out.status = 200;
                Pages.send(ex, path.equals("/") ? "/index.html" : path);
                return;
            }
            case "/health" -> {
                requireMethod(method, "GET");
                Map<String, Object> h = new LinkedHashMap<>();
                h.put("status", "ok");
                if (engine != null) {
                    h.put("slots", (long) engine.slots());
                    h.put("active", (long) engine.active());
                    h.put("queued", (long) engine.queued());
                }
                out.status = 200;
                sendJson(ex, 200, h);
                return;
            }
            default -> { }
        }
        authorize(ex);
        switch (path) {
            case "/api/info" -> {
                requireMethod(method, "GET");
                Map<String, Object> info = new LinkedHashMap<>();
                info.put("model", modelId);
                info.put("context", engine == null ? null : (long) engine.context());
                info.put("run", run == null ? null : run.name());
                out.status = 200;
                sendJson(ex, 200, info);
            }
            case "/api/run/metrics" -> {
                requireMethod(method, "GET");
                if (run == null) throw new ApiError(404, "invalid_request_error", "no_run", null, "this server watches no training run (start it with --run DIR)", 0);
                out.status = 200;
                run.stream(ex, () -> stopping);
            }
            case "/v1/models" -> {
                requireMethod(method, "GET");
                requireModel();
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("id", modelId);
                m.put("object", "model");
                m.put("created", started);
                m.put("owned_by", "cramjet");
                out.status = 200;
                sendJson(ex, 200, Map.of("object", "list", "data", List.of(m)));
            }
            case "/v1/completions", "/v1/chat/completions" -> {
                requireMethod(method, "POST");
                requireModel();
                generate(ex, path.equals("/v1/chat/completions"), out);
            }
            default -> {
                if (path.startsWith("/v1/models/")) {
                    requireMethod(method, "GET");
                    requireModel();
                    String id = path.substring("/v1/models/".length());
                    if (!id.equals(modelId)) {
                        throw new ApiError(404, "invalid_request_error", "model_not_found", "model", "the model '" + id + "' does not exist", 0);
                    }
                    out.status = 200;
                    sendJson(ex, 200, Map.of("id", modelId, "object", "model", "owned_by", "cramjet"));
                    return;
                }
                throw new ApiError(404, "invalid_request_error", "not_found", null, "no such endpoint: " + method + " " + path, 0);
            }
        }
    }

    private void requireModel() {
        if (engine == null) throw new ApiError(404, "invalid_request_error", "no_model", null, "this server has no model loaded (a dashboard only)", 0);
    }

    private static void requireMethod(String method, String allowed) {
        if (!method.equals(allowed)) {
            throw new ApiError(405, "invalid_request_error", "method_not_allowed", null, method + " is not allowed here; use " + allowed, 0);
        }
    }

    private void authorize(HttpExchange ex) {
        if (config.apiKey() == null) return;
        String h = ex.getRequestHeaders().getFirst("Authorization");
        byte[] want = ("Bearer " + config.apiKey()).getBytes(StandardCharsets.UTF_8);
        // Constant time, so the comparison does not leak how much of a guess was right.
        if (h == null || !MessageDigest.isEqual(want, h.getBytes(StandardCharsets.UTF_8))) {
            throw new ApiError(401, "invalid_request_error", "invalid_api_key", null,
                    h == null ? "missing API key: send Authorization: Bearer KEY" : "incorrect API key", 0);
        }
    }

    /**
     * A server on the loopback address answers only requests addressed to this machine's names: a web page elsewhere
     * cannot point a name of its own at 127.0.0.1 (DNS rebinding) and read the API as if it were same-origin.
     */
    private void checkHost(HttpExchange ex) {
        if (!loopback) return;
        String host = ex.getRequestHeaders().getFirst("Host");
        String name = host == null ? "" : host.startsWith("[") ? host.substring(0, host.indexOf(']') + 1)
                : host.contains(":") ? host.substring(0, host.lastIndexOf(':')) : host;
        if (!Set.of("localhost", "127.0.0.1", "[::1]").contains(name.toLowerCase(Locale.ROOT))) {
            throw new ApiError(400, "invalid_request_error", "invalid_host", null, "the Host header '" + host
                    + "' does not name this machine; a server on the loopback address answers only localhost", 0);
        }
    }

    private boolean origin(HttpExchange ex) {
        return config.corsOrigin() != null && config.corsOrigin().equals(ex.getRequestHeaders().getFirst("Origin"));
    }

    private void cors(HttpExchange ex) {
        if (!origin(ex)) return;
        Headers h = ex.getResponseHeaders();
        h.set("Access-Control-Allow-Origin", config.corsOrigin());
        h.set("Vary", "Origin");
        h.set("Access-Control-Allow-Headers", "Authorization, Content-Type");
        h.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        h.set("Access-Control-Max-Age", "600");
    }

    // ---- generation ------------------------------------------------------------------------------------------

    /** An event from the engine for one exchange. */
    private sealed interface Event {}

    private record Text(int index, String piece, List<Engine.TokenLogprob> logprobs) implements Event {}

    private record End(int index, String reason, int promptTokens, int completionTokens) implements Event {}

    private record Fail(ApiError error) implements Event {}

    private void generate(HttpExchange ex, boolean chat, Outcome out) throws IOException {
        Map<String, Object> body = readJson(ex);
        Requests.Parsed req = Requests.parse(body, chat, modelId, tokenizer, template, new Requests.Limits(
                config.maxPromptTokens(), config.maxTokens(), engine.slots(), engine.context()));
        out.promptTokens = req.promptTokens();
        if (config.logPrompts()) out.prompt = Json.write(chat ? body.get("messages") : body.get("prompt"));
        LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
        Engine.Sink sink = new Engine.Sink() {
            @Override
            public void text(int index, String piece, List<Engine.TokenLogprob> logprobs) { events.add(new Text(index, piece, logprobs)); }

            @Override
            public void end(int index, String reason, int p, int c) { events.add(new End(index, reason, p, c)); }

            @Override
            public void fail(ApiError error) { events.add(new Fail(error)); }
        };
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(config.timeoutSeconds());
        List<Engine.Job> jobs = req.jobs();
        Engine.Ticket ticket = engine.submit(jobs, sink, deadline);
        String id = (chat ? "chatcmpl-" : "cmpl-") + Long.toHexString(System.currentTimeMillis()) + Long.toHexString(ids.incrementAndGet());
        long created = Instant.now().getEpochSecond();
        Response r = new Response(req, id, created, jobs.size());
        try {
            if (req.stream()) stream(ex, req, r, events, deadline, out);
            else whole(ex, req, r, events, deadline, out);
        } finally {
            ticket.cancel();           // a no-op when done; frees the slots when the client went away
        }
    }

    /** Collects every choice, then answers with one JSON body. */
    private void whole(HttpExchange ex, Requests.Parsed req, Response r, LinkedBlockingQueue<Event> events, long deadline,
                       Outcome out) throws IOException {
        int open = r.choices;
        while (open > 0) {
            Event e = poll(events, deadline);
            switch (e) {
                case Text t -> r.add(t);
                case End end -> { r.end(end); open--; }
                case Fail f -> throw f.error();
            }
        }
        out.completionTokens = r.completionTokens();
        out.status = 200;
        sendJson(ex, 200, r.whole());
    }

    /** Server-sent events: chunks as text arrives, a finish chunk per choice, optional usage, then [DONE]. */
    private void stream(HttpExchange ex, Requests.Parsed req, Response r, LinkedBlockingQueue<Event> events, long deadline,
                        Outcome out) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        ex.getResponseHeaders().set("X-Accel-Buffering", "no");
        ex.sendResponseHeaders(200, 0);
        out.status = 200;
        OutputStream os = ex.getResponseBody();
        if (req.chat()) for (int i = 0; i < r.choices; i++) send(os, r.roleChunk(i));
        int open = r.choices;
        while (open > 0) {
            Event e;
            try {
                e = events.poll(1, TimeUnit.SECONDS);
            } catch (InterruptedException x) {
                Thread.currentThread().interrupt();
                e = new Fail(new ApiError(503, "server_error", "shutting_down", null, "the server is shutting down", 5));
            }
            if (e == null) {
                // Nothing for a second (queued, or a long prompt): a comment line finds out whether the client is
                // still there, so one that left frees its place now rather than when its first token comes.
                os.write(": waiting\n\n".getBytes(StandardCharsets.UTF_8));
                os.flush();
                if (System.nanoTime() > deadline) {
                    e = new Fail(new ApiError(503, "server_error", "timeout", null, "the request did not finish within the server's time limit", 1));
                } else {
                    continue;
                }
            }
            switch (e) {
                case Text t -> { r.add(t); send(os, r.chunk(t)); }
                case End end -> { r.end(end); send(os, r.finishChunk(end)); open--; }
                case Fail f -> {
                    send(os, f.error().body());
                    open = 0;
                }
            }
        }
        out.completionTokens = r.completionTokens();
        if (req.includeUsage()) send(os, r.usageChunk());
        os.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        os.flush();
    }

    private static Event poll(LinkedBlockingQueue<Event> events, long deadline) {
        try {
            Event e = events.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (e == null) throw new ApiError(503, "server_error", "timeout", null, "the request did not finish within the server's time limit", 1);
            return e;
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
            throw new ApiError(503, "server_error", "shutting_down", null, "the server is shutting down", 5);
        }
    }

    private static void send(OutputStream os, Map<String, Object> chunk) throws IOException {
        os.write(("data: " + Json.write(chunk) + "\n\n").getBytes(StandardCharsets.UTF_8));
        os.flush();
    }

    // ---- bodies ----------------------------------------------------------------------------------------------

    private Map<String, Object> readJson(HttpExchange ex) throws IOException {
        String type = ex.getRequestHeaders().getFirst("Content-Type");
        if (type != null && !type.toLowerCase(Locale.ROOT).startsWith("application/json")) {
            throw new ApiError(415, "invalid_request_error", "unsupported_media_type", null, "the body must be application/json, got " + type, 0);
        }
        String length = ex.getRequestHeaders().getFirst("Content-Length");
        if (length != null) {
            long n;
            try {
                n = Long.parseLong(length.trim());
            } catch (NumberFormatException e) {
                throw ApiError.invalid(null, "bad Content-Length: " + length);
            }
            if (n > config.maxBodyBytes()) throw tooLarge(ex);
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (InputStream in = ex.getRequestBody()) {
            byte[] b = new byte[8192];
            int r;
            while ((r = in.read(b)) > 0) {
                buf.write(b, 0, r);
                if (buf.size() > config.maxBodyBytes()) throw tooLarge(ex);
            }
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        Object v;
        try {
            v = Json.parse(text, "the request body");
        } catch (CramjetException e) {
            throw ApiError.invalid(null, e.getMessage());
        } catch (StackOverflowError e) {
            throw ApiError.invalid(null, "the request body nests too deeply");
        }
        if (!(v instanceof Map<?, ?>)) throw ApiError.invalid(null, "the request body must be a JSON object");
        return Json.object(v, "the request body");
    }

    private ApiError tooLarge(HttpExchange ex) {
        ex.getResponseHeaders().set("Connection", "close");     // the rest of the body is not read
        return new ApiError(413, "invalid_request_error", "request_too_large", null,
                "the request body is larger than this server's limit of " + config.maxBodyBytes() + " bytes", 0);
    }

    private static void sendJson(HttpExchange ex, int status, Map<String, Object> body) throws IOException {
        byte[] b = Json.write(body).getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(b);
        }
    }

    private static void sendError(HttpExchange ex, ApiError e) {
        try {
            if (e.retryAfter > 0) ex.getResponseHeaders().set("Retry-After", String.valueOf(e.retryAfter));
            sendJson(ex, e.status, e.body());
        } catch (IOException | IllegalStateException ignored) {
            // Headers already sent (a stream) or the client is gone: nothing more can be said.
        }
    }

    private void logLine(HttpExchange ex, String method, String path, Outcome out, long t0) {
        if (log == null) return;
        InetSocketAddress remote = ex.getRemoteAddress();
        String line = String.format(Locale.ROOT, "%s %s \"%s %s\" %d prompt=%d completion=%d %dms%s",
                Instant.now().toString(), remote == null ? "-" : remote.getAddress().getHostAddress(), method, path,
                out.status, out.promptTokens, out.completionTokens, (System.nanoTime() - t0) / 1_000_000,
                out.prompt == null ? "" : " prompt=" + out.prompt);
        synchronized (log) {
            log.println(line);
            log.flush();
        }
    }

    // ---- responses -------------------------------------------------------------------------------------------

    /** The answer being built for one request: every choice's text, logprobs, finish reason and token counts. */
    private final class Response {
        final Requests.Parsed req;
        final String id;
        final long created;
        final int choices;
        final StringBuilder[] text;
        final List<List<Engine.TokenLogprob>> logprobs = new ArrayList<>();
        final String[] finish;
        final int[] completion;

        Response(Requests.Parsed req, String id, long created, int choices) {
            this.req = req;
            this.id = id;
            this.created = created;
            this.choices = choices;
            text = new StringBuilder[choices];
            finish = new String[choices];
            completion = new int[choices];
            for (int i = 0; i < choices; i++) {
                text[i] = new StringBuilder();
                logprobs.add(new ArrayList<>());
            }
        }

        void add(Text t) {
            text[t.index()].append(t.piece());
            logprobs.get(t.index()).addAll(t.logprobs());
        }

        void end(End e) {
            finish[e.index()] = e.reason();
            completion[e.index()] = e.completionTokens();
        }

        int completionTokens() {
            int sum = 0;
            for (int c : completion) sum += c;
            return sum;
        }

        private Map<String, Object> head(String object) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", id);
            m.put("object", object);
            m.put("created", created);
            m.put("model", req.model());
            m.put("system_fingerprint", fingerprint);
            return m;
        }

        Map<String, Object> usage() {
            Map<String, Object> u = new LinkedHashMap<>();
            u.put("prompt_tokens", (long) req.promptTokens());
            u.put("completion_tokens", (long) completionTokens());
            u.put("total_tokens", (long) (req.promptTokens() + completionTokens()));
            return u;
        }

        Map<String, Object> whole() {
            Map<String, Object> m = head(req.chat() ? "chat.completion" : "text_completion");
            List<Object> cs = new ArrayList<>();
            for (int i = 0; i < choices; i++) {
                Map<String, Object> c = new LinkedHashMap<>();
                c.put("index", (long) i);
                if (req.chat()) {
                    Map<String, Object> msg = new LinkedHashMap<>();
                    msg.put("role", "assistant");
                    msg.put("content", text[i].toString());
                    msg.put("refusal", null);
                    c.put("message", msg);
                } else {
                    c.put("text", text[i].toString());
                }
                c.put("logprobs", logprobsField(logprobs.get(i), 0));
                c.put("finish_reason", finish[i]);
                cs.add(c);
            }
            m.put("choices", cs);
            m.put("usage", usage());
            return m;
        }

        Map<String, Object> roleChunk(int index) {
            Map<String, Object> delta = new LinkedHashMap<>();
            delta.put("role", "assistant");
            delta.put("content", "");
            return chunkWith(index, delta, null, null);
        }

        Map<String, Object> chunk(Text t) {
            int offset = text[t.index()].length() - t.piece().length();
            Object lp = logprobsField(t.logprobs(), offset);
            if (!req.chat()) return chunkWith(t.index(), t.piece(), lp, null);
            return chunkWith(t.index(), Map.of("content", t.piece()), lp, null);
        }

        Map<String, Object> finishChunk(End e) {
            return chunkWith(e.index(), req.chat() ? Map.of() : "", null, e.reason());
        }

        Map<String, Object> usageChunk() {
            Map<String, Object> m = head(req.chat() ? "chat.completion.chunk" : "text_completion");
            m.put("choices", List.of());
            m.put("usage", usage());
            return m;
        }

        /** A streamed chunk: a chat delta (a map) or completion text (a string) for one choice. */
        private Map<String, Object> chunkWith(int index, Object deltaOrText, Object logprobs, String reason) {
            Map<String, Object> m = head(req.chat() ? "chat.completion.chunk" : "text_completion");
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("index", (long) index);
            c.put(req.chat() ? "delta" : "text", deltaOrText);
            c.put("logprobs", logprobs);
            c.put("finish_reason", reason);
            m.put("choices", List.of(c));
            if (req.includeUsage()) m.put("usage", null);
            return m;
        }

        /**
         * The logprobs field: null unless asked; for chat {"content": [{token, logprob, bytes, top_logprobs}]}, for
         * completions the legacy {tokens, token_logprobs, top_logprobs, text_offset} (offsets from {@code offset}).
         */
        private Object logprobsField(List<Engine.TokenLogprob> lps, int offset) {
            if (req.topLogprobs() < 0 || lps.isEmpty()) return req.topLogprobs() < 0 ? null : emptyLogprobs();
            if (req.chat()) {
                List<Object> content = new ArrayList<>();
                for (Engine.TokenLogprob t : lps) {
                    Map<String, Object> e = entry(t);
                    List<Object> top = new ArrayList<>();
                    for (Engine.TokenLogprob a : t.top()) top.add(entry(a));
                    e.put("top_logprobs", top);
                    content.add(e);
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("content", content);
                m.put("refusal", null);
                return m;
            }
            List<Object> tokens = new ArrayList<>(), values = new ArrayList<>(), tops = new ArrayList<>(), offsets = new ArrayList<>();
            int at = offset;
            for (Engine.TokenLogprob t : lps) {
                tokens.add(t.token());
                values.add(t.logprob());
                Map<String, Object> top = new LinkedHashMap<>();
                for (Engine.TokenLogprob a : t.top()) top.putIfAbsent(a.token(), a.logprob());
                tops.add(top);
                offsets.add((long) at);
                at += t.token().length();
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokens", tokens);
            m.put("token_logprobs", values);
            m.put("top_logprobs", tops);
            m.put("text_offset", offsets);
            return m;
        }

        private Object emptyLogprobs() {
            if (req.chat()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("content", List.of());
                m.put("refusal", null);
                return m;
            }
            return Map.of("tokens", List.of(), "token_logprobs", List.of(), "top_logprobs", List.of(), "text_offset", List.of());
        }

        private static Map<String, Object> entry(Engine.TokenLogprob t) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("token", t.token());
            e.put("logprob", t.logprob());
            List<Object> bytes = new ArrayList<>();
            for (byte b : t.bytes()) bytes.add((long) (b & 0xff));
            e.put("bytes", bytes);
            return e;
        }
    }
}
