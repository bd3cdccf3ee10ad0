package dev.cramjet.serve;

import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The serve tests' model and server: a small random GPT (weights scaled up so its choices are not decided by
 * rounding) over a tokenizer with the chat specials, saved as a model directory, and a server on a free loopback
 * port with its access log captured.
 */
public final class TinyModel implements AutoCloseable {
    static {
        // The JDK server reads this once per process: a short request-read limit keeps the slow-client test short.
        System.setProperty(Server.READ_TIMEOUT_PROPERTY, "2");
    }

    final Tokenizer tokenizer;
    final GPT model;
    final CpuBackend cpu = new CpuBackend();
    final Engine engine;
    final Server server;
    final ByteArrayOutputStream log = new ByteArrayOutputStream();

    static Tokenizer tokenizer() {
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 30; i++) docs.add("Once upon a time there was a model that said hello. 从前有一个模型。 " + i);
        return new BpeTrainer().train(docs, 400, Tokenizer.DEFAULT_SPECIALS);
    }

    static GPT model(CpuBackend cpu, Tokenizer tok, int context) {
        GPT m = new GPT(cpu, GPTConfig.gpt2(2, 2, 32, tok.vocabSize(), context), 1, 1, 3, Model.Options.INFERENCE);
        float[] p = new float[(int) m.parameters().values().size()];
        cpu.download(m.parameters().values(), p);
        for (int i = 0; i < p.length; i++) p[i] *= 8;
        cpu.upload(m.parameters().values(), p);
        return m;
    }

    /** A model directory (weights, config, tokenizer) of the tiny model, for tests of the commands. */
    public static void saveModelDir(Path dir) throws IOException {
        Tokenizer tok = tokenizer();
        try (CpuBackend be = new CpuBackend()) {
            ModelDir.save(model(be, tok, 128), dir);
        }
        tok.save(dir.resolve("tokenizer.json"));
    }

    TinyModel(int slots, int queue, String apiKey, String cors, int maxBody, int timeoutSeconds, Path run) throws IOException {
        this(slots, 16, queue, apiKey, cors, maxBody, timeoutSeconds, run);
    }

    /** @param chunk prompt tokens a sequence reads per step */
    TinyModel(int slots, int chunk, int queue, String apiKey, String cors, int maxBody, int timeoutSeconds, Path run) throws IOException {
        tokenizer = tokenizer();
        model = model(cpu, tokenizer, 128);
        engine = new Engine(model, tokenizer, slots, 128, chunk, queue);
        server = new Server(new Server.Config("127.0.0.1", 0, apiKey, cors, maxBody, timeoutSeconds, 100, 120, false),
                engine, "tiny", tokenizer, run, new PrintStream(log, true, StandardCharsets.UTF_8), 2);
    }

    TinyModel() throws IOException { this(8, 64, null, null, 1 << 16, 60, null); }

    String url() { return "http://127.0.0.1:" + server.port(); }

    String accessLog() { return log.toString(StandardCharsets.UTF_8); }

    @Override
    public void close() {
        server.close();
        engine.close();
        cpu.close();
    }
}
