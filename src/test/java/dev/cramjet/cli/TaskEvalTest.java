package dev.cramjet.cli;

import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** eval --task generate: greedy continuations scored against references. */
class TaskEvalTest {
    @TempDir
    Path dir;

    @Test
    void aModelScoredAgainstItsOwnContinuationsIsPerfect() throws Exception {
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 20; i++) docs.add("the quick brown fox jumps over the lazy dog number " + i);
        Tokenizer tok = new BpeTrainer().train(docs, 300, Tokenizer.DEFAULT_SPECIALS);
        Path model = dir.resolve("m");
        try (CpuBackend cpu = new CpuBackend()) {
            GPT m = new GPT(cpu, GPTConfig.gpt2(2, 2, 32, tok.vocabSize(), 64), 1, 1, 11);
            float[] p = new float[(int) m.parameters().values().size()];
            cpu.download(m.parameters().values(), p);
            for (int i = 0; i < p.length; i++) p[i] *= 10;   // decisive greedy choices
            cpu.upload(m.parameters().values(), p);
            ModelDir.save(m, model);
        }
        tok.save(model.resolve("tokenizer.json"));
        Path first = Files.writeString(dir.resolve("a.jsonl"), Json.write(Map.of("prompt", "the quick", "reference", "brown fox"))
                + "\n" + Json.write(Map.of("prompt", "lazy dog", "reference", List.of("x", "y"))) + "\n");
        Path out = dir.resolve("out.json");
        var r = FinetuneCommandTest.cramjet("eval", "--task", "generate", "--model", model.toString(), "--data", first.toString(),
                "--max-tokens", "12", "--out", out.toString());
        assertEquals(0, r.rc(), r.err());
        assertTrue(r.out().contains("BLEU = "), r.out());
        Map<String, Object> m = Json.object(Json.parse(Files.readString(out), "o"), "o");
        List<Object> hyps = Json.array(m.get("hypotheses"), "h");
        assertEquals(2, hyps.size());

        StringBuilder own = new StringBuilder();
        own.append(Json.write(Map.of("prompt", "the quick", "reference", hyps.get(0)))).append('\n');
        own.append(Json.write(Map.of("prompt", "lazy dog", "reference", List.of("something else", hyps.get(1))))).append('\n');
        Path second = Files.writeString(dir.resolve("b.jsonl"), own);
        var s = FinetuneCommandTest.cramjet("eval", "--task", "generate", "--model", model.toString(), "--data", second.toString(),
                "--max-tokens", "12", "--json");
        assertEquals(0, s.rc(), s.err());
        Map<String, Object> j = Json.object(Json.parse(s.out(), "j"), "j");
        assertEquals(1.0, Json.number(j.get("exact_match"), "em"));
        if (!hyps.get(0).toString().isBlank() && !hyps.get(1).toString().isBlank()) {
            assertEquals(100.0, Json.number(j.get("chrf"), "chrf"), 1e-9);
        }

        Path bad = Files.writeString(dir.resolve("c.jsonl"), "{\"prompt\":\"x\"}\n");
        var e = FinetuneCommandTest.cramjet("eval", "--task", "generate", "--model", model.toString(), "--data", bad.toString());
        assertEquals(2, e.rc());
        assertTrue(e.err().contains(bad + ":1: missing field 'reference'"), e.err());
    }
}
