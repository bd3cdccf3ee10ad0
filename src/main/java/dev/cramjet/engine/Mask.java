package dev.cramjet.engine;

/**
 * Which keys a query of {@link Backend#attention} sees. Key j of sequence b is visible to query i when
 * j &lt; length(b) and, if {@code causal}, j ≤ i. {@code lengths} is an I32 [B] tensor of valid lengths in
 * [1, T] (right padding: positions ≥ length(b) are padding), or null when every sequence is T long. Queries at
 * padded positions attend to nothing: their output rows are 0, their lse 0, and the backward pass gives them and
 * their keys and values a zero gradient.
 */
public record Mask(boolean causal, Tensor lengths) {
    /** Decoder self-attention over whole sequences. */
    public static final Mask CAUSAL = new Mask(true, null);

    /** Encoder self-attention over whole sequences. */
    public static final Mask BIDIRECTIONAL = new Mask(false, null);

    public Mask {
        if (lengths != null && lengths.dtype() != DType.I32) {
            throw new IllegalArgumentException("attention mask: lengths must be an I32 tensor, got " + lengths);
        }
    }

    /** The same kind of mask over sequences of the given valid lengths (I32 [B]). */
    public Mask padded(Tensor validLengths) { return new Mask(causal, validLengths); }
}
