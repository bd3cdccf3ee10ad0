package dev.cramjet.tokenizer;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.io.TextFile;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Hugging Face tokenizer.json for byte-level BPE, both ways. Written: no normalizer; pre-tokenizer
 * Sequence[Split(pattern, Isolated), ByteLevel(add_prefix_space=false, use_regex=false)]; ByteLevel decoder; a BPE
 * model whose vocabulary spells tokens in GPT-2's byte alphabet; specials as added tokens (also in the vocabulary,
 * as Hugging Face's trainer writes them). Read: that, GPT-2's own layout (ByteLevel with use_regex=true), and merges
 * spelled either "a b" or ["a", "b"]. Anything that would encode differently from Hugging Face is refused with a
 * message naming the field.
 */
final class TokenizerJson {
    private TokenizerJson() {}

    static Tokenizer read(Path path) {
        return parse(TextFile.read(path, "tokenizer file"), path.toString());
    }

    static Tokenizer parse(String text, String source) {
        return read(Json.object(Json.parse(text, source), source), source);
    }

    static Tokenizer read(Map<String, Object> root, String source) { return new Reader(source).read(root); }

    private record Reader(String source) {
        Tokenizer read(Map<String, Object> root) {
            Map<String, Object> model = Json.object(require(root, "model", "model"), where("model"));
            Object type = model.get("type");
            if (type != null && !"BPE".equals(type)) {
                throw fail("model.type is " + Json.write(type) + "; only \"BPE\" (byte-level) is supported");
            }
            if (model.get("dropout") != null) throw fail("model.dropout is set; Cramjet encodes deterministically (null there)");
            for (String k : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
                Object v = model.get(k);
                if (v != null && !"".equals(v)) throw fail("model." + k + " is " + Json.write(v) + "; byte-level BPE has none (null or \"\")");
            }
            if (Boolean.TRUE.equals(model.get("byte_fallback"))) throw fail("model.byte_fallback is true; byte-level BPE needs none");
            if (Boolean.TRUE.equals(model.get("ignore_merges"))) throw fail("model.ignore_merges is true; Cramjet always applies the merges");
            Map<String, Object> vocab = Json.object(require(model, "vocab", "model.vocab"), where("model.vocab"));
            List<Object> merges = Json.array(require(model, "merges", "model.merges"), where("model.merges"));

            // id → text, from the vocabulary and the added tokens.
            TreeMap<Integer, String> byId = new TreeMap<>();
            for (Map.Entry<String, Object> e : vocab.entrySet()) {
                int id = id(e.getValue(), "model.vocab[" + Json.write(e.getKey()) + "]");
                String other = byId.putIfAbsent(id, e.getKey());
                if (other != null) {
                    throw fail("model.vocab: id " + id + " is given to both " + Json.write(other) + " and " + Json.write(e.getKey()));
                }
            }
            Map<String, Integer> specials = new LinkedHashMap<>();
            Object added = root.get("added_tokens");
            if (added != null) {
                List<Object> list = Json.array(added, where("added_tokens"));
                for (int k = 0; k < list.size(); k++) {
                    String at = "added_tokens[" + k + "]";
                    Map<String, Object> t = Json.object(list.get(k), where(at));
                    String content = Json.string(require(t, "content", at + ".content"), where(at + ".content"));
                    if (content.isEmpty()) throw fail(at + ".content is empty");
                    int id = id(require(t, "id", at + ".id"), at + ".id");
                    String other = byId.putIfAbsent(id, content);
                    if (other != null && !other.equals(content)) {
                        throw fail(at + ": id " + id + " is already " + Json.write(other) + " in model.vocab");
                    }
                    specials.put(content, id);
                }
            }
            if (byId.isEmpty()) throw fail("model.vocab is empty");
            int size = byId.lastKey() + 1;
            if (byId.size() != size) {
                int missing = 0;
                while (byId.containsKey(missing)) missing++;
                throw fail("model.vocab: id " + missing + " belongs to no token (ids must run from 0 to " + (size - 1) + " without gaps)");
            }
            byte[][] tokens = new byte[size][];
            for (Map.Entry<Integer, String> e : byId.entrySet()) {
                String t = e.getValue();
                if (specials.containsKey(t)) {
                    tokens[e.getKey()] = t.getBytes(StandardCharsets.UTF_8);
                } else {
                    tokens[e.getKey()] = ByteLevel.decode(t);
                    if (tokens[e.getKey()] == null) {
                        throw fail("model.vocab: token " + Json.write(t) + " (id " + e.getKey()
                                + ") has a character outside GPT-2's byte-level alphabet; is this a byte-level BPE tokenizer?");
                    }
                }
            }
            Map<String, Integer> specialsById = new LinkedHashMap<>();
            specials.entrySet().stream().sorted(Map.Entry.comparingByValue())
                    .forEach(e -> specialsById.put(e.getKey(), e.getValue()));

            int[] left = new int[merges.size()], right = new int[merges.size()], result = new int[merges.size()];
            for (int k = 0; k < merges.size(); k++) {
                String at = "model.merges[" + k + "]";
                String a, b;
                switch (merges.get(k)) {
                    case String s -> {
                        int sp = s.indexOf(' ');
                        if (sp <= 0 || sp == s.length() - 1 || s.indexOf(' ', sp + 1) >= 0) {
                            throw fail(at + " is " + Json.write(s) + "; expected two tokens separated by one space");
                        }
                        a = s.substring(0, sp);
                        b = s.substring(sp + 1);
                    }
                    case List<?> l when l.size() == 2 && l.get(0) instanceof String x && l.get(1) instanceof String y -> {
                        a = x;
                        b = y;
                    }
                    case null, default -> throw fail(at + " is " + Json.write(merges.get(k)) + "; expected \"a b\" or [\"a\", \"b\"]");
                }
                left[k] = vocabId(vocab, a, at);
                right[k] = vocabId(vocab, b, at);
                Object merged = vocab.get(a + b);
                if (merged == null) throw fail(at + ": the merged token " + Json.write(a + b) + " is not in model.vocab");
                result[k] = id(merged, "model.vocab[" + Json.write(a + b) + "]");
            }
            if (root.get("normalizer") != null) {
                throw fail("normalizer is set; Cramjet's byte-level BPE uses none (null)");
            }
            checkType(root, "decoder", "ByteLevel");
            checkType(root, "post_processor", "ByteLevel");
            String pattern = preTokenizer(root.get("pre_tokenizer"));
            try {
                return new Tokenizer(tokens, left, right, result, specialsById, PreTokenizer.of(pattern));
            } catch (CramjetException e) {
                throw fail(e.getMessage()); // the checks those constructors make do not know the file
            }
        }

        /** The split pattern that pre_tokenizer describes, or an error when it is not one we reproduce exactly. */
        private String preTokenizer(Object v) {
            if (v == null) throw fail("pre_tokenizer is missing; byte-level BPE needs a ByteLevel pre-tokenizer");
            Map<String, Object> p = Json.object(v, where("pre_tokenizer"));
            Object type = p.get("type");
            if ("ByteLevel".equals(type)) {
                checkByteLevel(p, "pre_tokenizer");
                if (Boolean.FALSE.equals(p.get("use_regex"))) {
                    throw fail("pre_tokenizer: ByteLevel with use_regex=false alone does not split words; expected a Split before it");
                }
                return PreTokenizer.GPT2;
            }
            if (!"Sequence".equals(type)) {
                throw fail("pre_tokenizer.type is " + Json.write(type) + "; expected \"Sequence\" (Split, ByteLevel) or \"ByteLevel\"");
            }
            List<Object> seq = Json.array(require(p, "pretokenizers", "pre_tokenizer.pretokenizers"), where("pre_tokenizer.pretokenizers"));
            if (seq.size() != 2) throw fail("pre_tokenizer.pretokenizers has " + seq.size() + " entries; expected [Split, ByteLevel]");
            Map<String, Object> split = Json.object(seq.get(0), where("pre_tokenizer.pretokenizers[0]"));
            Map<String, Object> bl = Json.object(seq.get(1), where("pre_tokenizer.pretokenizers[1]"));
            if (!"Split".equals(split.get("type"))) throw fail("pre_tokenizer.pretokenizers[0].type is " + Json.write(split.get("type")) + "; expected \"Split\"");
            if (!"ByteLevel".equals(bl.get("type"))) throw fail("pre_tokenizer.pretokenizers[1].type is " + Json.write(bl.get("type")) + "; expected \"ByteLevel\"");
            checkByteLevel(bl, "pre_tokenizer.pretokenizers[1]");
            if (!Boolean.FALSE.equals(bl.get("use_regex"))) throw fail("pre_tokenizer.pretokenizers[1].use_regex must be false after a Split");
            if (!"Isolated".equals(split.get("behavior"))) throw fail("pre_tokenizer.pretokenizers[0].behavior is " + Json.write(split.get("behavior")) + "; expected \"Isolated\"");
            if (Boolean.TRUE.equals(split.get("invert"))) throw fail("pre_tokenizer.pretokenizers[0].invert is true; expected false");
            Map<String, Object> pat = Json.object(require(split, "pattern", "pre_tokenizer.pretokenizers[0].pattern"), where("pre_tokenizer.pretokenizers[0].pattern"));
            Object regex = pat.get("Regex");
            if (regex == null) throw fail("pre_tokenizer.pretokenizers[0].pattern has no \"Regex\" (plain String patterns are not supported)");
            return Json.string(regex, where("pre_tokenizer.pretokenizers[0].pattern.Regex"));
        }

        private void checkByteLevel(Map<String, Object> p, String at) {
            if (Boolean.TRUE.equals(p.get("add_prefix_space"))) throw fail(at + ".add_prefix_space is true; Cramjet supports false only");
        }

        private void checkType(Map<String, Object> root, String key, String expected) {
            Object v = root.get(key);
            if (v == null) return;
            Object type = Json.object(v, where(key)).get("type");
            if (!expected.equals(type)) throw fail(key + ".type is " + Json.write(type) + "; expected null or \"" + expected + "\"");
        }

        private int vocabId(Map<String, Object> vocab, String token, String at) {
            Object id = vocab.get(token);
            if (id == null) throw fail(at + ": token " + Json.write(token) + " is not in model.vocab");
            return id(id, "model.vocab[" + Json.write(token) + "]");
        }

        private int id(Object v, String at) {
            long id = Json.integer(v, where(at));
            if (id < 0 || id >= 1 << 24) throw fail(at + ": id " + id + " is out of range (0 to 16777215)");
            return (int) id;
        }

        private Object require(Map<String, Object> m, String key, String at) {
            Object v = m.get(key);
            if (v == null) throw fail(at + " is missing");
            return v;
        }

        private String where(String at) { return source + ": " + at; }

        private CramjetException fail(String what) { return new CramjetException(source + ": " + what); }
    }

    static String write(Tokenizer t) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        List<Object> added = new ArrayList<>();
        t.specials().forEach((content, id) -> {
            Map<String, Object> a = new LinkedHashMap<>();
            a.put("id", id);
            a.put("content", content);
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
            added.add(a);
        });
        root.put("added_tokens", added);
        root.put("normalizer", null);
        Map<String, Object> split = new LinkedHashMap<>();
        split.put("type", "Split");
        split.put("pattern", Map.of("Regex", t.pattern()));
        split.put("behavior", "Isolated");
        split.put("invert", false);
        root.put("pre_tokenizer", Map.of("type", "Sequence", "pretokenizers", List.of(split, byteLevel(false))));
        root.put("post_processor", null);
        root.put("decoder", byteLevel(true));
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        Map<String, Object> vocab = new LinkedHashMap<>();
        for (int id = 0; id < t.vocabSize(); id++) vocab.put(t.spelling(id), id);
        model.put("vocab", vocab);
        List<Object> merges = new ArrayList<>(t.mergeCount());
        for (int r = 0; r < t.mergeCount(); r++) merges.add(t.mergeSpelling(r));
        model.put("merges", merges);
        root.put("model", model);
        return Json.pretty(root);
    }

    /** As a pre-tokenizer (use_regex=false: the Split before it has done the splitting) or as the decoder. */
    private static Map<String, Object> byteLevel(boolean decoder) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "ByteLevel");
        m.put("add_prefix_space", decoder);
        m.put("trim_offsets", true);
        m.put("use_regex", decoder);
        return m;
    }
}
