package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.DType;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.serve.Engine;
import dev.cramjet.serve.Server;
import dev.cramjet.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;

/** `cramjet serve`: an OpenAI-compatible API and a web page for a model, and the live view of its run. */
public final class ServeCommand implements Command {
    @Override
    public String summary() { return "serve a model: OpenAI-compatible API, chat page, live run view"; }

    @Override
    public String usage() {
        return """
                usage: cramjet serve (--model DIR | --run DIR) [options]

                  --model DIR              a model directory: model.safetensors, config.json, tokenizer.json
                  --run DIR                a training run: its best checkpoint, and the page's live view of the run
                  --host H                 address to listen on (default 127.0.0.1: this machine only)
                  --port P                 port (default 8080; 0 picks a free one)
                  --api-key KEY            require Authorization: Bearer KEY (default: $CRAMJET_API_KEY; none if unset)
                  --cors ORIGIN            let pages from ORIGIN call the API from a browser (default: none)
                  --name ID                the model id clients name (default: the directory's name)
                  --weights fp32|int8      int8 (Q8_0) reads a quarter of the bytes per token (default fp32)
                  --slots N                sequences decoded together, each with its KV cache (default 8)
                  --context N              positions per sequence, prompt + reply (default: the model's, at most 1024)
                  --chunk N                prompt tokens a sequence reads per step (default 256)
                  --queue N                requests that may wait for a slot before 429 (default 64)
                  --max-tokens N           the most new tokens a request may ask for (default: the context)
                  --max-prompt-tokens N    the longest prompt accepted (default: the context − 1)
                  --max-body BYTES         the largest request body (default 1048576)
                  --timeout S              a request's whole time limit, queue included (default 600)
                  --read-timeout S         time a client has to send its request (default 10)
                  --grace S                on SIGTERM, time in-flight requests get to finish (default 10)
                  --log-prompts            put prompt text in the access log (default: counts only)
                  --device cpu|cuda        where the model runs (default cpu)

                Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (stream: true for
                server-sent events), GET /health, and the page at /. See docs/SERVING.md.""";
    }

    @Override
    public int run(Args args) throws Exception {
        String modelArg = args.string("model", null), runArg = args.string("run", null);
        Listen listen = Listen.read(args);
        String name = args.string("name", null), weights = args.string("weights", "fp32");
        int slots = args.integer("slots", 8), chunk = args.integer("chunk", Engine.CHUNK), queue = args.integer("queue", 64);
        int contextArg = args.integer("context", 0);
        int maxTokensArg = args.integer("max-tokens", 0), maxPromptArg = args.integer("max-prompt-tokens", 0);
        String device = args.string("device", "cpu");
        args.finish();
        if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
        if ((modelArg == null) == (runArg == null)) throw new CramjetException("give exactly one of --model DIR or --run DIR");
        DType storage = switch (weights) {
            case "fp32" -> null;
            case "int8" -> DType.Q8_0;
            default -> throw new CramjetException("--weights must be fp32 or int8, got '" + weights + "'");
        };

        List<GenerateCommand.Source> sources = modelArg != null ? List.of(GenerateCommand.modelDir(Path.of(modelArg)))
                : GenerateCommand.fromRun(Path.of(runArg));
        String id = name != null ? name : Path.of(modelArg != null ? modelArg : runArg).toAbsolutePath().normalize().getFileName().toString();

        try (Backend backend = Backends.open(device)) {
            GenerateCommand.Loaded loaded = GenerateCommand.load(backend, new Models.Chosen(sources, null), "serve", cfg -> 1,
                    Model.Options.INFERENCE.weights(storage));
            GenerateCommand.Source src = loaded.source();
            Tokenizer tokenizer = loaded.tokenizer();
            GPTConfig cfg = loaded.config();
            GPT model = loaded.model();
            int context = contextArg > 0 ? contextArg : Math.min(cfg.blockSize(), 1024);
            if (context > cfg.blockSize()) throw new CramjetException("--context " + context + " is more than the model's block size " + cfg.blockSize());
            int maxTokens = maxTokensArg > 0 ? maxTokensArg : context;
            int maxPrompt = maxPromptArg > 0 ? maxPromptArg : context - 1;
            long cache = 2L * cfg.nLayer() * slots * context * cfg.attnWidth() * backend.computeType().bytes(1);
            System.err.printf(Locale.ROOT, "model: %s (%s) — %,d parameters, %s weights; %d slots × %d positions (KV cache %.0f MB)%n",
                    src.model(), src.what(), model.parameterCount(), storage == null ? backend.computeType().name().toLowerCase(Locale.ROOT) : "int8",
                    slots, context, cache / 1e6);
            try (Engine engine = new Engine(model, tokenizer, slots, context, chunk, queue)) {
                Server server = listen.start(engine, id, tokenizer, runArg == null ? null : Path.of(runArg), maxPrompt, maxTokens);
                System.err.printf(Locale.ROOT, "serving '%s' at http://%s:%d/ (API under /v1)%s%n", id, listen.host(), server.port(),
                        listen.apiKey() == null ? "" : "; an API key is required");
                listen.awaitTermination(server);
            }
        }
        return 0;
    }

    /** The options `serve` and `dashboard` share: where to listen, who may call, and how shutdown goes. */
    record Listen(String host, int port, String apiKey, String cors, int maxBody, int timeout, int readTimeout,
                  int grace, boolean logPrompts) {
        static Listen read(Args args) {
            String key = args.string("api-key", System.getenv("CRAMJET_API_KEY"));
            if (key != null && key.isBlank()) key = null;
            Listen l = new Listen(args.string("host", "127.0.0.1"), args.integer("port", 8080), key, args.string("cors", null),
                    args.integer("max-body", 1 << 20), args.integer("timeout", 600), args.integer("read-timeout", 10),
                    args.integer("grace", 10), args.flag("log-prompts"));
            if (l.port < 0 || l.port > 65535) throw new CramjetException("--port must be in [0, 65535], got " + l.port);
            if (l.readTimeout < 1) throw new CramjetException("--read-timeout must be at least 1 second, got " + l.readTimeout);
            if (l.grace < 0) throw new CramjetException("--grace must be at least 0 seconds, got " + l.grace);
            return l;
        }

        Server start(Engine engine, String id, Tokenizer tokenizer, Path run, int maxPrompt, int maxTokens) throws java.io.IOException {
            Server.Config cfg = new Server.Config(host, port, apiKey, cors, maxBody, timeout, maxPrompt, maxTokens, logPrompts);
            return new Server(cfg, engine, id, tokenizer, run, System.err, readTimeout);
        }

        /** Serves until SIGTERM or Ctrl-C, then shuts down gracefully. */
        void awaitTermination(Server server) throws InterruptedException {
            CountDownLatch done = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                System.err.println("cramjet serve: stopping — no new requests; in-flight ones get " + grace + " s to finish");
                try {
                    server.shutdown(grace);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                done.countDown();
            }, "cramjet-shutdown"));
            done.await();
        }
    }
}
