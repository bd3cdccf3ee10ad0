package dev.cramjet.io;

import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Small models trained for a few seconds on generated mixed Chinese/English text, for the tests of what is done
 * with a trained model (export, llama.cpp, quantization, pruning): a trained model has peaked next-token
 * distributions, where disagreements show, unlike a freshly initialised one. Each is trained once per test JVM
 * and saved as a model directory (model.safetensors, config.json, tokenizer.json) under a temporary folder.
 */
public final class TrainedModels {
    private TrainedModels() {}

    /** Context length of the models. */
    public static final int T = 128;
    private static final Map<String, Path> CACHE = new ConcurrentHashMap<>();
    private static Path root;

    /** A GPT-2-layout model: 2 layers, width 64, 4 heads. */
    public static Path gpt2() { return CACHE.computeIfAbsent("gpt2", k -> train(k, GPTConfig.gpt2(2, 4, 64, vocab(), T))); }

    /** A Llama-layout model (RoPE, RMSNorm, SwiGLU, no biases, untied head): 2 layers, width 64, 4 heads. */
    public static Path llama() {
        return CACHE.computeIfAbsent("llama", k -> train(k, GPTConfig.gpt2(2, 4, 64, vocab(), T).with(Map.of(
                "positions", "rope", "norm", "rms", "mlp", "swiglu", "bias", false, "tied_embeddings", false), "test")));
    }

    private static Tokenizer tokenizer;

    public static synchronized Tokenizer tokenizer() {
        if (tokenizer == null) {
            List<String> docs = new ArrayList<>();
            for (int d = 0; d < 200; d++) docs.add(text(d, 400));
            tokenizer = new BpeTrainer().train(docs, 700, Tokenizer.DEFAULT_SPECIALS);
        }
        return tokenizer;
    }

    private static int vocab() { return tokenizer().vocabSize(); }

    private static final String HAN = "床前明月光疑是地上霜举头望低思故乡白日依山尽黄河入海流欲穷千里目更上一层楼春眠不觉晓处闻啼鸟夜来风雨声"
            + "花落知多少人工智能正在改变世界我们需要学习新的知识今天天气很好去公园散步吧中文和英文混合文本";
    private static final String[] WORDS = {"the", "model", "reads", "text", "and", "writes", "tokens", "with", "a", "small",
        "vocabulary", "of", "merged", "bytes", "it's", "we'll", "they've", "don't", "Hello", "World", "llama", "GPT",
        "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "CPU", "int8", "weights", "in", "on", "is", "not"};
    private static final String[] MARKS = {", ", ". ", "! ", "? ", "，", "。", "！", "：", "、", "\n", "\n\n", " - ", "  ", "\t",
        " (", ") ", "\"", "'", "...", " 😀 ", " 👍🏽", "：“", "”"};

    /**
     * A held-out text file in {@code dir}: {@code texts} pieces of 300 characters from seeds {@code seed}, seed+1, …
     * — none of them seen by the trained models, which learned from other seeds.
     */
    public static Path heldOut(Path dir, long seed, int texts) throws IOException {
        Path f = dir.resolve("held-out.txt");
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < texts; s++) sb.append(text(seed + s, 300));
        Files.writeString(f, sb);
        return f;
    }

    /** Mixed Chinese/English text of about {@code chars} characters, a deterministic function of the seed. */
    public static String text(long seed, int chars) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + 7);
        StringBuilder sb = new StringBuilder();
        while (sb.length() < chars) {
            switch (r.nextInt(5)) {
                case 0, 1 -> {
                    int at = r.nextInt(HAN.length() - 12);
                    sb.append(HAN, at, at + 2 + r.nextInt(10));
                }
                case 2, 3 -> {
                    for (int w = 1 + r.nextInt(6); w > 0; w--) sb.append(' ').append(WORDS[r.nextInt(WORDS.length)]);
                }
                default -> sb.append(r.nextInt(3) == 0 ? " " + r.nextInt(1_000_000) : MARKS[r.nextInt(MARKS.length)]);
            }
        }
        return sb.toString();
    }

    /** Trains a model of {@code cfg} for 150 steps of 8 × T tokens on generated text and saves it. */
    private static Path train(String name, GPTConfig cfg) {
        Tokenizer tok = tokenizer();
        StringBuilder corpus = new StringBuilder();
        for (int d = 1000; d < 1300; d++) corpus.append(text(d, 400)).append(Tokenizer.END_OF_TEXT);
        int[] stream = tok.encode(corpus.toString());
        int batch = 8, steps = 150;
        try (CpuBackend be = new CpuBackend()) {
            GPT model = new GPT(be, cfg, batch, T, 42);
            AdamWOptimizer opt = new AdamWOptimizer(be, model.parameters(), AdamWOptimizer.Settings.defaults());
            SplittableRandom r = new SplittableRandom(5);
            int[] x = new int[batch * T], y = new int[batch * T];
            for (int step = 0; step < steps; step++) {
                for (int b = 0; b < batch; b++) {
                    int at = r.nextInt(stream.length - T - 1);
                    System.arraycopy(stream, at, x, b * T, T);
                    System.arraycopy(stream, at + 1, y, b * T, T);
                }
                model.train(step);
                model.zeroGrad();
                model.forward(x, y);
                model.backward();
                opt.step(step < 20 ? 3e-3f * (step + 1) / 20 : 3e-3f);
            }
            Path dir = root().resolve(name);
            ModelDir.save(model, dir);
            tok.save(dir.resolve("tokenizer.json"));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static synchronized Path root() throws IOException {
        if (root == null) {
            root = Files.createTempDirectory("cramjet-trained");
            Path dir = root;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try (Stream<Path> s = Files.walk(dir)) {
                    s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                } catch (IOException ignored) {
                    // a temporary folder left behind is not worth failing the run for
                }
            }));
        }
        return root;
    }
}
