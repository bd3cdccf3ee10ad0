package dev.cramjet;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Node.js tools some tests drive (Hugging Face tokenizers, playwright-core), installed by the scripts/setup-*.sh
 * scripts into .cache/node; the tests skip when they are missing.
 */
public final class Node {
    private Node() {}

    /** Where the set-up scripts install npm packages. */
    public static final Path MODULES = Path.of(".cache/node/node_modules").toAbsolutePath();

    /** An executable on the PATH, or null. */
    public static Path onPath(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    /** Runs a command with NODE_PATH at {@link #MODULES}; returns its standard output, failing on a non-zero exit. */
    public static String run(List<String> command, int timeoutSeconds) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(false);
        pb.environment().put("NODE_PATH", MODULES.toString());
        Path err = Files.createTempFile("node", ".err");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) p.destroyForcibly();
        String stderr = Files.readString(err);
        Files.delete(err);
        assertEquals(0, p.exitValue(), () -> command.get(1) + " failed: " + stderr);
        return new String(out, StandardCharsets.UTF_8);
    }
}
