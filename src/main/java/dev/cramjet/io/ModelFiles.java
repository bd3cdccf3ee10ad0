package dev.cramjet.io;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model as the commands take it ({@code --model PATH}): a model directory (config.json, model.safetensors,
 * tokenizer.json — what training, {@code import} and {@code export --format hf} write) or a GGUF file (what
 * {@code export --format gguf} and {@code quantize} write, and what llama.cpp runs). {@code eval}, {@code generate},
 * {@code quantize}, {@code prune} and {@code export} load either through here (and so should anything serving a model).
 */
public final class ModelFiles {
    private ModelFiles() {}

    public static final String TOKENIZER = "tokenizer.json";
    /** The chat template beside a model, as transformers saves it. */
    public static final String CHAT_TEMPLATE = "chat_template.jinja";

    /** Whether PATH is a GGUF file rather than a model directory. */
    public static boolean isGguf(Path path) throws IOException { return !Files.isDirectory(path) && GgufModel.isGguf(path); }

    /** The configuration of the model at PATH. */
    public static GPTConfig config(Path path) throws IOException {
        if (!isGguf(path)) return ModelDir.readConfig(directory(path));
        try (Gguf.Reader r = Gguf.open(path)) {
            return GgufModel.config(r);
        }
    }

    /**
     * The model at PATH for (batch, seq), for inference: a directory's fp32 weights, or a GGUF file's as they are
     * stored (Q8_0 weights stay int8; see {@link GgufModel}).
     */
    public static GPT load(Backend be, Path path, int batch, int seq) throws IOException {
        return load(be, path, batch, seq, Model.Options.INFERENCE);
    }

    /**
     * The same with a directory's weights stored as {@code options} asks ({@code serve --weights int8} quantizes
     * fp32 weights as they upload); a GGUF file's weights stay as the file stores them.
     */
    public static GPT load(Backend be, Path path, int batch, int seq, Model.Options options) throws IOException {
        return isGguf(path) ? GgufModel.load(be, path, batch, seq, false) : ModelDir.load(be, directory(path), batch, seq, options);
    }

    /** The model at PATH with fp32 weights whatever the file holds (Q8_0 dequantized exactly): to fine-tune, prune or convert. */
    public static GPT loadFp32(Backend be, Path path, int batch, int seq) throws IOException {
        return isGguf(path) ? GgufModel.load(be, path, batch, seq, true) : ModelDir.load(be, directory(path), batch, seq);
    }

    /**
     * The model's tokenizer: the one a GGUF file embeds, the directory's tokenizer.json or, for a training checkpoint
     * (RUN/checkpoints/step-N, which does not repeat its run's tokenizer), RUN/tokenizer.json; null when there is none.
     */
    public static Tokenizer tokenizer(Path path) throws IOException {
        if (isGguf(path)) {
            try (Gguf.Reader r = Gguf.open(path)) {
                return GgufModel.tokenizer(r);
            }
        }
        Path dir = directory(path).toAbsolutePath().normalize(), file = dir.resolve(TOKENIZER);
        Path parent = dir.getParent();
        if (!Files.isRegularFile(file) && parent != null && parent.getFileName() != null
                && parent.getFileName().toString().equals("checkpoints") && parent.getParent() != null) {
            file = parent.getParent().resolve(TOKENIZER);
        }
        return Files.isRegularFile(file) ? Tokenizer.load(file) : null;
    }

    /** The chat template stored with the model (chat_template.jinja, or a GGUF's tokenizer.chat_template), or null. */
    public static String chatTemplate(Path path) throws IOException {
        if (isGguf(path)) {
            try (Gguf.Reader r = Gguf.open(path)) {
                return r.get("tokenizer.chat_template") == null ? null : r.string("tokenizer.chat_template");
            }
        }
        Path file = directory(path).resolve(CHAT_TEMPLATE);
        return Files.isRegularFile(file) ? Files.readString(file) : null;
    }

    private static Path directory(Path path) {
        if (Files.isDirectory(path)) return path;
        if (Files.exists(path)) {
            throw new CramjetException(path + ": neither a model directory (config.json, model.safetensors) nor a GGUF file");
        }
        throw new CramjetException(path + ": no such model directory or GGUF file");
    }
}
