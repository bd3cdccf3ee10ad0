package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.Batch;
import dev.cramjet.data.Masking;
import dev.cramjet.data.ShardReader;
import dev.cramjet.data.TokenShards;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.Json;
import dev.cramjet.io.ModelFiles;
import dev.cramjet.io.TextFile;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.train.ModelScore;
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
 * windows of seq tokens, each predicting its next seq tokens (every token but the first is a target once). An
 * encoder is scored on its masked tokens instead: loss, perplexity and top-1 accuracy.
 */
public final class EvalCommand implements Command {
    @Override
    public String summary() { return "loss and perplexity on held-out tokens; --task classify|generate: task metrics"; }

    @Override
    public String usage() {
        return """
                usage: cramjet eval --model PATH (--tokens FILE|DIR | --text FILE) [--split val] [--batch B] [--seq T]
                                    [--max-tokens N] [--mask-rate R] [--device cpu|cuda] [--json]

                Prints the mean cross-entropy (nats per token) and perplexity of the model at PATH (a directory with
                config.json + model.safetensors, or a GGUF file, int8 weights included) on a token stream:
                  --tokens FILE   a token shard (from `cramjet prepare`) or a text file of whitespace-separated ids
                  --tokens DIR    the shards SPLIT_NNN.bin of a data directory (--split, default val), in order
                  --text FILE     UTF-8 text, encoded with the model's tokenizer (tokenizer.json, or the GGUF's own)
                Shards are checked against the model's tokenizer when it has one. The stream is cut
                into consecutive windows of T tokens (default: the model's block size), B windows per forward pass
                (default 4); --max-tokens evaluates only the first N tokens.
                An encoder (a masked-language model) is scored on masked tokens: each window starts with
                end-of-text ([CLS]), --mask-rate R of its other positions (default 0.15) are masked by BERT's rule
                with a fixed seed, and the loss, perplexity and top-1 accuracy of those are printed; it needs
                DIR/tokenizer.json for the mask token.
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
        boolean encoder = Files.isRegularFile(dir.resolve("config.json")) && EncoderDir.isEncoder(dir);   // else ModelFiles says what dir is not
        EncoderConfig ec = encoder ? EncoderDir.readConfig(dir) : null;
        GPTConfig cfg = encoder ? null : ModelFiles.config(dir);
        int vocab = encoder ? ec.vocabSize() : cfg.vocabSize();
        int seq = args.integer("seq", encoder ? ec.blockSize() : cfg.blockSize());
        double rate = args.number("mask-rate", 0.15);
        args.finish();
        if ((tokensArg == null) == (textArg == null)) throw new CramjetException("give exactly one of --tokens and --text");
        if (batch < 1) throw new CramjetException("--batch must be at least 1, got " + batch);
        if (maxTokens < 2) throw new CramjetException("--max-tokens must be at least 2, got " + maxTokens);

        Path source = Path.of(tokensArg != null ? tokensArg : textArg);
        int[] stream = heldOut(dir, tokensArg, textArg, split, maxTokens, vocab);

        try (Backend be = Backends.open(device)) {
            Result r;
            if (encoder) {
                Tokenizer tok = maskTokenizer(dir);
                Masking masking = new Masking(rate, tok.specials().get(Tokenizer.MASK), vocab,
                        tok.specials().values().stream().mapToInt(Integer::intValue).toArray());
                r = evaluateMasked(EncoderDir.load(be, dir, batch, seq, Model.Options.INFERENCE.sparse()), stream, masking, tok.eot());
            } else {
                r = evaluate(ModelFiles.load(be, dir, batch, seq), stream);
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", dir.toString());
            m.put("tokens", source.toString());
            m.put("targets", r.targets);
            m.put("loss", r.loss);
            m.put("perplexity", Math.exp(r.loss));
            if (encoder) m.put("accuracy", r.accuracy);
            System.out.println(json ? Json.write(m) : String.format(Locale.ROOT,
                    "%s on %s: loss %.4f nats/token, perplexity %.3f%s (%,d %stargets)", dir, source, r.loss, Math.exp(r.loss),
                    encoder ? String.format(Locale.ROOT, ", accuracy %.2f%%", 100 * r.accuracy) : "", r.targets, encoder ? "masked " : ""));
        }
        return 0;
    }

    /** DIR/tokenizer.json, which must have the mask token. */
    private static Tokenizer maskTokenizer(Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) throw new CramjetException(file + ": no such file (an encoder's evaluation needs its mask token)");
        Tokenizer tok = Tokenizer.load(file);
        if (tok.specials().get(Tokenizer.MASK) == null) throw new CramjetException(file + ": has no " + Tokenizer.MASK + " token");
        return tok;
    }

    /**
     * An encoder over consecutive windows of {@code stream}, each started with {@code cls} (end-of-text) and masked
     * with a seed from its index: the masked tokens' mean loss and top-1 accuracy.
     */
    static Result evaluateMasked(Encoder model, int[] stream, Masking masking, int cls) {
        int batch = model.batch(), seq = model.seq();
        Batch b = new Batch(batch, seq);
        ModelScore score = new ModelScore(model);
        long windows = stream.length / seq;
        double sum = 0;
        long count = 0, right = 0;
        for (long w0 = 0; w0 < windows; w0 += batch) {
            for (int r = 0; r < batch; r++) {
                long w = Math.min(w0 + r, windows - 1);   // a short last batch repeats its last window, unscored
                System.arraycopy(stream, (int) (w * seq), b.tokens, r * seq, seq);
                b.tokens[r * seq] = cls;
            }
            masking.apply(b.tokens, b.targets, b.tokens.length, dev.cramjet.Hash.mix(w0));
            for (int i = (int) Math.min(batch, windows - w0) * seq; i < b.targets.length; i++) b.targets[i] = -1;
            int scored = 0;
            for (int t : b.targets) if (t >= 0) scored++;
            if (scored == 0) continue;
            sum += (double) score.loss(b) * scored;
            right += score.correct();
            count += scored;
        }
        if (count == 0) throw new CramjetException("the stream holds no window of " + seq + " tokens to mask");
        return new Result(sum / count, count, (double) right / count);
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

    /** Mean loss over {@code targets} predicted tokens, and (encoders) the top-1 accuracy on them. */
    public record Result(double loss, long targets, double accuracy) {}

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
        return new Result(sum / count, count, Double.NaN);
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
