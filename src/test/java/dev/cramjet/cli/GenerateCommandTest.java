package dev.cramjet.cli;

import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.train.Checkpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class GenerateCommandTest {
    @TempDir
    static Path dir;
    static Path modelDir, run;

    /** A model directory and a run with three checkpoints (val losses 3.0, 2.5, none) of a small random model. */
    @BeforeAll
    static void setUp() throws Exception {
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 20; i++) docs.add("Once upon a time there was a model. 从前有一个模型。 " + i);
        Tokenizer tok = new BpeTrainer().train(docs, 300, List.of(Tokenizer.END_OF_TEXT));
        try (CpuBackend cpu = new CpuBackend()) {
            // More output rows than the tokenizer has tokens (as when a vocabulary is rounded up): never sampled.
            GPT m = new GPT(cpu, GPTConfig.gpt2(2, 2, 32, tok.vocabSize() + 20, 64), 1, 1, 3);
            // Weights scaled up from the N(0, 0.02) initialisation so greedy choices are not decided by rounding.
            float[] p = new float[(int) m.parameters().values().size()];
            cpu.download(m.parameters().values(), p);
            for (int i = 0; i < p.length; i++) p[i] *= 10;
            cpu.upload(m.parameters().values(), p);
            modelDir = dir.resolve("model");
            ModelDir.save(m, modelDir);
            tok.save(modelDir.resolve("tokenizer.json"));
            run = dir.resolve("run");
            Checkpoints cks = new Checkpoints(run.resolve("checkpoints"), 10);
            cks.save(100, 3.0, Map.of("step", 100L), d -> ModelDir.save(m, d));
            cks.save(200, 2.5, Map.of("step", 200L), d -> ModelDir.save(m, d));
            cks.save(300, Double.NaN, Map.of("step", 300L), d -> ModelDir.save(m, d));
            tok.save(run.resolve("tokenizer.json"));
        }
    }

    private record Out(int status, String stdout, String stderr) {}

    private static Out cramjet(String... argv) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int status = Main.run(argv);
            return new Out(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void generatesFromAModelDirectoryAndTheUncachedPathAgrees() {
        Out cached = cramjet("generate", "--model", modelDir.toString(), "--prompt", "Once upon", "--max-tokens", "20",
                "--temperature", "0", "--verbose");
        assertEquals(0, cached.status(), cached.stderr());
        assertTrue(cached.stdout().startsWith("Once upon"), cached.stdout());
        assertTrue(cached.stdout().length() > "Once upon\n".length(), cached.stdout());
        assertTrue(cached.stderr().contains("tokens/s"), cached.stderr());
        assertTrue(cached.stderr().contains("KV cache"), cached.stderr());
        Out uncached = cramjet("generate", "--model", modelDir.toString(), "--prompt", "Once upon", "--max-tokens", "20",
                "--temperature", "0", "--no-cache");
        assertEquals(0, uncached.status(), uncached.stderr());
        assertEquals(cached.stdout(), uncached.stdout());
    }

    @Test
    void aSeedReproducesSampledText() {
        String[] argv = {"generate", "--model", modelDir.toString(), "--max-tokens", "15", "--seed", "5", "--top-k", "20"};
        Out a = cramjet(argv);
        assertEquals(0, a.status(), a.stderr());
        assertEquals(a.stdout(), cramjet(argv).stdout());
    }

    @Test
    void aRunUsesItsBestCheckpoint() throws Exception {
        List<GenerateCommand.Source> s = GenerateCommand.fromRun(run);
        assertEquals(List.of("step-000000200", "step-000000100", "step-000000300"),
                s.stream().map(x -> x.model().getFileName().toString()).toList(), "best loss first, then the unevaluated");
        assertEquals(run.resolve("tokenizer.json"), s.getFirst().tokenizer());
        assertTrue(s.getFirst().what().contains("2.5000"), s.getFirst().what());
        Out o = cramjet("generate", "--run", run.toString(), "--prompt", "Once", "--max-tokens", "5", "--verbose");
        assertEquals(0, o.status(), o.stderr());
        assertTrue(o.stderr().contains("step-000000200"), o.stderr());
    }

    /** Before, a model.safetensors that failed its SHA-256 was used silently, and a corrupted best blocked --run. */
    @Test
    void aCheckpointThatFailsItsManifestIsRefusedByEvalAndSkippedByGenerate(@TempDir Path tmp) throws Exception {
        Path copy = tmp.resolve("run");
        try (var walk = Files.walk(run)) {
            for (Path p : walk.toList()) Files.copy(p, copy.resolve(run.relativize(p).toString()));
        }
        Path best = copy.resolve("checkpoints/step-000000200"), weights = best.resolve("model.safetensors");
        byte[] b = Files.readAllBytes(weights);
        b[b.length - 3] ^= 1;
        Files.write(weights, b);
        Files.copy(copy.resolve("tokenizer.json"), best.resolve("tokenizer.json"));
        Out eval = cramjet("eval", "--model", best.toString(), "--text", copy.resolve("tokenizer.json").toString());
        assertEquals(2, eval.status(), eval.stdout());
        assertTrue(eval.stderr().startsWith("cramjet eval: " + weights + ": corrupted: SHA-256"), eval.stderr());
        Out gen = cramjet("generate", "--run", copy.toString(), "--max-tokens", "3", "--verbose");
        assertEquals(0, gen.status(), gen.stderr());
        assertTrue(gen.stderr().startsWith("cramjet generate: skipped checkpoint step-000000200: " + weights + ": corrupted: SHA-256"), gen.stderr());
        assertTrue(gen.stderr().contains("(step-000000100, validation loss 3.0000)"), gen.stderr());
    }

    @Test
    void badInvocationsAreClearErrors(@TempDir Path empty) throws Exception {
        Out neither = cramjet("generate", "--prompt", "x");
        assertEquals(2, neither.status());
        assertTrue(neither.stderr().contains("give exactly one of --model DIR or --run DIR"), neither.stderr());
        Out noTokenizer = cramjet("generate", "--model", run.resolve("checkpoints/step-000000100").toString());
        assertEquals(2, noTokenizer.status());
        assertTrue(noTokenizer.stderr().contains("no tokenizer.json"), noTokenizer.stderr());
        Out noCheckpoints = cramjet("generate", "--run", empty.toString());
        assertTrue(noCheckpoints.stderr().contains("no complete checkpoint"), noCheckpoints.stderr());
        Out badDevice = cramjet("generate", "--model", modelDir.toString(), "--device", "tpu");
        assertTrue(badDevice.stderr().contains("unknown device 'tpu'"), badDevice.stderr());
        Out badTemp = cramjet("generate", "--model", modelDir.toString(), "--temperature", "-1");
        assertTrue(badTemp.stderr().contains("temperature must be"), badTemp.stderr());
        Files.createDirectories(empty.resolve("m"));
        Out noWeights = cramjet("generate", "--model", empty.resolve("m").toString());
        assertTrue(noWeights.stderr().contains("no model.safetensors"), noWeights.stderr());
    }
}
