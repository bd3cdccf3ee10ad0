package dev.cramjet.train;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class TrainConfigTest {
    @TempDir Path tmp;

    private static String error(Map<String, Object> file, Map<String, String> args) {
        return assertThrows(CramjetException.class, () -> TrainConfig.resolve(file, "run.json", args)).getMessage();
    }

    @Test
    void defaultsThenPresetThenFileThenCommandLine() throws Exception {
        Path f = tmp.resolve("run.json");
        Files.writeString(f, "{\"model\": \"gpt2-124m\", \"lr\": 0.001, \"max_steps\": 500, \"schedule\": \"wsd\"}");
        TrainConfig c = TrainConfig.load(f, Map.of("lr", "3e-4", "budget", "1h30m"));
        assertEquals("gpt2-124m", c.model());
        assertEquals(3e-4, c.lr(), "the command line wins over the file");
        assertEquals(524288, c.tokensPerStep(), "from the preset");
        assertEquals(500, c.budget().steps(), "underscores accepted in files");
        assertEquals(5400, c.budget().seconds());
        assertEquals("wsd", c.schedule(1).name());
        assertEquals(0.1, c.weightDecay(), "a key default");
        assertEquals(32, c.accumulation(1024).target(), "524288 tokens per step from 16 x 1024-token micro-batches");
        // What config.json holds resolves to the same config.
        TrainConfig again = TrainConfig.resolve(Json.object(Json.parse(Json.pretty(c.toJson()), "x"), "x"), "config.json", Map.of());
        assertEquals(c.toJson(), again.toJson());
    }

    @Test
    void trainingPresetsAreTheModelPresets() {
        java.util.Set<String> models = new java.util.TreeSet<>(java.util.List.of(dev.cramjet.nn.GPTConfig.PRESETS));
        models.addAll(java.util.List.of(dev.cramjet.nn.EncoderConfig.PRESETS));
        assertEquals(models, new java.util.TreeSet<>(TrainConfig.PRESETS.keySet()));
    }

    @Test
    void unknownKeysAreNamedWithASuggestion() {
        assertEquals("run.json: unknown config key 'lerning-rate' (cramjet train --help lists them)",
                error(Map.of("lerning-rate", 0.1, "max-steps", 1L), Map.of()));
        assertEquals("the command line: unknown config key 'budjet'; did you mean budget (cramjet train --help lists them)",
                error(Map.of(), Map.of("budjet", "10m")));
    }

    @Test
    void impossibleValuesNameTheKeyAndWhatWasExpected() {
        assertEquals("heads: 5 heads do not divide width 128 (the head size width/heads must be a whole number)",
                error(Map.of(), Map.of("heads", "5", "width", "128", "max-steps", "1")));
        assertEquals("the command line: key 'budget': the duration must be positive, got '0s'",
                error(Map.of(), Map.of("budget", "0s")));
        assertEquals("run.json: key 'budget' expects a positive duration like 10m or 6h, got a number",
                error(Map.of("budget", 0L), Map.of()));
        assertEquals("no budget: give --budget (e.g. 10m), --max-steps or --tokens", error(Map.of(), Map.of()));
        assertEquals("run.json: key 'dropout' must be a fraction in [0, 1], got 1.5",
                error(Map.of("dropout", 1.5, "max-steps", 1L), Map.of()));
        assertEquals("run.json: key 'batch': expected a whole count like 300000, 2M or 1.5B, got 'x'",
                error(Map.of("batch", "x", "max-steps", 1L), Map.of()));
        assertTrue(error(Map.of(), Map.of("model", "gpt5", "max-steps", "1")).startsWith("model: unknown preset 'gpt5'; expected one of [bert-base, bert-tiny, crammed-bert"));
        assertEquals("objective: mlm needs an encoder preset, and small is a GPT (encoders: bert-tiny, crammed-tiny, crammed-small, bert-base, crammed-bert)",
                error(Map.of(), Map.of("objective", "mlm", "max-steps", "1")));
        assertTrue(error(Map.of(), Map.of("schedule", "step", "max-steps", "1")).startsWith("schedule: expected cosine"));
        assertEquals("zero: 0 (replicated optimizer state) or 1 (ZeRO-1, sharded), got 2", error(Map.of(), Map.of("zero", "2", "max-steps", "1")));
        assertEquals("dist-timeout: must be a positive number of seconds", error(Map.of(), Map.of("dist-timeout", "0", "max-steps", "1")));
    }

    @Test
    void tokensPerStepIsTheWholeStepsSharedByTheRanks() {
        TrainConfig c = TrainConfig.resolve(Map.of(), "test", Map.of("batch", "4", "tokens-per-step", "1000", "max-steps", "1"));
        assertEquals(4, c.accumulation(64).target(), "⌈1000 / (4·64)⌉ on one process");
        assertEquals(2, c.accumulation(64, 2).target(), "⌈1000 / (2·4·64)⌉ on each of 2 ranks");
        assertEquals(1, c.accumulation(64, 8).target(), "at least one micro-batch per rank");
    }
}
