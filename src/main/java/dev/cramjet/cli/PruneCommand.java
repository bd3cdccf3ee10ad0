package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.TokenShards;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.infer.DecodeBench;
import dev.cramjet.io.AtomicDirectory;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.HfExport;
import dev.cramjet.io.Json;
import dev.cramjet.io.ModelFiles;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.quant.Pruning;
import dev.cramjet.quant.Recovery;
import dev.cramjet.quant.Weights;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * `cramjet prune`: magnitude pruning at one or more sparsities, each optionally followed by a short recovery
 * fine-tune, each saved as a model directory, with a table of sparsity → size, validation loss and decode speed
 * (printed, and saved as prune.json and prune.md).
 */
public final class PruneCommand implements Command {
    @Override
    public String summary() { return "prune weights, MLP neurons or attention heads, with a table of size, loss and speed"; }

    @Override
    public String usage() {
        return """
                usage: cramjet prune --model PATH --out DIR (--tokens FILE|DIR | --text FILE) [--sparsity S[,S…]]
                                     [--structured neurons|heads] [--recover-steps N --data DIR [--lr LR] [--batch B]]
                                     [--split val] [--max-tokens N] [--seq T] [--force] [--json]

                  --sparsity S,…         fractions to prune, each from the original model (default 0.5)
                  (unstructured)         zero the smallest-magnitude fraction S of each block's attention and MLP
                                         matrices: same shapes and speed, the zeros a sparse format could drop
                  --structured neurons   remove the fraction S of MLP neurons in every block (the same count in each,
                                         a multiple of 32 when the width allows), the least important by
                                         ‖w_in‖·‖w_out‖: the model shrinks (mlp_hidden in config.json) and runs faster
                  --structured heads     remove the fraction S of attention heads in every block (the same count in
                                         each, at least one kept), the least important by ‖W_v,h‖·‖W_o,h‖; heads keep
                                         their size (n_head and head_dim in config.json), so q, k, v and the KV cache
                                         shrink. A GPT-2-layout result is saved in Cramjet's general layout: GPT-2's
                                         config has no head size (Llama's has head_dim, GGUF's llama key_length)
                  --recover-steps N      then fine-tune N steps on the training shards of --data (a `cramjet prepare`
                                         directory), pruned weights held at zero; --lr (default 3e-4), --batch (8)
                  --tokens/--text        held-out text for the validation loss, as for `cramjet eval`
                                         (default --max-tokens 65536)

                OUT gets one model directory per sparsity (unstructured-0.50/, neurons-0.50/, heads-0.50/, …: model.safetensors,
                config.json, tokenizer.json and the Hugging Face files) and the table as prune.json and prune.md.""";
    }

    @Override
    public int run(Args args) throws IOException {
        Path model = Path.of(args.required("model")), out = Path.of(args.required("out"));
        String tokensArg = args.string("tokens", null), textArg = args.string("text", null);
        String sparsities = args.string("sparsity", "0.5");
        String structured = args.string("structured", null);
        int recoverSteps = args.integer("recover-steps", 0);
        String data = args.string("data", null);
        float lr = (float) args.number("lr", 3e-4);
        int batch = args.integer("batch", 8);
        String split = args.string("split", "val");
        long maxTokens = args.longValue("max-tokens", 65536);
        boolean force = args.flag("force"), json = args.flag("json");
        GPTConfig cfg = ModelFiles.config(model);
        int seq = args.integer("seq", cfg.blockSize());
        args.finish();
        if (structured != null && !structured.equals("neurons") && !structured.equals("heads")) {
            throw new CramjetException("--structured must be neurons (whole MLP neurons) or heads (whole attention heads), got '" + structured + "'");
        }
        if ((tokensArg == null) == (textArg == null)) throw new CramjetException("give exactly one of --tokens and --text: the table's validation loss needs held-out text");
        if ((recoverSteps > 0) != (data != null)) throw new CramjetException("--recover-steps and --data go together: the recovery fine-tune trains on --data's shards");
        if (seq < 1 || seq > cfg.blockSize()) throw new CramjetException("--seq must be in [1, " + cfg.blockSize() + "], got " + seq);
        List<Double> levels = new ArrayList<>();
        for (String s : sparsities.split(",")) {
            double v;
            try {
                v = Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                throw new CramjetException("--sparsity expects numbers in [0, 1) separated by commas, got '" + s + "'");
            }
            if (!(v > 0 && v < 1)) throw new CramjetException("--sparsity values must be in (0, 1), got " + s);
            levels.add(v);
        }
        if (Files.exists(out) && !force) throw new CramjetException(out + ": already exists (--force replaces it)");
        Tokenizer tokenizer = ExportCommand.tokenizer(model);
        int[] stream = EvalCommand.heldOut(model, tokensArg, textArg, split, maxTokens, cfg.vocabSize());
        String method = structured == null ? "unstructured" : structured;

        try (Backend be = Backends.open("cpu");
             TokenShards train = data == null ? null : TokenShards.open(Path.of(data), "train", tokenizer.hash())) {
            Weights original = Weights.of(ModelFiles.loadFp32(be, model, 1, 1));
            List<Map<String, Object>> rows = new ArrayList<>();
            AtomicDirectory.write(out, force, dir -> {
                rows.add(row(be, "original", 0, original, stream, batch, seq, null, tokenizer, QuantizeCommand.sourceBytes(model)));
                for (double s : levels) {
                    Weights w = original.copy();
                    Pruning.Masks masks = null;
                    double achieved;
                    if (method.equals("unstructured")) {
                        masks = Pruning.unstructured(w, s);
                        achieved = s;
                    } else if (method.equals("neurons")) {
                        int keep = Pruning.keptWidth(cfg.mlpHidden(), s);
                        w = Pruning.neurons(w, Pruning.keptNeurons(w, keep));
                        achieved = 1 - keep / (double) cfg.mlpHidden();
                    } else {
                        int keep = Pruning.keptHeadCount(cfg.nHead(), s);
                        w = Pruning.heads(w, Pruning.keptHeads(w, keep));
                        achieved = 1 - keep / (double) cfg.nHead();
                    }
                    if (recoverSteps > 0) {
                        w = Recovery.run(be, w, masks, train, new Recovery.Settings(recoverSteps, batch, seq, lr, 1234));
                    }
                    Path sub = dir.resolve(String.format(Locale.ROOT, "%s-%.2f", method, s));
                    rows.add(row(be, method, achieved, w, stream, batch, seq, sub, tokenizer, 0));
                }
                Map<String, Object> table = new LinkedHashMap<>();
                table.put("model", model.toString());
                table.put("method", method);
                table.put("recover_steps", (long) recoverSteps);
                table.put("rows", rows);
                AtomicFile.writeString(dir.resolve("prune.json"), Json.pretty(table));
                AtomicFile.writeString(dir.resolve("prune.md"), markdown(rows, recoverSteps));
            });
            System.out.println(json ? Json.write(rows) : markdown(rows, recoverSteps));
            if (!json) System.out.println("models and the table (prune.json, prune.md) are in " + out);
        }
        return 0;
    }

    /** Saves a variant (unless it is the original), evaluates it and times its decoding: one row of the table. */
    private static Map<String, Object> row(Backend be, String method, double sparsity, Weights w, int[] stream, int batch, int seq,
                                           Path save, Tokenizer tokenizer, long originalBytes) throws IOException {
        GPT model = w.model(be, batch, seq, Model.Options.INFERENCE);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("method", method);
        r.put("sparsity", sparsity);
        r.put("heads", (long) w.config().nHead());
        r.put("mlp_hidden", (long) w.config().mlpHidden());
        r.put("parameters", model.parameterCount());
        r.put("nonzero_parameters", w.nonzero());
        if (save != null) HfExport.write(model, tokenizer, null, save);
        r.put("file_bytes", save != null ? Files.size(save.resolve(ModelDir.WEIGHTS)) : originalBytes);
        r.put("val_loss", EvalCommand.evaluate(model, stream).loss());
        int prompt = Math.min(16, w.config().blockSize() / 4), decode = Math.min(64, w.config().blockSize() - prompt - 1);
        r.put("decode_tokens_per_s", DecodeBench.run(model, prompt, decode, 3).decodeTokensPerSecond());
        if (save != null) r.put("dir", save.getFileName().toString());
        return r;
    }

    private static String markdown(List<Map<String, Object>> rows, int recoverSteps) {
        StringBuilder sb = new StringBuilder();
        sb.append(recoverSteps > 0 ? "pruned, then " + recoverSteps + " recovery steps\n\n" : "pruned, no recovery fine-tune\n\n");
        sb.append("| method | sparsity | heads | MLP width | parameters | nonzero | file MB | val loss | Δ loss | decode tok/s | speed-up |\n");
        sb.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        Map<String, Object> base = rows.getFirst();
        double baseLoss = (Double) base.get("val_loss"), baseSpeed = (Double) base.get("decode_tokens_per_s");
        for (Map<String, Object> r : rows) {
            double loss = (Double) r.get("val_loss"), speed = (Double) r.get("decode_tokens_per_s");
            sb.append(String.format(Locale.ROOT, "| %s | %.2f | %d | %d | %,d | %,d | %.2f | %.4f | %+.2f%% | %.1f | %.2f× |%n",
                    r.get("method"), (Double) r.get("sparsity"), (Long) r.get("heads"), (Long) r.get("mlp_hidden"), (Long) r.get("parameters"),
                    (Long) r.get("nonzero_parameters"), (Long) r.get("file_bytes") / 1e6, loss, 100 * (loss - baseLoss) / baseLoss,
                    speed, speed / baseSpeed));
        }
        return sb.toString();
    }
}
