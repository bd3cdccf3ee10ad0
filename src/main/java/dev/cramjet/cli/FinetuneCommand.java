package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.nn.LoRA;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.report.RunProgress;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Corpora;
import dev.cramjet.train.Budget;
import dev.cramjet.train.Checkpoints;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.tune.Classification;
import dev.cramjet.tune.Classifier;
import dev.cramjet.tune.Evaluation;
import dev.cramjet.tune.Example;
import dev.cramjet.tune.Finetune;
import dev.cramjet.tune.LabelledReader;
import dev.cramjet.tune.Method;
import dev.cramjet.tune.TaskData;
import dev.cramjet.tune.Tasks;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * `cramjet finetune --task T`: adapts a pretrained model to a task, through the same trainer as pretraining: a
 * classifier ({@code classify}, tune.Classification) or a language model on conversations ({@code sft}) or
 * preference pairs ({@code dpo}, tune.Finetune). Each task is one case of {@link #run}'s switch; a resumed run is
 * the task its directory holds.
 */
public final class FinetuneCommand implements Command {
    /** Fine-tuning defaults over the training keys': a short linear schedule, light decay and dropout, early stopping. */
    static final Map<String, String> DEFAULTS = Map.ofEntries(Map.entry("batch", "16"), Map.entry("lr", "3e-4"),
            Map.entry("schedule", "linear"), Map.entry("warmup", "0.06"), Map.entry("min-lr-ratio", "0"),
            Map.entry("weight-decay", "0.01"), Map.entry("dropout", "0.1"), Map.entry("eval-minutes", "1"),
            Map.entry("patience", "5"), Map.entry("checkpoint-minutes", "0"), Map.entry("keep", "2"), Map.entry("samples", "0"));

    /** The task's own options: fixed for the run, so a resume refuses them. */
    private static final List<String> TASK_OPTIONS = List.of("train", "lora-rank", "lora-alpha", "pooling", "truncate", "monitor",
            "class-weights", "epochs", "text-field", "label-field", "val-fraction", "test-fraction", "split-seed", "near-dup", "skip-bad");

    /** Training keys that describe the model's shape: a fine-tune takes the base model's. */
    private static final List<String> SHAPE = List.of("layers", "heads", "width");

    @Override
    public String summary() {
        return "fine-tune a pretrained model: a classifier (classify), instructions (sft) or preferences (dpo); fully, with LoRA, prompt or prefix tuning";
    }

    @Override
    public String usage() {
        return """
                usage: cramjet finetune --task classify (--model DIR | --run RUN) --data SPEC [--out RUN] [options]
                       cramjet finetune --task sft|dpo (--model DIR | --run RUN) (--data FILE.jsonl | --builtin NAME)
                                        [--train lora|full|prompt|prefix] [options]
                       cramjet finetune --resume RUN [--budget ...]

                Every task trains with the budget, schedule, early stopping, checkpoints and exact resume of
                cramjet train (its keys apply, except the model's shape, which is the base's).

                --task classify turns a pretrained model into a text classifier: a pooled head over the model. The
                best checkpoint (by --monitor on the validation split) is scored on the test split at the end; RUN
                gets test_metrics.json, and every checkpoint is a classifier directory for cramjet classify and eval.

                base model:
                  --model DIR            a model directory or checkpoint (config.json, model.safetensors) of a
                                         GPT or an encoder, its tokenizer.json beside it or in its run directory
                  --run RUN              a pretraining run (cramjet train, or distill): its best checkpoint
                data (split once, written to RUN/task with the label set; reuse it with --data RUN/task):
                  --data SPEC            a packaged task: %s;
                                         a task directory; or labelled files, comma-separated: .jsonl/.json
                                         (fields), .csv/.tsv (header row), or a directory of label directories
                  --text-field F         JSON field path or CSV column of the text (default text)
                  --label-field F        ... of the label (default label)
                  --val-fraction F       share of each label for validation (default 0.1)
                  --test-fraction F      share of each label for test (default 0.1)
                  --split-seed S         seed of the split's hash order (default 1337)
                  --near-dup J           drop texts with MinHash similarity >= J to an earlier one (default 0.8; 0 off)
                  --skip-bad             count and skip bad rows instead of stopping at the first
                model and training:
                  --train full|head|lora the whole model (default), only the head, or LoRA adapters and the head
                  --lora-rank R          LoRA rank (default 8); --lora-alpha A (default 16)
                  --pooling P            last, first or mean (default: last for a GPT, its summary; first
                                         for an encoder, the [CLS] end-of-text it was pretrained with)
                  --truncate T           head+tail (default) or head, for texts longer than --context
                  --epochs N             train for N passes over the training split (default 3 when no other
                                         budget is given)
                  --monitor M            macro-f1 (default), accuracy or loss: early stopping and the best checkpoint
                  --class-weights W      none (default) or balanced: draw each class equally often
                  --ema D                evaluate, checkpoint and score an exponential moving average of the
                                         weights with decay D, e.g. 0.99 (default 0: off; a trainer key, so
                                         train, sft and dpo take it too)
                  --out RUN              the run directory (default runs/finetune-DATE-TIME); --force replaces it
                the defaults here are %s

                --task sft is supervised fine-tuning on conversations, the loss on the assistant's replies only;
                --task dpo is direct preference optimisation on {"prompt","chosen","rejected"} pairs, against the
                starting model as the reference.
                  --model DIR, --run RUN the base, as above (a model directory holds its tokenizer.json)
                  --data FILE            JSONL: {"messages":[{"role","content"},…]}, {"prompt","completion"},
                                         {"instruction","input","output"} (Alpaca); for dpo {"prompt","chosen","rejected"}
                  --builtin NAME         a built-in set from the chinese-poetry corpus: poetry (instructions), or
                                         poetry-preferences (dpo)
                  --val FILE             held-out examples (default: 2%% of the data, by a hash of each example)
                  --train M              lora (default), full, prompt (prompt tuning) or prefix (prefix tuning)
                  --lora-rank R          LoRA rank (default 8); --lora-alpha A, the scale alpha/r (default 16)
                  --lora-dropout P       dropout on the adapters' input in training (default 0.05)
                  --lora-targets LIST    comma-separated: qkv, attn-proj, mlp-fc, mlp-proj (default: all four)
                  --rslora               scale alpha/√r (rank-stabilised LoRA)
                  --virtual-tokens N     prompt and prefix tuning: virtual tokens (default 20)
                  --prompt-init TEXT     start the virtual tokens as this text's tokens (default: sampled from the vocabulary)
                  --beta B               dpo: the strength of the pull towards the reference (default 0.1)
                  --epochs E             without --budget, --max-steps or --tokens: passes over the data (default 1)
                  --dropout P            residual dropout of the base (default: as the base model was trained)
                  --out RUN              the run directory (default runs/finetune-DATE-TIME); --force replaces it
                  --config FILE          a JSON object of trainer keys; command-line keys override it
                The context defaults to the longest example, capped at the base's block size; --batch counts pairs
                for dpo. RUN receives config.json, tokenizer.json, chat_template.json, metrics.jsonl, checkpoints/,
                samples/, plots/, report.html and at the end adapter/ (a Hugging Face PEFT adapter) or, for
                --train full, model/. Chat with the result: cramjet chat --adapter RUN/adapter

                --resume RUN continues RUN from its newest checkpoint; only budget and reporting keys may change.
                """.formatted(String.join(", ", Tasks.NAMES), new java.util.TreeMap<>(DEFAULTS));
    }

    @Override
    public int run(Args args) throws Exception {
        String resume = args.string("resume", null);
        if (resume != null) {
            if (args.has("task")) throw new CramjetException("--resume takes the run's own settings; drop --task");
            Path run = Path.of(resume);
            // A language-model fine-tune's config.json holds its settings; a classifier's are in finetune.json.
            boolean language = !Files.exists(run.resolve(Classification.SETTINGS)) && Files.isRegularFile(run.resolve(Finetune.CONFIG));
            return language ? language(args, run) : classify(args, resume);
        }
        String task = args.string("task", null);
        if (task == null) throw new CramjetException("missing required option --task (classify, sft or dpo)");
        return switch (task) {
            case "classify" -> classify(args, null);
            case "sft", "dpo" -> language(args, null);
            default -> throw new CramjetException("--task: unknown task '" + task + "'; expected classify, sft or dpo");
        };
    }

    private int classify(Args args, String resume) throws IOException {
        String modelArg = args.string("model", null), runArg = args.string("run", null), dataArg = args.string("data", null);
        String out = args.string("out", null);
        boolean force = args.flag("force");
        String textField = args.string("text-field", "text"), labelField = args.string("label-field", "label");
        TaskData.Settings split = new TaskData.Settings(args.number("val-fraction", 0.1), args.number("test-fraction", 0.1),
                args.longValue("split-seed", 1337), args.number("near-dup", 0.8));
        boolean skipBad = args.flag("skip-bad");
        var train = Method.of(args.string("train", "full"), Method.CLASSIFIER);
        int loraRank = args.integer("lora-rank", 8);
        double loraAlpha = args.number("lora-alpha", 16);
        String poolingArg = args.string("pooling", null);
        var chosenPooling = poolingArg == null ? null : Classifier.pooling(poolingArg);   // checked before the data is read
        var truncation = Classifier.Truncation.parse(args.string("truncate", "head+tail"));
        var monitor = Evaluation.Monitor.parse(args.string("monitor", "macro-f1"));
        String weights = args.string("class-weights", "none");
        if (!weights.equals("none") && !weights.equals("balanced")) throw new CramjetException("--class-weights must be none or balanced, got '" + weights + "'");
        double epochs = args.number("epochs", 0);
        Map<String, String> overrides = TrainCommand.overrides(args);
        overrides.remove("model");   // here the base model, not a preset
        overrides.remove("data");    // here the task
        args.finish();
        if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
        for (String k : SHAPE) {
            if (overrides.containsKey(k)) throw new CramjetException("--" + k + ": a fine-tune takes the base model's shape and --data is the task (see --help)");
        }

        if (resume != null) {
            Path run = Path.of(resume);
            if (modelArg != null || runArg != null || dataArg != null || out != null || force) {
                throw new CramjetException("--resume takes the run's own settings; drop --model, --run, --data, --out and --force");
            }
            for (String k : TASK_OPTIONS) {
                if (args.keys().contains(k)) throw new CramjetException("--" + k + ": cannot change when resuming (it is in " + run.resolve(Classification.SETTINGS) + ")");
            }
            TrainConfig cfg = TrainingRun.resumedConfig(run, overrides);
            return finish(Classification.run(cfg, Classification.Settings.read(run), run, true, ProgressLine.stdout()), run);
        }
        if ((modelArg == null) == (runArg == null)) throw new CramjetException("give exactly one of --model DIR or --run RUN (the pretrained base)");
        if (dataArg == null) throw new CramjetException("missing required option --data (a packaged task, a task directory or labelled files)");
        Path base = modelArg != null ? Path.of(modelArg) : bestCheckpoint(Path.of(runArg));
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            if (!Files.isRegularFile(base.resolve(f))) throw new CramjetException(base + ": no " + f + " (expected a model directory or checkpoint)");
        }
        Path run = Path.of(out != null ? out : "runs/finetune-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        TaskData data = taskData(dataArg, textField, labelField, split, skipBad);

        Map<String, String> o = new LinkedHashMap<>(DEFAULTS);
        o.putAll(overrides);
        boolean budgeted = Arrays.asList("budget", "max-steps", "tokens").stream().anyMatch(overrides::containsKey);
        if (epochs > 0 || !budgeted) {
            TrainConfig probe = TrainConfig.resolve(Map.of(), "", withSteps(o, 1));
            int context = probe.context() > 0 ? probe.context() : Classifier.blockSize(base);
            if (budgeted) throw new CramjetException("--epochs: give either --epochs or a budget (--budget, --max-steps, --tokens), not both");
            o.put("max-steps", Long.toString(probe.stepsFor(epochs > 0 ? epochs : 3, data.train().size(), context)));
        }
        o.put("model", "small");
        TrainConfig cfg = TrainConfig.resolve(Map.of(), "", o);
        TrainingRun.createRunDir(run, force);
        var pooling = chosenPooling != null ? chosenPooling : Classifier.defaultPooling(base);
        var settings = new Classification.Settings(base, train, pooling, truncation, monitor, weights.equals("balanced"), loraRank, loraAlpha);
        AtomicFile.writeString(run.resolve(TrainingRun.CONFIG), Json.pretty(cfg.toJson()));
        AtomicFile.writeString(run.resolve(Classification.SETTINGS), Json.pretty(settings.toJson()));
        data.write(run.resolve(Classification.TASK));
        try {
            return finish(Classification.run(cfg, settings, run, false, ProgressLine.stdout()), run);
        } catch (CramjetException e) {
            TrainingRun.discardUnstarted(run);
            throw e;
        }
    }

    private static Map<String, String> withSteps(Map<String, String> o, long steps) {
        Map<String, String> m = new LinkedHashMap<>(o);
        m.put("max-steps", Long.toString(steps));
        return m;
    }

    static Path bestCheckpoint(Path run) throws IOException {
        if (!Files.isDirectory(run)) throw new CramjetException(run + ": no such run directory");
        return new Checkpoints(run.resolve("checkpoints"), Integer.MAX_VALUE).best(m -> System.err.println("cramjet: " + m))
                .orElseThrow(() -> new CramjetException(run + ": no complete checkpoint under " + run.resolve("checkpoints"))).dir();
    }

    /** A task directory as it is, or a packaged task or labelled files, split now. */
    static TaskData taskData(String spec, String textField, String labelField, TaskData.Settings split, boolean skipBad) throws IOException {
        Path p = Path.of(spec);
        if (Files.isDirectory(p) && TaskData.isTaskDir(p)) return TaskData.read(p);
        BadInput bad = new BadInput(skipBad);
        List<Example> examples = Tasks.known(spec) ? Tasks.read(spec, Corpora.standard(), bad)
                : new LabelledReader(textField, labelField, bad).read(List.of(spec.split(",")));
        if (bad.skipped() > 0) {
            System.err.printf(Locale.ROOT, "skipped %,d bad rows; first: %s%n", bad.skipped(), bad.examples().getFirst());
        }
        return TaskData.split(examples, split, spec, bad);
    }

    private static int finish(Classification.Result r, Path run) {
        var o = r.outcome();
        System.out.printf(Locale.ROOT, "%nrun ended (%s) at step %d after %s; best checkpoint %s (step %d)%n", o.reason(), o.step(),
                Budget.formatDuration(o.elapsed()), run.relativize(r.best().dir()), r.best().step());
        if (r.test() != null) {
            System.out.println("\ntest split (" + r.test().metrics.count() + " examples), best checkpoint:\n" + r.test().metrics.table());
            if (!Double.isNaN(r.test().auc())) System.out.printf(Locale.ROOT, "ROC-AUC (%s): %.4f%n", r.test().metrics.labels().get(1), r.test().auc());
        }
        System.out.println("run directory: " + run + " (test_metrics.json, report.html, task/, checkpoints/"
                + (r.adapter() == null ? "" : ", adapter/: the LoRA and head as a Hugging Face PEFT adapter") + ")");
        System.out.println("classify with: cramjet classify --run " + run + " \"some text\"");
        return o.reason().equals("interrupted") ? 130 : 0;
    }

    /** Options a language-model fine-tune reads itself; the rest that are trainer keys go to the trainer. */
    private static final Set<String> OWN = Set.of("task", "model", "run", "data", "builtin", "val", "train", "lora-rank",
            "lora-alpha", "lora-dropout", "lora-targets", "rslora", "virtual-tokens", "prompt-init", "beta", "epochs", "dropout",
            "out", "force", "config", "resume");

    /** --task sft or dpo, or the resume ({@code resume} non-null) of such a run. */
    private static int language(Args args, Path resume) throws Exception {
        Map<String, String> overrides = TrainCommand.overrides(args);
        overrides.keySet().removeAll(OWN);
        for (String k : overrides.keySet()) {
            if (Finetune.NOT_APPLICABLE.contains(k.replace('_', '-'))) {
                throw new CramjetException("--" + k + " does not apply to a fine-tune (the model and its data come from --model/--run and --data)");
            }
        }
        ProgressLine progress = ProgressLine.stdout();
        Finetune.Result r;
        Path run;
        RunProgress listener;
        if (resume != null) {
            for (String k : OWN) {
                if (!k.equals("resume") && args.has(k)) throw new CramjetException("--resume takes the run's own settings; drop --" + k);
            }
            args.finish();
            run = resume;
            var saved = Finetune.readConfig(run);
            for (String k : overrides.keySet()) {
                if (!TrainingRun.RESUMABLE.contains(k.replace('_', '-'))) {
                    throw new CramjetException(k + ": cannot change when resuming (it shapes what is trained); only "
                            + new java.util.TreeSet<>(TrainingRun.RESUMABLE) + " can");
                }
            }
            listener = new RunProgress(progress, run);
            r = Finetune.run(saved.getKey(), saved.getValue(), overrides, run, true, listener, progress::log);
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
            listener = new RunProgress(progress, run);
            try {
                r = Finetune.run(s, file, overrides, run, false, listener, progress::log);
            } catch (CramjetException e) {
                TrainingRun.discardUnstarted(run);
                throw e;
            }
        }
        progress.finish();
        listener.refresh();
        List<String> lastSamples = listener.lastSamples();
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
        String modelArg = args.string("model", null), runArg = args.string("run", null);
        if ((modelArg == null) == (runArg == null)) throw new CramjetException("give exactly one of --model DIR or --run RUN (the base model)");
        GenerateCommand.Source base = modelArg != null ? GenerateCommand.modelDir(Path.of(modelArg)) : GenerateCommand.fromRun(Path.of(runArg)).getFirst();
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
                absolute(args.string("val", null)), Method.of(args.string("train", "lora"), Method.LANGUAGE), args.integer("lora-rank", 8),
                (float) args.number("lora-alpha", 16), (float) args.number("lora-dropout", 0.05), args.flag("rslora"), targets,
                args.integer("virtual-tokens", 20), args.string("prompt-init", null), args.number("beta", 0.1),
                args.number("epochs", 0), p);
    }
}
