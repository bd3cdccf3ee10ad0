package dev.cramjet.optim;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.Parameters;
import dev.cramjet.nn.Parameters.Param;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * An exponential moving average of a model's trainable weights, kept on the backend in F32 in the layout of the
 * gradients (nothing for frozen parameters). After update t (t = 1, 2, …) it is the bias-corrected average of
 * the weights θ₁ … θₜ after each update, weighted dᵗ⁻ⁱ:
 * <pre>
 *   w = (1 − d) / (1 − dᵗ)      (in double, then rounded to F32, as is 1 − w)
 *   a ← (1 − w)·a + w·θ          (F32: fl(fl((1 − w)·a) + fl(w·θ)))
 * </pre>
 * so the first update makes it θ₁ and it never leans on the starting weights, whose head a classifier fine-tune
 * draws at random (Adam's correction of its moments, applied to the weights; w tends to 1 − d). Evaluations read
 * it by {@link #swapIn}: the trained weights go to a scratch buffer of the same size and the average takes their
 * place until {@link #swapOut}. Before the first update the average is the weights themselves.
 *
 * <p>It is built from the contract's copy, scale and add, so every backend has it; it costs two F32 buffers of
 * the trainable size (the average and the scratch) and four elementwise passes over them per update.
 */
public final class Ema {
    /** The checkpoint file: the weights training continues from, and the average (the checkpoint's model holds the latter). */
    public static final String FILE = "ema.safetensors";

    /** A run of trainable values and where it lies in the layout of the gradients. */
    private record Span(Tensor values, Tensor average, Tensor scratch) {}

    private final Backend be;
    private final double decay;
    private final Tensor average, scratch, grads;
    private final List<Span> spans = new ArrayList<>();
    private boolean swapped;

    /** The average of {@code params}' trainable weights with decay {@code decay} in (0, 1). */
    public Ema(Backend backend, Parameters params, double decay) {
        if (!(decay > 0 && decay < 1)) throw new IllegalArgumentException("ema decay must be in (0, 1), got " + decay);
        this.be = backend;
        this.decay = decay;
        this.grads = params.gradients();
        if (grads == null) throw new IllegalArgumentException("the model trains no parameters: nothing to average");
        int n = (int) grads.size();
        this.average = be.alloc(DType.F32, n);
        this.scratch = be.alloc(DType.F32, n);
        for (Parameters.Range r : params.ranges()) {
            long at = r.grads().offset - grads.offset;
            int len = (int) r.grads().size();
            spans.add(new Span(r.values(), average.view(at, len), scratch.view(at, len)));
        }
    }

    /** The weight of the newest weights in update {@code t} ≥ 1: (1 − d)/(1 − dᵗ). */
    public static double weight(double decay, long t) { return (1 - decay) / (1 - Math.pow(decay, t)); }

    /** Folds the current weights into the average as update {@code t} (the optimizer's step count after it). */
    public void update(long t) {
        if (swapped) throw new IllegalStateException("update while the average is swapped in");
        double w = weight(decay, t);
        float newest = (float) w, kept = (float) (1 - w);
        for (Span s : spans) {
            be.copy(s.scratch, s.values);
            be.scale(s.scratch, newest);
            be.scale(s.average, kept);
            be.add(s.average, s.average, s.scratch);
        }
    }

    /** Puts the average in the model's trainable parameters, keeping the trained weights aside. */
    public void swapIn() {
        if (swapped) throw new IllegalStateException("the average is already swapped in");
        for (Span s : spans) {
            be.copy(s.scratch, s.values);
            be.copy(s.values, s.average);
        }
        swapped = true;
    }

    /** Puts the trained weights back. */
    public void swapOut() {
        if (!swapped) throw new IllegalStateException("the average is not swapped in");
        for (Span s : spans) be.copy(s.values, s.scratch);
        swapped = false;
    }

    /** A trainable parameter's average, F32 on the host. */
    public float[] values(Param p) {
        float[] h = new float[(int) p.size()];
        be.download(average.view(p.grad().offset - grads.offset, (int) p.size()), h);
        return h;
    }

    /** Writes {@value #FILE} into {@code dir}: the trained weights ({@code trained}) and the average, F32, in the gradients' layout. */
    public void save(Path dir) throws IOException {
        if (swapped) throw new IllegalStateException("save while the average is swapped in");
        int n = (int) average.size();
        float[] trained = new float[n], avg = new float[n];
        for (Span s : spans) {
            float[] h = new float[(int) s.values.size()];
            be.download(s.values, h);
            System.arraycopy(h, 0, trained, (int) (s.average.offset - average.offset), h.length);
        }
        be.download(average, avg);
        Safetensors.write(dir.resolve(FILE), Map.of("decay", Double.toString(decay)), List.of(
                new Safetensors.Item("trained", new long[] {n}, trained), new Safetensors.Item("average", new long[] {n}, avg)));
    }

    /**
     * Restores what {@link #save} wrote: the trained weights into the model's trainable parameters (over the
     * average the checkpoint's model directory gave them) and the average.
     */
    public void load(Path dir) throws IOException {
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) throw new CramjetException(dir + ": no " + FILE + " (this run keeps an average of its weights, --ema)");
        swapped = false;                       // the load replaces the weights and the average alike
        try (Safetensors.Reader r = Safetensors.open(f)) {
            for (String name : List.of("trained", "average")) {
                long numel = r.entry(name).numel();
                if (numel != average.size()) {
                    throw new CramjetException(f + ": tensor '" + name + "' has " + numel + " elements, the model trains " + average.size());
                }
            }
            float[] trained = r.read("trained");
            for (Span s : spans) {
                int at = (int) (s.average.offset - average.offset);
                be.upload(s.values, Arrays.copyOfRange(trained, at, at + (int) s.values.size()));
            }
            be.upload(average, r.read("average"));
        }
    }
}
