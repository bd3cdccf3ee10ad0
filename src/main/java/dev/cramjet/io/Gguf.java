package dev.cramjet.io;

import dev.cramjet.CramjetException;

import java.io.ByteArrayOutputStream;
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
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * GGUF, the file format of ggml and llama.cpp (ggml's docs/gguf.md), version 3, little-endian:
 * <pre>
 *   "GGUF"  uint32 version  uint64 tensor_count  uint64 metadata_kv_count
 *   metadata_kv_count × (string key, uint32 value_type, value)         string = uint64 length + UTF-8 bytes
 *   tensor_count × (string name, uint32 n_dims, uint64 ne[n_dims], uint32 ggml_type, uint64 offset)
 *   padding to general.alignment (32 unless the metadata says otherwise), then the tensor data
 * </pre>
 * ne[0] is the fastest-varying dimension: a row-major [rows, cols] matrix has ne = {cols, rows}. Offsets are
 * relative to the start of the data section and multiples of the alignment.
 *
 * <p>The reader maps the file and checks everything before handing out a byte — magic, version, every count and
 * length against the bytes left (so a lying count can neither allocate nor loop its way past the end), value
 * types, unique keys and names, known tensor types, whole blocks per row, aligned offsets whose data lies inside
 * the file without overlapping — and every error names the file and the key or tensor. The writer lays tensors out
 * back to back, each padded to the alignment, exactly as ggml's own writer does, and writes atomically.
 */
public final class Gguf {
    private Gguf() {}

    /** "GGUF" read as a little-endian uint32. */
    static final int MAGIC = 0x46554747;
    public static final int VERSION = 3;
    public static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_DIMS and GGML_MAX_NAME (names shorter than this). */
    static final int MAX_DIMS = 4, MAX_NAME = 64;
    /** Arrays nested deeper than this are refused (the spec allows nesting; no real file goes past one level). */
    private static final int MAX_DEPTH = 8;

    /** The ggml tensor types Cramjet reads and writes: id, bytes per block, values per block. */
    public enum TensorType {
        F32(0, 4, 1), F16(1, 2, 1), Q8_0(8, 34, 32), BF16(30, 2, 1);

        public final int id, blockBytes, block;

        TensorType(int id, int blockBytes, int block) {
            this.id = id;
            this.blockBytes = blockBytes;
            this.block = block;
        }

        /** Bytes of {@code elements} values (whole blocks). */
        public long bytes(long elements) { return elements / block * blockBytes; }

        static TensorType of(int id) {
            for (TensorType t : values()) if (t.id == id) return t;
            return null;
        }
    }

    /** Names of the other ggml types, for messages about files Cramjet cannot read. */
    private static final String[] GGML_NAMES = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0",
        "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
        "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16"};

    /** Metadata value types, in the order of their ids. */
    public enum Type { UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 }

    /**
     * A metadata value: integers as Long (UINT64 as its bits), floats as Double, BOOL as Boolean, STRING as
     * String, ARRAY as an {@link Array}.
     */
    public record Value(Type type, Object value) {
        public static Value u32(long v) { return new Value(Type.UINT32, v); }

        public static Value i32(long v) { return new Value(Type.INT32, v); }

        public static Value f32(double v) { return new Value(Type.FLOAT32, v); }

        public static Value bool(boolean v) { return new Value(Type.BOOL, v); }

        public static Value string(String v) { return new Value(Type.STRING, v); }

        public static Value strings(List<String> v) { return new Value(Type.ARRAY, new Array(Type.STRING, List.copyOf(v))); }

        public static Value i32s(int[] v) {
            List<Object> l = new ArrayList<>(v.length);
            for (int x : v) l.add((long) x);
            return new Value(Type.ARRAY, new Array(Type.INT32, l));
        }
    }

    /** An array value: its element type and elements (represented as {@link Value#value()} is). */
    public record Array(Type element, List<Object> items) {}

    /** A tensor's header entry: ne in ggml order, data offset relative to the data section, size in bytes. */
    public record TensorInfo(String name, long[] ne, TensorType type, long offset, long bytes) {
        public long elements() {
            long n = 1;
            for (long d : ne) n *= d;
            return n;
        }

        /** The shape row-major, outermost first (ne reversed): a matrix's [rows, cols]. */
        public long[] shape() {
            long[] s = new long[ne.length];
            for (int i = 0; i < ne.length; i++) s[i] = ne[ne.length - 1 - i];
            return s;
        }
    }

    /** A tensor to write; {@code data} gives its bytes (in the type's layout) when the writer reaches it. */
    public record Tensor(String name, long[] ne, TensorType type, Supplier<byte[]> data) {}

    // ---- writing ---------------------------------------------------------------------------------------------

    /** Writes a GGUF v3 file atomically (see {@link AtomicFile}): metadata in map order, tensors in list order. */
    public static void write(Path path, Map<String, Value> metadata, List<Tensor> tensors) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream(1 << 16);
        Out out = new Out(head);
        out.u32(MAGIC);
        out.u32(VERSION);
        out.u64(tensors.size());
        out.u64(metadata.size());
        for (Map.Entry<String, Value> e : metadata.entrySet()) {
            out.string(e.getKey());
            out.u32(e.getValue().type().ordinal());
            out.value(e.getValue().type(), e.getValue().value(), e.getKey());
        }
        long offset = 0;
        long[] sizes = new long[tensors.size()];
        List<String> names = new ArrayList<>();
        for (int i = 0; i < tensors.size(); i++) {
            Tensor t = tensors.get(i);
            if (t.name.getBytes(StandardCharsets.UTF_8).length >= MAX_NAME || names.contains(t.name) || t.ne.length == 0
                    || t.ne.length > MAX_DIMS || t.ne[0] % t.type.block != 0) {
                throw new IllegalArgumentException(path + ": tensor '" + t.name + "' cannot be written as " + t.type);
            }
            names.add(t.name);
            out.string(t.name);
            out.u32(t.ne.length);
            long n = 1;
            for (long d : t.ne) {
                out.u64(d);
                n *= d;
            }
            out.u32(t.type.id);
            out.u64(offset);
            sizes[i] = t.type.bytes(n);
            offset += align(sizes[i], DEFAULT_ALIGNMENT);
        }
        byte[] header = head.toByteArray();
        AtomicFile.write(path, ch -> {
            writeAll(ch, ByteBuffer.wrap(header));
            writeAll(ch, ByteBuffer.allocate((int) (align(header.length, DEFAULT_ALIGNMENT) - header.length)));
            for (int i = 0; i < tensors.size(); i++) {
                byte[] data = tensors.get(i).data.get();
                if (data.length != sizes[i]) {
                    throw new IllegalArgumentException(path + ": tensor '" + tensors.get(i).name + "' has " + data.length
                            + " bytes, its shape and type need " + sizes[i]);
                }
                writeAll(ch, ByteBuffer.wrap(data));
                writeAll(ch, ByteBuffer.allocate((int) (align(sizes[i], DEFAULT_ALIGNMENT) - sizes[i])));
            }
        });
    }

    private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    static long align(long x, long alignment) { return (x + alignment - 1) / alignment * alignment; }

    /** Little-endian primitives into a byte stream. */
    private record Out(ByteArrayOutputStream s) {
        void u8(int v) { s.write(v); }

        void u16(int v) { u8(v); u8(v >>> 8); }

        void u32(long v) { u16((int) v); u16((int) (v >>> 16)); }

        void u64(long v) { u32(v); u32(v >>> 32); }

        void string(String v) {
            byte[] b = v.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            s.writeBytes(b);
        }

        void value(Type type, Object v, String key) {
            switch (type) {
                case UINT8, INT8 -> u8((int) (long) (Long) v);
                case UINT16, INT16 -> u16((int) (long) (Long) v);
                case UINT32, INT32 -> u32((Long) v);
                case UINT64, INT64 -> u64((Long) v);
                case FLOAT32 -> u32(Float.floatToRawIntBits((float) (double) (Double) v));
                case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) v));
                case BOOL -> u8((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case ARRAY -> {
                    Array a = (Array) v;
                    u32(a.element().ordinal());
                    u64(a.items().size());
                    for (Object item : a.items()) value(a.element(), item, key);
                }
            }
        }
    }

    // ---- reading ---------------------------------------------------------------------------------------------

    /** Opens and validates a GGUF file; its data stays mapped until {@link Reader#close()}. */
    public static Reader open(Path path) throws IOException { return new Reader(path); }

    /** A validated, memory-mapped GGUF file. */
    public static final class Reader implements AutoCloseable {
        private final Path path;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment file;
        private final long size, dataStart;
        private final int alignment;
        private final Map<String, Value> metadata;
        private final Map<String, TensorInfo> tensors;
        private long at;

        private Reader(Path path) throws IOException {
            this.path = path;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                size = ch.size();
                file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                if (size < 24) throw bad("truncated file: " + size + " bytes, shorter than a GGUF header");
                int magic = (int) u32("the magic");
                if (magic == Integer.reverseBytes(MAGIC)) throw bad("a big-endian GGUF file; only little-endian files are supported");
                if (magic != MAGIC) throw bad("not a GGUF file (the first four bytes are not \"GGUF\")");
                long version = u32("the version");
                if (version != 2 && version != 3) throw bad("GGUF version " + version + " is not supported (expected 3, or 2)");
                long nTensors = u64("the tensor count"), nKv = u64("the metadata count");
                // Each key-value takes at least 13 bytes and each tensor info at least 32: a count beyond what the
                // file can hold is a lie, refused before anything is allocated for it.
                if (Long.compareUnsigned(nKv, (size - at) / 13) > 0) throw bad("metadata count " + Long.toUnsignedString(nKv) + " is more than the file can hold");
                if (Long.compareUnsigned(nTensors, (size - at) / 32) > 0) throw bad("tensor count " + Long.toUnsignedString(nTensors) + " is more than the file can hold");
                Map<String, Value> meta = new LinkedHashMap<>();
                for (long i = 0; i < nKv; i++) {
                    String key = str("metadata key " + i);
                    if (key.isEmpty()) throw bad("metadata key " + i + " is empty");
                    Type type = type(u32("the type of " + key), key);
                    Value v = new Value(type, value(type, key, 0));
                    if (meta.put(key, v) != null) throw bad("metadata key '" + key + "' appears twice");
                }
                this.metadata = Collections.unmodifiableMap(meta);
                Value align = meta.get("general.alignment");
                if (align != null) {
                    long a = align.type() == Type.UINT32 ? (Long) align.value() : -1;
                    if (a <= 0 || (a & (a - 1)) != 0) throw bad("general.alignment must be a uint32 power of two, got " + align.value());
                    alignment = (int) a;
                } else {
                    alignment = DEFAULT_ALIGNMENT;
                }
                Map<String, TensorInfo> infos = new LinkedHashMap<>();
                for (long i = 0; i < nTensors; i++) {
                    TensorInfo t = tensorInfo(i);
                    if (infos.put(t.name, t) != null) throw bad("tensor '" + t.name + "' appears twice");
                }
                this.tensors = Collections.unmodifiableMap(infos);
                dataStart = align(at, alignment);
                if (nTensors > 0 && dataStart > size) throw bad("truncated file: the data section would start at byte " + dataStart + " of " + size);
                checkLayout();
            } catch (RuntimeException | IOException e) {
                arena.close();
                if (e instanceof NoSuchFileException) throw new CramjetException(path + ": no such file");
                throw e;
            }
        }

        private TensorInfo tensorInfo(long i) {
            String name = str("the name of tensor " + i);
            if (name.getBytes(StandardCharsets.UTF_8).length >= MAX_NAME) throw bad("tensor name '" + name + "' is " + MAX_NAME + " bytes or longer");
            long dims = u32("the dimension count of tensor '" + name + "'");
            if (dims < 1 || dims > MAX_DIMS) throw bad("tensor '" + name + "' has " + dims + " dimensions (expected 1 to " + MAX_DIMS + ")");
            long[] ne = new long[(int) dims];
            long n = 1;
            for (int d = 0; d < dims; d++) {
                ne[d] = u64("a dimension of tensor '" + name + "'");
                if (ne[d] <= 0) throw bad("tensor '" + name + "' has dimension " + d + " of " + Long.toUnsignedString(ne[d]) + " (expected ≥ 1)");
                try {
                    n = Math.multiplyExact(n, ne[d]);
                } catch (ArithmeticException e) {
                    throw bad("tensor '" + name + "' has more elements than a file can hold");
                }
            }
            long typeId = u32("the type of tensor '" + name + "'");
            TensorType type = typeId <= Integer.MAX_VALUE ? TensorType.of((int) typeId) : null;
            if (type == null) {
                String known = typeId < GGML_NAMES.length ? " (" + GGML_NAMES[(int) typeId] + ")" : "";
                throw bad("tensor '" + name + "' has ggml type " + typeId + known + ", which Cramjet does not read (F32, F16, BF16, Q8_0)");
            }
            if (ne[0] % type.block != 0) {
                throw bad("tensor '" + name + "' is " + type + " with rows of " + ne[0] + " values, not whole blocks of " + type.block);
            }
            long offset = u64("the offset of tensor '" + name + "'");
            return new TensorInfo(name, ne, type, offset, type.bytes(n));
        }

        /** Offsets aligned, data inside the file, no two tensors sharing a byte. */
        private void checkLayout() {
            long room = size - dataStart;
            List<TensorInfo> sorted = new ArrayList<>(tensors.values());
            for (TensorInfo t : sorted) {
                if (t.offset % alignment != 0) throw bad("tensor '" + t.name + "' has offset " + Long.toUnsignedString(t.offset) + ", not a multiple of the alignment " + alignment);
                if (Long.compareUnsigned(t.offset, room) > 0 || t.bytes > room - t.offset) {
                    throw bad("truncated file: tensor '" + t.name + "' needs bytes [" + Long.toUnsignedString(t.offset) + ", "
                            + Long.toUnsignedString(t.offset + t.bytes) + ") of a data section of " + room);
                }
            }
            sorted.sort(Comparator.comparingLong(TensorInfo::offset));
            for (int i = 1; i < sorted.size(); i++) {
                TensorInfo a = sorted.get(i - 1), b = sorted.get(i);
                if (a.offset + a.bytes > b.offset) throw bad("tensors '" + a.name + "' and '" + b.name + "' overlap");
            }
        }

        // -- the header's primitives, each checked against the bytes left --

        private void need(long n, String what) {
            if (n < 0 || n > size - at) throw bad("truncated file: " + what + " at byte " + at + " runs past the end (" + size + " bytes)");
        }

        private long u8(String what) {
            need(1, what);
            return file.get(ValueLayout.JAVA_BYTE, at++) & 0xFFL;
        }

        private long u16(String what) {
            need(2, what);
            long v = file.get(LE_SHORT, at) & 0xFFFFL;
            at += 2;
            return v;
        }

        private long u32(String what) {
            need(4, what);
            long v = file.get(LE_INT, at) & 0xFFFFFFFFL;
            at += 4;
            return v;
        }

        private long u64(String what) {
            need(8, what);
            long v = file.get(LE_LONG, at);
            at += 8;
            return v;
        }

        private String str(String what) {
            long n = u64("the length of " + what);
            if (n < 0 || n > size - at || n > Integer.MAX_VALUE - 8) throw bad("truncated file: " + what + " claims " + Long.toUnsignedString(n) + " bytes at byte " + at + " of " + size);
            byte[] b = file.asSlice(at, n).toArray(ValueLayout.JAVA_BYTE);
            at += n;
            return new String(b, StandardCharsets.UTF_8);
        }

        private Type type(long id, String key) {
            if (id >= Type.values().length) throw bad("metadata key '" + key + "' has value type " + id + " (expected 0 to " + (Type.values().length - 1) + ")");
            return Type.values()[(int) id];
        }

        private Object value(Type type, String key, int depth) {
            String what = "the value of " + key;
            return switch (type) {
                case UINT8 -> u8(what);
                case INT8 -> (long) (byte) u8(what);
                case UINT16 -> u16(what);
                case INT16 -> (long) (short) u16(what);
                case UINT32 -> u32(what);
                case INT32 -> (long) (int) u32(what);
                case UINT64, INT64 -> u64(what);
                case FLOAT32 -> (double) Float.intBitsToFloat((int) u32(what));
                case FLOAT64 -> Double.longBitsToDouble(u64(what));
                case BOOL -> {
                    long b = u8(what);
                    if (b > 1) throw bad("metadata key '" + key + "' is a bool of value " + b + " (expected 0 or 1)");
                    yield b == 1;
                }
                case STRING -> str(what);
                case ARRAY -> {
                    if (depth >= MAX_DEPTH) throw bad("metadata key '" + key + "' nests arrays deeper than " + MAX_DEPTH);
                    Type element = type(u32("the element type of " + key), key);
                    long n = u64("the length of " + key);
                    long least = switch (element) {
                        case UINT8, INT8, BOOL -> 1;
                        case UINT16, INT16 -> 2;
                        case UINT32, INT32, FLOAT32 -> 4;
                        case STRING, UINT64, INT64, FLOAT64 -> 8;
                        case ARRAY -> 12;
                    };
                    if (n < 0 || n > (size - at) / least) throw bad("metadata key '" + key + "' claims " + Long.toUnsignedString(n) + " elements, more than the file can hold");
                    List<Object> items = new ArrayList<>((int) n);
                    for (long i = 0; i < n; i++) items.add(value(element, key, depth + 1));
                    yield new Array(element, Collections.unmodifiableList(items));
                }
            };
        }

        private CramjetException bad(String what) { return new CramjetException(path + ": invalid GGUF file: " + what); }

        // -- access --

        public Path path() { return path; }

        public Map<String, Value> metadata() { return metadata; }

        /** Tensors by name, in header order. */
        public Map<String, TensorInfo> tensors() { return tensors; }

        public int alignment() { return alignment; }

        /** The raw bytes of a tensor's data, in its type's layout. */
        public byte[] bytes(TensorInfo t) {
            if (t.bytes > Integer.MAX_VALUE - 8) throw new CramjetException(path + ": tensor '" + t.name + "' is too large to read at once");
            return file.asSlice(dataStart + t.offset, t.bytes).toArray(ValueLayout.JAVA_BYTE);
        }

        /** An F32, F16 or BF16 tensor's values as floats (Q8_0 is read as {@link #bytes} blocks). */
        public float[] floats(TensorInfo t) {
            long n = t.elements();
            if (n > Integer.MAX_VALUE - 8) throw new CramjetException(path + ": tensor '" + t.name + "' is too large to read at once");
            float[] out = new float[(int) n];
            MemorySegment seg = file.asSlice(dataStart + t.offset, t.bytes);
            switch (t.type) {
                case F32 -> MemorySegment.copy(seg, LE_FLOAT, 0, out, 0, out.length);
                case F16 -> { for (int i = 0; i < out.length; i++) out[i] = Float.float16ToFloat(seg.get(LE_SHORT, 2L * i)); }
                case BF16 -> { for (int i = 0; i < out.length; i++) out[i] = Float.intBitsToFloat((seg.get(LE_SHORT, 2L * i) & 0xFFFF) << 16); }
                case Q8_0 -> throw new IllegalArgumentException(t.name + " is Q8_0: read its blocks");
            }
            return out;
        }

        // -- typed metadata, each naming the key when it is missing or of another type --

        /** The value of {@code key}, or null when absent. */
        public Value get(String key) { return metadata.get(key); }

        /** An integer value of any integer type. */
        public long integer(String key) {
            Value v = require(key);
            if (v.value() instanceof Long l && v.type() != Type.ARRAY) return l;
            throw wrongType(key, v, "an integer");
        }

        /** A FLOAT32 or FLOAT64 value. */
        public double number(String key) {
            Value v = require(key);
            if (v.value() instanceof Double d) return d;
            throw wrongType(key, v, "a float");
        }

        public String string(String key) { return (String) typed(key, Type.STRING, "a string").value(); }

        public boolean bool(String key) { return (Boolean) typed(key, Type.BOOL, "a bool").value(); }

        /** An array value whose elements are of {@code element} type. */
        public List<Object> array(String key, Type element) {
            Array a = (Array) typed(key, Type.ARRAY, "an array").value();
            if (a.element() != element) throw bad("metadata key '" + key + "' is an array of " + a.element() + ", expected an array of " + element);
            return a.items();
        }

        private Value typed(String key, Type type, String expected) {
            Value v = require(key);
            if (v.type() != type) throw wrongType(key, v, expected);
            return v;
        }

        private Value require(String key) {
            Value v = metadata.get(key);
            if (v == null) throw bad("metadata key '" + key + "' is missing");
            return v;
        }

        private CramjetException wrongType(String key, Value v, String expected) {
            return bad("metadata key '" + key + "' is " + v.type() + ", expected " + expected);
        }

        @Override
        public void close() { arena.close(); }
    }

    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
}
