package dev.cramjet.serve;

import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.tune.ChatTemplate.Role;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Serving lays a chat out as fine-tuning trained it, and falls back to plain text without the role tokens. */
class ChatTemplateTest {
    @Test
    void aChatRequestIsTheFineTuningTemplatesPrompt() {
        Tokenizer tok = TinyModel.tokenizer();
        List<ChatTemplate.Message> request = List.of(new ChatTemplate.Message("developer", "Be terse."),
                new ChatTemplate.Message("user", "hello"), new ChatTemplate.Message("assistant", "hi"), new ChatTemplate.Message("user", "again"));
        List<dev.cramjet.tune.ChatTemplate.Message> trained = List.of(new dev.cramjet.tune.ChatTemplate.Message(Role.SYSTEM, "Be terse."),
                new dev.cramjet.tune.ChatTemplate.Message(Role.USER, "hello"), new dev.cramjet.tune.ChatTemplate.Message(Role.ASSISTANT, "hi"),
                new dev.cramjet.tune.ChatTemplate.Message(Role.USER, "again"));
        int[] served = ChatTemplate.of(tok).encode(request);
        assertArrayEquals(dev.cramjet.tune.ChatTemplate.DEFAULT.encode(tok, trained, true).ids(), served);
        assertEquals("<|assistant|>\n", tok.decode(java.util.Arrays.copyOfRange(served, served.length - 2, served.length)),
                "the prompt ends with the assistant's opening");
    }

    @Test
    void withoutRoleTokensItIsPlainText() {
        Tokenizer tok = new BpeTrainer().train(List.of("User: hello\nAssistant: hi there"), 300, List.of("<|endoftext|>"));
        int[] ids = ChatTemplate.of(tok).encode(List.of(new ChatTemplate.Message("user", "hello")));
        assertEquals("User: hello\nAssistant:", tok.decode(ids));
    }
}
