package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Prompt;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * What a fine-tune trains (--train): every weight ({@code full}), a classifier's head alone ({@code head}),
 * low-rank adapters on a frozen base ({@code lora}; a classifier trains its head too), or virtual tokens in front of
 * every sequence on a frozen base ({@code prompt}: input embeddings, {@code prefix}: every layer's keys and values).
 */
public enum Method {
    FULL, HEAD, LORA, PROMPT, PREFIX;

    public String key() { return name().toLowerCase(Locale.ROOT); }

    /** The method named {@code name}, one of {@code allowed} (a task trains only some). */
    public static Method of(String name, Set<Method> allowed) {
        for (Method m : allowed) if (m.key().equals(name)) return m;
        throw new CramjetException("--train: expected " + String.join(", ", EnumSet.copyOf(allowed).stream().map(Method::key).toList())
                + ", got '" + name + "'");
    }

    /** The methods a language-model task (sft, dpo) trains. */
    public static final Set<Method> LANGUAGE = EnumSet.of(FULL, LORA, PROMPT, PREFIX);

    /** The methods a classifier trains. */
    public static final Set<Method> CLASSIFIER = EnumSet.of(FULL, HEAD, LORA);

    /** The parameter groups a classifier trains with this method. */
    public Set<Group> classifierGroups() {
        return switch (this) {
            case FULL -> EnumSet.allOf(Group.class);
            case HEAD -> EnumSet.of(Group.HEAD);
            case LORA -> EnumSet.of(Group.ADAPTER, Group.HEAD);
            case PROMPT, PREFIX -> throw new IllegalStateException(this + " does not train a classifier");
        };
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
            case HEAD -> throw new IllegalStateException("a language model's head is its embedding; train it fully or with adapters");
            case LORA -> o.lora(lora).training(Group.ADAPTER);
            case PROMPT -> o.prompt(new Prompt.Spec(Prompt.Kind.INPUT, virtualTokens)).training(Group.ADAPTER);
            case PREFIX -> o.prompt(new Prompt.Spec(Prompt.Kind.PREFIX, virtualTokens)).training(Group.ADAPTER);
        };
    }
}
