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

    private static Cli cramjet(String... argv) { return Cli.run(argv); }

    @Test
    void generatesFromAModelDirectoryAndTheUncachedPathAgrees() {
        Cli cached = cramjet("generate", "--model", modelDir.toString(), "--prompt", "Once upon", "--max-tokens", "20",
                "--temperature", "0", "--verbose");
        assertEquals(0, cached.rc(), cached.err());
        assertTrue(cached.out().startsWith("Once upon"), cached.out());
        assertTrue(cached.out().length() > "Once upon\n".length(), cached.out());
        assertTrue(cached.err().contains("tokens/s"), cached.err());
        assertTrue(cached.err().contains("KV cache"), cached.err());
        Cli uncached = cramjet("generate", "--model", modelDir.toString(), "--prompt", "Once upon", "--max-tokens", "20",
                "--temperature", "0", "--no-cache");
        assertEquals(0, uncached.rc(), uncached.err());
        assertEquals(cached.out(), uncached.out());
    }

    @Test
    void aSeedReproducesSampledText() {
        String[] argv = {"generate", "--model", modelDir.toString(), "--max-tokens", "15", "--seed", "5", "--top-k", "20"};
        Cli a = cramjet(argv);
        assertEquals(0, a.rc(), a.err());
        assertEquals(a.out(), cramjet(argv).out());
    }

    @Test
    void aRunUsesItsBestCheckpoint() throws Exception {
        List<GenerateCommand.Source> s = GenerateCommand.fromRun(run);
        assertEquals(List.of("step-000000200", "step-000000100", "step-000000300"),
                s.stream().map(x -> x.model().getFileName().toString()).toList(), "best loss first, then the unevaluated");
        assertEquals(run.resolve("tokenizer.json"), s.getFirst().tokenizer());
        assertTrue(s.getFirst().what().contains("2.5000"), s.getFirst().what());
        Cli o = cramjet("generate", "--run", run.toString(), "--prompt", "Once", "--max-tokens", "5", "--verbose");
        assertEquals(0, o.rc(), o.err());
        assertTrue(o.err().contains("step-000000200"), o.err());
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
        Cli eval = cramjet("eval", "--model", best.toString(), "--text", copy.resolve("tokenizer.json").toString());
        assertEquals(2, eval.rc(), eval.out());
        assertTrue(eval.err().startsWith("cramjet eval: " + weights + ": corrupted: SHA-256"), eval.err());
        Cli gen = cramjet("generate", "--run", copy.toString(), "--max-tokens", "3", "--verbose");
        assertEquals(0, gen.rc(), gen.err());
        assertTrue(gen.err().startsWith("cramjet generate: skipped checkpoint step-000000200: " + weights + ": corrupted: SHA-256"), gen.err());
        assertTrue(gen.err().contains("(step-000000100, validation loss 3.0000)"), gen.err());
    }

    @Test
    void badInvocationsAreClearErrors(@TempDir Path empty) throws Exception {
        Cli neither = cramjet("generate", "--prompt", "x");
        assertEquals(2, neither.rc());
        assertTrue(neither.err().contains("give exactly one of --model DIR or --run DIR"), neither.err());
        Cli noTokenizer = cramjet("generate", "--model", run.resolve("checkpoints/step-000000100").toString());
        assertEquals(2, noTokenizer.rc());
        assertTrue(noTokenizer.err().contains("no tokenizer.json"), noTokenizer.err());
        Cli noCheckpoints = cramjet("generate", "--run", empty.toString());
        assertTrue(noCheckpoints.err().contains("no complete checkpoint"), noCheckpoints.err());
        Cli badDevice = cramjet("generate", "--model", modelDir.toString(), "--device", "tpu");
        assertTrue(badDevice.err().contains("unknown device 'tpu'"), badDevice.err());
        Cli badTemp = cramjet("generate", "--model", modelDir.toString(), "--temperature", "-1");
        assertTrue(badTemp.err().contains("temperature must be"), badTemp.err());
        Files.createDirectories(empty.resolve("m"));
        Cli noWeights = cramjet("generate", "--model", empty.resolve("m").toString());
        assertTrue(noWeights.err().contains("no model.safetensors"), noWeights.err());
    }
}
