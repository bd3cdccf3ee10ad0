package dev.cramjet.cli;

import java.io.IOException;
import java.nio.file.Path;

/** `cramjet import`: a Hugging Face checkpoint or a GGUF file as a Cramjet model directory. */
public final class ImportCommand implements Command {
    @Override
    public String summary() { return "turn a Hugging Face checkpoint or a GGUF file into a model directory"; }

    @Override
    public String usage() {
        return """
                usage: cramjet import --from PATH --out DIR [--force]

                  --from PATH   a Hugging Face GPT-2 or Llama checkpoint directory (config.json, model.safetensors in
                                F32, BF16 or F16, tokenizer.json of a byte-level BPE), or a GGUF file of llama.cpp's
                                gpt2 or llama architecture (F32, F16, BF16 or Q8_0 weights)
                  --out DIR     the model directory to write (fp32), which eval, generate and fine-tuning take
                  --force       replace DIR if it exists

                Everything is checked while reading (names, shapes, the tokenizer), so a checkpoint that loads here
                computes what it computed where it came from; DIR is also a complete Hugging Face directory.""";
    }

    @Override
    public int run(Args args) throws IOException {
        Path from = Path.of(args.required("from")), out = Path.of(args.required("out"));
        boolean force = args.flag("force");
        args.finish();
        ExportCommand.toDirectory(from, out, force, "imported");
        return 0;
    }
}
