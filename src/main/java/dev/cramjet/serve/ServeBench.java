package dev.cramjet.serve;

import dev.cramjet.infer.Sampler;
import dev.cramjet.nn.GPT;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.LinkedHashMap;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The serving benchmark behind {@code cramjet bench --serve}: the {@link Engine} (continuous batching, the same code
 * the HTTP server drives, without the sockets) under 1, 4, 16 and 64 concurrent streams. Every stream has a prompt
 * of random ids and generates exactly {@code tokens} tokens (end of text is disabled: a random model would stop at
 * random), sampling over the model's whole vocabulary at temperature 1. All streams of a level are submitted at
 * once, with one slot each, so the level measures what c simultaneous users get:
 * <ul>
 * <li>aggregate tokens/s: all tokens generated ÷ the wall-clock time from submission until the last stream ends
 *     (prompt processing included);</li>
 * <li>per-stream decode tokens/s: a stream's tokens after its first ÷ the time from its first token to its last;</li>
 * <li>time to first token, p50 and p99 over the level's streams (and rounds): submission to the first token, which
 *     includes waiting for the prompts submitted alongside it;</li>
 * <li>tokens per CPU-second of the engine's thread: with one compute thread ({@code -Dcramjet.threads=1}) that
 *     thread does all the work, so this figure holds on a machine that other processes load, where wall-clock
 *     figures do not.</li>
 * </ul>
 */
public final class ServeBench {
    private ServeBench() {}

    /** One level's figures. */
    public record Level(int streams, int rounds, long tokens, double seconds, double aggregateTokensPerSecond,
                        double decodeTokensPerSecond, double ttftP50, double ttftP99, double cpuSeconds) {
        /** Tokens generated per CPU-second of the engine's thread. */
        public double tokensPerCpuSecond() { return tokens / cpuSeconds; }

        public Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("streams", (long) streams);
            m.put("rounds", (long) rounds);
            m.put("tokens", tokens);
            m.put("seconds", seconds);
            m.put("aggregate_tokens_per_s", aggregateTokensPerSecond);
            m.put("decode_tokens_per_s_per_stream", decodeTokensPerSecond);
            m.put("ttft_p50_s", ttftP50);
            m.put("ttft_p99_s", ttftP99);
            m.put("engine_cpu_s", cpuSeconds);
            m.put("tokens_per_engine_cpu_s", tokensPerCpuSecond());
            return m;
        }
    }

    /**
     * Runs each level in {@code levels} after a short warm-up (so the JIT has compiled the kernels), {@code rounds}
     * times for a level of one stream (to have more than one first-token time), once otherwise; reports each level
     * to {@code out} as it finishes. Each level has an engine of its own and first runs one untimed round on it: the
     * timed rounds then find what a server has after its first requests — its caches' memory touched and their
     * per-head copies made ({@code FlashAttention.Panels}), the collector's promotion of those done — instead of
     * paying, inside the timing, young collections that copy hundreds of megabytes (0.2–0.6 s each, several per
     * level, on the development machine).
     */
    public static List<Level> run(GPT model, int[] levels, int prompt, int tokens, int chunk, Consumer<Level> out)
            throws InterruptedException {
        int vocab = model.config().vocabSize();
        // Token bytes are never looked at by anyone here; end of text is -1, which the sampler never draws.
        Engine.Vocabulary v = new Engine.Vocabulary(vocab, -1, id -> ("t" + id).getBytes(StandardCharsets.UTF_8));
        SplittableRandom rng = new SplittableRandom(42);
        measure(model, v, 2, prompt, 4, chunk, 1, rng);                                   // warm-up
        List<Level> all = new ArrayList<>();
        for (int c : levels) {
            Level l = measure(model, v, c, prompt, tokens, chunk, c == 1 ? 4 : 1, rng);
            all.add(l);
            out.accept(l);
        }
        return all;
    }

    /** One round's clock readings: per stream its first and last token and count, and the round's span. */
    private record Round(long[] first, long[] last, int[] count, long t0, long t1, long cpu) {}

    private static Level measure(GPT model, Engine.Vocabulary v, int streams, int prompt, int tokens, int chunk, int rounds,
                                 SplittableRandom rng) throws InterruptedException {
        double[] ttft = new double[streams * rounds];
        double decodeSum = 0, seconds = 0, cpu = 0;
        long generated = 0;
        try (Engine engine = new Engine(model, v, streams, prompt + tokens, chunk, 0)) {
            round(engine, v, streams, prompt, tokens, rng);                               // untimed: warms the engine
            for (int r = 0; r < rounds; r++) {
                Round x = round(engine, v, streams, prompt, tokens, rng);
                seconds += (x.t1() - x.t0()) / 1e9;
                cpu += x.cpu() / 1e9;
                for (int s = 0; s < streams; s++) {
                    generated += x.count()[s];
                    ttft[r * streams + s] = (x.first()[s] - x.t0()) / 1e9;
                    decodeSum += (x.count()[s] - 1) / ((x.last()[s] - x.first()[s]) / 1e9);
                }
            }
        }
        Arrays.sort(ttft);
        return new Level(streams, rounds, generated, seconds, generated / seconds, decodeSum / (streams * rounds),
                quantile(ttft, 0.5), quantile(ttft, 0.99), cpu);
    }

    /** Submits the streams' requests at once and waits until every one has ended. */
    private static Round round(Engine engine, Engine.Vocabulary v, int streams, int prompt, int tokens,
                               SplittableRandom rng) throws InterruptedException {
        long[] first = new long[streams], last = new long[streams];
        int[] count = new int[streams];
        CountDownLatch done = new CountDownLatch(streams);
        List<Engine.Job> jobs = new ArrayList<>();
        for (int s = 0; s < streams; s++) {
            int[] ids = new int[prompt];
            for (int i = 0; i < prompt; i++) ids[i] = rng.nextInt(v.size());
            jobs.add(new Engine.Job(ids, tokens, new Sampler.Settings(1, 0, 1, 1, rng.nextLong()), List.of(),
                    new int[0], -1, s));
        }
        Engine.Sink sink = new Engine.Sink() {
            @Override
            public void text(int index, String piece, List<Engine.TokenLogprob> logprobs) {
                long now = System.nanoTime();
                if (count[index]++ == 0) first[index] = now;
                last[index] = now;
            }

            @Override
            public void end(int index, String reason, int promptTokens, int completionTokens) {
                count[index] = completionTokens;
                done.countDown();
            }

            @Override
            public void fail(ApiError error) { throw new IllegalStateException("benchmark request failed: " + error.getMessage()); }
        };
        long c0 = engine.cpuNanos(), t0 = System.nanoTime();
        engine.submit(jobs, sink, Long.MAX_VALUE);
        if (!done.await(30, TimeUnit.MINUTES)) throw new IllegalStateException("benchmark level did not finish");
        long t1 = System.nanoTime();
        return new Round(first, last, count, t0, t1, engine.cpuNanos() - c0);
    }

    /** The q-quantile of sorted values, linearly interpolated. */
    private static double quantile(double[] sorted, double q) {
        double pos = q * (sorted.length - 1);
        int lo = (int) Math.floor(pos), hi = Math.min(sorted.length - 1, lo + 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }
}
