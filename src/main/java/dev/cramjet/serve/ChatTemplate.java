package dev.cramjet.serve;

import dev.cramjet.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.List;

/**
 * How a conversation becomes the prompt a model continues. This is the one place that knows it: when the post-training
 * work defines the template its models are fine-tuned on, it replaces {@link #encode} and {@link #stops}.
 *
 * <p>The default, for a tokenizer that has the special tokens {@code <|system|>}, {@code <|user|>} and
 * {@code <|assistant|>} (every tokenizer trained here does): each message is its role's token, its text and
 * {@code <|endoftext|>}; the prompt ends with {@code <|assistant|>}, so the model writes the assistant's turn and ends
 * it with {@code <|endoftext|>}, which stops generation (so does a role token, which would start another turn):
 * <pre>
 *   &lt;|system|&gt;You are terse.&lt;|endoftext|&gt;&lt;|user|&gt;Hi&lt;|endoftext|&gt;&lt;|assistant|&gt;
 * </pre>
 * A tokenizer without them (GPT-2's has only {@code <|endoftext|>}) gets plain text, "System: …", "User: …",
 * "Assistant: …" on lines of their own, ending "Assistant:", and generation stops where the model starts the next
 * "User:" line. Message text is always encoded as ordinary text, so a message cannot inject a special token.
 */
record ChatTemplate(Tokenizer tokenizer, Integer system, Integer user, Integer assistant) {
    /** A chat message: its role ("system", "developer", "user" or "assistant") and its text. */
    record Message(String role, String content) {}

    static ChatTemplate of(Tokenizer tokenizer) {
        Integer s = tokenizer.special("<|system|>"), u = tokenizer.special("<|user|>"), a = tokenizer.special("<|assistant|>");
        return s != null && u != null && a != null ? new ChatTemplate(tokenizer, s, u, a)
                : new ChatTemplate(tokenizer, null, null, null);
    }

    private boolean special() { return system != null; }

    /** The prompt's token ids for these messages, ready for the assistant's reply. */
    int[] encode(List<Message> messages) {
        if (!special()) {
            StringBuilder sb = new StringBuilder();
            for (Message m : messages) sb.append(label(m.role())).append(": ").append(m.content()).append('\n');
            return tokenizer.encodeOrdinary(sb.append("Assistant:").toString());
        }
        int[] ids = new int[16];
        int n = 0;
        for (Message m : messages) {
            int[] text = tokenizer.encodeOrdinary(m.content());
            if (n + text.length + 3 > ids.length) ids = Arrays.copyOf(ids, 2 * (n + text.length + 3));
            ids[n++] = switch (m.role()) {
                case "system", "developer" -> system;
                case "user" -> user;
                default -> assistant;
            };
            System.arraycopy(text, 0, ids, n, text.length);
            n += text.length;
            ids[n++] = tokenizer.eot();
        }
        if (n + 1 > ids.length) ids = Arrays.copyOf(ids, n + 1);
        ids[n++] = assistant;
        return Arrays.copyOf(ids, n);
    }

    /** Stop sequences the template adds to every chat request (besides end of text). */
    List<String> stops() { return special() ? List.of() : List.of("\nUser:"); }

    /** Tokens that end the assistant's turn besides end of text: a role token starts another turn. */
    int[] stopTokens() { return special() ? new int[] {system, user, assistant} : new int[0]; }

    private static String label(String role) {
        return switch (role) {
            case "system", "developer" -> "System";
            case "user" -> "User";
            default -> "Assistant";
        };
    }
}
