package dev.cramjet.serve;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A request the API refuses, as OpenAI reports it: an HTTP status and the body
 * {@code {"error": {"message", "type", "param", "code"}}}. {@code retryAfter} (seconds, 0 = none) becomes a
 * Retry-After header on 429 and 503.
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type, code, param;
    final int retryAfter;

    ApiError(int status, String type, String code, String param, String message, int retryAfter) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.code = code;
        this.param = param;
        this.retryAfter = retryAfter;
    }

    /** 400: a field is missing, malformed or asks for what the server cannot do. */
    static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param == null ? "invalid_request" : "invalid_value", param, message, 0);
    }

    /** 400 for a value the server understands but does not support. */
    static ApiError unsupported(String param, String message) {
        return new ApiError(400, "invalid_request_error", "unsupported_parameter", param, message, 0);
    }

    Map<String, Object> body() {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("message", getMessage());
        e.put("type", type);
        e.put("param", param);
        e.put("code", code);
        return Map.of("error", e);
    }
}
