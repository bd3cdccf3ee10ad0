package dev.cramjet.engine.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** How the native int8 kernel is found, built and refused (its arithmetic is Q8Test's). */
class Q8NativeTest {
    @Test
    void fallsBackToJavaWhenAskedOrWithoutACompiler(@TempDir Path cache) throws Exception {
        String[] why = new String[1];
        assertNull(Q8Native.load(Map.of("CRAMJET_Q8", "java", "CRAMJET_CACHE", cache.toString()), "/nohome", why));
        assertEquals("asked for", why[0]);
        // Without a usable compiler the build fails cleanly, whatever the CPU, and leaves no library in the cache.
        Q8Native none = Q8Native.load(Map.of("CC", cache.resolve("no-such-cc").toString(), "CRAMJET_CACHE", cache.toString()), "/nohome", why);
        assertNull(none);
        assertTrue(why[0].startsWith("no C compiler") || why[0].startsWith("the CPU has no") || why[0].startsWith("no /proc"), why[0]);
        Path dir = cache.resolve("cpu");
        if (Files.isDirectory(dir)) {   // absent when the CPU check refused first
            try (var files = Files.list(dir)) {
                assertEquals(0, files.count(), "nothing left behind");
            }
        }
    }
}
