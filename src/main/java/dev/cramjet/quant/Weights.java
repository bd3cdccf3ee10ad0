package dev.cramjet.quant;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A base GPT's weights on the host by parameter name (our [out, in] layout, padded vocabulary rows included), with
 * its configuration: what pruning edits, and what becomes a model again on any backend.
 */
public record Weights(GPTConfig config, Map<String, float[]> values) {

    /** Downloads every parameter of a model. */
    public static Weights of(GPT model) {
        Map<String, float[]> m = new LinkedHashMap<>();
        for (Parameters.Param p : model.parameterList()) {
            if (p.group() != Parameters.Group.BASE) {
                throw new CramjetException("parameter " + p.name() + " is not part of the base model (" + p.group().name().toLowerCase()
                        + "); pruning works on a base language model");
            }
            float[] v = new float[(int) p.size()];
            model.backend().download(p.value(), v);
            m.put(p.name(), v);
        }
        return new Weights(model.config(), m);
    }

    /** A new model of this configuration holding these weights, built for (batch, seq) as {@code options} says. */
    public GPT model(Backend be, int batch, int seq, Model.Options options) {
        GPT m = new GPT(be, config, batch, seq, 0, options);
        for (Parameters.Param p : m.parameterList()) {
            float[] v = values.get(p.name());
            if (v == null || v.length != p.size()) throw new IllegalStateException("weights for " + p + " missing or mis-sized");
            be.upload(p.value(), v);
        }
        return m;
    }

    /** A deep copy, to prune without touching the original. */
    public Weights copy() {
        Map<String, float[]> m = new LinkedHashMap<>();
        values.forEach((k, v) -> m.put(k, v.clone()));
        return new Weights(config, m);
    }

    public float[] get(String name) {
        float[] v = values.get(name);
        if (v == null) throw new IllegalArgumentException("no weights named " + name);
        return v;
    }

    /** Values of every parameter, padded vocabulary rows included. */
    public long count() {
        long n = 0;
        for (float[] v : values.values()) n += v.length;
        return n;
    }

    /** Values that are not zero. */
    public long nonzero() {
        long n = 0;
        for (float[] v : values.values()) for (float x : v) if (x != 0) n++;
        return n;
    }
}
