package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.tune.TaskData;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * `cramjet split`: writes a labelled task's train/validation/test split to disk, the step {@code finetune} does
 * itself when given raw data. On its own it lets a model be pretrained on the training texts only (prepare
 * --input DIR/train.jsonl), so no test text is ever seen, labelled or not.
 */
public final class SplitCommand implements Command {
    @Override
    public String summary() { return "split labelled data (a packaged task or your files) into train/val/test"; }

    @Override
    public String usage() {
        return """
                usage: cramjet split --data SPEC --out DIR [--text-field F] [--label-field F] [--val-fraction 0.1]
                                     [--test-fraction 0.1] [--split-seed 1337] [--near-dup 0.8] [--skip-bad]

                Reads labelled data as cramjet finetune --data does (a packaged task, or .jsonl/.json/.csv/.tsv
                files, or a directory of label directories), tidies it, drops exact and near duplicates so no
                text is on both sides, and splits each label by a seeded content hash. DIR gets train.jsonl,
                val.jsonl, test.jsonl, labels.json and task.json (the counts). Give DIR to finetune --data and to
                eval --task classify --data.""";
    }

    @Override
    public int run(Args args) throws Exception {
        String data = args.required("data");
        Path out = Path.of(args.required("out"));
        TaskData.Settings split = new TaskData.Settings(args.number("val-fraction", 0.1), args.number("test-fraction", 0.1),
                args.longValue("split-seed", 1337), args.number("near-dup", 0.8));
        String textField = args.string("text-field", "text"), labelField = args.string("label-field", "label");
        boolean skipBad = args.flag("skip-bad");
        args.finish();
        if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
        if (Files.exists(out.resolve(TaskData.LABELS))) throw new CramjetException(out + ": already holds a task (labels.json); choose another --out");
        TaskData task = FinetuneCommand.taskData(data, textField, labelField, split, skipBad);
        task.write(out);
        System.out.printf(Locale.ROOT, "%s: %d labels %s; train %,d, val %,d, test %,d (%s exact and %s near duplicates dropped)%n", out,
                task.labels.size(), task.labels, task.train().size(), task.val().size(), task.test().size(),
                task.summary.get("exact_duplicates_dropped"), task.summary.get("near_duplicates_dropped"));
        @SuppressWarnings("unchecked") var counts = (Map<String, Object>) task.summary.get("counts");
        counts.forEach((label, c) -> System.out.println("  " + label + ": " + c));
        return 0;
    }
}
