package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.infer.Generator;
import dev.cramjet.infer.Sampler;
import dev.cramjet.io.ModelFiles;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.tune.PeftFiles;
import dev.cramjet.train.Checkpoints;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToIntFunction;

/** `cramjet generate`: continues a prompt with a trained model, streaming the text as it is generated. */
public final class GenerateCommand implements Command {
    static final String TOKENIZER = "tokenizer.json";

    @Override
    public String summary() { return "continue a prompt with a trained model, streaming the text"; }

    @Override
    public String usage() {
        return """
                usage: cramjet generate (--model DIR | --run DIR | --adapter DIR) [--prompt TEXT] [options]

                  --model PATH             a model directory (model.safetensors, config.json, tokenizer.json) or a
                                           GGUF file (its tokenizer embedded; int8 Q8_0 weights run as int8)
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

                The prompt and then the generated text go to standard output (UTF-8) as they are produced.""";
    }

    @Override
    public int run(Args args) throws Exception {
        String modelArg = args.string("model", null), runArg = args.string("run", null), adapterArg = args.string("adapter", null);
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

        Models.Chosen chosen = Models.choose(modelArg, runArg, adapterArg);
        // UTF-8 whatever the locale says: generated text goes to files and pipes as often as to a terminal.
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Backend backend = Backends.open(device)) {
            // The cached path runs through the session's own buffers, so the model's activation arena can be one row.
            Loaded loaded = load(backend, chosen, "generate", cfg -> cached ? 1 : cfg.blockSize(), Model.Options.INFERENCE);
            GPTConfig cfg = loaded.config();
            GPT model = loaded.model();
            Tokenizer tokenizer = loaded.tokenizer();
            if (verbose) {
                System.err.printf(Locale.ROOT, "model: %s (%s) — %,d parameters, %d layers, %d wide, context %d; %s%n",
                        loaded.source().model(), chosen.what(loaded.source()), model.parameterCount(), cfg.nLayer(), cfg.nEmbd(), cfg.blockSize(),
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

    /** Where the weights and configuration are, where the tokenizer is (null: embedded in a GGUF), and a few words on which model it is. */
    record Source(Path model, Path tokenizer, String what) {}

    /** A model ready to run, with the source it came from. */
    record Loaded(Source source, Tokenizer tokenizer, GPTConfig config, GPT model) {}

    /**
     * The first of the chosen sources that loads, with the chosen adapter over it: a run's checkpoints come best
     * first, and one that fails verification gives way to the next with a word on standard error. {@code seq} sizes
     * the activation arena from the config (the KV-cache path runs through its own buffers, so one row will do).
     */
    static Loaded load(Backend backend, Models.Chosen chosen, String command, ToIntFunction<GPTConfig> seq, Model.Options options)
            throws IOException {
        List<Source> sources = chosen.candidates();
        for (int i = 0; ; i++) {
            Source src = sources.get(i);
            try {
                Path tok = chosen.tokenizer(src);
                Tokenizer tokenizer = tok == null ? ModelFiles.tokenizer(src.model()) : Tokenizer.load(tok);
                GPTConfig cfg = ModelFiles.config(src.model());
                int n = seq.applyAsInt(cfg);
                GPT model = chosen.adapter() == null ? ModelFiles.load(backend, src.model(), 1, n, options)
                        : PeftFiles.load(backend, src.model(), chosen.adapter(), 1, n);
                return new Loaded(src, tokenizer, cfg, model);
            } catch (CramjetException e) {
                if (i == sources.size() - 1) throw e;
                System.err.println("cramjet " + command + ": skipped checkpoint " + src.model().getFileName() + ": " + e.getMessage());
            }
        }
    }

    static Source modelDir(Path dir) throws IOException {
        if (ModelFiles.isGguf(dir)) return new Source(dir, null, "GGUF file");
        requireModel(dir, "model directory");
        Path tok = dir.resolve(TOKENIZER);
        if (!Files.isRegularFile(tok)) throw new CramjetException(dir + ": no " + TOKENIZER + " (a model directory holds "
                + ModelDir.WEIGHTS + ", " + ModelDir.CONFIG + " and " + TOKENIZER + ")");
        return new Source(dir, tok, "model directory");
    }

    /**
     * A run's complete checkpoints, best first (lowest validation loss in the manifest, then the newest); each is
     * verified against its manifest when it is loaded.
     */
    static List<Source> fromRun(Path run) throws IOException {
        if (!Files.isDirectory(run)) throw new CramjetException(run + ": no such run directory");
        List<Path> all = new Checkpoints(run.resolve("checkpoints"), Integer.MAX_VALUE)
                .bestFirst(m -> System.err.println("cramjet generate: " + m));
        if (all.isEmpty()) throw new CramjetException(run + ": no complete checkpoint under " + run.resolve("checkpoints"));
        List<Source> out = new ArrayList<>();
        for (Path p : all) {
            Path tok = p.resolve(TOKENIZER);
            if (!Files.isRegularFile(tok)) tok = run.resolve(TOKENIZER);
            if (!Files.isRegularFile(tok)) throw new CramjetException(run + ": no " + TOKENIZER + " in the run or its checkpoint " + p.getFileName());
            double loss = Checkpoints.valLoss(p);
            out.add(new Source(p, tok, Double.isFinite(loss)
                    ? String.format(Locale.ROOT, "%s, validation loss %.4f", p.getFileName(), loss) : p.getFileName() + ", no validation loss"));
        }
        return out;
    }

    private static void requireModel(Path dir, String kind) {
        if (!Files.isDirectory(dir)) throw new CramjetException(dir + ": no such " + kind);
        for (String f : new String[] {ModelDir.WEIGHTS, ModelDir.CONFIG}) {
            if (!Files.isRegularFile(dir.resolve(f))) throw new CramjetException(dir + ": no " + f + " in this " + kind);
        }
    }
}
