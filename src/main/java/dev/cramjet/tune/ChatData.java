package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.tune.ChatTemplate.Message;
import dev.cramjet.tune.ChatTemplate.Role;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Chat fine-tuning data (sft, dpo) from JSONL files (one JSON object a line, .gz allowed; blank lines skipped), in the shapes
 * Hugging Face TRL and the instruction-tuning datasets use:
 * <ul>
 * <li>conversations: {@code {"messages": [{"role": "system"|"user"|"assistant", "content": "…"}, …]}};</li>
 * <li>prompt–completion: {@code {"prompt": "…", "completion": "…"}} — a user turn and the reply;</li>
 * <li>Alpaca: {@code {"instruction": "…", "input": "…", "output": "…"}} — the instruction, then the input after a
 *     blank line when it is not empty, as the user turn; the output as the reply;</li>
 * <li>preferences (DPO): {@code {"prompt": "…", "chosen": "…", "rejected": "…"}}; the prompt may also be a list of
 *     messages (the conversation so far).</li>
 * </ul>
 * Each line may use any of the first three shapes. Bad input stops with the file, the line and what was
 * expected; other keys on a line are allowed (datasets carry ids and metadata).
 */
public final class ChatData {
    private ChatData() {}

    /** One conversation to learn from; {@code source} is "file:line". */
    public record Conversation(List<Message> messages, String source) {}

    /** A preference: the conversation so far, then the reply people preferred and the one they did not. */
    public record Preference(List<Message> prompt, String chosen, String rejected, String source) {}

    /** Reads conversations (any of the three shapes, per line). */
    public static List<Conversation> conversations(Path file) throws IOException {
        List<Conversation> out = new ArrayList<>();
        lines(file, (obj, where) -> out.add(new Conversation(conversation(obj, where), where)));
        if (out.isEmpty()) throw new CramjetException(file + ": no examples (expected one JSON object per line)");
        return out;
    }

    /** Reads preference pairs. */
    public static List<Preference> preferences(Path file) throws IOException {
        List<Preference> out = new ArrayList<>();
        lines(file, (obj, where) -> {
            for (String k : List.of("prompt", "chosen", "rejected")) {
                if (!obj.containsKey(k)) throw new CramjetException(where + ": a preference needs \"prompt\", \"chosen\" and \"rejected\"; \"" + k + "\" is missing");
            }
            Object p = obj.get("prompt");
            List<Message> prompt = p instanceof String s ? List.of(new Message(Role.USER, s)) : messages(p, where + ": prompt");
            if (prompt.isEmpty() || prompt.getLast().role() == Role.ASSISTANT) {
                throw new CramjetException(where + ": prompt must end with a system or user turn (the reply is chosen or rejected)");
            }
            out.add(new Preference(prompt, reply(obj.get("chosen"), where + ": chosen"), reply(obj.get("rejected"), where + ": rejected"), where));
        });
        if (out.isEmpty()) throw new CramjetException(file + ": no preference pairs (expected one JSON object per line)");
        return out;
    }

    /** A reply: a string, or a one-message list holding the assistant's turn (TRL's conversational form). */
    private static String reply(Object v, String where) {
        if (v instanceof String s) return s;
        List<Message> m = messages(v, where);
        if (m.size() != 1 || m.getFirst().role() != Role.ASSISTANT) throw new CramjetException(where + ": expected a string or one assistant message");
        return m.getFirst().content();
    }

    private static List<Message> conversation(Map<String, Object> obj, String where) {
        List<Message> m;
        if (obj.containsKey("messages")) {
            m = messages(obj.get("messages"), where + ": messages");
        } else if (obj.containsKey("prompt") && obj.containsKey("completion")) {
            m = List.of(new Message(Role.USER, Json.string(obj.get("prompt"), where + ": prompt")),
                    new Message(Role.ASSISTANT, Json.string(obj.get("completion"), where + ": completion")));
        } else if (obj.containsKey("instruction") && obj.containsKey("output")) {
            String instruction = Json.string(obj.get("instruction"), where + ": instruction");
            String input = obj.get("input") == null ? "" : Json.string(obj.get("input"), where + ": input");
            m = List.of(new Message(Role.USER, input.isEmpty() ? instruction : instruction + "\n\n" + input),
                    new Message(Role.ASSISTANT, Json.string(obj.get("output"), where + ": output")));
        } else {
            throw new CramjetException(where + ": expected \"messages\", \"prompt\" + \"completion\", or \"instruction\" + \"output\"; found keys "
                    + obj.keySet());
        }
        if (m.stream().noneMatch(x -> x.role() == Role.ASSISTANT)) throw new CramjetException(where + ": no assistant message to learn from");
        return m;
    }

    private static List<Message> messages(Object v, String where) {
        List<Message> out = new ArrayList<>();
        List<Object> list = Json.array(v, where);
        for (int i = 0; i < list.size(); i++) {
            String at = where + "[" + i + "]";
            Map<String, Object> m = Json.object(list.get(i), at);
            if (!m.containsKey("role") || !m.containsKey("content")) throw new CramjetException(at + ": a message needs \"role\" and \"content\"");
            out.add(new Message(Role.of(Json.string(m.get("role"), at + ".role"), at), Json.string(m.get("content"), at + ".content")));
        }
        return out;
    }

    @FunctionalInterface
    private interface LineSink {
        void accept(Map<String, Object> obj, String where);
    }

    private static void lines(Path file, LineSink sink) throws IOException {
        InputStream in;
        try {
            in = Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new CramjetException(file + ": no such file");
        }
        if (file.getFileName().toString().endsWith(".gz")) in = new GZIPInputStream(in, 1 << 16);
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, decoder), 1 << 16)) {
            int n = 0;
            for (String line; (line = r.readLine()) != null; ) {
                n++;
                if (line.isBlank()) continue;
                String where = file + ":" + n;
                sink.accept(Json.object(Json.parse(line, where), where), where);
            }
        } catch (CharacterCodingException e) {
            throw new CramjetException(file + ": not valid UTF-8 text");
        }
    }
}
