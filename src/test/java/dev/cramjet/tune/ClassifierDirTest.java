package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.GPTTest;
import dev.cramjet.nn.Head;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** A classifier directory written by a fine-tuning run loads back as the same classifier, LoRA adapters included. */
class ClassifierDirTest {
    private final Backend be = new CpuBackend();
    @TempDir Path dir;

    @AfterEach
    void close() { be.close(); }

    private static final int[][] SEQS = {{0, 3, 1, 4, 1, 5}, {0, 9, 2, 6, 5, 3, 5, 8}, {0, 7}};

    @Test
    void aLoraClassifierLoadsWithItsAdapters() throws Exception {
        GPTConfig cfg = GPTTest.micro(0);
        LoRA.Spec lora = new LoRA.Spec(2, 4f, 0.1f, true, EnumSet.of(LoRA.Target.QKV, LoRA.Target.MLP_PROJ));
        Model.Options o = Model.Options.INFERENCE.lora(lora).classify(3, Head.Pooling.MEAN);
        GPT g = new GPT(be, cfg, 2, 8, 1, o);
        GPTTest.randomize(g, 3);
        SplittableRandom r = new SplittableRandom(5);
        for (Param p : g.parameterList()) {   // B ≠ 0, so the adapters change the logits
            if (p.group() == Parameters.Group.BASE) continue;
            float[] v = new float[(int) p.size()];
            for (int i = 0; i < v.length; i++) v[i] = (float) (0.3 * r.nextGaussian());
            be.upload(p.value(), v);
        }
        Tokenizer tok = new BpeTrainer().train(List.of("ham and spam"), 270, Tokenizer.DEFAULT_SPECIALS);
        Classifier.Spec spec = new Classifier.Spec(List.of("a", "b", "c"), Head.Pooling.MEAN, Classifier.Truncation.HEAD, 8, lora);
        Path out = dir.resolve("classifier");
        ModelDir.save(g, out);
        spec.write(out);
        tok.save(out.resolve(Classifier.TOKENIZER));

        Classifier.Spec read = Classifier.Spec.read(out);
        assertEquals(spec.labels(), read.labels());
        assertEquals(2, read.lora().rank());
        assertEquals(4f, read.lora().alpha());
        assertTrue(read.lora().rslora());
        assertEquals(lora.targets(), read.lora().targets());
        assertEquals(0f, read.lora().dropout(), "inference has no dropout");

        float[][] want = new Classifier(g, tok, spec).probabilities(SEQS);
        float[][] got = Classifier.load(be, out, 2).probabilities(SEQS);
        for (int i = 0; i < SEQS.length; i++) assertArrayEquals(want[i], got[i], "text " + i);
        g.lora(false);
        float[][] off = new Classifier(g, tok, spec).probabilities(SEQS);
        assertFalse(java.util.Arrays.equals(want[1], off[1]), "the adapters matter, so loading them is what made the match");
    }

    @Test
    void aBadLoraRecordIsRefusedByName() throws Exception {
        Path out = Files.createDirectories(dir.resolve("bad"));
        Files.writeString(out.resolve(Classifier.FILE), """
                {"labels": ["ham", "spam"], "pooling": "last", "truncation": "head", "context": 8,
                 "lora": {"rank": 2, "alpha": 4.0, "rslora": false, "targets": ["attn.qkv", "attn.c_attn"]}}""");
        CramjetException e = assertThrows(CramjetException.class, () -> Classifier.Spec.read(out));
        assertTrue(e.getMessage().contains(Classifier.FILE) && e.getMessage().contains("attn.c_attn"), e.getMessage());
    }
}
