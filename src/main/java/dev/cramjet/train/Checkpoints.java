package dev.cramjet.train;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A run's checkpoints: one directory per checkpoint, {@code step-000001200/}, holding the files the model and
 * optimizer write, {@code state.json} (step, data position, counters) and {@code manifest.json} — written last —
 * listing every file with its size and SHA-256.
 *
 * <p>Saving never leaves a half checkpoint where a reader would take it for a whole one: files are written into
 * {@code .partial-step-…/} (each through {@link AtomicFile}, so fsynced), hashed as read back from disk, the manifest
 * is written, and only then is the directory renamed to its final name. A directory without a manifest is
 * incomplete and ignored (and removed by the next save). Loading verifies every checksum. After each save the store
 * keeps the newest {@code keep} checkpoints plus the one with the best validation loss.
 */
public final class Checkpoints {
    /** Writes a checkpoint's payload files into a directory. */
    @FunctionalInterface
    public interface Payload {
        void write(Path dir) throws IOException;
    }

    /** A complete, verified checkpoint. {@code valLoss} is NaN when none was measured. */
    public record Saved(Path dir, long step, double valLoss, Map<String, Object> state) {}

    public static final String MANIFEST = "manifest.json";
    public static final String STATE = "state.json";
    private static final String PREFIX = "step-";
    private static final String PARTIAL = ".partial-";

    private final Path root;
    private final int keep;

    public Checkpoints(Path root, int keep) {
        this.root = root;
        this.keep = keep;
    }

    public Path root() { return root; }

    /**
     * Saves a checkpoint for {@code step}: the payload's files, {@code state} as state.json, then the manifest.
     * Returns the final directory. If anything fails, the partial directory is removed and the previous
     * checkpoints are untouched.
     */
    public Path save(long step, double valLoss, Map<String, Object> state, Payload payload) throws IOException {
        Files.createDirectories(root);
        Path partial = partial(step);
        Path dest = dir(step);
        removeTree(partial);
        Files.createDirectories(partial);
        try {
            payload.write(partial);
            AtomicFile.writeString(partial.resolve(STATE), Json.pretty(state));
            Map<String, Object> files = new LinkedHashMap<>();
            try (Stream<Path> s = Files.list(partial)) {
                for (Path f : s.sorted().toList()) {
                    String fn = f.getFileName().toString();
                    if (!Files.isRegularFile(f) || fn.startsWith(".")) continue;
                    files.put(fn, Map.of("bytes", Files.size(f), "sha256", sha256(f)));
                }
            }
            Map<String, Object> manifest = new LinkedHashMap<>();
            manifest.put("format", "cramjet-checkpoint");
            manifest.put("version", 1L);
            manifest.put("step", step);
            manifest.put("val_loss", Double.isNaN(valLoss) ? null : valLoss);
            manifest.put("files", files);
            AtomicFile.writeString(partial.resolve(MANIFEST), Json.pretty(manifest));
            // Replacing a checkpoint of the same step (a rollback re-saving it): drop the old one's manifest first
            // so a crash in between leaves it incomplete rather than mixed.
            if (Files.exists(dest)) removeTree(dest);
            try {
                Files.move(partial, dest, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(partial, dest);
            }
            syncDirectory(root);
        } catch (IOException | RuntimeException e) {
            removeTree(partial);
            throw e;
        }
        prune();
        return dest;
    }

    /** Where the checkpoint of {@code step} lives once complete. */
    public Path dir(long step) { return root.resolve(String.format("%s%09d", PREFIX, step)); }

    /**
     * Where {@link #save} writes it first: the directory its payload receives, which other data-parallel ranks
     * write their parts into while rank 0 saves.
     */
    public Path partial(long step) { return root.resolve(PARTIAL + dir(step).getFileName()); }

    /** Complete checkpoints (those with a manifest), oldest first. Nothing is verified yet. */
    public List<Path> list() throws IOException {
        if (!Files.isDirectory(root)) return List.of();
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(root, PREFIX + "*")) {
            for (Path p : s) if (Files.isRegularFile(p.resolve(MANIFEST))) out.add(p);
        }
        out.sort(Comparator.comparing(p -> p.getFileName().toString()));
        return out;
    }

    /** The newest complete checkpoint, verified; empty when there is none. */
    public Optional<Saved> latest() throws IOException {
        List<Path> all = list();
        return all.isEmpty() ? Optional.empty() : Optional.of(load(all.getLast()));
    }

    /**
     * Reads and verifies one checkpoint directory: the manifest must be valid and every file it lists present with
     * its recorded size and SHA-256. Errors name the file and what was expected.
     */
    public static Saved load(Path dir) throws IOException {
        Path mf = dir.resolve(MANIFEST);
        if (!Files.isDirectory(dir)) throw new CramjetException(dir + ": no such checkpoint directory");
        if (!Files.isRegularFile(mf)) {
            throw new CramjetException(dir + ": incomplete checkpoint (no " + MANIFEST + "; it was probably interrupted while saving)");
        }
        Map<String, Object> m = Json.object(Json.parse(Files.readString(mf), mf.toString()), mf.toString());
        if (!"cramjet-checkpoint".equals(m.get("format"))) {
            throw new CramjetException(mf + ": not a Cramjet checkpoint manifest (format is " + m.get("format") + ")");
        }
        Map<String, Object> files = Json.object(m.get("files"), mf + ": files");
        for (var e : files.entrySet()) {
            Path f = dir.resolve(e.getKey());
            Map<String, Object> info = Json.object(e.getValue(), mf + ": files." + e.getKey());
            if (!Files.isRegularFile(f)) throw new CramjetException(f + ": missing (listed in " + MANIFEST + ")");
            long bytes = Json.integer(info.get("bytes"), mf + ": files." + e.getKey() + ".bytes");
            if (Files.size(f) != bytes) {
                throw new CramjetException(f + ": corrupted: " + Files.size(f) + " bytes, the manifest says " + bytes);
            }
            String expected = Json.string(info.get("sha256"), mf + ": files." + e.getKey() + ".sha256");
            String actual = sha256(f);
            if (!actual.equals(expected)) {
                throw new CramjetException(f + ": corrupted: SHA-256 " + actual + " does not match the manifest's " + expected);
            }
        }
        if (!files.containsKey(STATE)) throw new CramjetException(mf + ": lists no " + STATE);
        Path sf = dir.resolve(STATE);
        Map<String, Object> state = Json.object(Json.parse(Files.readString(sf), sf.toString()), sf.toString());
        Object vl = m.get("val_loss");
        return new Saved(dir, Json.integer(m.get("step"), mf + ": step"), vl == null ? Double.NaN : Json.number(vl, mf + ": val_loss"), state);
    }

    /** Keeps the newest {@code keep} complete checkpoints and the best; removes the rest and any partial ones. */
    void prune() throws IOException {
        List<Path> all = list();
        Path best = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        for (Path p : all) {
            double vl = manifestValLoss(p);
            if (vl < bestLoss) { bestLoss = vl; best = p; }
        }
        for (int i = 0; i < all.size() - keep; i++) {
            if (!all.get(i).equals(best)) removeTree(all.get(i));
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(root, PARTIAL + "*")) {
            for (Path p : s) removeTree(p);
        }
    }

    private static double manifestValLoss(Path dir) {
        try {
            Object v = Json.object(Json.parse(Files.readString(dir.resolve(MANIFEST)), dir.toString()), dir.toString()).get("val_loss");
            return v instanceof Number n ? n.doubleValue() : Double.NaN;
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
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

    /** Deletes a directory tree, the manifest first so a half-deleted checkpoint reads as incomplete. */
    private static void removeTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        Files.deleteIfExists(dir.resolve(MANIFEST));
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // Not every platform can open a directory; the rename is atomic regardless.
        }
    }
}
