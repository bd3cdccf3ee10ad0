package dev.cramjet.infer;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class GeneratorTest {
    private static Backend cpu;
    private static Tokenizer tok;

    @BeforeAll
    static void setUp() {
        cpu = new CpuBackend();
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 20; i++) docs.add("Once upon a time there was a model. 从前有一个模型，它会说中文。 " + i);
        tok = new BpeTrainer().train(docs, 320, List.of(Tokenizer.END_OF_TEXT));
    }

    @AfterAll
    static void tearDown() { cpu.close(); }

    /**
     * A random model with weights scaled up from the N(0, 0.02) initialisation, so its logits spread over a few
     * units and the arg-max is never decided by rounding.
     */
    private static GPT model(int blockSize, int seq) {
        GPTConfig cfg = GPTConfig.gpt2(2, 2, 32, tok.vocabSize(), blockSize);
        GPT m = new GPT(cpu, cfg, 1, seq, 7);
        float[] p = new float[(int) m.parameters().values().size()];
        cpu.download(m.parameters().values(), p);
        for (int i = 0; i < p.length; i++) p[i] *= 10;
        cpu.upload(m.parameters().values(), p);
        return m;
    }

    @Test
    void cachedAndUncachedGenerationGiveIdenticalTokensAtTemperatureZero() {
        GPT m = model(64, 64);
        Generator cached = new Generator(m, tok, true), uncached = new Generator(m, tok, false);
        String prompt = "Once upon a time";
        int promptTokens = tok.encode(prompt).length;
        int n = 64 - promptTokens; // fill the block exactly: no context shift yet
        Generator.Result a = cached.generate(prompt, n, new Sampler(Sampler.Settings.greedy(), tok.vocabSize()), null);
        Generator.Result b = uncached.generate(prompt, n, new Sampler(Sampler.Settings.greedy(), tok.vocabSize()), null);
        assertEquals(Generator.Stop.MAX_TOKENS, a.stop());
        assertEquals(n, a.tokens().length);
        assertArrayEquals(a.tokens(), b.tokens());
        assertEquals(promptTokens, a.promptTokens());
        // The same again with sampling: same seed, same logits, same draws.
        Sampler.Settings s = new Sampler.Settings(0.9, 40, 0.95, 1.2, 99);
        assertArrayEquals(cached.generate(prompt, n, new Sampler(s, tok.vocabSize()), null).tokens(),
                uncached.generate(prompt, n, new Sampler(s, tok.vocabSize()), null).tokens());
    }

    @Test
    void streamsWholeCharactersThatAddUpToTheDecodedTokens() {
        GPT m = model(64, 1);
        List<String> pieces = new ArrayList<>();
        Generator.Result r = new Generator(m, tok, true).generate("从前", 30,
                new Sampler(new Sampler.Settings(1, 0, 1, 1, 3), tok.vocabSize()), pieces::add);
        assertEquals(String.join("", pieces), r.text());
        assertEquals(new String(tok.decodeBytes(r.tokens()), StandardCharsets.UTF_8), r.text());
        for (String p : pieces) assertFalse(p.isEmpty());
        assertTrue(r.tokensPerSecond() > 0);
    }

    @Test
    void goesOnPastTheBlockSize() {
        GPT m = model(16, 16);
        String prompt = "Once upon a time there was a model, once upon a time"; // longer than the block
        Generator.Result a = new Generator(m, tok, true).generate(prompt, 40, new Sampler(Sampler.Settings.greedy(), tok.vocabSize()), null);
        Generator.Result b = new Generator(m, tok, false).generate(prompt, 40, new Sampler(Sampler.Settings.greedy(), tok.vocabSize()), null);
        assertEquals(40, a.tokens().length);
        assertEquals(40, b.tokens().length);
        // The prompt already fills the block, so both see the same last 16 tokens for the first new token.
        assertEquals(a.tokens()[0], b.tokens()[0]);
    }

    /**
     * Makes {@code id} the certain next token: the final norm outputs its bias whatever the input, and the (tied)
     * embedding row of {@code id} is that bias scaled up, so its logit dominates.
     */
    private static void makeCertain(GPT m, int id) {
        int c = m.config().nEmbd();
        float[] bias = new float[c];
        for (int i = 0; i < c; i++) bias[i] = (i % 3) - 1;
        cpu.upload(m.parameter("ln_f.weight").value(), new float[c]);
        cpu.upload(m.parameter("ln_f.bias").value(), bias);
        var wte = m.parameter("wte.weight").value();
        float[] table = new float[(int) wte.size()];
        cpu.download(wte, table);
        for (int i = 0; i < c; i++) table[id * c + i] = 20 * bias[i];
        cpu.upload(wte, table);
    }

    @Test
    void stopsAtEndOfText() {
        GPT m = model(32, 1);
        makeCertain(m, tok.eot());
        Generator.Result r = new Generator(m, tok, true).generate("Once", 10, new Sampler(Sampler.Settings.greedy(), tok.vocabSize()), null);
        assertEquals(Generator.Stop.END_OF_TEXT, r.stop());
        assertEquals(0, r.tokens().length);
        assertEquals("", r.text());
    }

    @Test
    void leavesOutACharacterCutByTheTokenLimit() {
        GPT m = model(32, 1);
        int lead = -1; // the token of the lone byte 0xE4, the first byte of a 3-byte (Chinese) character
        for (int id = 0; id < tok.vocabSize() && lead < 0; id++) {
            if (java.util.Arrays.equals(tok.token(id), new byte[] {(byte) 0xE4})) lead = id;
        }
        assertTrue(lead >= 0, "byte-level vocabularies hold every byte");
        makeCertain(m, lead);
        List<String> pieces = new ArrayList<>();
        Generator.Result r = new Generator(m, tok, true).generate("Once", 1, new Sampler(Sampler.Settings.greedy(), tok.vocabSize()), pieces::add);
        assertEquals(Generator.Stop.MAX_TOKENS, r.stop());
        assertArrayEquals(new int[] {lead}, r.tokens());
        assertEquals("", r.text(), "no U+FFFD for a character the limit cut off");
        assertTrue(pieces.isEmpty());
    }
}
