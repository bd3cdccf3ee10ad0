package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A model's parameters. Layers declare their tensors (name, group, kind, shape, how they start); the model then
 * {@link #allocate}s them all at once:
 * <ul>
 * <li>values in one buffer of the compute type, ordered by group then kind (a stable sort of the declaration
 *     order), so each (group, kind) is one contiguous range — AdamW is a launch per range and a checkpoint one
 *     write. Weights stored as Q8_0 (inference) live in a second buffer of their own;</li>
 * <li>gradients only for the groups being trained, packed in the same order, so a frozen group costs neither
 *     gradient memory nor optimizer state and the layers skip its gradient work (the contract's null gradients).</li>
 * </ul>
 */
public final class Parameters {

    /** What a parameter belongs to; a fine-tune trains a choice of groups ("only the adapters", "only the head"). */
    public enum Group { BASE, ADAPTER, HEAD }

    /** How AdamW treats it: matrices are decayed, embeddings only when asked, norm weights and biases never. */
    public enum Kind { MATRIX, EMBEDDING, NORM_OR_BIAS }

    /** How a parameter starts, drawn from the model's seeded generator in buffer order. */
    public sealed interface Init {
        /** N(0, std²) for the first {@code drawn} values; the rest (a vocabulary's padding rows) stay 0. */
        record Normal(double std, long drawn) implements Init {}

        /** Every value the same: 1 for norm weights, 0 for biases and LoRA's B. */
        record Constant(float value) implements Init {}

        /** U(−bound, bound): PyTorch's Kaiming-uniform default for a linear layer, bound = 1/√fan_in. */
        record Uniform(double bound) implements Init {}
    }

    /** One parameter tensor: its value and gradient are views into the model's buffers once allocated. */
    public static final class Param {
        private final String name;
        private final Group group;
        private final Kind kind;
        private final Init init;
        private final boolean quantizable;
        private final int[] shape;
        private Tensor value, grad;

        private Param(String name, Group group, Kind kind, Init init, boolean quantizable, int[] shape) {
            this.name = name;
            this.group = group;
            this.kind = kind;
            this.init = init;
            this.quantizable = quantizable;
            this.shape = shape.clone();
        }

        public String name() { return name; }

        public Group group() { return group; }

        public Kind kind() { return kind; }

        public int[] shape() { return shape.clone(); }

        public long size() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }

        /** The value tensor (after allocation). */
        public Tensor value() {
            if (value == null) throw new IllegalStateException("parameter " + name + " used before the model allocated it");
            return value;
        }

        /** The gradient tensor, or null when the parameter is frozen. */
        public Tensor grad() { return grad; }

        public boolean trainable() { return grad != null; }

        @Override
        public String toString() { return name + java.util.Arrays.toString(shape); }
    }

    /** A contiguous run of trainable parameters of one group and kind: the unit AdamW updates. */
    public record Range(Group group, Kind kind, Tensor values, Tensor grads) {}

    private final List<Param> declared = new ArrayList<>();
    private final Map<String, Param> byName = new LinkedHashMap<>();
    private List<Param> ordered;
    private Tensor values, quantized, grads;
    private final List<Range> ranges = new ArrayList<>();

    /** Declares a parameter; {@code quantizable} marks a weight matrix that inference may store as Q8_0. */
    public Param add(String name, Group group, Kind kind, Init init, boolean quantizable, int... shape) {
        if (ordered != null) throw new IllegalStateException("parameter " + name + " declared after allocation");
        Param p = new Param(name, group, kind, init, quantizable, shape);
        if (byName.putIfAbsent(name, p) != null) throw new IllegalArgumentException("parameter " + name + " declared twice");
        declared.add(p);
        return p;
    }

    /**
     * Allocates every declared parameter: values in the compute type (quantizable ones in {@code weights}, the
     * compute type or Q8_0), gradients for the parameters of the {@code trainable} groups.
     */
    public void allocate(Backend be, Set<Group> trainable, DType weights) {
        if (ordered != null) throw new IllegalStateException("parameters allocated twice");
        List<Param> list = new ArrayList<>(declared);
        list.sort(Comparator.comparing(Param::group).thenComparing(Param::kind));
        ordered = Collections.unmodifiableList(list);
        boolean quantize = weights == DType.Q8_0;
        long dense = 0, q8 = 0, trained = 0;
        for (Param p : ordered) {
            boolean toQ8 = quantize && p.quantizable && p.shape[p.shape.length - 1] % DType.Q8_0.block == 0;
            if (toQ8 && trainable.contains(p.group)) {
                throw new CramjetException("parameter " + p.name + " is stored as Q8_0 and cannot be trained (int8 weights are for inference)");
            }
            if (toQ8) q8 += p.size();
            else dense += p.size();
            if (trainable.contains(p.group)) trained += p.size();
        }
        if (dense > Integer.MAX_VALUE || q8 > Integer.MAX_VALUE) {
            throw new CramjetException("model has " + (dense + q8) + " parameters; at most 2^31 per buffer are supported");
        }
        values = be.alloc(be.computeType(), (int) dense);
        quantized = q8 == 0 ? null : be.alloc(DType.Q8_0, (int) q8);
        grads = trained == 0 ? null : be.alloc(be.computeType(), (int) trained);
        long at = 0, atQ8 = 0, atGrad = 0;
        for (Param p : ordered) {
            boolean toQ8 = quantize && p.quantizable && p.shape[p.shape.length - 1] % DType.Q8_0.block == 0;
            if (toQ8) {
                p.value = quantized.view(atQ8, p.shape);
                atQ8 += p.size();
                continue;
            }
            p.value = values.view(at, p.shape);
            at += p.size();
            if (trainable.contains(p.group)) {
                p.grad = grads.view(atGrad, p.shape);
                atGrad += p.size();
                addToRange(p);
            }
        }
    }

    /** Extends the last range when p continues it in both buffers (same group and kind), else starts one. */
    private void addToRange(Param p) {
        int n = (int) p.size();
        if (!ranges.isEmpty()) {
            Range last = ranges.getLast();
            boolean contiguous = last.values().offset + last.values().size() == p.value.offset
                    && last.grads().offset + last.grads().size() == p.grad.offset;
            if (last.group() == p.group && last.kind() == p.kind && contiguous) {
                int len = (int) last.values().size() + n;
                ranges.set(ranges.size() - 1, new Range(p.group, p.kind, values.view(last.values().offset - values.offset, len),
                        grads.view(last.grads().offset - grads.offset, len)));
                return;
            }
        }
        ranges.add(new Range(p.group, p.kind, p.value.reshape(n), p.grad.reshape(n)));
    }

    /**
     * Starts every parameter as its declaration says, from one generator seeded with {@code seed}, in buffer
     * order (so adding a group after the base leaves the base's values unchanged). Values are uploaded in pieces:
     * no host copy of the whole model.
     */
    public void initialize(Backend be, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] chunk = new float[1 << 16];
        for (Param p : all()) {
            if (p.value.dtype() == DType.Q8_0) {           // quantized as a whole: blocks must not straddle pieces
                float[] v = new float[(int) p.size()];
                fill(p.init, rng, v, 0, v.length);
                be.upload(p.value, v);
                continue;
            }
            Tensor flat = p.value.reshape((int) p.size());
            for (long at = 0; at < flat.size(); at += chunk.length) {
                int len = (int) Math.min(chunk.length, flat.size() - at);
                float[] v = len == chunk.length ? chunk : new float[len];
                fill(p.init, rng, v, at, len);
                be.upload(flat.view(at, len), v);
            }
        }
    }

    /** Values [from, from + len) of a parameter that starts as {@code init}. */
    private static void fill(Init init, SplittableRandom rng, float[] v, long from, int len) {
        for (int i = 0; i < len; i++) {
            v[i] = switch (init) {
                case Init.Normal(double std, long drawn) -> from + i < drawn ? (float) (rng.nextGaussian() * std) : 0f;
                case Init.Constant(float value) -> value;
                case Init.Uniform(double bound) -> (float) ((rng.nextDouble() * 2 - 1) * bound);
            };
        }
    }

    // ---- access ----------------------------------------------------------------------------------------------

    /** Every parameter in buffer order (groups, then kinds, each in declaration order). */
    public List<Param> all() {
        if (ordered == null) throw new IllegalStateException("parameters not allocated yet");
        return ordered;
    }

    public Param get(String name) {
        Param p = byName.get(name);
        if (p == null) throw new IllegalArgumentException("no parameter named '" + name + "'");
        return p;
    }

    /** The compute-type buffer holding every parameter not stored as Q8_0. */
    public Tensor values() { return values; }

    /** The gradients of the trainable parameters, one buffer; null when nothing is trained. */
    public Tensor gradients() { return grads; }

    /** The trainable parameters as contiguous (group, kind) runs, in buffer order. */
    public List<Range> ranges() { return Collections.unmodifiableList(ranges); }

    /** Elements of every parameter. */
    public long count() {
        long n = 0;
        for (Param p : all()) n += p.size();
        return n;
    }

    /** Elements of the trainable parameters (the size of gradients and optimizer state). */
    public long trainableCount() { return grads == null ? 0 : grads.size(); }

    /** Sets every gradient to zero. */
    public void zeroGrad(Backend be) {
        if (grads != null) be.zero(grads);
    }
}
