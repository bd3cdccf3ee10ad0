package dev.cramjet.serve;

import dev.cramjet.tokenizer.Tokenizer;

import dev.cramjet.tune.ChatTemplate.Role;

import java.util.ArrayList;
import java.util.List;

/**
 * How a conversation becomes the prompt a model continues, for the API's chat requests.
 *
 * <p>For a tokenizer that has the special tokens {@code <|system|>}, {@code <|user|>} and {@code <|assistant|>}
 * (every tokenizer trained here does) it is the template models are fine-tuned on, {@link dev.cramjet.tune.ChatTemplate}
 * ({@code DEFAULT}, what {@code cramjet finetune} trains and {@code cramjet chat} uses): each message is its role's
 * token and a newline, its text and {@code <|endoftext|>}; the prompt ends with the assistant's opening, so the model
 * writes the assistant's turn and ends it with {@code <|endoftext|>}, which stops generation (so does a role token,
 * which would start another turn):
 * <pre>
 *   &lt;|system|&gt;\nYou are terse.&lt;|endoftext|&gt;&lt;|user|&gt;\nHi&lt;|endoftext|&gt;&lt;|assistant|&gt;\n
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
        List<dev.cramjet.tune.ChatTemplate.Message> turns = new ArrayList<>(messages.size());
        for (Message m : messages) {
            Role role = switch (m.role()) {
                case "system", "developer" -> Role.SYSTEM;
                case "user" -> Role.USER;
                default -> Role.ASSISTANT;
            };
            turns.add(new dev.cramjet.tune.ChatTemplate.Message(role, m.content()));
        }
        return dev.cramjet.tune.ChatTemplate.DEFAULT.encode(tokenizer, turns, true).ids();
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
