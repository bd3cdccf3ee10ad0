package dev.cramjet.tune;

import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.GPTTest;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.tune.ChatTemplate.Message;
import dev.cramjet.tune.ChatTemplate.Role;
import dev.cramjet.tune.Examples.Example;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** Supervised fine-tuning's data: only the replies are scored, rows are padded, the order resumes exactly. */
class ExamplesTest {
    private final Backend be = new CpuBackend();
    private static final Tokenizer TOK = ChatTemplateTest.TOK;

    @AfterEach
    void close() { be.close(); }

    private static ChatTemplate.Tokens conversation(String ask, String answer) {
        return ChatTemplate.DEFAULT.encode(TOK, List.of(new Message(Role.USER, ask), new Message(Role.ASSISTANT, answer)), false);
    }

    @Test
    void positionsPredictTheNextTokenOnlyWhereItIsPartOfAReply() {
        ChatTemplate.Tokens c = conversation("write a poem", "the moon is bright");
        Example e = Examples.of(c, 1000);
        for (int i = 0; i < e.length(); i++) {
            boolean next = i + 1 < e.length() && c.scored()[i + 1];
            assertEquals(next ? c.ids()[i + 1] : -1, e.targets()[i], "position " + i);
        }
        assertEquals(TOK.eot(), e.targets()[e.length() - 2], "the reply's end-of-text is taught");
        int prompt = ChatTemplate.DEFAULT.encode(TOK, List.of(new Message(Role.USER, "write a poem")), true).ids().length;
        assertEquals(e.length() - prompt, e.scored());
        assertEquals(prompt + 1, Examples.of(c, prompt + 1).length(), "cut to the limit");
        assertEquals(1, Examples.of(c, prompt + 1).scored());
        assertNull(Examples.of(c, prompt), "nothing left to learn: dropped");
    }

    @Test
    void tokensOutsideTheRepliesContributeNoGradientAndPaddingNeverReachesAnExample() {
        GPTConfig cfg = GPTTest.micro(0).with(Map.of("vocab_size", (long) TOK.vocabSize(), "block_size", 32L, "dropout", 0.0), "test");
        GPT dense = new GPT(be, cfg, 2, 32, 1, Model.Options.TRAIN);
        GPTTest.randomize(dense, 3);
        List<Example[]> items = List.of(new Example[] {Examples.of(conversation("write a poem", "the moon"), 32)},
                new Example[] {Examples.of(conversation("who wrote it", "月明星稀"), 32)});
        Batch b = Examples.batch(2, 1, 32);
        Examples.validation(items, 1, 0).next(b);
        assertArrayEquals(new int[] {items.get(0)[0].length(), items.get(1)[0].length()}, b.lengths);

        dense.train(1);
        dense.zeroGrad();
        dense.forward(b.tokens, b.lengths, b.targets);
        dense.backward();
        float[] dlogits = ModelDir.download(be, dense.logits()), grad = ModelDir.download(be, dense.parameters().gradients());
        int vp = cfg.paddedVocab();
        for (int row = 0; row < 64; row++) {
            double sq = 0;
            for (int v = 0; v < vp; v++) sq += dlogits[row * vp + v] * dlogits[row * vp + v];
            if (b.targets[row] < 0) assertEquals(0.0, sq, "position " + row + " is not part of a reply: exactly no gradient");
            else assertTrue(sq > 0, "position " + row + " is scored");
        }

        // Probe tokens in the padding of both rows change neither the logits of the examples nor any gradient.
        dense.forward(b.tokens, b.lengths, null);
        float[] before = dense.logitsAt(items.get(0)[0].length() - 1);
        int[] probed = b.tokens.clone();
        for (int row = 0; row < 2; row++) for (int t = b.lengths[row]; t < 32; t++) probed[row * 32 + t] = (t * 7 + row) % cfg.vocabSize();
        dense.forward(probed, b.lengths, null);
        assertArrayEquals(before, dense.logitsAt(items.get(0)[0].length() - 1));
        dense.zeroGrad();
        dense.forward(probed, b.lengths, b.targets);
        dense.backward();
        assertArrayEquals(grad, ModelDir.download(be, dense.parameters().gradients()), "bit for bit");

        // The sparse head, which never computes the unscored rows' logits, gives the same gradient.
        GPT sparse = new GPT(be, cfg, 2, 32, 1, Model.Options.TRAIN.sparse());
        be.copy(sparse.parameters().values(), dense.parameters().values());
        sparse.train(1);
        sparse.zeroGrad();
        sparse.forward(b.tokens, b.lengths, b.targets);
        sparse.backward();
        float[] gs = ModelDir.download(be, sparse.parameters().gradients());
        for (int i = 0; i < grad.length; i++) assertEquals(grad[i], gs[i], 1e-6f + 1e-5f * Math.abs(grad[i]), "gradient " + i);
    }

    @Test
    void trainingOrderIsAPermutationPerEpochAndResumesExactly() {
        List<Example[]> items = new ArrayList<>();
        for (int i = 0; i < 10; i++) items.add(new Example[] {new Example(new int[] {i, 1}, new int[] {1, -1})});
        Examples.Training t = new Examples.Training(items, 1, 2, 7);
        Batch b = t.allocate(5, 4);
        assertEquals(5, b.batch);
        Set<Integer> epoch = new HashSet<>();
        for (int k = 0; k < 2; k++) {
            t.next(b);
            for (int row = 0; row < 5; row++) {
                assertEquals(4, b.lengths[row], "two virtual positions, then the example");
                assertEquals(-1, b.targets[row * 4], "virtual positions are never scored");
                epoch.add(b.tokens[row * 4 + 2]);
            }
        }
        assertEquals(10, epoch.size(), "an epoch serves every item once");
        var state = t.state();
        t.next(b);
        int[] next = b.tokens.clone();
        Examples.Training again = new Examples.Training(items, 1, 2, 7);
        again.restore(state, "state.json: data");
        again.next(b);
        assertArrayEquals(next, b.tokens, "restored to the same place");
        Examples.Training other = new Examples.Training(items.subList(0, 9), 1, 2, 7);
        assertThrows(dev.cramjet.CramjetException.class, () -> other.restore(state, "state.json: data"), "other data: refused by name");
    }
}
