package dev.cramjet.text;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Expands what the user named — files, directories (walked recursively), globs like {@code data/**}{@code /*.json}
 * — into a sorted list of regular files, so a corpus is always read in the same order on every machine.
 * Hidden files and directories (names starting with '.') are skipped inside walked directories.
 */
public final class Inputs {
    private Inputs() {}

    public static List<Path> expand(List<String> specs) {
        List<Path> out = new ArrayList<>();
        for (String spec : specs) {
            int before = out.size();
            if (isGlob(spec)) {
                glob(spec, out);
            } else {
                Path p = Path.of(spec);
                if (Files.isDirectory(p)) walk(p, null, out);
                else if (Files.isRegularFile(p)) out.add(p);
                else if (!Files.exists(p)) throw new CramjetException(spec + ": no such file or directory");
                else throw new CramjetException(spec + ": not a regular file or directory");
            }
            if (out.size() == before) throw new CramjetException(spec + ": matches no files");
        }
        return out;
    }

    private static boolean isGlob(String s) {
        for (char c : s.toCharArray()) if (c == '*' || c == '?' || c == '[' || c == '{') return true;
        return false;
    }

    /** The directory part before the first glob character is walked; the whole pattern is matched against paths. */
    private static void glob(String spec, List<Path> out) {
        String sep = FileSystems.getDefault().getSeparator();
        int firstMeta = 0;
        while (!"*?[{".contains(String.valueOf(spec.charAt(firstMeta)))) firstMeta++;
        int cut = spec.lastIndexOf(sep, firstMeta);
        Path base = cut < 0 ? Path.of("") : Path.of(cut == 0 ? sep : spec.substring(0, cut));
        if (!Files.isDirectory(base.toString().isEmpty() ? Path.of(".") : base)) {
            throw new CramjetException(spec + ": directory " + base + " does not exist");
        }
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + spec);
        walk(base, m, out);
    }

    private static void walk(Path dir, PathMatcher matcher, List<Path> out) {
        Path root = dir.toString().isEmpty() ? Path.of(".") : dir;
        try (Stream<Path> s = Files.walk(root)) {
            s.filter(Files::isRegularFile)
                    .map(p -> dir.toString().isEmpty() ? root.relativize(p) : p)
                    .filter(p -> !hidden(dir, p))
                    .filter(p -> matcher == null || matcher.matches(p))
                    .sorted()
                    .forEach(out::add);
        } catch (IOException e) {
            throw new CramjetException(dir + ": cannot list directory: " + e.getMessage(), e);
        } catch (UncheckedIOException e) {
            throw new CramjetException(dir + ": cannot list directory: " + e.getCause().getMessage(), e);
        }
    }

    private static boolean hidden(Path base, Path p) {
        Path rel = base.toString().isEmpty() ? p : base.relativize(p);
        for (Path part : rel) if (part.toString().startsWith(".")) return true;
        return false;
    }
}
