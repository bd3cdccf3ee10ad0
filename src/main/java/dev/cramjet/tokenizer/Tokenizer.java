package dev.cramjet.tokenizer;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * A byte-level BPE tokenizer: text → UTF-8 bytes → pre-tokens ({@link PreTokenizer}) → each pre-token's bytes
 * merged by rank, the way GPT-2 and Hugging Face `tokenizers` do. Special tokens written literally in the text are
 * recognised first and never merged with their neighbours. Every byte sequence encodes, and decodes back exactly,
 * as long as all 256 byte tokens are in the vocabulary (always so for tokenizers trained here).
 *
 * <p>Immutable and safe to share between threads; each thread keeps its own scratch space and cache of
 * pre-token → ids. Inputs over a megabyte are encoded in parallel, split where pre-tokenization must restart.
 */
public final class Tokenizer {
    /** The specials a new tokenizer gets unless told otherwise. */
    public static final List<String> DEFAULT_SPECIALS =
            List.of("<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>");
    public static final String END_OF_TEXT = "<|endoftext|>";

    private static final int PARALLEL_MIN_BYTES = 1 << 20;
    private static final int CHUNK_BYTES = 1 << 18;

    private final byte[][] tokens;
    private final int[] mergeLeft, mergeRight, mergeResult;
    private final LongIntMap ranks;
    private final Map<String, Integer> specials;
    private final byte[][] specialBytes;
    private final int[] specialIds;
    private final PreTokenizer pre;
    private final int[] byteId = new int[256];
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);
    private volatile String hash;

    /**
     * tokens[id] is the byte string of each id; merge r joins mergeLeft[r] and mergeRight[r] into mergeResult[r]
     * (lower r first); specials maps each special's text to its id. Callers have validated all of it.
     */
    Tokenizer(byte[][] tokens, int[] mergeLeft, int[] mergeRight, int[] mergeResult, Map<String, Integer> specials,
              PreTokenizer pre) {
        this.tokens = tokens;
        this.mergeLeft = mergeLeft;
        this.mergeRight = mergeRight;
        this.mergeResult = mergeResult;
        this.specials = Collections.unmodifiableMap(new LinkedHashMap<>(specials));
        this.pre = pre;
        ranks = new LongIntMap(mergeLeft.length);
        for (int r = 0; r < mergeLeft.length; r++) ranks.putIfAbsent(LongIntMap.pair(mergeLeft[r], mergeRight[r]), r);
        Arrays.fill(byteId, -1);
        boolean[] special = new boolean[tokens.length];
        for (int id : specials.values()) special[id] = true;
        for (int id = 0; id < tokens.length; id++) {
            if (!special[id] && tokens[id].length == 1 && byteId[tokens[id][0] & 0xFF] < 0) byteId[tokens[id][0] & 0xFF] = id;
        }
        // Longest first, so that when two specials start at the same place the longer one wins.
        String[] names = specials.keySet().toArray(String[]::new);
        Arrays.sort(names, (a, b) -> Integer.compare(b.length(), a.length()));
        specialBytes = new byte[names.length][];
        specialIds = new int[names.length];
        for (int k = 0; k < names.length; k++) {
            specialBytes[k] = names[k].getBytes(StandardCharsets.UTF_8);
            specialIds[k] = specials.get(names[k]);
        }
    }

    // ---- the public API ----------------------------------------------------------------------------------------

    public static Tokenizer load(Path path) throws IOException { return TokenizerJson.read(path); }

    /** Writes tokenizer.json (Hugging Face format) atomically. */
    public void save(Path path) throws IOException { AtomicFile.writeString(path, TokenizerJson.write(this)); }

    /**
     * Token ids of text; special tokens written in the text become their ids. The text is taken as UTF-8, so an
     * unpaired surrogate (not encodable) becomes '?', as String.getBytes does; use encode(byte[]) for raw bytes.
     */
    public int[] encode(String text) { return encode(text.getBytes(StandardCharsets.UTF_8)); }

    /** Token ids of any byte sequence, well-formed UTF-8 or not; special tokens in it become their ids. */
    public int[] encode(byte[] text) {
        IntList out = new IntList(text.length / 3 + 16);
        splitSpecials(text, specialBytes, (from, to, special) -> {
            encodeOrdinary(text, from, to, out);
            if (special >= 0) out.add(specialIds[special]);
        });
        return out.toArray();
    }

    /**
     * Token ids of text taken literally: the spelling of a special token in it (a web page quoting
     * "<|endoftext|>") stays ordinary text. Corpus documents are encoded this way, so data can never inject a
     * control token; {@link #encode(String)} is for prompts, where writing a special means it.
     */
    public int[] encodeOrdinary(String text) { return encodeOrdinary(text.getBytes(StandardCharsets.UTF_8)); }

    /** {@link #encodeOrdinary(String)} for any byte sequence. */
    public int[] encodeOrdinary(byte[] text) {
        IntList out = new IntList(text.length / 3 + 16);
        encodeOrdinary(text, 0, text.length, out);
        return out.toArray();
    }

    /** Receives text[from, to) free of specials, then the index of the special after it (-1 at the end). */
    @FunctionalInterface
    interface SpecialSink {
        void accept(int from, int to, int special);
    }

    /**
     * Cuts text at every occurrence of a special (the earliest first; at equal starts the earlier in the array,
     * so sort longest first). Ordinary runs between them may be empty.
     */
    static void splitSpecials(byte[] text, byte[][] specials, SpecialSink sink) {
        int pos = 0;
        int[] next = new int[specials.length];
        for (int k = 0; k < next.length; k++) next[k] = indexOf(text, specials[k], 0);
        while (true) {
            int best = -1;
            for (int k = 0; k < next.length; k++) {
                if (next[k] >= 0 && (best < 0 || next[k] < next[best])) best = k;
            }
            int end = best < 0 ? text.length : next[best];
            sink.accept(pos, end, best);
            if (best < 0) return;
            pos = end + specials[best].length;
            for (int k = 0; k < next.length; k++) {
                if (next[k] >= 0 && next[k] < pos) next[k] = indexOf(text, specials[k], pos);
            }
        }
    }

    public byte[] decodeBytes(int[] ids) {
        int n = 0;
        for (int id : ids) n += token(id).length;
        byte[] out = new byte[n];
        int p = 0;
        for (int id : ids) {
            byte[] t = tokens[id];
            System.arraycopy(t, 0, out, p, t.length);
            p += t.length;
        }
        return out;
    }

    /** The text of ids; bytes that are not well-formed UTF-8 become U+FFFD (use decodeBytes to keep them). */
    public String decode(int[] ids) { return new String(decodeBytes(ids), StandardCharsets.UTF_8); }

    public int vocabSize() { return tokens.length; }

    /** Id of {@code <|endoftext|>}, the document separator. */
    public int eot() {
        Integer id = specials.get(END_OF_TEXT);
        if (id == null) throw new CramjetException("this tokenizer has no " + END_OF_TEXT + " token");
        return id;
    }

    /** Id of a special token, or null. */
    public Integer special(String text) { return specials.get(text); }

    /** Special token text → id, in id order. */
    public Map<String, Integer> specials() { return specials; }

    /** The bytes token id stands for. */
    public byte[] token(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new CramjetException("token id " + id + " is outside the vocabulary (0.." + (tokens.length - 1) + ")");
        }
        return tokens[id];
    }

    /** SHA-256 (hex) of the pre-tokenizer pattern, every token's bytes, the merges and the specials: equal hashes encode alike. */
    public String hash() {
        String h = hash;
        if (h == null) {
            try {
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                md.update(pre.pattern().getBytes(StandardCharsets.UTF_8));
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(12);
                for (byte[] t : tokens) {
                    md.update(b.clear().putInt(t.length).flip());
                    md.update(t);
                }
                for (int r = 0; r < mergeLeft.length; r++) {
                    md.update(b.clear().putInt(mergeLeft[r]).putInt(mergeRight[r]).putInt(mergeResult[r]).flip());
                }
                for (int id : specials.values()) md.update(b.clear().putInt(id).flip());
                hash = h = HexFormat.of().formatHex(md.digest());
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
        return h;
    }

    // ---- views for the file formats that spell a tokenizer out (tokenizer.json, GGUF) ----------------------------

    /** GPT-4's cl100k pre-tokenizer pattern, the one tokenizers trained here use. */
    public static final String CL100K_PATTERN = PreTokenizer.CL100K;
    /** GPT-2's pre-tokenizer pattern (a tokenizer.json whose ByteLevel pre-tokenizer has use_regex=true). */
    public static final String GPT2_PATTERN = PreTokenizer.GPT2;

    /** The pre-tokenizer's pattern, in tokenizer.json's regex dialect. */
    public String pattern() { return pre.pattern(); }

    public int mergeCount() { return mergeLeft.length; }

    /**
     * Token id as tokenizer.json and GGUF spell it: a special as its text, any other token as its bytes in GPT-2's
     * byte alphabet ({@code Ġ} for the space byte).
     */
    public String spelling(int id) {
        byte[] bytes = token(id);
        for (Map.Entry<String, Integer> e : specials.entrySet()) if (e.getValue() == id) return e.getKey();
        return ByteLevel.encode(bytes);
    }

    /** Merge {@code rank} spelled "left right", the way tokenizer.json and GGUF list merges. */
    public String mergeSpelling(int rank) { return spelling(mergeLeft[rank]) + " " + spelling(mergeRight[rank]); }

    /**
     * A tokenizer from the object a tokenizer.json holds (as {@link dev.cramjet.io.Json} parses it): formats that
     * carry a byte-level BPE vocabulary in other shapes (GGUF) build that object and get tokenizer.json's checks.
     */
    public static Tokenizer fromJson(Map<String, Object> root, String source) { return TokenizerJson.read(root, source); }

    // ---- encoding ----------------------------------------------------------------------------------------------

    private void encodeOrdinary(byte[] text, int from, int to, IntList out) {
        if (to - from < PARALLEL_MIN_BYTES || !pre.restartsAfterNewline()) {
            Scratch s = scratch.get();
            pre.split(text, from, to, (a, b) -> s.encodePiece(text, a, b, out));
            return;
        }
        IntList cuts = new IntList(16);
        cuts.add(from);
        for (int p = from + CHUNK_BYTES; p < to; p += CHUNK_BYTES) {
            p = restartPoint(text, p, to);
            if (p < to) cuts.add(p);
        }
        cuts.add(to);
        int[] c = cuts.toArray();
        int[][] parts = IntStream.range(0, c.length - 1).parallel().mapToObj(k -> {
            IntList part = new IntList((c[k + 1] - c[k]) / 3 + 16);
            Scratch s = scratch.get();
            pre.split(text, c[k], c[k + 1], (a, b) -> s.encodePiece(text, a, b, part));
            return part.toArray();
        }).toArray(int[][]::new);
        for (int[] part : parts) out.addAll(part, 0, part.length);
    }

    /**
     * The first position at or after p where pre-tokenization starts afresh whatever came before: just after a
     * line feed that is followed by a printable ASCII character (see PreTokenizer.restartsAfterNewline).
     * Returns {@code to} when there is none.
     */
    private static int restartPoint(byte[] t, int p, int to) {
        for (int i = Math.max(p, 1); i < to; i++) {
            int c = t[i];
            if (t[i - 1] == '\n' && c > ' ' && c < 0x7F) return i;
        }
        return to;
    }

    private static int indexOf(byte[] text, byte[] pattern, int from) {
        byte first = pattern[0];
        outer:
        for (int i = from, last = text.length - pattern.length; i <= last; i++) {
            if (text[i] != first) continue;
            for (int k = 1; k < pattern.length; k++) if (text[i + k] != pattern[k]) continue outer;
            return i;
        }
        return -1;
    }

    /** Per-thread working memory: the merge buffers and a direct-mapped cache of pre-token → ids. */
    private final class Scratch {
        private static final int CACHE_SLOTS = 1 << 14, CACHE_MAX_BYTES = 64;
        private final byte[][] cacheKeys = new byte[CACHE_SLOTS][];
        private final int[][] cacheIds = new int[CACHE_SLOTS][];
        private int[] sym = new int[64], next = new int[64], prev = new int[64];
        private long[] heap = new long[128]; // at most n - 1 + (merges so far) entries
        private int heapSize;

        void encodePiece(byte[] t, int from, int to, IntList out) {
            int n = to - from;
            if (n == 1) {
                int id = byteId[t[from] & 0xFF];
                if (id >= 0) out.add(id);
                return;
            }
            int slot = -1;
            if (n <= CACHE_MAX_BYTES) {
                int h = 0x811C9DC5;
                for (int i = from; i < to; i++) h = (h ^ t[i]) * 0x01000193;
                slot = (h ^ h >>> 15) & (CACHE_SLOTS - 1);
                byte[] key = cacheKeys[slot];
                if (key != null && Arrays.equals(key, 0, key.length, t, from, to)) {
                    int[] ids = cacheIds[slot];
                    out.addAll(ids, 0, ids.length);
                    return;
                }
            }
            int count = merge(t, from, to);
            int start = out.size();
            for (int i = 0; i >= 0 && count > 0; i = next[i]) out.add(sym[i]);
            if (slot >= 0) {
                int[] ids = new int[out.size() - start];
                int k = 0;
                for (int i = 0; i >= 0 && count > 0; i = next[i]) ids[k++] = sym[i];
                cacheKeys[slot] = Arrays.copyOfRange(t, from, to);
                cacheIds[slot] = ids;
            }
        }

        /**
         * Merges t[from, to) in place: symbols form a linked list over sym/next/prev starting at index 0; a min-heap
         * of (rank, position) picks the lowest-ranked adjacent pair, leftmost first, as Hugging Face does. Heap
         * entries go stale as neighbours merge and are checked when popped. Returns the number of initial symbols.
         */
        private int merge(byte[] t, int from, int to) {
            int n = 0;
            if (sym.length < to - from) {
                int cap = Integer.highestOneBit(to - from) << 1;
                sym = new int[cap];
                next = new int[cap];
                prev = new int[cap];
                heap = new long[2 * cap];
            }
            for (int i = from; i < to; i++) {
                int id = byteId[t[i] & 0xFF];
                if (id >= 0) sym[n++] = id; // a byte without a token is dropped, as Hugging Face does without unk_token
            }
            for (int i = 0; i < n; i++) {
                prev[i] = i - 1;
                next[i] = i + 1 < n ? i + 1 : -1;
            }
            heapSize = 0;
            for (int i = 0; i + 1 < n; i++) pushPair(i, i + 1);
            while (heapSize > 0) {
                long top = pop();
                int rank = (int) (top >>> 32), pos = (int) top;
                int nx = next[pos];
                if (sym[pos] != mergeLeft[rank] || nx < 0 || sym[nx] != mergeRight[rank]) continue;
                sym[pos] = mergeResult[rank];
                sym[nx] = -1;
                int nn = next[nx];
                next[pos] = nn;
                if (nn >= 0) prev[nn] = pos;
                if (prev[pos] >= 0) pushPair(prev[pos], pos);
                if (nn >= 0) pushPair(pos, nn);
            }
            return n;
        }

        private void pushPair(int i, int j) {
            int r = ranks.get(LongIntMap.pair(sym[i], sym[j]));
            if (r < 0) return;
            long v = (long) r << 32 | i;
            int k = heapSize++;
            while (k > 0) {
                int parent = (k - 1) >>> 1;
                if (heap[parent] <= v) break;
                heap[k] = heap[parent];
                k = parent;
            }
            heap[k] = v;
        }

        private long pop() {
            long top = heap[0];
            long v = heap[--heapSize];
            int k = 0;
            while (true) {
                int c = 2 * k + 1;
                if (c >= heapSize) break;
                if (c + 1 < heapSize && heap[c + 1] < heap[c]) c++;
                if (heap[c] >= v) break;
                heap[k] = heap[c];
                k = c;
            }
            heap[k] = v;
            return top;
        }
    }
}
