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
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Expands what the user named — files, directories (walked recursively), globs like {@code data/**}{@code /*.json}
 * — into a sorted list of regular files, so a corpus is always read in the same order on every machine.
 * Hidden files and directories (names starting with '.') are skipped inside walked directories, and so — unless
 * every file's format is given — are files whose extension is not a text format, so that a picture beside the
 * text does not stop the run; those are listed in {@link Found#skipped()}.
 */
public final class Inputs {
    private Inputs() {}

    /** Extensions a walk reads without --format (a trailing .gz looked through); files without one are read too. */
    private static final Set<String> TEXT = Set.of("txt", "text", "md", "markdown", "rst", "html", "htm", "xhtml", "json",
            "jsonl", "ndjson", "eml", "csv", "tsv");

    /** The files to read, and those a directory walk passed over for their extension. */
    public record Found(List<Path> files, List<Path> skipped) {}

    /** @param everyExtension read every file in walked directories (the format is given, so it is not guessed) */
    public static Found expand(List<String> specs, boolean everyExtension) {
        List<Path> out = new ArrayList<>(), skipped = new ArrayList<>();
        for (String spec : specs) {
            int before = out.size();
            if (isGlob(spec)) {
                glob(spec, out);
            } else {
                Path p = Path.of(spec);
                if (Files.isDirectory(p)) {
                    for (Path f : walk(p, null)) (everyExtension || isText(f) ? out : skipped).add(f);
                } else if (Files.isRegularFile(p)) {
                    out.add(p);
                } else if (!Files.exists(p)) {
                    throw new CramjetException(spec + ": no such file or directory");
                } else {
                    throw new CramjetException(spec + ": not a regular file or directory");
                }
            }
            if (out.size() == before) {
                throw new CramjetException(spec + ": matches no files" + (skipped.isEmpty() ? ""
                        : " of a text format (found " + describe(skipped) + "; give --format to read them)"));
            }
        }
        return new Found(out, skipped);
    }

    /** A few of the paths, for a message. */
    public static String describe(List<Path> paths) {
        List<String> names = paths.stream().limit(3).map(Path::toString).toList();
        return String.join(", ", names) + (paths.size() > 3 ? " and " + (paths.size() - 3) + " more" : "");
    }

    private static boolean isText(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".gz")) n = n.substring(0, n.length() - 3);
        int dot = n.lastIndexOf('.');
        return dot < 0 || TEXT.contains(n.substring(dot + 1));
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
        out.addAll(walk(base, m));
    }

    private static List<Path> walk(Path dir, PathMatcher matcher) {
        Path root = dir.toString().isEmpty() ? Path.of(".") : dir;
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile)
                    .map(p -> dir.toString().isEmpty() ? root.relativize(p) : p)
                    .filter(p -> !hidden(dir, p))
                    .filter(p -> matcher == null || matcher.matches(p))
                    .sorted()
                    .toList();
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
