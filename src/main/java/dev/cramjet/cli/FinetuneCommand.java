package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Corpora;
import dev.cramjet.train.Budget;
import dev.cramjet.train.Checkpoints;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.tune.Classification;
import dev.cramjet.tune.Classifier;
import dev.cramjet.tune.Evaluation;
import dev.cramjet.tune.Example;
import dev.cramjet.tune.LabelledReader;
import dev.cramjet.tune.TaskData;
import dev.cramjet.tune.Tasks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * `cramjet finetune --task T`: adapts a pretrained model to a task, through the same trainer as pretraining.
 * Each task is one case of {@link #run}'s switch; {@code classify} is the first.
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
    public String summary() { return "fine-tune a pretrained model for a task: --task classify"; }

    @Override
    public String usage() {
        return """
                usage: cramjet finetune --task classify (--model DIR | --run RUN) --data SPEC [--out RUN] [options]
                       cramjet finetune --resume RUN [--budget ...]

                Turns a pretrained model into a text classifier: a pooled head over the model, trained with the
                budget, schedule, early stopping, checkpoints and exact resume of cramjet train. The best checkpoint
                (by --monitor on the validation split) is scored on the test split at the end; RUN gets
                test_metrics.json, and every checkpoint is a classifier directory for cramjet classify and eval.

                base model:
                  --model DIR            a model directory or checkpoint (config.json, model.safetensors), its
                                         tokenizer.json beside it or in its run directory
                  --run RUN              a pretraining run: its best checkpoint
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
                  --train all|head|lora  the whole model (default), only the head, or LoRA adapters and the head
                  --lora-rank R          LoRA rank (default 8); --lora-alpha A (default 16)
                  --pooling P            last (default; a causal model's summary), first or mean
                  --truncate T           head+tail (default) or head, for texts longer than --context
                  --epochs N             train for N passes over the training split (default 3 when no other
                                         budget is given)
                  --monitor M            macro-f1 (default), accuracy or loss: early stopping and the best checkpoint
                  --class-weights W      none (default) or balanced: draw each class equally often
                  --out RUN              the run directory (default runs/finetune-DATE-TIME); --force replaces it
                and every key of cramjet train except the model shape; the defaults here are %s
                """.formatted(String.join(", ", Tasks.NAMES), new java.util.TreeMap<>(DEFAULTS));
    }

    @Override
    public int run(Args args) throws Exception {
        String resume = args.string("resume", null);
        String task = args.string("task", resume != null ? "classify" : null);   // a resumed run is a classify run
        if (task == null) throw new CramjetException("missing required option --task (classify)");
        return switch (task) {
            case "classify" -> classify(args, resume);
            default -> throw new CramjetException("--task: unknown task '" + task + "'; expected classify");
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
        var train = Classification.Train.parse(args.string("train", "all"));
        int loraRank = args.integer("lora-rank", 8);
        double loraAlpha = args.number("lora-alpha", 16);
        var pooling = Classifier.pooling(args.string("pooling", "last"));
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
            int context = probe.context() > 0 ? probe.context() : ModelDir.readConfig(base).blockSize();
            long perStep = (long) probe.batch() * probe.accumulation(context).target();
            long steps = (long) Math.ceil((epochs > 0 ? epochs : 3) * data.train().size() / (double) perStep);
            if (budgeted) throw new CramjetException("--epochs: give either --epochs or a budget (--budget, --max-steps, --tokens), not both");
            o.put("max-steps", Long.toString(Math.max(1, steps)));
        }
        o.put("model", "small");
        TrainConfig cfg = TrainConfig.resolve(Map.of(), "", o);
        TrainingRun.createRunDir(run, force);
        var settings = new Classification.Settings(base, train, pooling, truncation, monitor, weights.equals("balanced"), loraRank, loraAlpha);
        AtomicFile.writeString(run.resolve(TrainingRun.CONFIG), Json.pretty(cfg.toJson()));
        AtomicFile.writeString(run.resolve(Classification.SETTINGS), Json.pretty(settings.toJson()));
        data.write(run.resolve(Classification.TASK));
        return finish(Classification.run(cfg, settings, run, false, ProgressLine.stdout()), run);
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
        System.out.println("run directory: " + run + " (test_metrics.json, report.html, task/, checkpoints/)");
        System.out.println("classify with: cramjet classify --run " + run + " \"some text\"");
        return o.reason().equals("interrupted") ? 130 : 0;
    }
}
