package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.AtomicDirectory;
import dev.cramjet.io.Gguf.TensorType;
import dev.cramjet.io.GgufModel;
import dev.cramjet.io.HfExport;
import dev.cramjet.io.ModelFiles;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** `cramjet export`: a model as a Hugging Face directory or a llama.cpp GGUF file. */
public final class ExportCommand implements Command {
    @Override
    public String summary() { return "write a model for Hugging Face transformers (hf) or llama.cpp (gguf)"; }

    @Override
    public String usage() {
        return """
                usage: cramjet export --model PATH --format hf|gguf --out OUT [--type f32|f16|bf16|q8_0] [--force]

                  --model PATH   a model directory (config.json, model.safetensors, tokenizer.json) or a GGUF file
                  --format hf    OUT is a directory transformers loads whole with from_pretrained: model.safetensors,
                                 config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
                                 special_tokens_map.json (and chat_template.jinja when the model has one); fp32
                  --format gguf  OUT is a GGUF v3 file for llama.cpp (and Ollama, LM Studio, node-llama-cpp) with the
                                 tokenizer embedded; --type sets its weights: f32 (default), f16, bf16 or q8_0 (int8
                                 blocks; norms, biases and the position table stay f32). Cramjet's eval and generate run
                                 the file too.
                  --force        replace OUT if it exists

                GPT-2-layout models become llama.cpp's gpt2 architecture and Llama-layout ones (RoPE, RMSNorm, SwiGLU)
                its llama; other mixes have no llama.cpp architecture and are refused. A GPT-2-layout model whose
                attention heads were pruned (`cramjet prune --structured heads`) is refused by both formats: GPT-2's
                configs take the head size as n_embd / n_head; a Llama-layout one carries head_dim in both.""";
    }

    @Override
    public int run(Args args) throws IOException {
        Path model = Path.of(args.required("model")), out = Path.of(args.required("out"));
        String format = args.required("format");
        String typeName = args.string("type", null);
        boolean force = args.flag("force");
        args.finish();
        if (!format.equals("hf") && !format.equals("gguf")) throw new CramjetException("--format must be hf or gguf, got '" + format + "'");
        if (format.equals("hf") && typeName != null) throw new CramjetException("--type is for --format gguf; a Hugging Face export is fp32");
        TensorType type = tensorType(typeName == null ? "f32" : typeName);
        if (format.equals("hf")) {
            GPTConfig cfg = ModelFiles.config(model);
            if (ModelDir.gpt2Architecture(cfg) && !ModelDir.gpt2Layout(cfg)) {
                throw new CramjetException(model + ": Hugging Face's GPT-2 config has no head size (GPT2Attention takes n_embd / n_head), and this model's "
                        + cfg.nHead() + " heads × " + cfg.headSize() + " = " + cfg.attnWidth() + " ≠ n_embd " + cfg.nEmbd()
                        + " (heads were pruned); only the Llama layout (head_dim) exports with pruned heads");
            }
            toDirectory(model, out, force, "export");
            return 0;
        }
        if (Files.exists(out) && !force) throw new CramjetException(out + ": already exists (--force replaces it)");
        Tokenizer tokenizer = tokenizer(model);
        try (Backend be = Backends.open("cpu")) {
            GPT m = ModelFiles.load(be, model, 1, 1);
            GgufModel.write(m, tokenizer, type, name(model), ModelFiles.chatTemplate(model), out);
            System.out.printf(Locale.ROOT, "wrote %s: llama.cpp %s, %s, %,d parameters, %.1f MB%n", out,
                    GgufModel.architecture(m.config()), type, m.parameterCount(), Files.size(out) / 1e6);
        }
        return 0;
    }

    /** f32, f16, bf16, q8_0 (any case) as a GGUF tensor type. */
    static TensorType tensorType(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "f32" -> TensorType.F32;
            case "f16" -> TensorType.F16;
            case "bf16" -> TensorType.BF16;
            case "q8_0" -> TensorType.Q8_0;
            default -> throw new CramjetException("--type must be f32, f16, bf16 or q8_0, got '" + name + "'");
        };
    }

    /** The model's tokenizer, which every exported form carries. */
    static Tokenizer tokenizer(Path model) throws IOException {
        Tokenizer t = ModelFiles.tokenizer(model);
        if (t == null) throw new CramjetException(model + ": no " + ModelFiles.TOKENIZER + " (an exported model carries its tokenizer)");
        return t;
    }

    /** A model's name for general.name: its directory's or file's name. */
    static String name(Path model) {
        String n = model.toAbsolutePath().normalize().getFileName().toString();
        return n.endsWith(".gguf") ? n.substring(0, n.length() - 5) : n;
    }

    /**
     * Writes the model at {@code from} (a directory in Hugging Face layout or a GGUF file, whose weights become
     * fp32) as a complete Hugging Face directory, which is also a Cramjet model directory.
     */
    static void toDirectory(Path from, Path out, boolean force, String verb) throws IOException {
        Tokenizer tokenizer = tokenizer(from);
        String template = ModelFiles.chatTemplate(from);
        try (Backend be = Backends.open("cpu")) {
            GPT m = ModelFiles.loadFp32(be, from, 1, 1);
            if (tokenizer.vocabSize() != m.config().vocabSize()) {
                throw new CramjetException(from + ": the tokenizer has " + tokenizer.vocabSize() + " ids but the model's vocab_size is " + m.config().vocabSize());
            }
            AtomicDirectory.write(out, force, dir -> HfExport.write(m, tokenizer, template, dir));
            System.out.printf(Locale.ROOT, "%s %s → %s: %s layout, %d layers × %d, %d heads, vocab %d, %,d parameters%n", verb, from, out,
                    ModelDir.gpt2Layout(m.config()) ? "GPT-2" : "Llama", m.config().nLayer(), m.config().nEmbd(),
                    m.config().nHead(), m.config().vocabSize(), m.parameterCount());
        }
    }
}
