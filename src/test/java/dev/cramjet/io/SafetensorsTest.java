package dev.cramjet.io;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SafetensorsTest {
    @TempDir
    Path dir;

    @Test
    void roundTripsWithAlignedHeaderAndMetadata() throws IOException {
        float[] a = {1f, -2.5f, 3.25f, 1e-3f, 7f, 8f};
        float[] b = {0.5f, 1.0078125f, -3f};
        Path f = dir.resolve("t.safetensors");
        Safetensors.write(f, Map.of("format", "pt"), List.of(
                new Safetensors.Item("a", Safetensors.WriteType.F32, new long[] {2, 2}, a, 2),
                new Safetensors.Item("b", Safetensors.WriteType.BF16, new long[] {3}, b, 0)));
        byte[] bytes = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + n) % 8, "header padded to 8 bytes");
        assertEquals(8 + n + 16 + 6, bytes.length);
        try (Safetensors.Reader r = Safetensors.open(f)) {
            assertEquals(List.of("a", "b"), List.copyOf(r.tensors().keySet()));
            assertEquals("pt", r.metadata().get("format"));
            assertArrayEquals(new float[] {3.25f, 1e-3f, 7f, 8f}, r.read("a"));
            assertArrayEquals(new long[] {2, 2}, r.entry("a").shape());
            assertEquals("BF16", r.entry("b").dtype());
            assertArrayEquals(new float[] {0.5f, 1.0078125f, -3f}, r.read("b")); // all exactly representable in bf16
            CramjetException e = assertThrows(CramjetException.class, () -> r.entry("c"));
            assertTrue(e.getMessage().contains("t.safetensors") && e.getMessage().contains("'c'"), e.getMessage());
        }
        assertFalse(Files.list(dir).anyMatch(p -> p.getFileName().toString().contains(".tmp")), "no temp file left");
    }

    /** Writes a file by hand: the header text as given, then {@code data} bytes. */
    private Path raw(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        Path f = dir.resolve(name);
        Files.write(f, buf.array());
        return f;
    }

    private void rejects(Path f, String... fragments) {
        CramjetException e = assertThrows(CramjetException.class, () -> Safetensors.open(f).close());
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "expected '" + s + "' in: " + e.getMessage());
    }

    @Test
    void rejectsEveryKindOfDamage() throws IOException {
        Path f = dir.resolve("short");
        Files.write(f, new byte[] {1, 2, 3});
        rejects(f, "truncated");

        Path big = dir.resolve("big");
        Files.write(big, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        rejects(big, "header length 1000 goes beyond the file size 16");

        rejects(raw("past", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "'x'", "past the end");
        rejects(raw("overlap", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlap", "'x'", "'y'");
        rejects(raw("size", "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "'x'", "needs 12 bytes");
        rejects(raw("dtype", "{\"x\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "'x'", "unknown dtype 'F33'");
        rejects(raw("hole", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "hole", "'x'");
        rejects(raw("tail", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8), "after the last tensor");
        rejects(raw("json", "{\"x\":{\"dtype\":\"F32\",", 0), "invalid JSON");
        rejects(raw("field", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"offsets\":[0,4]}}", 4), "'x'", "\"offsets\"");
        rejects(raw("missing", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "'x'", "data_offsets");

        Path ints = raw("ints", "{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
        try (Safetensors.Reader r = Safetensors.open(ints)) {
            CramjetException e = assertThrows(CramjetException.class, () -> r.read("x"));
            assertTrue(e.getMessage().contains("'x'") && e.getMessage().contains("I64"), e.getMessage());
        }
        CramjetException e = assertThrows(CramjetException.class, () -> Safetensors.open(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("nope"), e.getMessage());
    }
}
