package dev.cramjet.tokenizer;

import dev.cramjet.CramjetException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

/**
 * Learns a byte-level BPE vocabulary. First the documents are pre-tokenized and each distinct pre-token counted,
 * in parallel, one count table per thread, merged at the end; the corpus is read once and never kept. Then the
 * classic incremental algorithm runs on the distinct pre-tokens ("words"): a count for every adjacent pair, for
 * every pair the list of words that contain it, and a max-heap of pairs by count with lazy deletion. Each merge
 * rewrites only the words on its pair's list and adjusts the counts of the pairs around each occurrence, so no
 * merge rescans the corpus.
 *
 * <p>Ids: 0–255 are the bytes themselves, then one id per merge in the order learned, then the specials. Ties in
 * count go to the pair with the smaller (left, right) ids, so a corpus always yields the same tokenizer whatever
 * the thread count.
 */
public final class BpeTrainer {
    /** Called as training advances: phase "count" (done = characters read, total unknown = -1), then "merge" (merges). */
    @FunctionalInterface
    public interface Progress {
        void report(String phase, long done, long total);

        Progress NONE = (phase, done, total) -> {};
    }

    private static final int BATCH_CHARS = 1 << 20;

    private final Progress progress;
    private final int threads;

    public BpeTrainer() { this(Progress.NONE); }

    public BpeTrainer(Progress progress) {
        this.progress = progress;
        this.threads = Runtime.getRuntime().availableProcessors();
    }

    /** A tokenizer of exactly vocabSize ids (fewer if the corpus runs out of pairs to merge), the specials last. */
    public Tokenizer train(Iterable<String> documents, int vocabSize, List<String> specials) {
        check(vocabSize, specials);
        PreTokenizer pre = PreTokenizer.of(PreTokenizer.CL100K);
        byte[][] specialBytes = specials.stream().map(s -> s.getBytes(StandardCharsets.UTF_8))
                .sorted((a, b) -> Integer.compare(b.length, a.length)).toArray(byte[][]::new);
        WordCounter counted = count(documents, pre, specialBytes);
        Merger m = new Merger(counted);
        counted = null; // the words are copied out; let the table go before merging
        m.run(vocabSize - specials.size() - 256, progress);

        int size = 256 + m.merges + specials.size();
        byte[][] tokens = new byte[size][];
        for (int b = 0; b < 256; b++) tokens[b] = new byte[] {(byte) b};
        int[] left = Arrays.copyOf(m.mergeLeft, m.merges), right = Arrays.copyOf(m.mergeRight, m.merges);
        int[] result = new int[m.merges];
        for (int r = 0; r < m.merges; r++) {
            result[r] = 256 + r;
            byte[] a = tokens[left[r]], b = tokens[right[r]];
            byte[] t = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, t, a.length, b.length);
            tokens[256 + r] = t;
        }
        Map<String, Integer> specialIds = new LinkedHashMap<>();
        for (int k = 0; k < specials.size(); k++) {
            int id = 256 + m.merges + k;
            tokens[id] = specials.get(k).getBytes(StandardCharsets.UTF_8);
            specialIds.put(specials.get(k), id);
        }
        return new Tokenizer(tokens, left, right, result, specialIds, pre);
    }

    /** Refuses settings {@link #train} cannot honour, so a caller can check them before it reads a corpus. */
    public static void check(int vocabSize, List<String> specials) {
        if (new HashSet<>(specials).size() != specials.size()) throw new CramjetException("special tokens repeat: " + specials);
        for (String s : specials) if (s.isEmpty()) throw new CramjetException("a special token is the empty string");
        if (vocabSize < 256 + specials.size() || vocabSize > 1 << 24) {
            throw new CramjetException("vocabulary size " + vocabSize + " must be at least 256 bytes + "
                    + specials.size() + " specials = " + (256 + specials.size()) + " (and at most 16777216)");
        }
    }

    // ---- phase 1: count pre-tokens in parallel ----------------------------------------------------------------

    private WordCounter count(Iterable<String> documents, PreTokenizer pre, byte[][] specials) {
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "cramjet-bpe-count");
            t.setDaemon(true);
            return t;
        });
        List<WordCounter> counters = new ArrayList<>();
        ThreadLocal<WordCounter> local = ThreadLocal.withInitial(() -> {
            WordCounter c = new WordCounter();
            synchronized (counters) { counters.add(c); }
            return c;
        });
        Semaphore inFlight = new Semaphore(2 * threads); // bounds the text held in queued batches
        List<Future<?>> futures = new ArrayList<>();
        long read = 0;
        try {
            List<String> batch = new ArrayList<>();
            int chars = 0;
            for (String doc : documents) {
                batch.add(doc);
                chars += doc.length();
                if (chars >= BATCH_CHARS) {
                    submit(pool, inFlight, futures, batch, local, pre, specials);
                    read += chars;
                    progress.report("count", read, -1);
                    batch = new ArrayList<>();
                    chars = 0;
                }
            }
            if (!batch.isEmpty()) submit(pool, inFlight, futures, batch, local, pre, specials);
            for (Future<?> f : futures) f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CramjetException("tokenizer training interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause());
        } finally {
            pool.shutdownNow();
        }
        WordCounter all = counters.isEmpty() ? new WordCounter() : counters.get(0);
        for (int k = 1; k < counters.size(); k++) {
            all.addAll(counters.get(k));
            counters.set(k, null);
        }
        return all;
    }

    private static void submit(ExecutorService pool, Semaphore inFlight, List<Future<?>> futures, List<String> batch,
                               ThreadLocal<WordCounter> local, PreTokenizer pre, byte[][] specials)
            throws InterruptedException, java.util.concurrent.ExecutionException {
        inFlight.acquire();
        for (Future<?> f : futures) if (f.isDone()) f.get(); // a failed batch fails the training now
        futures.removeIf(Future::isDone);
        futures.add(pool.submit(() -> {
            try {
                WordCounter c = local.get();
                for (String doc : batch) {
                    byte[] t = doc.getBytes(StandardCharsets.UTF_8);
                    Tokenizer.splitSpecials(t, specials, (from, to, special) ->
                            pre.split(t, from, to, (a, b) -> c.add(t, a, b, 1)));
                }
            } finally {
                inFlight.release();
            }
        }));
    }

    // ---- phase 2: merge ----------------------------------------------------------------------------------------

    /** The incremental merge over the distinct words. Token ids: bytes 0–255, merge r makes 256 + r. */
    private static final class Merger {
        // Words: symbols[start[w] .. start[w] + len[w]) with frequency freq[w]; merging shrinks len in place.
        final int[] symbols, start, len;
        final long[] freq;
        final int[] stamp;
        // Pairs by id: left, right, count, and the words that (may) contain the pair, appended without repeats in a row.
        // A list of one word is just lastWord (no array): most pairs are in one word.
        final LongIntMap pairIds;
        int pairs;
        int[] pairLeft = new int[1 << 16], pairRight = new int[1 << 16], lastWord = new int[1 << 16], listSize = new int[1 << 16];
        long[] pairCount = new long[1 << 16];
        int[][] lists = new int[1 << 16][];
        int[] touchedAt = new int[1 << 16];
        final IntList touched = new IntList(1024);
        // Max-heap of (count, pair) entries, possibly stale: checked against pairCount when popped. It holds only
        // pairs counted at least heapFloor times: most pairs occur once, and they matter only when nothing else is
        // left, at which point the floor drops to 1 and they all go in.
        int heapFloor = 2;
        long[] heapCount = new long[1 << 16];
        int[] heapPair = new int[1 << 16];
        int heapSize;
        int[] mergeLeft = new int[256], mergeRight = new int[256];
        int merges;

        Merger(WordCounter c) {
            int words = c.size();
            start = new int[words];
            len = new int[words];
            freq = new long[words];
            stamp = new int[words];
            long total = 0;
            for (int w = 0; w < words; w++) total += c.length(w);
            if (total > Integer.MAX_VALUE - 8) throw new CramjetException("too many distinct pre-tokens to train on (" + total + " bytes)");
            symbols = new int[(int) total];
            int p = 0;
            for (int w = 0; w < words; w++) {
                start[w] = p;
                len[w] = c.length(w);
                freq[w] = c.count(w);
                p = c.copyBytes(w, symbols, p);
            }
            pairIds = new LongIntMap(1 << 16);
            Arrays.fill(stamp, -1);
            for (int w = 0; w < words; w++) {
                for (int i = start[w], end = start[w] + len[w]; i + 1 < end; i++) {
                    int pid = pairId(symbols[i], symbols[i + 1]);
                    pairCount[pid] += freq[w];
                    addWord(pid, w);
                }
            }
            for (int pid = 0; pid < pairs; pid++) if (pairCount[pid] >= heapFloor) push(pairCount[pid], pid);
        }

        void run(int maxMerges, Progress progress) {
            progress.report("merge", 0, maxMerges);
            while (merges < maxMerges) {
                if (heapSize == 0) {
                    if (heapFloor == 1) break;
                    heapFloor = 1;
                    for (int pid = 0; pid < pairs; pid++) if (pairCount[pid] > 0) push(pairCount[pid], pid);
                    continue;
                }
                long count = heapCount[0];
                int pid = heapPair[0];
                pop();
                if (count != pairCount[pid]) {
                    if (pairCount[pid] >= heapFloor) push(pairCount[pid], pid);
                    continue;
                }
                int a = pairLeft[pid], b = pairRight[pid], c = 256 + merges;
                if (merges == mergeLeft.length) {
                    mergeLeft = Arrays.copyOf(mergeLeft, merges * 2);
                    mergeRight = Arrays.copyOf(mergeRight, merges * 2);
                }
                mergeLeft[merges] = a;
                mergeRight[merges] = b;
                touched.clear();
                int[] list = lists[pid];
                for (int k = 0, n = listSize[pid]; k < n; k++) {
                    int w = list == null ? lastWord[pid] : list[k];
                    if (stamp[w] == merges) continue;
                    stamp[w] = merges;
                    mergeWord(w, a, b, c);
                }
                lists[pid] = null;
                listSize[pid] = 0;
                pairCount[pid] = 0;
                for (int k = 0; k < touched.size(); k++) {
                    int p = touched.get(k);
                    if (pairCount[p] >= heapFloor) push(pairCount[p], p);
                }
                merges++;
                if (merges % 1000 == 0 || merges == maxMerges) progress.report("merge", merges, maxMerges);
            }
        }

        /** Replaces each a,b in word w (left to right) by c, moving the counts of the neighbouring pairs. */
        private void mergeWord(int w, int a, int b, int c) {
            int s = start[w], end = s + len[w], r = s;
            while (r + 1 < end && (symbols[r] != a || symbols[r + 1] != b)) r++; // nothing moves before the first a,b
            if (r + 1 >= end) return; // a stale list entry: the word no longer holds the pair
            int wr = r;
            long f = freq[w];
            while (r < end) {
                if (r + 1 < end && symbols[r] == a && symbols[r + 1] == b) {
                    if (wr > s) {
                        int p = symbols[wr - 1];
                        pairCount[pairIds.get(LongIntMap.pair(p, a))] -= f;
                        add(p, c, f, w);
                    }
                    if (r + 2 < end) {
                        int q = symbols[r + 2];
                        pairCount[pairIds.get(LongIntMap.pair(b, q))] -= f;
                        add(c, q, f, w);
                    }
                    symbols[wr++] = c;
                    r += 2;
                } else {
                    symbols[wr++] = symbols[r++];
                }
            }
            len[w] = wr - s;
        }

        private void add(int x, int y, long f, int w) {
            int pid = pairId(x, y);
            pairCount[pid] += f;
            addWord(pid, w);
            if (touchedAt[pid] != merges) {
                touchedAt[pid] = merges;
                touched.add(pid);
            }
        }

        private int pairId(int x, int y) {
            int pid = pairIds.putIfAbsent(LongIntMap.pair(x, y), pairs);
            if (pid == pairs) {
                if (pairs == pairLeft.length) {
                    int n = pairs * 2;
                    pairLeft = Arrays.copyOf(pairLeft, n);
                    pairRight = Arrays.copyOf(pairRight, n);
                    lastWord = Arrays.copyOf(lastWord, n);
                    listSize = Arrays.copyOf(listSize, n);
                    pairCount = Arrays.copyOf(pairCount, n);
                    lists = Arrays.copyOf(lists, n);
                    touchedAt = Arrays.copyOf(touchedAt, n);
                }
                pairLeft[pid] = x;
                pairRight[pid] = y;
                touchedAt[pid] = -1;
                pairs++;
            }
            return pid;
        }

        private void addWord(int pid, int w) {
            int n = listSize[pid];
            if (n > 0 && lastWord[pid] == w) return;
            if (n > 0) {
                int[] l = lists[pid];
                if (l == null) {
                    lists[pid] = l = new int[4];
                    l[0] = lastWord[pid];
                } else if (n == l.length) {
                    lists[pid] = l = Arrays.copyOf(l, n + (n >> 1) + 4);
                }
                l[n] = w;
            }
            lastWord[pid] = w;
            listSize[pid] = n + 1;
        }

        /** Heap order: higher count first, then smaller left id, then smaller right id. */
        private boolean before(long countX, int x, long countY, int y) {
            if (countX != countY) return countX > countY;
            if (pairLeft[x] != pairLeft[y]) return pairLeft[x] < pairLeft[y];
            return pairRight[x] < pairRight[y];
        }

        private void push(long count, int pid) {
            if (heapSize == heapCount.length) {
                heapCount = Arrays.copyOf(heapCount, heapSize * 2);
                heapPair = Arrays.copyOf(heapPair, heapSize * 2);
            }
            int k = heapSize++;
            while (k > 0) {
                int parent = (k - 1) >>> 1;
                if (!before(count, pid, heapCount[parent], heapPair[parent])) break;
                heapCount[k] = heapCount[parent];
                heapPair[k] = heapPair[parent];
                k = parent;
            }
            heapCount[k] = count;
            heapPair[k] = pid;
        }

        private void pop() {
            long count = heapCount[--heapSize];
            int pid = heapPair[heapSize];
            int k = 0;
            while (true) {
                int child = 2 * k + 1;
                if (child >= heapSize) break;
                if (child + 1 < heapSize && before(heapCount[child + 1], heapPair[child + 1], heapCount[child], heapPair[child])) child++;
                if (!before(heapCount[child], heapPair[child], count, pid)) break;
                heapCount[k] = heapCount[child];
                heapPair[k] = heapPair[child];
                k = child;
            }
            heapCount[k] = count;
            heapPair[k] = pid;
        }
    }
}
