package dev.cramjet.cli;

import dev.cramjet.io.Json;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.TinyData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The encoder's commands end to end on a tiny generated corpus: MLM pretraining, fill, distillation. */
class EncoderCommandsTest {
    @TempDir static Path tmp;
    static Path data, encoderRun;

    /** Runs the CLI; returns the exit status, stdout and stderr. */
    private static String[] cli(String... argv) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        try {
            int rc = Main.run(argv);
            return new String[] {Integer.toString(rc), o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    private static final String[] SMALL = {"--context", "16", "--batch", "8", "--eval-every", "4", "--eval-tokens", "256",
        "--checkpoint-minutes", "0"};

    private static String[] args(String... a) {
        String[] all = java.util.Arrays.copyOf(a, a.length + SMALL.length);
        System.arraycopy(SMALL, 0, all, a.length, SMALL.length);
        return all;
    }

    @BeforeAll
    static void pretrain() throws IOException {
        data = TinyData.make(Files.createDirectories(tmp.resolve("data")));
        encoderRun = tmp.resolve("enc");
        String[] r = cli(args("train", "--data", data.toString(), "--out", encoderRun.toString(), "--model", "crammed-tiny",
                "--layers", "2", "--width", "32", "--heads", "2", "--max-steps", "8", "--lr", "0.01"));
        assertEquals("0", r[0], r[2]);
    }

    @Test
    void mlmPretrainingWritesAnEncoderRunWithMaskedTokenAccuracy() throws IOException {
        Path ckpt = encoderRun.resolve("checkpoints/step-000000008");
        assertTrue(EncoderDir.isEncoder(ckpt));
        assertEquals(2, EncoderDir.readConfig(ckpt).nLayer());
        var evals = MetricsLog.read(encoderRun.resolve("metrics.jsonl")).stream().filter(m -> m.get("type").equals("eval")).toList();
        assertEquals(2, evals.size());
        double accuracy = Json.number(evals.getLast().get("val_accuracy"), "val_accuracy");
        assertTrue(accuracy > 0 && accuracy < 1, "masked-token accuracy " + accuracy);
        Map<String, Object> cfg = Json.object(Json.parse(Files.readString(encoderRun.resolve("config.json")), "c"), "c");
        assertEquals("mlm", cfg.get("objective"));
        assertEquals("triangle", cfg.get("schedule"), "the crammed preset's schedule");

        String[] r = cli("eval", "--model", ckpt.toString(), "--tokens", data.toString(), "--json");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("tokenizer.json: no such file (an encoder's evaluation needs its mask token)"), r[2]);
        Files.copy(encoderRun.resolve("tokenizer.json"), ckpt.resolve("tokenizer.json"));
        r = cli("eval", "--model", ckpt.toString(), "--tokens", data.toString(), "--seq", "16", "--mask-rate", "0.25", "--json");
        assertEquals("0", r[0], r[2]);
        Map<String, Object> m = Json.object(Json.parse(r[1].trim(), "eval"), "eval");
        double evalAccuracy = Json.number(m.get("accuracy"), "accuracy");
        assertTrue(evalAccuracy > 0 && evalAccuracy < 1, r[1]);
        assertTrue(Json.integer(m.get("targets"), "targets") > 100, r[1]);
    }

    @Test
    void fillPredictsTheMaskedTokens() throws IOException {
        String[] r = cli("fill", "--run", encoderRun.toString(), "--text", "春花<|mask|>月", "--top", "3", "--json");
        assertEquals("0", r[0], r[2]);
        Map<String, Object> out = Json.object(Json.parse(r[1].trim(), "fill"), "fill");
        List<Object> masks = Json.array(out.get("masks"), "masks");
        assertEquals(1, masks.size());
        Map<String, Object> m = Json.object(masks.getFirst(), "mask");
        assertEquals(3, Json.array(m.get("top"), "top").size());
        int vocab = dev.cramjet.tokenizer.Tokenizer.load(encoderRun.resolve("tokenizer.json")).vocabSize();
        assertEquals(vocab, Json.array(m.get("logits"), "logits").size(), "a logit per token of the vocabulary");
    }

    @Test
    void distillingAnEncoderAndAGptIntoHalfDepthStudents() throws IOException {
        Path student = tmp.resolve("student");
        String[] r = cli(args("distill", "--teacher", encoderRun.toString(), "--data", data.toString(), "--out", student.toString(),
                "--layers", "1", "--max-steps", "4"));
        assertEquals("0", r[0], r[2]);
        Map<String, Object> info = Json.object(Json.parse(Files.readString(student.resolve("distill.json")), "d"), "d");
        assertEquals(List.of(0L), info.get("layer_map"));
        assertEquals(5.0, info.get("alpha_ce"));
        assertEquals(1, EncoderDir.readConfig(student.resolve("checkpoints/step-000000004")).nLayer());
        assertTrue(r[1].contains("teacher  2 blocks") && r[1].contains("student  1 blocks"), r[1]);

        Path gpt = tmp.resolve("gpt");
        r = cli(args("train", "--data", data.toString(), "--out", gpt.toString(), "--model", "micro", "--max-steps", "4",
                "--samples", "0"));
        assertEquals("0", r[0], r[2]);
        Path small = tmp.resolve("gpt-student");
        r = cli(args("distill", "--teacher", gpt.toString(), "--data", data.toString(), "--out", small.toString(), "--max-steps", "2"));
        assertEquals("0", r[0], r[2]);
        assertEquals(1, ModelDir.readConfig(small.resolve("checkpoints/step-000000002")).nLayer(), "half of micro's 2 blocks");

        r = cli("distill", "--teacher", encoderRun.toString(), "--data", data.toString(), "--width", "64", "--max-steps", "1");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("--width: the student's shape comes from the teacher"), r[2]);
    }
}
