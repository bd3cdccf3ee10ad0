package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.tune.ChatTemplate;
import dev.cramjet.tune.Merge;

import java.nio.file.Path;

/** `cramjet merge`: folds a LoRA adapter into its base, writing a plain model directory. */
public final class MergeCommand implements Command {
    @Override
    public String summary() { return "fold a LoRA adapter into its base model's weights"; }

    @Override
    public String usage() {
        return """
                usage: cramjet merge --adapter DIR [--model DIR | --run RUN] --out DIR

                Writes W + (alpha/r)·B·A for every adapted layer: a model directory (model.safetensors, config.json,
                tokenizer.json, chat_template.json) that computes what the base with the adapter computes, and that
                Hugging Face transformers loads without PEFT. The base defaults to the adapter's
                base_model_name_or_path. OUT must not exist.""";
    }

    @Override
    public int run(Args args) throws Exception {
        String adapter = args.required("adapter");
        String model = args.string("model", null), run = args.string("run", null);
        Path out = Path.of(args.required("out"));
        args.finish();
        if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
        if (java.nio.file.Files.exists(out)) throw new CramjetException(out + ": already exists; merge writes a new model directory");
        Models.Chosen c = Models.choose(model, run, adapter);
        Path base = c.first().model();
        int layers = Merge.merge(base, c.adapter(), out);
        Tokenizer.load(c.tokenizer(c.first())).save(out.resolve(GenerateCommand.TOKENIZER));
        ChatTemplate.find(c.adapter(), base).save(out);
        System.out.println("merged " + layers + " adapted layers of " + c.adapter() + " into " + base + ": " + out);
        return 0;
    }
}
