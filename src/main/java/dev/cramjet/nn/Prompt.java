package dev.cramjet.nn;

import dev.cramjet.CramjetException;

/**
 * Prompt learning (PEFT's PROMPT_TUNING and PREFIX_TUNING): n learned virtual tokens in front of every sequence,
 * the base model frozen. A model built with a prompt gives positions [0, n) of every sequence to the virtual
 * tokens — the token ids there are placeholders and are never looked up — and its real tokens start at position n,
 * which is where Hugging Face puts them too (prompt tuning: GPT-2 adds wpe[0, n) to the virtual embeddings; prefix
 * tuning: the real tokens' positions are offset by the prefix length). Targets at virtual positions must be
 * ignored (negative). Two kinds:
 * <ul>
 * <li>{@code INPUT} (Lester et al., prompt tuning): a table {@code prompt_embeddings} [n, C] replaces the token
 *     embeddings of the virtual positions (position embeddings are still added); the virtual tokens then run
 *     through every layer like real ones.</li>
 * <li>{@code PREFIX} (Li &amp; Liang, prefix tuning): every layer's attention has its own learned keys and values
 *     for the virtual positions, {@code h.N.attn.prefix} [n, 3C] laid out as qkv rows (q | k | v), written over
 *     the qkv of those positions after RoPE (the prefix is used as stored, as Hugging Face uses
 *     past_key_values). The q third is never read by a real token (a virtual query's output reaches nothing
 *     that is scored), gets a zero gradient, and is not saved in PEFT files; storing whole rows makes writing
 *     the prefix one contiguous copy per sequence and layer instead of one per virtual token.</li>
 * </ul>
 * In the backward pass the virtual rows of the qkv gradient are the prefix's gradient and are then zeroed: those
 * k and v are parameters, not functions of the layer's input, so nothing flows below them.
 */
public final class Prompt {
    private Prompt() {}

    public enum Kind { INPUT, PREFIX }

    /** {@code tokens} virtual tokens of the given kind. */
    public record Spec(Kind kind, int tokens) {
        public Spec {
            if (kind == null) throw new CramjetException("prompt learning needs a kind (input or prefix)");
            if (tokens < 1) throw new CramjetException("prompt learning needs at least one virtual token, got " + tokens);
        }
    }
}
