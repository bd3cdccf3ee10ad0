package dev.cramjet.tokenizer;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerJsonTest {
    /**
     * A GPT-2-layout tokenizer.json written by hand: ByteLevel pre-tokenizer with GPT-2's regex, vocabulary in the
     * byte alphabet (Ġ is the space byte), "a b" merges, <|endoftext|> in both vocab and added_tokens, empty
     * (rather than null) subword prefix and suffix, as GPT-2's file on the Hugging Face hub has them.
     */
    static String gpt2Style(String merges) {
        return """
            {"version": "1.0", "added_tokens": [{"id": 15, "content": "<|endoftext|>", "special": true}],
             "normalizer": null,
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
             "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
             "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
             "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                       "end_of_word_suffix": "", "fuse_unk": false,
               "vocab": {"!": 0, "d": 1, "e": 2, "h": 3, "l": 4, "o": 5, "r": 6, "w": 7, "Ġ": 8,
                         "he": 9, "ll": 10, "hell": 11, "hello": 12, "Ġw": 13, "or": 14, "<|endoftext|>": 15, "Ġwor": 16},
               "merges": %s}}
            """.formatted(merges);
    }

    static final String MERGES_SPACED = "[\"h e\", \"l l\", \"he ll\", \"hell o\", \"Ġ w\", \"o r\", \"Ġw or\"]";
    static final String MERGES_PAIRS = "[[\"h\",\"e\"], [\"l\",\"l\"], [\"he\",\"ll\"], [\"hell\",\"o\"], [\"Ġ\",\"w\"], [\"o\",\"r\"], [\"Ġw\",\"or\"]]";

    @Test
    void handWrittenGpt2StyleFileEncodesToKnownIds() {
        Tokenizer t = TokenizerJson.parse(gpt2Style(MERGES_SPACED), "t.json");
        // "hello" → hello(12); " world" → Ġwor(16) l(4) d(1); "!" → 0; then the special.
        assertArrayEquals(new int[] {12, 16, 4, 1, 0, 15}, t.encode("hello world!<|endoftext|>"));
        assertEquals(15, t.eot());
        assertEquals(17, t.vocabSize());
        assertEquals("hello world!<|endoftext|>", t.decode(new int[] {12, 16, 4, 1, 0, 15}));
    }

    @Test
    void bothMergeSpellingsLoadAlike() {
        Tokenizer a = TokenizerJson.parse(gpt2Style(MERGES_SPACED), "a.json");
        Tokenizer b = TokenizerJson.parse(gpt2Style(MERGES_PAIRS), "b.json");
        assertEquals(a.hash(), b.hash());
        assertArrayEquals(a.encode("hello world"), b.encode("hello world"));
    }

    static String error(String json) {
        return assertThrows(CramjetException.class, () -> TokenizerJson.parse(json, "t.json")).getMessage();
    }

    @Test
    void readerErrorsNameWhatIsWrong() {
        String ok = gpt2Style(MERGES_SPACED);
        assertEquals("t.json: model.merges is missing", error(ok.replace("\"merges\":", "\"merjes\":")));
        assertEquals("t.json: model.merges[1]: token \"q\" is not in model.vocab", error(ok.replace("\"l l\"", "\"q l\"")));
        assertEquals("t.json: model.merges[2] is \"hell\"; expected two tokens separated by one space",
                error(ok.replace("\"he ll\"", "\"hell\"")));
        assertEquals("t.json: model.merges[3]: the merged token \"hellr\" is not in model.vocab", error(ok.replace("\"hell o\"", "\"hell r\"")));
        assertEquals("t.json: model.vocab: id 4 is given to both \"l\" and \"o\"", error(ok.replace("\"o\": 5", "\"o\": 4")));
        assertEquals("t.json: model.vocab: id 16 belongs to no token (ids must run from 0 to 17 without gaps)",
                error(ok.replace("\"Ġwor\": 16", "\"Ġwor\": 17")));
        assertTrue(error(ok.replace("\"he\": 9", "\"he\": -9")).contains("model.vocab[\"he\"]: id -9 is out of range"));
        assertTrue(error(ok.replace("\"d\": 1", "\"d\": \"1\"")).contains("model.vocab[\"d\"]: expected an integer"));
        assertTrue(error(ok.replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\"")).contains("model.type is \"WordPiece\""));
        assertEquals("t.json: model.continuing_subword_prefix is \"##\"; byte-level BPE has none (null or \"\")",
                error(ok.replace("\"continuing_subword_prefix\": \"\"", "\"continuing_subword_prefix\": \"##\"")));
        assertTrue(error(ok.replace("\"d\": 1", "\"d中\": 1")).contains("token \"d中\" (id 1) has a character outside"));
        assertTrue(error(ok.replace("\"add_prefix_space\": false", "\"add_prefix_space\": true"))
                .contains("pre_tokenizer.add_prefix_space is true"));
        assertTrue(error("{\"model\": [1]}").contains("t.json: model: expected a JSON object, got an array"));
        assertTrue(error("{\"model\": {").startsWith("t.json: invalid JSON at line 1"));
    }
}
