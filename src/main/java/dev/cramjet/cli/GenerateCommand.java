package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.infer.Generator;
import dev.cramjet.infer.Sampler;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.train.Checkpoints;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** `cramjet generate`: continues a prompt with a trained model, streaming the text as it is generated. */
public final class GenerateCommand implements Command {
    static final String TOKENIZER = "tokenizer.json";

    @Override
    public String summary() { return "continue a prompt with a trained model, streaming the text"; }

    @Override
    public String usage() {
        return """
                usage: cramjet generate (--model DIR | --run DIR | --adapter DIR) [--prompt TEXT] [options]

                  --model DIR              a model directory: model.safetensors, config.json, tokenizer.json
                  --run DIR                a training run: its checkpoint with the lowest validation loss, else its
                                           latest (the tokenizer is the checkpoint's or else the run's)
                  --adapter DIR            a PEFT adapter (LoRA, prompt or prefix tuning) over the model; alone, over
                                           the base its adapter_config.json names
                  --prompt TEXT            the text to continue (default: none, start from <|endoftext|>)
                  --max-tokens N           generate at most N tokens (default 200); stops earlier at <|endoftext|>
                  --temperature T          0 = greedy, always the most likely token (default 0.8)
                  --top-k K                sample among the K most likely tokens; 0 = all (default 50)
                  --top-p P                ... and among those, the fewest whose probability reaches P; 1 = all (default 0.95)
                  --repetition-penalty R   make tokens already in the text less likely, R > 1; 1 = off (default 1)
                  --seed S                 the sampling seed: the same seed gives the same text (default 1337)
                  --no-cache               recompute the whole context for every token (slow; the KV cache's reference)
                  --device cpu|cuda        where the model runs (default cpu)
                  --verbose                print the model, prompt size and tokens/s to stderr
                  --logits FILE            instead of generating, write the prompt's token ids and the model's logits
                                           at every prompt position to FILE (JSON), to compare with another tool

                The prompt and then the generated text go to standard output (UTF-8) as they are produced.""";
    }

    @Override
    public int run(Args args) throws Exception {
        String modelArg = args.string("model", null), runArg = args.string("run", null), adapterArg = args.string("adapter", null);
        String logits = args.string("logits", null);
        String prompt = args.string("prompt", "");
        int maxTokens = args.integer("max-tokens", 200);
        Sampler.Settings settings = new Sampler.Settings(args.number("temperature", 0.8), args.integer("top-k", 50),
                args.number("top-p", 0.95), args.number("repetition-penalty", 1.0), args.longValue("seed", 1337));
        boolean cached = !args.flag("no-cache");
        boolean verbose = args.flag("verbose");
        String device = args.string("device", "cpu");
        args.finish();
        if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
        if (maxTokens < 0) throw new CramjetException("--max-tokens must be >= 0, got " + maxTokens);

        Models.Chosen src = Models.choose(modelArg, runArg, adapterArg);
        Tokenizer tokenizer = Tokenizer.load(src.tokenizer());
        GPTConfig cfg = ModelDir.readConfig(src.base());
        // UTF-8 whatever the locale says: generated text goes to files and pipes as often as to a terminal.
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Backend backend = Backends.open(device)) {
            // The cached path runs through the session's own buffers, so the model's activation arena can be one row.
            if (logits != null) {
                writeLogits(Models.load(backend, src, 1, cfg.blockSize()), tokenizer, prompt, Path.of(logits));
                return 0;
            }
            GPT model = Models.load(backend, src, 1, cached ? 1 : cfg.blockSize());
            if (verbose) {
                System.err.printf(Locale.ROOT, "model: %s (%s) — %,d parameters, %d layers, %d wide, context %d; %s%n",
                        src.base(), src.what(), model.parameterCount(), cfg.nLayer(), cfg.nEmbd(), cfg.blockSize(),
                        cached ? "KV cache" : "no cache");
                System.err.println("device: " + backend.describe());
            }
            Generator generator = new Generator(model, tokenizer, cached);
            out.print(prompt);
            out.flush();
            Generator.Result r = generator.generate(prompt, maxTokens, new Sampler(settings, tokenizer.vocabSize()), piece -> {
                out.print(piece);
                out.flush();
            });
            if (!(prompt + r.text()).endsWith("\n")) out.println();
            out.flush();
            if (verbose) {
                System.err.printf(Locale.ROOT, "prompt: %d tokens in %.1f ms (%.1f tokens/s)%n",
                        r.promptTokens(), r.prefillSeconds() * 1e3, r.prefillTokensPerSecond());
                System.err.printf(Locale.ROOT, "generated: %d tokens in %.2f s, %.1f tokens/s; stopped at %s%n",
                        r.tokens().length, r.generateSeconds(), r.tokensPerSecond(),
                        r.stop() == Generator.Stop.END_OF_TEXT ? "end of text" : "--max-tokens " + maxTokens);
            }
        }
        return 0;
    }

    /**
     * The full forward pass over the prompt (after the model's virtual tokens): {"ids": [...], "logits": [[V] per
     * prompt token]}, written atomically.
     */
    private static void writeLogits(GPT model, Tokenizer tokenizer, String prompt, Path file) throws IOException {
        int[] ids = prompt.isEmpty() ? new int[] {tokenizer.eot()} : tokenizer.encode(prompt);
        int virtual = model.virtualTokens();
        if (virtual + ids.length > model.seq()) {
            throw new CramjetException("--logits: the prompt's " + ids.length + " tokens do not fit the context of " + (model.seq() - virtual));
        }
        int[] window = new int[model.seq()];
        System.arraycopy(ids, 0, window, virtual, ids.length);
        model.forward(window, null);
        List<Object> rows = new java.util.ArrayList<>();
        for (int t = 0; t < ids.length; t++) {
            List<Object> row = new java.util.ArrayList<>();
            for (float v : model.logitsAt(virtual + t)) row.add((double) v);
            rows.add(row);
        }
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("ids", ids);
        m.put("logits", rows);
        dev.cramjet.io.AtomicFile.writeString(file, Json.write(m));
    }

    /** Where the weights and configuration are, where the tokenizer is, and a few words on which model it is. */
    record Source(Path model, Path tokenizer, String what) {}

    static Source modelDir(Path dir) {
        requireModel(dir, "model directory");
        Path tok = dir.resolve(TOKENIZER);
        if (!Files.isRegularFile(tok)) throw new CramjetException(dir + ": no " + TOKENIZER + " (a model directory holds "
                + ModelDir.WEIGHTS + ", " + ModelDir.CONFIG + " and " + TOKENIZER + ")");
        return new Source(dir, tok, "model directory");
    }

    /**
     * A run's best checkpoint (lowest validation loss in its manifest), or its latest when none was evaluated;
     * verified against its manifest before use.
     */
    static Source fromRun(Path run) throws IOException {
        if (!Files.isDirectory(run)) throw new CramjetException(run + ": no such run directory");
        List<Path> all = new Checkpoints(run.resolve("checkpoints"), Integer.MAX_VALUE).list();
        if (all.isEmpty()) throw new CramjetException(run + ": no complete checkpoint under " + run.resolve("checkpoints"));
        Path chosen = all.getLast();
        double best = Double.POSITIVE_INFINITY;
        for (Path p : all) {
            Path mf = p.resolve(Checkpoints.MANIFEST);
            Object v = Json.object(Json.parse(Files.readString(mf), mf.toString()), mf.toString()).get("val_loss");
            double loss = v == null ? Double.NaN : Json.number(v, mf + ": val_loss");
            if (loss < best) { best = loss; chosen = p; }
        }
        Checkpoints.Saved saved = Checkpoints.load(chosen);
        requireModel(saved.dir(), "checkpoint");
        Path tok = saved.dir().resolve(TOKENIZER);
        if (!Files.isRegularFile(tok)) tok = run.resolve(TOKENIZER);
        if (!Files.isRegularFile(tok)) throw new CramjetException(run + ": no " + TOKENIZER + " in the run or its checkpoint " + saved.dir().getFileName());
        String what = Double.isFinite(saved.valLoss())
                ? String.format(Locale.ROOT, "step %d, best validation loss %.4f", saved.step(), saved.valLoss())
                : "step " + saved.step() + ", latest";
        return new Source(saved.dir(), tok, what);
    }

    private static void requireModel(Path dir, String kind) {
        if (!Files.isDirectory(dir)) throw new CramjetException(dir + ": no such " + kind);
        for (String f : new String[] {ModelDir.WEIGHTS, ModelDir.CONFIG}) {
            if (!Files.isRegularFile(dir.resolve(f))) throw new CramjetException(dir + ": no " + f + " in this " + kind);
        }
    }
}
