package dev.cramjet.cli;

import dev.cramjet.data.Prepare;
import dev.cramjet.dist.Launch;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.train.TrainConfig;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * `cramjet demo`: the whole pipeline on one command. Prepares the Chinese poetry corpus (once; later runs reuse
 * data/chinese-poetry), trains a small GPT on the CPU within the budget, and prints poems it writes.
 */
public final class DemoCommand implements Command {
    /** The demo's model and schedule: small enough that a 2-core CPU sees the corpus's form within minutes. */
    static final Map<String, String> SETTINGS = Map.ofEntries(
            Map.entry("model", "tiny"), Map.entry("layers", "4"), Map.entry("heads", "4"), Map.entry("width", "128"),
            Map.entry("context", "128"), Map.entry("batch", "16"), Map.entry("lr", "2e-3"), Map.entry("warmup", "0.03"),
            Map.entry("eval-minutes", "2"), Map.entry("eval-tokens", "16384"), Map.entry("checkpoint-minutes", "4"),
            Map.entry("samples", "4"), Map.entry("sample-tokens", "100"), Map.entry("temperature", "0.8"));

    @Override
    public String summary() { return "prepare Chinese poetry, train a small model on the CPU for a few minutes, print poems"; }

    @Override
    public String usage() {
        return """
                usage: cramjet demo [--budget 8m] [--out RUN] [--data DIR]

                The main job in one command: fetches the chinese-poetry corpus and prepares it into DIR (default
                data/chinese-poetry; done once, about 2-3 minutes, reused afterwards), trains a small GPT on it for
                --budget of wall-clock time (default 8m), and prints poems the model writes. The run directory
                (default runs/demo-DATE-TIME) has the loss curves (plots/, report.html), checkpoints and samples;
                cramjet generate --run RUN writes more.""";
    }

    @Override
    public int run(Args args) throws Exception {
        String budget = args.string("budget", "8m");
        Path data = Path.of(args.string("data", "data/chinese-poetry"));
        Path run = Path.of(args.string("out", "runs/demo-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))));
        args.finish();

        if (!Files.isRegularFile(data.resolve("prepare.json"))) {
            System.out.println("preparing the chinese-poetry corpus into " + data + " (first run only)…");
            Args prep = new Args(new String[] {"--corpus", "chinese-poetry", "--out", data.toString(), "--vocab", "4096",
                    "--tokenizer-bytes", "20000000"});
            Prepare.run(PrepareCommand.plan(prep), PrepareCommand.progress());
        } else {
            System.out.println("using the prepared corpus in " + data);
        }

        Map<String, String> o = new LinkedHashMap<>(SETTINGS);
        o.put("data", data.toString());
        o.put("budget", budget);
        TrainConfig cfg = TrainConfig.resolve(Map.of(), "", o);
        TrainingRun.createRunDir(run, false);
        TrainingRun.Result r = TrainingRun.run(cfg, run, false, ProgressLine.stdout(), Launch.SINGLE);
        TrainCommand.print(r);

        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        out.println("\npoems written by the model (more: cramjet generate --run " + run + "):");
        for (String s : r.samples()) out.println("\n" + s.strip());
        return r.outcome().reason().equals("interrupted") ? 130 : 0;
    }
}
