package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.cuda.NominalPeak;
import dev.cramjet.nn.GPTConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A cost model for data-parallel training on N GPUs: compute, gradient-exchange time over the interconnect, and
 * memory per GPU with the optimizer state replicated or sharded (ZeRO-1), and the layout to use. Every number is a
 * product of the inputs and the assumptions listed with it — nothing here is measured.
 *
 * <ul>
 * <li>Compute per step: (6·N' + 12·L·d·T) FLOPs per token (N' the parameters without the position table; the same
 *     formula as MFU) × tokens per step ÷ (GPUs × dense bf16 peak × MFU).</li>
 * <li>Gradient exchange: a ring all-reduce of the bf16 gradients moves 2·(G−1)/G × 2·P bytes through each GPU's
 *     link; ZeRO-1's reduce-scatter of the gradients plus all-gather of the bf16 weights moves the same. Cramjet
 *     exchanges after the backward pass, so a step costs compute + exchange; overlapping the exchange with the
 *     backward pass (bucketed all-reduce, as PyTorch's DDP does) would bring it towards max(compute, exchange).
 *     Latency (2·(G−1) ring hops of a few µs) is left out: under a millisecond for G ≤ 64.</li>
 * <li>Memory per GPU: bf16 weights 2·P and gradients 2·P bytes, fp32 master weights 4·P and AdamW's m, v 8·P —
 *     16·P replicated, 4·P + 12·P/G with ZeRO-1; activations ≈ (34·L·d + 2·Vp) bytes per token of a micro-batch
 *     (Korthikanti et al. 2022 for bf16 with flash attention and no recomputation, plus the bf16 logits); and
 *     1 GiB for the CUDA context, cuBLASLt's workspace and NCCL's buffers. A layout fits when the total is at most
 *     90% of the GPU's memory.</li>
 * </ul>
 */
public final class ScalePlan {
    /** The link the gradient exchange crosses, with the bandwidth the ring all-reduce achieves over it. */
    public enum Interconnect {
        NVLINK(360e9, "NVLink 4 (H100 SXM: 450 GB/s per direction per GPU; NCCL's all-reduce reaches a bus bandwidth of about 360 GB/s)"),
        IB(40e9, "InfiniBand NDR between nodes (one 400 Gb/s adapter per GPU, 50 GB/s; about 40 GB/s achieved; the slowest link bounds the ring)"),
        PCIE(24e9, "PCIe 4.0 x16 (32 GB/s per direction; about 24 GB/s achieved between GPUs)");

        public final double bytesPerSecond;
        public final String assumption;

        Interconnect(double bytesPerSecond, String assumption) {
            this.bytesPerSecond = bytesPerSecond;
            this.assumption = assumption;
        }

        public static Interconnect of(String name) {
            for (Interconnect i : values()) if (i.name().equalsIgnoreCase(name)) return i;
            throw new CramjetException("--interconnect: expected nvlink, ib or pcie, got '" + name + "'");
        }
    }

    /** A GPU: the data sheet's dense bf16 peak (as CudaBackend knows it) and its memory. */
    public record Gpu(String name, double peakFlops, double memoryBytes) {
        public static Gpu of(String name) {
            double gb = switch (name.toLowerCase(Locale.ROOT)) {
                case "h100", "h800" -> 80;
                case "h200" -> 141;
                case "a100" -> 80;
                case "b200" -> 192;
                case "l4" -> 24;
                default -> throw new CramjetException("--gpu: expected h100, h200, h800, a100, b200 or l4, got '" + name + "'");
            };
            String full = name.toUpperCase(Locale.ROOT);
            return new Gpu(full + " " + (int) gb + "GB", NominalPeak.bf16Tflops(full) * 1e12, gb * 1e9);
        }
    }

    /** What to plan: the model, G GPUs, their link, the step's tokens, a micro-batch of sequences, the MFU assumed. */
    public record Inputs(GPTConfig model, int gpus, Interconnect link, Gpu gpu, long tokensPerStep, int microBatch, double mfu) {
        public Inputs {
            if (gpus < 1) throw new CramjetException("--gpus must be at least 1, got " + gpus);
            if (microBatch < 1) throw new CramjetException("--batch must be at least 1, got " + microBatch);
            if (!(mfu > 0 && mfu <= 1)) throw new CramjetException("--mfu must be in (0, 1], got " + mfu);
            if (tokensPerStep < 1) throw new CramjetException("--tokens-per-step must be positive");
        }
    }

    /** One layout's memory per GPU, in bytes, and whether it fits. */
    public record Memory(String layout, double weights, double gradients, double master, double adam, double activations,
                         double overhead, boolean fits) {
        public double total() { return weights + gradients + master + adam + activations + overhead; }
    }

    /** The plan: counts, times per step, both layouts' memory, and the advice. */
    public record Plan(Inputs in, long parameters, long flopParameters, int accumulation, long tokensPerStep, double flopsPerToken,
                       double computeSeconds, double exchangeBytes, double exchangeSeconds, Memory replicated, Memory sharded,
                       String layout) {
        public double stepSeconds() { return computeSeconds + exchangeSeconds; }

        public double tokensPerSecond() { return tokensPerStep / stepSeconds(); }

        /** Throughput with G GPUs ÷ (G × one GPU's): the share of the step that is compute. */
        public double scalingEfficiency() { return computeSeconds / stepSeconds(); }
    }

    static final double OVERHEAD = 1024.0 * 1024 * 1024;
    static final double USABLE = 0.9;

    private ScalePlan() {}

    /** The parameter count of a GPT-2- or Llama-style config, from its shapes (what GPT allocates). */
    public static long parameters(GPTConfig c, boolean withPositions) {
        long d = c.nEmbd(), norm = c.norm() == GPTConfig.Norm.LAYER && c.bias() ? 2 * d : d, b = c.bias() ? 1 : 0;
        long hidden = c.mlpHidden(), fc = c.fcWidth();
        long layer = 2 * norm + 3 * d * d + 3 * d * b + d * d + d * b + d * fc + fc * b + hidden * d + d * b;
        long n = (long) c.paddedVocab() * d + c.nLayer() * layer + norm;
        if (!c.tiedEmbeddings()) n += (long) c.paddedVocab() * d;
        if (withPositions && c.positions() == GPTConfig.Positions.LEARNED) n += (long) c.blockSize() * d;
        return n;
    }

    public static Plan plan(Inputs in) {
        GPTConfig c = in.model();
        long p = parameters(c, true), pFlop = parameters(c, false);
        int g = in.gpus(), t = c.blockSize();
        long micro = (long) in.microBatch() * t;
        int accumulation = (int) Math.max(1, (in.tokensPerStep() + micro * g - 1) / (micro * g));
        long tokens = micro * g * accumulation;
        double flopsPerToken = 6.0 * pFlop + 12.0 * c.nLayer() * c.nEmbd() * t;
        double compute = flopsPerToken * tokens / (g * in.gpu().peakFlops() * in.mfu());
        double bytes = g == 1 ? 0 : 2.0 * (g - 1) / g * 2.0 * p;
        double exchange = bytes / in.link().bytesPerSecond;
        double activations = micro * (34.0 * c.nLayer() * c.nEmbd() + 2.0 * c.paddedVocab());
        Memory replicated = memory("replicated", 2.0 * p, 2.0 * p, 4.0 * p, 8.0 * p, activations, in.gpu());
        Memory sharded = memory("ZeRO-1", 2.0 * p, 2.0 * p, 4.0 * p / g, 8.0 * p / g, activations, in.gpu());
        String layout;
        if (replicated.fits()) {
            layout = "data parallel with replicated optimizer state (--zero 0): it fits, and ZeRO-1 would move the same bytes";
        } else if (sharded.fits()) {
            layout = "data parallel with ZeRO-1 (--zero 1): replicated state does not fit, sharded it does";
        } else if (memory("ZeRO-1", 2.0 * p, 2.0 * p, 4.0 * p / g, 8.0 * p / g, 0, in.gpu()).fits()) {
            layout = "ZeRO-1 with a smaller micro-batch (--batch): the activations of " + in.microBatch() + " sequences do not fit";
        } else {
            layout = "tensor or pipeline parallelism, which Cramjet does not implement (see docs/SCALING.md): even sharded, the"
                    + " weights and gradients alone need " + gb(4.0 * p) + " per GPU";
        }
        return new Plan(in, p, pFlop, accumulation, tokens, flopsPerToken, compute, bytes, exchange, replicated, sharded, layout);
    }

    private static Memory memory(String layout, double w, double grads, double master, double adam, double act, Gpu gpu) {
        double total = w + grads + master + adam + act + OVERHEAD;
        return new Memory(layout, w, grads, master, adam, act, OVERHEAD, total <= USABLE * gpu.memoryBytes());
    }

    /** The plan as lines of text, with the assumptions next to the numbers. */
    public static List<String> describe(Plan plan) {
        Inputs in = plan.in();
        GPTConfig c = in.model();
        List<String> out = new ArrayList<>();
        out.add(String.format(Locale.ROOT, "model: %.1fM parameters (%.1fM without positions), %d layers, width %d, context %d, vocabulary %d (padded %d)",
                plan.parameters() / 1e6, plan.flopParameters() / 1e6, c.nLayer(), c.nEmbd(), c.blockSize(), c.vocabSize(), c.paddedVocab()));
        out.add(String.format(Locale.ROOT, "hardware: %d × %s, %.0f TFLOP/s dense bf16 each (data sheet); link: %s",
                in.gpus(), in.gpu().name(), in.gpu().peakFlops() / 1e12, in.link().assumption));
        out.add(String.format(Locale.ROOT, "step: %,d tokens = %d GPUs × %d sequences × %d tokens × %d accumulated (asked: %,d)",
                plan.tokensPerStep(), in.gpus(), in.microBatch(), c.blockSize(), plan.accumulation(), in.tokensPerStep()));
        out.add(String.format(Locale.ROOT, "compute: %.3f s per step = %,.0f FLOPs/token (6·N + 12·L·d·T) × %,d tokens ÷ (%d × %.0f TFLOP/s × %.0f%% MFU, assumed)",
                plan.computeSeconds(), plan.flopsPerToken(), plan.tokensPerStep(), in.gpus(), in.gpu().peakFlops() / 1e12, 100 * in.mfu()));
        out.add(in.gpus() == 1 ? "exchange: none on one GPU"
                : String.format(Locale.ROOT, "exchange: %.3f s per step = 2·(G−1)/G × 2 B × %,d parameters = %.2f GB per GPU over %.0f GB/s (ring all-reduce of bf16 gradients; ZeRO-1 moves the same)",
                plan.exchangeSeconds(), plan.parameters(), plan.exchangeBytes() / 1e9, in.link().bytesPerSecond / 1e9));
        out.add(String.format(Locale.ROOT, "step time: %.3f s (compute + exchange, not overlapped) → %,.0f tokens/s; scaling efficiency %.1f%% (compute ÷ step)",
                plan.stepSeconds(), plan.tokensPerSecond(), 100 * plan.scalingEfficiency()));
        for (Memory m : List.of(plan.replicated(), plan.sharded())) {
            out.add(String.format(Locale.ROOT, "memory per GPU, %-10s %s = weights %s + gradients %s + master %s + AdamW m,v %s + activations %s + overhead %s → %s %.0f GB usable",
                    m.layout() + ":", gb(m.total()), gb(m.weights()), gb(m.gradients()), gb(m.master()), gb(m.adam()), gb(m.activations()),
                    gb(m.overhead()), m.fits() ? "fits in" : "does not fit in", USABLE * in.gpu().memoryBytes() / 1e9));
        }
        out.add("activations: (34·L·d + 2·Vp) bytes per token × " + in.microBatch() + " × " + c.blockSize()
                + " tokens (bf16, flash attention, no recomputation); overhead: 1 GiB (CUDA context, cuBLASLt, NCCL)");
        out.add("layout: " + plan.layout());
        return out;
    }

    private static String gb(double bytes) { return String.format(Locale.ROOT, "%.2f GB", bytes / 1e9); }
}
