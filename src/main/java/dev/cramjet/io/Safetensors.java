package dev.cramjet.io;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length n,
 * n bytes of JSON mapping each tensor name to {dtype, shape, data_offsets: [begin, end)} (offsets relative to the
 * byte after the header) plus an optional "__metadata__" string map, then the raw little-endian data. We pad the
 * header with spaces to a multiple of 8 so every tensor starts aligned.
 *
 * <p>The reader maps the file and checks everything before handing out a byte: header length within the file,
 * valid JSON, known dtypes, shapes whose size matches the byte range, ranges inside the data section, neither
 * overlapping nor leaving holes. Every error names the file and, where there is one, the tensor.
 */
public final class Safetensors {
    private Safetensors() {}

    /** Headers larger than this are refused (the reference implementation's limit). */
    public static final long MAX_HEADER = 100L << 20;

    private static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1), Map.entry("F8_E4M3", 1),
            Map.entry("F8_E5M2", 1), Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2),
            Map.entry("BF16", 2), Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("I64", 8), Map.entry("U64", 8), Map.entry("F64", 8));

    /** Element types we write (values are held as floats on the host). */
    public enum WriteType {
        F32(4), BF16(2);

        final int bytes;

        WriteType(int bytes) { this.bytes = bytes; }
    }

    /** One tensor to write: {@code values[offset .. offset + size(shape))}, stored as {@code type}. */
    public record Item(String name, WriteType type, long[] shape, float[] values, int offset) {
        public Item {
            long n = numel(shape);
            if (offset < 0 || offset + n > values.length) {
                throw new IllegalArgumentException(name + ": values [" + offset + ", " + (offset + n) + ") outside array of " + values.length);
            }
        }

        public Item(String name, long[] shape, float[] values) { this(name, WriteType.F32, shape, values, 0); }
    }

    /** One tensor's header entry. begin/end are absolute file offsets. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        public long numel() { return Safetensors.numel(shape); }

        public String shapeString() { return Arrays.toString(shape); }
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    /** Writes {@code items} in order, atomically (see {@link AtomicFile}). */
    public static void write(Path path, Map<String, String> metadata, List<Item> items) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) header.put("__metadata__", new LinkedHashMap<>(metadata));
        long at = 0;
        for (Item it : items) {
            if (it.name.equals("__metadata__") || header.containsKey(it.name)) {
                throw new IllegalArgumentException(path + ": duplicate or reserved tensor name '" + it.name + "'");
            }
            long bytes = numel(it.shape) * it.type.bytes;
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("dtype", it.type.name());
            e.put("shape", it.shape);
            e.put("data_offsets", new long[] {at, at + bytes});
            header.put(it.name, e);
            at += bytes;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        AtomicFile.write(path, ch -> {
            while (head.hasRemaining()) ch.write(head);
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (Item it : items) {
                long n = numel(it.shape);
                for (long i = 0; i < n; i++) {
                    if (buf.remaining() < 4) drain(ch, buf);
                    float x = it.values[(int) (it.offset + i)];
                    if (it.type == WriteType.F32) buf.putFloat(x);
                    else buf.putShort(toBf16(x));
                }
            }
            drain(ch, buf);
        });
    }

    private static void drain(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        while (buf.hasRemaining()) ch.write(buf);
        buf.clear();
    }

    /** fp32 → bf16 bits, rounding to nearest even (NaN stays a quiet NaN). */
    static short toBf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) return (short) ((bits >>> 16) | 0x40);
        bits += 0x7FFF + ((bits >>> 16) & 1);
        return (short) (bits >>> 16);
    }

    // ---- reading ---------------------------------------------------------------------------------------------

    /** Opens and validates a safetensors file; the data stays mapped until {@link Reader#close()}. */
    public static Reader open(Path path) throws IOException {
        return new Reader(path);
    }

    /** A validated, memory-mapped safetensors file. */
    public static final class Reader implements AutoCloseable {
        private final Path path;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment data;
        private final Map<String, Entry> tensors;
        private final Map<String, String> metadata;

        private Reader(Path path) throws IOException {
            this.path = path;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < 8) throw bad("truncated file: " + size + " bytes, the 8-byte header length is missing");
                ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                while (lenBuf.hasRemaining() && ch.read(lenBuf, lenBuf.position()) >= 0) { /* read all 8 */ }
                long n = lenBuf.flip().getLong();
                if (n < 2 || n > MAX_HEADER) throw bad("header length " + Long.toUnsignedString(n) + " is not plausible");
                if (8 + n > size) throw bad("truncated file: header length " + n + " goes beyond the file size " + size);
                ByteBuffer hb = ByteBuffer.allocate((int) n);
                while (hb.hasRemaining()) {
                    if (ch.read(hb, 8 + hb.position()) < 0) throw bad("truncated header");
                }
                String text = new String(hb.array(), StandardCharsets.UTF_8);
                if (!text.startsWith("{")) throw bad("header does not start with '{'");
                Object parsed = Json.parse(text.stripTrailing(), path + " header");
                long dataStart = 8 + n;
                Map<String, String> meta = new LinkedHashMap<>();
                Map<String, Entry> entries = new LinkedHashMap<>();
                for (Map.Entry<String, Object> e : Json.object(parsed, path + " header").entrySet()) {
                    if (e.getKey().equals("__metadata__")) {
                        for (Map.Entry<String, Object> m : Json.object(e.getValue(), path + ": __metadata__").entrySet()) {
                            meta.put(m.getKey(), Json.string(m.getValue(), path + ": __metadata__." + m.getKey()));
                        }
                    } else {
                        entries.put(e.getKey(), entry(e.getKey(), e.getValue(), dataStart, size));
                    }
                }
                checkLayout(entries, dataStart, size);
                this.tensors = Collections.unmodifiableMap(entries);
                this.metadata = Collections.unmodifiableMap(meta);
                this.data = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (RuntimeException | IOException e) {
                arena.close();
                if (e instanceof NoSuchFileException) throw new CramjetException(path + ": no such file");
                throw e;
            }
        }

        private Entry entry(String name, Object v, long dataStart, long size) {
            String what = path + ": tensor '" + name + "'";
            Map<String, Object> m = Json.object(v, what);
            for (String k : m.keySet()) {
                if (!k.equals("dtype") && !k.equals("shape") && !k.equals("data_offsets")) {
                    throw bad("tensor '" + name + "' has an unknown header field \"" + k + "\"");
                }
            }
            String dtype = Json.string(require(m, "dtype", name), what + " dtype");
            Integer width = DTYPE_BYTES.get(dtype);
            if (width == null) throw bad("tensor '" + name + "' has an unknown dtype '" + dtype + "'");
            List<Object> dims = Json.array(require(m, "shape", name), what + " shape");
            long[] shape = new long[dims.size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = Json.integer(dims.get(i), what + " shape");
                if (shape[i] < 0) throw bad("tensor '" + name + "' has a negative dimension");
                try {
                    numel = Math.multiplyExact(numel, shape[i]);
                } catch (ArithmeticException e) {
                    throw bad("tensor '" + name + "' has shape " + Arrays.toString(shape) + " with more than 2^63 elements");
                }
            }
            List<Object> offs = Json.array(require(m, "data_offsets", name), what + " data_offsets");
            if (offs.size() != 2) throw bad("tensor '" + name + "': data_offsets must be [begin, end]");
            long begin = Json.integer(offs.get(0), what + " data_offsets");
            long end = Json.integer(offs.get(1), what + " data_offsets");
            if (begin < 0 || end < begin) throw bad("tensor '" + name + "': data_offsets [" + begin + ", " + end + "] are invalid");
            if (dataStart + end > size) {
                throw bad("tensor '" + name + "': data_offsets [" + begin + ", " + end + "] run past the end of the file"
                        + " (data section is " + (size - dataStart) + " bytes)");
            }
            if (numel > Long.MAX_VALUE / width || end - begin != numel * width) {
                throw bad("tensor '" + name + "': " + dtype + " " + Arrays.toString(shape) + " needs " + numel * width
                        + " bytes but data_offsets span " + (end - begin));
            }
            return new Entry(name, dtype, shape, dataStart + begin, dataStart + end);
        }

        private Object require(Map<String, Object> m, String key, String name) {
            Object v = m.get(key);
            if (v == null) throw bad("tensor '" + name + "' is missing \"" + key + "\"");
            return v;
        }

        /** Tensors must tile the data section exactly: no overlap, no holes, nothing after the last one. */
        private void checkLayout(Map<String, Entry> entries, long dataStart, long size) {
            List<Entry> sorted = new ArrayList<>(entries.values());
            sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
            long at = dataStart;
            Entry prev = null;
            for (Entry e : sorted) {
                if (e.begin < at) {
                    throw bad("tensors '" + prev.name + "' and '" + e.name + "' overlap");
                }
                if (e.begin > at) {
                    throw bad("a hole of " + (e.begin - at) + " bytes precedes tensor '" + e.name + "'");
                }
                at = e.end;
                prev = e;
            }
            if (at != size) throw bad((size - at) + " bytes after the last tensor are not described by the header");
        }

        private CramjetException bad(String what) {
            return new CramjetException(path + ": invalid safetensors file: " + what);
        }

        public Path path() { return path; }

        /** All tensors by name, in header order. */
        public Map<String, Entry> tensors() { return tensors; }

        public Map<String, String> metadata() { return metadata; }

        /** The entry for {@code name}, or an error naming the file and the tensor. */
        public Entry entry(String name) {
            Entry e = tensors.get(name);
            if (e == null) throw new CramjetException(path + ": tensor '" + name + "' is missing");
            return e;
        }

        /**
         * Converts tensor {@code name} (F32, BF16 or F16) to floats in {@code dst[offset ..]}.
         */
        public void read(String name, float[] dst, int offset) {
            Entry e = entry(name);
            long n = e.numel();
            if (offset < 0 || offset + n > dst.length) {
                throw new IllegalArgumentException(name + " needs " + n + " floats at " + offset + ", array has " + dst.length);
            }
            MemorySegment seg = data.asSlice(e.begin, e.end - e.begin);
            switch (e.dtype) {
                case "F32" -> MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN),
                        0, dst, offset, (int) n);
                case "BF16" -> {
                    for (int i = 0; i < n; i++) {
                        short b = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i);
                        dst[offset + i] = Float.intBitsToFloat((b & 0xFFFF) << 16);
                    }
                }
                case "F16" -> {
                    for (int i = 0; i < n; i++) {
                        short h = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i);
                        dst[offset + i] = Float.float16ToFloat(h);
                    }
                }
                default -> throw new CramjetException(path + ": tensor '" + name + "' has dtype " + e.dtype
                        + ", expected F32, BF16 or F16");
            }
        }

        /** Reads a whole floating-point tensor. */
        public float[] read(String name) {
            long n = entry(name).numel();
            if (n > Integer.MAX_VALUE - 8) throw new CramjetException(path + ": tensor '" + name + "' is too large to read at once");
            float[] out = new float[(int) n];
            read(name, out, 0);
            return out;
        }

        @Override
        public void close() { arena.close(); }
    }
}
