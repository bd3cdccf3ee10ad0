package dev.cramjet.serve;

import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * The web page's files, served from the jar: one HTML page, its script and its style sheet, nothing from elsewhere
 * (the Content-Security-Policy forbids it), so the page works offline.
 */
final class Pages {
    private Pages() {}

    private static final Map<String, String> TYPES = Map.of(
            "/index.html", "text/html; charset=utf-8",
            "/app.js", "text/javascript; charset=utf-8",
            "/app.css", "text/css; charset=utf-8");

    static void send(HttpExchange ex, String name) throws IOException {
        byte[] body = read(name);
        var h = ex.getResponseHeaders();
        h.set("Content-Type", TYPES.get(name));
        h.set("Cache-Control", "no-cache");
        h.set("X-Content-Type-Options", "nosniff");
        h.set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }

    private static byte[] read(String name) {
        try (InputStream in = Pages.class.getResourceAsStream("web" + name)) {
            if (in == null) throw new IllegalStateException("the jar lacks the page resource web" + name);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
