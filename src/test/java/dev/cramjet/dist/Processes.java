package dev.cramjet.dist;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/** Child JVMs and mpirun jobs for the tests, every one bounded in time and killed with its descendants past it. */
final class Processes {
    private Processes() {}

    /** How a run ended and what it printed (stdout and stderr together). */
    record Ended(int status, String output) {}

    static boolean mpiAvailable() {
        try {
            Launcher.find("mpirun", null);
            java.lang.foreign.SymbolLookup.libraryLookup("libmpi.so.40", java.lang.foreign.Arena.global());
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** This JVM's java command for {@code mainClass}, with {@code jvm} options first (e.g. -Dcramjet.threads=1). */
    static List<String> java(List<String> jvm, String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>(Launcher.javaCommand(mainClass, args));
        cmd.addAll(1, jvm);
        return cmd;
    }

    static Process start(List<String> command, Path log) throws IOException { return start(command, Map.of(), log); }

    static Process start(List<String> command, Map<String, String> env, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(Launcher.MPIRUN_ENV);
        pb.environment().putAll(env);
        return pb.start();
    }

    /** Runs to the end, or fails the test after {@code seconds} (having killed the whole process tree). */
    static Ended run(List<String> command, Path log, int seconds) throws Exception { return run(command, Map.of(), log, seconds); }

    static Ended run(List<String> command, Map<String, String> env, Path log, int seconds) throws Exception {
        Process p = start(command, env, log);
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            kill(p);
            fail("timed out after " + seconds + " s: " + String.join(" ", command) + "\n" + Files.readString(log));
        }
        return new Ended(p.exitValue(), Files.readString(log));
    }

    static void kill(Process p) throws InterruptedException {
        List<ProcessHandle> tree = new ArrayList<>(p.descendants().toList());
        tree.add(p.toHandle());
        for (ProcessHandle h : tree) h.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
    }
}
