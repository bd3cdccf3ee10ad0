package dev.cramjet.text;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What each cleaning step did: documents in, out (the rest dropped) and changed, characters in and out, the
 * sources of the first few documents it dropped, in pipeline order; plus warnings about settings that hurt
 * language models.
 */
public record CleaningReport(List<StepCount> steps, List<String> warnings) {

    public record StepCount(String step, long in, long out, long changed, long charsIn, long charsOut, List<String> droppedExamples) {
        public long dropped() { return in - out; }
    }

    public StepCount step(String name) {
        for (StepCount s : steps) if (s.step.equals(name)) return s;
        throw new IllegalArgumentException("no cleaning step '" + name + "' in " + steps);
    }

    /** The report as JSON-ready maps. */
    public Map<String, Object> toJson() {
        List<Object> list = new ArrayList<>();
        for (StepCount s : steps) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("step", s.step);
            m.put("docs_in", s.in);
            m.put("docs_out", s.out);
            m.put("docs_changed", s.changed);
            m.put("chars_in", s.charsIn);
            m.put("chars_out", s.charsOut);
            m.put("dropped_examples", s.droppedExamples);
            list.add(m);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("steps", list);
        m.put("warnings", warnings);
        return m;
    }

    /** A table for the terminal. */
    public String table() {
        StringBuilder sb = new StringBuilder(String.format("  %-22s %11s %11s %11s %11s%n", "step", "docs in", "docs out", "changed", "chars out"));
        for (StepCount s : steps) {
            sb.append(String.format("  %-22s %,11d %,11d %,11d %,11d%n", s.step, s.in, s.out, s.changed, s.charsOut));
        }
        return sb.toString();
    }
}
