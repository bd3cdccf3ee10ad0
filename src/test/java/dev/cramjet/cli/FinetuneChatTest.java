package dev.cramjet.cli;

import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.report.Metrics;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.tune.PeftFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** `cramjet finetune`, `merge` and `chat` end to end on a small base model and JSONL written here. */
class FinetuneChatTest {
    @TempDir static Path dir;
    static Path base, sft, prefs, same;

    /** A base model (GPT-2 layout) with its tokenizer; a task "reverse the word"; preference pairs. */
    @BeforeAll
    static void setUp() throws Exception {
        List<String> words = List.of("moon", "river", "stone", "cloud", "night", "bird", "snow", "wind", "hill", "leaf");
        List<String> docs = new ArrayList<>();
        StringBuilder jsonl = new StringBuilder(), pairs = new StringBuilder(), constant = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            String w = words.get(i % words.size()) + (i / words.size()), rev = new StringBuilder(w).reverse().toString();
            docs.add("reverse " + w + " " + rev);
            jsonl.append(i % 2 == 0 ? "{\"prompt\": \"reverse " + w + "\", \"completion\": \"" + rev + "\"}\n"
                    : "{\"messages\": [{\"role\": \"user\", \"content\": \"reverse " + w + "\"}, {\"role\": \"assistant\", \"content\": \"" + rev + "\"}]}\n");
            pairs.append("{\"prompt\": \"reverse " + w + "\", \"chosen\": \"" + rev + "\", \"rejected\": \"" + w + "\"}\n");
            constant.append("{\"prompt\": \"reverse " + w + "\", \"completion\": \"moon\"}\n");
        }
        // The chat's special tokens alone, so that the base — and the losses the fine-tunes below start from — stay
        // the same when a special token for other models (the encoder's <|mask|>) joins the defaults.
        List<String> specials = List.of("<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>");
        Tokenizer tok = new BpeTrainer().train(docs, 320, specials);
        try (CpuBackend cpu = new CpuBackend()) {
            // Pretrained a little on the task's text, so that what a fine-tune changes is visible in a few steps.
            GPT m = new GPT(cpu, GPTConfig.gpt2(2, 2, 32, tok.vocabSize(), 48), 8, 48, 3);
            List<Integer> stream = new ArrayList<>();
            for (String doc : docs) {
                stream.add(tok.eot());
                for (int id : tok.encode(doc)) stream.add(id);
            }
            var opt = new dev.cramjet.optim.AdamWOptimizer(cpu, m.parameters(), dev.cramjet.optim.AdamWOptimizer.Settings.defaults());
            java.util.SplittableRandom r = new java.util.SplittableRandom(1);
            int[] x = new int[8 * 48], y = new int[8 * 48];
            for (int step = 0; step < 150; step++) {
                for (int b = 0; b < 8; b++) {
                    int at = r.nextInt(stream.size() - 49);
                    for (int t = 0; t < 48; t++) {
                        x[b * 48 + t] = stream.get(at + t);
                        y[b * 48 + t] = stream.get(at + t + 1);
                    }
                }
                m.zeroGrad();
                m.forward(x, y);
                m.backward();
                opt.step(3e-3f);
            }
            base = dir.resolve("base");
            ModelDir.save(m, base);
            tok.save(base.resolve("tokenizer.json"));
        }
        sft = dir.resolve("sft.jsonl");
        Files.writeString(sft, jsonl);
        prefs = dir.resolve("prefs.jsonl");
        Files.writeString(prefs, pairs);
        same = dir.resolve("same.jsonl");          // one reply to everything: what virtual tokens learn fastest
        Files.writeString(same, constant);
    }

    static Cli withInput(String input, String... argv) { return Cli.withInput(input, argv); }

    static Cli cramjet(String... argv) { return Cli.run(argv); }

    private static List<Double> losses(Path run) throws Exception {
        return Metrics.read(run.resolve("metrics.jsonl")).train().stream().map(Metrics.Train::loss).toList();
    }

    private static final String[] FAST = {"--batch", "4", "--eval-every", "6", "--samples", "1", "--sample-tokens", "8", "--log-every", "1"};

    private static String[] args(String... rest) {
        return Stream.concat(Stream.of(rest), Stream.of(FAST)).toArray(String[]::new);
    }

    @Test
    void loraSftLearnsResumesExactlyMergesAndChats() throws Exception {
        Path run = dir.resolve("lora");
        Cli o = cramjet(args("finetune", "--task", "sft", "--model", base.toString(), "--data", sft.toString(), "--max-steps", "12",
                "--checkpoint-every", "6", "--lr", "1e-2", "--lora-rank", "4", "--out", run.toString()));
        assertEquals(0, o.rc(), o.err() + o.out());
        assertTrue(o.out().contains("data: " + sft.toAbsolutePath()), o.out());
        assertTrue(o.out().contains("LoRA r=4"), o.out());
        assertTrue(o.out().contains("chat with it: cramjet chat --adapter " + run.resolve("adapter")), o.out());
        List<Double> whole = losses(run);
        assertEquals(12, whole.size());
        assertTrue(whole.getLast() < whole.getFirst(), "it learns: " + whole);
        assertTrue(PeftFiles.isAdapter(run.resolve("adapter")));
        for (String f : List.of("tokenizer.json", "chat_template.json", "adapter_model.safetensors")) assertTrue(Files.exists(run.resolve("adapter").resolve(f)), f);
        Map<String, Object> conf = Json.object(Json.parse(Files.readString(run.resolve("config.json")), "c"), "c");
        assertEquals("sft", Json.object(conf.get("finetune"), "f").get("task"));
        assertFalse(Json.object(conf.get("train"), "t").containsKey("layers"), "keys that do not apply are not recorded");
        assertFalse(Metrics.read(run.resolve("metrics.jsonl")).evals().isEmpty());

        // Exact resume: back to the step-6 checkpoint, as if the process had died there; the same losses follow.
        try (Stream<Path> s = Files.walk(run.resolve("checkpoints/step-000000012"))) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
        Cli resumed = cramjet("finetune", "--resume", run.toString());
        assertEquals(0, resumed.rc(), resumed.err() + resumed.out());
        assertTrue(resumed.out().contains("resuming from checkpoints/step-000000006"), resumed.out());
        assertEquals(whole, losses(run), "bit for bit");

        // merge: a plain model computing what base + adapter computes (greedy text agrees).
        Path merged = dir.resolve("merged");
        Cli m = cramjet("merge", "--adapter", run.resolve("adapter").toString(), "--out", merged.toString());
        assertEquals(0, m.rc(), m.err());
        String[] gen = {"--prompt", "<|user|>\nreverse moon1<|endoftext|><|assistant|>\n", "--max-tokens", "6", "--temperature", "0"};
        Cli viaAdapter = cramjet(Stream.concat(Stream.of("generate", "--adapter", run.resolve("adapter").toString()), Stream.of(gen)).toArray(String[]::new));
        Cli viaMerged = cramjet(Stream.concat(Stream.of("generate", "--model", merged.toString()), Stream.of(gen)).toArray(String[]::new));
        assertEquals(0, viaAdapter.rc(), viaAdapter.err());
        assertEquals(viaAdapter.out(), viaMerged.out());
        assertTrue(cramjet("merge", "--adapter", run.resolve("adapter").toString(), "--out", merged.toString()).err().contains("already exists"));

        // chat: history, streaming, the commands.
        Cli c = withInput("reverse moon1\n/system you reverse words\nreverse snow6\n/nope\n/reset\n/exit\nnot read\n",
                "chat", "--adapter", run.resolve("adapter").toString(), "--max-tokens", "6", "--temperature", "0");
        assertEquals(0, c.rc(), c.err());
        assertTrue(c.out().contains("(system message set; conversation cleared)"), c.out());
        assertTrue(c.out().contains("(unknown command /nope"), c.out());
        assertTrue(c.out().contains("(conversation cleared)"), c.out());
        assertEquals(6, c.out().split("> ", -1).length - 1, "one prompt per line up to /exit");
    }

    @Test
    void theChatHistoryIsTheTemplatedConversation() throws Exception {
        Path run = dir.resolve("full");
        Cli o = cramjet(args("finetune", "--task", "sft", "--model", base.toString(), "--data", sft.toString(), "--max-steps", "3",
                "--train", "full", "--out", run.toString()));
        assertEquals(0, o.rc(), o.err() + o.out());
        assertTrue(Files.exists(run.resolve("model/model.safetensors")));
        try (CpuBackend cpu = new CpuBackend()) {
            Tokenizer tok = Tokenizer.load(run.resolve("model/tokenizer.json"));
            GPT g = ModelDir.load(cpu, run.resolve("model"), 1, 1);
            var template = dev.cramjet.tune.ChatTemplate.find(run.resolve("model"));
            ChatCommand.Chat chat = new ChatCommand.Chat(new dev.cramjet.infer.Generator(g, tok, true), tok, template, "sys", 4,
                    new dev.cramjet.infer.Sampler.Settings(0, 0, 1, 1, 1));
            PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
            chat.reply("reverse moon1", sink);
            chat.reply("reverse snow6", sink);
            var h = chat.history();
            assertEquals(4, h.size());
            assertEquals("reverse snow6", h.get(2).content());
            // A long conversation drops its oldest turns to keep room for the reply.
            for (int i = 0; i < 10; i++) chat.reply("reverse river" + i, sink);
            assertTrue(chat.history().size() < 24);
            assertEquals("reverse river9", chat.history().get(chat.history().size() - 2).content());
        }
    }

    @Test
    void promptAndPrefixTuningTrainAndGenerate() throws Exception {
        for (String method : List.of("prompt", "prefix")) {
            Path run = dir.resolve(method);
            Cli o = cramjet(args("finetune", "--task", "sft", "--model", base.toString(), "--data", same.toString(), "--max-steps", "20",
                    "--train", method, "--virtual-tokens", "4", "--out", run.toString()));
            assertEquals(0, o.rc(), o.err() + o.out());
            assertTrue(o.out().contains(method + " tuning, 4 virtual tokens"), o.out());
            List<Double> l = losses(run);
            double first = (l.get(0) + l.get(1) + l.get(2)) / 3, last = (l.get(17) + l.get(18) + l.get(19)) / 3;
            assertTrue(last < first - 0.5, method + " learns: " + l);
            Cli g = cramjet("generate", "--adapter", run.resolve("adapter").toString(), "--prompt", "reverse", "--max-tokens", "4");
            assertEquals(0, g.rc(), g.err());
            Cli m = cramjet("merge", "--adapter", run.resolve("adapter").toString(), "--out", dir.resolve(method + "-merged").toString());
            assertTrue(m.err().contains("no weights to merge"), m.err());
        }
    }

    @Test
    void dpoLogsRewardsAndMovesThePolicy() throws Exception {
        Path run = dir.resolve("dpo");
        Cli o = cramjet(args("finetune", "--task", "dpo", "--model", base.toString(), "--data", prefs.toString(), "--max-steps", "10",
                "--lr", "5e-3", "--beta", "0.5", "--out", run.toString()));
        assertEquals(0, o.rc(), o.err() + o.out());
        assertTrue(o.out().contains("pairs for training"), o.out());
        String metrics = Files.readString(run.resolve("metrics.jsonl"));
        assertTrue(metrics.contains("\"reward_accuracy\""), metrics);
        assertTrue(metrics.contains("\"val_reward_margin\""), metrics);
        List<Double> l = losses(run);
        assertEquals(Math.log(2), l.getFirst(), 1e-4, "step 1: the policy is the reference");
        assertTrue(l.getLast() < l.getFirst(), "the preference is learned: " + l);
        assertTrue(o.out().contains("validation: loss"), o.out());
    }

    @Test
    void badInvocationsAreClearErrors() {
        String b = base.toString(), d = sft.toString();
        String[][] cases = {
            {"missing required option --task (classify, sft or dpo)", "finetune", "--model", b, "--data", d},
            {"unknown task 'translate'; expected classify, sft or dpo", "finetune", "--task", "translate", "--model", b, "--data", d},
            {"--layers does not apply", "finetune", "--task", "sft", "--model", b, "--data", d, "--layers", "3"},
            {"give exactly one of --data", "finetune", "--task", "sft", "--model", b},
            {"--task dpo trains --train lora or full", "finetune", "--task", "dpo", "--model", b, "--data", d, "--train", "prefix"},
            {"--train: expected full, lora", "finetune", "--task", "sft", "--model", b, "--data", d, "--train", "qlora"},
            {"LoRA target 'mlp'", "finetune", "--task", "sft", "--model", b, "--data", d, "--lora-targets", "qkv,mlp"},
            {"a preference needs", "finetune", "--task", "dpo", "--model", b, "--data", d},
            {"unknown option --bogus", "finetune", "--task", "sft", "--model", b, "--data", d, "--bogus", "1"},
            {"context 99 exceeds", "finetune", "--task", "sft", "--model", b, "--data", d, "--context", "99"},
        };
        Path out = dir.resolve("refused-run");
        for (String[] c : cases) {
            List<String> a = new java.util.ArrayList<>(java.util.Arrays.asList(c).subList(1, c.length));
            a.addAll(List.of("--out", out.toString()));
            Cli o = cramjet(a.toArray(String[]::new));
            assertEquals(2, o.rc(), c[0] + ": " + o.err() + o.out());
            assertTrue(o.err().contains(c[0]), c[0] + " — got: " + o.err());
            assertFalse(Files.exists(out), c[0] + ": a refused fine-tune leaves no run directory");
        }
    }
}
