package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.optim.AdamWOptimizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/** A single process's optimizer file read back by DataParallel.load, and its metadata refused by name when bad. */
class OptimizerFilesTest {
    @TempDir Path dir;

    @Test
    void badStepsAndOffsetsAreRefusedByName() throws Exception {
        try (CpuBackend be = new CpuBackend()) {
            GPT model = new GPT(be, GPTConfig.preset("micro"), 1, 8, 1);
            DataParallel dp = new DataParallel(World.single(be), be, model.parameters(), AdamWOptimizer.Settings.defaults(), false);
            dp.save(dir);
            dp.load(dir);  // its own file loads
            Path f = dir.resolve(DataParallel.REPLICATED);
            assertTrue(rewrite(f, "step", "99999999999").contains("optimizer step 99999999999 is beyond"));
            assertTrue(rewrite(f, "first", "99999999999999999999").contains("metadata has no valid first"));
            assertTrue(rewrite(f, "step", "-1").contains("metadata has no valid step"));
        }
    }

    /** Rewrites one metadata value of the optimizer file in the directory; returns the load's error. */
    private String rewrite(Path f, String key, String value) throws Exception {
        Map<String, String> meta;
        List<Safetensors.Item> items = new ArrayList<>();
        try (Safetensors.Reader r = Safetensors.open(f)) {
            meta = new TreeMap<>(r.metadata());
            for (String name : r.tensors().keySet()) items.add(new Safetensors.Item(name, r.entry(name).shape(), r.read(name)));
        }
        String before = meta.put(key, value);
        Safetensors.write(f, meta, items);
        try (CpuBackend be = new CpuBackend()) {
            GPT model = new GPT(be, GPTConfig.preset("micro"), 1, 8, 1);
            DataParallel dp = new DataParallel(World.single(be), be, model.parameters(), AdamWOptimizer.Settings.defaults(), false);
            return assertThrows(CramjetException.class, () -> dp.load(f.getParent())).getMessage();
        } finally {
            meta.put(key, before);
            Safetensors.write(f, meta, items);
        }
    }
}
