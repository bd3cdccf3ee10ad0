package dev.cramjet.train;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint's optimizer.safetensors: AdamW's moments m and v of the trained parameters, the F32 master weights
 * where the backend computes in BF16, and the step count in the metadata. Everything is F32, so a CPU run resumes
 * bit for bit.
 */
final class OptimizerFile {
    static final String NAME = "optimizer.safetensors";

    private OptimizerFile() {}

    static void save(Backend be, AdamWOptimizer optimizer, Path dir) throws IOException {
        int n = (int) optimizer.m().size();
        List<Safetensors.Item> items = new ArrayList<>(List.of(
                new Safetensors.Item("m", new long[] {n}, ModelDir.download(be, optimizer.m())),
                new Safetensors.Item("v", new long[] {n}, ModelDir.download(be, optimizer.v()))));
        if (optimizer.master() != null) items.add(new Safetensors.Item("master", new long[] {n}, ModelDir.download(be, optimizer.master())));
        Safetensors.write(dir.resolve(NAME), Map.of("step", Integer.toString(optimizer.stepCount())), items);
    }

    static void load(Backend be, AdamWOptimizer optimizer, Path dir) throws IOException {
        Path file = dir.resolve(NAME);
        int n = (int) optimizer.m().size();
        try (Safetensors.Reader r = Safetensors.open(file)) {
            for (String name : List.of("m", "v")) {
                Safetensors.Entry e = r.entry(name);
                if (e.numel() != n) {
                    throw new CramjetException(file + ": tensor '" + name + "' has " + e.numel() + " elements, the model trains " + n + " parameters");
                }
            }
            be.upload(optimizer.m(), r.read("m"));
            be.upload(optimizer.v(), r.read("v"));
            String step = r.metadata().get("step");
            if (step == null || !step.matches("\\d{1,9}")) throw new CramjetException(file + ": metadata has no valid optimizer step");
            optimizer.restore(Integer.parseInt(step));
            if (optimizer.master() != null) be.upload(optimizer.master(), r.read("master"));
        }
    }
}
