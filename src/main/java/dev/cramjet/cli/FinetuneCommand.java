package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.nn.LoRA;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.tune.Finetune;
import dev.cramjet.tune.Method;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** `cramjet finetune`: adapts a trained model to a task — a switch on --task, each task's code in tune/. */
public final class FinetuneCommand implements Command {
    @Override
    public String summary() { return "fine-tune a model: instructions (sft) or preferences (dpo), fully or with LoRA, prompt or prefix tuning"; }

    @Override
    public String usage() {
        return """
                usage: cramjet finetune --task sft|dpo (--model DIR | --run RUN) (--data FILE.jsonl | --builtin NAME)
                                        [--method lora|full|prompt|prefix] [options] [--KEY VALUE ...]
                       cramjet finetune --resume RUN [--budget ...] [--max-steps ...]

                  --task sft           supervised fine-tuning on conversations: the loss is on the assistant's replies only
                  --task dpo           direct preference optimisation on {"prompt","chosen","rejected"} pairs, against the
                                       starting model as the reference
                  --model DIR          the base: a model directory (model.safetensors, config.json, tokenizer.json)
                  --run RUN            the base: a training run's best checkpoint, else its latest
                  --data FILE          JSONL: {"messages":[{"role","content"},…]}, {"prompt","completion"},
                                       {"instruction","input","output"} (Alpaca); for dpo {"prompt","chosen","rejected"}
                  --builtin NAME       a built-in set from the chinese-poetry corpus: poetry (instructions), or
                                       poetry-preferences (dpo)
                  --val FILE           held-out examples (default: 2% of the data, by a hash of each example)
                  --method M           lora (default), full, prompt (prompt tuning) or prefix (prefix tuning)
                  --lora-r R           LoRA rank (default 8)
                  --lora-alpha A       LoRA alpha; the scale is alpha/r (default 16)
                  --lora-dropout P     dropout on the adapters' input in training (default 0.05)
                  --lora-targets LIST  comma-separated: qkv, attn-proj, mlp-fc, mlp-proj (default: all four)
                  --rslora             scale alpha/√r (rank-stabilised LoRA)
                  --virtual-tokens N   prompt and prefix tuning: virtual tokens (default 20)
                  --prompt-init TEXT   start the virtual tokens as this text's tokens (default: sampled from the vocabulary)
                  --beta B             dpo: the strength of the pull towards the reference (default 0.1)
                  --epochs E           without --budget, --max-steps or --tokens: passes over the data (default 1)
                  --dropout P          residual dropout of the base (default: as the base model was trained)
                  --out RUN            the run directory (default runs/finetune-DATE-TIME); --force replaces it
                  --config FILE        a JSON object of trainer keys; command-line keys override it
                  --resume RUN         continue RUN from its newest checkpoint; only budget and reporting keys may change

                The trainer's keys apply as for cramjet train (--budget, --lr, --batch, --context, --schedule,
                --eval-every, --patience, --checkpoint-minutes, …; the model's shape comes from the base). The context
                defaults to the longest example, capped at the base's block size; --batch counts pairs for dpo.
                RUN receives config.json, tokenizer.json, chat_template.json, metrics.jsonl, checkpoints/,
                samples/, plots/, report.html and at the end adapter/ (a Hugging Face PEFT adapter) or, for
                --method full, model/. Chat with the result: cramjet chat --adapter RUN/adapter""";
    }

    /** Options this command reads itself; the rest that are trainer keys go to the trainer. */
    private static final Set<String> OWN = Set.of("task", "model", "run", "data", "builtin", "val", "method", "lora-r",
            "lora-alpha", "lora-dropout", "lora-targets", "rslora", "virtual-tokens", "prompt-init", "beta", "epochs", "dropout",
            "out", "force", "config", "resume");

    @Override
    public int run(Args args) throws Exception {
        String resume = args.string("resume", null);
        Map<String, String> overrides = new LinkedHashMap<>();
        for (var e : args.options().entrySet()) {
            if (OWN.contains(e.getKey())) continue;
            if (!TrainConfig.isKey(e.getKey())) continue;
            if (Finetune.NOT_APPLICABLE.contains(e.getKey().replace('_', '-'))) {
                throw new CramjetException("--" + e.getKey() + " does not apply to a fine-tune (the model and its data come from --model/--run and --data)");
            }
            overrides.put(e.getKey(), e.getValue());
            args.markRead(e.getKey());
        }
        ProgressLine progress = ProgressLine.stdout();
        List<String> lastSamples = new ArrayList<>();
        Finetune.Result r;
        Path run;
        if (resume != null) {
            for (String k : OWN) {
                if (!k.equals("resume") && args.has(k)) throw new CramjetException("--resume takes the run's own settings; drop --" + k);
            }
            args.finish();
            run = Path.of(resume);
            var saved = Finetune.readConfig(run);
            for (String k : overrides.keySet()) {
                if (!TrainingRun.RESUMABLE.contains(k.replace('_', '-'))) {
                    throw new CramjetException(k + ": cannot change when resuming (it shapes what is trained); only "
                            + new java.util.TreeSet<>(TrainingRun.RESUMABLE) + " can");
                }
            }
            r = Finetune.run(saved.getKey(), saved.getValue(), overrides, run, true, TrainingRun.listener(run, progress, lastSamples), progress::log);
        } else {
            Finetune.Settings s = settings(args);
            String configFile = args.string("config", null);
            run = Path.of(args.string("out", "runs/finetune-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))));
            boolean force = args.flag("force");
            args.finish();
            if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
            Map<String, Object> file = new LinkedHashMap<>();
            if (configFile != null) {
                Path f = Path.of(configFile);
                if (!Files.isRegularFile(f)) throw new CramjetException(f + ": config file not found");
                file.putAll(Json.object(Json.parse(Files.readString(f), f.toString()), f.toString()));
                for (String k : file.keySet()) {
                    if (Finetune.NOT_APPLICABLE.contains(k.replace('_', '-'))) throw new CramjetException(f + ": key '" + k + "' does not apply to a fine-tune");
                }
            }
            TrainingRun.createRunDir(run, force);
            r = Finetune.run(s, file, overrides, run, false, TrainingRun.listener(run, progress, lastSamples), progress::log);
        }
        progress.finish();
        TrainingRun.refreshReport(run, progress);
        TrainCommand.print(r.outcome(), run, "cramjet finetune --resume ");
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (!lastSamples.isEmpty()) {
            out.println("\nreplies to held-out prompts:");
            for (String sample : lastSamples) out.println("\n" + sample.strip());
        }
        boolean adapter = r.output().getFileName().toString().equals("adapter");
        out.println("\n" + (adapter ? "adapter (Hugging Face PEFT format): " : "model: ") + r.output());
        out.println("chat with it: cramjet chat " + (adapter ? "--adapter " : "--model ") + r.output());
        return r.outcome().reason().equals("interrupted") ? 130 : 0;
    }

    /** A path as an absolute one (a run resumed from elsewhere still finds its data), or null. */
    private static String absolute(String path) { return path == null ? null : Path.of(path).toAbsolutePath().normalize().toString(); }

    /** The settings of a new run from the command line. */
    private static Finetune.Settings settings(Args args) throws java.io.IOException {
        String task = args.string("task", null);
        if (task == null) throw new CramjetException("missing --task (sft or dpo; see --help)");
        String modelArg = args.string("model", null), runArg = args.string("run", null);
        if ((modelArg == null) == (runArg == null)) throw new CramjetException("give exactly one of --model DIR or --run RUN (the base model)");
        GenerateCommand.Source base = modelArg != null ? GenerateCommand.modelDir(Path.of(modelArg)) : GenerateCommand.fromRun(Path.of(runArg));
        Set<LoRA.Target> targets = EnumSet.noneOf(LoRA.Target.class);
        for (String t : args.string("lora-targets", "qkv,attn-proj,mlp-fc,mlp-proj").split(",")) {
            if (!t.isBlank()) targets.add(Finetune.target(t.strip()));
        }
        String dropout = args.string("dropout", null);
        Float p;
        try {
            p = dropout == null ? null : Float.parseFloat(dropout);
        } catch (NumberFormatException e) {
            throw new CramjetException("--dropout expects a number, got '" + dropout + "'");
        }
        if (p != null && !(p >= 0 && p < 1)) throw new CramjetException("--dropout must be in [0, 1), got " + p);
        return new Finetune.Settings(task, base.model().toAbsolutePath().normalize().toString(),
                base.tokenizer().toAbsolutePath().normalize().toString(), absolute(args.string("data", null)), args.string("builtin", null),
                absolute(args.string("val", null)), Method.of(args.string("method", "lora")), args.integer("lora-r", 8),
                (float) args.number("lora-alpha", 16), (float) args.number("lora-dropout", 0.05), args.flag("rslora"), targets,
                args.integer("virtual-tokens", 20), args.string("prompt-init", null), args.number("beta", 0.1),
                args.number("epochs", 0), p);
    }
}
