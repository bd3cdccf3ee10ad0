package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.train.EncoderLearner;
import dev.cramjet.train.GptLearner;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** DistilBERT's loss through the models: a student equal to its teacher, gradients of the whole loss, layer maps. */
class DistillerTest {
    private final Backend be = new CpuBackend();

    @AfterEach
    void close() { be.close(); }

    private static final EncoderConfig TEACHER = EncoderConfig.crammed(4, 2, 16, 41, 8).with(Map.of("bias", true, "norm_eps", 1e-5), "test");

    private static void randomize(Model m, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (Param p : m.parameterList()) {
            float[] v = new float[(int) p.size()];
            boolean norm = p.name().endsWith("ln_1.weight") || p.name().endsWith("ln_2.weight") || p.name().endsWith("ln.weight")
                    || p.name().equals("emb_ln.weight") || p.name().equals("ln_f.weight");
            for (int i = 0; i < v.length; i++) v[i] = (float) (norm ? 1 + 0.2 * r.nextGaussian() : 0.3 * r.nextGaussian());
            m.backend().upload(p.value(), v);
        }
    }

    private static Batch masked(int batch, int seq, int vocab, long seed) {
        Batch b = new Batch(batch, seq);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < b.tokens.length; i++) {
            b.tokens[i] = r.nextInt(vocab);
            b.targets[i] = i % 3 == 1 ? r.nextInt(vocab) : -1;
        }
        return b;
    }

    private Distiller distiller(Encoder student, Encoder teacher, Distiller.Weights w) {
        EncoderLearner learner = new EncoderLearner(student, new AdamWOptimizer(be, student.parameters(), AdamWOptimizer.Settings.defaults()), 0.3);
        return new Distiller(student, teacher, learner, w, 0);
    }

    @Test
    void aStudentEqualToItsTeacherHasNoSoftTargetOrCosineLoss() {
        Encoder teacher = new Encoder(be, TEACHER, 2, 8, 1, Model.Options.INFERENCE.sparse());
        randomize(teacher, 3);
        Encoder student = new Encoder(be, TEACHER, 2, 8, 2, Model.Options.TRAIN.sparse());
        Distiller.initialize(student, teacher, Distiller.layerMap(4, 4));
        Batch b = masked(2, 8, TEACHER.vocabSize(), 5);
        float ce = teacher.forward(b.tokens, b.targets);
        Distiller d = distiller(student, teacher, Distiller.Weights.DISTILBERT);
        d.zeroGrad();
        assertEquals(2 * ce, d.trainMicroBatch(b, 1, 1), 1e-5 * ce, "5·0 + 2·CE + 1·0");
        Distiller soft = distiller(student, teacher, new Distiller.Weights(1, 0, 1, 2));
        soft.zeroGrad();
        assertEquals(0, soft.trainMicroBatch(b, 1, 1), 1e-5, "KL and cosine vanish");
        float[] g = new float[(int) student.parameters().trainableCount()];
        be.download(student.parameters().gradients(), g);
        for (float x : g) assertEquals(0, x, 2e-5, "and so does their gradient");
    }

    @Test
    void theWholeLossMatchesFiniteDifferencesOnAHalfDepthStudent() {
        Encoder teacher = new Encoder(be, TEACHER, 2, 8, 1, Model.Options.INFERENCE.sparse());
        randomize(teacher, 3);
        Encoder student = new Encoder(be, TEACHER.withLayers(2), 2, 8, 2, Model.Options.TRAIN.sparse());
        Distiller.initialize(student, teacher, Distiller.layerMap(4, 2));
        randomize(student, 8);     // away from the teacher, so every term has a gradient
        Distiller d = distiller(student, teacher, new Distiller.Weights(5, 2, 1, 2));
        Batch b = masked(2, 8, TEACHER.vocabSize(), 6);
        float[] w = new float[(int) student.parameters().values().size()];
        be.download(student.parameters().values(), w);
        d.zeroGrad();
        d.trainMicroBatch(b, 1, 2);       // accumulation 2: the gradient is half the loss's
        float[] grad = new float[(int) student.parameters().trainableCount()];
        be.download(student.parameters().gradients(), grad);
        SplittableRandom r = new SplittableRandom(2);
        float eps = 1e-2f;
        for (Param p : student.parameterList()) {
            int off = (int) p.value().offset;
            int real = p.name().equals("wte.weight") ? TEACHER.vocabSize() * TEACHER.nEmbd() : (int) p.size();
            double err = 0, ref = 0;
            for (int s = 0; s < 3; s++) {
                int i = r.nextInt(real);
                float keep = w[off + i];
                double[] l = new double[2];
                for (int k = 0; k < 2; k++) {
                    w[off + i] = keep + (k == 0 ? eps : -eps);
                    be.upload(student.parameters().values(), w);
                    d.zeroGrad();
                    l[k] = d.trainMicroBatch(b, 1, 2);
                }
                w[off + i] = keep;
                double numeric = (l[0] - l[1]) / (2 * eps) / 2;
                err += (numeric - grad[off + i]) * (numeric - grad[off + i]);
                ref += numeric * numeric;
            }
            be.upload(student.parameters().values(), w);
            assertTrue(Math.sqrt(err) / Math.max(Math.sqrt(ref), 1e-2) < 3e-2, p.name() + ": relative error " + Math.sqrt(err / Math.max(ref, 1e-4)));
        }
    }

    @Test
    void aGptDistilsThroughTheSameLoss() {
        GPTConfig cfg = GPTConfig.preset("micro").with(Map.of("n_layer", 4L, "n_embd", 16L, "n_head", 2L, "vocab_size", 37L, "block_size", 8L), "test");
        GPT teacher = new GPT(be, cfg, 2, 8, 1, Model.Options.INFERENCE);
        GPT student = new GPT(be, cfg.with(Map.of("n_layer", 2L), "test"), 2, 8, 2);
        Distiller.initialize(student, teacher, Distiller.layerMap(4, 2));
        float[] a = new float[16 * 16 * 3], c = a.clone();
        be.download(teacher.parameter("h.3.attn.qkv.weight").value(), a);
        be.download(student.parameter("h.1.attn.qkv.weight").value(), c);
        assertArrayEquals(a, c, "student block 1 is teacher block 3");
        GptLearner learner = new GptLearner(student, new AdamWOptimizer(be, student.parameters(), AdamWOptimizer.Settings.defaults()));
        Distiller d = new Distiller(student, teacher, learner, Distiller.Weights.DISTILBERT, 0);
        Batch b = new Batch(2, 8);
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 16; i++) {
            b.tokens[i] = r.nextInt(37);
            b.targets[i] = r.nextInt(37);
        }
        float first = Float.NaN, last = Float.NaN;
        for (int s = 0; s < 8; s++) {
            d.zeroGrad();
            last = d.trainMicroBatch(b, s, 1);
            if (s == 0) first = last;
            d.gradNorm();
            d.step(3e-3);
        }
        assertTrue(last < first, "the student learns: " + first + " → " + last);
    }

    @Test
    void layerMapsSpreadOverTheTeacher() {
        assertArrayEquals(new int[] {0, 2, 4, 7, 9, 11}, Distiller.layerMap(12, 6), "DistilBERT's");
        assertArrayEquals(new int[] {0, 3}, Distiller.layerMap(4, 2));
        assertArrayEquals(new int[] {0}, Distiller.layerMap(4, 1));
        assertArrayEquals(new int[] {0, 1, 2}, Distiller.layerMap(3, 3));
        assertThrows(CramjetException.class, () -> Distiller.layerMap(4, 5));
        assertThrows(CramjetException.class, () -> new Distiller.Weights(0, 0, 0, 2));
        assertEquals(4, Arrays.stream(Distiller.layerMap(8, 4)).distinct().count());
    }
}
