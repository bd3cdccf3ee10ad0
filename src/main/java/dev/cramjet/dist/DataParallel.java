package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Tensor;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.Parameters;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The optimizer step of data-parallel training. Every rank trains a replica of the model on its own micro-batches
 * with the gradients pre-scaled by 1/(accumulation · W), so summing the ranks' gradients gives the gradient of the
 * mean loss over every micro-batch of the step. Then, once per optimizer step:
 * <ul>
 * <li>replicated (zero 0): all-reduce the gradient buffer (one collective), measure the norm, and every rank
 *     applies the same AdamW update to its own copy of the state;</li>
 * <li>ZeRO-1 (zero 1): reduce-scatter the gradients so rank r holds the sum of its shard, measure the shard's norm
 *     and combine the squared norms (a host reduction), update only the shard — AdamW's m, v and the fp32 master
 *     weights exist for the shard only, 1/W of the memory — and all-gather the parameters.</li>
 * </ul>
 * Shards are contiguous ranges of the gradient layout of {@value #ALIGN}-element multiples, count = ⌊n/W⌋ rounded
 * down to {@value #ALIGN}; the last rank also owns the tail n − W·count, which is all-reduced and then broadcast
 * (two tiny collectives), so every collective has equal pieces and no padding is allocated.
 *
 * <p>Checkpoints: replicated state is one {@value #REPLICATED}, written by rank 0; sharded state is one file per
 * rank, {@code optimizer-RRRRR-of-WWWWW.safetensors} (1-based, as Hugging Face names shards), with the shard's
 * first element and length in its metadata. {@link #load} reads either layout into any world size and either mode:
 * each rank takes the elements of its own range from whichever files hold them (resharding).
 */
public final class DataParallel {
    public static final String REPLICATED = "optimizer.safetensors";
    static final int ALIGN = 64;
    private static final String SHARDS = "optimizer-*-of-*.safetensors";

    private final World world;
    private final Communicator comm;
    private final Backend be;
    private final AdamWOptimizer opt;
    private final boolean sharded;
    private final Tensor grads, values;
    private final long total, count, tail;
    private final double[] squares = new double[1];
    private long commNanos;

    /**
     * The step for {@code params} on this world: {@code shard} selects ZeRO-1. Every rank starts from rank 0's
     * weights (a broadcast), so replicas agree whatever their initialisation did.
     */
    public DataParallel(World world, Backend backend, Parameters params, AdamWOptimizer.Settings settings, boolean shard) {
        this.world = world;
        this.comm = world.comm();
        this.be = backend;
        this.grads = params.gradients();
        if (grads == null) throw new IllegalArgumentException("the model trains no parameters: nothing to optimize");
        this.values = params.values();
        this.total = grads.size();
        this.sharded = shard;
        int w = comm.size(), r = comm.rank();
        if (shard && (params.count() != total || values.size() != total)) {
            throw new CramjetException("zero 1 shards the optimizer of a model that trains all its parameters; this one trains "
                    + total + " of " + params.count() + " (a frozen base or int8 weights): use zero 0");
        }
        this.count = shard ? total / w / ALIGN * ALIGN : total;
        this.tail = shard ? total - w * count : 0;
        long from = shard ? r * count : 0, to = shard ? (r == w - 1 ? total : from + count) : total;
        this.opt = new AdamWOptimizer(backend, params, settings, from, to);
        if (w > 1) {
            comm.broadcast(values, 0);
            opt.restore(0);
        }
    }

    /** A single process around an optimizer built elsewhere. */
    public DataParallel(Backend backend, Parameters params, AdamWOptimizer optimizer) {
        this.world = World.single(backend);
        this.comm = world.comm();
        this.be = backend;
        this.grads = params.gradients();
        this.values = params.values();
        this.total = grads.size();
        this.sharded = false;
        this.count = total;
        this.tail = 0;
        this.opt = optimizer;
        if (optimizer.size() != total) throw new IllegalArgumentException("the optimizer owns " + optimizer.size() + " of " + total + " elements");
    }

    public World world() { return world; }

    public boolean sharded() { return sharded; }

    /** This rank's optimizer (its shard's, under ZeRO-1). */
    public AdamWOptimizer optimizer() { return opt; }

    /**
     * Combines the ranks' gradients and returns the global gradient norm (before clipping), which clips the next
     * {@link #update}. A world of one only measures the norm.
     */
    public float gradNorm() {
        if (comm.size() == 1) return opt.gradNorm();
        long t0 = System.nanoTime();
        Heartbeat hb = world.heartbeat();
        try {
            if (!sharded) {
                comm.allReduce(grads, Communicator.Op.SUM);
                hb.enter(Heartbeat.Wait.DEVICE);
                try {
                    return opt.gradNorm();
                } finally {
                    hb.exit();
                }
            }
            int w = comm.size(), r = comm.rank();
            if (count > 0) comm.reduceScatter(grads.view(0, (int) (w * count)), grads.view(r * count, (int) count), Communicator.Op.SUM);
            if (tail > 0) comm.allReduce(grads.view(w * count, (int) tail), Communicator.Op.SUM);
            hb.enter(Heartbeat.Wait.DEVICE);
            float part;
            try {
                part = opt.gradNorm();
            } finally {
                hb.exit();
            }
            squares[0] = (double) part * part;
            comm.allReduce(squares);
            float norm = (float) Math.sqrt(squares[0]);
            opt.useNorm(norm);
            return norm;
        } finally {
            commNanos += System.nanoTime() - t0;
        }
    }

    /** One AdamW update at {@code lr}; under ZeRO-1 then the all-gather that gives every rank the new weights. */
    public void update(float lr) {
        opt.update(lr);
        if (!sharded || comm.size() == 1) return;
        long t0 = System.nanoTime();
        int w = comm.size(), r = comm.rank();
        if (count > 0) comm.allGather(values.view(r * count, (int) count), values.view(0, (int) (w * count)));
        if (tail > 0) comm.broadcast(values.view(w * count, (int) tail), w - 1);
        commNanos += System.nanoTime() - t0;
    }

    /** Seconds spent exchanging gradients and weights so far (waiting for the other ranks included). */
    public double communicationSeconds() { return commNanos / 1e9; }

    /** The most precise copy of a parameter this rank holds (see {@link AdamWOptimizer#weights}). */
    public Tensor weights(Param p) { return opt.weights(p); }

    public int stepCount() { return opt.stepCount(); }

    // ---- checkpoints ---------------------------------------------------------------------------------------

    /** The file this rank's sharded state goes to. */
    static String shardFile(int rank, int size) {
        return String.format(Locale.ROOT, "optimizer-%05d-of-%05d.safetensors", rank + 1, size);
    }

    /**
     * Writes this rank's part of the optimizer state into {@code dir}: the replicated file from rank 0 only, or
     * this rank's shard file. Every rank calls it (the checkpoint protocol waits for all before the manifest).
     */
    public void save(Path dir) throws IOException {
        if (!sharded && comm.rank() != 0) return;
        int n = (int) opt.size();
        List<Safetensors.Item> items = new ArrayList<>(List.of(
                new Safetensors.Item("m", new long[] {n}, download(opt.m())),
                new Safetensors.Item("v", new long[] {n}, download(opt.v()))));
        if (opt.master() != null) items.add(new Safetensors.Item("master", new long[] {n}, download(opt.master())));
        Map<String, String> meta = new TreeMap<>(Map.of("step", Integer.toString(opt.stepCount()), "first", Long.toString(opt.from()),
                "total", Long.toString(total)));  // sorted: the same state gives the same bytes
        Safetensors.write(dir.resolve(sharded ? shardFile(comm.rank(), comm.size()) : REPLICATED), meta, items);
    }

    private float[] download(Tensor t) {
        float[] h = new float[(int) t.size()];
        be.download(t, h);
        return h;
    }

    /** A file of optimizer state and the elements [first, first + length) of the layout it holds. */
    private record Piece(Path file, long first, long length, int step) {}

    /**
     * Restores this rank's optimizer state from {@code dir}, whichever layout and world size wrote it; call after
     * the weights are loaded (the fp32 masters start from them when the files hold none).
     */
    public void load(Path dir) throws IOException {
        List<Piece> pieces = pieces(dir);
        long lo = opt.from(), hi = lo + opt.size();
        opt.restore(pieces.getFirst().step);
        for (Piece p : pieces) {
            long a = Math.max(lo, p.first), b = Math.min(hi, p.first + p.length);
            if (a >= b) continue;
            try (Safetensors.Reader r = Safetensors.open(p.file)) {
                upload(opt.m(), r, "m", p, a, b);
                upload(opt.v(), r, "v", p, a, b);
                if (opt.master() != null && r.tensors().containsKey("master")) upload(opt.master(), r, "master", p, a, b);
            }
        }
    }

    private void upload(Tensor dst, Safetensors.Reader r, String name, Piece p, long a, long b) {
        Safetensors.Entry e = r.entry(name);
        if (e.numel() != p.length) {
            throw new CramjetException(p.file + ": tensor '" + name + "' has " + e.numel() + " elements, the file's range holds " + p.length);
        }
        float[] all = r.read(name);
        be.upload(dst.view(a - opt.from(), (int) (b - a)), Arrays.copyOfRange(all, (int) (a - p.first), (int) (b - p.first)));
    }

    /** The optimizer files in {@code dir}, checked to cover [0, total) exactly once, all at one step. */
    private List<Piece> pieces(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        if (Files.isRegularFile(dir.resolve(REPLICATED))) files.add(dir.resolve(REPLICATED));
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, SHARDS)) {
            s.forEach(files::add);
        }
        if (files.isEmpty()) throw new CramjetException(dir + ": no optimizer state (" + REPLICATED + " or " + SHARDS + ")");
        List<Piece> pieces = new ArrayList<>();
        for (Path f : files) {
            try (Safetensors.Reader r = Safetensors.open(f)) {
                Map<String, String> meta = r.metadata();
                long step = number(f, meta, "step", null);
                if (step > Integer.MAX_VALUE) throw new CramjetException(f + ": optimizer step " + step + " is beyond what the optimizer counts (2^31 - 1)");
                long first = number(f, meta, "first", "0");
                long fileTotal = number(f, meta, "total", Long.toString(r.entry("m").numel()));
                if (fileTotal != total) {
                    throw new CramjetException(f + ": optimizer state for " + fileTotal + " trained elements, the model trains " + total);
                }
                pieces.add(new Piece(f, first, r.entry("m").numel(), (int) step));
            }
        }
        pieces.sort(Comparator.comparingLong(Piece::first));
        long at = 0;
        for (Piece p : pieces) {
            if (p.first != at) {
                throw new CramjetException(dir + ": optimizer files do not tile the " + total + " elements: " + p.file.getFileName()
                        + " starts at " + p.first + ", expected " + at + (p.first < at ? " (overlap)" : " (a shard is missing)"));
            }
            if (p.step != pieces.getFirst().step) {
                throw new CramjetException(p.file + ": optimizer step " + p.step + ", but " + pieces.getFirst().file.getFileName()
                        + " is at step " + pieces.getFirst().step);
            }
            at += p.length;
        }
        if (at != total) throw new CramjetException(dir + ": optimizer files hold " + at + " of " + total + " elements (a shard is missing)");
        return pieces;
    }

    private static long number(Path f, Map<String, String> meta, String key, String fallback) {
        String v = meta.getOrDefault(key, fallback);
        if (v == null || !v.matches("\\d{1,18}")) throw new CramjetException(f + ": metadata has no valid " + key + " (got " + v + ")");
        return Long.parseLong(v);
    }
}
