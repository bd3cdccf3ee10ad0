package dev.cramjet.cli;

import dev.cramjet.io.Json;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.TinyData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The encoder's commands end to end on a tiny generated corpus: MLM pretraining, fill, fine-tuning, distillation. */
class EncoderCommandsTest {
    @TempDir static Path tmp;
    static Path data, encoderRun;

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
        Cli r = Cli.run(args("train", "--data", data.toString(), "--out", encoderRun.toString(), "--model", "crammed-tiny",
                "--layers", "2", "--width", "32", "--heads", "2", "--max-steps", "8", "--lr", "0.01"));
        assertEquals(0, r.rc(), r.toString());
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

        Cli r = Cli.run("eval", "--model", ckpt.toString(), "--tokens", data.toString(), "--json");
        assertEquals(2, r.rc());
        assertTrue(r.err().contains("tokenizer.json: no such file (an encoder's evaluation needs its mask token)"), r.err());
        Files.copy(encoderRun.resolve("tokenizer.json"), ckpt.resolve("tokenizer.json"));
        r = Cli.run("eval", "--model", ckpt.toString(), "--tokens", data.toString(), "--seq", "16", "--mask-rate", "0.25", "--json");
        assertEquals(0, r.rc(), r.toString());
        Map<String, Object> m = Json.object(Json.parse(r.out().trim(), "eval"), "eval");
        double evalAccuracy = Json.number(m.get("accuracy"), "accuracy");
        assertTrue(evalAccuracy > 0 && evalAccuracy < 1, r.out());
        assertTrue(Json.integer(m.get("targets"), "targets") > 100, r.out());
    }

    @Test
    void fillPredictsTheMaskedTokens() throws IOException {
        Cli r = Cli.run("fill", "--run", encoderRun.toString(), "--text", "春花<|mask|>月", "--top", "3", "--json");
        assertEquals(0, r.rc(), r.toString());
        Map<String, Object> out = Json.object(Json.parse(r.out().trim(), "fill"), "fill");
        List<Object> masks = Json.array(out.get("masks"), "masks");
        assertEquals(1, masks.size());
        Map<String, Object> m = Json.object(masks.getFirst(), "mask");
        assertEquals(3, Json.array(m.get("top"), "top").size());
        int vocab = dev.cramjet.tokenizer.Tokenizer.load(encoderRun.resolve("tokenizer.json")).vocabSize();
        assertEquals(vocab, Json.array(m.get("logits"), "logits").size(), "a logit per token of the vocabulary");
    }

    @Test
    void aPretrainedEncoderRunFineTunesIntoAClassifier() throws IOException {
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            jsonl.append(Json.write(Map.of("text", (i % 2 == 0 ? "春花秋月" : "大漠孤烟") + " " + i, "label", i % 2 == 0 ? "spring" : "desert"))).append('\n');
        }
        Path labelled = Files.writeString(tmp.resolve("labelled.jsonl"), jsonl), run = tmp.resolve("classifier");
        Cli r = Cli.run("finetune", "--task", "classify", "--run", encoderRun.toString(), "--data", labelled.toString(), "--out",
                run.toString(), "--context", "16", "--batch", "8", "--max-steps", "3", "--eval-minutes", "0", "--eval-every", "3",
                "--near-dup", "0");
        assertEquals(0, r.rc(), r.toString());
        assertTrue(r.out().contains("an encoder of 2 layers") && r.out().contains("pooling first"), r.out());
        Path best = FinetuneCommand.bestCheckpoint(run);
        assertTrue(EncoderDir.isEncoder(best), "the classifier is an encoder directory");
        r = Cli.run("classify", "--run", run.toString(), "--json", "春花");
        assertEquals(0, r.rc(), r.toString());
        assertTrue(List.of("spring", "desert").contains(Json.object(Json.parse(r.out().strip(), "c"), "c").get("label")), r.out());
    }

    @Test
    void anEncoderClassifierTrainsItsHeadAloneOrLoRA() throws IOException {
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            jsonl.append(Json.write(Map.of("text", (i % 2 == 0 ? "春花秋月" : "大漠孤烟") + " " + i, "label", i % 2 == 0 ? "spring" : "desert"))).append('\n');
        }
        Path labelled = Files.writeString(tmp.resolve("labelled-peft.jsonl"), jsonl);
        Path base = encoderRun.resolve("checkpoints/step-000000008").resolve(ModelDir.WEIGHTS);
        for (String train : List.of("head", "lora")) {
            Path run = tmp.resolve("classifier-" + train);
            Cli r = Cli.run("finetune", "--task", "classify", "--run", encoderRun.toString(), "--data", labelled.toString(), "--out",
                    run.toString(), "--train", train, "--lora-rank", "2", "--context", "16", "--batch", "8", "--max-steps", "2",
                    "--eval-minutes", "0", "--eval-every", "2", "--near-dup", "0");
            assertEquals(0, r.rc(), r.toString());
            assertTrue(r.out().contains("an encoder of 2 layers") && r.out().contains("trained (" + train + ")"), r.out());
            assertFalse(Files.exists(run.resolve("adapter")), "PEFT adapters are written for GPT bases only");
            Path best = FinetuneCommand.bestCheckpoint(run);
            try (Safetensors.Reader ckpt = Safetensors.open(best.resolve(ModelDir.WEIGHTS)); Safetensors.Reader pre = Safetensors.open(base)) {
                String lora = ckpt.tensors().keySet().stream().filter(n -> n.contains("lora_")).findFirst().orElse(null);
                assertEquals(train.equals("lora"), lora != null, "LoRA tensors in the checkpoint: " + ckpt.tensors().keySet());
                String matrix = pre.tensors().keySet().stream().filter(n -> n.contains("h.0.attn.qkv.weight")).findFirst().orElseThrow();
                assertArrayEquals(pre.read(matrix), ckpt.read(matrix), "the base stays frozen with --train " + train);
            }
            r = Cli.run("classify", "--run", run.toString(), "--json", "春花");   // a LoRA encoder classifier loads with its adapters
            assertEquals(0, r.rc(), r.toString());
        }
    }

    @Test
    void distillingAnEncoderAndAGptIntoHalfDepthStudents() throws IOException {
        Path student = tmp.resolve("student");
        Cli r = Cli.run(args("distill", "--teacher", encoderRun.toString(), "--data", data.toString(), "--out", student.toString(),
                "--layers", "1", "--max-steps", "4"));
        assertEquals(0, r.rc(), r.toString());
        Map<String, Object> info = Json.object(Json.parse(Files.readString(student.resolve("distill.json")), "d"), "d");
        assertEquals(List.of(0L), info.get("layer_map"));
        assertEquals(5.0, info.get("alpha_ce"));
        assertEquals(1, EncoderDir.readConfig(student.resolve("checkpoints/step-000000004")).nLayer());
        assertTrue(r.out().contains("teacher  2 blocks") && r.out().contains("student  1 blocks"), r.out());

        Path gpt = tmp.resolve("gpt");
        r = Cli.run(args("train", "--data", data.toString(), "--out", gpt.toString(), "--model", "micro", "--max-steps", "4",
                "--samples", "0"));
        assertEquals(0, r.rc(), r.toString());
        Path small = tmp.resolve("gpt-student");
        r = Cli.run(args("distill", "--teacher", gpt.toString(), "--data", data.toString(), "--out", small.toString(), "--max-steps", "2"));
        assertEquals(0, r.rc(), r.toString());
        assertEquals(1, ModelDir.readConfig(small.resolve("checkpoints/step-000000002")).nLayer(), "half of micro's 2 blocks");

        r = Cli.run("distill", "--teacher", encoderRun.toString(), "--data", data.toString(), "--width", "64", "--max-steps", "1");
        assertEquals(2, r.rc());
        assertTrue(r.err().contains("--width: the student's shape comes from the teacher"), r.err());
    }
}
