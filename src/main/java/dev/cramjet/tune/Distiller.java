package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.train.Learner;

import java.io.IOException;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Knowledge distillation, DistilBERT's recipe (Sanh et al. 2019): a student learns from a frozen teacher with
 * <pre>
 *   L = α_ce·τ²·KL(softmax(teacher/τ) ‖ softmax(student/τ)) + α_mlm·CE(student, targets) + α_cos·(1 − cos(h_s, h_t))
 * </pre>
 * the soft-target term and the hard-target term on the rows the head scores (the masked positions of an encoder,
 * every position of a GPT), the cosine term between the final hidden states at every valid position (it needs
 * equal widths). Each term is a mean over its rows. The student is a {@link Learner} (its optimizer, checkpoints and
 * evaluation are the wrapped learner's); only its micro-batch step changes: teacher forward, student forward with
 * the logits kept, the combined logits gradient written in place, the cosine gradient added at the hidden states.
 */
public final class Distiller implements Learner, Evaluator.Model {

    /** The loss weights and temperature; DistilBERT's are 5, 2, 1 and τ = 2. */
    public record Weights(double ce, double mlm, double cos, double temperature) {
        public static final Weights DISTILBERT = new Weights(5, 2, 1, 2);

        public Weights {
            if (!(ce >= 0 && mlm >= 0 && cos >= 0) || ce + mlm + cos == 0) {
                throw new CramjetException("distill: the loss weights must be ≥ 0 and not all 0, got ce " + ce + ", mlm " + mlm + ", cos " + cos);
            }
            if (!(temperature > 0)) throw new CramjetException("distill: temperature must be positive, got " + temperature);
        }
    }

    private final Model student, teacher;
    private final Learner studentLearner;
    private final Evaluator.Model studentEval;
    private final Weights w;
    private final double teacherForwardFlops;
    private final Backend be;
    private final Tensor softGrad, rowTargets, softLosses, hardLosses, cosLosses, dHidden;
    private final int[] compact;
    private final float[] hostLosses;

    /**
     * @param learner the student's own learner (optimizer, checkpoints) and evaluation, for the same model
     * @param teacherForwardFlops the teacher's forward FLOPs per token, counted into the step's work
     */
    public <L extends Learner & Evaluator.Model> Distiller(Model student, Model teacher, L learner, Weights weights,
                                                            double teacherForwardFlops) {
        if (student.width() != teacher.width() || student.vocabSize() != teacher.vocabSize()
                || student.batch() != teacher.batch() || student.seq() != teacher.seq()) {
            throw new CramjetException("distill: the student (width " + student.width() + ", vocabulary " + student.vocabSize()
                    + ") must match the teacher (width " + teacher.width() + ", vocabulary " + teacher.vocabSize() + ") and its batch shape");
        }
        this.student = student;
        this.teacher = teacher;
        this.studentLearner = learner;
        this.studentEval = learner;
        this.w = weights;
        this.teacherForwardFlops = teacherForwardFlops;
        this.be = student.backend();
        int rows = student.batch() * student.seq(), vp = student.logitsWidth();
        if (teacher.logitsWidth() != vp) throw new CramjetException("distill: the teacher's head has " + teacher.logitsWidth() + " outputs, the student's " + vp);
        softGrad = be.alloc(be.computeType(), rows, vp);
        rowTargets = be.alloc(DType.I32, rows);
        softLosses = be.alloc(DType.F32, rows);
        hardLosses = be.alloc(DType.F32, rows);
        cosLosses = be.alloc(DType.F32, rows);
        dHidden = be.alloc(be.computeType(), rows, student.width());
        compact = new int[rows];
        hostLosses = new float[rows];
    }

    @Override public void zeroGrad() { studentLearner.zeroGrad(); }

    @Override
    public float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) {
        teacher.eval();
        teacher.forward(batch.tokens, batch.lengths, batch.targets);
        student.train(dropoutSeed);
        student.forwardKeepingLogits(batch.tokens, batch.lengths, batch.targets);
        int n = student.scored();
        if (n <= 0) {                       // nothing scored: a NaN loss, which the loop counts and skips
            student.backward(accumulation);
            return Float.NaN;
        }
        Tensor z = student.logits(), zt = teacher.logits();
        int rows = z.rows(), vocab = student.vocabSize();
        if (n != rows) {
            throw new CramjetException("distill: every row the head reads needs a target (" + rows + " rows, " + n + " targets)");
        }
        // The head's rows are the scored positions in order: the masked ones (sparse), or every position.
        int k = 0;
        for (int t : batch.targets) if (t >= 0) compact[k++] = t;
        Tensor soft = view(softGrad, rows), targets = rowTargets.view(0, rows);
        be.upload(targets, java.util.Arrays.copyOf(compact, rows));
        // Each loss op writes its gradient in place only at a non-zero scale: z ends as the sum of those that do.
        be.copy(soft, z);
        be.klDivergence(softLosses.view(0, rows), soft, zt, vocab, (float) w.temperature(), (float) (w.ce() / n));
        be.crossEntropy(hardLosses.view(0, rows), z, targets, vocab, (float) (w.mlm() / n));
        if (w.ce() > 0 && w.mlm() > 0) be.add(z, z, soft);
        else if (w.ce() > 0) be.copy(z, soft);
        else if (w.mlm() == 0) be.zero(z);
        // The cosine term over every position, its gradient added where the head's arrives.
        int positions = batch.tokens.length;
        Tensor dh = w.cos() > 0 ? dHidden : null;
        be.cosineLoss(cosLosses, dh, student.hidden(), teacher.hidden(), (float) (w.cos() / ((double) positions * accumulation)));
        student.backward(accumulation, dh);
        return (float) (w.ce() * mean(softLosses, rows) + w.mlm() * mean(hardLosses, rows) + w.cos() * mean(cosLosses, positions));
    }

    /** The mean of the first {@code rows} losses. */
    private float mean(Tensor losses, int rows) {
        float[] h = rows == hostLosses.length ? hostLosses : new float[rows];
        be.download(losses.view(0, rows), h);
        double sum = 0;
        for (int i = 0; i < rows; i++) sum += h[i];
        return (float) (sum / rows);
    }

    private static Tensor view(Tensor t, int rows) { return rows == t.dim(0) ? t : t.view(0, rows, t.dim(-1)); }

    @Override public float gradNorm() { return studentLearner.gradNorm(); }

    @Override public void step(double lr) { studentLearner.step(lr); }

    @Override public void useAverage(boolean on) { studentLearner.useAverage(on); }

    @Override public void save(Path dir) throws IOException { studentLearner.save(dir); }

    @Override public void load(Path dir) throws IOException { studentLearner.load(dir); }

    /** The student's training plus the teacher's forward pass per token. */
    @Override public double flopsPerToken() { return studentLearner.flopsPerToken() + teacherForwardFlops; }

    @Override public float loss(Batch batch) { return studentEval.loss(batch); }

    @Override public long correct() { return studentEval.correct(); }

    // ---- the student's start ---------------------------------------------------------------------------------

    /**
     * Which teacher block each of {@code studentLayers} student blocks starts from: spread evenly, first and last
     * included, i ↦ round(i·(L_t − 1)/(L_s − 1)) — for 12 → 6 DistilBERT's own choice, 0, 2, 4, 7, 9, 11.
     */
    public static int[] layerMap(int teacherLayers, int studentLayers) {
        if (studentLayers < 1 || studentLayers > teacherLayers) {
            throw new CramjetException("distill: the student's layers must be in [1, " + teacherLayers + "] (the teacher's), got " + studentLayers);
        }
        int[] map = new int[studentLayers];
        for (int i = 0; i < studentLayers; i++) {
            map[i] = studentLayers == 1 ? 0 : (int) Math.round(i * (teacherLayers - 1) / (double) (studentLayers - 1));
        }
        return map;
    }

    private static final Pattern BLOCK = Pattern.compile("h\\.(\\d+)\\.(.*)");

    /** Copies the teacher into the student: block i from teacher block map[i], everything else by name. */
    public static void initialize(Model student, Model teacher, int[] map) {
        Backend be = student.backend();
        for (Param p : student.parameterList()) {
            Matcher m = BLOCK.matcher(p.name());
            String from = m.matches() ? "h." + map[Integer.parseInt(m.group(1))] + "." + m.group(2) : p.name();
            be.copy(p.value(), teacher.parameter(from).value());
        }
    }
}
