package dev.cramjet.engine;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import dev.cramjet.engine.cuda.CudaDriver;

import static org.junit.jupiter.api.Assertions.*;

/** Opening backends by name; which CUDA outcome is right is decided by whether this machine has a driver. */
class BackendsTest {
    @Test
    void opensTheCpuWhichHasNoAcceleratorExtras() {
        try (Backend be = Backends.open("cpu")) {
            assertEquals("cpu", be.name());
            assertTrue(Backends.accelerator(be).isEmpty());
        }
    }

    @Test
    void namesAnUnknownDevice() {
        CramjetException e = assertThrows(CramjetException.class, () -> Backends.open("tpu"));
        assertTrue(e.getMessage().contains("'tpu'") && e.getMessage().contains("cpu or cuda"), e.getMessage());
    }

    @Test
    void withoutADriverCudaFailsWithTheBackendsOwnMessage() {
        Assumptions.assumeFalse(CudaDriver.installed(), "a CUDA driver is installed here");
        CramjetException e = assertThrows(CramjetException.class, () -> Backends.open("cuda"));
        assertTrue(e.getMessage().contains("libcuda.so.1") && e.getMessage().contains("NVIDIA driver"), e.getMessage());
        assertFalse(e.getMessage().contains("failed to start"), "the reflective constructor's wrapper is unwrapped: " + e.getMessage());
    }

    @Test
    void withADriverCudaOpensWithItsExtras() {
        Assumptions.assumeTrue(CudaDriver.installed(), "no CUDA driver here");
        try (Backend cuda = Backends.open("cuda")) {
            assertEquals("cuda", cuda.name());
            Accelerator gpu = Backends.accelerator(cuda).orElseThrow();
            assertTrue(gpu.multiprocessors() > 0);
        }
    }
}
