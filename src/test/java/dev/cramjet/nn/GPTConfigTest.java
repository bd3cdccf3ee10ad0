package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class GPTConfigTest {
    @Test
    void presetsHaveTheDocumentedShapes() {
        GPTConfig g = GPTConfig.preset("gpt2-124m");
        assertEquals(12, g.nLayer());
        assertEquals(768, g.nEmbd());
        assertEquals(50257, g.vocabSize());
        assertEquals(50304, g.paddedVocab());
        assertEquals(1024, g.blockSize());
        assertEquals(3072, g.mlpHidden());
        GPTConfig tiny = GPTConfig.preset("tiny");
        assertEquals(4, tiny.nLayer());
        assertEquals(256, tiny.nEmbd());
        assertEquals(4, tiny.nHead());
        assertEquals(8192, tiny.paddedVocab());
        GPTConfig small = GPTConfig.preset("small");
        assertEquals(6, small.nHead());
        assertEquals(384, small.nEmbd());
        assertEquals(16, GPTConfig.preset("gpt2-medium").nHead());
        CramjetException e = assertThrows(CramjetException.class, () -> GPTConfig.preset("huge"));
        assertTrue(e.getMessage().contains("'huge'") && e.getMessage().contains("gpt2-124m"), e.getMessage());
    }

    @Test
    void jsonRoundTripsAndOverridesFollowDerivedDefaults() {
        GPTConfig c = GPTConfig.preset("small");
        assertEquals(c, GPTConfig.fromJson(Json.object(Json.parse(Json.pretty(c.toJson()), "t"), "t"), "t"));
        String text = Json.write(c.with(Map.of("dropout", 0.1), "t").toJson());
        assertTrue(text.contains("\"dropout\":0.1,") && text.contains("\"norm_eps\":1.0E-5"), text);

        Map<String, Object> j = new LinkedHashMap<>();
        j.put("preset", "tiny");
        j.put("mlp", "swiglu");
        j.put("norm", "rmsnorm");
        j.put("positions", "rope");
        j.put("vocab_size", 1000L);
        GPTConfig m = GPTConfig.fromJson(j, "cfg.json");
        assertEquals(GPTConfig.Mlp.SWIGLU, m.mlp());
        assertEquals(GPTConfig.Norm.RMS, m.norm());
        assertEquals(704, m.mlpHidden()); // 8/3·256 = 682 → 704
        assertEquals(1024, m.paddedVocab());
        // An explicit non-default value survives later changes.
        GPTConfig p = m.with(Map.of("padded_vocab", "1088"), "cli").with(Map.of("n_layer", "2"), "cli");
        assertEquals(1088, p.paddedVocab());
        assertEquals(2, p.nLayer());
    }

    /** head_dim follows n_embd / n_head until set; set (pruned heads), it stays and the attention is narrower. */
    @Test
    void headDimIsDerivedUntilHeadsArePruned() {
        GPTConfig tiny = GPTConfig.preset("tiny");
        assertEquals(64, tiny.headSize());
        assertEquals(256, tiny.attnWidth());
        assertEquals(64L, tiny.toJson().get("head_dim"));
        assertEquals(32, tiny.with(Map.of("n_head", "8"), "t").headSize(), "a derived head size follows n_head");
        GPTConfig pruned = tiny.with(Map.of("n_head", 3L, "head_dim", 64L), "t");
        assertEquals(3, pruned.nHead());
        assertEquals(192, pruned.attnWidth(), "3 heads of 64 in a 256-wide model");
        assertEquals(pruned, GPTConfig.fromJson(Json.object(Json.parse(Json.pretty(pruned.toJson()), "t"), "t"), "t"));
        assertEquals(64, pruned.with(Map.of("n_layer", 2L), "t").headSize(), "a set head size survives other changes");
        assertEquals(tiny, GPTConfig.fromJson(Map.of("preset", "tiny"), "t"), "configs written before head_dim read as before");
        Map<String, Object> old = new LinkedHashMap<>(tiny.toJson());
        old.remove("head_dim");
        assertEquals(tiny, GPTConfig.fromJson(old, "t"));
        CramjetException e = assertThrows(CramjetException.class, () -> tiny.with(Map.of("head_dim", 0L), "c"));
        assertTrue(e.getMessage().contains("head_dim must be positive"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> tiny.with(Map.of("positions", "rope", "n_head", 3L, "head_dim", 15L), "c"));
        assertTrue(e.getMessage().contains("even head size, head_dim = 15"), e.getMessage());
    }

    @Test
    void validationNamesTheKey() {
        Map<String, Object> j = new LinkedHashMap<>(GPTConfig.preset("tiny").toJson());
        j.put("n_heads", 4L);
        CramjetException e = assertThrows(CramjetException.class, () -> GPTConfig.fromJson(j, "cfg.json"));
        assertTrue(e.getMessage().contains("cfg.json") && e.getMessage().contains("\"n_heads\""), e.getMessage());

        e = assertThrows(CramjetException.class, () -> GPTConfig.preset("tiny").with(Map.of("n_head", "3"), "cfg.json"));
        assertTrue(e.getMessage().contains("n_head (3) must divide n_embd (256), or head_dim must be given"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> GPTConfig.preset("tiny").with(Map.of("norm", "batch"), "c"));
        assertTrue(e.getMessage().contains("\"norm\" expects layer or rms"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> GPTConfig.preset("tiny").with(Map.of("dropout", 1.5), "c"));
        assertTrue(e.getMessage().contains("dropout"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> GPTConfig.preset("tiny").with(Map.of("padded_vocab", 100L), "c"));
        assertTrue(e.getMessage().contains("padded_vocab"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> GPTConfig.fromJson(Map.of("n_layer", 2L), "c.json"));
        assertTrue(e.getMessage().contains("missing key \"n_head\""), e.getMessage());
        e = assertThrows(CramjetException.class,
                () -> GPTConfig.preset("tiny").with(Map.of("positions", "rope", "n_embd", "12", "n_head", "4"), "c"));
        assertTrue(e.getMessage().contains("even head size"), e.getMessage());
    }
}
