package dev.cramjet.train;

import dev.cramjet.infer.Generator;
import dev.cramjet.infer.Sampler;
import dev.cramjet.nn.GPT;
import dev.cramjet.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Samples written at each evaluation: unconditional documents (started from end-of-text, as every document in the
 * shards is) with temperature and top-k 40. Sample i always uses seed {@code seed + i}, so samples from successive
 * evaluations differ only because the weights did. Sampling uses its own KV-cache session and touches no training
 * state.
 */
public final class SampleText implements Trainer.Samples {
    private final Generator generator;
    private final int count, length, vocab;
    private final double temperature;
    private final long seed;

    public SampleText(GPT model, Tokenizer tokenizer, int count, int length, double temperature, long seed) {
        this.generator = new Generator(model, tokenizer, true);
        this.vocab = tokenizer.vocabSize();
        this.count = count;
        this.length = length;
        this.temperature = temperature;
        this.seed = seed;
    }

    @Override
    public List<String> generate() {
        List<String> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            Sampler sampler = new Sampler(new Sampler.Settings(temperature, 40, 1, 1, seed + i), vocab);
            out.add(generator.generate("", length, sampler, null).text());
        }
        return out;
    }
}
