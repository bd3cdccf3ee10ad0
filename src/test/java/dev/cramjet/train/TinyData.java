package dev.cramjet.train;

import dev.cramjet.data.ShardWriter;
import dev.cramjet.engine.Rng;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A small prepared data directory for end-to-end tests: generated five-character "poems", a 300-id BPE. */
public final class TinyData {
    private TinyData() {}

    private static final String CHARS = "春花秋月山水风雨江河日夜云天人归来去长短明白青红孤舟远近";

    public static List<String> poems(int n, long seed) {
        List<String> out = new ArrayList<>();
        long k = 0;
        for (int d = 0; d < n; d++) {
            StringBuilder sb = new StringBuilder();
            for (int line = 0; line < 4; line++) {
                for (int c = 0; c < 5; c++) sb.append(CHARS.charAt((int) (Rng.uniform(seed, k++) * CHARS.length())));
                sb.append(line % 2 == 0 ? '，' : '。');
            }
            out.add(sb.toString());
        }
        return out;
    }

    /** Writes tokenizer.json, train_000.bin and val_000.bin into {@code dir}. */
    public static Path make(Path dir) throws IOException {
        List<String> train = poems(1500, 1), val = poems(100, 2);
        Tokenizer tok = new BpeTrainer().train(train, 300, Tokenizer.DEFAULT_SPECIALS);
        tok.save(dir.resolve("tokenizer.json"));
        for (var split : List.of(train, val)) {
            ShardWriter w = new ShardWriter(dir, split == train ? "train" : "val", tok.vocabSize(), tok.eot(), tok.hash(), 1 << 20);
            for (String doc : split) w.add(tok.encode(doc));
            w.finish();
        }
        return dir;
    }
}
