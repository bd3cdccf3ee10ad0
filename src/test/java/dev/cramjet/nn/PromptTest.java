package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Param;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Prompt tuning and prefix tuning: virtual tokens at the start of every sequence, the base frozen. */
class PromptTest {
    private final Backend be = new CpuBackend();

    @AfterEach
    void close() { be.close(); }

    /** Both kinds on a learned-position GPT-2 shape and on a RoPE one (the prefix is written after RoPE). */
    static Stream<Arguments> kinds() {
        return Stream.of(Arguments.of(Prompt.Kind.INPUT, 0), Arguments.of(Prompt.Kind.INPUT, 1),
                Arguments.of(Prompt.Kind.PREFIX, 0), Arguments.of(Prompt.Kind.PREFIX, 2));
    }

    private static int[] targets(SplittableRandom r, int batch, int seq, int virtual, int vocab) {
        int[] y = GPTTest.ids(r, batch * seq, vocab);
        for (int b = 0; b < batch; b++) for (int t = 0; t < virtual; t++) y[b * seq + t] = -1;
        return y;
    }

    @ParameterizedTest
    @MethodSource("kinds")
    void virtualTokensMatchFiniteDifferencesAndTrainAlone(Prompt.Kind kind, int variant) {
        GPTConfig cfg = GPTTest.micro(variant);
        GPT g = new GPT(be, cfg, 2, 8, 1, Model.Options.TRAIN.prompt(new Prompt.Spec(kind, 3)).training(Group.ADAPTER));
        GPTTest.randomize(g, 6);
        long trained = 0;
        for (Param p : g.parameterList()) if (p.trainable()) trained += p.size();
        assertEquals(kind == Prompt.Kind.INPUT ? 3L * cfg.nEmbd() : 3L * 3 * cfg.nEmbd() * cfg.nLayer(), trained);
        SplittableRandom r = new SplittableRandom(2);
        int[] x = GPTTest.ids(r, 16, cfg.vocabSize()), y = targets(r, 2, 8, 3, cfg.vocabSize());
        if (cfg.dropout() > 0) g.train(5);
        ToolkitTest.gradientsMatchFiniteDifferences(g, x, new int[] {8, 6}, y);
    }

    @ParameterizedTest
    @MethodSource("kinds")
    void theIdsAtVirtualPositionsAreNeverRead(Prompt.Kind kind, int variant) {
        GPTConfig cfg = GPTTest.micro(variant);
        GPT g = new GPT(be, cfg, 1, 8, 1, Model.Options.INFERENCE.prompt(new Prompt.Spec(kind, 3)));
        GPTTest.randomize(g, 3);
        int[] x = GPTTest.ids(new SplittableRandom(4), 8, cfg.vocabSize());
        g.forward(x, null);
        float[] before = g.logitsAt(7);
        x[0] = (x[0] + 1) % cfg.vocabSize();
        x[2] = (x[2] + 5) % cfg.vocabSize();
        g.forward(x, null);
        assertArrayEquals(before, g.logitsAt(7));
        x[3] = (x[3] + 1) % cfg.vocabSize();          // the first real token
        g.forward(x, null);
        assertFalse(Arrays.equals(before, g.logitsAt(7)));
    }

    @ParameterizedTest
    @MethodSource("kinds")
    void decodingWithVirtualTokensEqualsTheFullForward(Prompt.Kind kind, int variant) {
        GPTConfig cfg = GPTTest.micro(variant);
        int n = 3;
        GPT g = new GPT(be, cfg, 1, cfg.blockSize(), 1, Model.Options.INFERENCE.prompt(new Prompt.Spec(kind, n)));
        GPTTest.randomize(g, 2);
        int real = cfg.blockSize() - n;
        int[] tokens = GPTTest.ids(new SplittableRandom(3), real, cfg.vocabSize());
        int[] window = new int[cfg.blockSize()];
        System.arraycopy(tokens, 0, window, n, real);
        g.forward(window, null);
        GPT.Session s = g.session(cfg.blockSize());
        assertEquals(real, s.capacity());
        assertArrayEquals(g.logitsAt(n + 1), s.next(Arrays.copyOf(tokens, 2)), 1e-4f);
        assertEquals(2, s.position());
        for (int t = 2; t < real; t++) assertArrayEquals(g.logitsAt(n + t), s.next(new int[] {tokens[t]}), 1e-4f, "token " + t);
        s.reset();
        assertArrayEquals(g.logitsAt(n + real - 1), s.next(tokens), 1e-4f, "after a reset the prefix runs again");
        assertThrows(CramjetException.class, () -> s.next(new int[] {1}), "the session is full");
    }

    @ParameterizedTest
    @MethodSource("kinds")
    void virtualTokensStartedFromRealTokensActAsThoseTokens(Prompt.Kind kind, int variant) {
        // Started from ids, the virtual tokens are those tokens: the same logits as the base reading them as text.
        GPTConfig cfg = GPTTest.micro(variant);
        GPT base = new GPT(be, cfg, 2, 8, 1, Model.Options.INFERENCE);
        GPT tuned = new GPT(be, cfg, 2, 8, 1, Model.Options.INFERENCE.prompt(new Prompt.Spec(kind, 3)));
        GPTTest.randomize(base, 4);
        for (Param p : base.parameterList()) be.copy(tuned.parameter(p.name()).value(), p.value());
        int[] x = GPTTest.ids(new SplittableRandom(9), 16, cfg.vocabSize());
        tuned.initPrompt(Arrays.copyOf(x, 3));
        System.arraycopy(x, 0, x, 8, 3);              // the second sequence starts with the same three tokens
        base.forward(x, null);
        tuned.forward(x, null);
        for (int b = 0; b < 2; b++) {
            for (int t = 3; t < 8; t++) assertArrayEquals(base.logitsAt(b * 8 + t), tuned.logitsAt(b * 8 + t), 1e-5f, "position " + t);
        }
    }

    @Test
    void thePromptTrainsOnAFrozenBaseOnly() {
        GPTConfig cfg = GPTTest.micro(0);
        assertThrows(CramjetException.class, () -> new GPT(be, cfg, 1, 8, 1, Model.Options.TRAIN.prompt(new Prompt.Spec(Prompt.Kind.INPUT, 2))));
        assertThrows(CramjetException.class, () -> new GPT(be, cfg, 1, 8, 1, Model.Options.INFERENCE.prompt(new Prompt.Spec(Prompt.Kind.PREFIX, 8))),
                "no room for a real token");
    }
}
