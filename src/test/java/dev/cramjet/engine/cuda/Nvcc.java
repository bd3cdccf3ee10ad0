package dev.cramjet.engine.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Finds and runs nvcc for the tests that check the kernels compile (absent on most machines: tests skip). */
final class Nvcc {
    private Nvcc() {}

    /** The kernel resources as files: the folder under target/classes that Maven copied them to. */
    static Path kernelDir() {
        try {
            return Path.of(Nvcc.class.getResource("/dev/cramjet/engine/cuda/common.cuh").toURI()).getParent();
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Optional<Path> find() {
        List<Path> candidates = new ArrayList<>();
        String home = System.getenv("CUDA_HOME");
        if (home != null) candidates.add(Path.of(home, "bin", "nvcc"));
        String path = System.getenv("PATH");
        if (path != null) for (String d : path.split(":")) if (!d.isBlank()) candidates.add(Path.of(d, "nvcc"));
        candidates.add(Path.of("/usr/local/cuda/bin/nvcc"));
        return candidates.stream().filter(Files::isExecutable).findFirst();
    }

    /** Output of a finished process (stdout and stderr together) and its exit status. */
    record Run(int status, String output) {}

    static Run run(List<String> command, String stdin) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (stdin != null) p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            return new Run(-1, "timed out: " + command);
        }
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
