package dev.cramjet.train;

import dev.cramjet.infer.Sampler;
import dev.cramjet.nn.GPT;
import dev.cramjet.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Samples written at each evaluation: documents started from the end-of-text token (every document follows one in
 * the shards), sampled with temperature and top-k, stopped at the next end-of-text. Sample i always uses seed
 * {@code seed + i}, so samples from successive evaluations differ only because the weights did. The KV-cache
 * session is allocated once; sampling touches no training state.
 */
public final class SampleText implements Trainer.Samples {
    private final GPT.Session session;
    private final Tokenizer tokenizer;
    private final int count, length;
    private final double temperature;
    private final long seed;
    private final int[] ids;

    public SampleText(GPT model, Tokenizer tokenizer, int count, int length, double temperature, long seed) {
        this.length = Math.min(length, model.config().blockSize() - 1);
        this.session = model.session(this.length + 1);
        this.tokenizer = tokenizer;
        this.count = count;
        this.temperature = temperature;
        this.seed = seed;
        this.ids = new int[this.length + 1];
    }

    @Override
    public List<String> generate() {
        List<String> out = new ArrayList<>(count);
        int eot = tokenizer.eot();
        for (int i = 0; i < count; i++) {
            Sampler sampler = new Sampler(new Sampler.Settings(temperature, 40, 1, 1, seed + i), tokenizer.vocabSize());
            session.reset();
            ids[0] = eot;
            float[] logits = session.next(new int[] {eot});
            int n = 1;
            while (n <= length) {
                int next = sampler.sample(logits, ids, n);
                if (next == eot) break;
                ids[n++] = next;
                if (n <= length) logits = session.next(new int[] {next});
            }
            out.add(tokenizer.decode(java.util.Arrays.copyOfRange(ids, 1, n)));
        }
        return out;
    }
}
