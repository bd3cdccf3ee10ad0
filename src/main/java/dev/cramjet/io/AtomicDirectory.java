package dev.cramjet.io;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A directory written as a whole (an exported or pruned model): filled under a hidden staging name beside it, then
 * renamed into place, so a crash or Ctrl-C leaves the old directory or the new one — never a model with half its
 * files. Staging directories a killed run left behind are removed by the next write.
 */
public final class AtomicDirectory {
    private AtomicDirectory() {}

    @FunctionalInterface
    public interface Writer {
        void write(Path staging) throws IOException;
    }

    /** Writes {@code dir}; an existing one is replaced only when {@code replace} (the commands' --force). */
    public static void write(Path dir, boolean replace, Writer writer) throws IOException {
        Path target = dir.toAbsolutePath().normalize();
        if (Files.exists(target) && !replace) throw new CramjetException(dir + ": already exists (--force replaces it)");
        if (Files.exists(target) && !Files.isDirectory(target)) throw new CramjetException(dir + ": exists and is not a directory");
        Path parent = target.getParent();
        Files.createDirectories(parent);
        String name = target.getFileName().toString();
        try (Stream<Path> siblings = Files.list(parent)) {
            for (Path p : siblings.filter(p -> p.getFileName().toString().startsWith("." + name + ".partial-")).toList()) delete(p);
        }
        Path staging = parent.resolve("." + name + ".partial-" + ProcessHandle.current().pid());
        Files.createDirectories(staging);
        try {
            writer.write(staging);
            if (Files.exists(target)) {
                Path old = parent.resolve("." + name + ".partial-old-" + ProcessHandle.current().pid());
                Files.move(target, old);
                Files.move(staging, target);
                delete(old);
            } else {
                Files.move(staging, target);
            }
        } finally {
            if (Files.exists(staging)) delete(staging);
        }
    }

    private static void delete(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }
}
