package dev.cramjet.tune;

/**
 * One labelled text: what it says, its label, where it came from ("train.csv:42", "spam/0012.txt") and its
 * group, the unit the train/validation/test split keeps together (the text itself, or e.g. the Brown text a
 * passage was cut from, so passages of one text never land on both sides).
 */
public record Example(String text, String label, String source, String group) {
    public Example(String text, String label, String source) { this(text, label, source, null); }
}
