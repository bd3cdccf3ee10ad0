package dev.cramjet.serve;

import dev.cramjet.CramjetException;
import dev.cramjet.infer.Sampler;
import dev.cramjet.infer.Utf8Stream;
import dev.cramjet.nn.GPT;
import dev.cramjet.tokenizer.Tokenizer;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntFunction;

/**
 * The decoding loop behind the API: continuous batching over a {@link GPT.Batch}. One thread owns the batch; requests
 * wait in a bounded queue until a slot is free, then take part in every step until they finish:
 * <ul>
 * <li>a step holds one token for every sequence that is generating (the token it sampled last) and, in the room
 *     left, chunks of the prompts being read, at most {@code chunk} tokens each, taken in turn — so a long prompt
 *     is read over several steps and never stalls the sequences already generating;</li>
 * <li>after the step, each sequence whose prompt is complete samples its next token with its own {@link Sampler}
 *     (its own seed), and its text goes out through a {@link StopFilter} to its {@link Sink};</li>
 * <li>a sequence leaves at end of text, a stop sequence, its token limit, cancellation (the client went away) or
 *     its deadline, and its slot takes the next queued sequence before the next step.</li>
 * </ul>
 * A request with n choices is n sequences. Sinks are called on the engine's thread and must not block.
 */
public final class Engine implements AutoCloseable {
    /**
     * One sequence to generate: the prompt's ids, at most maxTokens new ones, the sampler's settings, stop
     * sequences, tokens that stop it like end of text does, how many top alternatives to report with each token's
     * log-probability (-1: no log-probabilities), and the choice index it reports under.
     */
    record Job(int[] prompt, int maxTokens, Sampler.Settings settings, List<String> stops, int[] stopTokens,
               int topLogprobs, int index) {}

    /** A generated token (its text and bytes), its log-probability, and the most likely alternatives. */
    record TokenLogprob(String token, byte[] bytes, double logprob, List<TokenLogprob> top) {}

    /** Where a request's output goes, called on the engine's thread. */
    interface Sink {
        /** Text of choice {@code index} that is final (stop sequences held back), with its tokens' logprobs. */
        void text(int index, String piece, List<TokenLogprob> logprobs);

        /** Choice {@code index} is done: "stop" (end of text or a stop sequence) or "length". */
        void end(int index, String finishReason, int promptTokens, int completionTokens);

        /** The request failed (its deadline passed, the server shut down, or a bug); no more calls follow. */
        void fail(ApiError error);
    }

    /** A request in the engine: {@link #cancel} frees its slots at the next step. */
    static final class Ticket {
        final Sink sink;
        final long deadlineNanos;
        private volatile boolean cancelled, failed;

        Ticket(Sink sink, long deadlineNanos) {
            this.sink = sink;
            this.deadlineNanos = deadlineNanos;
        }

        void cancel() { cancelled = true; }
    }

    private record Queued(Ticket ticket, Job job) {}

    /** A sequence in a slot. */
    private final class Live {
        final Ticket ticket;
        final Job job;
        final int slot;
        /** Prompt then generated ids. */
        final int[] ids;
        final Sampler sampler;
        final Utf8Stream utf8 = new Utf8Stream();
        final StopFilter filter;
        /** Prompt tokens already in the cache; the token to feed next once the prompt is in. */
        int read, length, pending = -1;
        /** Logprobs of tokens whose text is still held back (with the visible offset where each one's text starts). */
        final ArrayDeque<TokenLogprob> heldLogprobs = new ArrayDeque<>();
        final ArrayDeque<Integer> heldStarts = new ArrayDeque<>();
        int visible;

        Live(Queued q, int slot) {
            this.ticket = q.ticket();
            this.job = q.job();
            this.slot = slot;
            ids = new int[job.prompt().length + job.maxTokens()];
            System.arraycopy(job.prompt(), 0, ids, 0, job.prompt().length);
            length = job.prompt().length;
            sampler = new Sampler(job.settings(), vocab);
            filter = new StopFilter(job.stops());
        }

        boolean prefilling() { return read < job.prompt().length; }

        int generated() { return length - job.prompt().length; }
    }

    /**
     * What the engine needs of a tokenizer: the ids it samples from [0, size), the end-of-text id, and each id's
     * bytes. The benchmark gives a model-sized one of its own.
     */
    record Vocabulary(int size, int eot, IntFunction<byte[]> bytes) {
        static Vocabulary of(Tokenizer t) { return new Vocabulary(t.vocabSize(), t.eot(), t::token); }
    }

    /**
     * Prompt tokens a sequence reads per step unless told otherwise. A step holds the generating sequences' tokens
     * plus up to this many prompt tokens, so it is the trade between the pause a new prompt causes the sequences
     * already generating (gpt2-124m reads about 570 prompt tokens a second on one core of the development machine:
     * 256 take 0.45 s) and how fast a burst of prompts is read: prompts that arrive together start, and so end, within a
     * few steps of each other instead of one after another (see docs/SERVING.md).
     */
    public static final int CHUNK = 256;

    private final GPT.Batch batch;
    private final Vocabulary vocabulary;
    private final int vocab, chunk, queueLimit;
    private final Live[] slots;
    private final ArrayDeque<Queued> queue = new ArrayDeque<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final Thread thread;
    /** The sequence behind each entry of the step being run. */
    private final Live[] entryOf;
    private final int[] topIds = new int[Requests.MAX_TOP_LOGPROBS];
    private final double[] topValues = new double[Requests.MAX_TOP_LOGPROBS];
    /** Round-robin start among prefilling slots, so every prompt gets its turn. */
    private int nextPrefill;
    private volatile boolean accepting = true, closed;
    private volatile int active;
    private volatile long generatedTotal, steps;

    /**
     * @param slots      sequences decoded together
     * @param context    positions each sequence may hold (prompt + generated)
     * @param chunk      prompt tokens one sequence reads per step
     * @param queueLimit sequences that may wait for a slot
     */
    public Engine(GPT model, Tokenizer tokenizer, int slots, int context, int chunk, int queueLimit) {
        this(model, Vocabulary.of(tokenizer), slots, context, chunk, queueLimit);
    }

    Engine(GPT model, Vocabulary vocabulary, int slots, int context, int chunk, int queueLimit) {
        if (chunk < 1) throw new CramjetException("--chunk must be at least 1 token, got " + chunk);
        if (queueLimit < 0) throw new CramjetException("--queue must be at least 0, got " + queueLimit);
        if (vocabulary.size() > model.config().vocabSize()) {
            throw new CramjetException("the tokenizer has " + vocabulary.size() + " tokens but the model only "
                    + model.config().vocabSize() + ": they do not belong together");
        }
        this.batch = model.batch(slots, context, slots + chunk);
        this.vocabulary = vocabulary;
        this.vocab = vocabulary.size();
        this.chunk = chunk;
        this.queueLimit = queueLimit;
        this.slots = new Live[slots];
        this.entryOf = new Live[slots];
        thread = new Thread(this::loop, "cramjet-decode");
        thread.setDaemon(true);
        thread.start();
    }

    public int slots() { return slots.length; }

    /**
     * CPU time the engine's thread has used so far, in nanoseconds: with one compute thread
     * ({@code -Dcramjet.threads=1}) all the decoding work, which other processes' load does not inflate.
     */
    long cpuNanos() { return ManagementFactory.getThreadMXBean().getThreadCpuTime(thread.threadId()); }

    public int context() { return batch.context(); }

    int active() { return active; }

    int queued() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    long generatedTotal() { return generatedTotal; }

    long steps() { return steps; }

    /**
     * Queues the sequences of one request; throws 429 when the queue cannot take them all, 503 when the server is
     * shutting down.
     */
    Ticket submit(List<Job> jobs, Sink sink, long deadlineNanos) {
        Ticket t = new Ticket(sink, deadlineNanos);
        lock.lock();
        try {
            if (!accepting) throw new ApiError(503, "server_error", "shutting_down", null, "the server is shutting down", 5);
            // Free slots take the first queued sequences at the next step, so the queue may hold that many more.
            int free = slots.length - active;
            if (queue.size() + jobs.size() > queueLimit + free) {
                throw new ApiError(429, "rate_limit_error", "too_many_requests", null, "the server is busy: " + active
                        + " sequences are generating and " + queue.size() + " are waiting; retry shortly", 1);
            }
            for (Job j : jobs) queue.add(new Queued(t, j));
            work.signal();
        } finally {
            lock.unlock();
        }
        return t;
    }

    /** Stops taking requests, lets those in flight run until {@code deadlineNanos}, then fails what is left. */
    void drain(long deadlineNanos) throws InterruptedException {
        accepting = false;
        List<Queued> waiting;
        lock.lock();
        try {
            waiting = new ArrayList<>(queue);
            queue.clear();
        } finally {
            lock.unlock();
        }
        ApiError down = new ApiError(503, "server_error", "shutting_down", null, "the server is shutting down", 5);
        for (Queued q : waiting) failOnce(q.ticket(), down);
        while (active > 0 && System.nanoTime() < deadlineNanos) Thread.sleep(20);
        close();
    }

    @Override
    public void close() {
        accepting = false;
        closed = true;
        lock.lock();
        try {
            work.signal();
        } finally {
            lock.unlock();
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- the engine's thread ---------------------------------------------------------------------------------

    private void loop() {
        while (true) {
            lock.lock();
            try {
                while (!closed && active == 0 && queue.isEmpty()) work.await(1, TimeUnit.SECONDS);
                if (closed) break;
                admit();
            } catch (InterruptedException e) {
                break;
            } finally {
                lock.unlock();
            }
            try {
                step();
            } catch (RuntimeException e) {
                // A bug, not a request's fault: fail what was running and keep serving.
                ApiError err = new ApiError(500, "server_error", "internal_error", null, "internal error: " + e, 0);
                e.printStackTrace();
                batch.clear();
                for (Live l : slots) if (l != null) { failOnce(l.ticket, err); free(l); }
            }
        }
        ApiError down = new ApiError(503, "server_error", "shutting_down", null, "the server shut down before this request finished", 5);
        for (Live l : slots) if (l != null) { failOnce(l.ticket, down); free(l); }
        lock.lock();
        try {
            for (Queued q : queue) failOnce(q.ticket(), down);
            queue.clear();
        } finally {
            lock.unlock();
        }
    }

    /** Moves queued sequences into free slots (under the lock). */
    private void admit() {
        for (int s = 0; s < slots.length && !queue.isEmpty(); s++) {
            if (slots[s] != null) continue;
            Queued q = queue.poll();
            if (q.ticket().cancelled || q.ticket().failed) continue;
            if (System.nanoTime() > q.ticket().deadlineNanos) {
                failOnce(q.ticket(), timeout());
                continue;
            }
            batch.reset(s);
            slots[s] = new Live(q, s);
            active++;
        }
    }

    private void step() {
        long now = System.nanoTime();
        for (Live l : slots) {
            if (l == null) continue;
            if (l.ticket.cancelled || l.ticket.failed) free(l);
            else if (now > l.ticket.deadlineNanos) {
                failOnce(l.ticket, timeout());
                free(l);
            }
        }
        int entries = 0;
        for (Live l : slots) {
            if (l != null && !l.prefilling()) {
                batch.add(l.slot, l.ids, l.length - 1, l.length);
                entryOf[entries++] = l;
            }
        }
        for (int k = 0; k < slots.length && batch.queued() < batch.rows(); k++) {
            Live l = slots[(nextPrefill + k) % slots.length];
            if (l == null || !l.prefilling()) continue;
            int n = Math.min(Math.min(chunk, l.job.prompt().length - l.read), batch.rows() - batch.queued());
            batch.add(l.slot, l.ids, l.read, l.read + n);
            l.read += n;
            entryOf[entries++] = l;
        }
        nextPrefill = (nextPrefill + 1) % slots.length;
        if (entries == 0) return;
        batch.run();
        steps++;
        for (int e = 0; e < entries; e++) {
            Live l = entryOf[e];
            if (!l.prefilling()) next(l, batch.logits(e));
        }
    }

    /** Samples the sequence's next token from its logits and sends out what text it completes. */
    private void next(Live l, float[] logits) {
        Job job = l.job;
        int id = l.sampler.sample(logits, l.ids, job.prompt().length, l.length);
        if (ends(job, id)) {
            finish(l, "stop");
            return;
        }
        TokenLogprob lp = job.topLogprobs() >= 0 ? logprob(l, logits, id) : null;
        l.ids[l.length++] = id;
        generatedTotal++;
        String piece = l.utf8.feed(vocabulary.bytes().apply(id));
        if (lp != null) {
            l.heldLogprobs.add(lp);
            l.heldStarts.add(l.visible);
        }
        l.visible += piece.length();
        release(l, l.filter.push(piece), false);
        if (l.filter.stopped()) finish(l, "stop");
        else if (l.generated() == job.maxTokens()) finish(l, "length");
    }

    /** End of text, or one of the job's stop tokens. */
    private boolean ends(Job job, int id) {
        if (id == vocabulary.eot()) return true;
        for (int t : job.stopTokens()) if (t == id) return true;
        return false;
    }

    private TokenLogprob logprob(Live l, float[] logits, int id) {
        int top = l.job.topLogprobs();
        double v = l.sampler.logprob(logits, id, top, topIds, topValues);
        List<TokenLogprob> alts = new ArrayList<>(top);
        for (int k = 0; k < top; k++) alts.add(token(topIds[k], topValues[k], List.of()));
        return token(id, v, alts);
    }

    private TokenLogprob token(int id, double logprob, List<TokenLogprob> top) {
        byte[] b = vocabulary.bytes().apply(id);
        return new TokenLogprob(new String(b, StandardCharsets.UTF_8), b, logprob, top);
    }

    /**
     * Sends text the filter released, with the logprobs of the tokens whose text starts in it; {@code last} releases
     * the rest (tokens past a stop sequence are dropped).
     */
    private void release(Live l, String text, boolean last) {
        List<TokenLogprob> lps = List.of();
        int upTo = l.filter.released();
        while (!l.heldLogprobs.isEmpty() && (l.heldStarts.peek() < upTo || (last && !l.filter.stopped()))) {
            if (lps.isEmpty()) lps = new ArrayList<>();
            lps.add(l.heldLogprobs.poll());
            l.heldStarts.poll();
        }
        if (!text.isEmpty() || !lps.isEmpty()) l.ticket.sink.text(l.job.index(), text, lps);
    }

    private void finish(Live l, String reason) {
        if (!l.filter.stopped()) {
            // End of text: a character left incomplete is bad output (U+FFFD); at the token limit it is cut off.
            String tail = reason.equals("stop") ? l.utf8.finish() : "";
            String rest = tail.isEmpty() ? l.filter.finish() : l.filter.push(tail) + l.filter.finish();
            release(l, rest, true);
        }
        free(l);              // first, so a client that submits again on hearing the end finds the slot free
        if (!l.ticket.failed) l.ticket.sink.end(l.job.index(), reason, l.job.prompt().length, l.generated());
    }

    private void free(Live l) {
        if (slots[l.slot] == l) {
            slots[l.slot] = null;
            active--;
        }
    }

    private static ApiError timeout() {
        return new ApiError(503, "server_error", "timeout", null, "the request did not finish within the server's time limit", 1);
    }

    private static void failOnce(Ticket t, ApiError e) {
        synchronized (t) {
            if (t.failed) return;
            t.failed = true;
        }
        t.sink.fail(e);
    }
}
