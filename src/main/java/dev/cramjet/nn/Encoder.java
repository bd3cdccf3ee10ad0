package dev.cramjet.nn;

import dev.cramjet.engine.Backend;

/**
 * A BERT-style encoder: the GPT's trunk run bidirectionally over padded sequences. Its head predicts masked
 * tokens through the token embedding (tied, as BERT's decoder is); with {@link Options#sparse()} only the masked
 * positions go through it — masked-language-model training scores a small share of the positions, so this is
 * most of the head's cost saved — or it is a pooled classifier.
 */
public final class Encoder extends Model {

    public Encoder(Backend backend, GPTConfig config, int batch, int seq, long seed, Options options) {
        super(backend, config, batch, seq, options, false);
        complete(options.classes() > 0 ? classifier() : new Head(be, new Linear(be, trunk.embed.tokens, null),
                options.pooling(), cfg.vocabSize(), batch, seq, options.trainable()), seed);
    }
}
