package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tune.PeftFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The model a command runs: a base (--model DIR, or --run RUN's best checkpoint) and optionally a PEFT adapter
 * (--adapter DIR) over it — given alone, the adapter's base_model_name_or_path names the base. The tokenizer is
 * the adapter's when it has one (a fine-tune saves it beside the adapter), else the base's.
 */
final class Models {
    private Models() {}

    record Chosen(Path base, Path tokenizer, Path adapter, String what) {}

    static Chosen choose(String model, String run, String adapter) throws IOException {
        Path ad = adapter == null ? null : Path.of(adapter);
        if (ad != null && !PeftFiles.isAdapter(ad)) throw new CramjetException(ad + ": no " + PeftFiles.CONFIG + " (not an adapter directory)");
        String which = "give exactly one of --model DIR or --run DIR (or --adapter DIR alone, whose config names its base)";
        if (model != null && run != null) throw new CramjetException(which);
        GenerateCommand.Source src;
        if (model != null) {
            src = ad == null ? GenerateCommand.modelDir(Path.of(model)) : new GenerateCommand.Source(Path.of(model), Path.of(model).resolve(GenerateCommand.TOKENIZER), "model directory");
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
            src = new GenerateCommand.Source(base, base.resolve(GenerateCommand.TOKENIZER), "the adapter's base");
        } else {
            throw new CramjetException(which);
        }
        Path tok = src.tokenizer();
        if (ad != null && Files.isRegularFile(ad.resolve(GenerateCommand.TOKENIZER))) tok = ad.resolve(GenerateCommand.TOKENIZER);
        if (!Files.isRegularFile(tok)) throw new CramjetException("no " + GenerateCommand.TOKENIZER + " in " + src.model() + (ad == null ? "" : " or " + ad));
        return new Chosen(src.model(), tok, ad, src.what() + (ad == null ? "" : ", adapter " + ad));
    }

    /** The chosen model for (batch, seq), the adapter applied. */
    static GPT load(Backend be, Chosen c, int batch, int seq) throws IOException {
        return c.adapter() == null ? ModelDir.load(be, c.base(), batch, seq) : PeftFiles.load(be, c.base(), c.adapter(), batch, seq);
    }
}
