package dev.cramjet.tune;

import dev.cramjet.CramjetException;

import java.util.List;

/**
 * One labelled text: what it says, its label, where it came from ("train.csv:42", "spam/0012.txt") and its
 * group, the unit the train/validation/test split keeps together (the text itself, or e.g. the Brown text a
 * passage was cut from, so passages of one text never land on both sides).
 */
public record Example(String text, String label, String source, String group) {
    public Example(String text, String label, String source) { this(text, label, source, null); }

    /** Each example's label as its index in {@code labels}, or an error naming the example whose label is not there. */
    public static int[] classIds(List<String> labels, List<Example> examples) {
        int[] ids = new int[examples.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = labels.indexOf(examples.get(i).label());
            if (ids[i] < 0) throw new CramjetException(examples.get(i).source() + ": label '" + examples.get(i).label() + "' is not one of " + labels);
        }
        return ids;
    }
}
