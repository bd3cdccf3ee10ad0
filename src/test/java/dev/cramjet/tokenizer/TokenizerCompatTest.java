package dev.cramjet.tokenizer;

import dev.cramjet.Node;
import dev.cramjet.io.Json;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Hugging Face `tokenizers` (its Node binding) and Cramjet agree: HF loads the tokenizer.json we write and encodes
 * to our ids, and we load the one HF trains and encode to its ids. Needs node on the PATH and the package installed
 * by scripts/setup-node-tokenizers.sh; skips without them.
 */
class TokenizerCompatTest {
    static Path node, modules, script;

    @BeforeAll
    static void findNode() throws Exception {
        node = Node.onPath("node");
        modules = Node.MODULES;
        script = Path.of(TokenizerCompatTest.class.getResource("/tokenizer/hf.js").toURI());
    }

    @BeforeEach
    void needNode() {
        assumeTrue(node != null, "node is not on the PATH; skipping the Hugging Face compatibility test");
        assumeTrue(Files.isDirectory(modules.resolve("tokenizers")),
                "Hugging Face tokenizers is not installed (run scripts/setup-node-tokenizers.sh); skipping");
    }

    static List<String> samples() {
        List<String> s = new ArrayList<>(List.of(
                "The quick brown fox jumps over the lazy dog.", "It's what we'll do, isn't it? THEY'VE SAID SO.",
                "床前明月光，疑是地上霜。举头望明月，低头思故乡。", "人工智能正在改变世界 and English 混合 text",
                "emoji 😀👍🏽 and ZWJ 👨‍👩‍👧 family", "tabs\tand  double  spaces\n\n\n  indented\r\nCRLF   ",
                "   leading and trailing   ", "numbers 1234567 3.14159 ١٢٣ Ⅻ", "\u00A0nbsp\u3000ideographic\u2028sep",
                "<|endoftext|>", "before<|endoftext|>after<|user|>你好<|endoftext|>", "'s 're ſ 'ſ 'LL", ""));
        Random r = new Random(11);
        for (int k = 0; k < 300; k++) s.add(TokenizerTest.randomText(r, 1 + r.nextInt(60)));
        return s;
    }

    @Test
    void huggingFaceEncodesOurTokenizerToOurIds(@TempDir Path dir) throws Exception {
        Tokenizer ours = new BpeTrainer().train(TokenizerTest.corpus(), 400, Tokenizer.DEFAULT_SPECIALS);
        Path file = dir.resolve("tokenizer.json");
        ours.save(file);
        List<String> texts = samples();
        List<Object> theirs = hfEncode(file, texts, dir);
        for (int k = 0; k < texts.size(); k++) {
            String text = texts.get(k);
            assertEquals(ids(theirs.get(k)), asList(ours.encode(text)), () -> "text: " + Json.write(text));
        }
    }

    @Test
    void gpt2LayoutSplitsLikeHuggingFace(@TempDir Path dir) throws Exception {
        // Our vocabulary and merges under GPT-2's pre-tokenizer (ByteLevel with its built-in regex), which we run
        // through java.util.regex: the same ids from both shows that path splits as Hugging Face does.
        Tokenizer trained = new BpeTrainer().train(TokenizerTest.corpus(), 400, Tokenizer.DEFAULT_SPECIALS);
        Path ours = dir.resolve("tokenizer.json");
        trained.save(ours);
        var root = Json.object(Json.parse(Files.readString(ours), "ours"), "ours");
        root.put("pre_tokenizer", Json.parse("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true}", "gpt2"));
        Path file = dir.resolve("gpt2-layout.json");
        Files.writeString(file, Json.pretty(root));
        Tokenizer loaded = Tokenizer.load(file);
        List<String> texts = samples();
        List<Object> theirs = hfEncode(file, texts, dir);
        for (int k = 0; k < texts.size(); k++) {
            String text = texts.get(k);
            assertEquals(ids(theirs.get(k)), asList(loaded.encode(text)), () -> "text: " + Json.write(text));
        }
    }

    @Test
    void weEncodeHuggingFacesTokenizerToItsIds(@TempDir Path dir) throws Exception {
        Path corpus = dir.resolve("corpus.txt");
        Files.writeString(corpus, String.join("\n", TokenizerTest.corpus()));
        Path pattern = dir.resolve("pattern.json");
        Files.writeString(pattern, Json.write(PreTokenizer.CL100K));
        Path file = dir.resolve("hf-tokenizer.json");
        run(List.of(node.toString(), script.toString(), "train", pattern.toString(), corpus.toString(), file.toString()));
        Tokenizer loaded = Tokenizer.load(file);
        assertEquals(loaded.vocabSize() - 2, (int) loaded.special("<|endoftext|>"));
        List<String> texts = samples();
        List<Object> theirs = hfEncode(file, texts, dir);
        for (int k = 0; k < texts.size(); k++) {
            String text = texts.get(k);
            assertEquals(ids(theirs.get(k)), asList(loaded.encode(text)), () -> "text: " + Json.write(text));
        }
    }

    static List<Object> hfEncode(Path tokenizer, List<String> texts, Path dir) throws Exception {
        Path in = dir.resolve("texts.json");
        Files.writeString(in, Json.write(texts));
        String out = run(List.of(node.toString(), script.toString(), "encode", tokenizer.toString(), in.toString()));
        return Json.array(Json.parse(out, "hf.js output"), "hf.js output");
    }

    static String run(List<String> command) throws Exception { return Node.run(command, 120); }

    static List<Long> ids(Object v) {
        List<Long> l = new ArrayList<>();
        for (Object o : Json.array(v, "ids")) l.add(Json.integer(o, "id"));
        return l;
    }

    static List<Long> asList(int[] ids) {
        List<Long> l = new ArrayList<>();
        for (int id : ids) l.add((long) id);
        return l;
    }
}
