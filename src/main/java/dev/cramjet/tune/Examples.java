package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.data.Batch;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.io.Json;
import dev.cramjet.train.Batches;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Tokenized fine-tuning examples and the batches made of them. An example is a token sequence with, per
 * position, the token the model should predict there or −1 (ignored: prompts, and everything the model is not
 * taught to write). A batch row holds one example, left-aligned after the model's virtual tokens and padded to the
 * context; the row's valid length tells attention where the padding starts.
 *
 * <h2>Padding, not packing</h2>
 * Several short examples could share a row if attention were masked at their boundaries. That needs a
 * block-diagonal mask kind in the Backend contract and a kernel for it on every device; padding needs nothing,
 * and costs less than it seems here: the sparse head scores only the positions with a target, attention never
 * reads keys past a row's valid length, and the context is fitted to the longest example. What padding still
 * costs is the trunk's matmuls over padded rows, which the run reports as the padded share of positions.
 *
 * <p>Items are groups of examples that go into consecutive rows together: one example for supervised
 * fine-tuning, a (chosen, rejected) pair for preference optimisation.
 */
public final class Examples {
    private Examples() {}

    /** tokens, and targets[i] = the token to predict at position i, or −1. */
    public record Example(int[] tokens, int[] targets) {
        public int length() { return tokens.length; }

        public int scored() {
            int n = 0;
            for (int t : targets) if (t >= 0) n++;
            return n;
        }
    }

    /**
     * The example of a tokenized conversation: position i predicts token i + 1 where that token is scored. Cut to
     * {@code max} tokens; null when nothing scored is left.
     */
    public static Example of(ChatTemplate.Tokens conv, int max) {
        int n = Math.min(conv.ids().length, max);
        int[] tokens = Arrays.copyOf(conv.ids(), n), targets = new int[n];
        boolean any = false;
        for (int i = 0; i < n; i++) {
            boolean next = i + 1 < n && conv.scored()[i + 1];
            targets[i] = next ? tokens[i + 1] : -1;
            any |= next;
        }
        return any ? new Example(tokens, targets) : null;
    }

    /** Writes an example into row {@code row} of a padded batch after {@code virtual} placeholder positions. */
    static void fill(Batch b, int row, Example e, int virtual) {
        int at = row * b.seq;
        if (virtual + e.length() > b.seq) {
            throw new IllegalStateException("example of " + e.length() + " tokens does not fit " + b.seq + " positions after " + virtual + " virtual ones");
        }
        Arrays.fill(b.tokens, at, at + b.seq, 0);
        Arrays.fill(b.targets, at, at + b.seq, -1);
        System.arraycopy(e.tokens(), 0, b.tokens, at + virtual, e.length());
        System.arraycopy(e.targets(), 0, b.targets, at + virtual, e.length());
        b.lengths[row] = virtual + e.length();
    }

    /** An empty row: one placeholder position after the virtual ones, nothing scored. */
    static void blank(Batch b, int row, int virtual) {
        int at = row * b.seq;
        Arrays.fill(b.tokens, at, at + b.seq, 0);
        Arrays.fill(b.targets, at, at + b.seq, -1);
        b.lengths[row] = virtual + 1;
    }

    /** A padded batch for {@code items} items of {@code group} rows each. */
    static Batch batch(int items, int group, int context) {
        int rows = items * group;
        return new Batch(rows, context, rows * context, true);
    }

    /**
     * Training batches: items in a keyed random order, a new permutation each epoch; the whole state is the number
     * of items served, so a checkpoint resumes the stream exactly.
     */
    static final class Training implements Batches {
        private final List<Example[]> items;
        private final int group, virtual;
        private final long seed;
        private int[] order;
        private long served, epoch = -1;

        Training(List<Example[]> items, int group, int virtual, long seed) {
            if (items.isEmpty()) throw new CramjetException("no training examples left");
            this.items = items;
            this.group = group;
            this.virtual = virtual;
            this.seed = seed;
        }

        @Override public Batch allocate(int batch, int context) { return batch(batch, group, context); }

        @Override
        public void next(Batch b) {
            for (int i = 0; i < b.batch / group; i++) {
                long e = served / items.size();
                if (e != epoch) shuffle(e);
                Example[] item = items.get(order[(int) (served % items.size())]);
                for (int g = 0; g < group; g++) fill(b, i * group + g, item[g], virtual);
                served++;
            }
        }

        private void shuffle(long e) {
            int n = items.size();
            order = new int[n];
            for (int i = 0; i < n; i++) order[i] = i;
            SplittableRandom r = new SplittableRandom(Hash.mix(seed + e * Hash.GOLDEN));
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            epoch = e;
        }

        /** Items per epoch. */
        int size() { return items.size(); }

        @Override
        public Map<String, Object> state() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("seed", seed);
            m.put("items", (long) items.size());
            m.put("served", served);
            return m;
        }

        @Override
        public void restore(Map<String, Object> m, String w) {
            long s = Json.integer(m.get("seed"), w + ".seed"), n = Json.integer(m.get("items"), w + ".items");
            if (s != seed || n != items.size()) {
                throw new CramjetException(w + ": the checkpoint read " + n + " examples in the order of seed " + s + ", this run has "
                        + items.size() + " with seed " + seed + " (the data changed)");
            }
            served = Json.integer(m.get("served"), w + ".served");
            epoch = -1;
        }
    }

    /** Validation batches: every item once, in order; the last batch is completed with empty rows. */
    static Evaluator.Source validation(List<Example[]> items, int group, int virtual) {
        return new Evaluator.Source() {
            int at;

            @Override public void reset() { at = 0; }

            @Override
            public boolean next(Batch b) {
                if (at >= items.size()) return false;
                for (int i = 0; i < b.batch / group; i++, at++) {
                    for (int g = 0; g < group; g++) {
                        if (at < items.size()) fill(b, i * group + g, items.get(at)[g], virtual);
                        else blank(b, i * group + g, virtual);
                    }
                }
                return true;
            }
        };
    }
}
