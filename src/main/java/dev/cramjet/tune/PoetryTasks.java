package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.io.Json;
import dev.cramjet.text.Corpora;
import dev.cramjet.tune.ChatTemplate.Message;
import dev.cramjet.tune.ChatTemplate.Role;
import dev.cramjet.tune.ChatData.Conversation;
import dev.cramjet.tune.ChatData.Preference;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Built-in fine-tuning sets made from the Tang poems of the packaged {@code chinese-poetry} corpus (全唐詩, 57,607
 * poems with title, author and lines; no download beyond the corpus itself), in the corpus's traditional
 * characters:
 * <ul>
 * <li>{@code poetry} — instructions: 「以《題》爲題，寫一首五言絕句。」 → the poem (for the 37k poems of a regular form:
 *     four or eight lines of five or seven characters); 「這首詩的作者是誰？」 + the poem → its author (for poets with
 *     at least {@value #MIN_POEMS} poems, so there is something to learn); 「接下一句：」 + a line → the line that
 *     completes its couplet (one couplet per poem).</li>
 * <li>{@code poetry-preferences} — pairs for DPO: the same request to write a poem of a regular form; chosen, the
 *     real poem; rejected, the same poem with one couplet's caesura moved by a character, so its lines are one
 *     character short and one too long. The two differ only in form, which is what the preference teaches.</li>
 * </ul>
 * Which poems and lines are used is a hash of each poem, so the sets are the same on every machine. Every item
 * names its poem as its source ({@code poet.tang.0.json[12]}), so a split by source keeps a poem's tasks together.
 */
public final class PoetryTasks {
    private PoetryTasks() {}

    /** The built-in sets by name. */
    public static final Set<String> NAMES = Set.of("poetry", "poetry-preferences");

    /** Poems an author needs in the corpus to be asked about. */
    static final int MIN_POEMS = 30;

    /** Authors the corpus does not know. */
    private static final Set<String> UNKNOWN = Set.of("不詳", "無名氏", "佚名", "闕名");

    private static final Pattern LINE_END = Pattern.compile("[，。！？；]");

    /** A poem of the corpus: its lines without punctuation, its paragraphs as printed, and where it is. */
    record Poem(String title, String author, List<String> lines, List<String> paragraphs, String source) {
        /** 五言絕句 …: the form's name when the poem is four or eight lines of five or seven characters, else null. */
        String form() {
            int n = lines.size(), len = lines.getFirst().length();
            for (String l : lines) if (l.length() != len) return null;
            if ((n != 4 && n != 8) || (len != 5 && len != 7)) return null;
            return (len == 5 ? "五言" : "七言") + (n == 4 ? "絕句" : "律詩");
        }

        String text() { return String.join("\n", paragraphs); }

        long key() { return Hash.mix(Hash.mix(title.hashCode()) + author.hashCode() + (long) text().hashCode() * Hash.GOLDEN); }
    }

    /** The Tang poem files of the packaged corpus (fetched on first use). */
    public static List<Path> corpusFiles() {
        Corpora.Corpus c = Corpora.get("chinese-poetry");
        List<Path> files = Corpora.standard().files(c).stream().filter(p -> p.getFileName().toString().startsWith("poet.tang.")).toList();
        if (files.isEmpty()) throw new CramjetException("the chinese-poetry corpus holds no poet.tang.*.json files");
        return files;
    }

    static List<Poem> poems(List<Path> files) throws IOException {
        List<Poem> out = new ArrayList<>();
        for (Path f : files) {
            String where = f.toString();
            List<Object> arr = Json.array(Json.parse(Files.readString(f, StandardCharsets.UTF_8), where), where);
            for (int i = 0; i < arr.size(); i++) {
                String at = where + "[" + i + "]";
                Map<String, Object> o = Json.object(arr.get(i), at);
                List<String> paragraphs = new ArrayList<>();
                for (Object p : Json.array(o.get("paragraphs"), at + ".paragraphs")) paragraphs.add(Json.string(p, at + ".paragraphs"));
                List<String> lines = new ArrayList<>();
                for (String p : paragraphs) for (String l : LINE_END.split(p)) if (!l.isBlank()) lines.add(l.strip());
                String title = o.get("title") == null ? "" : Json.string(o.get("title"), at + ".title").strip();
                String author = o.get("author") == null ? "" : Json.string(o.get("author"), at + ".author").strip();
                if (!lines.isEmpty()) out.add(new Poem(title, author, lines, paragraphs, f.getFileName() + "[" + i + "]"));
            }
        }
        return out;
    }

    /** The instruction set: writing a poem of a form, naming a poem's author, completing a couplet. */
    public static List<Conversation> instructions(List<Path> files) throws IOException {
        List<Poem> poems = poems(files);
        Map<String, Integer> count = new HashMap<>();
        for (Poem p : poems) count.merge(p.author(), 1, Integer::sum);
        List<Conversation> out = new ArrayList<>();
        for (Poem p : poems) {
            String form = p.form(), src = p.source();
            if (form != null && titled(p)) out.add(chat("以《" + p.title() + "》爲題，寫一首" + form + "。", p.text(), src));
            if (form != null && !UNKNOWN.contains(p.author()) && !p.author().isEmpty() && count.get(p.author()) >= MIN_POEMS) {
                out.add(chat("這首詩的作者是誰？\n" + p.text(), p.author(), src));
            }
            String[] couplet = couplet(p);
            if (couplet != null) out.add(chat("接下一句：" + couplet[0], couplet[1], src));
        }
        return out;
    }

    /** The preference set: the real poem over the same poem with a couplet's caesura moved by one character. */
    public static List<Preference> preferences(List<Path> files) throws IOException {
        List<Preference> out = new ArrayList<>();
        for (Poem p : poems(files)) {
            String form = p.form();
            if (form == null || !titled(p)) continue;
            String broken = broken(p);
            if (broken == null) continue;
            out.add(new Preference(List.of(new Message(Role.USER, "以《" + p.title() + "》爲題，寫一首" + form + "。")), p.text(), broken,
                    p.source()));
        }
        return out;
    }

    /** A title worth asking for: present, short, and not a fragment ("句" marks a surviving line, not a poem). */
    private static boolean titled(Poem p) {
        return !p.title().isEmpty() && p.title().length() <= 12 && !p.title().equals("句");
    }

    private static Conversation chat(String ask, String answer, String source) {
        return new Conversation(List.of(new Message(Role.USER, ask), new Message(Role.ASSISTANT, answer)), source);
    }

    /** A paragraph "A，B。" chosen by the poem's hash, as {A, "B。"}; null when the poem has none. */
    private static String[] couplet(Poem p) {
        List<String[]> all = new ArrayList<>();
        for (String par : p.paragraphs()) {
            int comma = par.indexOf('，');
            if (comma <= 0 || comma != par.lastIndexOf('，') || comma == par.length() - 1) continue;
            String first = par.substring(0, comma), second = par.substring(comma + 1);
            if (LINE_END.matcher(first).find() || second.length() < 2) continue;
            all.add(new String[] {first, second});
        }
        return all.isEmpty() ? null : all.get((int) Math.floorMod(p.key(), (long) all.size()));
    }

    /** The poem with one couplet "A，B。" printed as "A'，cB。", A = A'c: lines of n − 1 and n + 1 characters. */
    private static String broken(Poem p) {
        List<String> pars = new ArrayList<>(p.paragraphs());
        List<Integer> candidates = new ArrayList<>();
        for (int i = 0; i < pars.size(); i++) {
            String par = pars.get(i);
            int comma = par.indexOf('，');
            if (comma > 1 && comma == par.lastIndexOf('，')) candidates.add(i);
        }
        if (candidates.isEmpty()) return null;
        int i = candidates.get((int) Math.floorMod(Hash.mix(p.key()), (long) candidates.size()));
        String par = pars.get(i);
        int comma = par.indexOf('，');
        pars.set(i, par.substring(0, comma - 1) + "，" + par.charAt(comma - 1) + par.substring(comma + 1));
        return String.join("\n", pars);
    }
}
