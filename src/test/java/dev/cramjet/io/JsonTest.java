package dev.cramjet.io;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class JsonTest {
    @Test
    void roundTripsNestedValues() {
        String text = "{\"a\": [1, 2.5, -3e2, true, null], \"b\": {\"s\": \"x\\\"y\\u00e9\\n\"}, \"big\": 123456789012}";
        Object v = Json.parse(text, "t");
        Map<String, Object> m = Json.object(v, "t");
        assertEquals(List.of(1L, 2.5, -300.0, true), Json.array(m.get("a"), "a").subList(0, 4));
        assertNull(Json.array(m.get("a"), "a").get(4));
        assertEquals("x\"yé\n", Json.object(m.get("b"), "b").get("s"));
        assertEquals(123456789012L, m.get("big"));
        assertEquals(v, Json.parse(Json.write(v), "w"));
        assertEquals(v, Json.parse(Json.pretty(v), "p"));
    }

    @Test
    void errorsNameSourceLineAndColumn() {
        CramjetException e = assertThrows(CramjetException.class, () -> Json.parse("{\n  \"a\": [1,\n  2,,]}", "cfg.json"));
        assertTrue(e.getMessage().startsWith("cfg.json: invalid JSON at line 3, column 5"), e.getMessage());
        assertThrows(CramjetException.class, () -> Json.parse("{\"a\":1} x", "t"));
        assertThrows(CramjetException.class, () -> Json.parse("\"abc", "t"));
    }

    @Test
    void typedAccessNamesTheField() {
        CramjetException e = assertThrows(CramjetException.class, () -> Json.integer("x", "config.n_layer"));
        assertEquals("config.n_layer: expected an integer, got a string", e.getMessage());
    }
}
