package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

/**
 * A BERT-style encoder:
 * <pre>
 *   x = drop(norm_emb(wte[tokens] + positions))                 learned, or scaled sinusoids
 *   blocks, bidirectional over padded sequences                 pre-norm (+ a final norm) or post-norm
 *   logits = transform(h)·wteᵀ (+ b)                            the masked-token decoder tied to the embedding;
 *                                                               transform: BERT's dense + GELU + norm, or none
 * </pre>
 * With {@link Options#sparse()} only the positions that have a target (the masked ones) go through the head —
 * masked-language-model training scores a small share of the positions, so most of the head's cost is saved.
 * With {@link Options#classify} the head is a pooled classifier (the first token or the mean of each sequence)
 * and the masked-token head is not built.
 */
public final class Encoder extends Model {
    private final EncoderConfig cfg;

    public Encoder(Backend backend, EncoderConfig config, int batch, int seq, long seed, Options options) {
        super(backend, config.shape(), batch, seq, options, false);
        this.cfg = config;
        boolean training = !options.trainable().isEmpty();
        if (options.classes() > 0) {
            complete(classifier(), seed);
            return;
        }
        HeadTransform transform = config.headTransform()
                ? new HeadTransform(be, params, trunk.ws, shape, batch * seq, training) : null;
        Param bias = config.decoderBias()
                ? params.add("mlm.bias", Group.BASE, Kind.NORM_OR_BIAS, new Init.Constant(0f), false, config.paddedVocab()) : null;
        complete(new Head(be, new Linear(be, trunk.embed.tokens, bias), transform, options.pooling(), config.vocabSize(),
                batch, seq, options.trainable()), seed);
    }

    public EncoderConfig config() { return cfg; }
}
