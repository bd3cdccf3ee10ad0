package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How a conversation becomes tokens, on the tokenizer's special tokens. Every message is its role's opening, its
 * content, and the closing end-of-text:
 * <pre>
 *   &lt;|system|&gt;\nYou write classical poems.&lt;|endoftext|&gt;&lt;|user|&gt;\nWrite a quatrain.&lt;|endoftext|&gt;&lt;|assistant|&gt;\n…&lt;|endoftext|&gt;
 * </pre>
 * (Zephyr's layout, with {@code <|endoftext|>} as its end of turn.) A reply is generated after the assistant's
 * opening and ends where the model writes end-of-text, which is also where generation stops. In training only
 * the assistant's content and its closing token are scored: that is what the model is taught to write.
 *
 * <p>Openings and the closing token are encoded with their special tokens; contents are encoded literally, so a
 * message that quotes "&lt;|user|&gt;" cannot forge a turn. The template is stored with a model as
 * {@code chat_template.json}: our fields, plus the same template in Jinja under {@code "chat_template"} (the key
 * Hugging Face reads), so generation, chat, serving and other tools lay conversations out alike.
 */
public final class ChatTemplate {
    public static final String FILE = "chat_template.json";

    public enum Role {
        SYSTEM, USER, ASSISTANT;

        public String key() { return name().toLowerCase(java.util.Locale.ROOT); }

        /** The role a JSON message names ("system", "user", "assistant"). */
        public static Role of(String name, String where) {
            for (Role r : values()) if (r.key().equals(name)) return r;
            throw new CramjetException(where + ": role '" + name + "' is not one of system, user, assistant");
        }
    }

    public record Message(Role role, String content) {}

    /** A conversation's tokens and, per position, whether the model is trained to write it (assistant replies). */
    public record Tokens(int[] ids, boolean[] scored) {}

    /** The default: each role's special token and a newline; end-of-text closes every turn. */
    public static final ChatTemplate DEFAULT = new ChatTemplate(
            Map.of(Role.SYSTEM, "<|system|>\n", Role.USER, "<|user|>\n", Role.ASSISTANT, "<|assistant|>\n"), "<|endoftext|>");

    private final Map<Role, String> open;
    private final String close;

    public ChatTemplate(Map<Role, String> open, String close) {
        if (!open.keySet().containsAll(List.of(Role.values()))) throw new CramjetException("chat template: every role needs an opening");
        if (close.isEmpty()) throw new CramjetException("chat template: the closing text must not be empty");
        this.open = new EnumMap<>(open);
        this.close = close;
    }

    public String opening(Role r) { return open.get(r); }

    public String closing() { return close; }

    /**
     * The tokens of a conversation; with {@code generate}, ending in the assistant's opening so the model writes
     * the next reply. Special tokens the template names must exist in the tokenizer.
     */
    public Tokens encode(Tokenizer tok, List<Message> messages, boolean generate) {
        List<int[]> pieces = new ArrayList<>();
        List<Boolean> scored = new ArrayList<>();
        int[] end = specials(tok, close);
        for (Message m : messages) {
            boolean reply = m.role() == Role.ASSISTANT;
            pieces.add(specials(tok, open.get(m.role())));
            scored.add(false);
            pieces.add(tok.encodeOrdinary(m.content()));
            scored.add(reply);
            pieces.add(end);
            scored.add(reply);
        }
        if (generate) {
            pieces.add(specials(tok, open.get(Role.ASSISTANT)));
            scored.add(false);
        }
        int n = 0;
        for (int[] p : pieces) n += p.length;
        int[] ids = new int[n];
        boolean[] mask = new boolean[n];
        int at = 0;
        for (int i = 0; i < pieces.size(); i++) {
            int[] p = pieces.get(i);
            System.arraycopy(p, 0, ids, at, p.length);
            if (scored.get(i)) java.util.Arrays.fill(mask, at, at + p.length, true);
            at += p.length;
        }
        return new Tokens(ids, mask);
    }

    /** Template text with its special tokens, which the tokenizer must have. */
    private static int[] specials(Tokenizer tok, String text) {
        int[] ids = tok.encode(text);
        for (String s : Tokenizer.DEFAULT_SPECIALS) {
            if (text.contains(s) && tok.special(s) == null) {
                throw new CramjetException("chat template uses " + s + ", which this tokenizer does not have");
            }
        }
        return ids;
    }

    // ---- the file --------------------------------------------------------------------------------------------

    /** The same layout as a Jinja template over {@code messages} and {@code add_generation_prompt}. */
    public String jinja() {
        StringBuilder sb = new StringBuilder("{% for message in messages %}");
        String kw = "if";
        for (Role r : Role.values()) {
            sb.append("{% ").append(kw).append(" message['role'] == '").append(r.key()).append("' %}{{ ")
                    .append(literal(open.get(r))).append(" }}");
            kw = "elif";
        }
        sb.append("{% endif %}{{ message['content'] + ").append(literal(close)).append(" }}{% endfor %}")
                .append("{% if add_generation_prompt %}{{ ").append(literal(open.get(Role.ASSISTANT))).append(" }}{% endif %}");
        return sb.toString();
    }

    private static String literal(String s) {
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'";
    }

    public void save(Path dir) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("chat_template", jinja());
        Map<String, Object> roles = new LinkedHashMap<>();
        for (Role r : Role.values()) roles.put(r.key(), open.get(r));
        m.put("roles", roles);
        m.put("end", close);
        AtomicFile.writeString(dir.resolve(FILE), Json.pretty(m));
    }

    /** The template stored in {@code dir}, or null when it has none. */
    public static ChatTemplate load(Path dir) throws IOException {
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) return null;
        String where = f.toString();
        Map<String, Object> m = Json.object(Json.parse(Files.readString(f), where), where);
        if (!m.containsKey("roles") || !m.containsKey("end")) {
            throw new CramjetException(where + ": expected \"roles\" and \"end\" (a Cramjet chat template); a Jinja template alone is not read");
        }
        Map<String, Object> roles = Json.object(m.get("roles"), where + ": roles");
        Map<Role, String> open = new EnumMap<>(Role.class);
        for (var e : roles.entrySet()) open.put(Role.of(e.getKey(), where + ": roles"), Json.string(e.getValue(), where + ": roles." + e.getKey()));
        for (Role r : Role.values()) if (!open.containsKey(r)) throw new CramjetException(where + ": roles has no \"" + r.key() + "\"");
        return new ChatTemplate(open, Json.string(m.get("end"), where + ": end"));
    }

    /** The first template found in {@code dirs} (nulls skipped), else {@link #DEFAULT}. */
    public static ChatTemplate find(Path... dirs) throws IOException {
        for (Path d : dirs) {
            if (d == null) continue;
            ChatTemplate t = load(d);
            if (t != null) return t;
        }
        return DEFAULT;
    }
}
