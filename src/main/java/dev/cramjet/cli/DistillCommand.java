package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.Batch;
import dev.cramjet.data.Masking;
import dev.cramjet.dist.Launch;
import dev.cramjet.dist.World;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.train.EncoderLearner;
import dev.cramjet.train.GptLearner;
import dev.cramjet.train.ModelScore;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.train.TrainData;
import dev.cramjet.tune.Distiller;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * `cramjet distill`: trains a shallower student from a teacher (an encoder or a GPT) with DistilBERT's loss, then
 * compares the two on the validation split: size, forward speed, loss and top-1 accuracy.
 */
public final class DistillCommand implements Command {
    @Override
    public String summary() { return "distil a model into a shallower student (DistilBERT's recipe), within a budget"; }

    @Override
    public String usage() {
        return """
                usage: cramjet distill --teacher DIR --data DIR [--out RUN] [--layers N] [--KEY VALUE ...]

                Trains a student with the teacher's width and N of its blocks (default half), started from the
                teacher's embeddings, head and blocks spread evenly over its depth (12 → 6: blocks 0, 2, 4, 7, 9,
                11, as DistilBERT), on
                  alpha-ce · τ² · KL(teacher/τ ‖ student/τ) + alpha-mlm · cross-entropy + alpha-cos · (1 − cos)
                — soft targets and hard targets on the scored positions (an encoder's masked tokens, a GPT's next
                tokens), cosine between the final hidden states. The teacher is a run directory (its best
                checkpoint) or a model directory; DIR must be prepared with the teacher's tokenizer. RUN gets what a
                training run gets, plus distill.json; at the end teacher and student are compared on validation.

                  --teacher DIR      the teacher: a run directory or a model directory
                  --layers N         the student's blocks (default: half the teacher's, rounded up)
                  --alpha-ce A       soft-target weight (default 5)     --alpha-mlm A   hard-target weight (default 2)
                  --alpha-cos A      hidden-state cosine weight (default 1)
                  --temperature T    softmax temperature τ (default 2)
                  --out RUN, --force as for cramjet train

                training keys as for cramjet train (budget, lr, batch, schedule, eval-minutes, mask-rate, ...); their
                defaults are the crammed-tiny recipe for an encoder teacher and the small one for a GPT.
                """;
    }

    @Override
    public int run(Args args) throws Exception {
        Path teacherArg = Path.of(args.required("teacher"));
        String out = args.string("out", null);
        boolean force = args.flag("force");
        Distiller.Weights weights = new Distiller.Weights(args.number("alpha-ce", 5), args.number("alpha-mlm", 2),
                args.number("alpha-cos", 1), args.number("temperature", 2));
        Map<String, String> overrides = TrainCommand.overrides(args);
        args.finish();
        if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
        for (String k : List.of("model", "objective", "width", "heads")) {
            if (overrides.containsKey(k)) throw new CramjetException("--" + k + ": the student's shape comes from the teacher (give --layers N)");
        }

        GenerateCommand.Source teacher = Files.isDirectory(teacherArg.resolve("checkpoints"))
                ? GenerateCommand.fromRun(teacherArg).getFirst() : GenerateCommand.modelDir(teacherArg);
        boolean encoder = EncoderDir.isEncoder(teacher.model());
        Map<String, String> keys = new LinkedHashMap<>(overrides);
        keys.put("model", encoder ? "crammed-tiny" : "small");
        TrainConfig cfg = TrainConfig.resolve(Map.of(), "", keys);
        int layers = cfg.layers();
        Path run = Path.of(out != null ? out : "runs/distill-" + java.time.LocalDateTime.now()
                .format(java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        TrainingRun.createRunDir(run, force);
        String tokenizerHash = Tokenizer.load(teacher.tokenizer()).hash();

        Map<String, Object> info = new LinkedHashMap<>();
        TrainingRun.Result result = TrainingRun.run(cfg, run, false, ProgressLine.stdout(), Launch.SINGLE, (data, be, world) -> {
            if (!data.tokenizer.hash().equals(tokenizerHash)) {
                throw new CramjetException(data.dir + ": its tokenizer is not the teacher's (" + teacher.tokenizer() + "); prepare the data with --tokenizer " + teacher.tokenizer());
            }
            TrainingRun.checkFits(cfg, data, cfg.context() > 0 ? cfg.context()
                    : encoder ? EncoderDir.readConfig(teacher.model()).blockSize() : ModelDir.readConfig(teacher.model()).blockSize());
            Pair pair = build(be, world, teacher.model(), encoder, cfg, layers, weights);
            info.put("teacher", teacher.model().toString());
            info.put("teacher_layers", (long) pair.teacherLayers);
            info.put("student_layers", (long) pair.map.length);
            info.put("layer_map", java.util.Arrays.stream(pair.map).mapToObj(i -> (Object) (long) i).toList());
            info.put("alpha_ce", weights.ce());
            info.put("alpha_mlm", weights.mlm());
            info.put("alpha_cos", weights.cos());
            info.put("temperature", weights.temperature());
            AtomicFile.writeString(run.resolve("distill.json"), Json.pretty(info));
            int context = pair.student.seq();
            Distiller d = pair.distiller;
            Masking masking = encoder ? TrainingRun.masking(cfg, data) : null;
            return new TrainingRun.Setup(context, d, d, encoder ? data.maskedBatches(cfg.batch(), context, cfg.seed(), masking)
                    : data.batches(cfg.batch(), context, cfg.seed()), TrainingRun.evaluator(cfg, data, context, masking), List::of,
                    pair.student.parameterCount(false),
                    "student of " + pair.map.length + " blocks from " + pair.teacherLayers + " " + java.util.Arrays.toString(pair.map));
        });
        TrainCommand.print(result);
        compare(cfg, teacher.model(), GenerateCommand.fromRun(run).getFirst().model(), encoder);
        return result.outcome().reason().equals("interrupted") ? 130 : 0;
    }

    private record Pair(Model student, Distiller distiller, int[] map, int teacherLayers) {}

    /** Teacher (frozen) and student (initialised from it) for the run's batch shape, and the distiller over them. */
    private static Pair build(Backend be, World world, Path teacherDir, boolean encoder, TrainConfig cfg, int layers, Distiller.Weights weights)
            throws IOException {
        if (encoder) {
            EncoderConfig tc = EncoderDir.readConfig(teacherDir);
            int seq = cfg.context() > 0 ? cfg.context() : tc.blockSize();
            int[] map = Distiller.layerMap(tc.nLayer(), layers > 0 ? layers : (tc.nLayer() + 1) / 2);
            Encoder teacher = EncoderDir.load(be, teacherDir, cfg.batch(), seq, Model.Options.INFERENCE.sparse());
            Encoder student = new Encoder(be, tc.withLayers(map.length).with(Map.of("dropout", cfg.dropout()), "student"),
                    cfg.batch(), seq, cfg.seed(), Model.Options.TRAIN.sparse());
            Distiller.initialize(student, teacher, map);
            EncoderLearner learner = new EncoderLearner(student, TrainingRun.step(cfg, be, student.parameters(), world), cfg.maskRate());
            learner.averaging(cfg.ema());
            return new Pair(student, new Distiller(student, teacher, learner, weights, forwardFlops(teacher, tc.nLayer(), seq)), map, tc.nLayer());
        }
        GPTConfig tc = ModelDir.readConfig(teacherDir);
        int seq = cfg.context() > 0 ? cfg.context() : tc.blockSize();
        int[] map = Distiller.layerMap(tc.nLayer(), layers > 0 ? layers : (tc.nLayer() + 1) / 2);
        GPT teacher = ModelDir.load(be, teacherDir, cfg.batch(), seq);
        GPT student = new GPT(be, tc.with(Map.of("n_layer", (long) map.length, "dropout", cfg.dropout()), "student"),
                cfg.batch(), seq, cfg.seed());
        Distiller.initialize(student, teacher, map);
        GptLearner learner = new GptLearner(student, TrainingRun.step(cfg, be, student.parameters(), world));
        learner.averaging(cfg.ema());
        return new Pair(student, new Distiller(student, teacher, learner, weights, forwardFlops(teacher, tc.nLayer(), seq)), map, tc.nLayer());
    }

    /** A forward pass's FLOPs per token: 2 per parameter and attention's 4·L·C·T. */
    private static double forwardFlops(Model m, int layers, int seq) {
        return 2.0 * m.parameterCount(false) + 4.0 * layers * m.width() * seq;
    }

    /** Teacher and distilled student side by side on the validation split: parameters, forward tokens/s, loss, accuracy. */
    private static void compare(TrainConfig cfg, Path teacherDir, Path studentDir, boolean encoder) throws IOException {
        try (TrainData data = TrainData.open(Path.of(cfg.data())); Backend be = Backends.open(cfg.device())) {
            List<String> lines = new ArrayList<>();
            for (Path dir : List.of(teacherDir, studentDir)) {
                Model m;
                int seq;
                if (encoder) {
                    EncoderConfig c = EncoderDir.readConfig(dir);
                    seq = cfg.context() > 0 ? cfg.context() : c.blockSize();
                    m = EncoderDir.load(be, dir, cfg.batch(), seq, Model.Options.INFERENCE.sparse());
                } else {
                    GPTConfig c = ModelDir.readConfig(dir);
                    seq = cfg.context() > 0 ? cfg.context() : c.blockSize();
                    m = ModelDir.load(be, dir, cfg.batch(), seq);
                }
                Evaluator evaluator = TrainingRun.evaluator(cfg, data, seq, encoder ? TrainingRun.masking(cfg, data) : null);
                if (evaluator == null) {
                    System.out.println("no validation split to compare teacher and student on");
                    return;
                }
                Evaluator.Result r = evaluator.run(new ModelScore(m));
                double speed = forwardTokensPerSecond(m, encoder ? data.maskedValidation(cfg.batch(), seq, TrainingRun.masking(cfg, data))
                        : data.validation(cfg.batch(), seq), cfg.batch(), seq);
                lines.add(String.format(Locale.ROOT, "%-8s %d blocks, %.2fM parameters: validation loss %.4f, accuracy %.2f%%, forward %,.0f tokens/s",
                        dir == teacherDir ? "teacher" : "student", encoder ? EncoderDir.readConfig(dir).nLayer() : ModelDir.readConfig(dir).nLayer(),
                        m.parameterCount(false) / 1e6, r.loss(), 100 * r.accuracy(), speed));
            }
            System.out.println();
            lines.forEach(System.out::println);
        }
    }

    /** Inference forward passes over validation batches for about two seconds, after one warm-up pass. */
    private static double forwardTokensPerSecond(Model m, Evaluator.Source source, int batch, int seq) {
        Batch b = new Batch(batch, seq);
        source.reset();
        if (!source.next(b)) return Double.NaN;
        m.eval();
        m.forward(b.tokens, b.targets);
        long t0 = System.nanoTime(), tokens = 0;
        while (System.nanoTime() - t0 < 2_000_000_000L) {
            m.forward(b.tokens, b.targets);
            tokens += (long) batch * seq;
        }
        return tokens / ((System.nanoTime() - t0) / 1e9);
    }
}
