package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Prompt;

import java.util.Locale;

/**
 * What a fine-tune trains: every weight ({@code full}), low-rank adapters on a frozen base ({@code lora}), or
 * virtual tokens in front of every sequence on a frozen base ({@code prompt}: input embeddings, {@code prefix}:
 * every layer's keys and values).
 */
public enum Method {
    FULL, LORA, PROMPT, PREFIX;

    public String key() { return name().toLowerCase(Locale.ROOT); }

    public static Method of(String name) {
        for (Method m : values()) if (m.key().equals(name)) return m;
        throw new CramjetException("--method: expected full, lora, prompt or prefix, got '" + name + "'");
    }

    /** The method a model's options describe. */
    public static Method of(Model.Options o) {
        if (o.prompt() != null) return o.prompt().kind() == Prompt.Kind.INPUT ? PROMPT : PREFIX;
        return o.lora() != null ? LORA : FULL;
    }

    /** Model options that train this method on a base, the language-model head scoring only the targeted positions. */
    public Model.Options options(LoRA.Spec lora, int virtualTokens) {
        Model.Options o = Model.Options.TRAIN.sparse();
        return switch (this) {
            case FULL -> o;
            case LORA -> o.lora(lora).training(Group.ADAPTER);
            case PROMPT -> o.prompt(new Prompt.Spec(Prompt.Kind.INPUT, virtualTokens)).training(Group.ADAPTER);
            case PREFIX -> o.prompt(new Prompt.Spec(Prompt.Kind.PREFIX, virtualTokens)).training(Group.ADAPTER);
        };
    }
}
