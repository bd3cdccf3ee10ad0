package dev.cramjet.cli;

import dev.cramjet.engine.Rng;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Json;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.train.MetricsLog;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * finetune --task classify, classify and eval --task classify end to end on a generated task: "weather" and
 * "cooking" sentences drawn from two word lists that share filler words, over a small random base model.
 */
class FinetuneCommandTest {
    @TempDir
    static Path dir;
    static Path base, data;

    private static final String[] WEATHER = {"rain", "storm", "cloud", "sunny", "wind", "snow", "cold", "forecast"};
    private static final String[] COOKING = {"bake", "salt", "oven", "butter", "pasta", "sauce", "onion", "recipe"};
    private static final String[] FILLER = {"the", "today", "we", "saw", "a", "lot", "of", "and", "very", "is"};

    static String sentence(String[] topic, long seed) {
        StringBuilder sb = new StringBuilder();
        for (int w = 0; w < 12; w++) {
            String[] from = Rng.uniform(seed, w) < 0.4f ? topic : FILLER;
            if (!sb.isEmpty()) sb.append(' ');
            sb.append(from[(int) (Rng.uniform(seed + 99, w) * from.length)]);
        }
        return sb.toString();
    }

    @BeforeAll
    static void setUp() throws Exception {
        List<String> texts = new ArrayList<>();
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 240; i++) {
            boolean w = i % 2 == 0;
            String t = sentence(w ? WEATHER : COOKING, i);
            texts.add(t);
            jsonl.append(Json.write(Map.of("text", t, "label", w ? "weather" : "cooking"))).append('\n');
        }
        data = Files.writeString(dir.resolve("data.jsonl"), jsonl);
        Tokenizer tok = new BpeTrainer().train(texts, 300, Tokenizer.DEFAULT_SPECIALS);
        try (CpuBackend cpu = new CpuBackend()) {
            GPT m = new GPT(cpu, GPTConfig.gpt2(2, 2, 32, tok.vocabSize(), 32), 1, 1, 5);
            base = dir.resolve("base");
            ModelDir.save(m, base);
            tok.save(base.resolve("tokenizer.json"));
        }
    }

    static Cli cramjet(String... argv) { return Cli.run(argv); }

    private static String[] finetune(Path run, String... extra) {
        List<String> a = new ArrayList<>(List.of("finetune", "--task", "classify", "--model", base.toString(), "--data", data.toString(),
                "--out", run.toString(), "--batch", "8", "--lr", "3e-3", "--eval-every", "20", "--eval-minutes", "0", "--near-dup", "0"));
        a.addAll(Arrays.asList(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void fineTunesClassifiesAndEvaluates() throws Exception {
        Path run = dir.resolve("run");
        Cli o = cramjet(finetune(run, "--max-steps", "60"));
        assertEquals(0, o.rc(), o.err() + o.out());
        assertTrue(o.out().contains("test split ("), o.out());
        Map<String, Object> test = Json.object(Json.parse(Files.readString(run.resolve("test_metrics.json")), "t"), "t");
        double accuracy = Json.number(test.get("accuracy"), "accuracy");
        assertTrue(accuracy >= 0.9, "an easy task is learned: " + accuracy);
        assertEquals(List.of("cooking", "weather"), test.get("labels"));
        assertTrue(Files.readString(run.resolve("report.html")).contains("Confusion") || Files.exists(run.resolve("plots/confusion.png")));
        assertTrue(MetricsLog.read(run.resolve("metrics.jsonl")).stream().anyMatch(m -> m.containsKey("val_macro_f1")));

        Cli c = cramjet("classify", "--run", run.toString(), "--json", "the storm and the rain and the cold wind today",
                "we bake pasta with butter and onion sauce in the oven");
        assertEquals(0, c.rc(), c.err());
        String[] lines = c.out().strip().split("\n");
        assertEquals(2, lines.length, c.out());
        assertEquals("weather", Json.object(Json.parse(lines[0], "l"), "l").get("label"), c.out() + o.out());
        assertEquals("cooking", Json.object(Json.parse(lines[1], "l"), "l").get("label"));
        assertTrue(c.err().contains("texts/s"), c.err());

        Cli e = cramjet("eval", "--task", "classify", "--run", run.toString(), "--data", run.resolve("task").toString(), "--json");
        assertEquals(0, e.rc(), e.err());
        assertEquals(accuracy, Json.number(Json.object(Json.parse(e.out(), "e"), "e").get("accuracy"), "a"), 1e-12,
                "eval scores the best checkpoint as the run did");
        Cli nb = cramjet("eval", "--task", "classify", "--baseline", "naive-bayes", "--data", run.resolve("task").toString());
        assertEquals(0, nb.rc(), nb.err());
        assertTrue(nb.out().contains("macro avg"), nb.out());
        Cli bow = cramjet("eval", "--task", "classify", "--baseline", "bag-of-words", "--data", run.resolve("task").toString(), "--json");
        assertEquals(0, bow.rc(), bow.err());
        assertTrue(Json.number(Json.object(Json.parse(bow.out(), "b"), "b").get("accuracy"), "a") >= 0.9, bow.out());

        // the model stacked with the word model: the fitted weights are in the JSON, and classify applies the same blend
        Cli bl = cramjet("eval", "--task", "classify", "--run", run.toString(), "--data", run.resolve("task").toString(),
                "--blend", "bag-of-words", "--json");
        assertEquals(0, bl.rc(), bl.err());
        Map<String, Object> blended = Json.object(Json.parse(bl.out(), "b"), "b");
        assertTrue(((String) blended.get("classifier")).contains("blended with bag-of-words logistic regression"), bl.out());
        assertTrue(Json.number(blended.get("accuracy"), "a") >= 0.9, bl.out());
        Map<String, Object> weights = Json.object(blended.get("blend"), "blend");
        assertEquals(2, ((List<?>) weights.get("bias")).size(), bl.out());
        Cli cb = cramjet("classify", "--run", run.toString(), "--blend", "bag-of-words", "--json", "the storm and the rain and the cold wind today");
        assertEquals(0, cb.rc(), cb.err());
        assertEquals("weather", Json.object(Json.parse(cb.out().strip(), "l"), "l").get("label"), cb.out());
        assertTrue(cb.err().contains("blended with bag-of-words"), cb.err());
        Cli onVal = cramjet("eval", "--task", "classify", "--run", run.toString(), "--data", run.resolve("task").toString(),
                "--blend", "bag-of-words", "--split", "val");
        assertEquals(2, onVal.rc());
        assertTrue(onVal.err().contains("--blend is fitted on the validation split; score another --split"), onVal.err());
        Cli noTask = cramjet("classify", "--model", FinetuneCommand.bestCheckpoint(run).toString(), "--blend", "bag-of-words", "rain");
        assertEquals(2, noTask.rc());
        assertTrue(noTask.err().contains("--blend with --model needs --data TASK"), noTask.err());

        Cli tv = cramjet("eval", "--task", "classify", "--run", run.toString(), "--data", run.resolve("task").toString(), "--threshold", "val", "--json");
        assertEquals(0, tv.rc(), tv.err());
        double t = Json.number(Json.object(Json.parse(tv.out(), "e"), "e").get("threshold"), "threshold");
        assertTrue(t > 0 && t <= 1, "a probability: " + t);
        // a threshold above every probability labels everything with the first class
        Cli all = cramjet("classify", "--run", run.toString(), "--threshold", "0.999999", "--json", "the storm and the rain and the cold wind today");
        assertEquals(0, all.rc(), all.err());
        assertEquals("cooking", Json.object(Json.parse(all.out().strip(), "l"), "l").get("label"), all.out());
        Cli bad = cramjet("eval", "--task", "classify", "--baseline", "naive-bayes", "--data", run.resolve("task").toString(), "--threshold", "1.5");
        assertEquals(2, bad.rc());
        assertTrue(bad.err().contains("--threshold must be val or a probability between 0 and 1, got '1.5'"), bad.err());
    }

    /** An encoder base goes through the same path: pooled on its first token unless told, saved as an encoder classifier. */
    @Test
    void anEncoderFineTunesThroughTheSamePath() throws Exception {
        Path encoder = dir.resolve("encoder-base"), run = dir.resolve("encoder-run");
        Tokenizer tok = Tokenizer.load(base.resolve("tokenizer.json"));
        try (CpuBackend cpu = new CpuBackend()) {
            EncoderDir.save(new Encoder(cpu, EncoderConfig.bert(2, 2, 32, tok.vocabSize(), 32), 1, 1, 5, Model.Options.INFERENCE), encoder);
        }
        tok.save(encoder.resolve("tokenizer.json"));
        List<String> argv = new ArrayList<>(Arrays.asList(finetune(run, "--max-steps", "60")));
        argv.set(argv.indexOf(base.toString()), encoder.toString());
        Cli o = cramjet(argv.toArray(String[]::new));
        assertEquals(0, o.rc(), o.err() + o.out());
        assertTrue(o.out().contains("an encoder of 2 layers") && o.out().contains("pooling first"), o.out());
        Map<String, Object> settings = Json.object(Json.parse(Files.readString(run.resolve("finetune.json")), "f"), "f");
        assertEquals("first", settings.get("pooling"), "an encoder reads its [CLS] unless told");
        double accuracy = Json.number(Json.object(Json.parse(Files.readString(run.resolve("test_metrics.json")), "t"), "t").get("accuracy"), "a");
        assertTrue(accuracy >= 0.9, "an easy task is learned: " + accuracy);

        Path best = FinetuneCommand.bestCheckpoint(run);
        assertTrue(EncoderDir.isEncoder(best));
        try (Safetensors.Reader r = Safetensors.open(best.resolve("model.safetensors"))) {
            assertTrue(r.tensors().containsKey("score.weight") && r.tensors().containsKey("bert.encoder.layer.1.output.dense.weight"));
            assertFalse(r.tensors().keySet().stream().anyMatch(n -> n.startsWith("cls.predictions.")), "the masked-token head is not kept");
        }
        Cli c = cramjet("classify", "--run", run.toString(), "--json", "the storm and the rain and the cold wind today");
        assertEquals(0, c.rc(), c.err());
        assertEquals("weather", Json.object(Json.parse(c.out().strip(), "l"), "l").get("label"), c.out());
    }

    @Test
    void headOnlyAndLoraLeaveTheBaseWeightsAsTheyWere() throws Exception {
        for (String mode : List.of("head", "lora")) {
            Path run = dir.resolve("run-" + mode);
            Cli o = cramjet(finetune(run, "--max-steps", "6", "--train", mode));
            assertEquals(0, o.rc(), o.err() + o.out());
            Path ck = Files.list(run.resolve("checkpoints")).filter(p -> p.getFileName().toString().startsWith("step-000000006")).findFirst().orElseThrow();
            try (Safetensors.Reader before = Safetensors.open(base.resolve("model.safetensors"));
                 Safetensors.Reader after = Safetensors.open(ck.resolve("model.safetensors"))) {
                for (String name : before.tensors().keySet()) {
                    assertArrayEquals(before.read(name), after.read(name), mode + ": base tensor " + name + " changed");
                }
                assertTrue(after.tensors().containsKey("score.weight"));
                assertEquals(mode.equals("lora"), after.tensors().containsKey("h.0.attn.qkv.lora_A.weight"), after.tensors().keySet().toString());
            }
            assertTrue(Files.isRegularFile(ck.resolve("classifier.json")));
            Path adapter = run.resolve("adapter/adapter_config.json");
            assertEquals(mode.equals("lora"), Files.isRegularFile(adapter), "a LoRA classifier is also a PEFT adapter");
            if (mode.equals("lora")) {
                Map<String, Object> conf = Json.object(Json.parse(Files.readString(adapter), "a"), "a");
                assertEquals("SEQ_CLS", conf.get("task_type"));
                assertEquals(List.of("score"), conf.get("modules_to_save"));
            }
            // The checkpoint is a classifier directory either way: classify and eval load it (a LoRA one with its
            // adapters, from classifier.json's "lora"), and eval's test scores are the run's own.
            Cli c = cramjet("classify", "--run", run.toString(), "--json", "the storm and the rain and the cold wind today");
            assertEquals(0, c.rc(), mode + ": " + c.err());
            Cli e = cramjet("eval", "--task", "classify", "--run", run.toString(), "--data", run.resolve("task").toString(), "--json");
            assertEquals(0, e.rc(), mode + ": " + e.err());
            Map<String, Object> own = Json.object(Json.parse(Files.readString(run.resolve("test_metrics.json")), "t"), "t");
            Map<String, Object> again = Json.object(Json.parse(e.out(), "e"), "e");
            assertEquals(own.get("accuracy"), again.get("accuracy"), mode);
            assertEquals(own.get("roc_auc"), again.get("roc_auc"), mode);
        }
    }

    /** Fine-tunes {@code a} for ten steps with {@code flags} and resumes it to twenty, and {@code b} for twenty straight. */
    private void resumedAndStraight(Path a, Path b, String... flags) throws Exception {
        List<String> first = new ArrayList<>(Arrays.asList(finetune(a, "--max-steps", "10")));
        first.addAll(Arrays.asList(flags));
        Cli f = cramjet(first.toArray(String[]::new));
        assertEquals(0, f.rc(), f.err() + f.out());
        Cli r = cramjet("finetune", "--resume", a.toString(), "--max-steps", "20");
        assertEquals(0, r.rc(), r.err() + r.out());
        List<String> straight = new ArrayList<>(Arrays.asList(finetune(b, "--max-steps", "20")));
        straight.addAll(Arrays.asList(flags));
        Cli s = cramjet(straight.toArray(String[]::new));
        assertEquals(0, s.rc(), s.err() + s.out());
    }

    /** Ten steps, then a resume to twenty, match twenty straight steps bit for bit (constant learning rate, dropout on). */
    @Test
    void resumeIsExact() throws Exception {
        Path a = dir.resolve("resume-a"), b = dir.resolve("resume-b");
        resumedAndStraight(a, b, "--min-lr-ratio", "1", "--warmup", "0", "--eval-every", "0", "--patience", "0", "--class-weights", "balanced");
        assertEquals(losses(b), losses(a));
        assertEquals(20, losses(a).size());
    }

    /**
     * With an average of the weights (--ema): ten steps and a resume to twenty match twenty straight steps bit for bit
     * — the training losses, the validation pass at step 20 (which reads the average) and the last checkpoint's
     * files; that checkpoint's model is the average the validation pass read; and a bad decay is one line, exit 2.
     */
    @Test
    void anAverageOfTheWeightsResumesExactlyAndIsTheCheckpointsModel() throws Exception {
        Path a = dir.resolve("ema-a"), b = dir.resolve("ema-b");
        resumedAndStraight(a, b, "--min-lr-ratio", "1", "--warmup", "0", "--patience", "0", "--class-weights", "balanced", "--ema", "0.9");
        assertEquals(losses(b), losses(a));
        assertEquals(validation(b, 20), validation(a, 20));
        Path last = Path.of("checkpoints", "step-000000020");
        for (String f : List.of("model.safetensors", "ema.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(b.resolve(last).resolve(f)), Files.readAllBytes(a.resolve(last).resolve(f)), f);
        }
        try (Safetensors.Reader ema = Safetensors.open(b.resolve(last).resolve("ema.safetensors"));
             Safetensors.Reader model = Safetensors.open(b.resolve(last).resolve("model.safetensors"))) {
            float[] w = model.read("score.weight"), bias = model.read("score.bias"), avg = ema.read("average"), trained = ema.read("trained");
            // the layout ends with the head (group HEAD after BASE): its matrix, then its bias (kinds in that order)
            int n = avg.length, at = n - bias.length - w.length;
            assertArrayEquals(Arrays.copyOfRange(avg, at, at + w.length), w, "the checkpoint's head is the average");
            assertArrayEquals(Arrays.copyOfRange(avg, n - bias.length, n), bias);
            assertFalse(Arrays.equals(Arrays.copyOfRange(trained, at, at + w.length), w), "the trained weights differ from it");
        }
        Cli e = cramjet("eval", "--task", "classify", "--model", b.resolve(last).toString(), "--data", b.resolve("task").toString(),
                "--split", "val", "--batch", "8", "--json");
        assertEquals(0, e.rc(), e.err());
        Map<String, Object> scored = Json.object(Json.parse(e.out(), "e"), "e");
        assertEquals(validation(b, 20).get("val_accuracy"), scored.get("accuracy"), "the checkpoint's model is what step 20 evaluated");
        assertEquals((Double) validation(b, 20).get("val_loss"), Json.number(scored.get("loss"), "loss"), 1e-6);

        for (String[] bad : new String[][] {{"1.5", "key 'ema' must be a fraction in [0, 1], got 1.5"},
                {"1", "ema: the decay must be below 1"}, {"fast", "key 'ema' expects a number, got 'fast'"}}) {
            Cli o = cramjet(finetune(dir.resolve("ema-bad"), "--max-steps", "2", "--ema", bad[0]));
            assertEquals(2, o.rc(), o.out() + o.err());
            assertTrue(o.err().contains(bad[1]), o.err());
            assertEquals(1, o.err().strip().lines().count(), o.err());
            assertFalse(Files.exists(dir.resolve("ema-bad")), "nothing written for a bad decay");
        }
    }

    /** The metrics line of the validation pass at {@code step}, without its clock. */
    private static Map<String, Object> validation(Path run, long step) throws Exception {
        Map<String, Object> m = new java.util.LinkedHashMap<>(MetricsLog.read(run.resolve("metrics.jsonl")).stream()
                .filter(l -> "eval".equals(l.get("type")) && Long.valueOf(step).equals(l.get("step"))).findFirst().orElseThrow());
        m.remove("elapsed_s");
        return m;
    }

    private static List<Double> losses(Path run) throws Exception {
        return MetricsLog.read(run.resolve("metrics.jsonl")).stream().filter(m -> "train".equals(m.get("type")))
                .map(m -> Json.number(m.get("loss"), "loss")).toList();
    }

    @Test
    void badInputIsOneLineNamingTheFileAndLine() throws Exception {
        Path bad = Files.writeString(dir.resolve("bad.jsonl"), "{\"text\":\"fine\",\"label\":\"a\"}\n{\"text\":\"no label\"}\n");
        Cli o = cramjet("finetune", "--task", "classify", "--model", base.toString(), "--data", bad.toString(), "--out", dir.resolve("bad-run").toString());
        assertEquals(2, o.rc());
        assertTrue(o.err().contains(bad + ":2: missing field 'label'"), o.err());
        assertFalse(Files.exists(dir.resolve("bad-run")), "nothing written for bad input");
        Cli t = cramjet("finetune", "--task", "translate", "--model", base.toString());
        assertEquals(2, t.rc());
        assertTrue(t.err().contains("unknown task 'translate'"), t.err());
        Cli w = cramjet("finetune", "--task", "classify", "--model", base.toString(), "--data", data.toString(), "--width", "64");
        assertEquals(2, w.rc());
        assertTrue(w.err().contains("--width: a fine-tune takes the base model's shape"), w.err());
        Cli r = cramjet("finetune", "--resume", dir.resolve("some-run").toString(), "--pooling", "mean");
        assertEquals(2, r.rc());
        assertTrue(r.err().contains("--pooling: cannot change when resuming"), r.err());
    }
}
