package dev.cramjet.tune;

import dev.cramjet.CramjetException;

import java.util.List;
import java.util.function.Function;

/**
 * A classic classifier fitted on a task's training split — what {@code eval --task classify --baseline} scores and
 * {@code --blend} stacks a model with: {@code naive-bayes} ({@link NaiveBayes}) or {@code bag-of-words}
 * ({@link BagOfWords}). Both are deterministic functions of the training texts, so they are refitted where they
 * are used (seconds) rather than stored.
 */
public record Baseline(String description, Function<List<String>, float[][]> score) {
    public static final List<String> NAMES = List.of("naive-bayes", "bag-of-words");

    /** A model's scores stacked with a baseline's, and the blend that does it. */
    public record Stacked(Blend blend, Function<List<String>, float[][]> score) {}

    public static Baseline fit(String name, TaskData task) {
        List<String> texts = task.train().stream().map(Example::text).toList();
        int[] labels = Example.classIds(task.labels, task.train());
        int k = task.labels.size(), n = texts.size();
        return switch (name) {
            case "naive-bayes" -> {
                NaiveBayes nb = new NaiveBayes(texts, labels, k);
                yield new Baseline("multinomial Naive Bayes fitted on " + n + " training examples",
                        t -> t.stream().map(nb::probabilities).toArray(float[][]::new));
            }
            case "bag-of-words" -> {
                BagOfWords bow = new BagOfWords(texts, labels, k);
                yield new Baseline(String.format("bag-of-words logistic regression (%,d words and word pairs) fitted on %,d training examples",
                        bow.features(), n), t -> t.stream().map(bow::probabilities).toArray(float[][]::new));
            }
            default -> throw new CramjetException("unknown baseline '" + name + "'; expected one of " + NAMES);
        };
    }

    /** {@code model} stacked with this baseline by a {@link Blend} fitted on the task's validation split. */
    public Stacked stack(Function<List<String>, float[][]> model, TaskData task) {
        List<Example> val = task.val();
        if (val.isEmpty()) throw new CramjetException("a blend is fitted on the task's validation split, and it is empty");
        List<String> texts = val.stream().map(Example::text).toList();
        Blend b = Blend.fit(model.apply(texts), score.apply(texts), Example.classIds(task.labels, val));
        return new Stacked(b, t -> b.probabilities(model.apply(t), score.apply(t)));
    }
}
