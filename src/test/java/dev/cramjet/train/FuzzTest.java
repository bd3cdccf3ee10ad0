package dev.cramjet.train;

import dev.cramjet.Fuzz;
import dev.cramjet.data.ShardReader;
import dev.cramjet.data.ShardWriter;
import dev.cramjet.data.TokenShards;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Json;
import dev.cramjet.io.Manifest;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.report.Metrics;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every parser of a file Cramjet reads, fed valid files mutated at random (see {@link Fuzz}): the only failure
 * allowed is the project's clear error naming the file. GGUF is not read yet, so it has no case here.
 */
@Timeout(120) // a guard against a parser that loops forever on some input, not a measure of speed
class FuzzTest {
    /** Cases per parser: enough for CI in seconds; -Dcramjet.fuzz.cases=20000 searches deeper. */
    static final int CASES = Integer.getInteger("cramjet.fuzz.cases", 300);

    @TempDir static Path tmp;
    static Backend be;

    @BeforeAll
    static void open() { be = new CpuBackend(); }

    @AfterAll
    static void close() { be.close(); }

    @Test
    void safetensors() throws IOException {
        Path f = Files.createDirectories(tmp.resolve("st")).resolve("t.safetensors");
        float[] x = new float[24];
        for (int i = 0; i < x.length; i++) x[i] = i * 0.5f - 3;
        Safetensors.write(f, Map.of("format", "pt"), List.of(new Safetensors.Item("a", Safetensors.WriteType.F32, new long[] {3, 4}, x, 0),
                new Safetensors.Item("b", Safetensors.WriteType.BF16, new long[] {2, 2, 3}, x, 12),
                new Safetensors.Item("empty", Safetensors.WriteType.F32, new long[] {0, 5}, x, 0)));
        Fuzz.Parser read = p -> {
            try (Safetensors.Reader r = Safetensors.open(p)) {
                for (Safetensors.Entry e : r.tensors().values()) {
                    if (List.of("F32", "BF16", "F16").contains(e.dtype()) && e.numel() < 1 << 20) r.read(e.name());
                }
            }
        };
        byte[] valid = Files.readAllBytes(f);
        Fuzz.check(f, CASES, 1, Fuzz.binary(valid), read);
        // The header's JSON with wrong types and lying shapes or offsets, its length prefix kept true.
        long n = ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        Object header = Json.parse(new String(valid, 8, (int) n, StandardCharsets.UTF_8).strip(), "header");
        byte[] data = Arrays.copyOfRange(valid, 8 + (int) n, valid.length);
        Fuzz.check(f, CASES, 2, (r, how) -> {
            byte[] h = Fuzz.mutateJson(header, r, how);
            return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).put(data).array();
        }, read);
    }

    @Test
    void modelDirectories() throws IOException {
        Path d = tmp.resolve("model");
        ModelDir.save(new GPT(be, GPTConfig.preset("micro").with(Map.of("block_size", 16L), "t"), 1, 8, 1), d);
        Fuzz.Parser load = p -> ModelDir.load(be, d, 1, 8);
        Fuzz.check(d.resolve(ModelDir.WEIGHTS), CASES, 3, Fuzz.binary(Files.readAllBytes(d.resolve(ModelDir.WEIGHTS))), load);
        Fuzz.check(d.resolve(ModelDir.CONFIG), CASES, 4, Fuzz.json(Files.readAllBytes(d.resolve(ModelDir.CONFIG))), load);
    }

    @Test
    void tokenizers() throws IOException {
        Path f = Files.createDirectories(tmp.resolve("tok")).resolve("tokenizer.json");
        new BpeTrainer().train(List.of("the quick brown fox jumps over the lazy dog", "春眠不觉晓，处处闻啼鸟。"), 300,
                Tokenizer.DEFAULT_SPECIALS).save(f);
        Fuzz.check(f, CASES, 5, Fuzz.json(Files.readAllBytes(f)), p -> {
            Tokenizer t = Tokenizer.load(p);
            int[] ids = t.encode("the quick 春眠 <|endoftext|> fox");
            t.decode(ids);
            for (int id = 0; id < t.vocabSize(); id++) t.token(id);
        });
    }

    @Test
    void tokenShards() throws IOException {
        for (int vocab : new int[] {300, 70_000}) {
            Path d = Files.createDirectories(tmp.resolve("shards-" + vocab));
            ShardWriter w = new ShardWriter(d, "train", vocab, vocab - 1, "hash-" + vocab, 1 << 20);
            for (int doc = 1; doc < 6; doc++) {
                int[] ids = new int[doc * 7];
                for (int i = 0; i < ids.length; i++) ids[i] = (i * 7919 + doc) % (vocab - 1);
                w.add(ids);
            }
            w.finish();
            Path f = d.resolve("train_000.bin");
            Fuzz.check(f, CASES, 6 + vocab, Fuzz.binary(Files.readAllBytes(f)), p -> {
                try (TokenShards s = TokenShards.open(d, "train", null)) {
                    for (ShardReader r : s.shards()) r.read(0, new int[(int) r.size()], 0, (int) r.size());
                }
            });
        }
    }

    /** A checkpoint of a short real run: its manifest, and its state as resume reads it. */
    @Test
    void checkpointManifestsAndState() throws Exception {
        Path run = tmp.resolve("run");
        new Harness(run, Harness.config(Map.of("max-steps", "6")), new ManualClock()).trainer.run();
        Harness resumer = new Harness(run, Harness.config(Map.of("max-steps", "12")), new ManualClock());
        Path ck = resumer.trainer.checkpoints().list().getLast();
        Path manifest = ck.resolve(Checkpoints.MANIFEST), state = ck.resolve(Checkpoints.STATE);
        Fuzz.check(manifest, CASES, 7, Fuzz.json(Files.readAllBytes(manifest)), p -> Checkpoints.load(ck));
        Map<String, Object> fields = new LinkedHashMap<>(Manifest.read(ck));
        fields.remove("files");
        // State files changed and listed again in the manifest, so that they get past the checksums to the parser.
        Fuzz.check(state, CASES, 8, Fuzz.json(Files.readAllBytes(state)), p -> {
            Manifest.write(ck, fields);
            resumer.trainer.resume(Checkpoints.load(ck));
        });
    }

    @Test
    void runConfigs() throws IOException {
        Path f = Files.createDirectories(tmp.resolve("cfg")).resolve("config.json");
        Files.writeString(f, Json.pretty(TrainConfig.resolve(Map.of(), "", Map.of("data", "d", "max-steps", "5")).toJson()));
        Fuzz.check(f, CASES, 9, Fuzz.json(Files.readAllBytes(f)), p -> TrainConfig.load(p, Map.of()));
    }

    @Test
    void metrics() throws Exception {
        Path run = tmp.resolve("metrics-run");
        new Harness(run, Harness.config(Map.of("max-steps", "5", "eval-every", "2")), new ManualClock()).trainer.run();
        Path f = run.resolve("metrics.jsonl");
        Fuzz.check(f, CASES, 10, Fuzz.binary(Files.readAllBytes(f)), p -> {
            MetricsLog.read(p);
            Metrics.read(p);
        });
    }
}
