package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters;
import dev.cramjet.nn.Parameters.Param;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Folds LoRA adapters into the base weights: W' = W + s·B·A for every adapted layer (W [out, in], B [out, r],
 * A [r, in], s = α/r), which computes what the base with its adapter computes, with no adapter left to run.
 * The result is a plain model directory; prompt and prefix tuning add tokens rather than change weights and have
 * nothing to fold.
 */
public final class Merge {
    private Merge() {}

    /** Writes base + adapter, merged, as a model directory in {@code out}; returns the adapted layers' count. */
    public static int merge(Path base, Path adapter, Path out) throws IOException {
        try (Backend be = Backends.open("cpu")) {
            GPT model = PeftFiles.load(be, base, adapter, 1, 1);
            LoRA.Spec spec = model.options().lora();
            if (spec == null) throw new CramjetException(adapter + ": a " + Method.of(model.options()).key() + "-tuning adapter has no weights to merge into the base");
            Set<String> names = model.parameterList().stream().map(Param::name).collect(Collectors.toSet());
            List<Param> baseParams = model.parameterList().stream().filter(p -> p.group() == Parameters.Group.BASE).toList();
            int[] merged = {0};
            ModelDir.save(model.config(), baseParams, p -> {
                float[] w = ModelDir.download(be, p.value());
                String stem = p.name().endsWith(".weight") ? p.name().substring(0, p.name().length() - ".weight".length()) : null;
                if (stem == null || !names.contains(stem + ".lora_A.weight")) return w;
                fold(w, ModelDir.download(be, model.parameter(stem + ".lora_A.weight").value()),
                        ModelDir.download(be, model.parameter(stem + ".lora_B.weight").value()), spec.rank(), spec.scale());
                merged[0]++;
                return w;
            }, out);
            return merged[0];
        }
    }

    /** w [out, in] += s·b [out, r]·a [r, in]. */
    static void fold(float[] w, float[] a, float[] b, int r, float s) {
        int in = a.length / r, outRows = b.length / r;
        for (int o = 0; o < outRows; o++) {
            for (int k = 0; k < r; k++) {
                float sb = s * b[o * r + k];
                int ao = k * in, wo = o * in;
                for (int i = 0; i < in; i++) w[wo + i] += sb * a[ao + i];
            }
        }
    }
}
