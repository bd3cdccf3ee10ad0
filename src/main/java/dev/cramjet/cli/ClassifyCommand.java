package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.Json;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.CorpusReader;
import dev.cramjet.text.Document;
import dev.cramjet.text.Format;
import dev.cramjet.text.Inputs;
import dev.cramjet.tune.Baseline;
import dev.cramjet.tune.Classification;
import dev.cramjet.tune.Classifier;
import dev.cramjet.tune.TaskData;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/** `cramjet classify`: labels texts with a fine-tuned classifier, batched, with the probability of every label. */
public final class ClassifyCommand implements Command {
    /** Texts encoded and scored per round: enough to keep every core busy encoding, little memory. */
    private static final int CHUNK = 1024;

    @Override
    public String summary() { return "label texts with a fine-tuned classifier (arguments, files or stdin)"; }

    @Override
    public String usage() {
        return """
                usage: cramjet classify (--model DIR | --run RUN) [TEXT ...] [--input PATHS] [options]

                Labels each text with the classifier in DIR (a checkpoint of cramjet finetune --task classify)
                or the best checkpoint of the fine-tuning run RUN. Texts come from the arguments, else from
                --input, else from standard input (one per line). Each output line is the label, its probability
                and the text's source (file, line) or its start; --json prints one JSON object per text with
                every label's probability. A summary with texts/s goes to standard error.

                  --input PATHS      files, directories or globs, comma-separated; each document is one text
                  --format F         how input files are cut into texts: lines, txt (a file is one text), jsonl,
                                     json, email (RFC 822 mail: subject, sender, mailer, text body); default by extension
                  --field F          jsonl/json: the text's field path (default text)
                  --skip-bad         skip unreadable documents instead of stopping
                  --threshold P      two classes: the second label when its probability reaches P (e.g. the
                                     one eval --task classify --threshold val chose; default: the more
                                     probable label)
                  --blend bag-of-words
                                     stack the model with a bag-of-words logistic regression, as eval --task
                                     classify --blend does: fitted (deterministically, in seconds) on the
                                     task's train and validation splits — RUN's own task/, or --data TASK
                  --data TASK        the task directory a blend is fitted on (default: RUN/task)
                  --batch B          texts per forward pass (default 32)
                  --json             JSON lines instead of text
                  --device cpu|cuda  where the model runs (default cpu)""";
    }

    @Override
    public int run(Args args) throws Exception {
        String modelArg = args.string("model", null), runArg = args.string("run", null);
        String input = args.string("input", null), format = args.string("format", null), field = args.string("field", null);
        boolean skipBad = args.flag("skip-bad"), json = args.flag("json");
        int batch = args.integer("batch", 32);
        String device = args.string("device", "cpu");
        double threshold = args.number("threshold", Double.NaN);
        String blend = args.string("blend", null), data = args.string("data", null);
        args.finish();
        if (blend != null && !blend.equals("bag-of-words")) throw new CramjetException("--blend: only bag-of-words is known, got '" + blend + "'");
        if (data != null && blend == null) throw new CramjetException("--data names the task a blend is fitted on; give --blend bag-of-words");
        if (blend != null && data == null && runArg == null) throw new CramjetException("--blend with --model needs --data TASK (a task directory)");
        if (!Double.isNaN(threshold) && !(threshold > 0 && threshold < 1)) {
            throw new CramjetException("--threshold must be a probability between 0 and 1, got " + threshold);
        }
        if ((modelArg == null) == (runArg == null)) throw new CramjetException("give exactly one of --model DIR or --run RUN");
        if (batch < 1) throw new CramjetException("--batch must be at least 1, got " + batch);
        Path dir = modelArg != null ? Path.of(modelArg) : FinetuneCommand.bestCheckpoint(Path.of(runArg));

        List<Document> docs = new ArrayList<>();
        if (!args.positionals().isEmpty()) {
            if (input != null) throw new CramjetException("give texts as arguments or --input, not both");
            for (int i = 0; i < args.positionals().size(); i++) docs.add(new Document(args.positionals().get(i), "argument " + (i + 1)));
        } else if (input != null) {
            List<Path> files = Inputs.expand(Arrays.asList(input.split(",")), format != null).files();
            new CorpusReader(format == null ? null : Format.parse(format), field, new BadInput(skipBad)).read(files, docs::add);
        } else {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            int n = 0;
            for (String line; (line = in.readLine()) != null; ) {
                n++;
                if (!line.isBlank()) docs.add(new Document(line, "stdin:" + n));
            }
        }
        if (docs.isEmpty()) throw new CramjetException("no texts to classify");

        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        long t0 = System.nanoTime(), modelNanos = 0;
        try (Backend be = Backends.open(device)) {
            Classifier c = Classifier.load(be, dir, batch);
            List<String> labels = c.spec.labels();
            if (!Double.isNaN(threshold) && labels.size() != 2) {
                throw new CramjetException("--threshold needs a two-class classifier; " + dir + " has " + labels.size() + " labels");
            }
            Function<List<String>, float[][]> score = t -> c.probabilities(c.encode(t).tokens());
            if (blend != null) {
                Path taskDir = data != null ? Path.of(data) : Path.of(runArg).resolve(Classification.TASK);
                if (!TaskData.isTaskDir(taskDir)) throw new CramjetException(taskDir + ": not a task directory (no " + TaskData.LABELS + ")");
                TaskData task = TaskData.read(taskDir);
                if (!task.labels.equals(labels)) throw new CramjetException(taskDir + ": the task's labels " + task.labels + " differ from the classifier's " + labels);
                Baseline b = Baseline.fit(blend, task);
                Baseline.Stacked stacked = b.stack(score, task);
                score = stacked.score();
                System.err.println("blended with " + b.description() + ": " + stacked.blend());
            }
            for (int from = 0; from < docs.size(); from += CHUNK) {
                List<Document> chunk = docs.subList(from, Math.min(docs.size(), from + CHUNK));
                long m0 = System.nanoTime();
                float[][] p = score.apply(chunk.stream().map(Document::text).toList());
                modelNanos += System.nanoTime() - m0;
                int[] best = Classifier.decide(p, threshold);
                for (int i = 0; i < chunk.size(); i++) {
                    Document d = chunk.get(i);
                    boolean argument = d.source().startsWith("argument ") || d.source().startsWith("stdin:");
                    if (json) {
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put(argument ? "text" : "source", argument ? d.text() : d.source());
                        m.put("label", labels.get(best[i]));
                        m.put("probability", (double) p[i][best[i]]);
                        Map<String, Object> all = new LinkedHashMap<>();
                        for (int k = 0; k < labels.size(); k++) all.put(labels.get(k), (double) p[i][k]);
                        m.put("probabilities", all);
                        out.println(Json.write(m));
                    } else {
                        out.printf(Locale.ROOT, "%s\t%.4f\t%s%n", labels.get(best[i]), p[i][best[i]], argument ? preview(d.text()) : d.source());
                    }
                }
            }
            out.flush();
            double total = (System.nanoTime() - t0) / 1e9;
            System.err.printf(Locale.ROOT, "classified %,d texts in %.2f s (%.1f texts/s; tokenizing and scoring: %.1f texts/s) with %s%n",
                    docs.size(), total, docs.size() / total, docs.size() / (modelNanos / 1e9), dir);
        }
        return 0;
    }

    private static String preview(String text) {
        String one = text.replaceAll("\\s+", " ").strip();
        return one.length() <= 60 ? one : one.substring(0, 57) + "...";
    }
}
