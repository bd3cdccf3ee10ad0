package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.eval.Bleu;
import dev.cramjet.eval.ChrF;
import dev.cramjet.eval.ExactMatch;
import dev.cramjet.infer.Generator;
import dev.cramjet.infer.Sampler;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.FieldPath;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.tune.Baseline;
import dev.cramjet.tune.Blend;
import dev.cramjet.tune.Classifier;
import dev.cramjet.tune.Evaluation;
import dev.cramjet.tune.Example;
import dev.cramjet.tune.LabelledReader;
import dev.cramjet.tune.TaskData;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * {@code cramjet eval --task classify|generate}: a model (or a baseline, or a model blended with one) scored on labelled data or
 * on prompt → reference pairs, printed as a table and written as JSON with {@code --out}.
 */
final class TaskEval {
    private TaskEval() {}

    static final String USAGE = """

            task evaluation:
              cramjet eval --task classify (--model DIR | --run RUN | --baseline naive-bayes|bag-of-words) --data TASK|FILE
                           [--blend bag-of-words] [--split test] [--threshold val|P] [--text-field F] [--label-field F]
                           [--batch B] [--out FILE] [--json]
                the classifier (a fine-tuned model directory, or a fine-tuning run's best checkpoint) on a task
                directory's split (default test) or a labelled .jsonl/.json/.csv/.tsv file: accuracy, precision,
                recall and F1 per class with macro and weighted averages, the confusion matrix, ROC-AUC for two
                classes. --baseline fits a classic model on the task's train split instead: multinomial Naive
                Bayes, or logistic regression over the words and word pairs a text holds (bag-of-words).
                --blend bag-of-words stacks the model with that logistic regression: their log-probabilities
                weighted and biased as a fit on the task's validation split says (a task directory, and a split
                other than val).
                --threshold (two classes): predict the second class when its probability reaches P, or, with
                val, the threshold that maximises its F1 on the task's validation split (default: the more
                probable class).
              cramjet eval --task generate --model DIR --data FILE [--prompt-field prompt] [--reference-field
                           reference] [--max-tokens 128] [--tokenize 13a|zh|none] [--out FILE] [--json]
                greedy continuations of each record's prompt against its reference (a string or a list): corpus
                BLEU (sacreBLEU's defaults), chrF2, chrF++ and exact match. A continuation ends at end-of-text
                or at the first line break.
            """;

    static int run(Args args, String task) throws IOException {
        return switch (task) {
            case "classify" -> classify(args);
            case "generate" -> generate(args);
            default -> throw new CramjetException("--task: unknown task '" + task + "'; expected classify or generate");
        };
    }

    private static int classify(Args args) throws IOException {
        String modelArg = args.string("model", null), runArg = args.string("run", null), baseline = args.string("baseline", null),
                blend = args.string("blend", null);
        String data = args.required("data"), split = args.string("split", "test");
        String textField = args.string("text-field", "text"), labelField = args.string("label-field", "label");
        int batch = args.integer("batch", 16);
        String device = args.string("device", "cpu"), out = args.string("out", null), thresholdArg = args.string("threshold", null);
        boolean json = args.flag("json");
        args.finish();
        if ((modelArg != null ? 1 : 0) + (runArg != null ? 1 : 0) + (baseline != null ? 1 : 0) != 1) {
            throw new CramjetException("give exactly one of --model DIR, --run RUN and --baseline naive-bayes|bag-of-words");
        }
        if (baseline != null && !Baseline.NAMES.contains(baseline)) {
            throw new CramjetException("--baseline: expected one of " + Baseline.NAMES + ", got '" + baseline + "'");
        }
        if (blend != null && !blend.equals("bag-of-words")) throw new CramjetException("--blend: only bag-of-words is known, got '" + blend + "'");
        if (blend != null && baseline != null) throw new CramjetException("--blend stacks a model with bag-of-words; give --model or --run, not --baseline");
        if (!TaskData.SPLITS.contains(split)) throw new CramjetException("--split must be one of " + TaskData.SPLITS + ", got '" + split + "'");
        Path dataPath = Path.of(data);
        boolean taskDir = Files.isDirectory(dataPath) && TaskData.isTaskDir(dataPath);
        TaskData task = taskDir ? TaskData.read(dataPath) : null;
        List<Example> examples = taskDir ? task.splits.get(split)
                : new LabelledReader(textField, labelField, new BadInput(false)).read(List.of(data));
        if (examples.isEmpty()) throw new CramjetException(data + ": no examples to evaluate" + (taskDir ? " in its " + split + " split" : ""));
        List<String> texts = examples.stream().map(Example::text).toList();
        boolean fromVal = "val".equals(thresholdArg);
        if (fromVal && task == null) throw new CramjetException("--threshold val needs a task directory (its validation split is where it is chosen)");
        if (fromVal && split.equals("val")) throw new CramjetException("--threshold val chooses on the validation split; score another --split");
        if (blend != null && task == null) throw new CramjetException("--blend needs a task directory (bag-of-words learns from its train split, the blend from its validation split)");
        if (blend != null && split.equals("val")) throw new CramjetException("--blend is fitted on the validation split; score another --split");
        double fixed = thresholdArg == null || fromVal ? Double.NaN : threshold(thresholdArg);

        Evaluation r;
        String what;
        Blend fitted = null;
        long t0 = System.nanoTime();
        if (baseline != null) {
            if (task == null) throw new CramjetException("--baseline needs a task directory (its train split is what the baseline learns from)");
            Baseline b = Baseline.fit(baseline, task);
            r = Evaluation.of(task.labels, Example.classIds(task.labels, examples), b.score().apply(texts),
                    fromVal ? chosen(task, b.score()) : fixed);
            what = b.description();
        } else {
            Path dir = modelArg != null ? Path.of(modelArg) : FinetuneCommand.bestCheckpoint(Path.of(runArg));
            try (Backend be = Backends.open(device)) {
                Classifier c = Classifier.load(be, dir, batch);
                if (task != null && !task.labels.equals(c.spec.labels())) {
                    throw new CramjetException(dir + ": the classifier's labels " + c.spec.labels() + " differ from the task's " + task.labels);
                }
                Function<List<String>, float[][]> model = t -> c.probabilities(c.encode(t).tokens());
                Function<List<String>, float[][]> score = model;
                what = dir.toString();
                if (blend != null) {
                    Baseline b = Baseline.fit(blend, task);
                    Baseline.Stacked s = b.stack(model, task);
                    score = s.score();
                    fitted = s.blend();
                    what = dir + " blended with " + b.description() + ": " + fitted;
                }
                r = Evaluation.of(c.spec.labels(), Example.classIds(c.spec.labels(), examples), score.apply(texts),
                        fromVal ? chosen(task, score) : fixed);
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("classifier", what);
        m.put("data", taskDir ? data + " (" + split + ")" : data);
        m.put("seconds", seconds);
        if (fitted != null) {
            m.put("blend", Map.of("model", fitted.first(), "words", fitted.second(),
                    "bias", Arrays.stream(fitted.bias()).boxed().toList()));
        }
        m.putAll(r.toJson());
        if (out != null) AtomicFile.writeString(Path.of(out), Json.pretty(m));
        PrintStream o = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (json) {
            o.println(Json.write(m));
        } else {
            o.printf(Locale.ROOT, "%s on %s: %,d examples in %.1f s%n%n", what, m.get("data"), examples.size(), seconds);
            if (!Double.isNaN(r.threshold())) {
                o.printf(Locale.ROOT, "decision: %s when its probability ≥ %.6g%s%n%n", r.metrics.labels().get(1), r.threshold(),
                        fromVal ? " (the threshold that maximises its F1 on the validation split)" : "");
            }
            o.print(r.metrics.table());
            o.printf(Locale.ROOT, "%nloss %.4f%s%n", r.loss(), Double.isNaN(r.auc()) ? ""
                    : String.format(Locale.ROOT, ", ROC-AUC (%s positive) %.4f", r.metrics.labels().get(1), r.auc()));
        }
        return 0;
    }

    private static double threshold(String arg) {
        double t;
        try {
            t = Double.parseDouble(arg);
        } catch (NumberFormatException e) {
            t = Double.NaN;
        }
        if (!(t > 0 && t < 1)) throw new CramjetException("--threshold must be val or a probability between 0 and 1, got '" + arg + "'");
        return t;
    }

    /** The threshold that maximises the positive class's F1 on the task's validation split. */
    private static double chosen(TaskData task, Function<List<String>, float[][]> score) {
        if (task.labels.size() != 2) throw new CramjetException("--threshold needs two classes; the task has " + task.labels.size());
        List<Example> val = task.splits.get("val");
        if (val.isEmpty()) throw new CramjetException("--threshold val: the task's validation split is empty");
        return Evaluation.bestThreshold(Example.classIds(task.labels, val), score.apply(val.stream().map(Example::text).toList()));
    }


    private static int generate(Args args) throws IOException {
        Path dir = Path.of(args.required("model"));
        Path data = Path.of(args.required("data"));
        FieldPath prompt = FieldPath.parse(args.string("prompt-field", "prompt"));
        String refField = args.string("reference-field", "reference");
        int maxTokens = args.integer("max-tokens", 128);
        Bleu.Tokenize tokenize = Bleu.Tokenize.parse(args.string("tokenize", "13a"));
        String device = args.string("device", "cpu"), out = args.string("out", null);
        boolean json = args.flag("json");
        args.finish();
        List<String> prompts = new ArrayList<>();
        List<List<String>> refs = new ArrayList<>();
        String[] lines = Files.readString(data).split("\n");
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) continue;
            String where = data + ":" + (i + 1);
            Map<String, Object> rec = Json.object(Json.parse(lines[i], where), where);
            try {
                prompts.add(prompt.extract(rec, where));
            } catch (FieldPath.MissingField e) {
                throw new CramjetException(e.getMessage());
            }
            Object r = rec.get(refField);
            List<String> rs = new ArrayList<>();
            if (r instanceof List<?> l) for (Object x : l) rs.add(Json.string(x, where + ": " + refField + "[]"));
            else if (r != null) rs.add(Json.string(r, where + ": " + refField));
            if (rs.isEmpty()) throw new CramjetException(where + ": missing field '" + refField + "' (a string or a list of strings)");
            refs.add(rs);
        }
        if (prompts.isEmpty()) throw new CramjetException(data + ": no records");
        Path tokFile = dir.resolve(Classifier.TOKENIZER);
        if (!Files.isRegularFile(tokFile)) throw new CramjetException(dir + ": no " + Classifier.TOKENIZER);
        Tokenizer tok = Tokenizer.load(tokFile);
        List<String> hyps = new ArrayList<>();
        long t0 = System.nanoTime();
        try (Backend be = Backends.open(device)) {
            GPT model = ModelDir.load(be, dir, 1, 1);
            Generator g = new Generator(model, tok, true);
            for (String p : prompts) {
                String text = g.generate(p, maxTokens, new Sampler(new Sampler.Settings(0, 0, 1, 1, 0), tok.vocabSize()), null).text();
                int nl = text.indexOf('\n', text.isEmpty() || text.charAt(0) != '\n' ? 0 : 1);
                hyps.add((nl < 0 ? text : text.substring(0, nl)).strip());
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Bleu.Score bleu = Bleu.corpus(hyps, refs, Bleu.Settings.DEFAULT.tokenize(tokenize));
        double chrf = ChrF.corpus(hyps, refs, ChrF.Settings.CHRF), chrfpp = ChrF.corpus(hyps, refs, ChrF.Settings.CHRF_PLUS_PLUS);
        double em = ExactMatch.corpus(hyps, refs);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", dir.toString());
        m.put("data", data.toString());
        m.put("examples", (long) hyps.size());
        m.put("seconds", seconds);
        m.put("bleu", bleu.score());
        m.put("bleu_signature", "tok:" + args.string("tokenize", "13a") + "|smooth:exp|case:mixed");
        m.put("bleu_detail", bleu.toString());
        m.put("chrf", chrf);
        m.put("chrf++", chrfpp);
        m.put("exact_match", em);
        if (out != null) {
            Map<String, Object> full = new LinkedHashMap<>(m);
            full.put("hypotheses", hyps);
            AtomicFile.writeString(Path.of(out), Json.pretty(full));
        }
        PrintStream o = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (json) {
            o.println(Json.write(m));
        } else {
            o.printf(Locale.ROOT, "%s on %s: %,d prompts in %.1f s%n  %s%n  chrF2 = %.2f   chrF2++ = %.2f   exact match = %.4f%n",
                    dir, data, hyps.size(), seconds, bleu, chrf, chrfpp, em);
        }
        return 0;
    }
}
