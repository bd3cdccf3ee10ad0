package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.ShardReader;
import dev.cramjet.data.TokenShards;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.Json;
import dev.cramjet.io.TextFile;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.io.ModelFiles;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * `cramjet eval`: mean cross-entropy and perplexity of a saved model on a token stream, cut into consecutive
 * windows of seq tokens, each predicting its next seq tokens (every token but the first is a target once).
 */
public final class EvalCommand implements Command {
    @Override
    public String summary() { return "loss and perplexity on held-out tokens; --task classify|generate: task metrics"; }

    @Override
    public String usage() {
        return """
                usage: cramjet eval --model PATH (--tokens FILE|DIR | --text FILE) [--split val] [--batch B] [--seq T]
                                    [--max-tokens N] [--device cpu|cuda] [--json]

                Prints the mean cross-entropy (nats per token) and perplexity of the model at PATH (a directory with
                config.json + model.safetensors, or a GGUF file, int8 weights included) on a token stream:
                  --tokens FILE   a token shard (from `cramjet prepare`) or a text file of whitespace-separated ids
                  --tokens DIR    the shards SPLIT_NNN.bin of a data directory (--split, default val), in order
                  --text FILE     UTF-8 text, encoded with the model's tokenizer (tokenizer.json, or the GGUF's own)
                Shards are checked against the model's tokenizer when it has one. The stream is cut
                into consecutive windows of T tokens (default: the model's block size), B windows per forward pass
                (default 4); --max-tokens evaluates only the first N tokens.
                """ + TaskEval.USAGE;
    }

    @Override
    public int run(Args args) throws IOException {
        String task = args.string("task", null);
        if (task != null) return TaskEval.run(args, task);
        Path dir = Path.of(args.required("model"));
        String tokensArg = args.string("tokens", null), textArg = args.string("text", null);
        String split = args.string("split", "val");
        int batch = args.integer("batch", 4);
        String device = args.string("device", "cpu");
        long maxTokens = args.longValue("max-tokens", Integer.MAX_VALUE - 8);
        boolean json = args.flag("json");
        GPTConfig cfg = ModelFiles.config(dir);
        int seq = args.integer("seq", cfg.blockSize());
        args.finish();
        if ((tokensArg == null) == (textArg == null)) throw new CramjetException("give exactly one of --tokens and --text");
        if (batch < 1) throw new CramjetException("--batch must be at least 1, got " + batch);
        if (maxTokens < 2) throw new CramjetException("--max-tokens must be at least 2, got " + maxTokens);

        Path source = Path.of(tokensArg != null ? tokensArg : textArg);
        int[] stream = heldOut(dir, tokensArg, textArg, split, maxTokens, cfg.vocabSize());

        try (Backend be = Backends.open(device)) {
            GPT model = ModelFiles.load(be, dir, batch, seq);
            Result r = evaluate(model, stream);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", dir.toString());
            m.put("tokens", source.toString());
            m.put("targets", r.targets);
            m.put("loss", r.loss);
            m.put("perplexity", Math.exp(r.loss));
            System.out.println(json ? Json.write(m) : String.format(Locale.ROOT,
                    "%s on %s: loss %.4f nats/token, perplexity %.3f (%,d targets)", dir, source, r.loss,
                    Math.exp(r.loss), r.targets));
        }
        return 0;
    }

    /**
     * The token stream of --tokens (shards or ids, checked against the model's tokenizer) or --text (encoded with
     * it), at most {@code max} tokens, every id inside the vocabulary and at least two of them.
     */
    static int[] heldOut(Path model, String tokensArg, String textArg, String split, long max, int vocab) throws IOException {
        Path source = Path.of(tokensArg != null ? tokensArg : textArg);
        int[] stream = tokensArg != null ? readTokens(source, model, split, max, vocab) : encodeText(source, model, max);
        for (int i = 0; i < stream.length; i++) {
            if (stream[i] >= vocab) {
                throw new CramjetException(source + ": token " + i + " has id " + stream[i] + ", outside the model's vocabulary [0, "
                        + vocab + ")");
            }
        }
        if (stream.length < 2) throw new CramjetException(source + ": needs at least 2 tokens, has " + stream.length);
        return stream;
    }

    /** Mean loss over {@code targets} predicted tokens. */
    public record Result(double loss, long targets) {}

    /**
     * Runs the model over {@code stream} in eval mode: window k feeds tokens [k·T, k·T + T) and predicts
     * [k·T + 1, k·T + T + 1); the last window's missing targets and unused batch rows are ignored (-1).
     */
    public static Result evaluate(GPT model, int[] stream) {
        int batch = model.batch(), seq = model.seq();
        int[] x = new int[batch * seq], y = new int[batch * seq];
        long windows = (stream.length - 1 + seq - 1) / seq;
        double sum = 0;
        long count = 0;
        model.eval();
        for (long w0 = 0; w0 < windows; w0 += batch) {
            Arrays.fill(x, 0);
            Arrays.fill(y, -1);
            int valid = 0;
            for (int b = 0; b < batch && w0 + b < windows; b++) {
                long start = (w0 + b) * seq;
                for (int t = 0; t < seq && start + t + 1 < stream.length; t++) {
                    x[b * seq + t] = stream[(int) (start + t)];
                    y[b * seq + t] = stream[(int) (start + t + 1)];
                    valid++;
                }
            }
            float loss = model.forward(x, y);
            sum += (double) loss * valid;
            count += valid;
        }
        return new Result(sum / count, count);
    }

    /** Tokens from a shard file, a directory of shards, or a text file of ids; at most {@code max}. */
    static int[] readTokens(Path source, Path modelDir, String split, long max, int vocab) throws IOException {
        Tokenizer tokenizer = ModelFiles.tokenizer(modelDir);
        String hash = tokenizer == null ? null : tokenizer.hash();
        if (Files.isDirectory(source)) {
            try (TokenShards shards = TokenShards.open(source, split, hash)) {
                int n = (int) Math.min(max, shards.tokens());
                int[] out = new int[n];
                int at = 0;
                for (ShardReader s : shards.shards()) {
                    int take = (int) Math.min(s.size(), n - at);
                    s.read(0, out, at, take);
                    at += take;
                    if (at == n) break;
                }
                return out;
            }
        }
        if (isShard(source)) {
            try (ShardReader s = ShardReader.open(source, hash)) {
                int[] out = new int[(int) Math.min(max, s.size())];
                s.read(0, out, 0, out.length);
                return out;
            }
        }
        int[] ids = readTokenIds(source, vocab);
        return ids.length > max ? Arrays.copyOf(ids, (int) max) : ids;
    }

    private static boolean isShard(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            return Arrays.equals(in.readNBytes(SHARD_MAGIC.length), SHARD_MAGIC);
        } catch (NoSuchFileException e) {
            throw new CramjetException(file + ": no such file");
        }
    }

    private static final byte[] SHARD_MAGIC = "CRAMJTOK".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private static int[] encodeText(Path file, Path modelDir, long max) throws IOException {
        Tokenizer tokenizer = ModelFiles.tokenizer(modelDir);
        if (tokenizer == null) {
            throw new CramjetException(modelDir.resolve(ModelFiles.TOKENIZER) + ": no such file (--text needs the model's tokenizer; use --tokens instead)");
        }
        // Strict UTF-8, as prepare reads corpora: a binary or Latin-1 file is named, not scored.
        int[] ids = tokenizer.encode(TextFile.read(file, "text file"));
        return ids.length > max ? Arrays.copyOf(ids, (int) max) : ids;
    }

    /** Reads whitespace-separated token ids, each checked against the vocabulary; errors name the line. */
    static int[] readTokenIds(Path file, int vocab) throws IOException {
        String text = TextFile.read(file, "file of token ids");
        int[] out = new int[Math.max(16, text.length() / 2)];
        int n = 0, line = 1, i = 0, len = text.length();
        while (i < len) {
            char ch = text.charAt(i);
            if (ch == '\n') { line++; i++; continue; }
            if (Character.isWhitespace(ch)) { i++; continue; }
            int start = i;
            while (i < len && !Character.isWhitespace(text.charAt(i))) i++;
            String word = text.substring(start, i);
            int id;
            try {
                id = Integer.parseInt(word);
            } catch (NumberFormatException e) {
                throw new CramjetException(file + " line " + line + ": '" + word + "' is not a token id");
            }
            if (id < 0 || id >= vocab) {
                throw new CramjetException(file + " line " + line + ": token id " + id + " is outside the model's vocabulary [0, " + vocab + ")");
            }
            if (n == out.length) out = Arrays.copyOf(out, out.length * 2);
            out[n++] = id;
        }
        return Arrays.copyOf(out, n);
    }
}
