package dev.cramjet.data;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The shards of one split ({@code train_*.bin} or {@code val_*.bin}) in a prepared data directory, opened
 * together and checked to agree on the tokenizer and vocabulary.
 */
public final class TokenShards implements AutoCloseable {
    private final List<ShardReader> shards;

    public TokenShards(List<ShardReader> shards) {
        if (shards.isEmpty()) throw new IllegalArgumentException("no shards");
        ShardHeader first = shards.getFirst().header();
        for (ShardReader s : shards) {
            ShardHeader h = s.header();
            if (!h.tokenizerHash().equals(first.tokenizerHash()) || h.vocabSize() != first.vocabSize() || h.eot() != first.eot()) {
                throw new CramjetException(s.path() + ": made with tokenizer " + h.tokenizerHash() + " (vocabulary " + h.vocabSize()
                        + "), unlike " + shards.getFirst().path() + " (" + first.tokenizerHash() + ", vocabulary " + first.vocabSize() + ")");
            }
        }
        this.shards = List.copyOf(shards);
    }

    /** Whether {@code dir} holds shards of {@code split}. */
    public static boolean exist(Path dir, String split) { return !paths(dir, split).isEmpty(); }

    private static List<Path> paths(Path dir, String split) {
        if (!Files.isDirectory(dir)) throw new CramjetException(dir + ": not a directory (expected a data directory made by `cramjet prepare`)");
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches(Pattern.quote(split) + "_[0-9]+\\.bin")).sorted().toList();
        } catch (IOException e) {
            throw new CramjetException(dir + ": cannot list data directory: " + e.getMessage(), e);
        }
    }

    /** Opens {@code dir/SPLIT_NNN.bin} in order; {@code expectedHash} null skips the tokenizer check. */
    public static TokenShards open(Path dir, String split, String expectedHash) {
        List<Path> paths = paths(dir, split);
        if (paths.isEmpty()) {
            throw new CramjetException(dir + ": no " + split + "_NNN.bin token shards (run `cramjet prepare` to make them)");
        }
        List<ShardReader> readers = new ArrayList<>();
        try {
            for (Path p : paths) readers.add(ShardReader.open(p, expectedHash));
            return new TokenShards(readers);
        } catch (RuntimeException e) {
            readers.forEach(ShardReader::close);
            throw e;
        }
    }

    public List<ShardReader> shards() { return shards; }

    public long tokens() {
        long n = 0;
        for (ShardReader s : shards) n += s.size();
        return n;
    }

    public int vocabSize() { return shards.getFirst().header().vocabSize(); }

    public int eot() { return shards.getFirst().header().eot(); }

    public String tokenizerHash() { return shards.getFirst().header().tokenizerHash(); }

    @Override
    public void close() { shards.forEach(ShardReader::close); }
}
