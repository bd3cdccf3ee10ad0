package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tune.PeftFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The model a command runs: a base (--model DIR, or --run RUN's checkpoints best first) and optionally a PEFT
 * adapter (--adapter DIR) over it — given alone, the adapter's base_model_name_or_path names the base. The tokenizer
 * is the adapter's when it has one (a fine-tune saves it beside the adapter), else the base's.
 */
final class Models {
    private Models() {}

    /** The candidate bases, best first (a run's checkpoints; one for a model directory), and the adapter or null. */
    record Chosen(List<GenerateCommand.Source> candidates, Path adapter) {
        /** The first candidate: the one used without loading (merge). */
        GenerateCommand.Source first() { return candidates.getFirst(); }

        /** The adapter's tokenizer when it has one, else the base's (null: embedded in a GGUF file). */
        Path tokenizer(GenerateCommand.Source base) {
            Path tok = adapter == null ? base.tokenizer() : adapter.resolve(GenerateCommand.TOKENIZER);
            return adapter != null && !Files.isRegularFile(tok) ? base.tokenizer() : tok;
        }

        String what(GenerateCommand.Source base) { return base.what() + (adapter == null ? "" : ", adapter " + adapter); }
    }

    static Chosen choose(String model, String run, String adapter) throws IOException {
        Path ad = adapter == null ? null : Path.of(adapter);
        if (ad != null && !PeftFiles.isAdapter(ad)) throw new CramjetException(ad + ": no " + PeftFiles.CONFIG + " (not an adapter directory)");
        String which = "give exactly one of --model DIR or --run DIR (or --adapter DIR alone, whose config names its base)";
        if (model != null && run != null) throw new CramjetException(which);
        List<GenerateCommand.Source> src;
        if (model != null) {
            src = List.of(ad == null ? GenerateCommand.modelDir(Path.of(model))
                    : new GenerateCommand.Source(Path.of(model), Path.of(model).resolve(GenerateCommand.TOKENIZER), "model directory"));
        } else if (run != null) {
            src = GenerateCommand.fromRun(Path.of(run));
        } else if (ad != null) {
            Path cfg = ad.resolve(PeftFiles.CONFIG);
            Object b = Json.object(Json.parse(Files.readString(cfg), cfg.toString()), cfg.toString()).get("base_model_name_or_path");
            if (b == null) throw new CramjetException(cfg + ": base_model_name_or_path is not set; give the base with --model DIR");
            Path base = Path.of(Json.string(b, cfg + ": base_model_name_or_path"));
            if (!Files.isRegularFile(base.resolve(ModelDir.CONFIG))) {
                throw new CramjetException(cfg + ": its base " + base + " is not a model directory here; give the base with --model DIR");
            }
            src = List.of(new GenerateCommand.Source(base, base.resolve(GenerateCommand.TOKENIZER), "the adapter's base"));
        } else {
            throw new CramjetException(which);
        }
        Chosen c = new Chosen(src, ad);
        for (GenerateCommand.Source s : src) {
            if (c.tokenizer(s) != null && !Files.isRegularFile(c.tokenizer(s))) {
                throw new CramjetException("no " + GenerateCommand.TOKENIZER + " in " + s.model() + (ad == null ? "" : " or " + ad));
            }
        }
        return c;
    }
}
