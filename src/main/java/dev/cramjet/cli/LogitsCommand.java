package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.Json;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Prompt;
import dev.cramjet.tune.PeftFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * `cramjet logits`: the logits a model gives one token sequence, written as a safetensors file, so that another
 * implementation loading the same model directory (transformers, in scripts/gpu/) can be held to them. With
 * {@code --init} the model is freshly initialised from a configuration and exported first, which gives an export
 * in every layout (GPT-2's, Llama's) without training one.
 */
public final class LogitsCommand implements Command {
    @Override
    public String summary() { return "write the logits of a token sequence (for checks against other tools)"; }

    @Override
    public String usage() {
        return """
                usage: cramjet logits (--model DIR [--adapter DIR] | --init CONFIG.json --save DIR [--seed 1])
                                      --tokens 5,17,3,… --out FILE.safetensors [--device cpu|cuda]

                Runs the model in DIR (config.json + model.safetensors) on one sequence of token ids and writes its
                logits at every position, for the real vocabulary only, as the F32 tensor "logits" [T, vocab] of a
                safetensors file (metadata: the device that computed them). --init builds a new model from a
                model configuration (GPTConfig JSON: a "preset" and/or n_layer, n_head, n_embd, vocab_size,
                block_size, positions, norm, mlp, …), initialised from --seed, saves it into --save in the Hugging
                Face layout, and computes its logits with the weights as saved. --adapter applies a PEFT adapter
                (LoRA, prompt or prefix tuning) over the model; the logits are those of the given tokens, after
                the adapter's virtual tokens.
                """;
    }

    @Override
    public int run(Args args) throws IOException {
        String model = args.string("model", null), init = args.string("init", null);
        String save = args.string("save", null), adapter = args.string("adapter", null);
        long seed = args.longValue("seed", 1);
        int[] tokens = tokens(args.required("tokens"));
        Path out = Path.of(args.required("out"));
        String device = args.string("device", "cpu");
        args.finish();
        if ((model == null) == (init == null)) throw new CramjetException("give exactly one of --model and --init");
        if (init != null && save == null) throw new CramjetException("--init needs --save DIR for the exported model");
        if (init == null && save != null) throw new CramjetException("--save goes with --init");
        if (init != null && adapter != null) throw new CramjetException("--adapter goes with --model");

        Path dir = Path.of(init != null ? save : model);
        try (Backend be = Backends.open(device)) {
            if (init != null) {
                GPTConfig cfg = config(Path.of(init));
                check(tokens, cfg, 0);
                ModelDir.save(new GPT(be, cfg, 1, tokens.length, seed, Model.Options.INFERENCE), dir);
            }
            GPTConfig cfg = ModelDir.readConfig(dir);
            int virtual = 0;
            if (adapter != null) {
                Prompt.Spec p = PeftFiles.readConfig(Path.of(adapter), cfg).prompt();
                virtual = p == null ? 0 : p.tokens();
            }
            check(tokens, cfg, virtual);
            int seq = virtual + tokens.length;
            GPT gpt = adapter == null ? ModelDir.load(be, dir, 1, seq) : PeftFiles.load(be, dir, Path.of(adapter), 1, seq);
            int[] window = new int[seq];                       // the virtual positions' ids are not read
            System.arraycopy(tokens, 0, window, virtual, tokens.length);
            gpt.eval();
            gpt.forward(window, null);
            float[] padded = new float[(int) gpt.logits().size()];
            be.download(gpt.logits(), padded);
            int v = cfg.vocabSize(), pv = cfg.paddedVocab();
            float[] logits = new float[tokens.length * v];
            for (int t = 0; t < tokens.length; t++) System.arraycopy(padded, (virtual + t) * pv, logits, t * v, v);
            Safetensors.write(out, Map.of("format", "pt", "device", be.describe()),
                    List.of(new Safetensors.Item("logits", new long[] {tokens.length, v}, logits)));
            System.out.printf("logits [%d, %d] of %s on %s -> %s%n", tokens.length, v, dir, be.describe(), out);
        }
        return 0;
    }

    private static GPTConfig config(Path file) throws IOException {
        try {
            String where = file.toString();
            return GPTConfig.fromJson(Json.object(Json.parse(Files.readString(file, StandardCharsets.UTF_8), where), where), where);
        } catch (NoSuchFileException e) {
            throw new CramjetException(file + ": no such file (--init expects a model configuration JSON)");
        }
    }

    /** "5,17,3" as ids; one clear line for anything else. */
    static int[] tokens(String list) {
        String[] parts = list.split(",", -1);
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new CramjetException("--tokens: item " + (i + 1) + " '" + parts[i] + "' is not a token id (expected e.g. 5,17,3)");
            }
            if (ids[i] < 0) throw new CramjetException("--tokens: item " + (i + 1) + " is negative (" + ids[i] + ")");
        }
        return ids;
    }

    private static void check(int[] tokens, GPTConfig cfg, int virtual) {
        if (virtual + tokens.length > cfg.blockSize()) {
            throw new CramjetException("--tokens: " + tokens.length + " tokens, more than the model's context of " + cfg.blockSize()
                    + (virtual > 0 ? " less the adapter's " + virtual + " virtual tokens" : ""));
        }
        int max = Arrays.stream(tokens).max().orElse(0);
        if (max >= cfg.vocabSize()) throw new CramjetException("--tokens: id " + max + " is outside the vocabulary [0, " + cfg.vocabSize() + ")");
    }
}
