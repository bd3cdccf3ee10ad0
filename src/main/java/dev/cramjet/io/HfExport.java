package dev.cramjet.io;

import dev.cramjet.nn.GPT;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model directory that Hugging Face transformers loads as a whole with {@code from_pretrained}:
 * {@code AutoModelForCausalLM} reads model.safetensors and config.json ({@link ModelDir}'s GPT-2 or Llama layout),
 * {@code AutoTokenizer} reads tokenizer.json through tokenizer_config.json, and {@code generate} starts from
 * generation_config.json.
 *
 * <ul>
 * <li>config.json gains bos/eos/pad token ids: GPT2Config and LlamaConfig otherwise default to GPT-2's 50256 and
 *     Llama's 1/2, which are wrong for our vocabulary.</li>
 * <li>tokenizer_config.json names {@code PreTrainedTokenizerFast} (tokenizer.json as it is: our cl100k pre-tokenizer
 *     is not GPT2Tokenizer's), the special tokens in added_tokens_decoder, {@code <|endoftext|>} as bos and eos
 *     (GPT-2's convention), {@code <|pad|>} as pad when present, the context length, no space clean-up (our decoder
 *     gives the bytes back exactly), and the chat template when the model has one (also as chat_template.jinja,
 *     the file transformers ≥ 4.43 writes).</li>
 * <li>special_tokens_map.json repeats the special roles, for older readers.</li>
 * <li>generation_config.json carries `cramjet generate`'s defaults (sampling, temperature 0.8, top-k 50, top-p 0.95,
 *     200 new tokens), so both tools continue a prompt alike.</li>
 * </ul>
 */
public final class HfExport {
    private HfExport() {}

    public static void write(GPT model, Tokenizer tokenizer, String chatTemplate, Path dir) throws IOException {
        ModelDir.save(model, dir);
        tokenizer.save(dir.resolve(ModelFiles.TOKENIZER));
        Integer eot = tokenizer.special(Tokenizer.END_OF_TEXT), pad = tokenizer.special("<|pad|>");

        Path configFile = dir.resolve(ModelDir.CONFIG);
        Map<String, Object> config = Json.object(Json.parse(Files.readString(configFile), configFile.toString()), configFile.toString());
        Map<String, Object> ids = new LinkedHashMap<>();
        if (eot != null) {
            ids.put("bos_token_id", (long) eot);
            ids.put("eos_token_id", (long) eot);
        }
        if (pad != null) ids.put("pad_token_id", (long) pad);
        config.putAll(ids);
        AtomicFile.writeString(configFile, Json.pretty(config));

        Map<String, Object> roles = new LinkedHashMap<>();
        if (eot != null) {
            roles.put("bos_token", Tokenizer.END_OF_TEXT);
            roles.put("eos_token", Tokenizer.END_OF_TEXT);
        }
        if (pad != null) roles.put("pad_token", "<|pad|>");
        List<Object> additional = new ArrayList<>();
        for (String s : tokenizer.specials().keySet()) if (!roles.containsValue(s)) additional.add(s);
        if (!additional.isEmpty()) roles.put("additional_special_tokens", additional);

        Map<String, Object> decoder = new LinkedHashMap<>();
        tokenizer.specials().forEach((content, id) -> {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("content", content);
            t.put("lstrip", false);
            t.put("normalized", false);
            t.put("rstrip", false);
            t.put("single_word", false);
            t.put("special", true);
            decoder.put(Integer.toString(id), t);
        });
        Map<String, Object> tc = new LinkedHashMap<>();
        tc.put("tokenizer_class", "PreTrainedTokenizerFast");
        tc.put("added_tokens_decoder", decoder);
        tc.putAll(roles);
        tc.put("clean_up_tokenization_spaces", false);
        tc.put("model_max_length", (long) model.config().blockSize());
        if (chatTemplate != null) {
            tc.put("chat_template", chatTemplate);
            AtomicFile.writeString(dir.resolve(ModelFiles.CHAT_TEMPLATE), chatTemplate);
        }
        AtomicFile.writeString(dir.resolve("tokenizer_config.json"), Json.pretty(tc));
        AtomicFile.writeString(dir.resolve("special_tokens_map.json"), Json.pretty(roles));

        Map<String, Object> gen = new LinkedHashMap<>(ids);
        gen.put("do_sample", true);
        gen.put("temperature", 0.8);
        gen.put("top_k", 50L);
        gen.put("top_p", 0.95);
        gen.put("max_new_tokens", 200L);
        AtomicFile.writeString(dir.resolve("generation_config.json"), Json.pretty(gen));
    }
}
