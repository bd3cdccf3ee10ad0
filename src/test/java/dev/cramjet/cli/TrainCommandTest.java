package dev.cramjet.cli;

import dev.cramjet.train.Checkpoints;
import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.TinyData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** `cramjet train` end to end on a tiny generated corpus: a few seconds of the real model on the CPU. */
class TrainCommandTest {
    @TempDir static Path tmp;
    static Path data;

    @BeforeAll
    static void data() throws IOException { data = TinyData.make(Files.createDirectories(tmp.resolve("data"))); }

    /** Runs the CLI; returns the exit status and what it printed to stderr. */
    private static Object[] cli(String... argv) {
        PrintStream err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int rc = Main.run(argv);
            return new Object[] {rc, buf.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setErr(err);
        }
    }

    private static String[] train(Path run, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--data", data.toString(), "--out", run.toString(), "--model", "micro",
                "--context", "16", "--batch", "4", "--eval-every", "10", "--eval-tokens", "64", "--samples", "1",
                "--sample-tokens", "12", "--checkpoint-minutes", "0"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void trainsWritesTheRunDirectoryRefusesToOverwriteAndResumes() throws Exception {
        Path run = tmp.resolve("run");
        Object[] r = cli(train(run, "--max-steps", "20"));
        assertEquals(0, r[0], (String) r[1]);
        for (String f : List.of("config.json", "tokenizer.json", "metrics.jsonl", "report.html", "samples/step-000000020.txt",
                "checkpoints/step-000000020/manifest.json", "checkpoints/step-000000020/model.safetensors",
                "checkpoints/step-000000020/optimizer.safetensors")) {
            assertTrue(Files.isRegularFile(run.resolve(f)), f);
        }
        var lines = MetricsLog.read(run.resolve("metrics.jsonl"));
        assertEquals(20, lines.stream().filter(m -> m.get("type").equals("train")).count());
        assertEquals(2, lines.stream().filter(m -> m.get("type").equals("eval")).count());
        var report = dev.cramjet.report.Metrics.read(run.resolve("metrics.jsonl"));
        assertEquals(20, report.train().size(), "the report reads what the trainer wrote");

        String before = Files.readString(run.resolve("metrics.jsonl"));
        r = cli(train(run, "--max-steps", "20"));
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).contains(run + ": already exists; pass --resume"), (String) r[1]);
        assertEquals(before, Files.readString(run.resolve("metrics.jsonl")), "nothing overwritten");

        r = cli("train", "--resume", run.toString(), "--model", "small");
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).contains("model: cannot change when resuming"), (String) r[1]);

        r = cli("train", "--resume", run.toString(), "--max-steps", "30");
        assertEquals(0, r[0], (String) r[1]);
        lines = MetricsLog.read(run.resolve("metrics.jsonl"));
        assertEquals(30, lines.stream().filter(m -> m.get("type").equals("train")).count());
        assertEquals(30, Checkpoints.load(run.resolve("checkpoints/step-000000030")).step());

        Path weights = run.resolve("checkpoints/step-000000030/model.safetensors");
        byte[] b = Files.readAllBytes(weights);
        b[b.length - 1] ^= 1;
        Files.write(weights, b);
        // The newest checkpoint is damaged: resume falls back to the one before, and says so.
        Cli fallback = Cli.run("train", "--resume", run.toString(), "--max-steps", "40");
        assertEquals(0, fallback.rc(), fallback.toString());
        assertTrue(fallback.out().contains("skipped checkpoint step-000000030: " + weights + ": corrupted: SHA-256"), fallback.out());
        assertTrue(fallback.out().contains("resuming from checkpoints/step-000000020 (step 20)"), fallback.out());
    }

    @Test
    void forceReplacesRunDirectoriesOnly() throws Exception {
        Path notARun = Files.createDirectories(tmp.resolve("precious"));
        Files.writeString(notARun.resolve("thesis.txt"), "years of work");
        for (boolean force : new boolean[] {false, true}) {
            var e = assertThrows(dev.cramjet.CramjetException.class, () -> TrainingRun.createRunDir(notARun, force));
            assertEquals(notARun + ": exists and is not a run directory (no config.json); choose another --out", e.getMessage(),
                    "neither --resume nor --force is offered for what is not a run");
        }
        assertTrue(Files.exists(notARun.resolve("thesis.txt")));
        Path oldRun = Files.createDirectories(tmp.resolve("old-run/checkpoints/step-000000001"));
        Files.writeString(tmp.resolve("old-run/config.json"), "{}");
        TrainingRun.createRunDir(tmp.resolve("old-run"), true);
        assertFalse(Files.exists(oldRun));
        assertTrue(Files.isDirectory(tmp.resolve("old-run")));
    }

    /** Data prepared with --val-fraction 0: train without evaluation runs; with evaluation it says what to do. */
    @Test
    void trainsWithoutValidationDataWhenEvaluationIsOff() throws Exception {
        Path noVal = Files.createDirectories(tmp.resolve("noval"));
        TinyData.make(noVal);
        Files.delete(noVal.resolve("val_000.bin"));
        List<String> base = List.of("train", "--data", noVal.toString(), "--model", "micro", "--context", "16", "--batch", "4",
                "--max-steps", "3", "--samples", "0", "--checkpoint-minutes", "0");
        List<String> a = new ArrayList<>(base);
        a.addAll(List.of("--out", tmp.resolve("noval-run").toString()));
        Object[] r = cli(a.toArray(String[]::new));
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).contains(noVal + ": no validation shards (val_NNN.bin): it was prepared without a validation split"
                + " (--val-fraction 0, or too little text). Train without evaluation (--eval-minutes 0"), (String) r[1]);
        assertFalse(Files.exists(tmp.resolve("noval-run/config.json")), "refused before the run began");
        a = new ArrayList<>(base);
        a.addAll(List.of("--out", tmp.resolve("noval-run2").toString(), "--eval-minutes", "0"));
        r = cli(a.toArray(String[]::new));
        assertEquals(0, r[0], (String) r[1]);
        assertEquals(3, Checkpoints.load(tmp.resolve("noval-run2/checkpoints/step-000000003")).step());
    }

    /** Before, a data directory prepared again with another tokenizer surfaced as a tensor shape mismatch. */
    @Test
    void resumingOnDataPreparedAgainWithAnotherTokenizerSaysSo() throws Exception {
        Path d = Files.createDirectories(tmp.resolve("reprepared"));
        TinyData.make(d);
        Path run = tmp.resolve("reprepared-run");
        List<String> a = new ArrayList<>(List.of(train(run, "--max-steps", "2")));
        a.set(a.indexOf(data.toString()), d.toString());
        Object[] r = cli(a.toArray(String[]::new));
        assertEquals(0, r[0], (String) r[1]);
        dev.cramjet.tokenizer.Tokenizer other = new dev.cramjet.tokenizer.BpeTrainer().train(TinyData.poems(80, 5), 290,
                dev.cramjet.tokenizer.Tokenizer.DEFAULT_SPECIALS);
        other.save(d.resolve("tokenizer.json"));
        for (String split : List.of("train", "val")) {
            Files.delete(d.resolve(split + "_000.bin"));
            var w = new dev.cramjet.data.ShardWriter(d, split, other.vocabSize(), other.eot(), other.hash(), 1 << 20);
            for (String poem : TinyData.poems(300, split.equals("train") ? 1 : 2)) w.add(other.encode(poem));
            w.finish();
        }
        r = cli("train", "--resume", run.toString(), "--max-steps", "4");
        assertEquals(2, r[0]);
        String own = dev.cramjet.tokenizer.Tokenizer.load(run.resolve("tokenizer.json")).hash();
        assertTrue(((String) r[1]).contains(run + ": this run's tokenizer (" + own + ") differs from the data's in " + d
                + " (" + other.hash() + "): the data was prepared again since the run began"), (String) r[1]);
    }

    @Test
    void badInputIsNamed() throws Exception {
        Object[] r = cli(train(tmp.resolve("bad1"), "--max-steps", "5", "--heads", "3", "--width", "32"));
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).contains("heads: 3 heads do not divide width 32"), (String) r[1]);
        r = cli(train(tmp.resolve("bad2"), "--budget", "0m"));
        assertTrue(((String) r[1]).contains("key 'budget': the duration must be positive"), (String) r[1]);
        r = cli(train(tmp.resolve("bad3"), "--max-steps", "5", "--lerning-rate", "1"));
        assertTrue(((String) r[1]).contains("unknown option --lerning-rate"), (String) r[1]);
        r = cli(train(tmp.resolve("bad4"), "--max-steps", "5", "--batch", "100000"));
        assertTrue(((String) r[1]).contains("batch: 100000 sequences of 16 tokens need"), (String) r[1]);

        // Shards made with another tokenizer.
        Path other = Files.createDirectories(tmp.resolve("other"));
        TinyData.make(other);
        Files.copy(data.resolve("tokenizer.json"), other.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        dev.cramjet.tokenizer.Tokenizer t = dev.cramjet.tokenizer.Tokenizer.load(data.resolve("tokenizer.json"));
        new dev.cramjet.tokenizer.BpeTrainer().train(TinyData.poems(50, 9), 290, dev.cramjet.tokenizer.Tokenizer.DEFAULT_SPECIALS)
                .save(other.resolve("tokenizer.json"));
        assertNotNull(t);
        r = cli("train", "--data", other.toString(), "--out", tmp.resolve("bad5").toString(), "--max-steps", "5");
        assertEquals(2, r[0]);
        assertTrue(((String) r[1]).contains("train_000.bin"), (String) r[1]);

        r = cli("train", "--resume", tmp.resolve("nothing").toString());
        assertTrue(((String) r[1]).contains("not a run directory (no config.json)"), (String) r[1]);
    }
}
