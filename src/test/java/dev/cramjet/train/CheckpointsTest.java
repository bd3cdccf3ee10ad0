package dev.cramjet.train;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class CheckpointsTest {
    @TempDir Path tmp;

    private static Checkpoints.Payload payload(String text) {
        return dir -> {
            AtomicFile.writeString(dir.resolve("model.bin"), text);
            AtomicFile.writeString(dir.resolve("optimizer.bin"), text.repeat(3));
        };
    }

    private static List<String> names(Checkpoints c) throws IOException {
        return c.list().stream().map(p -> p.getFileName().toString()).toList();
    }

    @Test
    void savesAndLoadsWithVerifiedChecksums() throws Exception {
        var c = new Checkpoints(tmp.resolve("ck"), 3);
        Path d = c.save(42, 1.5, Map.of("step", 42L, "data", Map.of("pos", 7L)), payload("weights"));
        assertEquals("step-000000042", d.getFileName().toString());
        Checkpoints.Saved s = c.latest(m -> fail(m)).orElseThrow();
        assertEquals(42, s.step());
        assertEquals(1.5, s.valLoss());
        assertEquals(Map.of("pos", 7L), s.state().get("data"));
        assertEquals("weights", Files.readString(s.dir().resolve("model.bin")));
        String manifest = Files.readString(d.resolve(Checkpoints.MANIFEST));
        assertTrue(manifest.contains("\"model.bin\"") && manifest.contains("\"sha256\""), manifest);
    }

    @Test
    void aCrashWhileWritingLeavesThePreviousCheckpointAsTheLatest() throws Exception {
        var c = new Checkpoints(tmp.resolve("ck"), 3);
        c.save(10, Double.NaN, Map.of("step", 10L), payload("good"));
        // The process "dies" half-way through the model file of the next checkpoint.
        IOException crash = assertThrows(IOException.class, () -> c.save(20, Double.NaN, Map.of("step", 20L), dir ->
                AtomicFile.write(dir.resolve("model.bin"), ch -> {
                    ch.write(ByteBuffer.wrap("half a mod".getBytes()));
                    throw new IOException("simulated crash");
                })));
        assertEquals("simulated crash", crash.getMessage());
        assertEquals(10, c.latest(m -> fail(m)).orElseThrow().step());
        assertEquals(List.of("step-000000010"), names(c));
        try (var s = Files.list(c.root())) {
            assertEquals(List.of("step-000000010"), s.map(p -> p.getFileName().toString()).toList(), "no partial directory left");
        }
    }

    @Test
    void aCheckpointWithoutManifestIsIgnoredAndCleanedUp() throws Exception {
        var c = new Checkpoints(tmp.resolve("ck"), 3);
        c.save(10, Double.NaN, Map.of("step", 10L), payload("good"));
        // What a kill -9 between the payload and the manifest leaves: a partial directory, and a step directory
        // whose manifest is missing (as if deleted half-way).
        Path partial = Files.createDirectories(c.root().resolve(".partial-step-000000020"));
        Files.writeString(partial.resolve("model.bin"), "torn");
        Path noManifest = Files.createDirectories(c.root().resolve("step-000000030"));
        Files.writeString(noManifest.resolve("model.bin"), "torn");
        List<String> skipped = new ArrayList<>();
        assertEquals(10, c.latest(skipped::add).orElseThrow().step());
        assertEquals(List.of("skipped checkpoint step-000000030: " + noManifest + ": incomplete checkpoint (no manifest.json; a save"
                + " or a removal was interrupted)"), skipped, "skipped, but not without a word");
        c.save(40, Double.NaN, Map.of("step", 40L), payload("next"));
        assertFalse(Files.exists(partial));
        assertFalse(Files.exists(noManifest), "a half-removed checkpoint is removed by the next save");
        assertEquals(40, c.latest(m -> fail(m)).orElseThrow().step());
    }

    @Test
    void aCorruptedOrTruncatedFileIsRefusedByName() throws Exception {
        var c = new Checkpoints(tmp.resolve("ck"), 3);
        Path d = c.save(5, Double.NaN, Map.of("step", 5L), payload("weights"));
        Files.writeString(d.resolve("model.bin"), "weighTs");
        CramjetException e = assertThrows(CramjetException.class, () -> Checkpoints.load(d));
        assertTrue(e.getMessage().startsWith(d.resolve("model.bin") + ": corrupted: SHA-256"), e.getMessage());
        Files.writeString(d.resolve("model.bin"), "weight");
        e = assertThrows(CramjetException.class, () -> Checkpoints.load(d));
        assertEquals(d.resolve("model.bin") + ": corrupted: 6 bytes, the manifest says 7 (" + d.resolve("manifest.json") + ")", e.getMessage());
        Files.delete(d.resolve("model.bin"));
        e = assertThrows(CramjetException.class, () -> Checkpoints.load(d));
        assertEquals(d.resolve("model.bin") + ": missing (listed in " + d.resolve("manifest.json") + ")", e.getMessage());
        assertTrue(c.latest(m -> {}).isEmpty());
    }

    /** Before, one flipped byte in the newest checkpoint blocked resume although an earlier one was valid. */
    @Test
    void aCorruptedNewestCheckpointFallsBackToTheNewestValidOneAndSaysWhy() throws Exception {
        var c = new Checkpoints(tmp.resolve("ck"), 3);
        c.save(10, Double.NaN, Map.of("step", 10L), payload("good"));
        Path newest = c.save(20, Double.NaN, Map.of("step", 20L), payload("fine"));
        byte[] b = Files.readAllBytes(newest.resolve("optimizer.bin"));
        b[0] ^= 1;
        Files.write(newest.resolve("optimizer.bin"), b);
        List<String> skipped = new ArrayList<>();
        assertEquals(10, c.latest(skipped::add).orElseThrow().step());
        assertEquals(1, skipped.size());
        assertTrue(skipped.getFirst().startsWith("skipped checkpoint step-000000020: " + newest.resolve("optimizer.bin")
                + ": corrupted: SHA-256"), skipped.getFirst());
    }

    @Test
    void theManifestStateAndDirectoryMustAgreeOnTheStep() throws Exception {
        var c = new Checkpoints(tmp.resolve("ck"), 3);
        Path d = c.save(42, Double.NaN, Map.of("step", 41L), payload("w"));
        CramjetException e = assertThrows(CramjetException.class, () -> Checkpoints.load(d));
        assertEquals(d.resolve("state.json") + ": step 41, but manifest.json says 42", e.getMessage());
        Path moved = Files.move(c.save(43, Double.NaN, Map.of("step", 43L), payload("w")), c.root().resolve("step-000000044"));
        e = assertThrows(CramjetException.class, () -> Checkpoints.load(moved));
        assertEquals(moved.resolve("manifest.json") + ": step 43 does not match the directory's name step-000000044", e.getMessage());
    }

    @Test
    void keepsTheLastKAndTheBest() throws Exception {
        var c = new Checkpoints(tmp.resolve("ck"), 2);
        double[] loss = {Double.NaN, 3.0, 1.0, 2.0, Double.NaN, 2.5};
        for (int i = 0; i < loss.length; i++) c.save(i * 100L, loss[i], Map.of("step", i * 100L), payload("w" + i));
        assertEquals(List.of("step-000000200", "step-000000400", "step-000000500"), names(c));
        assertEquals(200, c.best(m -> { }).orElseThrow().step());
    }

    /** A run monitoring F1 saves −F1 as its objective: the best checkpoint is the highest F1, not the lowest loss. */
    @Test
    void theBestFollowsTheObjectiveNotTheLoss() throws Exception {
        var c = new Checkpoints(tmp.resolve("ck"), 1);
        c.save(100, 0.20, -0.90, Map.of("step", 100L), payload("a"));
        c.save(200, 0.10, -0.80, Map.of("step", 200L), payload("b"));
        c.save(300, Double.NaN, Double.NaN, Map.of("step", 300L), payload("c"));
        assertEquals(List.of("step-000000100", "step-000000300"), names(c));
        Checkpoints.Saved best = c.best(m -> { }).orElseThrow();
        assertEquals(100, best.step());
        assertEquals(0.20, best.valLoss());
        assertEquals(-0.90, best.objective());
        assertTrue(new Checkpoints(tmp.resolve("none"), 1).best(m -> { }).isEmpty());
    }
}
