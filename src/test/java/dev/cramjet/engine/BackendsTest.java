package dev.cramjet.engine;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class BackendsTest {
    @Test
    void opensTheCpuAndNamesWhatIsWrongOtherwise() {
        try (Backend be = Backends.open("cpu")) {
            assertEquals("cpu", be.name());
        }
        CramjetException e = assertThrows(CramjetException.class, () -> Backends.open("tpu"));
        assertTrue(e.getMessage().contains("'tpu'") && e.getMessage().contains("cpu or cuda"), e.getMessage());
        // Without a GPU (CI) cuda must fail with a message, never an internal error; with one it opens.
        try (Backend cuda = Backends.open("cuda")) {
            assertEquals("cuda", cuda.name());
        } catch (CramjetException expected) {
            assertTrue(expected.getMessage().contains("cuda"), expected.getMessage());
        }
    }
}
