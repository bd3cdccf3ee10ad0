package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Accelerator;
import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Glu;
import dev.cramjet.engine.KernelCache;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The CUDA backend: bf16 weights and activations (Q8_0 for frozen int8 weights), fp32 accumulation, every op queued
 * on one stream. This class opens the device and hands each op to its family — {@link Memory}, {@link Rows},
 * {@link Norms}, {@link Matmuls} (cuBLASLt, the int8 GEMV), {@link Activations}, {@link Attention}, {@link Losses},
 * {@link Distillation}, {@link Optim} — which launch the kernels of the matching CUDA C resource (compiled by NVRTC at first use) and
 * share a {@link Gpu}. Nothing synchronises the host except {@link #download} and {@link #synchronize}, where
 * device-side errors (a token, target, mask length or segment out of range) are also reported. Scratch buffers grow
 * during the first step and are reused after, so a steady-state step allocates nothing. Not thread-safe: use it from
 * one thread at a time; the context is made current on whichever thread calls.
 */
public final class CudaBackend implements Backend, Accelerator {
    private final Driver cu;
    private final Nvrtc nvrtc;
    final Gpu gpu;
    private final Memory memory;
    private final Rows rows;
    private final Norms norms;
    private final Matmuls matmuls;
    private final Activations activations;
    private final Attention attention;
    private final Losses losses;
    private final Distillation distillation;
    private final Optim optim;
    private final Graphs graphs;
    private final int device, arch, driverVersion;
    private final String deviceName;
    private final long totalMemory, context;
    private Thread current;
    private boolean closed;

    /** Opens device {@code $CRAMJET_CUDA_DEVICE} (default 0). Throws a CramjetException saying what is missing. */
    public CudaBackend() {
        this(LibraryFinder.system(), Integer.parseInt(System.getenv().getOrDefault("CRAMJET_CUDA_DEVICE", "0")),
                cacheDir(System.getenv(), System.getProperty("user.home")));
    }

    /** Opens device {@code ordinal} with the libraries {@code finder} locates, caching kernels in {@code cacheDir}. */
    public CudaBackend(LibraryFinder finder, int ordinal, Path cacheDir) {
        cu = Driver.load(finder);
        int count = cu.deviceCount();
        if (count == 0) throw new CramjetException("CUDA: the driver (" + cu.lib.where + ") sees no GPU; check nvidia-smi");
        if (ordinal < 0 || ordinal >= count) {
            throw new CramjetException("CUDA: device " + ordinal + " requested (CRAMJET_CUDA_DEVICE) but only " + count + " present");
        }
        device = cu.device(ordinal);
        deviceName = cu.deviceName(device);
        totalMemory = cu.totalMemory(device);
        arch = 10 * cu.attribute(device, Driver.ATTR_CC_MAJOR) + cu.attribute(device, Driver.ATTR_CC_MINOR);
        int sms = cu.attribute(device, Driver.ATTR_SM_COUNT);
        driverVersion = cu.driverVersion();
        if (arch < 80) {
            throw new CramjetException("CUDA: " + deviceName + " is sm_" + arch + "; the CUDA backend needs sm_80 or newer (bf16 tensor cores)");
        }
        context = cu.retainPrimaryContext(device);
        cu.setCurrent(context);
        current = Thread.currentThread();
        try {
            long stream = cu.createStream();
            nvrtc = Nvrtc.load(finder, driverVersion / 1000);
            CublasLt lt = CublasLt.load(finder, driverVersion / 1000);
            graphs = new Graphs(cu, stream);
            cu.graphs = graphs;
            lt.graphs = graphs;
            gpu = new Gpu(cu, lt, new Kernels(cu, nvrtc, arch, cacheDir), stream, sms);
            memory = new Memory(gpu);
            rows = new Rows(gpu);
            norms = new Norms(gpu);
            matmuls = new Matmuls(gpu, memory);
            activations = new Activations(gpu);
            attention = new Attention(gpu);
            losses = new Losses(gpu);
            distillation = new Distillation(gpu);
            optim = new Optim(gpu);
        } catch (RuntimeException e) {
            cu.releasePrimaryContext(device);
            throw e;
        }
    }

    /**
     * Where compiled kernels are cached: $CRAMJET_CACHE/cuda, else $XDG_CACHE_HOME/cramjet/cuda, else
     * {@code home}/.cache/cramjet/cuda (blank variables count as unset).
     */
    static Path cacheDir(Map<String, String> env, String home) {
        return KernelCache.dir(env, home, "cuda");
    }

    private void enter() {
        if (closed) throw new IllegalStateException("CUDA backend used after close()");
        Thread t = Thread.currentThread();
        if (t != current) {
            cu.setCurrent(context);
            current = t;
        }
    }

    // ---- identity ----------------------------------------------------------------------------------------------

    @Override
    public String name() { return "cuda"; }

    @Override
    public String describe() {
        return String.format("%s, %d SMs, %.1f GiB, sm_%d, driver CUDA %d.%d, NVRTC %s, cuBLASLt %d", deviceName, gpu.sms,
                totalMemory / (double) (1L << 30), arch, driverVersion / 1000, driverVersion % 1000 / 10, nvrtc.version(),
                gpu.lt.version());
    }

    @Override
    public DType computeType() { return DType.BF16; }

    /** The data sheet's dense bf16 tensor-core peak of this device (NaN when its model is not in the table). */
    @Override
    public double peakFlops() { return NominalPeak.bf16Tflops(deviceName) * 1e12; }

    // ---- device extras (Accelerator) ---------------------------------------------------------------------------

    @Override
    public Map<String, String> libraries() {
        return Map.of("driver", cu.lib.where, "nvrtc", nvrtc.lib.where, "cublasLt", gpu.lt.lib.where);
    }

    @Override
    public int multiprocessors() { return gpu.sms; }

    @Override
    public long[] memoryInfo() {
        enter();
        return cu.memoryInfo();
    }

    @Override
    public List<String> compileKernels() {
        enter();
        return gpu.k.compileAll();
    }

    /** Profiling times ops one by one, so regions run as plain stream work meanwhile. */
    @Override
    public void profile(boolean on) {
        enter();
        graphs.enable(!on);
        gpu.prof.enable(on);
    }

    @Override
    public Map<String, Double> kernelMillis() {
        enter();
        return gpu.prof.collect();
    }

    @Override
    public double gemmCeilingFlops(int size, int reps) {
        enter();
        return matmuls.gemmCeilingFlops(size, reps);
    }

    @Override
    public long peakAllocatedBytes() { return gpu.peak(); }

    @Override
    public void repeat(Runnable work) {
        enter();
        graphs.run(work);
    }

    @Override
    public GraphStats graphStats() { return graphs.stats(); }

    // ---- memory ------------------------------------------------------------------------------------------------

    @Override
    public Tensor alloc(DType dtype, int... shape) {
        enter();
        return memory.alloc(dtype, shape);
    }

    /**
     * The device address of a tensor of this backend, and {@link #stream()}: for a library that queues its own
     * kernels on the training stream in order with ours (NCCL's collectives, see dist/NcclCommunicator).
     */
    public long address(Tensor t) {
        enter();
        return gpu.ptr(t);
    }

    /** The CUstream every op is queued on, with this backend's context made current on the calling thread. */
    public long stream() {
        enter();
        return gpu.stream;
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        enter();
        memory.upload(dst, src);
    }

    @Override
    public void upload(Tensor dst, int[] src) {
        enter();
        memory.upload(dst, src);
    }

    @Override
    public void upload(Tensor dst, byte[] blocks) {
        enter();
        memory.upload(dst, blocks);
    }

    @Override
    public void download(Tensor src, float[] dst) {
        enter();
        memory.download(src, dst);
    }

    @Override
    public void download(Tensor src, int[] dst) {
        enter();
        memory.download(src, dst);
    }

    @Override
    public void download(Tensor src, byte[] blocks) {
        enter();
        memory.download(src, blocks);
    }

    @Override
    public void zero(Tensor t) {
        enter();
        memory.zero(t);
    }

    @Override
    public void fill(Tensor t, float value) {
        enter();
        memory.fill(t, value);
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        enter();
        memory.copy(dst, src);
    }

    @Override
    public void synchronize() {
        enter();
        gpu.syncAndCheck();
    }

    @Override
    public long allocatedBytes() { return gpu.allocated(); }

    @Override
    public void close() {
        if (closed) return;
        enter();
        try {
            cu.synchronize(gpu.stream);
        } finally {
            closed = true;
            graphs.close();
            cu.graphs = null;
            memory.close();
            gpu.close();
            gpu.k.close();
            gpu.lt.close();
            cu.destroyStream(gpu.stream);
            cu.releasePrimaryContext(device);
        }
    }

    // ---- ops, by family ----------------------------------------------------------------------------------------

    @Override
    public void embedding(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int posOffset) {
        enter();
        rows.embedding(out, tokens, wte, wpe, posOffset);
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
        enter();
        rows.embeddingBackward(dwte, dwpe, dout, tokens);
    }

    @Override
    public void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias, float eps) {
        enter();
        norms.layerNorm(out, mean, rstd, in, weight, bias, eps);
    }

    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd) {
        enter();
        norms.layerNormBackward(din, dweight, dbias, dout, in, weight, mean, rstd);
    }

    @Override
    public void rmsNorm(Tensor out, Tensor rstd, Tensor in, Tensor weight, float eps) {
        enter();
        norms.rmsNorm(out, rstd, in, weight, eps);
    }

    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd) {
        enter();
        norms.rmsNormBackward(din, dweight, dout, in, weight, rstd);
    }

    @Override
    public void matmul(Tensor out, Tensor in, Tensor weight, Tensor bias, Epilogue epilogue) {
        enter();
        matmuls.matmul(out, in, weight, bias, epilogue);
    }

    @Override
    public void matmulBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight) {
        enter();
        matmuls.matmulBackward(din, dweight, dbias, dout, in, weight);
    }

    @Override
    public void gelu(Tensor out, Tensor in) {
        enter();
        activations.gelu(out, in);
    }

    @Override
    public void geluBackward(Tensor din, Tensor pre, Tensor dout) {
        enter();
        activations.geluBackward(din, pre, dout);
    }

    @Override
    public void glu(Tensor out, Tensor in, Glu kind) {
        enter();
        activations.glu(out, in, kind);
    }

    @Override
    public void gluBackward(Tensor din, Tensor dout, Tensor in, Glu kind) {
        enter();
        activations.gluBackward(din, dout, in, kind);
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        enter();
        activations.add(out, a, b);
    }

    @Override
    public void scale(Tensor t, float s) {
        enter();
        activations.scale(t, s);
    }

    @Override
    public void rope(Tensor qkv, int heads, float theta, int posOffset) {
        enter();
        attention.rope(qkv, heads, theta, posOffset);
    }

    @Override
    public void ropeBackward(Tensor dqkv, int heads, float theta) {
        enter();
        attention.ropeBackward(dqkv, heads, theta);
    }

    @Override
    public void attention(Tensor out, Tensor lse, Tensor qkv, int heads, Mask mask) {
        enter();
        attention.attention(out, lse, qkv, heads, mask);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, Mask mask) {
        enter();
        attention.attentionBackward(dqkv, dout, qkv, out, lse, heads, mask);
    }

    @Override
    public void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, int pos, int heads) {
        enter();
        attention.attentionCached(out, qkv, kCache, vCache, pos, heads);
    }

    @Override
    public void dropout(Tensor out, Tensor in, float p, long seed) {
        enter();
        activations.dropout("dropout", out, in, p, seed);
    }

    @Override
    public void dropoutBackward(Tensor din, Tensor dout, float p, long seed) {
        enter();
        activations.dropout("dropoutBackward", din, dout, p, seed);
    }

    @Override
    public void pool(Tensor out, Tensor in, Tensor segments) {
        enter();
        rows.pool(out, in, segments);
    }

    @Override
    public void poolBackward(Tensor din, Tensor dout, Tensor segments) {
        enter();
        rows.poolBackward(din, dout, segments);
    }

    @Override
    public void crossEntropy(Tensor losses, Tensor logits, Tensor targets, int vocab, float gradScale) {
        enter();
        this.losses.crossEntropy(losses, logits, targets, vocab, gradScale);
    }

    @Override
    public void klDivergence(Tensor losses, Tensor student, Tensor teacher, int vocab, float temperature, float gradScale) {
        enter();
        distillation.klDivergence(losses, student, teacher, vocab, temperature, gradScale);
    }

    @Override
    public void cosineLoss(Tensor losses, Tensor da, Tensor a, Tensor b, float gradScale) {
        enter();
        distillation.cosineLoss(losses, da, a, b, gradScale);
    }

    @Override
    public void globalNorm(Tensor out, Tensor x) {
        enter();
        optim.globalNorm(out, x);
    }

    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor master, Tensor gradNorm, AdamW hp) {
        enter();
        optim.adamW(params, grads, m, v, master, gradNorm, hp);
    }
}
