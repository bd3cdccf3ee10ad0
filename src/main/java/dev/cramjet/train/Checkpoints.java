package dev.cramjet.train;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.io.Manifest;
import dev.cramjet.io.TextFile;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A run's checkpoints: one directory per checkpoint, {@code step-000001200/}, holding the files the model and
 * optimizer write, {@code state.json} (step, data position, counters) and a {@link Manifest} — written last —
 * listing every file with its size and SHA-256.
 *
 * <p>Saving never leaves a half checkpoint where a reader would take it for a whole one: files are written into
 * {@code .partial-step-…/} (each through {@link AtomicFile}, so fsynced), hashed as read back from disk, the manifest
 * is written, and only then is the directory renamed to its final name. A directory without a manifest is
 * incomplete (a save or a removal was cut short); it is skipped with a word and removed by the next save. Loading
 * verifies every checksum and that the manifest, state.json and the directory name agree on the step;
 * {@link #latest} falls back past a corrupted checkpoint to the newest valid one, saying which it skipped and why.
 * After each save the store keeps the newest {@code keep} checkpoints plus the best: the lowest validation objective
 * (the loss, unless the run monitors another metric; manifests that predate the objective rank by their loss).
 */
public final class Checkpoints {
    /** Writes a checkpoint's payload files into a directory. */
    @FunctionalInterface
    public interface Payload {
        void write(Path dir) throws IOException;
    }

    /** A complete, verified checkpoint. {@code valLoss} is NaN when none was measured. */
    /** A complete, verified checkpoint. {@code valLoss} and {@code objective} are NaN when none was measured. */
    public record Saved(Path dir, long step, double valLoss, double objective, Map<String, Object> state) {}

    public static final String MANIFEST = Manifest.FILE;
    public static final String STATE = "state.json";
    private static final String PREFIX = "step-";
    private static final String PARTIAL = ".partial-";
    private static final String FORMAT = "cramjet-checkpoint";

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
        return save(step, valLoss, valLoss, state, payload);
    }

    /** {@link #save} with a validation objective other than the loss (lower is better; NaN when none). */
    public Path save(long step, double valLoss, double objective, Map<String, Object> state, Payload payload) throws IOException {
        Files.createDirectories(root);
        Path partial = partial(step);
        Path dest = dir(step);
        removeTree(partial);
        Files.createDirectories(partial);
        try {
            payload.write(partial);
            AtomicFile.writeString(partial.resolve(STATE), Json.pretty(state));
            Map<String, Object> fields = new LinkedHashMap<>();
            fields.put("format", FORMAT);
            fields.put("version", 1L);
            fields.put("step", step);
            fields.put("val_loss", Double.isNaN(valLoss) ? null : valLoss);
            fields.put("objective", Double.isNaN(objective) ? null : objective);
            Manifest.write(partial, fields);
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
        return steps().stream().filter(p -> Files.isRegularFile(p.resolve(MANIFEST))).toList();
    }

    /** Every step directory, complete or not, oldest first. */
    private List<Path> steps() throws IOException {
        if (!Files.isDirectory(root)) return List.of();
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(root, PREFIX + "*")) {
            for (Path p : s) if (Files.isDirectory(p)) out.add(p);
        }
        out.sort(Comparator.comparing(p -> p.getFileName().toString()));
        return out;
    }

    /**
     * The newest checkpoint that verifies; empty when there is none. Newer ones that are incomplete or fail
     * verification are skipped, each with a line to {@code skipped} saying which and why.
     */
    public Optional<Saved> latest(Consumer<String> skipped) throws IOException {
        List<Path> all = steps();
        for (int i = all.size() - 1; i >= 0; i--) {
            Path p = all.get(i);
            try {
                return Optional.of(load(p));
            } catch (CramjetException e) {
                skipped.accept("skipped checkpoint " + p.getFileName() + ": " + e.getMessage());
            }
        }
        return Optional.empty();
    }

    /**
     * Complete checkpoints, best first: by the validation objective their manifests record (lowest first), then
     * those without one, newest first. Incomplete ones are left out with a line to {@code skipped}. Nothing is
     * verified.
     */
    public List<Path> bestFirst(Consumer<String> skipped) throws IOException {
        List<Path> out = new ArrayList<>();
        for (Path p : steps()) {
            if (Files.isRegularFile(p.resolve(MANIFEST))) out.add(p);
            else skipped.accept("skipped checkpoint " + p.getFileName() + ": incomplete (no " + MANIFEST + ")");
        }
        out.sort(Comparator.comparingDouble((Path p) -> Double.isNaN(objective(p)) ? Double.POSITIVE_INFINITY : objective(p))
                .thenComparing(p -> p.getFileName().toString(), Comparator.reverseOrder()));
        return out;
    }

    /**
     * The best checkpoint that verifies (see {@link #bestFirst}); the ones before it that fail verification are
     * skipped, each with a line to {@code skipped}. Empty when none verifies.
     */
    public Optional<Saved> best(Consumer<String> skipped) throws IOException {
        for (Path p : bestFirst(skipped)) {
            try {
                return Optional.of(load(p));
            } catch (CramjetException e) {
                skipped.accept("skipped checkpoint " + p.getFileName() + ": " + e.getMessage());
            }
        }
        return Optional.empty();
    }

    /**
     * Reads and verifies one checkpoint directory: the manifest must be valid and every file it lists present with
     * its recorded size and SHA-256, and the manifest, state.json and the directory's name must agree on the step.
     * Errors name the file and what was expected.
     */
    public static Saved load(Path dir) throws IOException {
        Path mf = dir.resolve(MANIFEST);
        if (!Files.isDirectory(dir)) throw new CramjetException(dir + ": no such checkpoint directory");
        if (!Files.isRegularFile(mf)) {
            throw new CramjetException(dir + ": incomplete checkpoint (no " + MANIFEST + "; a save or a removal was interrupted)");
        }
        Map<String, Object> m = Manifest.read(dir);
        if (!FORMAT.equals(m.get("format"))) {
            throw new CramjetException(mf + ": not a Cramjet checkpoint manifest (format is " + m.get("format") + ")");
        }
        Map<String, Object> files = Json.object(m.get("files"), mf + ": files");
        if (!files.containsKey(STATE)) throw new CramjetException(mf + ": lists no " + STATE);
        Manifest.verify(dir, null);
        Path sf = dir.resolve(STATE);
        Map<String, Object> state = Json.object(Json.parse(TextFile.read(sf, "checkpoint state"), sf.toString()), sf.toString());
        long step = Json.integer(m.get("step"), mf + ": step");
        long stateStep = Json.integer(state.get("step"), sf + ": step");
        if (stateStep != step) throw new CramjetException(sf + ": step " + stateStep + ", but " + MANIFEST + " says " + step);
        String name = dir.getFileName().toString();
        if (name.startsWith(PREFIX) && !name.equals(String.format("%s%09d", PREFIX, step))) {
            throw new CramjetException(mf + ": step " + step + " does not match the directory's name " + name);
        }
        Object vl = m.get("val_loss"), ob = m.containsKey("objective") ? m.get("objective") : vl;
        return new Saved(dir, step, vl == null ? Double.NaN : Json.number(vl, mf + ": val_loss"),
                ob == null ? Double.NaN : Json.number(ob, mf + ": objective"), state);
    }

    /**
     * Keeps the newest {@code keep} complete checkpoints and the best; removes the rest, any partial ones, and
     * step directories without a manifest (what a kill during an earlier removal leaves).
     */
    void prune() throws IOException {
        List<Path> all = list();
        Path best = null;
        double bestObjective = Double.POSITIVE_INFINITY;
        for (Path p : all) {
            double o = objective(p);
            if (o < bestObjective) { bestObjective = o; best = p; }
        }
        for (int i = 0; i < all.size() - keep; i++) {
            if (!all.get(i).equals(best)) removeTree(all.get(i));
        }
        for (Path p : steps()) if (!Files.exists(p.resolve(MANIFEST))) removeTree(p);
        try (DirectoryStream<Path> s = Files.newDirectoryStream(root, PARTIAL + "*")) {
            for (Path p : s) removeTree(p);
        }
    }

    /** The validation loss a checkpoint's manifest records (unverified), NaN when none or unreadable. */
    public static double valLoss(Path dir) { return manifestNumber(dir, "val_loss"); }

    /** The manifest's validation objective (its val_loss when it predates objectives), NaN when none or unreadable. */
    private static double objective(Path dir) {
        double o = manifestNumber(dir, "objective");
        return Double.isNaN(o) ? valLoss(dir) : o;
    }

    private static double manifestNumber(Path dir, String key) {
        try {
            Object v = Manifest.read(dir).get(key);
            return v instanceof Number n ? n.doubleValue() : Double.NaN;
        } catch (RuntimeException e) {
            return Double.NaN;
        }
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
