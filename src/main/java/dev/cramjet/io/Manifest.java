package dev.cramjet.io;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * {@code manifest.json}: the files of a directory with their sizes and SHA-256, plus the writer's own fields
 * (a checkpoint's step). Written last, so a directory with a manifest is complete; read back, it proves that the
 * files are the ones written. Checkpoints write one; a model loaded from a directory that has one is verified.
 * <pre>
 * {"format": "cramjet-checkpoint", "version": 1, "step": 1200, "val_loss": 3.91,
 *  "files": {"model.safetensors": {"bytes": 5242968, "sha256": "9f86d0…"}, …}}
 * </pre>
 */
public final class Manifest {
    private Manifest() {}

    public static final String FILE = "manifest.json";

    /** Writes {@code dir/manifest.json}: {@code fields}, then every regular, non-hidden file hashed as read back from disk. */
    public static void write(Path dir, Map<String, Object> fields) throws IOException {
        Map<String, Object> files = new LinkedHashMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.sorted().toList()) {
                String fn = f.getFileName().toString();
                if (!Files.isRegularFile(f) || fn.startsWith(".") || fn.equals(FILE)) continue;
                files.put(fn, Map.of("bytes", Files.size(f), "sha256", sha256(f)));
            }
        }
        Map<String, Object> m = new LinkedHashMap<>(fields);
        m.put("files", files);
        AtomicFile.writeString(dir.resolve(FILE), Json.pretty(m));
    }

    /** The manifest of {@code dir}, parsed and shaped like one; nothing is hashed. */
    public static Map<String, Object> read(Path dir) {
        Path mf = dir.resolve(FILE);
        Map<String, Object> m = Json.object(Json.parse(TextFile.read(mf, "manifest"), mf.toString()), mf.toString());
        Map<String, Object> files = Json.object(m.get("files"), mf + ": files");
        for (var e : files.entrySet()) {
            String where = mf + ": files." + e.getKey();
            if (e.getKey().isEmpty() || e.getKey().contains("/") || e.getKey().contains("\\") || e.getKey().startsWith(".")) {
                throw new CramjetException(where + ": not a file name in this directory");
            }
            Map<String, Object> info = Json.object(e.getValue(), where);
            Json.integer(info.get("bytes"), where + ".bytes");
            Json.string(info.get("sha256"), where + ".sha256");
        }
        return m;
    }

    /**
     * Reads the manifest and checks {@code names} (every listed file when null) against it: each must be listed,
     * present, and of the recorded size and SHA-256. Returns the manifest. Errors name the file and what was expected.
     */
    public static Map<String, Object> verify(Path dir, Collection<String> names) throws IOException {
        Map<String, Object> m = read(dir);
        Path mf = dir.resolve(FILE);
        Map<String, Object> files = Json.object(m.get("files"), mf + ": files");
        for (String name : names == null ? files.keySet() : names) {
            Path f = dir.resolve(name);
            if (!files.containsKey(name)) throw new CramjetException(f + ": not listed in " + mf + ", so it cannot be verified");
            Map<String, Object> info = Json.object(files.get(name), mf + ": files." + name);
            if (!Files.isRegularFile(f)) throw new CramjetException(f + ": missing (listed in " + mf + ")");
            long bytes = Json.integer(info.get("bytes"), mf + ": files." + name + ".bytes");
            if (Files.size(f) != bytes) {
                throw new CramjetException(f + ": corrupted: " + Files.size(f) + " bytes, the manifest says " + bytes + " (" + mf + ")");
            }
            String expected = Json.string(info.get("sha256"), mf + ": files." + name + ".sha256");
            String actual = sha256(f);
            if (!actual.equals(expected)) {
                throw new CramjetException(f + ": corrupted: SHA-256 " + actual + " does not match the manifest's " + expected + " (" + mf + ")");
            }
        }
        return m;
    }

    static String sha256(Path f) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(f)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
