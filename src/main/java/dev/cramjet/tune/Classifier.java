package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.Head;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * A text classifier: a model with a pooled classification head, its tokenizer, and how texts become its input.
 * A text is encoded as the model saw documents in pretraining — {@code <|endoftext|>} then its tokens — and cut
 * to the context: its head, or its head and tail (a quarter of the room for the start, the rest for the end;
 * Sun et al. 2019 found head+tail best for long texts). Sequences are padded to the context and carry their
 * lengths, so padding is never attended to; the head pools the last real token (a causal model) or the first or
 * the mean (an encoder, whose first token, end-of-text, is the [CLS] it was pretrained with). The model is a GPT
 * or an {@link dev.cramjet.nn.Encoder}, whichever the directory's config.json describes.
 *
 * <p>A classifier directory is a model directory (config.json, model.safetensors with the head as
 * {@code score.weight}/{@code score.bias}) plus tokenizer.json and {@value #FILE}: labels, pooling, truncation,
 * context, and for a classifier fine-tuned with {@code --train lora} its adapters' shape ({@code "lora"}: rank,
 * alpha, rslora, targets), without which the adapter tensors in model.safetensors could not be rebuilt.
 */
public final class Classifier {
    public static final String FILE = "classifier.json", TOKENIZER = "tokenizer.json";

    /** How a text longer than the context is cut. */
    public enum Truncation {
        HEAD, HEAD_TAIL;

        public static Truncation parse(String s) {
            return switch (s) {
                case "head" -> HEAD;
                case "head+tail", "head-tail" -> HEAD_TAIL;
                default -> throw new CramjetException("--truncate must be head or head+tail, got '" + s + "'");
            };
        }

        public String cliName() { return this == HEAD ? "head" : "head+tail"; }
    }

    /** What classifier.json holds; {@code lora} is null unless the model carries LoRA adapters. */
    public record Spec(List<String> labels, Head.Pooling pooling, Truncation truncation, int context, LoRA.Spec lora) {
        public Spec {
            labels = List.copyOf(labels);
            if (pooling != Head.Pooling.LAST && pooling != Head.Pooling.FIRST && pooling != Head.Pooling.MEAN) {
                throw new CramjetException("a classifier pools last, first or mean, not " + pooling);
            }
        }

        public Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("labels", labels);
            m.put("pooling", pooling.name().toLowerCase(Locale.ROOT));
            m.put("truncation", truncation.cliName());
            m.put("context", (long) context);
            if (lora != null) {
                Map<String, Object> l = new LinkedHashMap<>();
                l.put("rank", (long) lora.rank());
                l.put("alpha", (double) lora.alpha());
                l.put("rslora", lora.rslora());
                l.put("targets", lora.targets().stream().map(t -> t.layer).toList());
                m.put("lora", l);
            }
            return m;
        }

        public void write(Path dir) throws IOException { AtomicFile.writeString(dir.resolve(FILE), Json.pretty(toJson())); }

        public static Spec read(Path dir) throws IOException {
            Path f = dir.resolve(FILE);
            if (!Files.isRegularFile(f)) {
                throw new CramjetException(dir + ": no " + FILE + " (not a classifier; make one with cramjet finetune --task classify)");
            }
            String w = f.toString();
            Map<String, Object> m = Json.object(Json.parse(Files.readString(f), w), w);
            List<String> labels = new ArrayList<>();
            for (Object o : Json.array(m.get("labels"), w + ": labels")) labels.add(Json.string(o, w + ": labels[]"));
            if (labels.size() < 2) throw new CramjetException(w + ": labels must list at least two classes");
            return new Spec(labels, Classifier.pooling(Json.string(m.get("pooling"), w + ": pooling")),
                    Truncation.parse(Json.string(m.get("truncation"), w + ": truncation")), (int) Json.integer(m.get("context"), w + ": context"),
                    m.get("lora") == null ? null : lora(Json.object(m.get("lora"), w + ": lora"), w + ": lora"));
        }

        /** The adapters' shape as toJson writes it (inference needs no dropout: it is off outside training). */
        private static LoRA.Spec lora(Map<String, Object> m, String where) {
            Set<LoRA.Target> targets = EnumSet.noneOf(LoRA.Target.class);
            for (Object o : Json.array(m.get("targets"), where + ".targets")) {
                String layer = Json.string(o, where + ".targets[]");
                targets.add(Arrays.stream(LoRA.Target.values()).filter(t -> t.layer.equals(layer)).findFirst()
                        .orElseThrow(() -> new CramjetException(where + ".targets: unknown layer '" + layer + "'; expected one of "
                                + Arrays.stream(LoRA.Target.values()).map(t -> t.layer).toList())));
            }
            if (!(m.get("rslora") instanceof Boolean rs)) throw new CramjetException(where + ".rslora: expected true or false");
            return new LoRA.Spec((int) Json.integer(m.get("rank"), where + ".rank"), (float) Json.number(m.get("alpha"), where + ".alpha"),
                    0f, rs, targets);
        }
    }

    public static Head.Pooling pooling(String name) {
        return switch (name) {
            case "last" -> Head.Pooling.LAST;
            case "first" -> Head.Pooling.FIRST;
            case "mean" -> Head.Pooling.MEAN;
            default -> throw new CramjetException("pooling must be last, first or mean, got '" + name + "'");
        };
    }

    /** Texts as token ids, each at most the context long; {@code truncated} counts those that were cut. */
    public record Encoded(int[][] tokens, int truncated) {}

    public final Model model;
    public final Tokenizer tokenizer;
    public final Spec spec;
    private final int[] tokens, lengths;
    private final float[] logits;

    public Classifier(Model model, Tokenizer tokenizer, Spec spec) {
        if (model.options().classes() != spec.labels().size()) {
            throw new IllegalArgumentException("model has " + model.options().classes() + " classes, spec " + spec.labels().size());
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.spec = spec;
        this.tokens = new int[model.batch() * model.seq()];
        this.lengths = new int[model.batch()];
        this.logits = new float[model.batch() * spec.labels().size()];
    }

    /** Loads a classifier directory for inference, {@code batch} texts per forward pass. */
    public static Classifier load(Backend be, Path dir, int batch) throws IOException {
        Spec spec = Spec.read(dir);
        Path tok = dir.resolve(TOKENIZER);
        if (!Files.isRegularFile(tok)) throw new CramjetException(dir + ": no " + TOKENIZER + " (a classifier directory holds its tokenizer)");
        int block = blockSize(dir);
        if (spec.context() > block) {
            throw new CramjetException(dir.resolve(FILE) + ": context " + spec.context() + " exceeds the model's block size " + block);
        }
        Model.Options options = Model.Options.INFERENCE.lora(spec.lora()).classify(spec.labels().size(), spec.pooling());
        Model model = EncoderDir.isEncoder(dir) ? EncoderDir.load(be, dir, batch, spec.context(), options)
                : ModelDir.load(be, dir, batch, spec.context(), options);
        return new Classifier(model, Tokenizer.load(tok), spec);
    }

    /** The block size of a model directory, a GPT's or an encoder's (a base model or a classifier). */
    public static int blockSize(Path dir) throws IOException {
        return EncoderDir.isEncoder(dir) ? EncoderDir.readConfig(dir).blockSize() : ModelDir.readConfig(dir).blockSize();
    }

    /** The pooling a base model is fine-tuned with unless told: an encoder's first token ([CLS]), a GPT's last. */
    public static Head.Pooling defaultPooling(Path base) throws IOException {
        return EncoderDir.isEncoder(base) ? Head.Pooling.FIRST : Head.Pooling.LAST;
    }

    public int classes() { return spec.labels().size(); }

    /** Encodes texts in parallel (the tokenizer is thread-safe). */
    public Encoded encode(List<String> texts) { return encode(tokenizer, texts, spec.context(), spec.truncation()); }

    static Encoded encode(Tokenizer tokenizer, List<String> texts, int context, Truncation truncation) {
        int[][] out = new int[texts.size()][];
        boolean[] cut = new boolean[texts.size()];
        int eot = tokenizer.eot();
        IntStream.range(0, texts.size()).parallel().forEach(i -> {
            int[] ids = tokenizer.encodeOrdinary(texts.get(i));
            int room = context - 1;
            cut[i] = ids.length > room;
            int[] seq = new int[1 + Math.min(ids.length, room)];
            seq[0] = eot;
            if (ids.length <= room) {
                System.arraycopy(ids, 0, seq, 1, ids.length);
            } else if (truncation == Truncation.HEAD) {
                System.arraycopy(ids, 0, seq, 1, room);
            } else {
                int head = room / 4, tail = room - head;
                System.arraycopy(ids, 0, seq, 1, head);
                System.arraycopy(ids, ids.length - tail, seq, 1 + head, tail);
            }
            out[i] = seq;
        });
        int truncated = 0;
        for (boolean c : cut) if (c) truncated++;
        return new Encoded(out, truncated);
    }

    /**
     * Fills a padded batch from sequences [from, from + batch) of {@code seqs} (rows past the end: one token,
     * target −1) and returns how many rows are real. {@code labels} may be null (no targets).
     */
    static int fill(int[][] seqs, int[] labels, int[] order, long from, int[] tokens, int[] lengths, int[] targets, int seq) {
        int batch = lengths.length, real = 0;
        Arrays.fill(tokens, 0);
        for (int r = 0; r < batch; r++) {
            long k = from + r;
            if (k < seqs.length) {
                int i = order == null ? (int) k : order[(int) k];
                System.arraycopy(seqs[i], 0, tokens, r * seq, seqs[i].length);
                lengths[r] = seqs[i].length;
                if (targets != null) targets[r] = labels == null ? -1 : labels[i];
                real++;
            } else {
                lengths[r] = 1;
                if (targets != null) targets[r] = -1;
            }
        }
        return real;
    }

    /** Class probabilities [text][class] for encoded texts, in evaluation mode, {@code model.batch()} at a time. */
    public float[][] probabilities(int[][] seqs) {
        int b = model.batch(), k = classes();
        float[][] out = new float[seqs.length][];
        model.eval();
        for (int from = 0; from < seqs.length; from += b) {
            int real = fill(seqs, null, null, from, tokens, lengths, null, model.seq());
            model.forward(tokens, lengths, null);
            model.backend().download(model.logits(), logits);
            for (int r = 0; r < real; r++) out[from + r] = softmax(logits, r * k, k);
        }
        return out;
    }

    static float[] softmax(float[] z, int off, int k) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int j = 0; j < k; j++) max = Math.max(max, z[off + j]);
        double[] e = new double[k];
        for (int j = 0; j < k; j++) sum += e[j] = Math.exp(z[off + j] - max);
        float[] p = new float[k];
        for (int j = 0; j < k; j++) p[j] = (float) (e[j] / sum);
        return p;
    }

    /**
     * Each row's class: the second when its probability reaches {@code threshold} (two classes), or the most
     * probable one when the threshold is NaN.
     */
    public static int[] decide(float[][] probabilities, double threshold) {
        if (Double.isNaN(threshold)) return argmax(probabilities);
        int[] out = new int[probabilities.length];
        for (int i = 0; i < out.length; i++) out[i] = probabilities[i][1] >= threshold ? 1 : 0;
        return out;
    }

    /** The most probable class of each row. */
    public static int[] argmax(float[][] probabilities) {
        int[] out = new int[probabilities.length];
        for (int i = 0; i < out.length; i++) {
            int best = 0;
            for (int j = 1; j < probabilities[i].length; j++) if (probabilities[i][j] > probabilities[i][best]) best = j;
            out[i] = best;
        }
        return out;
    }
}
