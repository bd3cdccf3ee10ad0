package dev.cramjet.engine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;

/** Whether this machine has a real CUDA driver: the tests that need a GPU, and those that need its absence, ask. */
public final class CudaDriver {
    private CudaDriver() {}

    public static boolean installed() {
        try {
            SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
