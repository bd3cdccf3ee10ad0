package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Continuous batching: sequences decoded together compute what each would alone. */
class BatchTest {
    private final Backend be = new CpuBackend();

    @AfterEach
    void close() { be.close(); }

    /** Slot s decodes prompt[s] then the tokens cont[s], one per step; the script staggers joins and leaves. */
    private static final int[][] PROMPTS = {{3, 1, 4}, {1, 5}, {9, 2, 6, 5}, {3}};
    private static final int[][] CONT = {{5, 8, 9, 7}, {9, 3, 2}, {3, 8}, {4, 6, 2, 6}};

    /** Each slot's logits after its prompt and after each continuation token, computed alone by a Session. */
    private static float[][][] alone(GPT g) {
        float[][][] ref = new float[PROMPTS.length][][];
        GPT.Session s = g.session(8);
        for (int i = 0; i < PROMPTS.length; i++) {
            s.reset();
            ref[i] = new float[CONT[i].length + 1][];
            ref[i][0] = s.next(PROMPTS[i]);
            for (int k = 0; k < CONT[i].length; k++) ref[i][k + 1] = s.next(new int[] {CONT[i][k]});
        }
        return ref;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5})
    void entriesOfOneStepComputeWhatEachSequenceWouldAlone(int variant) {
        GPT g = new GPT(be, GPTTest.micro(variant), 1, 1, 3, Model.Options.INFERENCE);
        GPTTest.randomize(g, 11);
        float[][][] ref = alone(g);
        // Three slots for four sequences: sequence 3 takes the slot sequence 1 leaves; the bits must match.
        GPT.Batch b = g.batch(3, 8, 12);
        int[] slotOf = {0, 1, 2, -1}, done = new int[4];
        int[] next = new int[4];          // the next continuation token each sequence takes
        boolean[] started = new boolean[4];
        int steps = 0;
        while (Arrays.stream(done).sum() < 4 && steps++ < 20) {
            int[] entryOf = new int[4];
            Arrays.fill(entryOf, -1);
            for (int i = 0; i < 4; i++) {
                if (slotOf[i] < 0 || done[i] == 1) continue;
                if (i == 2 && steps == 1) continue;                     // joins one step late
                if (!started[i]) {
                    entryOf[i] = b.add(slotOf[i], PROMPTS[i], 0, PROMPTS[i].length);
                    started[i] = true;
                } else {
                    entryOf[i] = b.add(slotOf[i], CONT[i], next[i], next[i] + 1);
                    next[i]++;
                }
            }
            b.run();
            for (int i = 0; i < 4; i++) {
                if (entryOf[i] < 0) continue;
                float[] got = Arrays.copyOf(b.logits(entryOf[i]), g.config().vocabSize());
                assertArrayEquals(ref[i][next[i]], got, "sequence " + i + " after " + next[i] + " continuation tokens");
                if (next[i] == CONT[i].length) {
                    done[i] = 1;
                    if (i == 1) {                                         // its slot goes to sequence 3
                        b.reset(slotOf[1]);
                        slotOf[3] = slotOf[1];
                    }
                }
            }
        }
        assertArrayEquals(new int[] {1, 1, 1, 1}, done, "every sequence finished within 20 steps");
        assertEquals(0, b.queued());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aStepOfAnySizeComputesWhatEachSequenceWouldAlone(boolean int8) {
        // The CPU products sum every element in one order whatever the row count (fp32: Gemm's chain per K block;
        // int8: Q8's blocks), so 105 prompt rows in one step, then decode steps of six, give each sequence the bits
        // it gets alone — the first products reading the weights unpacked, the later ones from their packed copies.
        GPTConfig cfg = GPTTest.micro(1).with(java.util.Map.of("block_size", 64L), "test");
        GPT g = new GPT(be, cfg, 1, 1, 3, int8 ? Model.Options.INFERENCE.weights(DType.Q8_0) : Model.Options.INFERENCE);
        if (!int8) GPTTest.randomize(g, 13);             // an int8 model keeps its initial weights, quantized
        SplittableRandom r = new SplittableRandom(5);
        int slots = 6;
        int[][] prompts = new int[slots][], cont = new int[slots][];
        for (int s = 0; s < slots; s++) {
            prompts[s] = GPTTest.ids(r, 10 + 3 * s, cfg.vocabSize());
            cont[s] = GPTTest.ids(r, 3, cfg.vocabSize());
        }
        GPT.Batch b = g.batch(slots, 64, 128);
        for (int s = 0; s < slots; s++) b.add(s, prompts[s], 0, prompts[s].length);   // 105 rows in one step
        b.run();
        float[][][] got = new float[slots][cont[0].length + 1][];
        for (int s = 0; s < slots; s++) got[s][0] = Arrays.copyOf(b.logits(s), cfg.vocabSize());
        for (int k = 0; k < cont[0].length; k++) {
            for (int s = 0; s < slots; s++) b.add(s, cont[s], k, k + 1);
            b.run();
            for (int s = 0; s < slots; s++) got[s][k + 1] = Arrays.copyOf(b.logits(s), cfg.vocabSize());
        }
        GPT.Session one = g.session(64);
        for (int s = 0; s < slots; s++) {
            one.reset();
            assertArrayEquals(one.next(prompts[s]), got[s][0], "slot " + s + " after its prompt");
            for (int k = 0; k < cont[s].length; k++) {
                assertArrayEquals(one.next(new int[] {cont[s][k]}), got[s][k + 1], "slot " + s + " after " + (k + 1) + " tokens");
            }
            assertEquals(prompts[s].length + cont[s].length, b.position(s));
        }
    }

    @Test
    void refusesWhatDoesNotFit() {
        GPT g = new GPT(be, GPTTest.micro(0), 1, 1, 3, Model.Options.INFERENCE);
        GPT.Batch b = g.batch(2, 8, 4);
        b.add(0, new int[] {1, 2, 3}, 0, 3);
        assertThrows(CramjetException.class, () -> b.add(1, new int[] {1, 2}, 0, 2), "more rows than a step holds");
        assertThrows(IllegalArgumentException.class, () -> b.add(0, new int[] {1}, 0, 1), "a slot twice in one step");
        assertThrows(CramjetException.class, () -> b.add(1, new int[] {99}, 0, 1), "a token outside the vocabulary");
        b.run();
        b.add(0, new int[] {1, 2, 3, 4}, 0, 4);
        b.run();
        assertThrows(CramjetException.class, () -> b.add(0, new int[] {5, 6}, 0, 2), "past the slot's context");
        assertThrows(IllegalStateException.class, b::run);
        b.add(1, new int[] {1, 2}, 0, 2);
        b.clear();
        assertEquals(0, b.queued(), "a step given up on");
        assertThrows(IllegalStateException.class, b::run);
        assertEquals(0, b.position(1));
        assertThrows(CramjetException.class, () -> g.batch(0, 8, 4));
        assertThrows(CramjetException.class, () -> g.batch(1, 9, 4));
    }
}
