package dev.cramjet.engine.cuda;

import dev.cramjet.engine.cuda.LibraryFinder.Library;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Library discovery over fake folder trees: priorities, versions, pip wheel layouts and the not-found message. */
class LibraryFinderTest {
    @TempDir
    Path root;

    private Path file(String relative) throws IOException {
        Path p = root.resolve(relative);
        Files.createDirectories(p.getParent());
        Files.writeString(p, "not really a library");
        return p;
    }

    private LibraryFinder finder(Map<String, String> env) { return new LibraryFinder(env, root, root.resolve("home")); }

    @Test
    void highestVersionWinsWithinTheDriversMajor() throws IOException {
        file("cuda/lib64/libcublasLt.so.12.4.5");
        file("cuda/lib64/libcublasLt.so.12.9.1");
        Path v13 = file("cuda/lib64/libcublasLt.so.13.0.2");
        file("cuda/lib64/libcublasLt.so");
        LibraryFinder f = finder(Map.of("CUDA_HOME", root.resolve("cuda").toString()));
        assertEquals(Optional.of(v13), f.find(Library.CUBLASLT, 0).path());
        assertEquals(Optional.of(root.resolve("cuda/lib64/libcublasLt.so.12.9.1")), f.find(Library.CUBLASLT, 12).path());
        // Only the unversioned development link is older than anything a CUDA 11 driver accepts.
        assertEquals(Optional.of(root.resolve("cuda/lib64/libcublasLt.so")), f.find(Library.CUBLASLT, 11).path());
    }

    @Test
    void explicitFolderBeatsCudaHomeWhichBeatsSystemFolders() throws IOException {
        Path mine = file("mine/libnvrtc.so.12");
        file("cuda/lib64/libnvrtc.so.12");
        file("usr/local/cuda/lib64/libnvrtc.so.12");
        Map<String, String> env = Map.of("CRAMJET_CUDA_LIB", root.resolve("mine").toString(), "CUDA_HOME", root.resolve("cuda").toString());
        assertEquals(Optional.of(mine), finder(env).find(Library.NVRTC, 12).path());
        assertEquals(Optional.of(root.resolve("cuda/lib64/libnvrtc.so.12")),
                finder(Map.of("CUDA_HOME", root.resolve("cuda").toString())).find(Library.NVRTC, 12).path());
        assertEquals(Optional.of(root.resolve("usr/local/cuda/lib64/libnvrtc.so.12")), finder(Map.of()).find(Library.NVRTC, 12).path());
    }

    @Test
    void findsPipWheelsInVirtualenvsAndUserSitePackages() throws IOException {
        Path venvNvrtc = file("venv/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12");
        Path userCublas = file("home/.local/lib/python3.11/site-packages/nvidia/cublas/lib/libcublasLt.so.12");
        Path cu13 = file("home/.pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cu13/lib/libnvrtc.so.13");
        LibraryFinder f = finder(Map.of("VIRTUAL_ENV", root.resolve("venv").toString()));
        assertEquals(Optional.of(venvNvrtc), f.find(Library.NVRTC, 12).path());
        assertEquals(Optional.of(userCublas), f.find(Library.CUBLASLT, 12).path());
        // The virtualenv comes first even when an older major: it is the environment the user activated.
        assertEquals(Optional.of(venvNvrtc), f.find(Library.NVRTC, 13).path());
        assertEquals(Optional.of(cu13), finder(Map.of()).find(Library.NVRTC, 13).path());
    }

    @Test
    void ignoresDanglingLinksAndLookalikeNames() throws IOException {
        Path dir = Files.createDirectories(root.resolve("lib"));
        Files.createSymbolicLink(dir.resolve("libnvrtc.so.12"), dir.resolve("missing.so"));
        file("lib/libnvrtc.so.12.alt");
        file("lib/libnvrtc-builtins.so.12.4");
        Path real = file("lib/libnvrtc.so.11.8");
        assertEquals(Optional.of(real), finder(Map.of("LD_LIBRARY_PATH", dir.toString())).find(Library.NVRTC, 0).path());
    }

    @Test
    void notFoundSaysWhatIsNeededAndEveryFolderLooked() throws IOException {
        Files.createDirectories(root.resolve("cuda/lib64"));
        Files.createDirectories(root.resolve("usr/lib/x86_64-linux-gnu"));
        LibraryFinder.Result r = finder(Map.of("CUDA_HOME", root.resolve("cuda").toString())).find(Library.CUBLASLT, 12);
        assertFalse(r.path().isPresent());
        String msg = r.explain();
        assertTrue(msg.startsWith("libcublasLt.so not found: cuBLASLt"), msg);
        assertTrue(msg.contains(root.resolve("cuda/lib64").toString()), msg);
        assertTrue(msg.contains(root.resolve("usr/lib/x86_64-linux-gnu").toString()), msg);
        assertTrue(msg.contains("CUDA_HOME"), msg);
        // Only existing folders are listed (usr/lib exists as the parent of usr/lib/x86_64-linux-gnu).
        assertEquals(List.of(root.resolve("cuda/lib64"), root.resolve("usr/lib/x86_64-linux-gnu"), root.resolve("usr/lib")), r.looked());
    }
}
