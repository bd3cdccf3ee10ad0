package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.tune.ChatTemplate.Message;
import dev.cramjet.tune.ChatTemplate.Role;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class ChatDataTest {
    @TempDir Path dir;

    @Test
    void theThreeConversationShapesOnAnyLine() throws Exception {
        Path f = dir.resolve("mixed.jsonl.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(f))) {
            out.write(String.join("\n",
                    "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"u\"}, {\"role\": \"assistant\", \"content\": \"a\"}], \"id\": 7}",
                    "",
                    "{\"prompt\": \"p\", \"completion\": \"c\"}",
                    "{\"instruction\": \"i\", \"input\": \"x\", \"output\": \"o\"}",
                    "{\"instruction\": \"i\", \"input\": \"\", \"output\": \"o\"}").getBytes(StandardCharsets.UTF_8));
        }
        var c = ChatData.conversations(f);
        assertEquals(4, c.size());
        assertEquals(List.of(new Message(Role.SYSTEM, "s"), new Message(Role.USER, "u"), new Message(Role.ASSISTANT, "a")), c.get(0).messages());
        assertEquals(List.of(new Message(Role.USER, "p"), new Message(Role.ASSISTANT, "c")), c.get(1).messages());
        assertEquals(List.of(new Message(Role.USER, "i\n\nx"), new Message(Role.ASSISTANT, "o")), c.get(2).messages());
        assertEquals(new Message(Role.USER, "i"), c.get(3).messages().getFirst(), "an empty input adds nothing");
        assertEquals(f + ":3", c.get(1).source());
    }

    @Test
    void preferencesWithAStringOrAConversationAsPrompt() throws Exception {
        Path f = dir.resolve("prefs.jsonl");
        Files.writeString(f, "{\"prompt\": \"q\", \"chosen\": \"good\", \"rejected\": \"bad\"}\n"
                + "{\"prompt\": [{\"role\": \"user\", \"content\": \"q\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"g\"}], \"rejected\": \"b\"}\n");
        var p = ChatData.preferences(f);
        assertEquals(2, p.size());
        assertEquals("good", p.get(0).chosen());
        assertEquals("g", p.get(1).chosen());
        assertEquals(List.of(new Message(Role.USER, "q")), p.get(1).prompt());
    }

    private String error(String line, boolean preferences) throws Exception {
        Path f = dir.resolve("bad.jsonl");
        String first = preferences ? "{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"r\"}" : "{\"prompt\": \"p\", \"completion\": \"c\"}";
        Files.writeString(f, first + "\n" + line + "\n");
        return assertThrows(CramjetException.class, () -> {
            if (preferences) ChatData.preferences(f);
            else ChatData.conversations(f);
        }).getMessage();
    }

    @Test
    void badLinesAreNamedWithWhatWasExpected() throws Exception {
        assertTrue(error("{\"text\": \"t\"}", false).matches(".*bad.jsonl:2: expected \"messages\".*found keys \\[text\\]"), error("{\"text\": \"t\"}", false));
        assertTrue(error("{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}", false).contains("bad.jsonl:2: messages[0]: role 'bot'"));
        assertTrue(error("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", false).contains("no assistant message"));
        assertTrue(error("{\"prompt\": \"p\", \"completion\": 3}", false).contains("bad.jsonl:2: completion: expected a string"));
        assertTrue(error("{\"prompt\": \"p\" ", false).contains("bad.jsonl:2: invalid JSON"));
        assertTrue(error("{\"prompt\": \"p\", \"chosen\": \"c\"}", true).contains("bad.jsonl:2: a preference needs"));
        Files.write(dir.resolve("latin1.jsonl"), new byte[] {'{', '"', 'p', (byte) 0xE9, '"', '}'});
        assertTrue(assertThrows(CramjetException.class, () -> ChatData.conversations(dir.resolve("latin1.jsonl"))).getMessage().contains("UTF-8"));
        assertTrue(assertThrows(CramjetException.class, () -> ChatData.conversations(dir.resolve("none.jsonl"))).getMessage().contains("no such file"));
    }
}
